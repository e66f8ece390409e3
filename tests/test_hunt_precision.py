"""The hunt precision report and the ATT&CK coverage matrix on the bundled lake."""
from __future__ import annotations

import matplotlib
import pandas as pd
import pytest

from slake_forensics import Lake, hunts
from slake_forensics.analysis.hunts.precision import (
    attack_coverage,
    daily_hits,
    hit_times,
    plot_attack_coverage,
    precision_report,
)

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    return hunts.run_all(Lake.sample())


def test_daily_counts_add_up_to_each_hunts_hits(summary: pd.DataFrame) -> None:
    daily = daily_hits(summary)
    ran = summary.dropna(subset=["hits"]).set_index("name")["hits"]
    assert set(daily.index) == set(ran.index)
    assert (daily.sum(axis=1) == ran.reindex(daily.index)).all(), "a hit fell outside the window's days"
    start, end = summary.attrs["window"]
    assert daily.columns[0] == pd.Timestamp(start).strftime("%Y-%m-%d")
    assert daily.columns[-1] == (pd.Timestamp(end) - pd.Timedelta(milliseconds=1)).strftime("%Y-%m-%d")


def test_report_rates_tuning_and_false_positives(summary: pd.DataFrame) -> None:
    rep = precision_report(Lake.sample(), summary=summary)
    assert set(rep["name"]) == set(hunts.names())
    assert rep["hits_per_day"].dropna().is_monotonic_decreasing
    days = rep["days"].iloc[0]
    for rec in rep.dropna(subset=["hits"]).to_dict("records"):
        assert rec["hits_per_day"] == round(rec["hits"] / days, 2)
        assert rec["max_per_day"] == rep.attrs["daily"].loc[rec["name"]].max()
        assert rec["noisy"] == (rec["hits"] / days > rep.attrs["noisy_per_day"])
        hunt = hunts.get(rec["name"])
        assert rec["tuning"] == hunt.defaults()
        assert rec["false_positive"], f"{rec['name']} says nothing about what a false positive looks like"
    # hunts that did not run say why and carry no rate
    for rec in rep[rep["hits"].isna()].to_dict("records"):
        assert rec["error"] and pd.isna(rec["hits_per_day"])


def test_noisy_threshold_marks_every_hunt_that_fired(summary: pd.DataFrame) -> None:
    rep = precision_report(Lake.sample(), summary=summary, noisy_per_day=0)
    fired = rep["hits"].fillna(0) > 0
    assert fired.any(), "no hunt fired on the bundled lake: the report would prove nothing"
    assert (rep["noisy"] == fired).all()


def test_hit_times_prefer_time_dt_and_fall_back_to_first_time_column() -> None:
    df = pd.DataFrame({"first_time_dt": pd.to_datetime(["2026-03-01T00:00Z"]), "time_dt": pd.to_datetime(["2026-03-02T00:00Z"])})
    assert hit_times(df).dt.day.tolist() == [2]
    assert hit_times(df[["first_time_dt"]]).dt.day.tolist() == [1]
    assert hit_times(pd.DataFrame({"n": [1]})).empty


def test_coverage_crosses_every_hunt_technique_with_what_fired(summary: pd.DataFrame) -> None:
    cov = attack_coverage(summary)
    want = {(t, h) for h in hunts.names() for t in hunts.get(h).techniques}
    assert set(zip(cov["technique"], cov["hunt"])) == want
    hits = summary.set_index("name")["hits"]
    for rec in cov.to_dict("records"):
        assert rec["fired"] == (not pd.isna(hits[rec["hunt"]]) and hits[rec["hunt"]] > 0)
    assert cov["fired"].any() and not cov["fired"].all()
    assert not attack_coverage()["fired"].any(), "without a summary nothing has fired"


def test_coverage_picture_has_one_cell_per_technique_and_hunt(summary: pd.DataFrame) -> None:
    cov = attack_coverage(summary)
    fig = plot_attack_coverage(cov)
    image = fig.axes[0].get_images()[0].get_array()
    assert image.shape == (cov["technique"].nunique(), cov["hunt"].nunique())
    assert (image == 2).sum() == cov["fired"].sum(), "every fired (technique, hunt) pair is drawn red"
    assert "fired" in fig.axes[0].get_title()
