"""expand() reads only the entity columns of the files the index names, and gives the graph the
pivot-and-fetch algorithm it replaced gave (kept here, as the reference), with and without an index."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

import slake_forensics as sf
from slake_forensics.analysis import entity_index
from slake_forensics.analysis.entities import entities
from slake_forensics.analysis.graph import EDGE_COLUMNS, NODE_COLUMNS, NODE_TYPES, PIVOT_ENTITIES, SKIPPED_FIELDS, Graph, _from_ms, _group
from slake_forensics.analysis.normalize import STRING, TIME
from slake_forensics.analysis.pivot import fetch_rows, pivot
from slake_forensics.core.timewindow import TimeLike, Window
from slake_forensics.engines.base import Engine

# ---- the reference: expansion by pivot + fetch_rows + entities() on the full events ------------


def _reference(lake: Engine, seed: Mapping[str, str | Iterable[str]], start: TimeLike, end: TimeLike, hops: int = 2,
               max_nodes: int = 200, max_per_hop: int = 50) -> Graph:
    window = Window.of(start, end)
    hop_of: dict[str, int] = {}
    for etype, values in seed.items():
        for v in [values] if isinstance(values, str) else list(values):
            hop_of.setdefault(f"{etype}:{v}", 0)
    notes: list[str] = []
    pivots: list[dict[str, Any]] = []
    found: list[pd.DataFrame] = []
    frontier = list(hop_of)
    seen_events: set[tuple[str, str]] = set()
    for hop in range(1, hops + 1):
        query = _group(frontier)
        if not query:
            break
        timeline = pivot(
            lake, ip=query.get("ip"), principal=query.get("principal"), access_key=query.get("access_key"),
            bucket=query.get("bucket"), instance=query.get("instance"), domain=query.get("domain"),
            start=window.start, end=window.end, progress=False,
        )
        pivots.append(dict(timeline.attrs))
        fresh = pd.Series([(s, u) not in seen_events for s, u in zip(timeline["source"], timeline["uid"])], index=timeline.index, dtype=bool)
        new_events = timeline[fresh]
        seen_events.update(zip(new_events["source"], new_events["uid"]))
        ents = _reference_entities(lake, new_events, set(hop_of))
        found.append(ents)
        candidates = _rank_new(ents, set(hop_of))
        take = candidates[: min(max_per_hop, max(0, max_nodes - len(hop_of)))]
        if len(take) < len(candidates):
            notes.append(f"hop {hop}: kept {len(take)} of {len(candidates)} new nodes")
        for node in take:
            hop_of[node] = hop
        frontier = [n for n in take if n.split(":", 1)[0] in PIVOT_ENTITIES]
    all_ents = pd.concat(found, ignore_index=True) if found else _no_entities()
    expanded = {n for n, h in hop_of.items() if h < len(pivots) and n.split(":", 1)[0] in PIVOT_ENTITIES}
    return Graph(_nodes(hop_of, all_ents), _reference_edges(hop_of, expanded, all_ents), truncated=bool(notes), notes=notes,
                 pivots=pivots)


def _reference_entities(lake: Engine, timeline: pd.DataFrame, known: set[str]) -> pd.DataFrame:
    if timeline.empty:
        return _no_entities()
    parts = []
    for name, full in fetch_rows(lake, timeline).items():
        if full.empty:
            continue
        ents = entities(full, name, types=NODE_TYPES)
        ents.insert(0, "id", (ents["entity_type"] + ":" + ents["value"]).astype(STRING))
        parts.append(ents[~ents["field"].isin(SKIPPED_FIELDS) | ents["id"].isin(known)])
    return pd.concat(parts, ignore_index=True) if parts else _no_entities()


def _no_entities() -> pd.DataFrame:
    cols = ("id", "entity_type", "value", "source", "event_uid", "time", "field")
    return pd.DataFrame({c: pd.Series([], dtype=TIME if c == "time" else STRING) for c in cols})


def _rank_new(ents: pd.DataFrame, known: set[str]) -> list[str]:
    if ents.empty:
        return []
    linked = ents[~ents["id"].isin(known)]
    counts = linked.groupby("id", observed=True)["event_uid"].nunique().reset_index()
    counts = counts.sort_values(["event_uid", "id"], ascending=[False, True])
    return [str(i) for i in counts["id"]]


def _nodes(hop_of: dict[str, int], ents: pd.DataFrame) -> pd.DataFrame:
    split = [n.split(":", 1) for n in hop_of]
    out = pd.DataFrame({
        "id": pd.Series(list(hop_of), dtype=STRING),
        "type": pd.Series([t for t, _ in split], dtype=STRING),
        "value": pd.Series([v for _, v in split], dtype=STRING),
        "hop": list(hop_of.values()),
    })
    mine = ents[ents["id"].isin(set(hop_of))].drop_duplicates(["id", "source", "event_uid"])
    stats = mine.assign(ms=_epoch_ms(mine["time"])).groupby("id", observed=True)["ms"].agg(["min", "max", "size"])
    stats = stats.reindex(out["id"])
    out["first_seen"] = _from_ms(stats["min"])
    out["last_seen"] = _from_ms(stats["max"])
    out["events"] = stats["size"].fillna(0).astype("int64").to_numpy()
    return out[list(NODE_COLUMNS)].sort_values(["hop", "type", "value"], kind="stable").reset_index(drop=True)


def _epoch_ms(times: pd.Series) -> pd.Series:
    """Epoch milliseconds (int64, nullable) of a UTC time column, by position."""
    return pd.Series(pa.array(times, from_pandas=True).cast(pa.int64()), dtype=pd.ArrowDtype(pa.int64()), index=times.index)


def _reference_edges(hop_of: dict[str, int], expanded: set[str], ents: pd.DataFrame) -> pd.DataFrame:
    mine = ents[ents["id"].isin(set(hop_of))].drop_duplicates(["id", "source", "event_uid"])
    pairs = mine.merge(mine, on=["source", "event_uid"], suffixes=("_a", "_b"))
    rank = {n: (h, n) for n, h in hop_of.items()}
    keep = [a in expanded and (b not in expanded or rank[a] < rank[b]) for a, b in zip(pairs["id_a"], pairs["id_b"])]
    pairs = pairs[keep]
    if pairs.empty:
        return pd.DataFrame({c: pd.Series([], dtype="int64" if c == "events" else TIME if "seen" in c else STRING) for c in EDGE_COLUMNS})
    pairs = pairs.assign(relation=(pairs["source"] + ":" + pairs["field_b"]).astype(STRING), ms=_epoch_ms(pairs["time_a"]))
    out = (
        pairs.groupby(["id_a", "id_b", "relation"], observed=True)
        .agg(events=("event_uid", "size"), first_seen=("ms", "min"), last_seen=("ms", "max"))
        .reset_index()
        .rename(columns={"id_a": "src", "id_b": "dst"})
    )
    out["first_seen"], out["last_seen"] = _from_ms(out["first_seen"]), _from_ms(out["last_seen"])
    return out[list(EDGE_COLUMNS)].sort_values(["src", "dst", "relation"], kind="stable").reset_index(drop=True)


# ---- the comparison ----------------------------------------------------------------------------

H1 = ("2026-05-14T20:00Z", "2026-05-14T21:00Z")  # the cryptominer's hour
H2 = ("2026-05-21T03:00Z", "2026-05-21T04:00Z")  # the exfiltration's hour
SEEDS = [
    ({"ip": "94.130.27.54"}, *H1),
    ({"ip": "103.75.108.118"}, *H2),
    ({"ip": "10.35.15.132"}, *H2),
    ({"principal": "arn:aws:iam::432505343723:user/svc-buildkite-deploy"}, *H2),
    ({"principal": "arn:aws:iam::432505343723:user/ravi.sato"}, *H2),
    ({"access_key": "AKIAYHYXCBKFKX3UQS3F"}, "2026-05-21T03:30Z", "2026-05-21T03:50Z"),
    ({"bucket": "wingtip-customer-exports-7cd9ef"}, *H2),
    ({"bucket": "arn:aws:s3:::wingtip-customer-exports-7cd9ef"}, *H2),  # a seed with the stored prefix
    ({"instance": "i-c1a762c56d643463c"}, *H1),
    ({"instance": "i-c4398de39a40096f3"}, *H1),
    ({"domain": "pool.supportxmr.com."}, *H1),
    ({"domain": "pool.supportxmr.com"}, *H1),
    ({"ip": ["94.130.27.54", "203.0.113.250"], "domain": "pool.supportxmr.com."}, *H1),
]


def _assert_same(got: Graph, want: Graph) -> None:
    pd.testing.assert_frame_equal(got.nodes, want.nodes)
    pd.testing.assert_frame_equal(got.edges, want.edges)
    assert (got.truncated, got.notes) == (want.truncated, want.notes)
    assert len(got.pivots) == len(want.pivots)
    for mine, theirs in zip(got.pivots, want.pivots):
        assert mine["entities"] == theirs["entities"] and mine["window"] == theirs["window"]
        assert mine["rows"] == {name: n for name, n in theirs["rows"].items()}
        assert mine["skipped"] == theirs["skipped"] and mine["index"] == theirs["index"]


@pytest.fixture
def no_index(tmp_path, monkeypatch) -> sf.Lake:
    monkeypatch.setattr(entity_index, "_OPEN", {})
    monkeypatch.setenv("SLAKE_INDEX_DIR", str(tmp_path / "none"))
    lake = sf.Lake.sample()
    assert entity_index.index_of(lake) is None
    return lake


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> str:
    folder = str(tmp_path_factory.mktemp("graph_index"))
    entity_index.build(sf.Lake.sample(), folder, progress=False)
    return folder


@pytest.fixture
def indexed(index_dir: str, monkeypatch) -> sf.Lake:
    monkeypatch.setattr(entity_index, "_OPEN", {})
    monkeypatch.setenv("SLAKE_INDEX_DIR", index_dir)
    lake = sf.Lake.sample()
    assert entity_index.index_of(lake) is not None
    return lake


@pytest.mark.parametrize("hops", [1, 2])
@pytest.mark.parametrize(("seed", "start", "end"), SEEDS, ids=[str(s) for s, _, _ in SEEDS])
def test_same_graph_without_index(no_index: sf.Lake, seed: dict, start: str, end: str, hops: int) -> None:
    got = no_index.expand(seed, start, end, hops=hops, max_per_hop=12, progress=False)
    _assert_same(got, _reference(no_index, seed, start, end, hops=hops, max_per_hop=12))
    assert all(not p["index"] for p in got.pivots)


@pytest.mark.parametrize("hops", [1, 2])
@pytest.mark.parametrize(("seed", "start", "end"), SEEDS, ids=[str(s) for s, _, _ in SEEDS])
def test_same_graph_with_index(indexed: sf.Lake, seed: dict, start: str, end: str, hops: int) -> None:
    got = indexed.expand(seed, start, end, hops=hops, max_per_hop=12, progress=False)
    _assert_same(got, _reference(indexed, seed, start, end, hops=hops, max_per_hop=12))
    assert got.pivots and all(p["index"] for p in got.pivots)


def test_same_graph_with_the_default_caps(indexed: sf.Lake) -> None:
    """Hop 2 from the exfiltration IP with the default caps (50 per hop, 200 nodes), over the day."""
    args = ({"ip": "103.75.108.118"}, "2026-05-21T00:00Z", "2026-05-22T00:00Z")
    got = indexed.expand(*args, hops=2, progress=False)
    _assert_same(got, _reference(indexed, *args, hops=2))
    assert len(got.nodes) > 20 and len(got.edges) > 20


@pytest.mark.parametrize(("seed", "start", "end"), [SEEDS[1], SEEDS[5], SEEDS[8]], ids=["ip", "access_key", "instance"])
def test_same_graph_through_sql(no_index: sf.Lake, monkeypatch, seed: dict, start: str, end: str) -> None:
    """A lake without files (Athena) runs the pivot's query per source with the entity columns only: the
    same graph (here on the local lake, its file path switched off)."""
    from slake_forensics.analysis import graph

    class NoFiles:
        pass

    monkeypatch.setattr(graph, "LocalEngine", NoFiles)
    got = no_index.expand(seed, start, end, hops=2, max_per_hop=12, progress=False)
    _assert_same(got, _reference(no_index, seed, start, end, hops=2, max_per_hop=12))
