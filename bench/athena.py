"""The Athena bytes-scanned model: what a pivot would scan on Athena, with and without narrowing.

Athena bills the bytes of the columns a query reads in the partitions it scans.  Both are known
from the local lake alone: the columns are those the pivot's query of each source names
(:func:`slake_forensics.analysis.pivot.build_query`: its projection and its entity predicates), and
a column's bytes in a file are the compressed sizes of its column chunks in the Parquet footer.
The unindexed pivot scans every partition of the window; the narrowed one only the partitions
``(account, region, event day)`` the per-day entity summary names for the entity, modelled here
by the partitions of the files the entity index says hold it (any source, so a partition is
scanned in every source once the entity is seen there in one).
"""
from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_CHAIN = re.compile(r'(?<![.\w])"[^"]+"(?:\."[^"]+")*')  # not a lambda's element field (x."uid")
_PART = re.compile(r"region=([^/]+)/accountId=([^/]+)/eventDay=(\d{8})/")


def referenced(sql: str) -> set[str]:
    """Dotted column paths a query names (``"src_endpoint"."ip"`` -> ``src_endpoint.ip``), not its aliases nor lambda fields.

    >>> sorted(referenced('SELECT "a"."b" AS "actor", any_match("resources", x -> x."uid" = ?) FROM t'))
    ['a.b', 'resources']
    """
    text = re.sub(r'\bAS\s+"[^"]+"', "", sql, flags=re.IGNORECASE)
    return {".".join(part.strip('"') for part in m.group(0).split('"."')) for m in _CHAIN.finditer(text)}


def _leaf(path: str) -> str:
    """A column chunk's path without Parquet's list and map levels (``resources.list.element.uid`` -> ``resources.uid``)."""
    return re.sub(r"\.(list\.element|list\.item|element|array|key_value|bag\.array_element)(?=\.|$)", "", path)


@cache
def _chunk_bytes(path: str) -> tuple[tuple[str, int], ...]:
    """``(leaf path, compressed bytes)`` of every column of a Parquet file, summed over its row groups."""
    meta = pq.ParquetFile(path).metadata
    sizes: Counter[str] = Counter()
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            col = group.column(c)
            sizes[_leaf(col.path_in_schema)] += col.total_compressed_size
    return tuple(sizes.items())


def scanned_bytes(path: str, columns: set[str]) -> int:
    """Compressed bytes of the columns of the file at ``path`` that ``columns`` name (a named struct or list: all its leaves)."""
    return sum(n for leaf, n in _chunk_bytes(path) if any(leaf == c or leaf.startswith(c + ".") for c in columns))


def pick_entity(index: Any, days: int = 3) -> str:
    """An IPv4 address the entity index shows in files of exactly ``days`` event days (the one in most files; then the smallest)."""
    keys = dict(zip(index._load().files["file_id"].to_pylist(), index._load().files["key"].to_pylist()))
    day_of = {fid: m.group(3) for fid, k in keys.items() if (m := _PART.search(k))}
    seen: dict[str, set[str]] = {}
    files: Counter[str] = Counter()
    for table in index._load().values.values():
        ips = table.filter(pc.match_substring_regex(table["value"], _IPV4.pattern))
        for value, fid in zip(ips["value"].to_pylist(), ips["file_id"].to_pylist()):
            seen.setdefault(value, set()).add(day_of.get(fid, ""))
            files[value] += 1
    candidates = [v for v, d in seen.items() if len(d) == days]
    if not candidates:
        raise RuntimeError(f"no IP of the index is seen on exactly {days} days")
    return min(candidates, key=lambda v: (-files[v], v))


def model(lake_root: str, index_dir: str, start: str, end: str, ip: str | None = None) -> dict[str, Any]:
    """Bytes an Athena pivot on one IP over ``[start, end)`` would scan, unindexed and partition-narrowed.

    Returns ``{"ip", "days", "partitions", "unindexed_bytes", "narrowed_bytes", "ratio", "per_source"}``;
    ``per_source`` maps a source to ``(unindexed, narrowed)`` bytes.
    """
    import slake_forensics as sf
    from slake_forensics.analysis.entity_index import EntityIndex
    from slake_forensics.analysis.pivot import build_query
    from slake_forensics.core.catalog import SOURCES
    from slake_forensics.core.timewindow import Window

    lake = sf.Lake.local(lake_root)
    index = EntityIndex(lake, index_dir)
    chosen = ip or pick_entity(index)
    window = Window.of(start, end)
    state = index._load()
    holding = set()
    for name in SOURCES:
        hits = set()
        table = state.values.get(name)
        if table is not None:
            hits = set(table.filter(pc.equal(table["value"], chosen))["file_id"].to_pylist())
        for fid, key in zip(state.files["file_id"].to_pylist(), state.files["key"].to_pylist()):
            if fid in hits and (m := _PART.search(key)):
                holding.add(m.groups())
    per_source: dict[str, tuple[int, int]] = {}
    for name in SOURCES:
        built = build_query(lake, name, window, {"ip": [chosen]})
        if built is None:
            continue
        columns = referenced(built[0])
        full = narrowed = 0
        for key in index.window_keys(name, window):
            n = scanned_bytes(str(Path(lake_root) / key), columns)
            full += n
            m = _PART.search(key)
            if m is not None and m.groups() in holding:
                narrowed += n
        per_source[name] = (full, narrowed)
    unindexed = sum(f for f, _ in per_source.values())
    narrowed_total = sum(n for _, n in per_source.values())
    return {
        "ip": chosen,
        "days": len({d for _, _, d in holding}),
        "partitions": len(holding),
        "unindexed_bytes": unindexed,
        "narrowed_bytes": narrowed_total,
        "ratio": narrowed_total / unindexed if unindexed else None,
        "per_source": per_source,
    }
