"""timeline(): merging loads and timelines; plot_timeline(): lanes, findings, bookmarks, density at 1M rows; explore()."""
from __future__ import annotations

import io
import time
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from fixture_lake import DAY0

from slake_forensics.lake import Lake
from slake_forensics.analysis.normalize import TIMELINE_COLUMNS, normalize
from slake_forensics.analysis.timeline import OTHER_LANE, explore, is_finding, plot_timeline, timeline

matplotlib.use("Agg")

SOURCES = np.array(["cloud_trail_mgmt", "vpc_flow", "route53", "s3_data", "sh_findings", "waf"])


def _synthetic(n: int, seed: int = 0) -> pd.DataFrame:
    """A timeline-shaped frame of ``n`` events over six days (Arrow dtypes, like normalize's)."""
    rng = np.random.default_rng(seed)
    p = np.array([0.25, 0.4, 0.15, 0.15, 0.0005, 0.0495])
    ms = DAY0.value // 1_000_000 + np.sort(rng.integers(0, 6 * 86_400_000, n))
    t = pa.array(ms, pa.int64()).view(pa.timestamp("ms", tz="UTC"))
    string = pd.ArrowDtype(pa.string())
    source = rng.choice(SOURCES, n, p=p)
    cols = {c: pd.array(np.full(n, None), dtype=string) for c in TIMELINE_COLUMNS if c != "time"}
    cols.update({
        "source": pd.array(source, dtype=string),
        "class_name": pd.array(np.where(source == "sh_findings", "Detection Finding", "API Activity"), dtype=string),
        "actor": pd.array(rng.choice([f"user{i}" for i in range(30)], n), dtype=string),
        "src_ip": pd.array(rng.choice(["10.0.0.1", "10.0.0.2", "198.51.100.7"], n), dtype=string),
        "summary": pd.array([f"event {i}" for i in range(n)] if n <= 100_000 else np.full(n, "event"), dtype=string),
    })
    return pd.DataFrame({"time": pd.array(t, dtype=pd.ArrowDtype(t.type)), **cols})[list(TIMELINE_COLUMNS)]


def test_timeline_merges_loads_and_timelines(lake: Lake) -> None:
    ct = lake.load("cloud_trail_mgmt", DAY0, DAY0 + pd.Timedelta(hours=12))
    vpc = lake.load("vpc_flow", DAY0, DAY0 + pd.Timedelta(hours=12))
    dns = normalize(lake.load("route53", DAY0, DAY0 + pd.Timedelta(hours=12)))
    tl = timeline(ct, dns, vpc, normalize(ct).iloc[:40])  # the last one repeats CloudTrail events
    assert list(tl.columns) == list(TIMELINE_COLUMNS)
    assert len(tl) == len(ct) + len(vpc) + len(dns)
    assert tl.index.equals(pd.RangeIndex(len(tl)))
    assert tl["time"].is_monotonic_increasing
    expected = pd.concat([normalize(ct), dns, normalize(vpc)], ignore_index=True)
    assert set(zip(tl["source"], tl["uid"], tl["time"])) == set(zip(expected["source"], expected["uid"], expected["time"]))
    assert tl.attrs["sources"] == ["cloud_trail_mgmt", "route53", "vpc_flow"]
    assert timeline().empty and list(timeline().columns) == list(TIMELINE_COLUMNS)
    with pytest.raises(ValueError, match="attrs"):
        timeline(pd.DataFrame({"time_dt": [DAY0]}))


def test_timeline_keeps_every_update_of_a_finding() -> None:
    """Security Hub re-reports a finding under the same uid: each update is its own event."""
    updates = _synthetic(3).assign(source="sh_findings", uid="arn:aws:guardduty:…/finding/abc")
    assert updates["time"].is_unique
    tl = timeline(updates, updates.iloc[[1]])  # the second frame repeats one update
    assert len(tl) == 3 and tl["uid"].nunique() == 1


def test_plot_points_findings_and_bookmarks() -> None:
    tl = _synthetic(3_000, seed=2)
    tl.loc[5, "source"] = "sh_findings"
    tl.loc[5, "class_name"] = "Detection Finding"
    marks = pd.DataFrame({"time": [DAY0 + pd.Timedelta(days=1), DAY0 + pd.Timedelta(days=2)], "note": ["login", None]})
    fig = plot_timeline(tl, by="source", bookmarks=marks)
    ax = fig.axes[0]
    points, found = ax.collections
    assert len(points.get_offsets()) == len(tl)
    assert len(found.get_offsets()) == int(is_finding(tl).sum()) == int((tl["source"] == "sh_findings").sum())
    labels = [t.get_text() for t in ax.get_yticklabels()]
    counts = tl["source"].value_counts()
    assert labels == [f"{s} ({c:,})" for s, c in zip(counts.index, counts)]
    finding_lane = labels.index(next(lab for lab in labels if lab.startswith("sh_findings")))
    assert np.allclose(found.get_offsets()[:, 1], finding_lane)
    vlines = [line for line in ax.get_lines() if len(set(line.get_xdata())) == 1]
    assert len(vlines) == 2
    assert [t.get_text() for t in ax.texts] == ["login"]
    plt.close(fig)


