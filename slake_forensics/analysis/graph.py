"""Expansion graph: grow a graph of related entities from a seed by repeated pivots.

From a seed such as ``{"ip": "198.51.100.7"}``, each hop finds the events holding the frontier's
entities (the events :func:`slake_forensics.analysis.pivot.pivot` would return, with every row of
their uid and time, as :func:`~slake_forensics.analysis.pivot.fetch_rows` would fetch them),
extracts their entities (the fields of :data:`~slake_forensics.analysis.entities.ENTITY_FIELDS`, as
:func:`slake_forensics.analysis.entities.entities` does) and links every frontier
entity to the other entities of the same events: an IP leads to the keys and principals used
from it, those to the other IPs they were used from, the buckets, instances and domains they
touched, and so on.  Accounts are left out (every event has one), as are the name and principal-id
forms of a principal (its ARN stands for it).  :func:`plot_graph` draws the result with matplotlib.

A hop reads only what it needs: on a local or S3 lake, the entity, uid and time columns of the
files the entity index names for the frontier (every file of the window without an index), with
pyarrow, four files at a time; on another lake, the pivot's query per source selecting those
columns.  Entities and co-occurrences are then counted column-wise (pyarrow group-bys and a hash
join), never per event in Python.  See docs/entity_index.md ("Expansion").
"""
from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from slake_forensics.analysis.entities import fields_for
from slake_forensics.analysis.entity_index import index_of
from slake_forensics.analysis.normalize import STRING, TIME, Col, Expr, First, Json, column_array, expressions, projection
from slake_forensics.analysis.pivot import PIVOT_ENTITIES, build_query, entity_values
from slake_forensics.core import ocsf
from slake_forensics.core.catalog import SOURCES, source as find_source
from slake_forensics.core.errors import MisplacedFileError, SchemaMismatchError
from slake_forensics.core.layout import Partition
from slake_forensics.core.ocsf import type_at
from slake_forensics.core.timewindow import TimeLike, Window
from slake_forensics.engines.local import LocalEngine, SkippedFileWarning, _read
from slake_forensics.engines.s3 import S3Engine
from slake_forensics.sql.build import quote_identifier

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from slake_forensics.engines.base import Engine

#: Entity types that become nodes (accounts would link everything to everything).
NODE_TYPES = ("ip", "principal", "access_key", "bucket", "object", "instance", "domain", "user_agent")
#: Fields whose values duplicate another form of the same entity and are not made nodes.
SKIPPED_FIELDS = ("actor.user.uid_alt", "actor.user.name", "user.uid_alt", "user.name")

#: The columns of ``Graph.nodes``.
NODE_COLUMNS = ("id", "type", "value", "hop", "first_seen", "last_seen", "events")
#: The columns of ``Graph.edges``.
EDGE_COLUMNS = ("src", "dst", "relation", "events", "first_seen", "last_seen")

#: The colour :func:`plot_graph` gives each node type.
COLORS = {
    "ip": "#1f77b4", "principal": "#d62728", "access_key": "#ff7f0e", "bucket": "#2ca02c", "object": "#98df8a",
    "instance": "#9467bd", "domain": "#8c564b", "user_agent": "#7f7f7f",
}


