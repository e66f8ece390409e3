"""Rebuild each incident story from its GuardDuty finding with ``slake_forensics.workflows.incident``,
then check what it found against the lake's answer key.

The investigation starts from ``findings()`` (the triage list) and the finding chosen by its
type; nothing in it is hard-coded or read from the answer key, which only the assertions read.
It runs on the bundled lake and on a lake generated with another seed.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from slake_forensics import Lake
from slake_forensics.workflows import incident as inv
from slake_forensics.case import Case
from slake_forensics.workflows.metrics import incident_metrics
from slake_forensics.sample.bundled import ensure_sample_lake
from slake_forensics.sample.generate import generate

STORY_FINDING = {"s3_data_access": "Exfiltration:S3", "ec2_cryptomining": "CryptoCurrency:EC2"}
TIMES = ("first_malicious", "last_malicious", "detection", "containment")


@pytest.fixture(scope="module", params=["generated", "bundled"])
def lake_root(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if request.param == "bundled":
        return Path(ensure_sample_lake(progress=False))
    root = tmp_path_factory.mktemp("story_lake")
    generate(root, seed=23, days=14, progress=False)
    return root


@pytest.fixture(scope="module")
def triage(lake_root: Path) -> pd.DataFrame:
    gen = json.loads((lake_root / "generation.json").read_text())
    return inv.findings(Lake.local(str(lake_root)), gen["start"], gen["end"])


@pytest.fixture(scope="module")
def incidents(lake_root: Path, triage: pd.DataFrame) -> dict[str, inv.Incident]:
    lake = Lake.local(str(lake_root))
    return {story: inv.investigate(lake, triage[triage["type"].str.contains(pattern, regex=False)].iloc[0])
            for story, pattern in STORY_FINDING.items()}


def answer(root: Path, story: str) -> dict:
    return json.loads((root / "answers" / f"{story}.json").read_text())


def test_triage_lists_each_finding_once_threats_and_severe_first(triage: pd.DataFrame) -> None:
    assert triage["finding_uid"].is_unique
    assert (triage["updates"] >= 1).all()
    threat = triage["threat"].tolist()
    assert threat == sorted(threat, reverse=True), "threat-detector findings come first"
    top = triage[triage["threat"]]
    assert top["severity_id"].is_monotonic_decreasing
    for story, pattern in STORY_FINDING.items():
        assert top["type"].str.contains(pattern, regex=False).any(), story


def test_times_match_the_answer_key(incidents: dict[str, inv.Incident], lake_root: Path) -> None:
    for story, incident in incidents.items():
        key, got = answer(lake_root, story), incident.times()
        assert {k: got[k] for k in TIMES} == {k: pd.Timestamp(key[k]) for k in TIMES}, story


def test_s3_story_scope_data_and_recovery(incidents: dict[str, inv.Incident], lake_root: Path) -> None:
    incident, key = incidents["s3_data_access"], answer(lake_root, "s3_data_access")
    assert incident.kind == "access_key"
    assert set(incident.entities("attacker_ip")) == set(key["ips"])
    assert set(incident.entities("compromised_key")) | set(incident.entities("created_key")) == set(key["access_keys"])
    persistence = {("IAMUser", v) for v in incident.entities("created_user")} | \
        {("AccessKey", v) for v in incident.entities("created_key")}
    assert persistence == {(p["type"], p["value"]) for p in key["persistence"]}
    assert set(incident.entities("public_access_block_removed")) <= set(key["buckets"])
    data = incident.data_access.set_index("bucket")
    assert list(data.index) == key["buckets"]
    assert data["objects_read"].sum() == key["metrics"]["objects_read"]
    assert data["bytes_out"].sum() == key["metrics"]["bytes_exfiltrated"]
    recovery = inv.recovery_check(Lake.local(str(lake_root)), incident)
    assert (recovery["outcome"] == "blocked").sum() == key["metrics"]["failed_retries_after_containment"]
    assert (recovery["outcome"] == "allowed").sum() == 0, "nothing the attacker tried after containment worked"


def test_ec2_story_scope(incidents: dict[str, inv.Incident], lake_root: Path) -> None:
    incident, key = incidents["ec2_cryptomining"], answer(lake_root, "ec2_cryptomining")
    assert incident.kind == "instance"
    assert incident.entities("instance") == key["instances"]
    assert set(incident.entities("attacker_ip")) == set(key["ips"])
    domains = set(incident.entities("domain"))
    assert set(key["domains"]) <= domains
    mal = incident.events[incident.events["role"] == "malicious"]
    calls = mal[mal["source"] == "cloud_trail_mgmt"]
    assert len(calls) == key["metrics"]["outside_api_calls"]
    assert (calls["status"] != "Success").sum() == key["metrics"]["outside_api_calls_denied"]
    pool_dns = mal[(mal["source"] == "route53") & mal["target"].isin(key["domains"])]
    assert len(pool_dns) >= key["metrics"]["pool_dns_queries"]
    kinds = set(incident.scope["kind"])
    assert {"instance", "role_session", "attacker_ip", "domain"} <= kinds


def test_bookmarks_give_the_answer_key_metrics(incidents: dict[str, inv.Incident], lake_root: Path, tmp_path: Path) -> None:
    for story, incident in incidents.items():
        case = Case.open(tmp_path / story, analyst="tester")
        written = incident.bookmark(case)
        assert written == len(case.bookmarks) > 0
        m, key = incident_metrics(case), answer(lake_root, story)
        for name in TIMES:
            assert m[name] == pd.Timestamp(key[name]), (story, name)
        assert m["detection_basis"] == "tag"
        assert set(case.iocs["value"]) >= {ip for ip in key["ips"]}


def test_summary_answers_the_five_questions(incidents: dict[str, inv.Incident]) -> None:
    for incident in incidents.values():
        table = incident.summary().set_index("question")["answer"]
        for q in ("who (compromised)", "what", "when", "detected", "contained", "from where"):
            assert table[q] not in ("", "—"), q


def test_unknown_finding_and_resourceless_finding_say_what_to_do(lake_root: Path, triage: pd.DataFrame) -> None:
    lake = Lake.local(str(lake_root))
    with pytest.raises(inv.InvestigationError, match="not among"):
        inv.investigate(lake, "arn:aws:guardduty:nope", triage=triage)
    bare = triage[(triage["access_keys"].map(len) == 0) & (triage["instances"].map(len) == 0)].iloc[0]
    with pytest.raises(inv.InvestigationError, match="names no access key or instance"):
        inv.investigate(lake, bare)
