"""The sample generator maps raw records as Security Lake does (``real_lake_facts.md`` §3), row by row.

Every check runs on the bundled lake and on a small lake of another seed generated here, so a rule holds for
the generator, not for one seed's draws.  Each check also asserts that the rows it is about exist, so none
passes on an empty selection.
"""
from __future__ import annotations

import re
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from slake_forensics.core.catalog import SOURCES
from slake_forensics.sample import bundled
from slake_forensics.sample.generate import generate

PRIVATE = re.compile(r"^(10\.|172\.(1[6-9]|2[0-9]|3[01])\.|192\.168\.)")
ASSUME = ("AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity")
ISSUER_KEYS = {f"userIdentity.sessionContext.sessionIssuer.{k}" for k in ("accountId", "principalId", "type", "userName")}


@pytest.fixture(scope="module", params=["bundled", "seed-11"])
def lake(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if request.param == "bundled":
        return bundled.ensure_sample_lake(progress=False)
    root = tmp_path_factory.mktemp("mapping")
    generate(root, 11, 5, scale=0.1, accounts=4, regions=2, progress=False)
    return root


def _rows(root: Path, source: str, columns: list[str] | None = None, where: pc.Expression | None = None) -> list[dict]:
    dataset = ds.dataset(root / SOURCES[source].prefix, format="parquet", partitioning="hive")
    return dataset.to_table(columns=columns, filter=where).to_pylist()


def _unmapped(row: dict) -> dict[str, str]:
    return dict(row["unmapped"] or [])


def test_role_assumption_is_authentication_logon(lake: Path) -> None:
    rows = _rows(lake, "cloud_trail_mgmt", where=pc.field("api", "operation").isin(ASSUME))
    assert {r["api"]["operation"] for r in rows} >= {"AssumeRole", "AssumeRoleWithSAML"}
    for r in rows:
        assert (r["class_uid"], r["activity_id"], r["type_uid"], r["status"]) == (3002, 1, 300201, "Other")
        request = r["api"]["request"]["data"]
        assert r["user"]["uid"] and f'"roleArn":"{r["user"]["uid"]}"' in request
        assert r["user"]["name"] and f'"roleSessionName":"{r["user"]["name"]}"' in request


def test_check_mfa_is_authentication_other(lake: Path) -> None:
    rows = _rows(lake, "cloud_trail_mgmt", ["class_uid", "activity_id", "type_uid"],
                 pc.field("api", "operation") == "CheckMfa")
    assert rows, "the org's people check their MFA at sign-in"
    assert {(r["class_uid"], r["activity_id"], r["type_uid"]) for r in rows} == {(3002, 99, 300299)}


def test_console_login_request_uid_and_failed_sign_in(lake: Path) -> None:
    rows = _rows(lake, "cloud_trail_mgmt", where=pc.field("api", "operation") == "ConsoleLogin")
    assert {r["api"]["request"]["uid"] for r in rows} == {"''"}  # Security Lake writes two quotes: the empty string
    failed = [r for r in rows if r["status"] == "Failure"]
    assert failed and len(failed) < len(rows)
    for r in failed:
        assert r["actor"]["user"]["uid"] is None and r["actor"]["user"]["credential_uid"] == ""
    assert all(r["actor"]["user"]["uid"].startswith("arn:aws:") for r in rows if r["status"] == "Success")
    assert {r["status"] for r in rows} == {"Success", "Failure"}


def test_unmapped_keeps_what_the_mapping_does_not_consume(lake: Path) -> None:
    rows = _rows(lake, "cloud_trail_mgmt", ["class_uid", "unmapped", "actor", "api"])
    keys = [_unmapped(r) for r in rows]
    assert not any("eventCategory" in k for k in keys)
    auth = [k for r, k in zip(rows, keys) if r["class_uid"] == 3002]
    assert any("additionalEventData.MobileVersion" in k for k in auth)
    assert not any({"additionalEventData.LoginTo", "additionalEventData.MFAUsed"} & set(k) for k in auth)
    sessions = [(r, k) for r, k in zip(rows, keys) if r["actor"]["session"]["issuer"]]
    assert sessions
    for r, k in sessions:
        issuer = r["actor"]["session"]["issuer"]
        assert ISSUER_KEYS <= set(k)
        assert k["userIdentity.sessionContext.sessionIssuer.type"] == "Role"
        assert issuer.endswith("/" + k["userIdentity.sessionContext.sessionIssuer.userName"])
        assert issuer.split(":")[4] == k["userIdentity.sessionContext.sessionIssuer.accountId"]
        assert r["actor"]["user"]["uid_alt"].startswith(k["userIdentity.sessionContext.sessionIssuer.principalId"] + ":")
    assert not any(ISSUER_KEYS & set(k) for r, k in zip(rows, keys) if not r["actor"]["session"]["issuer"])
    service = [k for r, k in zip(rows, keys) if r["actor"]["user"]["type"] == "AWSService"]
    assert service and all(re.fullmatch(r"[0-9a-f-]{36}", k["sharedEventID"]) for k in service)
    s3 = _rows(lake, "s3_data", ["unmapped", "api"], pc.field("api", "operation") == "GetObject")
    assert s3 and all(_unmapped(r)["additionalEventData.bytesTransferredOut"].isdigit() for r in s3)


def test_s3_sees_private_callers_only_through_a_vpc_endpoint(lake: Path) -> None:
    for source in ("s3_data", "cloud_trail_mgmt"):
        rows = _rows(lake, source, ["src_endpoint"], pc.field("api", "service", "name") == "s3.amazonaws.com")
        private = [r["src_endpoint"] for r in rows if PRIVATE.match(r["src_endpoint"]["ip"] or "")]
        if source == "s3_data":
            assert private, "workloads in the VPCs read their buckets"
        assert all(e["uid"] and e["uid"].startswith("vpce-") for e in private)


def test_evidences_and_resources_follow_ocsf_1_1_0(lake: Path) -> None:
    evidence = SOURCES["sh_findings"].schema.field("evidences").type.value_type
    assert {"src_endpoint", "dst_endpoint", "api", "connection_info", "query", "actor"} <= set(evidence.names)
    assert evidence.field("actor").type.names == ["process"]
    rows = _rows(lake, "sh_findings", ["class_uid", "resource", "resources", "evidences", "observables"])
    assert {r["class_uid"] for r in rows} == {2002, 2003, 2004}
    evid = [e for r in rows for e in r["evidences"] or []]
    assert any(e["src_endpoint"] and e["src_endpoint"]["ip"] for e in evid)
    assert any(e["api"] and e["api"]["operation"] for e in evid)
    for r in rows:
        names = {o["name"] for o in r["observables"] or []}
        if r["class_uid"] == 2004:
            assert r["resource"] is None and r["resources"]
        else:
            assert r["evidences"] is None and r["resources"] is None
            assert r["resource"]["uid"] and "resource.uid" in names and "resources[].uid" not in names
        assert not any(n.startswith("evidences[].actor.") for n in names)


def test_vpc_flow_mapping(lake: Path) -> None:
    t = ds.dataset(lake / SOURCES["vpc_flow"].prefix, format="parquet", partitioning="hive").to_table(
        columns=["src_endpoint", "dst_endpoint", "connection_info", "activity_id", "status_code", "action", "metadata", "unmapped"])
    rows = t.to_pylist()
    assert all(set(r["metadata"]["profiles"]) >= {"cloud", "security_control", "datetime"} for r in rows)
    assert all(_unmapped(r) == {"sublocation_id": "-", "sublocation_type": "-"} for r in rows)
    svc = {(e["ip"], e["svc_name"]) for r in rows for e in (r["src_endpoint"], r["dst_endpoint"])}
    assert {s for _, s in svc} >= {"-", "S3", "AMAZON"}
    assert all(s != "-" or ip is not None for ip, s in svc)
    aws = {ip for ip, s in svc if s != "-"}
    assert not any(ip.startswith("10.") for ip in aws)
    idle = [r for r in rows if r["status_code"] in ("NODATA", "SKIPDATA")]
    assert idle and {r["status_code"] for r in idle} <= {"NODATA", "SKIPDATA"}
    for r in idle:
        assert r["activity_id"] == 0 and r["src_endpoint"]["ip"] == r["dst_endpoint"]["ip"] == "-" and r["action"] is None
        assert r["connection_info"]["direction_id"] == 0 and r["src_endpoint"]["interface_uid"].startswith("eni-")
    assert all(r["activity_id"] in (5, 6) for r in rows if r["status_code"] == "OK")
    for r in rows:
        b = r["connection_info"]
        assert (b["boundary_id"] == 99) == (b["boundary"] == "-")
    assert any(r["connection_info"]["boundary_id"] == 99 and r["status_code"] == "OK" for r in rows)
    via = [r for r in rows if r["src_endpoint"]["intermediate_ips"] or r["dst_endpoint"]["intermediate_ips"]]
    assert via
    for r in via:
        side = "src_endpoint" if r["src_endpoint"]["intermediate_ips"] else "dst_endpoint"
        hop = r[side]["intermediate_ips"]
        assert len(hop) == 1 and hop[0] != r[side]["ip"] and PRIVATE.match(hop[0]) and not PRIVATE.match(r[side]["ip"])


def test_route53_direction_and_dns_firewall(lake: Path) -> None:
    rows = _rows(lake, "route53", ["connection_info", "firewall_rule", "action", "action_id", "disposition", "metadata", "query"])
    assert {(r["connection_info"]["direction"], r["connection_info"]["direction_id"]) for r in rows} == {("Unknown", 0)}
    assert all("security_control" in r["metadata"]["profiles"] for r in rows)
    matched = [r for r in rows if r["firewall_rule"] and r["firewall_rule"]["uid"]]
    assert matched and len(matched) < len(rows)
    assert all(r["firewall_rule"]["uid"].startswith("rslvr-frg-") and r["action"] and r["action_id"] in (1, 2) and r["disposition"]
               for r in matched)
    assert all(r["action"] is None and r["disposition"] is None for r in rows if not (r["firewall_rule"] and r["firewall_rule"]["uid"]))