@dataclass
class Graph:
    """The expansion result.

    ``nodes``: one row per entity, columns :data:`NODE_COLUMNS` (``id`` is ``"<type>:<value>"``,
    ``hop`` 0 for seeds, ``events`` the number of fetched events mentioning it, first/last seen
    their times).  ``edges``: one row per (src, dst, relation), columns :data:`EDGE_COLUMNS`
    (``src`` the pivoted node, ``relation`` ``"<source>:<field of dst>"``, ``events`` the
    events both appear in).  ``truncated`` says whether ``max_nodes`` or ``max_per_hop`` cut
    nodes off; ``notes`` says where; ``pivots`` holds each hop's provenance: ``window``,
    ``entities`` (the values looked for, per type, as :func:`~slake_forensics.analysis.pivot.pivot`
    takes them), ``rows`` (per source, the rows holding one), ``skipped`` (sources without a field
    for them), ``index`` (per source, the files read out of the window's, as a pivot's ``attrs``;
    empty without an index) and ``elapsed_s``.

    Parameters
    ----------
    nodes
        Columns ``id, type, value, hop, first_seen, last_seen, events``.
    edges
        Columns ``src, dst, relation, events, first_seen, last_seen``.
    truncated
        Whether the caps cut nodes off.
    notes
        Where they did.
    pivots
        Each hop's provenance.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> g = sf.Lake.sample().expand({"ip": "94.130.27.54"}, "2026-05-14T20:07Z", "2026-05-14T20:08Z", hops=1,
    ...                             progress=False)
    >>> g.nodes["id"].tolist()
    ['ip:94.130.27.54', 'domain:pool.supportxmr.com.', 'instance:i-c1a762c56d643463c', 'instance:rslvr-in-995978e34710f4408', 'ip:10.35.7.139']
    >>> g.edges[["src", "dst", "relation"]].values.tolist()[0]
    ['ip:94.130.27.54', 'domain:pool.supportxmr.com.', 'route53:query.hostname']
    """

    nodes: pd.DataFrame
    edges: pd.DataFrame
    truncated: bool = False
    notes: list[str] = field(default_factory=list)
    pivots: list[dict[str, Any]] = field(default_factory=list)

    def _repr_html_(self) -> str:
        cut = " (truncated: " + "; ".join(self.notes) + ")" if self.truncated else ""
        return f"<p>Graph: {len(self.nodes)} nodes, {len(self.edges)} edges{cut}</p>" + self.nodes.to_html(max_rows=20)


def expand(
    lake: Engine,
    seed: Mapping[str, str | Iterable[str]],
    start: TimeLike,
    end: TimeLike,
    hops: int = 2,
    max_nodes: int = 200,
    max_per_hop: int = 50,
    progress: bool = True,
) -> Graph:
    """Grow the entity graph around ``seed`` for ``hops`` pivots within ``[start, end)``.

    ``seed`` maps pivot entity types (``ip``, ``principal``, ``access_key``, ``bucket``,
    ``instance``, ``domain``) to a value or list of values.  Each hop adds at most
    ``max_per_hop`` new nodes (those in most events first, then by id) and the graph never
    exceeds ``max_nodes`` nodes; nodes cut off set ``truncated``.  Nodes of types pivot cannot
    take (objects, user agents) are leaves.

    Parameters
    ----------
    lake
        The lake to pivot in.
    seed
        Entity type to value(s).
    start, end
        The window ``[start, end)`` of every pivot.
    hops
        Pivots outwards from the seed.
    max_nodes, max_per_hop
        Caps on the graph's size and on the nodes each hop adds.
    progress
        Show progress bars.

    Returns
    -------
    Graph
        ``nodes`` (``id, type, value, hop, first_seen, last_seen, events``) and ``edges``
        (``src, dst, relation, events, first_seen, last_seen``).

    Examples
    --------
    >>> import slake_forensics as sf
    >>> from slake_forensics.analysis.graph import expand
    >>> g = expand(sf.Lake.sample(), {"access_key": "AKIAYHYXCBKFKX3UQS3F"}, "2026-05-21T03:30Z", "2026-05-21T03:50Z",
    ...            hops=2, max_per_hop=5, progress=False)
    >>> g.nodes.groupby("hop").size().tolist(), g.notes
    ([1, 5, 5], ['hop 1: kept 5 of 16 new nodes', 'hop 2: kept 5 of 11 new nodes'])
    >>> g.nodes.loc[g.nodes["type"] == "ip", "value"].tolist()
    ['103.75.108.118', '10.35.14.10', '198.62.133.123']
    """
    window = Window.of(start, end)
    if not seed:
        raise ValueError(f"seed needs at least one entity, e.g. {{'ip': '198.51.100.7'}}; types: {', '.join(PIVOT_ENTITIES)}.")
    if hops < 0 or max_nodes < 1 or max_per_hop < 1:
        raise ValueError("hops must be >= 0, max_nodes and max_per_hop >= 1.")
    hop_of: dict[str, int] = {}
    for etype, values in seed.items():
        if etype not in PIVOT_ENTITIES:
            raise ValueError(f"Cannot pivot on {etype!r}; seed types are {', '.join(PIVOT_ENTITIES)}.")
        for v in [values] if isinstance(values, str) else list(values):
            hop_of.setdefault(f"{etype}:{v}", 0)
    notes: list[str] = []
    pivots: list[dict[str, Any]] = []
    found: list[pa.Table] = []  # entity rows of every event found
    frontier = list(hop_of)
    seen_events: dict[str, pa.Array] = {}  # per source, the uids of the events found
    for hop in range(1, hops + 1):
        query = _group(frontier)
        if not query:
            break
        given = {etype: entity_values(etype, values) for etype, values in query.items()}
        rows, attrs = _hop_rows(lake, given, window, progress)
        pivots.append(attrs)
        ents = _event_entities(rows, seen_events, set(hop_of))
        found.append(ents)
        candidates = _rank_new(ents, set(hop_of))
        take = candidates[: min(max_per_hop, max(0, max_nodes - len(hop_of)))]
        if len(take) < len(candidates):
            notes.append(f"hop {hop}: kept {len(take)} of {len(candidates)} new nodes")
        for node in take:
            hop_of[node] = hop
        frontier = [n for n in take if n.split(":", 1)[0] in PIVOT_ENTITIES]
    everything = pa.concat_tables(found) if found else _ENTITY_SCHEMA.empty_table()
    all_ents = everything.filter(pc.is_in(everything["id"], value_set=pa.array(list(hop_of), pa.string())))
    expanded = {n for n, h in hop_of.items() if h < len(pivots) and n.split(":", 1)[0] in PIVOT_ENTITIES}
    nodes = _nodes(hop_of, all_ents)
    edges = _edges(hop_of, expanded, all_ents)
    return Graph(nodes, edges, truncated=bool(notes), notes=notes, pivots=pivots)


