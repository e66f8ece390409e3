"""Athena (Trino) SQL to DuckDB SQL, so Athena hunts run unchanged on a local lake.

:func:`translate` parses with sqlglot (``read="trino"``), applies the transforms below and
writes DuckDB SQL.  sqlglot already maps most of Trino (``date_format`` format strings,
``from_unixtime``, ``approx_distinct``, ``arbitrary``, ``regexp_like``, ``element_at``,
lambdas, ``TIMESTAMP '…'`` literals, ``?`` placeholders); the transforms here cover the rest:

* table names of any region, catalog or quoting → ``resolve_table(name)`` (the original table
  name stays usable as a qualifier through an alias);
* ``CURRENT_TIMESTAMP`` / ``now()`` / ``localtimestamp`` / ``current_date`` → the lake's clock;
* ``any_match`` / ``all_match`` / ``none_match`` → ``list_filter`` counts;
* ``json_extract_scalar`` → ``json_value`` (NULL for objects, arrays and invalid JSON, as
  Trino), ``json_extract`` → NULL on invalid JSON instead of an error;
* ``cardinality`` → DuckDB ``cardinality`` (works on maps as well as arrays);
* ``UNNEST(array_of_rows) AS t(a, b, …)`` (row fields as columns) and multi-array
  ``UNNEST(a, b)`` (zipped) → a lateral ``SELECT UNNEST(…)`` subquery.
"""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import sqlglot
from sqlglot import exp

from slake_forensics.core.errors import QueryError

_MATCHERS = {"any_match", "all_match", "none_match"}


def _parse(sql: str) -> exp.Query:
    try:
        trees = [t for t in sqlglot.parse(sql, read="trino") if t is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise QueryError(f"Cannot parse the query as Athena (Trino) SQL: {exc}") from None
    if len(trees) != 1:
        raise QueryError(f"Expected exactly one SQL statement, got {len(trees)}.")
    tree = trees[0]
    if not isinstance(tree, exp.Query):
        raise QueryError(
            f"Only queries (SELECT / WITH / UNION) run on a lake; got a {tree.key.upper()} statement."
        )
    return tree


def _table_refs(tree: exp.Expr) -> list[exp.Table]:
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    refs = []
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue
        if not table.args.get("db") and table.name.lower() in ctes:
            continue
        refs.append(table)
    return refs


def _full_name(table: exp.Table) -> str:
    return ".".join(part.name for part in table.parts)


def referenced_tables(sql: str) -> list[str]:
    """Tables the query reads, as dotted unquoted names (``db.table`` or ``catalog.db.table``).

    CTE names are not tables.  Each name appears once, in order of first appearance.
    Raises :class:`QueryError` if the text is not one parsable query.
    """
    names: list[str] = []
    for table in _table_refs(_parse(sql)):
        name = _full_name(table)
        if name not in names:
            names.append(name)
    return names


def translate(sql: str, *, now: pd.Timestamp | None, resolve_table: Callable[[str], str]) -> str:
    """Return DuckDB SQL equivalent to the Athena query ``sql``.

    ``resolve_table`` maps each referenced table's dotted name (see :func:`referenced_tables`)
    to the DuckDB relation to read instead (it may raise to reject a table).  ``now`` is the
    clock ``CURRENT_TIMESTAMP``, ``now()``, ``localtimestamp`` and ``current_date`` resolve to
    (UTC); ``None`` leaves them to DuckDB's real time.  ``?`` placeholders are kept in order.
    Raises :class:`QueryError` for text that is not one parsable query.
    """
    tree = _parse(sql)
    _replace_tables(tree, resolve_table)
    if now is not None:
        _replace_clock(tree, pd.Timestamp(now).tz_convert("UTC") if pd.Timestamp(now).tzinfo else pd.Timestamp(now, tz="UTC"))
    _replace_matchers(tree)
    _replace_json(tree)
    for node in list(tree.find_all(exp.ArraySize)):
        node.replace(exp.Anonymous(this="cardinality", expressions=[node.this.copy()]))
    _replace_unnest(tree)
    return tree.sql(dialect="duckdb")


def _replace_tables(tree: exp.Expr, resolve_table: Callable[[str], str]) -> None:
    for table in _table_refs(tree):
        target = resolve_table(_full_name(table))
        alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(table.name, quoted=True))
        table.replace(exp.Table(this=exp.to_identifier(target, quoted=True), alias=alias.copy()))


def _replace_clock(tree: exp.Expr, now: pd.Timestamp) -> None:
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    for node in list(tree.find_all(exp.CurrentTimestamp, exp.Localtimestamp, exp.CurrentDate)):
        if isinstance(node, exp.CurrentDate):
            value = exp.cast(exp.Literal.string(now.strftime("%Y-%m-%d")), exp.DataType.Type.DATE)
        elif isinstance(node, exp.Localtimestamp):
            value = exp.cast(exp.Literal.string(stamp), exp.DataType.Type.TIMESTAMP)
        else:
            value = exp.cast(exp.Literal.string(stamp + "+00"), exp.DataType.Type.TIMESTAMPTZ)
        node.replace(value)


def _fn(name: str, *args: exp.Expr) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _replace_matchers(tree: exp.Expr) -> None:
    nodes = [n for n in tree.find_all(exp.Anonymous) if str(n.this).lower() in _MATCHERS]
    for node in reversed(nodes):  # innermost first, so nested matchers are already rewritten
        name = str(node.this).lower()
        if len(node.expressions) != 2:
            raise QueryError(f"{name} takes an array and a lambda, e.g. {name}(resources, r -> r.uid = ?).")
        array, lam = (e.copy() for e in node.expressions)
        if name == "all_match":
            lam = exp.Lambda(this=exp.Not(this=exp.paren(lam.this)), expressions=lam.expressions)
        matched = _fn("len", _fn("list_filter", array, lam))
        zero = exp.Literal.number(0)
        node.replace(exp.paren(exp.GT(this=matched, expression=zero) if name == "any_match" else exp.EQ(this=matched, expression=zero)))


def _replace_json(tree: exp.Expr) -> None:
    nodes = list(tree.find_all(exp.JSONExtractScalar, exp.JSONExtract))
    for node in reversed(nodes):
        doc, path = node.this.copy(), node.expression.copy()
        if isinstance(node, exp.JSONExtractScalar):
            value: exp.Expr = _fn("json_extract_string", _fn("json_value", doc.copy(), path), exp.Literal.string("$"))
        else:
            value = node.copy()
        node.replace(exp.Case(ifs=[exp.If(this=_fn("json_valid", doc), true=value)]))


def _replace_unnest(tree: exp.Expr) -> None:
    for node in list(tree.find_all(exp.Unnest)):
        alias = node.args.get("alias")
        columns = alias.columns if alias else []
        arrays = node.expressions
        expand_row = len(arrays) == 1 and len(columns) > 1
        if node.args.get("offset") or not (len(arrays) > 1 or expand_row):
            continue
        if expand_row:
            depth = exp.PropertyEQ(this=exp.to_identifier("max_depth"), expression=exp.Literal.number(2))
            items = [exp.Explode(this=arrays[0].copy(), expressions=[depth])]
        else:
            items = [exp.Explode(this=a.copy()) for a in arrays]
        node.replace(exp.Subquery(this=exp.select(*items), alias=alias.copy() if alias else None))
