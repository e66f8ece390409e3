"""CloudTrail importer against AWS's own v1 transformer output and the Stratus Red Team detonation logs."""
from __future__ import annotations

import collections
import gzip
import json
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slake_forensics.core.catalog import SOURCES
from slake_forensics.importers.cloudtrail import map_record
from slake_forensics.importers.record import RejectRecord
from slake_forensics.sample.writer import build_table

FIX = Path(__file__).parent / "fixtures"
V1 = FIX / "aws_authored_v1_cloudtrail"
STRATUS = sorted((FIX / "stratus").glob("*.json"))

#: v1 column → v2 column (real_lake_facts.md §2); v1 API Activity 3005 is v2 6003.
V1_TO_V2 = {
    "actor.user.uuid": "actor.user.uid", "actor.user.uid": "actor.user.uid_alt",
    "actor.user.account_uid": "actor.user.account.uid", "actor.session.mfa": "actor.session.is_mfa",
    "user.uuid": "user.uid", "user.uid": "user.uid_alt", "mfa": "is_mfa",
    "actor.session.created_time": "actor.session.created_time_dt",
}
#: Fields compared as they are (after renaming).
COMPARED = ("class_uid", "activity_id", "category_uid", "severity_id", "status", "time", "metadata.uid",
            "metadata.product.name", "metadata.product.vendor_name", "metadata.product.version",
            "cloud.region", "cloud.provider", "api.operation", "api.service.name", "api.request.uid",
            "api.response.error", "api.response.message", "actor.user.type", "actor.user.name", "actor.user.uid",
            "actor.user.uid_alt", "actor.user.account.uid", "actor.user.credential_uid", "http_request.user_agent",
            "src_endpoint.ip", "user.uid", "user.name", "user.uid_alt", "is_mfa", "actor.session.is_mfa",
            "actor.session.issuer", "actor.session.created_time_dt", "dst_endpoint.svc_name")
#: Where v2 knowingly differs from v1, and why.
V1_EXCEPTIONS = {
    "class_uid": "v1 API Activity is 3005 (category 3); v2 is 6003 (category 6)",
    "category_uid": "v1 API Activity is in category 3; v2 in category 6",
    "user.uid": "v1 leaves Account Change user.uuid empty; OCSF 1.1.0 (community mapping) sets user.uid to the ARN of"
                " the created identity",
}


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


V1_PAIRS = sorted(V1.glob("*/*.test.gz.parquet"))


@pytest.mark.parametrize("parquet", V1_PAIRS, ids=lambda p: p.name.split(".")[0])
def test_matches_security_lake_v1_transformer(parquet: Path) -> None:
    raw = json.loads(gzip.decompress((parquet.parent / "input" / parquet.name.replace(".parquet", "")).read_bytes()))
    raw = raw["Records"]
    expected = [_flat(r) for r in pq.read_table(parquet).to_pylist()]
    assert len(raw) == len(expected)
    for rec, exp in zip(raw, expected):
        v2exp = {V1_TO_V2.get(k, k): v for k, v in exp.items()}
        row = map_record(rec, {}).row
        for col in COMPARED:
            want, got = v2exp.get(col), row.get(col)
            if col in ("class_uid", "category_uid") and exp["class_uid"] == 3005:
                assert got == {"class_uid": 6003, "category_uid": 6}[col], V1_EXCEPTIONS[col]
                continue
            if col == "user.uid" and exp["class_uid"] == 3001 and want is None and got is not None:
                assert got == rec["responseElements"][next(iter(rec["responseElements"]))]["arn"], V1_EXCEPTIONS[col]
                continue
            assert got == want, f"{parquet.name} {col}: v2 {got!r} vs v1 {want!r}"


OCSF_EX = FIX / "ocsf_examples_cloudtrail"


@pytest.mark.parametrize("name", ["generic_api_activity", "account_change", "authentication"])
def test_matches_ocsf_community_sample(name: str) -> None:
    raw = json.loads((OCSF_EX / f"{name}.raw").read_text())
    want = json.loads((OCSF_EX / f"{name}.ocsf").read_text())
    row = map_record(raw, {}).row
    want_unmapped = want.pop("unmapped")
    want_obs = want.pop("observables")
    flat = _flat(want)
    # time_dt/created_time_dt are ISO texts in the sample, epoch ms in a Parquet row
    for col in ("time_dt", "actor.session.created_time_dt"):
        if col in flat:
            assert row[col] == int(datetime.fromisoformat(flat.pop(col)).timestamp() * 1000)
    assert {k: row.get(k) for k in flat} == flat
    assert row["unmapped"] == want_unmapped
    assert sorted(row["observables"], key=str) == sorted(want_obs, key=str)


