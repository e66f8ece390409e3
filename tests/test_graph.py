"""expand(): nodes and links equal an independent computation over every source; limits hold."""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
sys.path.insert(0, str(Path(__file__).parent))
from entity_lake import DAY0, IPS, KEYS, NOW, build_entity_lake, row_entities  # noqa: E402

from slake_forensics.core.catalog import SOURCES
from slake_forensics.analysis.graph import EDGE_COLUMNS, NODE_COLUMNS, expand, plot_graph, short_label
from slake_forensics.lake import Lake

SKIPPED = {"account"}


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    root = tmp_path_factory.mktemp("graph_lake")
    build_entity_lake(root)
    return Lake.local(root, now=NOW)


@pytest.fixture(scope="module")
def events(lake: Lake) -> list[tuple[str, int, dict]]:
    """(source, row number, {type: values}) for every event of the lake."""
    out = []
    for src in SOURCES:
        df = lake.load(src, DAY0, NOW)
        for i, per in enumerate(row_entities(df, src)):
            out.append((src, i, per))
    return out


def _ids(per: dict, principal_forms: bool) -> set[str]:
    ids = set()
    for t, vals in per.items():
        if t in SKIPPED:
            continue
        ids |= {f"{t}:{v}" for v in vals}
    return ids


def test_one_hop_from_an_access_key(lake: Lake, events: list) -> None:
    key = KEYS[2]
    g = expand(lake, {"access_key": key}, DAY0, NOW, hops=1, max_nodes=10_000, max_per_hop=10_000, progress=False)
    assert list(g.nodes.columns) == list(NODE_COLUMNS) and list(g.edges.columns) == list(EDGE_COLUMNS)
    hits = [per for _, _, per in events if key in per.get("access_key", set())]
    assert hits
    # name and principal-id forms of a principal are not nodes (the ARN stands for them)
    expected = set()
    for src, _, per in events:
        if key not in per.get("access_key", set()):
            continue
        ids = _ids(per, False)
        if src in ("cloud_trail_mgmt", "s3_data", "lambda_execution", "eks_audit"):
            names = {f"principal:{v}" for v in per["principal"]}
            arns = {f"principal:{v}" for v in per["principal"] if v.startswith("arn:")}
            ids = (ids - names) | arns
        expected |= ids
    got = set(g.nodes["id"])
    assert got == expected | {f"access_key:{key}"}
    assert not g.truncated
    assert set(g.nodes.loc[g.nodes["hop"] == 0, "id"]) == {f"access_key:{key}"}
    seed = g.nodes.set_index("id").loc[f"access_key:{key}"]
    assert seed["events"] == len(hits)
    # every link starts at the seed (the only pivoted node) and counts the shared events
    assert set(g.edges["src"]) == {f"access_key:{key}"}
    per_dst = g.edges.groupby("dst")["events"].sum()
    for dst, n in per_dst.items():
        t, v = dst.split(":", 1)
        shared = sum(1 for per in hits if v in per.get(t, set()))
        assert n >= shared > 0


def test_limits_are_respected_and_reported(lake: Lake) -> None:
    g = expand(lake, {"ip": IPS[0]}, DAY0, NOW, hops=2, max_nodes=12, max_per_hop=5, progress=False)
    assert len(g.nodes) <= 12
    assert (g.nodes.groupby("hop").size().drop(0, errors="ignore") <= 5).all()
    assert g.truncated and g.notes
    assert len(g.pivots) == 2
    # every link joins two nodes of the graph, from a pivoted node
    ids = set(g.nodes["id"])
    assert set(g.edges["src"]) <= ids and set(g.edges["dst"]) <= ids
    pivoted = set(g.nodes.loc[g.nodes["hop"] < 2, "id"])
    assert set(g.edges["src"]) <= pivoted


def test_hop_two_pivots_on_hop_one_nodes(lake: Lake) -> None:
    g = expand(lake, {"ip": IPS[3]}, DAY0, NOW, hops=2, max_nodes=60, max_per_hop=8, progress=False)
    hop1 = g.nodes[g.nodes["hop"] == 1]
    second = g.pivots[1]["entities"]
    pivotable = hop1[hop1["type"].isin(["ip", "principal", "access_key", "bucket", "instance", "domain"])]
    for t, v in zip(pivotable["type"], pivotable["value"]):
        assert v in second[t] or (t == "domain" and v.rstrip(".") in second[t])


def test_hostile_seed_gives_lonely_node(lake: Lake) -> None:
    g = expand(lake, {"ip": "1' OR '1'='1"}, DAY0, NOW, progress=False)
    assert list(g.nodes["id"]) == ["ip:1' OR '1'='1"] and g.edges.empty and not g.truncated
    assert g.nodes["events"].tolist() == [0]


def test_bad_seed(lake: Lake) -> None:
    with pytest.raises(ValueError):
        expand(lake, {}, DAY0, NOW)
    with pytest.raises(ValueError):
        expand(lake, {"user_agent": "x"}, DAY0, NOW)


def test_plot_draws_every_node(lake: Lake) -> None:
    g = lake.expand({"access_key": KEYS[0]}, DAY0, NOW, hops=1, max_per_hop=15, progress=False)
    ax = plot_graph(g)
    assert len(ax.collections) == len(g.nodes)
    labels = {t.get_text() for t in ax.texts}
    assert short_label(g.nodes["value"].iloc[0], g.nodes["type"].iloc[0]) in labels
    assert ax.get_legend() is not None


def test_short_label() -> None:
    assert short_label("arn:aws:iam::123456789012:user/alice", "principal") == "alice"
    assert short_label("aws-cli/2.15.0", "user_agent") == "aws-cli/2.15.0"
    assert len(short_label("x" * 50, "ip", width=10)) == 10