def _group(node_ids: list[str]) -> dict[str, list[str]]:
    """Pivot keyword arguments for node ids (``type:value``)."""
    out: dict[str, list[str]] = {}
    for node in node_ids:
        etype, value = node.split(":", 1)
        if etype in PIVOT_ENTITIES:
            out.setdefault(etype, []).append(value)
    return out


#: The entity rows of a hop's events: ``id`` is ``"<type>:<value>"``, ``time`` the event's, ``field`` the first
#: field (in :data:`~slake_forensics.analysis.entities.ENTITY_FIELDS` order) holding the value, as
#: :func:`~slake_forensics.analysis.entities.entities` gives them.
_ENTITY_SCHEMA = pa.schema([
    pa.field("id", pa.string()), pa.field("entity_type", pa.string()), pa.field("value", pa.string()),
    pa.field("source", pa.string()), pa.field("event_uid", pa.string()), pa.field("time", pa.timestamp("ms", tz="UTC")),
    pa.field("field", pa.string()),
])
#: Room for the field number below the time in the key that picks an entity's first field in an event.
_FIELD_SLOTS = 1024


@dataclass
class _Rows:
    """One source's rows read for a hop: those holding a frontier value (``hit``) and those of the same
    times (an event the pivot finds is fetched with every row of its uid and time)."""

    table: pa.Table
    hit: np.ndarray


def _columns(source: str) -> list[str]:
    """The columns a hop reads of ``source``: the entity fields of :data:`NODE_TYPES` (which hold the pivot
    types'), the columns of its timeline ``uid`` and ``time_dt``."""
    src = find_source(source)
    paths = [f.path for etype in NODE_TYPES for f in fields_for(src.name, etype)]
    paths += _expr_columns(expressions(src.name)["uid"]) + ["time_dt"]
    return [p for p in dict.fromkeys(paths) if type_at(src.schema, p) is not None]


def _expr_columns(expr: Expr) -> list[str]:
    """The columns a timeline expression reads."""
    out = [expr.path] if isinstance(expr, Col | First | Json) else []
    for value in vars(expr).values():
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, Expr):
                out += _expr_columns(item)
    return out


