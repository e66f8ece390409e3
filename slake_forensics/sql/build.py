"""The Athena SQL behind ``Lake.load`` and the rules for Athena execution parameters.

:func:`load_query` builds one ``SELECT`` per load.  Every leaf of the source's schema is
selected explicitly and aliased to its dotted name, so the result is already flat and
its column names match the local engine's (``"actor"."user"."uid" AS "actor.user.uid"``).

How values travel
-----------------
No user value is ever formatted into the SQL text.  The time window, accounts and
regions are ``?`` placeholders; the values go to Athena as ``ExecutionParameters``
(``StartQueryExecution``), which Athena substitutes server side.  Athena reads each
execution parameter as a SQL literal, so a string parameter must arrive as one quoted
literal: :func:`literal` wraps it in single quotes and doubles embedded quotes (the
only escape Trino/Athena string literals have; backslashes, newlines and unicode are
taken verbatim).  A hostile value is therefore at worst a string that matches nothing.

Timestamps travel as ISO-8601 UTC strings with millisecond precision and ``Z``
(``'2026-03-01T00:00:00.000Z'``) and are read in the SQL with
``from_iso8601_timestamp(?)``.  That yields a ``timestamp(3) with time zone`` pinned to
UTC by the string itself; Athena compares it with the table's ``time_dt`` in the
session zone, which is always UTC in Athena, so the comparison is exact whether the
column is ``timestamp`` or ``timestamp with time zone``.  Window bounds are rounded up
to the next millisecond (``time_dt`` has millisecond precision, so ``time_dt >= t`` and
``time_dt >= ceil_ms(t)`` select the same rows, likewise for ``<``).

Arrays and maps
---------------
A query without CTAS/UNLOAD returns its result as CSV (or through ``GetQueryResults``),
where Athena renders arrays and maps in a lossy ``[a, b]`` / ``{k=v}`` form.  List and
map leaves are therefore selected as ``json_format(CAST(x AS JSON))``: a JSON text that
survives CSV and that :func:`decode_json_column` turns back into the Arrow type of the
schema.  Athena engine 3 casts a ``ROW`` to a JSON object keyed by field name; older
engines cast it to a positional JSON array, which the decoder also accepts.  A map comes
back with its entries ordered by key (Athena's JSON cast orders them), so map entry order
can differ from the file's.
"""
from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd
import pyarrow as pa

from slake_forensics.core.catalog import Source, check_region, database as default_database
from slake_forensics.core.errors import UnknownColumnError
from slake_forensics.core.timewindow import Window

#: Athena's limit on the length of one execution parameter (StartQueryExecution API).
MAX_PARAMETER_LENGTH = 1024



def leaves(source: Source) -> list[tuple[str, pa.DataType]]:
    """Every leaf of ``source.schema`` as ``(dotted path, Arrow type)`` in schema order.

    A leaf is any field that is not a struct: primitives, timestamps, lists and maps
    (lists and maps are leaves: their contents are not flattened).
    """
    out: list[tuple[str, pa.DataType]] = []

    def walk(typ: pa.DataType, path: str) -> None:
        if pa.types.is_struct(typ):
            for field in typ:
                walk(field.type, f"{path}.{field.name}")
        else:
            out.append((path, typ))

    for field in source.schema:
        walk(field.type, field.name)
    return out


