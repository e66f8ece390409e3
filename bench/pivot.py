"""Pivot: every event mentioning one IP, across all eight sources, over the whole lake period.

Three ways to the same rows: the toolkit's ``Lake.pivot`` (a normalized timeline); the peer, one
DuckDB ``UNION ALL`` query written by hand; and the naive pandas way (read every source whole,
flatten, filter).  Peer and naive are written from the OCSF fields, independently of the
toolkit's entity catalog: an IP is looked for where the toolkit looks for it (endpoint IPs,
intermediate and forwarded-for IPs, IP observables, Route 53 A/AAAA answers, finding evidence),
so equal row counts check the toolkit as well as time it.
Parameters: ``lake``, ``ip``, ``start``, ``end`` (ISO times), ``warm_ip`` and ``warm_end``
(the untimed warm-up pivots ``warm_ip`` over ``[start, warm_end)``).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

Op = Callable[[], pd.DataFrame]

_OBSERVABLE = "len(list_filter(observables, lambda o: o.value = $ip AND o.type_id = 2)) > 0"
_API = f"src_endpoint.ip = $ip OR {_OBSERVABLE}"
#: The hand-written peer's predicate per source (DuckDB SQL, ``$ip`` bound).
PEER_PREDICATES = {
    "cloud_trail_mgmt": _API,
    "s3_data": _API,
    "lambda_execution": _API,
    "vpc_flow": "src_endpoint.ip = $ip OR dst_endpoint.ip = $ip OR list_contains(src_endpoint.intermediate_ips, $ip) "
                f"OR list_contains(dst_endpoint.intermediate_ips, $ip) OR {_OBSERVABLE}",
    "route53": "src_endpoint.ip = $ip OR len(list_filter(answers, lambda a: a.rdata = $ip AND a.type IN ('A', 'AAAA'))) > 0 "
               f"OR {_OBSERVABLE}",
    "sh_findings": "len(list_filter(evidences, lambda e: e.src_endpoint.ip = $ip OR e.dst_endpoint.ip = $ip)) > 0 "
                   f"OR {_OBSERVABLE}",
    "eks_audit": f"src_endpoint.ip = $ip OR list_contains(src_endpoint.intermediate_ips, $ip) OR {_OBSERVABLE}",
    "waf": f"src_endpoint.ip = $ip OR list_contains(http_request.x_forwarded_for, $ip) OR {_OBSERVABLE}",
}
#: The peer's timeline columns after ``time, source, class_name``.
PEER_COLUMNS = ("activity", "actor", "src_ip", "dst_ip", "target", "status", "severity", "uid", "account", "region")
_API_SELECT = ("api.operation", "actor.user.uid", "src_endpoint.ip", "NULL", "resources[1].uid", "status", "severity",
               "metadata.uid", "accountid", "region")
#: The peer's expressions for :data:`PEER_COLUMNS` per source: the same kind of row the toolkit's
#: timeline has, without its one-line summary and the synthetic ids of sources that have none.
PEER_SELECT = {
    "cloud_trail_mgmt": _API_SELECT,
    "s3_data": _API_SELECT,
    "lambda_execution": _API_SELECT,
    "vpc_flow": ("activity_name", "src_endpoint.instance_uid", "src_endpoint.ip", "dst_endpoint.ip",
                 "dst_endpoint.ip || ':' || dst_endpoint.port", "coalesce(disposition, action)", "severity", "NULL",
                 "accountid", "region"),
    "route53": ("activity_name", "src_endpoint.instance_uid", "src_endpoint.ip", "NULL", "query.hostname", "rcode",
                "severity", "NULL", "accountid", "region"),
    "sh_findings": ("activity_name", "metadata.product.name", "evidences[1].src_endpoint.ip",
                    "evidences[1].dst_endpoint.ip", "finding_info.title", "status", "severity", "finding_info.uid",
                    "accountid", "region"),
    "eks_audit": ("api.operation", "actor.user.name", "src_endpoint.ip", "NULL", "http_request.url.path",
                  "CAST(api.response.code AS VARCHAR)", "severity", "api.request.uid", "accountid", "region"),
    "waf": ("http_request.http_method", "NULL", "src_endpoint.ip", "NULL", "http_request.url.hostname || http_request.url.path",
            "coalesce(disposition, action)", "severity", "http_request.uid", "accountid", "region"),
}

# The naive way's matchers per source: (column, element field or None, {element field: allowed values}).
_OBS = ("observables", "value", {"type_id": [2]})
_NAIVE_API = [("src_endpoint.ip", None, {}), _OBS]
NAIVE_MATCHERS: dict[str, list[tuple[str, str | None, dict[str, list[Any]]]]] = {
    "cloud_trail_mgmt": _NAIVE_API,
    "s3_data": _NAIVE_API,
    "lambda_execution": _NAIVE_API,
    "vpc_flow": [("src_endpoint.ip", None, {}), ("dst_endpoint.ip", None, {}), ("src_endpoint.intermediate_ips", "", {}),
                 ("dst_endpoint.intermediate_ips", "", {}), _OBS],
    "route53": [("src_endpoint.ip", None, {}), ("answers", "rdata", {"type": ["A", "AAAA"]}), _OBS],
    "sh_findings": [("evidences", "src_endpoint.ip", {}), ("evidences", "dst_endpoint.ip", {}), _OBS],
    "eks_audit": [("src_endpoint.ip", None, {}), ("src_endpoint.intermediate_ips", "", {}), _OBS],
    "waf": [("src_endpoint.ip", None, {}), ("http_request.x_forwarded_for", "", {}), _OBS],
}
NAIVE_COLUMNS = ["time_dt", "source", "class_name", "activity_name", "accountid", "region"]


def _times(p: dict[str, Any], warm: bool) -> tuple[pd.Timestamp, pd.Timestamp]:
    return pd.Timestamp(p["start"]), pd.Timestamp(p["warm_end" if warm else "end"])


def toolkit(p: dict[str, Any]) -> Op:
    """``Lake.pivot(ip=…)`` over the period, all eight sources; returns the op."""
    import slake_forensics as sf

    lake = sf.Lake.local(p["lake"])

    def run(ip: str, warm: bool) -> pd.DataFrame:
        start, end = _times(p, warm)
        return lake.pivot(ip=ip, start=start, end=end, progress=False)

    run(p["warm_ip"], True)
    return lambda: run(p["ip"], False)


def _index_dir(p: dict[str, Any]) -> str:
    """The bench's index folder (outside the lake: ``bench/index`` next to it, git-ignored like the lake)."""
    from pathlib import Path

    return str(Path(p["lake"]).parent / "index")


