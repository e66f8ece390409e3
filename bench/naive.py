"""The naive pandas way, shared by the measurements: read a whole source folder with
``pandas.read_parquet``, flatten nested structs in pandas, filter in pandas; and the honest size
of a frame (pandas' own ``memory_usage(deep=True)`` does not look inside nested Python objects).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa


def read_source(lake: str | Path, source_name: str) -> pd.DataFrame:
    """Every row of one source (``CLOUD_TRAIL_MGMT``) as pandas reads a folder: all files, all columns.

    Arrow-backed dtypes (``dtype_backend="pyarrow"``), the fastest way pandas has; its default
    dtypes turn every struct into a Python dict and take about 6x the time and 3.5x the memory.
    ``partitioning=None`` because the files already carry ``accountid`` and ``region`` (pandas'
    default hive discovery fails on the clash).  Returns the frame with a fresh ``RangeIndex``.
    """
    folder = Path(lake) / "aws" / source_name / "2.0"
    return pd.read_parquet(folder, partitioning=None, dtype_backend="pyarrow")


def flatten_arrow(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every Arrow struct column replaced by its fields (``a.b.c``), recursively,
    with pandas' ``Series.struct.explode``; other columns unchanged, in place of their struct."""
    while True:
        structs = [c for c in frame.columns if isinstance(frame[c].dtype, pd.ArrowDtype)
                   and pa.types.is_struct(frame[c].dtype.pyarrow_dtype)]
        if not structs:
            return frame
        parts = []
        for col in frame.columns:
            if col in structs:
                sub = frame[col].struct.explode()
                sub.columns = [f"{col}.{c}" for c in sub.columns]
                parts.append(sub)
            else:
                parts.append(frame[[col]])
        frame = pd.concat(parts, axis=1)


def flatten_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (pandas' default dtypes: structs as dicts) with every dict column expanded by
    ``pandas.json_normalize`` into dotted columns; other columns unchanged."""
    parts = []
    for col in frame.columns:
        values = frame[col]
        if values.dtype == object and values.map(lambda v: isinstance(v, dict)).any():
            sub = pd.json_normalize(values.tolist(), sep=".")
            sub.columns = [f"{col}.{c}" for c in sub.columns]
            sub.index = frame.index
            parts.append(sub)
        else:
            parts.append(frame[[col]])
    return pd.concat(parts, axis=1)


def deep_bytes(frame: pd.DataFrame) -> int:
    """Bytes ``frame`` holds: pandas' ``memory_usage(deep=True)`` for typed columns, and for object
    columns the recursive size of every Python object reachable from the cells (dicts, lists,
    NumPy object arrays, strings; each object counted once)."""
    total = int(frame.index.memory_usage(deep=True))
    seen: set[int] = set()
    for col in frame.columns:
        values = frame[col]
        if values.dtype == object:
            total += sum(_size(v, seen) for v in values.to_numpy()) + values.to_numpy().nbytes
        else:
            total += int(values.memory_usage(deep=True, index=False))
    return total


def _size(obj: object, seen: set[int]) -> int:
    """Recursive ``sys.getsizeof`` of ``obj`` and what it contains, skipping objects in ``seen``."""
    stack, total = [obj], 0
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list | tuple):
            stack.extend(o)
        elif isinstance(o, np.ndarray):
            if o.base is not None:  # a view into a larger array (pyarrow's list cells): count that once
                stack.append(o.base)
            if o.dtype == object:
                stack.extend(o.tolist())
    return total