def resolve_columns(source: Source, columns: Iterable[str] | str | None) -> list[str]:
    """Leaf paths selected by ``columns``, without duplicates, in the order the local engine returns them.

    ``None`` selects every leaf in schema order.  Otherwise names keep the caller's order;
    a name may be a leaf (``"actor.user.uid"``) or a struct (``"actor.user"``: all leaves
    below it, in schema order).  Raises :class:`UnknownColumnError` naming the closest
    known columns for anything else.
    """
    all_leaves = [p for p, _ in leaves(source)]
    if columns is None:
        return all_leaves
    if isinstance(columns, str):
        columns = [columns]
    wanted: dict[str, None] = {}
    for name in columns:
        hits = [p for p in all_leaves if p == name or p.startswith(name + ".")]
        if not hits:
            close = difflib.get_close_matches(name, all_leaves, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise UnknownColumnError(
                f"{source.name} has no column {name!r}.{hint} Columns are dotted OCSF paths such as "
                f"'time_dt', 'actor.user.uid'; a struct name selects every column below it."
            )
        wanted.update(dict.fromkeys(hits))
    return list(wanted)


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """``value`` as one single-quoted Athena string literal, for use as an execution parameter.

    Returns the quoted text.  Raises :class:`ValueError` if the result exceeds Athena's
    limit of :data:`MAX_PARAMETER_LENGTH` characters per parameter.
    """
    text = "'" + value.replace("'", "''") + "'"
    if len(text) > MAX_PARAMETER_LENGTH:
        raise ValueError(
            f"A query parameter is {len(text)} characters once quoted; Athena accepts at most "
            f"{MAX_PARAMETER_LENGTH} per execution parameter. Shorten the value or filter in pandas afterwards."
        )
    return text


def timestamp_text(value: pd.Timestamp) -> str:
    """A UTC instant as ``YYYY-MM-DDTHH:MM:SS.fffZ``, rounded up to the next millisecond."""
    ts = pd.Timestamp(value).tz_convert("UTC").ceil("ms")
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def parameter(value: Any) -> str:
    """One Python value as an Athena execution parameter (the literal text Athena will read).

    ``str`` → quoted string literal; ``bool`` → ``TRUE``/``FALSE``; ``int`` and finite
    ``float`` → their digits; ``datetime``/``pandas.Timestamp`` (naive read as UTC) and
    ``date`` → a quoted ISO-8601 string (write ``from_iso8601_timestamp(?)`` or
    ``from_iso8601_date(?)`` in the SQL).  Any other type, ``None`` included (``x = NULL``
    never matches; write ``IS NULL`` in the SQL instead), raises :class:`TypeError`.
    """
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"Cannot send {value!r} as an Athena parameter; use a finite number.")
        return repr(value)
    if isinstance(value, pd.Timestamp | datetime):
        ts = pd.Timestamp(value)
        return literal(timestamp_text(ts if ts.tzinfo else ts.tz_localize("UTC")))
    if isinstance(value, date):
        return literal(value.isoformat())
    if isinstance(value, str):
        return literal(value)
    raise TypeError(
        f"Cannot send a {type(value).__name__} as an Athena query parameter; "
        "use str, int, float, bool, datetime or date."
    )


def select_expression(path: str, typ: pa.DataType) -> str:
    """The SELECT item for one leaf: the dotted field reference aliased to ``path``.

    Lists and maps are wrapped in ``json_format(CAST(… AS JSON))`` so they survive a CSV
    result (see the module docstring).
    """
    ref = ".".join(quote_identifier(part) for part in path.split("."))
    if pa.types.is_list(typ) or pa.types.is_map(typ):
        ref = f"json_format(CAST({ref} AS JSON))"
    return f"{ref} AS {quote_identifier(path)}"


def load_query(
    source: Source,
    *,
    region: str,
    window: Window,
    accounts: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    columns: Iterable[str] | None = None,
    database: str | None = None,
    table: str | None = None,
) -> tuple[str, list[str]]:
    """Build the Athena query of one load.

    ``region`` names the lake's home region (its Glue database and table); ``regions``
    filters the ``region`` column (a rollup region's table holds several).  ``database``
    and ``table`` name another database or table to read (e.g. a resource link).  Returns
    ``(sql, params)``: ``sql`` has one ``?`` per value and ``params`` the matching
    execution parameters in order (quoted literals; see the module docstring):
    the window start and end, then each account, then each region.  Empty ``accounts``
    or ``regions`` raise :class:`ValueError` (they would match nothing).
    """
    check_region(region)
    paths = resolve_columns(source, columns)
    types = dict(leaves(source))
    items = ",\n  ".join(select_expression(p, types[p]) for p in paths)
    db = database or default_database(region)
    relation = f"{quote_identifier(db)}.{quote_identifier(table or source.table(region))}"
    where, params = scope_predicate(window, accounts, regions, quote=literal)
    sql = f"SELECT\n  {items}\nFROM {relation}\nWHERE " + "\n  AND ".join(where)
    return sql, params


