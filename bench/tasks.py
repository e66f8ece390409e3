"""The registry of measurable tasks: name -> ``prepare(params) -> op`` (see :mod:`bench.child`).

``prepare`` does everything that is not measured (imports, opening the lake, a warm-up) and
returns the op the child times: a callable returning the result frame (``None`` for notebooks),
or ``(frame, {part: seconds})``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import memory, notebooks, pivot, timeline, window

TASKS: dict[str, Callable[[dict[str, Any]], Callable[[], Any]]] = {
    "window.toolkit": window.toolkit,
    "window.duckdb": window.duckdb_sql,
    "window.pyarrow": window.pyarrow_limit,
    "window.pyarrow_sorted": window.pyarrow_limit_sorted,
    "window.naive": window.naive,
    "pivot.toolkit": pivot.toolkit,
    "pivot.duckdb": pivot.duckdb_peer,
    "pivot.naive": pivot.naive,
    "pivot.indexed": pivot.indexed,
    "index.build": pivot.index_build,
    "index.update": pivot.index_update,
    "expand.indexed": pivot.expand_indexed,
    "memory.toolkit": memory.toolkit,
    "memory.naive": memory.naive,
    "timeline.toolkit": timeline.toolkit,
    "notebook": notebooks.execute,
}