def _holds(df: pd.DataFrame, source: str, given: dict[str, list[str]]) -> np.ndarray:
    """Which rows of ``df`` hold one of the ``given`` values in a field of its type: the pivot's predicate
    (:meth:`~slake_forensics.analysis.entities.Field.predicate`), on the values as stored (prefixes kept)."""
    src = find_source(source)
    hit = np.zeros(len(df), dtype=bool)
    for etype, values in given.items():
        for fld in fields_for(src.name, etype):
            stored = pa.array(fld.stored(values), pa.string())
            frame, at = df, None
            if fld.json:  # parse only the texts that can hold a value: literally, or through an escape
                pattern = "|".join(re.escape(v) for v in [*fld.stored(values), "\\"])
                texts = column_array(df, fld.path, pa.string())
                at = np.flatnonzero(pc.fill_null(pc.match_substring_regex(texts, pattern), False).to_numpy(zero_copy_only=False))
                frame = df.iloc[at]
            rows, found = replace(fld, prefixes=()).extract(frame, src)
            rows = rows[pc.fill_null(pc.is_in(found, value_set=stored), False).to_numpy(zero_copy_only=False)]
            hit[rows if at is None else at[rows]] = True
    return hit


def _same_times(table: pa.Table, hit: np.ndarray) -> _Rows:
    """The rows of ``table`` that hold a value or share a time with one that does."""
    times = table["time_dt"]
    near = pc.fill_null(pc.is_in(times, value_set=pc.unique(times.filter(pa.array(hit)))), False).to_numpy(zero_copy_only=False)
    keep = hit | near
    return _Rows(table.filter(pa.array(keep)), hit[keep])


def _hop_rows(
    lake: Engine, given: dict[str, list[str]], window: Window, progress: bool
) -> tuple[dict[str, _Rows], dict[str, Any]]:
    """Per source, the rows of a hop's pivot on ``given`` (with the rows sharing their times), read with
    the entity fields and uid columns only; and the hop's provenance.

    A local or S3 lake reads, with pyarrow, only the files the entity index names for the values (every
    file of the window without an index), four at a time; another lake runs the pivot's query per source
    with those columns."""
    started = time.perf_counter()
    custom = [s.name for s in lake.custom_sources() if s.like]
    names = [*SOURCES, *custom]
    queried = [n for n in names if any(fields_for(n, t) for t in given)]
    narrowed: dict[str, tuple[list[str], int]] = {}
    out: dict[str, _Rows] = {}
    if isinstance(lake, LocalEngine | S3Engine):
        index = index_of(lake)
        if index is not None:
            narrowed = index.narrow(queried, window, None, [v for vs in given.values() for v in vs], progress=progress)
        jobs = [(name, path, part) for name in queried for path, part in _files(lake, name, window, narrowed.get(name, (None, 0))[0])]
        bar = tqdm(total=len(jobs), desc="expand", unit="file", disable=not progress or not jobs, leave=False)

        def one(job: tuple[str, Path, Partition]) -> _Rows | None:
            name, path, part = job
            try:
                return _file_rows(path, part, name, window, given)
            finally:
                bar.update()

        with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
            results = list(pool.map(one, jobs))
        bar.close()
        for name in queried:
            parts = [r for (n, _, _), r in zip(jobs, results) if n == name and r is not None]
            if parts:
                table = pa.concat_tables([p.table for p in parts], promote_options="permissive").combine_chunks()
                out[name] = _Rows(table, np.concatenate([p.hit for p in parts]))
    else:
        for name in queried:
            built = build_query(lake, name, window, given)
            assert built is not None
            sql, params = built
            top = ", ".join(dict.fromkeys(quote_identifier(c.split(".")[0]) for c in _columns(name)))
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="This lake has no .* data; the query sees an empty table")
                df = lake.sql(sql.replace(projection(name), top, 1), params, start=window.start, end=window.end)
            if len(df):
                out[name] = _Rows(pa.Table.from_pandas(df, preserve_index=False).combine_chunks(), _holds(df, name, given))
    attrs = {
        "window": (window.start, window.end),
        "entities": given,
        "rows": {name: int(out[name].hit.sum()) if name in out else 0 for name in queried},
        "skipped": [n for n in names if n not in queried],
        "index": {name: (len(keys), total) for name, (keys, total) in narrowed.items()},
        "elapsed_s": time.perf_counter() - started,
    }
    return out, attrs