def indexed(p: dict[str, Any]) -> Op:
    """``Lake.pivot(ip=…)`` through the entity index (warm: built or brought up to date untimed); returns the op."""
    import os

    os.environ["SLAKE_INDEX_DIR"] = _index_dir(p)
    import slake_forensics as sf

    lake = sf.Lake.local(p["lake"])
    lake.build_index(progress=False)

    def run(ip: str, warm: bool) -> pd.DataFrame:
        start, end = _times(p, warm)
        return lake.pivot(ip=ip, start=start, end=end, progress=False)

    run(p["warm_ip"], True)
    return lambda: run(p["ip"], False)


def index_build(p: dict[str, Any]) -> Op:
    """Cold: build the entity index of the whole lake into a fresh folder; the op returns one row per file indexed."""
    import tempfile

    import slake_forensics as sf
    from slake_forensics.analysis.entity_index import build

    lake = sf.Lake.local(p["lake"])

    def run() -> pd.DataFrame:
        with tempfile.TemporaryDirectory() as folder:
            index = build(lake, folder, progress=False)
            return pd.DataFrame({"file": range(index.last_update["indexed"]), "time_dt": pd.NaT})

    return run


def expand_indexed(p: dict[str, Any]) -> Op:
    """``Lake.expand({"ip": …}, hops=2)`` over the period through the entity index (warm, as
    :func:`indexed`); the op returns the graph's nodes (``first_seen`` as ``time``)."""
    import os

    os.environ["SLAKE_INDEX_DIR"] = _index_dir(p)
    import slake_forensics as sf

    lake = sf.Lake.local(p["lake"])
    lake.build_index(progress=False)

    def run(ip: str, warm: bool) -> pd.DataFrame:
        start, end = _times(p, warm)
        nodes = lake.expand({"ip": ip}, start, end, hops=2, progress=False).nodes
        return nodes.assign(time=nodes["first_seen"])

    run(p["warm_ip"], True)
    return lambda: run(p["ip"], False)