def test_plot_lanes_cap_into_other() -> None:
    tl = _synthetic(2_000, seed=3)
    fig, ax = plt.subplots()
    assert plot_timeline(tl, by="actor", max_lanes=5, ax=ax, findings=False) is fig
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 5 and labels[-1].startswith(OTHER_LANE)
    top4 = tl["actor"].value_counts().head(4)
    assert labels[-1] == f"{OTHER_LANE} ({len(tl) - top4.sum():,})"
    plt.close(fig)


def test_plot_one_million_events_as_density() -> None:
    tl = _synthetic(1_000_000)
    started = time.perf_counter()
    fig = plot_timeline(tl, by="source", bookmarks=[DAY0 + pd.Timedelta(days=3)])
    fig.savefig(io.BytesIO(), format="png")  # renders with Agg
    elapsed = time.perf_counter() - started
    print(f"\nplot_timeline: 1,000,000 events built and drawn in {elapsed:.2f} s")
    ax = fig.axes[0]
    assert "binned" in ax.get_title()
    grid = np.ma.filled(ax.images[0].get_array(), np.nan)
    per_lane = np.nansum(grid, axis=1)
    counts = tl["source"].value_counts()
    assert per_lane.tolist() == counts.tolist()  # every event is in exactly one bin of its lane
    assert len(ax.collections[0].get_offsets()) == int((tl["source"] == "sh_findings").sum())
    plt.close(fig)


def test_explorer_filters_select_rows_and_bookmark() -> None:
    tl = _synthetic(5_000, seed=4)
    received: list[pd.DataFrame] = []
    ex = explore(tl, bookmark=received.append)
    assert len(ex.selected) == len(tl)

    ex.sources.value = ("vpc_flow", "route53")
    assert ex.selected.equals(tl[tl["source"].isin(["vpc_flow", "route53"])])

    ex.field.value = "actor"
    ex.entity.value = "USER1"
    expected = tl[tl["source"].isin(["vpc_flow", "route53"]) & tl["actor"].str.contains("user1")]
    assert ex.selected.equals(expected)

    lo, hi = ex.range.options[20][1], ex.range.options[120][1]
    ex.range.value = (lo, hi)
    expected = expected[(expected["time"] >= lo) & (expected["time"] <= hi)]
    assert ex.selected.equals(expected) and 0 < len(expected) < 5_000
    assert ex.status.value.startswith(f"{len(expected):,} of 5,000")
    assert len(ex.rows.options) == min(len(expected), ex.page_size)

    ex.entity.value = "198.51.100"
    ex.field.value = "any"
    assert set(ex.selected["src_ip"]) == {"198.51.100.7"}

    ex.rows.value = (0, 2)
    ex.bookmark_button.click()
    assert len(received) == 1 and received[0].equals(ex.selected.iloc[[0, 2]])

    ex.sources.value = ()
    ex.entity.value = ""
    ex.range.index = (0, len(ex.range.options) - 1)
    assert len(ex.selected) == len(tl)
    assert explore(tl).bookmark_button.disabled


def test_empty_timeline_plots_and_explores() -> None:
    empty = timeline()
    fig = plot_timeline(empty)
    fig.savefig(io.BytesIO(), format="png")
    assert fig.axes[0].get_title() == "0 events by source"
    plt.close(fig)
    assert explore(empty).status.value == "0 of 0 events"


def test_explorer_bookmarks_with_tags_and_note_into_a_case(tmp_path: Path) -> None:
    from slake_forensics import Case

    ct = Lake.sample().load("cloud_trail_mgmt", "2026-05-21T03:30Z", "2026-05-21T03:34Z")
    tl = timeline(ct)
    case = Case.open(tmp_path / "case", analyst="alice")
    ex = explore(tl, bookmark=case.bookmark)
    assert all(w.style.description_width == "initial" for w in (ex.range, ex.sources, ex.field, ex.entity, ex.rows,
                                                                  ex.tags, ex.note))
    ex.rows.value = (1, 0)
    ex.tags.value, ex.note.value = " recon, attacker ,", "  first calls from the attacker's IP  "
    ex._bookmark()
    marks = case.bookmarks
    assert sorted(marks["uid"]) == sorted(ex.selected["uid"].iloc[[0, 1]])
    assert [list(t) for t in marks["tags"]] == [["recon", "attacker"]] * 2
    assert marks["note"].tolist() == ["first calls from the attacker's IP"] * 2
    assert ex.status.value == "Bookmarked 2 row(s) tagged recon, attacker."

    received: list[pd.DataFrame] = []  # empty tags and note: a one-argument callable still works
    plain = explore(tl, bookmark=received.append)
    plain.rows.value = (0,)
    plain.bookmark_button.click()
    assert len(received) == 1 and plain.status.value == "Bookmarked 1 row(s)."