def _files(lake: LocalEngine | S3Engine, source: str, window: Window, only: list[str] | None) -> list[tuple[Path, Partition]]:
    """The files of ``source`` in ``window`` (of them, those in ``only`` when given) with their partitions;
    an S3 lake's are downloaded into its cache first."""
    if isinstance(lake, LocalEngine):
        paths = lake.files(source, window)
        if only is not None:
            keep = set(only)
            paths = [p for p in paths if p.relative_to(lake.root).as_posix() in keep]
        return [(p, lake._part(p)) for p in paths]
    keys = only if only is not None else lake.keys(source, window)
    lake._download(keys)
    out = []
    for key in keys:
        part = lake._partition(key)
        if part is not None:
            out.append((lake._cached(key), part))
    return out


def _file_rows(path: Path, part: Partition, source: str, window: Window, given: dict[str, list[str]]) -> _Rows | None:
    """The rows of one file that hold a ``given`` value or share a time with one (``None`` when none
    does, or when the file is one a query skips: another source's class, a schema that cannot be reconciled)."""
    src = find_source(source)
    columns = _columns(source)
    try:
        table = _read(path, part, src, window, columns)
    except (MisplacedFileError, SchemaMismatchError) as exc:
        warnings.warn(f"Skipping a file: {exc}", SkippedFileWarning, stacklevel=2)
        return None
    table = table.select(columns)
    hit = _holds(ocsf.flatten(table), source, given)
    return _same_times(table, hit) if hit.any() else None


def _event_entities(rows: dict[str, _Rows], seen: dict[str, pa.Array], known: set[str]) -> pa.Table:
    """Graph-relevant entity rows (:data:`_ENTITY_SCHEMA`) of a hop's new events: node types only, and
    values of :data:`SKIPPED_FIELDS` only when they are ``known`` nodes already.

    The hop's events are the ``(source, uid)`` of rows holding a frontier value whose uid is not in
    ``seen`` (which gains them); each is taken with every row of its uid and time, as
    :func:`~slake_forensics.analysis.pivot.fetch_rows` fetches it.  Each field's
    :meth:`~slake_forensics.analysis.entities.Field.extract` runs once over those rows; a value is kept
    once per event, with the event's earliest time and its first field there (as
    :func:`~slake_forensics.analysis.entities.entities` keeps it), by a column-wise group-by."""
    parts = []
    known_ids = pa.array(sorted(known), pa.string())
    for name in sorted(rows):
        table, hit = rows[name].table, rows[name].hit
        src = find_source(name)
        df = ocsf.flatten(table)
        uids = expressions(name)["uid"].arrow(df, src)
        ms = table["time_dt"].cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64()).combine_chunks()
        mask = pa.array(hit)
        hit_uids, hit_ms = uids.filter(mask), ms.filter(mask)
        if name in seen:
            fresh = pc.invert(pc.is_in(hit_uids, value_set=seen[name]))
            hit_uids, hit_ms = hit_uids.filter(fresh), hit_ms.filter(fresh)
        seen[name] = pc.unique(pa.concat_arrays([seen[name], hit_uids]) if name in seen else hit_uids)
        keys = pc.binary_join_element_wise(uids, ms.cast(pa.string()), "|")
        wanted = pc.binary_join_element_wise(hit_uids, hit_ms.cast(pa.string()), "|")
        at = np.flatnonzero(pc.fill_null(pc.is_in(keys, value_set=wanted), False).to_numpy(zero_copy_only=False))
        if not len(at):
            continue
        events = df.iloc[at].reset_index(drop=True)
        ev_uids, ev_ms = uids.take(pa.array(at)), ms.take(pa.array(at))
        names: list[str] = []
        ranks: list[np.ndarray] = []
        values: list[pa.Array] = []
        positions: list[np.ndarray] = []
        numbers: list[np.ndarray] = []
        for rank, etype in enumerate(NODE_TYPES):
            for fld in fields_for(name, etype):
                where, found = fld.extract(events, src)
                numbers.append(np.full(len(where), len(names), dtype=np.int64))
                names.append(fld.name)
                ranks.append(np.full(len(where), rank, dtype=np.int8))
                values.append(found.cast(pa.string()))
                positions.append(where.astype(np.int64))
        if not names:
            continue
        where = np.concatenate(positions)
        # (type, value, event) as one integer: the group-by hashes numbers, not strings
        value_codes = pc.dictionary_encode(pa.concat_arrays(values))
        event_codes = pc.dictionary_encode(ev_uids)
        n_values, n_events = len(value_codes.dictionary), len(event_codes.dictionary)
        group = (np.concatenate(ranks).astype(np.int64) * n_values + value_codes.indices.to_numpy()) * n_events
        group += event_codes.indices.to_numpy()[where]
        # the event's earliest time, then its first field: one number to take the minimum of
        key = pc.add(pc.multiply(ev_ms.take(pa.array(where)), _FIELD_SLOTS), pa.array(np.concatenate(numbers)))
        firsts = pa.table({"group": group, "key": key}).group_by("group", use_threads=True).aggregate([("key", "min")])
        rest, event = np.divmod(firsts["group"].to_numpy(), n_events)
        rank, value = np.divmod(rest, n_values)
        key = firsts["key_min"]
        etypes = pa.array(NODE_TYPES, pa.string()).take(pa.array(rank))
        found = value_codes.dictionary.take(pa.array(value))
        ents = pa.table({
            "id": pc.binary_join_element_wise(etypes, found, ":"),
            "entity_type": etypes,
            "value": found,
            "source": pa.array([name] * len(firsts), pa.string()),
            "event_uid": event_codes.dictionary.take(pa.array(event)),
            "time": pc.divide(key, _FIELD_SLOTS).cast(pa.timestamp("ms", tz="UTC")),
            "field": pa.array(names, pa.string()).take(pc.subtract(key, pc.multiply(pc.divide(key, _FIELD_SLOTS), _FIELD_SLOTS))),
        }, schema=_ENTITY_SCHEMA)
        graphable = pc.or_(pc.invert(pc.is_in(ents["field"], value_set=pa.array(SKIPPED_FIELDS))), pc.is_in(ents["id"], value_set=known_ids))
        parts.append(ents.filter(graphable))
    return pa.concat_tables(parts) if parts else _ENTITY_SCHEMA.empty_table()


