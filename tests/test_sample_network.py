"""Network, findings and EKS generators of the sample lake: exact schemas, vocabularies, determinism, the cryptomining story."""
from __future__ import annotations

import importlib
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from slake_forensics.core.catalog import SOURCES
from slake_forensics.sample.findings import findings_table
from slake_forensics.sample.org import build_org
from slake_forensics.sample.stories import ec2_cryptomining

MINE = ("vpc_flow", "route53", "waf", "eks_audit", "sh_findings")
DAYS, SCALE = 7, 0.3


def _background(seed: int) -> dict[str, pa.Table]:
    org = build_org(seed, DAYS)
    return {name: importlib.import_module(f"slake_forensics.sample.sources.{name}").background(org, np.random.default_rng([seed, i]), SCALE)
            for i, name in enumerate(MINE)}


def _story(seed: int):
    return ec2_cryptomining.inject(build_org(seed, DAYS), np.random.default_rng([seed, 1001]))


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return _background(5)


@pytest.fixture(scope="module")
def story():
    return _story(5)


def _flat(table: pa.Table) -> pd.DataFrame:
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    return table.to_pandas()


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def test_exact_schemas(tables, story):
    for name, table in tables.items():
        assert table.schema.equals(SOURCES[name].schema), name
        assert table.num_rows > 100, name
    for name, table in story.tables.items():
        assert table.schema.equals(SOURCES[name].schema), name


def test_vpc_flow_vocabulary(tables):
    df = _flat(tables["vpc_flow"])
    df = df[df["status_code"] == "OK"]  # NODATA/SKIPDATA records carry no traffic: test_sample_mapping checks them
    reject = df["action"] == "Denied"
    assert reject.any() and (~reject).any()
    r, a = df[reject], df[~reject]
    assert (r["activity_id"] == 5).all() and (r["activity_name"] == "Refuse").all() and (r["action_id"] == 2).all()
    assert (r["disposition"] == "Blocked").all() and (r["type_uid"] == 400105).all()
    assert (a["activity_id"] == 6).all() and (a["action"] == "Allowed").all() and (a["action_id"] == 1).all()
    assert (a["disposition"] == "Allowed").all() and (a["type_uid"] == 400106).all()
    inbound = df["connection_info.direction_id"] == 1
    assert set(df.loc[inbound, "connection_info.direction"]) == {"Inbound"}
    assert set(df.loc[~inbound, "connection_info.direction"]) == {"Outbound"}
    # ENI ids on the destination for ingress, on the source for egress
    assert df.loc[inbound, "dst_endpoint.interface_uid"].notna().all() and df.loc[inbound, "src_endpoint.interface_uid"].isna().all()
    assert df.loc[~inbound, "src_endpoint.instance_uid"].notna().all() and df.loc[~inbound, "dst_endpoint.instance_uid"].isna().all()
    assert set(df["connection_info.protocol_num"]) <= {6, 17}
    assert (pd.to_datetime(df["time"], unit="ms", utc=True) == df["time_dt"]).all()
    assert (df["start_time_dt"] == df["time_dt"]).all()
    assert ((df["end_time_dt"] - df["start_time_dt"]) <= pd.Timedelta(seconds=60)).all()
    assert set(df["status_code"]) == {"OK"} and set(df["metadata.product.version"]) == {"5"}
    assert {22, 443, 53, 123, 5432}.issubset(set(df["dst_endpoint.port"]))


def test_route53_vocabulary(tables):
    df = _flat(tables["route53"])
    assert (df["type_uid"] == 400306).all() and (df["activity_name"] == "Traffic").all()
    assert df["query.hostname"].str.endswith(".").all()
    assert set(df["query.class"]) == {"IN"} and set(df["connection_info.protocol_name"]) == {"UDP"}
    assert set(zip(df["rcode_id"], df["rcode"])) <= {(0, "NoError"), (2, "ServError"), (3, "NXDomain")}
    assert (df["rcode_id"] == 3).any()
    assert df["dst_endpoint.instance_uid"].str.startswith("rslvr-in-").all() and df["dst_endpoint.interface_uid"].str.startswith("rni-").all()
    answers = tables["route53"]["answers"]
    nx = pc.equal(tables["route53"]["rcode_id"], 3)
    assert pc.max(pc.list_value_length(answers.filter(nx))).as_py() in (None, 0)
    assert pc.max(pc.list_value_length(answers)).as_py() >= 2


def test_waf_vocabulary(tables):
    df = _flat(tables["waf"])
    blocked = df["action"] == "Denied"
    assert blocked.any() and (~blocked).any()
    assert (df.loc[blocked, "disposition"] == "Blocked").all() and (df.loc[blocked, "disposition_id"] == 2).all()
    assert (df.loc[~blocked, "disposition"] == "Allowed").all()
    methods = {"GET": 3, "POST": 6, "HEAD": 4, "PUT": 7, "OPTIONS": 5, "DELETE": 2}
    assert (df["http_request.http_method"].map(methods) == df["activity_id"]).all()
    assert (df["type_uid"] == 400200 + df["activity_id"]).all()
    assert {"MANAGED_RULE_GROUP", "RATE_BASED"} <= set(df.loc[blocked, "firewall_rule.type"])
    assert df["http_request.url.path"].isin(["/.env", "/wp-login.php"]).any()


def test_eks_vocabulary(tables):
    df = _flat(tables["eks_audit"])
    verbs = {"create": 1, "get": 2, "list": 2, "watch": 2, "update": 3, "patch": 3, "delete": 4}
    assert (df["api.operation"].map(verbs) == df["activity_id"]).all()
    assert (df["type_uid"] == 600300 + df["activity_id"]).all()
    assert df["actor.user.name"].str.startswith("system:node:").any()
    anon = df["actor.user.name"] == "system:anonymous"
    assert anon.any() and (df.loc[anon, "api.response.code"] == 403).all()
    assert set(df["message"]) == {"ResponseComplete"} and set(df["metadata.product.name"]) == {"Amazon EKS"}