def index_update(p: dict[str, Any]) -> Op:
    """Incremental: an index of every day but the last ``new_days`` (default 1; built untimed in a
    fresh folder), then the op brings it up to date with those days; it returns one row per file indexed."""
    import atexit
    import shutil
    import tempfile

    import slake_forensics as sf
    from slake_forensics.analysis.entity_index import EntityIndex
    from slake_forensics.core.timewindow import Window

    lake = sf.Lake.local(p["lake"])
    folder = tempfile.mkdtemp(prefix="bench-index-")
    atexit.register(shutil.rmtree, folder, True)
    index = EntityIndex(lake, folder)
    first_new = new_days_start(p["end"], int(p.get("new_days", 1)))
    index.update(window=Window.of(pd.Timestamp(p["start"]), first_new), progress=False)

    def run() -> pd.DataFrame:
        index.update(progress=False)
        return pd.DataFrame({"file": range(index.last_update["indexed"]), "time_dt": pd.NaT})

    return run


def new_days_start(end: str, days: int) -> pd.Timestamp:
    """The first of the last ``days`` days before ``end`` (the window's end): where an update's new days start."""
    return (pd.Timestamp(end) - pd.Timedelta(milliseconds=1)).floor("D") - pd.Timedelta(days=days - 1)


def peer_sql(lake: str) -> str:
    """The hand-written DuckDB query: one ``SELECT`` of timeline columns per source over its files, ``UNION ALL``, by time."""
    from slake_forensics.core.catalog import SOURCES

    parts = []
    for name, pred in PEER_PREDICATES.items():
        select = ", ".join(f"CAST({expr} AS VARCHAR) AS {col}" for col, expr in zip(PEER_COLUMNS, PEER_SELECT[name]))
        parts.append(f"SELECT time_dt, '{name}' AS source, class_name, {select}\n"
                     f"FROM read_parquet('{lake}/aws/{SOURCES[name].source_name}/2.0/*/*/*/*.parquet')\n"
                     f"WHERE time_dt >= $start AND time_dt < $end AND ({pred})")
    return "\nUNION ALL\n".join(parts) + "\nORDER BY time_dt"


def run_peer(lake: str, ip: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Rows of the hand-written query (:func:`peer_sql`) for ``ip`` in ``[start, end)``, Arrow dtypes."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        rel = con.sql(peer_sql(lake), params={"ip": ip, "start": start.to_pydatetime(), "end": end.to_pydatetime()})
        return rel.to_arrow_table().to_pandas(types_mapper=pd.ArrowDtype)
    finally:
        con.close()


def duckdb_peer(p: dict[str, Any]) -> Op:
    """The peer: :func:`run_peer`; returns the op."""
    def run(ip: str, warm: bool) -> pd.DataFrame:
        return run_peer(p["lake"], ip, *_times(p, warm))

    run(p["warm_ip"], True)
    return lambda: run(p["ip"], False)


def naive(p: dict[str, Any]) -> Op:
    """The naive way: for each source, ``pandas.read_parquet`` of its whole folder, keep the period,
    flatten, keep rows where any matcher holds the IP (list columns exploded); concatenated and
    sorted by time.  Returns the op (no warm-up: it reads everything)."""
    from slake_forensics.core.catalog import SOURCES

    from .naive import flatten_arrow, read_source

    def run() -> pd.DataFrame:
        start, end = _times(p, False)
        hits = []
        for name, matchers in NAIVE_MATCHERS.items():
            df = read_source(p["lake"], SOURCES[name].source_name)
            df = flatten_arrow(df[(df["time_dt"] >= start) & (df["time_dt"] < end)])
            mask = pd.Series(False, index=df.index)
            for column, item, where in matchers:
                mask |= _holds(df[column], item, where, p["ip"])
            hits.append(df.loc[mask, [c for c in NAIVE_COLUMNS if c != "source"]].assign(source=name))
            del df
        out = pd.concat(hits, ignore_index=True)[NAIVE_COLUMNS]
        return out.sort_values("time_dt", kind="stable").reset_index(drop=True)

    return run


def _holds(column: pd.Series, item: str | None, where: dict[str, list[Any]], ip: str) -> pd.Series:
    """Per row: does ``column`` hold ``ip`` (a scalar column when ``item`` is ``None``; else a list
    column whose elements, or their dotted field ``item``, are compared, keeping only elements whose
    fields in ``where`` have allowed values)?"""
    if item is None:
        return column.eq(ip).fillna(False).astype(bool)
    elems = column.explode()
    match = _field(elems, item).eq(ip).fillna(False)
    for name, allowed in where.items():
        match &= _field(elems, name).isin(allowed).fillna(False)
    rows = elems.index[match.astype(bool).to_numpy()]
    return pd.Series(column.index.isin(rows), index=column.index)


def _field(elems: pd.Series, path: str) -> pd.Series:
    for name in filter(None, path.split(".")):
        elems = elems.struct.field(name)
    return elems