def _rank_new(ents: pa.Table, known: set[str]) -> list[str]:
    """Ids of entities of a hop's events (each found by a frontier node) not yet in the graph,
    in most events (distinct uids) first, then by id."""
    linked = ents.filter(pc.invert(pc.is_in(ents["id"], value_set=pa.array(sorted(known), pa.string()))))
    counts = linked.group_by("id").aggregate([("event_uid", "count_distinct")])
    counts = counts.sort_by([("event_uid_count_distinct", "descending"), ("id", "ascending")])
    return [str(i) for i in counts["id"].to_pylist()]


def _nodes(hop_of: dict[str, int], ents: pa.Table) -> pd.DataFrame:
    """One row per node (:data:`NODE_COLUMNS`); ``ents`` holds each node's entity rows, one per event."""
    split = [n.split(":", 1) for n in hop_of]
    out = pd.DataFrame({
        "id": pd.Series(list(hop_of), dtype=STRING),
        "type": pd.Series([t for t, _ in split], dtype=STRING),
        "value": pd.Series([v for _, v in split], dtype=STRING),
        "hop": list(hop_of.values()),
    })
    ms = ents["time"].cast(pa.int64())
    stats = pa.table({"id": ents["id"], "ms": ms, "one": pa.array(np.ones(len(ents), dtype=np.int64))})
    stats = stats.group_by("id").aggregate([("ms", "min"), ("ms", "max"), ("one", "sum")])
    per = stats.to_pandas(types_mapper=pd.ArrowDtype).set_index("id").reindex(out["id"])
    out["first_seen"] = _from_ms(per["ms_min"])
    out["last_seen"] = _from_ms(per["ms_max"])
    out["events"] = per["one_sum"].fillna(0).astype("int64").to_numpy()
    return out[list(NODE_COLUMNS)].sort_values(["hop", "type", "value"], kind="stable").reset_index(drop=True)