def scope_predicate(
    window: Window,
    accounts: Iterable[str] | str | None = None,
    regions: Iterable[str] | str | None = None,
    *,
    quote: Callable[[str], str] | None = None,
) -> tuple[list[str], list[Any]]:
    """The window (and account/region) predicate every query of the toolkit uses, with its bound values.

    Parameters
    ----------
    window
        ``[start, end)`` on ``time_dt``.
    accounts, regions
        ``accountid`` / ``region`` values to keep (``None`` = all; empty raises :class:`ValueError`).
    quote
        Applied to every bound value (Athena execution parameters are quoted literals); identity by default.

    Returns
    -------
    (list of str, list)
        The conjuncts (join them with ``AND``) and the values of their ``?`` placeholders, in order.

    Examples
    --------
    >>> from slake_forensics.core.timewindow import Window
    >>> where, params = scope_predicate(Window.of("2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"), ["123456789012"])
    >>> " AND ".join(where)
    '"time_dt" >= from_iso8601_timestamp(?) AND "time_dt" < from_iso8601_timestamp(?) AND "accountid" IN (?)'
    >>> params
    ['2026-03-01T00:00:00.000Z', '2026-03-02T00:00:00.000Z', '123456789012']
    """
    q = quote or (lambda v: v)
    where = ['"time_dt" >= from_iso8601_timestamp(?)', '"time_dt" < from_iso8601_timestamp(?)']
    params: list[Any] = [q(timestamp_text(window.start)), q(timestamp_text(window.end))]
    for column, values in (("accountid", accounts), ("region", regions)):
        if values is None:
            continue
        values = [values] if isinstance(values, str) else list(values)
        if not values:
            raise ValueError(f"Empty {column} filter: pass None for all, or at least one value.")
        where.append(f'"{column}" IN ({", ".join("?" for _ in values)})')
        params.extend(q(str(v)) for v in values)
    return where, params


def decode_json_column(values: Iterable[Any], typ: pa.DataType) -> pa.Array:
    """Turn the JSON texts of a list or map leaf (see the module docstring) into an Arrow array of ``typ``.

    Missing values (``None``, NA, empty string) become nulls.  Returns a ``pa.Array`` of
    exactly ``typ``; raises :class:`ValueError` on text that is not the JSON Athena writes.
    """
    py = [None if _missing(v) else _from_json(json.loads(v), typ) for v in values]
    return pa.array(py, type=typ)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) or value == ""


def _from_json(obj: Any, typ: pa.DataType) -> Any:
    if obj is None:
        return None
    if pa.types.is_list(typ):
        return [_from_json(item, typ.value_type) for item in obj]
    if pa.types.is_map(typ):
        return [(_from_json(k, typ.key_type), _from_json(v, typ.item_type)) for k, v in obj.items()]
    if pa.types.is_struct(typ):
        if isinstance(obj, list):  # engine-2 style positional ROW → JSON
            obj = {field.name: item for field, item in zip(typ, obj)}
        return {field.name: _from_json(obj.get(field.name), field.type) for field in typ}
    if pa.types.is_timestamp(typ):
        ts = pd.Timestamp(obj)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if pa.types.is_boolean(typ) and isinstance(obj, str):
        return obj.lower() == "true"
    if pa.types.is_integer(typ) and isinstance(obj, str):
        return int(obj)
    if pa.types.is_string(typ) and not isinstance(obj, str):
        return json.dumps(obj)
    return obj
