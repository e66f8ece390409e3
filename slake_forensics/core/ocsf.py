"""OCSF tables in pandas: flattening nested structs and conforming files to the catalog schema.

:func:`flatten` turns an Arrow table with nested structs into a pandas DataFrame whose
columns are dotted leaf names (``actor.user.uid``); lists and maps stay Arrow list/map
columns.  :func:`conform` casts one Parquet file's table to a source's catalog schema,
tolerating schema drift (missing or extra nested fields, ms/us/ns or zone-less timestamps)
without ever dropping data: extra fields and columns are kept.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable

import pandas as pd
import pyarrow as pa

from slake_forensics.core.catalog import TIMESTAMP_TYPE, Source
from slake_forensics.core.errors import UnknownColumnError


def flatten(table: pa.Table) -> pd.DataFrame:
    """Return ``table`` as a DataFrame with every struct flattened to dotted column names.

    Each column has a :class:`pandas.ArrowDtype`; list and map columns are kept as Arrow
    lists/maps; every timestamp column is tz-aware UTC (zone-less ones are read as UTC).
    Works level by level with :meth:`pyarrow.Table.flatten`, so cost does not depend on rows.
    """
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    table = _timestamps_to_utc(table)
    return table.to_pandas(types_mapper=pd.ArrowDtype, ignore_metadata=True)


def _timestamps_to_utc(table: pa.Table) -> pa.Table:
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz != "UTC":
            utc = pa.timestamp(field.type.unit, tz="UTC")
            table = table.set_column(i, field.with_type(utc), table.column(i).cast(utc))
    return table


def leaf_paths(schema: pa.Schema) -> list[str]:
    """Every column path of ``schema`` in schema order: top-level names, struct paths and leaves.

    ``["metadata", "metadata.product", "metadata.product.name", …, "time", …]``.
    """
    out: list[str] = []

    def walk(typ: pa.DataType, prefix: str) -> None:
        out.append(prefix)
        if pa.types.is_struct(typ):
            for f in typ:
                walk(f.type, f"{prefix}.{f.name}")

    for f in schema:
        walk(f.type, f.name)
    return out


def flat_names(schema: pa.Schema) -> list[str]:
    """The column names :func:`flatten` produces for a table of ``schema`` (dotted leaves)."""
    out: list[str] = []

    def walk(typ: pa.DataType, prefix: str) -> None:
        if pa.types.is_struct(typ):
            for f in typ:
                walk(f.type, f"{prefix}.{f.name}")
        else:
            out.append(prefix)

    for f in schema:
        walk(f.type, f.name)
    return out


def type_at(schema: pa.Schema, path: str) -> pa.DataType | None:
    """Arrow type of the (dotted) ``path`` in ``schema``, or ``None`` if there is no such path."""
    head, *rest = path.split(".")
    if head not in schema.names:
        return None
    typ = schema.field(head).type
    for name in rest:
        if not pa.types.is_struct(typ) or typ.get_field_index(name) < 0:
            return None
        typ = typ.field(name).type
    return typ


def check_columns(columns: Iterable[str], schema: pa.Schema, what: str) -> list[str]:
    """Return ``columns`` as a list after checking each is a path of ``schema``.

    Raises :class:`UnknownColumnError` naming every unknown column with the closest
    dotted names (difflib) of ``what`` (e.g. ``"source cloud_trail_mgmt"``).
    """
    cols = [columns] if isinstance(columns, str) else list(columns)
    known = leaf_paths(schema)
    known_set = set(known)
    bad = [c for c in cols if c not in known_set]
    if bad:
        raise UnknownColumnError(unknown_column_message(bad, known, what))
    return cols


def unknown_column_message(bad: Iterable[str], known: list[str], what: str) -> str:
    """Message for unknown column names: each with its closest known names."""
    parts = []
    for name in bad:
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        if not close:  # a leaf typed without its parents: "uid" -> "actor.user.uid"
            close = [k for k in known if k.rsplit(".", 1)[-1] == name.rsplit(".", 1)[-1]][:5]
        hint = f" Closest: {', '.join(close)}." if close else ""
        parts.append(f"Unknown column {name!r} in {what}.{hint}")
    return " ".join(parts) + " Nested fields are addressed with dots, e.g. 'actor.user.uid'."


def merge_type(target: pa.DataType, actual: pa.DataType) -> pa.DataType:
    """The catalog type ``target`` widened to keep what ``actual`` holds beyond it.

    Structs keep the target's fields (in its order) followed by fields only ``actual`` has;
    lists and maps merge their element types; any other type is the target's.
    """
    if pa.types.is_struct(target) and pa.types.is_struct(actual):
        fields = []
        for f in target:
            i = actual.get_field_index(f.name)
            fields.append(f.with_type(merge_type(f.type, actual.field(i).type)) if i >= 0 else f)
        fields += [f for f in actual if target.get_field_index(f.name) < 0]
        return pa.struct(fields)
    if _is_list(target) and _is_list(actual):
        return pa.list_(target.value_field.with_type(merge_type(target.value_type, actual.value_type)))
    if pa.types.is_map(target) and pa.types.is_map(actual):
        return pa.map_(merge_type(target.key_type, actual.key_type), merge_type(target.item_type, actual.item_type))
    return target


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t)


def ms_timestamps(t: pa.DataType) -> pa.DataType:
    """``t`` with every (nested) timestamp type made ``timestamp[ms, UTC]``."""
    if pa.types.is_timestamp(t):
        return TIMESTAMP_TYPE
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(ms_timestamps(f.type)) for f in t])
    if _is_list(t):
        make = pa.large_list if pa.types.is_large_list(t) else pa.list_
        return make(t.value_field.with_type(ms_timestamps(t.value_type)))
    if pa.types.is_map(t):
        return pa.map_(ms_timestamps(t.key_type), ms_timestamps(t.item_type))
    return t


def conform_array(arr: pa.ChunkedArray | pa.Array, target: pa.DataType, name: str) -> pa.ChunkedArray:
    """Cast ``arr`` to ``merge_type(target, arr.type)``.

    Timestamps of any unit or zone become ``timestamp[ms, UTC]`` (zone-less values are UTC;
    sub-millisecond digits are truncated, Security Lake stores milliseconds).  Every other cast
    is safe: a value that does not fit raises ``pyarrow.ArrowInvalid`` naming ``name``.
    """
    if isinstance(arr, pa.Array):
        arr = pa.chunked_array([arr], arr.type)
    goal = merge_type(target, arr.type)
    if arr.type == goal:
        return arr
    try:
        ms = ms_timestamps(arr.type)
        if ms != arr.type:
            arr = arr.cast(ms, safe=False)
        if pa.types.is_timestamp(goal) and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            return _parse_timestamps(arr, goal)
        return arr.cast(goal)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise pa.ArrowInvalid(f"column {name!r}: cannot cast {arr.type} to {goal}: {exc}") from exc


def _parse_timestamps(arr: pa.ChunkedArray, goal: pa.DataType) -> pa.ChunkedArray:
    """ISO 8601 strings as ``goal`` timestamps: with a zone offset, or zone-less ones read as UTC."""
    try:
        return arr.cast(goal)
    except pa.ArrowInvalid:
        return arr.cast(pa.timestamp("ns")).cast(pa.timestamp(goal.unit), safe=False).cast(goal)


def drifted_leaves(schema: pa.Schema, target: pa.Schema) -> list[str]:
    """Dotted leaves whose type in ``schema`` (a file's) is not the catalog's in ``target``.

    A leaf drifts when its value type differs (a string ``severity_id``, an int64 where the
    catalog has int32) or a timestamp is not ``timestamp[ms, UTC]``; leaves only one of the
    schemas has do not count (that is missing or extra data, not drift).

    Examples
    --------
    >>> cat = pa.schema([pa.field("severity_id", pa.int32()), pa.field("time_dt", TIMESTAMP_TYPE)])
    >>> drifted_leaves(pa.schema([pa.field("severity_id", pa.string()), pa.field("time_dt", pa.timestamp("ns"))]), cat)
    ['severity_id', 'time_dt']
    >>> drifted_leaves(cat, cat)
    []
    """
    out = []
    for leaf in flat_names(target):
        want, have = type_at(target, leaf), type_at(schema, leaf)
        if want is None or have is None or _nested(want) or _nested(have):
            continue
        if have != want:
            out.append(leaf)
    return out


def _nested(t: pa.DataType) -> bool:
    return pa.types.is_struct(t) or _is_list(t) or pa.types.is_map(t)


def conform(table: pa.Table, source: Source) -> pa.Table:
    """Return ``table`` cast to ``source.schema``, never dropping data.

    Columns come in catalog order; catalog columns the file lacks are all-null; nested fields
    the file lacks are null and nested fields it has beyond the catalog are kept (appended to
    their struct); top-level columns beyond the catalog are appended at the end.  A catalog
    field marked required becomes nullable in the result when the file leaves it null; a nullable
    field stays nullable.
    """
    schema = source.schema
    n = table.num_rows
    fields, arrays = [], []
    for field in schema:
        if field.name in table.column_names:
            arr = conform_array(table[field.name], field.type, field.name)
        else:
            arr = pa.chunked_array([pa.nulls(n, field.type)], field.type)
        fields.append(field.with_type(arr.type).with_nullable(field.nullable or arr.null_count > 0))
        arrays.append(arr)
    for field in table.schema:
        if field.name not in schema.names:
            fields.append(field)
            arrays.append(table[field.name])
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