def _from_ms(ms: pd.Series) -> pd.arrays.ArrowExtensionArray:
    """Times (``timestamp[ms, UTC]``) of epoch milliseconds (nulls stay null), by position."""
    arr = pa.array(ms.to_numpy(dtype="float64", na_value=float("nan")), from_pandas=True)
    return pd.array(arr.cast(pa.int64()).cast(pa.timestamp("ms", tz="UTC")), dtype=TIME)


def _edges(hop_of: dict[str, int], expanded: set[str], ents: pa.Table) -> pd.DataFrame:
    """Links from each pivoted node to the other nodes of the events it was found in; ``src`` is the
    pivoted node (the one found first when both were pivoted).  ``ents`` holds each node's entity rows,
    one per event: a hash join on the event, then a group-by, in pyarrow."""
    ids = list(hop_of)
    order = {n: i for i, n in enumerate(sorted(ids))}
    place = pa.array(np.array([hop_of[n] * len(ids) + order[n] for n in ids], dtype=np.int64))  # in (hop, id) order
    is_expanded = pa.array([n in expanded for n in ids])
    node = pc.index_in(ents["id"], value_set=pa.array(ids, pa.string()))
    event = pc.dictionary_encode(ents["event_uid"].combine_chunks()).indices
    fields_ = pc.dictionary_encode(ents["field"].combine_chunks())
    sources = pc.dictionary_encode(ents["source"].combine_chunks())
    left = pa.table({"s": sources.indices, "e": event, "a": node, "ms": ents["time"].cast(pa.int64())})
    left = left.filter(is_expanded.take(node))
    right = pa.table({"s": sources.indices, "e": event, "b": node, "f": fields_.indices})
    pairs = left.join(right, keys=["s", "e"], join_type="inner", use_threads=True)
    first = pc.less(place.take(pairs["a"]), place.take(pairs["b"]))  # a before b in (hop, id) order
    pairs = pairs.filter(pc.or_(pc.invert(is_expanded.take(pairs["b"])), first))
    if not len(pairs):
        return pd.DataFrame({c: pd.Series([], dtype="int64" if c == "events" else TIME if "seen" in c else STRING) for c in EDGE_COLUMNS})
    pairs = pairs.append_column("one", pa.array(np.ones(len(pairs), dtype=np.int64)))
    grouped = pairs.group_by(["a", "b", "s", "f"]).aggregate([("one", "sum"), ("ms", "min"), ("ms", "max")])
    names = pa.array(ids, pa.string())
    relation = pc.binary_join_element_wise(sources.dictionary.take(grouped["s"]), fields_.dictionary.take(grouped["f"]), ":")
    grouped = pa.table({"src": names.take(grouped["a"]), "dst": names.take(grouped["b"]), "relation": relation,
                        "one_sum": grouped["one_sum"], "ms_min": grouped["ms_min"], "ms_max": grouped["ms_max"]})
    out = grouped.to_pandas(types_mapper=pd.ArrowDtype)
    out["events"] = out["one_sum"]
    out["first_seen"], out["last_seen"] = _from_ms(out["ms_min"]), _from_ms(out["ms_max"])
    return out[list(EDGE_COLUMNS)].sort_values(["src", "dst", "relation"], kind="stable").reset_index(drop=True)


# ---- drawing -----------------------------------------------------------------------------------


def short_label(value: str, entity_type: str = "", width: int = 24) -> str:
    """A label for a node value: the last segment of an ARN (not of a user agent), cut to ``width`` characters.

    Parameters
    ----------
    value
        The node's value.
    entity_type
        Its type (user agents keep their text).
    width
        The longest label; longer ones end in ``…``.

    Returns
    -------
    str

    Examples
    --------
    >>> short_label("arn:aws:iam::432505343723:user/svc-buildkite-deploy", "principal")
    'svc-buildkite-deploy'
    >>> short_label("wingtip-customer-exports-7cd9ef/exports/2026/customers.csv", "object", width=16)
    'wingtip-custome…'
    """
    text = value
    if entity_type != "user_agent" and text.startswith("arn:"):
        text = text.rstrip("/").rsplit("/", 1)[-1]
        text = text.rsplit(":", 1)[-1] if text.startswith("arn:") else text
    return text if len(text) <= width else text[: width - 1] + "…"


