"""Two-phase execution of single-table queries on the local lake (late materialization).

DuckDB decodes every projected column of a Parquet row group even when no row of it passes the
``WHERE`` clause, so a wide projection over a selective filter (a pivot's timeline columns for
one IP over a month) costs far more than the filter itself.  A query that reads one source once,
with a ``WHERE`` clause that holds all its ``?`` placeholders, is therefore run in two phases:

1. :func:`row_query` — only the file name and row number of the rows passing the ``WHERE``
   clause, over a view that reads nothing else (at most ``cap + 1`` rows);
2. the original query, over a view restricted to those rows of the files that hold them.

The answer is the same as running the query once: the query sees every row that passes its own
filter, and nothing else it could have used.
"""
from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp

#: Names of the two columns phase 1 returns (the view of phase 1 adds them to the source's columns).
FILE_COLUMN = "__slake_file"
ROW_COLUMN = "__slake_row"


@lru_cache(maxsize=512)
def row_query(duckdb_sql: str, view: str, cap: int) -> str | None:
    """The phase-1 query of ``duckdb_sql``, or ``None`` when it does not qualify.

    It qualifies when it is one ``SELECT`` (no subquery, CTE, join or set operation) reading
    ``view`` once, with a ``WHERE`` clause holding every ``?`` placeholder of the query (so the
    same parameters bind both phases).  The phase-1 query is ``SELECT __slake_file, __slake_row
    FROM <view> WHERE <the same clause> LIMIT cap + 1``.  Remembered per arguments (pivots and
    hunts repeat their text with other bound values).
    """
    try:
        tree = sqlglot.parse_one(duckdb_sql, read="duckdb")
    except sqlglot.errors.SqlglotError:
        return None
    where = tree.args.get("where")
    if (
        not isinstance(tree, exp.Select)
        or where is None
        or tree.args.get("with")
        or tree.args.get("joins")
        or tree.args.get("laterals")
        or sum(1 for _ in tree.find_all(exp.Select)) != 1
    ):
        return None
    tables = list(tree.find_all(exp.Table))
    if len(tables) != 1 or tables[0].name != view:
        return None
    if sum(1 for _ in where.find_all(exp.Placeholder)) != sum(1 for _ in tree.find_all(exp.Placeholder)):
        return None
    phase1 = (
        exp.select(exp.column(FILE_COLUMN, quoted=True), exp.column(ROW_COLUMN, quoted=True))
        .from_(tables[0].copy())
        .where(where.this.copy())
        .limit(cap + 1)
    )
    return phase1.sql(dialect="duckdb")
