"""Turn flat, vectorized column data into Security Lake tables and write them in the S3 layout.

Generators produce ``{dotted.path: values}`` with one value per event (NumPy arrays,
Python lists, or Arrow arrays).  :func:`build_table` assembles the nested structs of the
source's exact Arrow schema from them; any leaf not given is null; a struct none of whose
leaves is given is null.  :func:`write_source` splits a table into the real
``region=/accountId=/eventDay=`` partitions and writes ``<32 hex>.zstd.parquet`` files.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from slake_forensics.core.catalog import Source
from slake_forensics.core.layout import partition_dir
from slake_forensics.sample.org import KeyRotation

CODEC = "zstd"
ROWS_PER_FILE = 250_000


def _to_arrow(values: Any, typ: pa.DataType, n: int) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        arr = values
    elif pa.types.is_timestamp(typ):
        try:  # generators pass NumPy epoch values; importers pass lists that may hold None (no such time)
            arr = pa.array(np.asarray(values, dtype="int64"), pa.int64())
        except (TypeError, ValueError):
            arr = pa.array(values, pa.int64(), from_pandas=True)
    else:
        arr = pa.array(values, type=typ, from_pandas=True)
    if len(arr) != n:
        raise ValueError(f"column has {len(arr)} values, expected {n}")
    if pa.types.is_timestamp(typ) and pa.types.is_integer(arr.type):
        arr = arr.cast(pa.int64()).view(typ)
    return arr if arr.type == typ else arr.cast(typ)


def _assemble(typ: pa.DataType, prefix: str, columns: Mapping[str, Any], n: int) -> pa.Array | None:
    if prefix in columns:
        return _to_arrow(columns[prefix], typ, n)
    if not pa.types.is_struct(typ):
        return None
    children, any_given = [], False
    for field in typ:
        child = _assemble(field.type, f"{prefix}.{field.name}", columns, n)
        if child is None:
            child = pa.nulls(n, field.type)
        else:
            any_given = True
        children.append(child)
    if not any_given:
        return None
    return pa.StructArray.from_arrays(children, fields=list(typ))


def build_table(source: Source, columns: Mapping[str, Any], n: int) -> pa.Table:
    """Return a table of ``n`` rows with exactly ``source.schema``.

    ``columns`` maps dotted paths (``"actor.user.uid"``) or whole top-level / struct names
    to per-row values.  Timestamp fields accept int64 epoch milliseconds.  Unknown paths
    raise ``KeyError`` so a typo in a generator cannot silently drop data.
    """
    schema = source.schema
    known = _paths(schema)
    unknown = [k for k in columns if k not in known]
    if unknown:
        raise KeyError(f"{source.name}: no such column(s) in the schema: {unknown}")
    arrays = []
    for field in schema:
        arr = _assemble(field.type, field.name, columns, n)
        if arr is None:
            if not field.nullable:
                raise ValueError(f"{source.name}: required column {field.name!r} not given")
            arr = pa.nulls(n, field.type)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)


def _paths(schema: pa.Schema) -> set[str]:
    out: set[str] = set()

    def walk(typ: pa.DataType, prefix: str) -> None:
        out.add(prefix)
        if pa.types.is_struct(typ):
            for f in typ:
                walk(f.type, f"{prefix}.{f.name}")

    for f in schema:
        walk(f.type, f.name)
    return out


def list_of_structs(offsets: np.ndarray, fields: Mapping[str, Any], typ: pa.ListType) -> pa.ListArray:
    """Build a ``list<struct<…>>`` column from flat per-element values and row offsets.

    ``offsets`` has ``n + 1`` entries (row ``i`` owns elements ``offsets[i]:offsets[i+1]``);
    ``fields`` maps dotted paths inside the struct to per-element values.
    """
    m = int(offsets[-1])
    inner = _assemble(typ.value_type, "", {f".{k}": v for k, v in fields.items()}, m)
    if inner is None:
        inner = pa.nulls(m, typ.value_type)
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), inner, type=typ)


def rotate_keys(table: pa.Table, rotations: list[KeyRotation]) -> pa.Table:
    """``table`` with ``actor.user.credential_uid`` replaced by each rotation's new key in rows at or
    after its ``since_ms`` that used the old key (tables without that column come back unchanged)."""
    if not rotations or "actor" not in table.column_names:
        return table
    actor = table["actor"].combine_chunks()
    if "user" not in [f.name for f in actor.type] or "credential_uid" not in [f.name for f in actor.type["user"].type]:
        return table
    when = table["time"].combine_chunks()

    def swap(keys: pa.Array) -> pa.Array:
        for r in rotations:
            hit = pc.and_(pc.equal(keys, r.old), pc.greater_equal(when, pa.scalar(r.since_ms, when.type)))
            keys = pc.if_else(pc.fill_null(hit, False), pa.scalar(r.new, keys.type), keys)
        return keys

    new_actor = _replace_field(actor, ["user", "credential_uid"], swap)
    return table.set_column(table.column_names.index("actor"), "actor", new_actor)


def _replace_field(arr: pa.StructArray, path: list[str], fn: Any) -> pa.StructArray:
    """``arr`` with the child at ``path`` replaced by ``fn(child)`` (struct validity kept)."""
    children = [arr.field(i) for i in range(arr.type.num_fields)]
    i = arr.type.get_field_index(path[0])
    children[i] = fn(children[i]) if len(path) == 1 else _replace_field(children[i], path[1:], fn)
    return pa.StructArray.from_arrays(children, fields=list(arr.type), mask=arr.is_null() if arr.null_count else None)


def write_source(table: pa.Table, root: Path, source: Source, rng: np.random.Generator) -> list[Path]:
    """Write ``table`` below ``root`` in the Security Lake layout; return the files written.

    Rows are sorted by ``time`` and split by (region, accountid, UTC event day); each
    partition gets one file per :data:`ROWS_PER_FILE` rows, named by 32 hex digits
    drawn from ``rng`` (so a seed fixes every name).
    """
    if table.num_rows == 0:
        return []
    table = table.sort_by([("region", "ascending"), ("accountid", "ascending"), ("time", "ascending")])
    day = pc.strftime(table["time_dt"], format="%Y%m%d")
    keys = pc.binary_join_element_wise(table["region"], table["accountid"], day, "|")
    table = table.append_column("__key", keys).sort_by([("__key", "ascending"), ("time", "ascending")])
    keys = table["__key"].to_numpy(zero_copy_only=False)
    table = table.drop_columns(["__key"])
    bounds = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(keys)]])
    written = []
    for s, e in zip(starts, ends):
        region, account, d = keys[s].split("|")
        folder = root / partition_dir(source, region, account, d)
        folder.mkdir(parents=True, exist_ok=True)
        for cs in range(s, e, ROWS_PER_FILE):
            part = table.slice(cs, min(ROWS_PER_FILE, e - cs))
            path = folder / f"{rng.bytes(16).hex()}.{CODEC}.parquet"
            pq.write_table(part, path, compression=CODEC, row_group_size=ROWS_PER_FILE)
            written.append(path)
    return written