def layout(nodes: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Deterministic positions: one column per hop, nodes of a column spread evenly top to bottom in type then value order.

    Parameters
    ----------
    nodes
        ``Graph.nodes`` (columns ``id``, ``type``, ``value``, ``hop``).

    Returns
    -------
    dict of str to (float, float)
        ``{node id: (x, y)}``: ``x`` the hop, ``y`` in ``(0, 1)``.

    Examples
    --------
    >>> import pandas as pd
    >>> nodes = pd.DataFrame({"id": ["ip:1.2.3.4", "access_key:AKIA1", "bucket:b1"], "type": ["ip", "access_key", "bucket"],
    ...                       "value": ["1.2.3.4", "AKIA1", "b1"], "hop": [0, 1, 1]})
    >>> layout(nodes)
    {'ip:1.2.3.4': (0.0, 0.5), 'access_key:AKIA1': (1.0, 0.75), 'bucket:b1': (1.0, 0.25)}
    """
    pos: dict[str, tuple[float, float]] = {}
    for hop, group in nodes.groupby("hop", sort=True):
        order = sorted(zip(group["type"].map(lambda t: NODE_TYPES.index(t) if t in NODE_TYPES else len(NODE_TYPES)), group["value"], group["id"]))
        n = len(order)
        for i, (_, _, node) in enumerate(order):
            pos[node] = (float(hop), 1.0 - (i + 0.5) / n)
    return pos


def plot_graph(graph: Graph, ax: Axes | None = None, label_width: int = 24) -> Axes:
    """Draw ``graph`` with matplotlib: hops as columns, colour by entity type, shortened labels.

    Edge width grows with the events behind the edge.

    Parameters
    ----------
    graph
        A :func:`expand` result.
    ax
        Axes to draw into (default: a new pyplot figure).
    label_width
        The longest node label (see :func:`short_label`).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import slake_forensics as sf
    >>> g = sf.Lake.sample().expand({"ip": "94.130.27.54"}, "2026-05-14T20:07Z", "2026-05-14T20:08Z", hops=1,
    ...                             progress=False)
    >>> ax = sf.plot_graph(g)
    >>> type(ax.figure).__name__, ax.get_title()
    ('Figure', '5 entities, 8 links')
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    if ax is None:
        columns = int(graph.nodes["hop"].max()) + 1 if len(graph.nodes) else 1
        tallest = int(graph.nodes.groupby("hop").size().max()) if len(graph.nodes) else 1
        _, ax = plt.subplots(figsize=(3.5 * columns + 2, max(3.0, 0.32 * tallest + 1)))
    pos = layout(graph.nodes)
    for src, dst, events in zip(graph.edges["src"], graph.edges["dst"], graph.edges["events"]):
        width = min(3.0, 0.4 + 0.3 * float(events) ** 0.5)
        bend = "arc3,rad=0.4" if pos[src][0] == pos[dst][0] else "arc3,rad=0"  # same hop: curve aside
        ax.annotate("", xy=pos[dst], xytext=pos[src], zorder=1,
                    arrowprops={"arrowstyle": "-", "color": "#bbbbbb", "alpha": 0.7, "linewidth": width, "connectionstyle": bend})
    for node, ntype, value in zip(graph.nodes["id"], graph.nodes["type"], graph.nodes["value"]):
        x, y = pos[node]
        ax.scatter([x], [y], s=60, color=COLORS.get(ntype, "#17becf"), zorder=2, edgecolors="white")
        ax.annotate(short_label(value, ntype, label_width), (x, y), xytext=(6, 0), textcoords="offset points", fontsize=8, va="center")
    present = [t for t in NODE_TYPES if t in set(graph.nodes["type"])]
    ax.legend(
        handles=[Line2D([], [], marker="o", linestyle="", color=COLORS[t], label=t) for t in present],
        loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False,
    )
    hops = sorted(set(graph.nodes["hop"])) if len(graph.nodes) else [0]
    ax.set_xticks(hops, [f"hop {h}" for h in hops])
    ax.set_yticks([])
    ax.set_xlim(min(hops) - 0.3, max(hops) + 0.9)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    title = f"{len(graph.nodes)} entities, {len(graph.edges)} links" + (" (truncated)" if graph.truncated else "")
    ax.set_title(title, fontsize=10)
    return ax