def _stratus_records() -> list[tuple[str, dict]]:
    return [(p.name, r) for p in STRATUS for r in json.loads(p.read_text())]


def test_stratus_every_record_maps() -> None:
    recs = _stratus_records()
    assert len(STRATUS) == 35 and len(recs) > 300
    for name, r in recs:
        m = map_record(r, {})
        assert m.region == r["awsRegion"] and m.account == r.get("recipientAccountId", r["userIdentity"].get("accountId"))
        assert m.row["api.operation"] == r["eventName"]
        src = r.get("sourceIPAddress")
        assert src in (m.row.get("src_endpoint.ip"), m.row.get("src_endpoint.domain"))  # "12.000.22.33" kept as text


#: Class Security Lake gives these eventNames (facts §3, OCSF community mapping).
STRATUS_CLASSES = {"AssumeRole": 3002, "ConsoleLogin": 3002, "CreateUser": 3001, "CreateAccessKey": 3001,
                   "CreateLoginProfile": 3001, "AttachUserPolicy": 3001, "GetSecretValue": 6003,
                   "StopLogging": 6003, "DeleteTrail": 6003, "GetCallerIdentity": 6003, "CreateRole": 3001,
                   "AttachRolePolicy": 3001, "UpdateAssumeRolePolicy": 3001, "UpdateLoginProfile": 3001,
                   "DeleteLoginProfile": 3001, "GetFederationToken": 6003, "RunInstances": 6003,
                   "LeaveOrganization": 6003, "SendCommand": 6003}


def test_stratus_classes() -> None:
    seen = {}
    for _, r in _stratus_records():
        seen.setdefault(r["eventName"], map_record(r, {}).row["class_uid"])
    present = {k: v for k, v in STRATUS_CLASSES.items() if k in seen}
    assert len(present) == len(STRATUS_CLASSES), sorted(set(STRATUS_CLASSES) - set(seen))
    assert {k: seen[k] for k in present} == present


def test_assume_role_is_logon_of_the_role() -> None:
    rec = next(r for _, r in _stratus_records() if r["eventName"] == "AssumeRole" and r.get("requestParameters"))
    row = map_record(rec, {}).row
    assert (row["class_uid"], row["type_uid"], row["status"]) == (3002, 300201, "Other")
    assert row["user.uid"] == rec["requestParameters"]["roleArn"]
    assert row["user.name"] == rec["requestParameters"]["roleSessionName"]
    assert json.loads(row["api.request.data"]) == rec["requestParameters"]


def _columns(rows: list[dict]) -> dict:
    """Rows → columns; timestamps as int64 Arrow arrays, as the writer wants for columns with nulls."""
    return {k: pa.array([r.get(k) for r in rows], pa.int64()) if k.endswith("_dt") else [r.get(k) for r in rows]
            for k in sorted({k for r in rows for k in r})}


def test_stratus_rows_build_into_v2_arrow() -> None:
    by = collections.defaultdict(list)
    for _, r in _stratus_records():
        m = map_record(r, {})
        by[m.source].append(m.row)
    for source, rows in by.items():
        table = build_table(SOURCES[source], _columns(rows), len(rows))
        assert table.schema == SOURCES[source].schema and table.num_rows == len(rows)


def test_rejects_and_timestamps() -> None:
    with pytest.raises(RejectRecord, match="eventName"):
        map_record({"eventTime": "2024-01-01T00:00:00Z"}, {})
    with pytest.raises(RejectRecord, match="eventTime"):
        map_record({"eventName": "GetObject"}, {})
    base = {"eventName": "ListBuckets", "eventSource": "s3.amazonaws.com", "awsRegion": "eu-west-1"}
    a = map_record({**base, "eventTime": "2024-01-01T00:00:01Z"}, {}).row["time"]
    b = map_record({**base, "eventTime": "2024-01-01T00:00:01.000Z"}, {}).row["time"]
    c = map_record({**base, "@timestamp": "2024-01-01T00:00:01.000Z"}, {}).row["time"]
    d = map_record({**base, "eventTime": "2024-01-01 00:00:01.000"}, {}).row["time"]
    assert a == b == c == d == 1704067201000
    with pytest.raises(RejectRecord, match="not an ISO 8601"):
        map_record({**base, "eventTime": "yesterday"}, {})


