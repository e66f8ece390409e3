"""Memory: what it costs to hold about one million CloudTrail rows, flattened, in pandas.

The rows are every CloudTrail management event in ``[start, end)`` (all accounts and regions;
the parent picks ``end`` so that is one million rows).  The toolkit: ``Lake.load`` with all
columns.  The naive way: ``pandas.read_parquet`` with default dtypes (structs become Python dicts)
of the files of the window's days, keep the window, flatten with ``pandas.json_normalize``.
Neither warms up: peak RSS is the point.  Parameters: ``lake``, ``start``, ``end`` (ISO times).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

Op = Callable[[], pd.DataFrame]


def toolkit(p: dict[str, Any]) -> Op:
    """``Lake.load("cloud_trail_mgmt", start, end)``, every column; returns the op."""
    import slake_forensics as sf

    lake = sf.Lake.local(p["lake"])
    return lambda: lake.load("cloud_trail_mgmt", pd.Timestamp(p["start"]), pd.Timestamp(p["end"]))


def naive(p: dict[str, Any]) -> Op:
    """Default-dtype ``pandas.read_parquet`` of the window's day folders, window filter, then
    :func:`bench.naive.flatten_objects`; returns the op."""
    from .naive import flatten_objects

    start, end = pd.Timestamp(p["start"]), pd.Timestamp(p["end"])
    days = {d.strftime("%Y%m%d") for d in pd.date_range(start.floor("D"), end - pd.Timedelta(milliseconds=1), freq="D")}
    root = Path(p["lake"]) / "aws" / "CLOUD_TRAIL_MGMT" / "2.0"
    files = sorted(str(f) for f in root.glob("region=*/accountId=*/eventDay=*/*.parquet") if f.parent.name.split("=", 1)[1] in days)

    def load() -> pd.DataFrame:
        df = pd.read_parquet(files, partitioning=None)
        df = df[(df["time_dt"] >= start) & (df["time_dt"] < end)]
        return flatten_objects(df)

    return load
