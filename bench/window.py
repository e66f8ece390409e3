"""Window load: one UTC day of one account's CloudTrail management events, 12 columns, flattened.

Five ways to the same rows, each a task ``prepare(params) -> op`` (see :mod:`bench.tasks`):
the toolkit's ``Lake.load``; DuckDB SQL written by hand; the limit, a raw ``pyarrow.dataset``
scan with the partition filter and projection then ``to_pandas``; the limit with the toolkit's
sort by time (what ``Lake.load`` promises and the limit does not do); and the naive pandas way.
Parameters: ``lake`` (folder), ``account``, ``day`` (ISO date) and ``warm_account`` (the untimed
warm-up loads that account's day, so imports and first-call costs stay out of the timing).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

COLUMNS = (
    "time_dt", "accountid", "region", "api.operation", "api.service.name", "actor.user.type",
    "actor.user.uid", "actor.user.credential_uid", "src_endpoint.ip", "http_request.user_agent",
    "status", "api.response.error",
)
SOURCE_NAME = "CLOUD_TRAIL_MGMT"

Op = Callable[[], pd.DataFrame]


def _window(day: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(day, tz="UTC")
    return start, start + pd.Timedelta(days=1)


def toolkit(p: dict[str, Any]) -> Op:
    """``Lake.load`` of the day, account and columns; returns the op."""
    import slake_forensics as sf

    lake = sf.Lake.local(p["lake"])

    def load(account: str) -> pd.DataFrame:
        return lake.load("cloud_trail_mgmt", *_window(p["day"]), accounts=[account], columns=list(COLUMNS))

    load(p["warm_account"])
    return lambda: load(p["account"])


def duckdb_sql(p: dict[str, Any]) -> Op:
    """Hand-written DuckDB: the partition's files by glob, the 12 leaves by name, the time predicate,
    ``ORDER BY time_dt``, to pandas with Arrow dtypes like the toolkit's; returns the op."""
    import duckdb

    select = ", ".join(f'{c} AS "{c}"' for c in COLUMNS)

    def load(account: str) -> pd.DataFrame:
        start, end = _window(p["day"])
        glob = f"{p['lake']}/aws/{SOURCE_NAME}/2.0/region=*/accountId={account}/eventDay={start:%Y%m%d}/*.parquet"
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone='UTC'")
            rel = con.sql(f"SELECT {select} FROM read_parquet($files) WHERE time_dt >= $start AND time_dt < $end "
                          "ORDER BY time_dt", params={"files": glob, "start": start.to_pydatetime(), "end": end.to_pydatetime()})
            return rel.to_arrow_table().to_pandas(types_mapper=pd.ArrowDtype)
        finally:
            con.close()

    load(p["warm_account"])
    return lambda: load(p["account"])


def pyarrow_limit(p: dict[str, Any], sort: bool = False) -> Op:
    """The limit: one ``pyarrow.dataset`` over the source with hive partitioning on ``accountId`` and
    ``eventDay``, scanned with the partition filter and the 12-leaf projection, then ``to_pandas``
    (Arrow dtypes); no time predicate (a UTC day is one partition), no sort unless ``sort``: then
    the rows are put in ``time_dt`` order as ``Lake.load`` does (a stable ``sort_indices`` and a
    ``take`` of the other columns, skipped when already in order).  The projection names the
    leaves, so there is nothing to flatten.  Returns the op."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    partitioning = ds.partitioning(pa.schema([("accountId", pa.string()), ("eventDay", pa.string())]), flavor="hive")
    dataset = ds.dataset(f"{p['lake']}/aws/{SOURCE_NAME}/2.0", format="parquet", partitioning=partitioning)
    projection = {c: ds.field(*c.split(".")) for c in COLUMNS}

    def load(account: str) -> pd.DataFrame:
        flt = (ds.field("accountId") == account) & (ds.field("eventDay") == f"{pd.Timestamp(p['day']):%Y%m%d}")
        table = dataset.to_table(columns=projection, filter=flt)
        if sort:
            times = table["time_dt"]
            if times.null_count or not pc.all(pc.less_equal(times[:-1], times[1:])).as_py():
                table = table.take(pc.sort_indices(times))
        return table.to_pandas(types_mapper=pd.ArrowDtype)

    load(p["warm_account"])
    return lambda: load(p["account"])


def pyarrow_limit_sorted(p: dict[str, Any]) -> Op:
    """The limit with the toolkit's sort by time (:func:`pyarrow_limit` with ``sort=True``); returns the op."""
    return pyarrow_limit(p, sort=True)


def naive(p: dict[str, Any]) -> Op:
    """The naive way: ``pandas.read_parquet`` of the whole source folder, keep the account's rows in
    the day, flatten them (:func:`bench.naive.flatten_arrow`), take the 12 columns, sort by time.
    Filtering before flattening is the cheaper order.  Returns the op (no warm-up: it reads everything)."""
    from .naive import flatten_arrow, read_source

    def load() -> pd.DataFrame:
        start, end = _window(p["day"])
        df = read_source(p["lake"], SOURCE_NAME)
        df = df[(df["accountid"] == p["account"]) & (df["time_dt"] >= start) & (df["time_dt"] < end)]
        flat = flatten_arrow(df)[list(COLUMNS)]
        return flat.sort_values("time_dt", kind="stable").reset_index(drop=True)

    return load
