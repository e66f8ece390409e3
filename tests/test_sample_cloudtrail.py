"""CloudTrail sample generators: exact schemas, OCSF vocabulary, habits, determinism, story key events."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from slake_forensics.core.catalog import SOURCES
from slake_forensics.sample.cloudtrail import classify, cloudtrail_table
from slake_forensics.sample.org import build_org
from slake_forensics.sample.sources import cloud_trail_mgmt, lambda_execution, s3_data
from slake_forensics.sample.stories import s3_data_access

MODULES = {"cloud_trail_mgmt": cloud_trail_mgmt, "s3_data": s3_data, "lambda_execution": lambda_execution}
SCALE = 0.3


def _build(seed: int) -> dict[str, pa.Table]:
    org = build_org(seed, 7)
    out = {name: m.background(org, np.random.default_rng([seed, i]), SCALE) for i, (name, m) in enumerate(MODULES.items())}
    story = s3_data_access.inject(org, np.random.default_rng([seed, 1000]))
    out.update({f"story:{k}": t for k, t in story.tables.items()})
    out["answer"] = story.answer
    return out


@pytest.fixture(scope="module")
def lake() -> dict:
    return _build(3)


@pytest.fixture(scope="module")
def org():
    return build_org(3, 7)


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def _col(table: pa.Table, path: str) -> np.ndarray:
    head, *rest = path.split(".")
    arr = table[head]
    if rest:
        arr = pc.struct_field(arr, rest)
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)


@pytest.mark.parametrize("name", list(MODULES) + ["story:cloud_trail_mgmt", "story:s3_data"])
def test_exact_schema_and_vocabulary(lake, name):
    table = lake[name]
    src = SOURCES[name.removeprefix("story:")]
    assert table.schema.equals(src.schema)
    assert table.num_rows > 0
    cls, act = table["class_uid"].to_numpy(), table["activity_id"].to_numpy()
    assert (table["type_uid"].to_numpy() == cls.astype("int64") * 100 + act).all()
    assert set(np.unique(cls)) <= set(src.classes)
    ops = _col(table, "api.operation")
    expected = np.array([classify(o) for o in ops])
    upd = ops == "UpdateAccessKey"
    assert (expected[~upd, 0] == cls[~upd]).all() and (expected[~upd, 1] == act[~upd]).all()
    status = _col(table, "status")
    err = pd.notna(_col(table, "api.response.error"))
    api = cls == 6003
    assert ((status[api] == "Failure") == err[api]).all()
    assert set(_col(table, "metadata.product.name")) == {"CloudTrail"}
    assert (_col(table, "accountid") == np.array([dict(m)["recipientAccountId"] for m in table["unmapped"].to_pylist()], dtype=object)).all()
    assert (_col(table, "region") == _col(table, "cloud.region")).all()
    ips, domains = _col(table, "src_endpoint.ip"), _col(table, "src_endpoint.domain")
    assert (pd.notna(ips) ^ pd.notna(domains)).all()


def test_classes_present_in_management_events(lake):
    t = lake["cloud_trail_mgmt"]
    assert {6003, 3001, 3002} <= set(np.unique(t["class_uid"].to_numpy()))
    auth = t.filter(pc.equal(t["class_uid"], 3002))
    assert (_col(auth, "is_mfa") == False).any()  # noqa: E712 (some logins without MFA)
    assert {"AccessDenied", "Client.UnauthorizedOperation"} & set(_col(t, "api.response.error"))


def test_s3_data_events(lake):
    t = lake["s3_data"]
    ops = _col(t, "api.operation")
    req = [json.loads(x) for x in _col(t, "api.request.data")]
    obj = ops != "ListObjects"
    assert all("bucketName" in r and "Host" in r for r in req)
    assert all("key" in r for r, o in zip(req, obj) if o)
    unm = [dict(m) for m in t["unmapped"].to_pylist()]
    assert all("additionalEventData.bytesTransferredOut" in m for m, o in zip(unm, ops) if o == "GetObject")
    assert set(_col(t, "metadata.product.feature.name")) == {"Data"}
    types = {r["type"] for rs in t["resources"].to_pylist() for r in rs}
    assert types == {"AWS::S3::Object", "AWS::S3::Bucket"}


def test_people_keep_working_hours(lake, org):
    t = lake["cloud_trail_mgmt"]
    arns = _col(t, "actor.user.uid")
    times = pd.to_datetime(t["time"].to_numpy(), unit="ms", utc=True)
    people = [p for p in org.principals if p.persona in ("engineer", "sre", "admin", "security") and p.kind == "IAMUser"]
    inside = total = weekend = weekday = 0
    for p in people:
        m = arns == p.arn
        local = times[m] + pd.Timedelta(hours=p.tz_offset_h)
        h = local.hour + local.minute / 60
        inside += int(((h >= p.work_hours[0] - 1) & (h < p.work_hours[1] + 1)).sum())
        total += int(m.sum())
        weekend += int((local.day_of_week >= 5).sum())
        weekday += int((local.day_of_week < 5).sum())
    assert total > 500 and inside / total > 0.85
    assert weekend / 2 < weekday / 5 * 0.3


def test_determinism_byte_for_byte(lake):
    again = _build(3)
    other = _build(4)
    for name in list(MODULES) + ["story:cloud_trail_mgmt", "story:s3_data"]:
        assert _parquet_bytes(lake[name]) == _parquet_bytes(again[name]), name
    assert lake["answer"] == again["answer"]
    for field in ("principals", "access_keys", "ips"):
        assert set(lake["answer"][field]).isdisjoint(other["answer"][field]), field
    # "" is no key: a failed sign-in's empty accessKeyId, as Security Lake keeps it
    keys = lambda t: set(_col(t, "actor.user.credential_uid")) - {None, ""}  # noqa: E731
    assert keys(lake["cloud_trail_mgmt"]).isdisjoint(keys(other["cloud_trail_mgmt"]))


def test_story_key_events_are_in_the_story_tables(lake):
    answer = lake["answer"]
    assert answer["key_events"]
    for ke in answer["key_events"]:
        t = lake[f"story:{ke['source']}"]
        m = np.ones(t.num_rows, bool)
        for path, value in ke["match"].items():
            m &= _col(t, path) == value
        assert m.sum() == 1, ke
        assert t["time"].to_numpy()[m][0] == pd.Timestamp(ke["time"]).value // 1_000_000
    assert answer["first_malicious"] < answer["detection"] < answer["containment"] < answer["last_malicious"]
    s3 = lake["story:s3_data"]
    gets = (_col(s3, "api.operation") == "GetObject") & (_col(s3, "status") == "Success")
    assert gets.sum() == answer["metrics"]["objects_read"]
    out = sum(int(dict(m)["additionalEventData.bytesTransferredOut"]) for m, g in zip(s3["unmapped"].to_pylist(), gets) if g)
    assert out == answer["metrics"]["bytes_exfiltrated"] > 1e9
    findings = lake["story:sh_findings"]
    assert pd.Timestamp(answer["detection"]) == pd.Series(findings["time_dt"].to_pandas()).min()


def test_cloudtrail_table_for_stories(org):
    p = org.principals_by(persona="cicd")[0]
    t = cloudtrail_table([{"time": "2025-01-02T03:04:05Z", "principal": p, "event_source": "iam.amazonaws.com",
                           "event_name": "UpdateAccessKey", "region": "us-east-1", "source": "203.0.113.9",
                           "request": {"userName": "x", "accessKeyId": "AKIA", "status": "Inactive"}}], "cloud_trail_mgmt")
    row = t.to_pylist()[0]
    assert t.schema.equals(SOURCES["cloud_trail_mgmt"].schema)
    assert (row["class_uid"], row["activity_id"], row["type_uid"]) == (3001, 5, 300105)
    assert row["user"]["uid"] == f"arn:aws:iam::{p.account.id}:user/x" and row["actor"]["user"]["credential_uid"] == p.access_keys[0]
    assert row["metadata"]["profiles"] == ["cloud", "datetime"] and row["status"] == "Success"