def test_findings_classes_and_updates(tables):
    df = _flat(tables["sh_findings"])
    assert set(df["class_uid"]) == {2002, 2003, 2004}
    assert (df["type_uid"] == df["class_uid"] * 100 + df["activity_id"]).all()
    by = {2002: "Inspector", 2003: "Security Hub"}
    for cls, product in by.items():
        assert set(df.loc[df["class_uid"] == cls, "metadata.product.name"]) == {product}
    comp = df[df["class_uid"] == 2003]
    assert set(comp["compliance.status"]) == {"PASSED", "FAILED"}
    assert df.groupby("finding_info.uid").size().max() > 1  # updates re-emit the same finding
    upd = df[df["activity_name"] == "Update"]
    assert len(upd) > len(df) / 2
    vuln = tables["sh_findings"].filter(pc.equal(tables["sh_findings"]["class_uid"], 2002))["vulnerabilities"].to_pylist()
    assert all(v and v[0]["cve"]["uid"].startswith("CVE-") and v[0]["affected_packages"] for v in vuln)


def test_findings_table_from_dicts():
    t = findings_table([
        {"time": "2026-01-05T10:00:00Z", "account": "111122223333", "region": "us-east-1", "type": "Discovery:S3/MaliciousIPCaller",
         "title": "t", "desc": "d", "severity": "Medium", "resources": [{"type": "AwsS3Bucket", "uid": "arn:aws:s3:::b"}],
         "evidences": [{"src_ip": "45.77.1.2", "api_operation": "ListObjects"}], "count": 3},
        {"time": 1767607200000, "account": "111122223333", "region": "us-east-1", "product": "Security Hub",
         "compliance": {"control": "S3.8", "status": "FAILED"}, "created": 1767500000000},
    ])
    assert t.schema.equals(SOURCES["sh_findings"].schema)
    rows = t.to_pylist()
    assert rows[0]["class_uid"] == 2004 and rows[0]["type_uid"] == 200401
    assert rows[0]["finding_info"]["types"] == ["TTPs/Discovery/Discovery:S3-MaliciousIPCaller"]
    assert rows[0]["metadata"]["product"]["uid"] == "arn:aws:securityhub:us-east-1::product/aws/guardduty"
    assert rows[0]["evidences"][0]["src_endpoint"]["ip"] == "45.77.1.2"  # OCSF 1.1.0: directly under the evidence
    assert dict(rows[0]["unmapped"])["ProductFields.aws/guardduty/service/count"] == "3"
    assert rows[1]["class_uid"] == 2003 and rows[1]["activity_name"] == "Update" and rows[1]["compliance"]["control"] == "S3.8"
    assert rows[0]["compliance"] is None


def test_deterministic_and_seed_dependent(tables, story):
    again = _background(5)
    for name in MINE:
        assert _parquet_bytes(tables[name]) == _parquet_bytes(again[name]), name
    for name, table in _story(5).tables.items():
        assert _parquet_bytes(story.tables[name]) == _parquet_bytes(table), name
    other = _background(6)
    a, b = _flat(tables["vpc_flow"]), _flat(other["vpc_flow"])
    assert set(a["src_endpoint.instance_uid"].dropna()).isdisjoint(set(b["src_endpoint.instance_uid"].dropna()))
    assert set(a["src_endpoint.ip"]) != set(b["src_endpoint.ip"])
    assert _story(6).answer["instances"] != story.answer["instances"]


def test_story_key_events_present(tables, story):
    answer = story.answer
    assert {"route53", "vpc_flow", "cloud_trail_mgmt", "sh_findings"} <= {k["source"] for k in answer["key_events"]}
    for ke in answer["key_events"]:
        parts = [story.tables[ke["source"]]] + ([tables[ke["source"]]] if ke["source"] in tables else [])
        df = _flat(pa.concat_tables(parts))
        m = df["time_dt"] == pd.Timestamp(ke["time"])
        for col, value in ke["match"].items():
            m &= df[col] == value
        assert m.sum() == 1, ke
    assert answer["first_malicious"] < answer["detection"] < answer["containment"] <= answer["last_malicious"]
    r53 = _flat(story.tables["route53"])
    assert set(answer["domains"]) <= set(r53["query.hostname"])
    flows = _flat(story.tables["vpc_flow"])
    mining = flows[flows["dst_endpoint.ip"].isin(answer["ips"]) & (flows["connection_info.direction"] == "Outbound")]
    assert len(mining) > 100 and (mining["action"] == "Allowed").all()
    assert mining["traffic.bytes"].sum() == answer["metrics"]["bytes_to_pools"]
    trail = _flat(story.tables["cloud_trail_mgmt"])
    outside = trail[trail["src_endpoint.ip"] == answer["ips"][0]]
    assert len(outside) == answer["metrics"]["outside_api_calls"]
    assert set(outside["actor.user.credential_uid"]) == set(answer["access_keys"])
    assert set(outside["actor.session.issuer"]) == {answer["principals"][0].replace(":sts::", ":iam::").replace("assumed-role/", "role/").rsplit("/", 1)[0]}
    findings = _flat(story.tables["sh_findings"])
    assert {"CryptoCurrency:EC2-BitcoinTool.B!DNS", "CryptoCurrency:EC2-BitcoinTool.B",
            "UnauthorizedAccess:IAMUser-InstanceCredentialExfiltration.OutsideAWS"} <= {t.rsplit("/", 1)[-1] for ts in findings["finding_info.types"] for t in ts}
