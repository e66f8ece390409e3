"""Sigma rules registered as hunts: listed, run by name, run with every hunt, and on the coverage picture."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import slake_forensics as sf
from slake_forensics import hunts, sigma
from slake_forensics.analysis.hunts.precision import attack_coverage

FIXTURES = Path(__file__).parent / "fixtures" / "sigma"
START, END = "2026-05-11T00:00Z", "2026-05-25T00:00Z"


@pytest.fixture
def registered() -> Iterator[pd.DataFrame]:
    failures = hunts.add_sigma(FIXTURES)
    yield failures
    hunts.clear_sigma()


def test_folder_registers_what_compiles_and_reports_the_rest(registered: pd.DataFrame) -> None:
    compiled, failed = sigma.compile_dir(FIXTURES)
    assert set(hunts.sigma_rules()["name"]) == {r.name for r in compiled}
    assert sorted(registered["path"]) == sorted(failed["path"])
    assert sorted(Path(p).name for p in registered["path"]) == ["bad_cidr6.yml", "bad_expand.yml", "bad_field.yml"]
    listed = hunts.list()
    rules = listed[listed["name"].str.startswith("sigma:")]
    assert len(rules) == len(compiled) and (rules["stage"] == "detection_analysis").all()
    by_name = {r.name: r for r in compiled}
    for rec in rules.to_dict("records"):
        assert rec["techniques"] == list(by_name[rec["name"]].techniques)
    meta = hunts.sigma_rules().set_index("name")
    for n, r in by_name.items():
        status, level = (None if pd.isna(v) else v for v in meta.loc[n, ["status", "level"]])
        assert (status, level) == (r.status, r.level)
    assert len(hunts.list("detection_analysis")) == len(hunts.list()) - len(hunts.list("post_incident")) - len(
        hunts.list("preparation")) - len(hunts.list("containment_eradication_recovery"))


def test_rule_runs_by_name_like_lake_sigma(registered: pd.DataFrame) -> None:
    lake = sf.Lake.sample()
    rule = sigma.compile(FIXTURES / "eq_event_name.yml")
    by_hunt = lake.hunt(rule.name, START, END)
    direct = lake.sigma(FIXTURES / "eq_event_name.yml", START, END)
    assert len(direct) > 0, "the fixture rule matches nothing in the bundled lake: the comparison would prove nothing"
    pd.testing.assert_frame_equal(by_hunt.reset_index(drop=True), direct.reset_index(drop=True))
    assert by_hunt.attrs["hunt"] == rule.name and by_hunt.attrs["stage"] == "detection_analysis"
    with pytest.raises(hunts.HuntParameterError, match="takes no parameters"):
        lake.hunt(rule.name, START, END, threshold=3)


def test_run_all_runs_registered_rules_beside_the_hunts(registered: pd.DataFrame) -> None:
    lake = sf.Lake.sample()
    summary = lake.run_hunts("detection_analysis", START, END)
    rules = summary[summary["name"].str.startswith("sigma:")]
    assert len(rules) == len(hunts.sigma_rules())
    assert rules["error"].isna().all(), rules[["name", "error"]]
    for name, n in zip(rules["name"], rules["hits"]):
        assert len(summary.attrs["hits"][name]) == n
    cov = attack_coverage(summary)
    sig = cov[cov["kind"] == "sigma"]
    assert set(sig["hunt"]) == {n for n, t in zip(rules["name"], hunts.list().set_index("name").loc[rules["name"],
                                                                                                 "techniques"]) if t}
    assert (sig["fired"] == sig["hunt"].map(dict(zip(rules["name"], rules["hits"] > 0)))).all()


def test_clear_forgets_the_rules() -> None:
    hunts.add_sigma(FIXTURES / "eq_event_name.yml")
    assert len(hunts.sigma_rules()) == 1
    hunts.clear_sigma()
    assert hunts.sigma_rules().empty and not hunts.list()["name"].str.startswith("sigma:").any()