def test_data_events_route_to_their_tables() -> None:
    base = {"eventTime": "2024-01-01T00:00:01Z", "eventCategory": "Data", "awsRegion": "eu-west-1",
            "recipientAccountId": "111122223333", "sourceIPAddress": "10.0.0.5", "vpcEndpointId": "vpce-0abc"}
    s3 = map_record({**base, "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
                     "additionalEventData": {"bytesTransferredIn": 0, "bytesTransferredOut": 512}}, {})
    assert (s3.source, s3.row["class_uid"], s3.row["activity_id"]) == ("s3_data", 6003, 2)
    assert s3.row["src_endpoint.uid"] == "vpce-0abc" and s3.row["src_endpoint.ip"] == "10.0.0.5"
    assert s3.row["unmapped"]["additionalEventData.bytesTransferredOut"] == "512"
    lam = map_record({**base, "eventSource": "lambda.amazonaws.com", "eventName": "Invoke"}, {})
    assert lam.source == "lambda_execution" and lam.row["activity_id"] == 99
    mgmt = map_record({**base, "eventCategory": "Management", "eventSource": "s3.amazonaws.com",
                       "eventName": "DeleteBucket", "errorCode": "AccessDenied"}, {})
    assert (mgmt.source, mgmt.row["activity_id"], mgmt.row["status"]) == ("cloud_trail_mgmt", 4, "Failure")
    assert mgmt.row["api.response.error"] == "AccessDenied"


def test_web_identity_provider_is_the_idp() -> None:
    rec = {"eventTime": "2024-01-01T00:00:01Z", "eventName": "ListBuckets", "userIdentity": {
        "type": "AssumedRole", "sessionContext": {"webIdFederationData": {
            "federatedProvider": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com",
            "attributes": {"sub": "repo:org/app"}}}}}
    row = map_record(rec, {}).row
    assert row["actor.idp.name"].endswith("token.actions.githubusercontent.com")
    assert row["unmapped"] == {"userIdentity.sessionContext.webIdFederationData.attributes.sub": "repo:org/app"}


def test_partition_falls_back_to_identity_then_options() -> None:
    rec = {"eventTime": "2024-01-01T00:00:01Z", "eventName": "ListUsers", "userIdentity": {"accountId": "222"}}
    assert map_record(rec, {"region": "us-west-2"}).account == "222"
    assert map_record({**rec, "userIdentity": {}}, {"account": "333", "region": "us-west-2"}).region == "us-west-2"



@pytest.mark.parametrize("shape", ["records", "ndjson"])
def test_numbers_where_cloudtrail_writes_text_import(tmp_path: Path, shape: str) -> None:
    """A Logstash/Elastic export may hold ``eventVersion`` as 1.08 and account ids as numbers (leading zero lost):
    the records import (not a crash of the whole import) with the texts CloudTrail would have written."""
    from slake_forensics import Lake
    from slake_forensics.importers import pipeline

    recs = [{"eventVersion": 1.08, "@timestamp": "2024-03-01T10:00:00Z", "eventSource": "s3.amazonaws.com",
             "eventName": "ListBuckets", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
             "userIdentity": {"type": "IAMUser", "accountId": 12345678901, "arn": "arn:aws:iam::012345678901:user/a"},
             "recipientAccountId": 12345678901, "eventID": f"e{i}", "readOnly": True} for i in range(3)]
    text = json.dumps({"Records": recs}) if shape == "records" else "\n".join(map(json.dumps, recs)) + "\n"
    (tmp_path / "in.json").write_text(text)
    s = pipeline.import_logs("cloudtrail", [tmp_path / "in.json"], tmp_path / "lake", progress=False)
    assert (s.records_in, s.records_out, s.rejected) == (3, 3, 0)
    rows = Lake.local(tmp_path / "lake").load("cloud_trail_mgmt", "2024-03-01T00:00Z", "2024-03-02T00:00Z")
    assert set(rows["accountid"]) == {"012345678901"} and set(rows["actor.user.account.uid"]) == {"012345678901"}
    assert set(rows["metadata.product.version"]) == {"1.08"}


def test_account_that_is_not_text_is_rejected_not_a_crash() -> None:
    from slake_forensics.importers.pipeline import _check_folders

    with pytest.raises(RejectRecord, match="JSON int, not text"):
        _check_folders("route53", 123, "us-east-1")  # type: ignore[arg-type]
