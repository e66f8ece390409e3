"""The column-wise CloudTrail path (importers.cloudtrail_fast) writes exactly what the per-record mapper writes.

Each corpus is imported twice, once as ``import_logs`` does it (arrays of records mapped column-wise) and once with
the column-wise path switched off (every record through ``map_record``); the lakes must hold the same files with
equal tables (every column, every row, struct validity included), the same summary and the same rejects.
"""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slake_forensics.importers import cloudtrail_fast, pipeline

FIX = Path(__file__).parent / "fixtures"


def _lake(paths: list[Path], out: Path, fast: bool, monkeypatch: pytest.MonkeyPatch,
          options: dict[str, str] | None = None) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(pipeline, "FAST", {})
        s = pipeline.import_logs("cloudtrail", paths, out, progress=False, workers=1, options=options)
    tables = {str(p.relative_to(out)): pq.read_table(p) for p in sorted(out.rglob("*.parquet"))}
    rejects = [json.loads(line) for line in (out / pipeline.REJECTS).read_text().splitlines()]
    summary = {"in": s.records_in, "out": s.records_out, "rejected": s.rejected, "per_source": s.per_source}
    return summary, tables, rejects


def _assert_same(paths: list[Path], tmp: Path, monkeypatch: pytest.MonkeyPatch,
                 options: dict[str, str] | None = None) -> dict[str, Any]:
    fast = _lake(paths, tmp / "fast", True, monkeypatch, options)
    slow = _lake(paths, tmp / "slow", False, monkeypatch, options)
    assert fast[0] == slow[0]
    assert sorted(fast[1]) == sorted(slow[1])
    for name, want in slow[1].items():
        got = fast[1][name]
        assert got.schema == want.schema, name
        for col in want.column_names:
            assert got[col].equals(want[col]), f"{name} {col}:\n{got[col].to_pylist()[:3]}\n{want[col].to_pylist()[:3]}"
    assert fast[2] == slow[2]
    return fast[0]


def _calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records the column-wise path mapped (one entry per batch)."""
    seen: list[int] = []
    real = cloudtrail_fast.map_batch

    def spy(*a: Any, **k: Any) -> Any:
        table, left = real(*a, **k)
        seen.append(table.num_rows)
        return table, left

    monkeypatch.setattr(cloudtrail_fast, "map_batch", spy)
    return seen


def test_stratus_copies_same_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _calls(monkeypatch)
    files = sorted((FIX / "stratus").glob("*.json"))
    s = _assert_same(files, tmp_path, monkeypatch)
    assert s["rejected"] == 0 and s["out"] == 310
    assert sum(seen) == 310  # every Stratus record went the column-wise way


def test_golden_pairs_same_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _calls(monkeypatch)
    files = sorted((FIX / "aws_authored_v1_cloudtrail").glob("*/input/*.test.gz"))
    ocsf = [json.loads(p.read_text()) for p in sorted((FIX / "ocsf_examples_cloudtrail").glob("*.raw"))]
    (tmp_path / "ocsf.json").write_text(json.dumps(ocsf))
    s = _assert_same([*files, tmp_path / "ocsf.json"], tmp_path, monkeypatch)
    assert s["rejected"] == 2  # DeleteRole and the community sample name 13-digit accounts: no partition folder
    assert sum(seen) == s["out"] > 10


def test_bench_corpus_same_across_flush_windows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.importer import generate

    monkeypatch.setattr(pipeline, "FLUSH_ROWS", 700)  # several flushes, some inside a column-wise batch
    files = generate(tmp_path / "in", 3_000, 2, gz=True)
    s = _assert_same(files, tmp_path, monkeypatch)
    assert s["out"] == 3_000 and set(s["per_source"]) == {"cloud_trail_mgmt", "s3_data", "lambda_execution"}


# ---- a varied generated corpus ------------------------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 63), 2 ** 63 - 1), _TEXT,
                    st.sampled_from([0.1, 1.5, 1e20, 2.5e-7, -0.0, 123456789.25, 1.0]))
_JSON = st.recursive(_SCALAR, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                     st.dictionaries(st.sampled_from("abcxyz"), kids, max_size=3)),
                     max_leaves=8)
_NAMES = ["CreateUser", "AttachUserPolicy", "UpdateAccessKey", "ConsoleLogin", "AssumeRole", "AssumeRoleWithWebIdentity",
          "CheckMfa", "GetObject", "PutObject", "Invoke", "DescribeInstances", "ListBuckets", "DeleteTrail", "x"]
_ARNS = st.sampled_from([None, "", "arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:role/r"])
_OPT = st.sampled_from([None, "", "a", "Inactive", "Success", "Failure", "Yes", "No", "true", "false"])
_TIMES = st.sampled_from(["2024-05-01T12:00:00Z", "2024-05-01T23:59:59.999Z", "2024-05-02 00:00:00.000",
                          "2024-05-01T12:00:00+02:00", "2024-05-01T12:00:00.1234Z", "not a time", "", None, 5])


@st.composite
def _record(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 40)) == 0:
        return draw(st.one_of(_SCALAR, st.lists(_SCALAR, max_size=2)))  # not an object: a reject
    name = draw(st.sampled_from(_NAMES))
    r: dict[str, Any] = {}

    def maybe(key: str, value: Any) -> None:
        if draw(st.integers(0, 3)):
            r[key] = value

    maybe("eventVersion", "1.09")
    ident: dict[str, Any] = {}
    for k, v in (("type", draw(st.sampled_from(["IAMUser", "AssumedRole", "WebIdentityUser", None]))),
                 ("arn", draw(_ARNS)), ("principalId", draw(_OPT)), ("accountId", draw(st.sampled_from(
                     ["111122223333", "", None, "444455556666"]))), ("accessKeyId", draw(_OPT)),
                 ("userName", draw(_OPT)), ("invokedBy", draw(_OPT)), ("identityProvider", draw(_OPT)),
                 ("extra", draw(_JSON))):
        if draw(st.booleans()):
            ident[k] = v
    if draw(st.booleans()):
        ctx: dict[str, Any] = {}
        if draw(st.booleans()):
            ctx["sessionIssuer"] = draw(st.one_of(_TEXT, st.fixed_dictionaries(
                {"type": st.just("Role"), "arn": _ARNS, "accountId": st.just("111122223333")},
                optional={"userName": _OPT, "more": _JSON})))
        if draw(st.booleans()):
            ctx["attributes"] = {"creationDate": draw(st.sampled_from(
                ["2024-05-01T11:00:00Z", "", None, "bad", 7])), "mfaAuthenticated": draw(
                st.sampled_from(["true", "false", True, False, None, 1]))}
        if draw(st.booleans()):
            ctx["webIdFederationData"] = draw(st.one_of(_TEXT, st.fixed_dictionaries(
                {}, optional={"federatedProvider": _OPT, "attributes": _JSON})))
        if draw(st.booleans()):
            ctx["sourceIdentity"] = draw(_JSON)
        ident["sessionContext"] = draw(st.one_of(st.just(ctx), _TEXT)) if draw(st.integers(0, 9)) == 0 else ctx
    maybe("userIdentity", ident if draw(st.integers(0, 9)) else None)
    time_key = "@timestamp" if draw(st.integers(0, 5)) == 0 else "eventTime"
    if draw(st.integers(0, 15)):
        r[time_key] = draw(st.sampled_from(["2024-05-01T12:00:00Z", "2024-05-02T08:30:15.5Z"]))
    else:
        r[time_key] = draw(_TIMES)
    source = {"GetObject": "s3.amazonaws.com", "PutObject": "s3.amazonaws.com", "Invoke": "lambda.amazonaws.com",
              "ConsoleLogin": "signin.amazonaws.com"}.get(name, draw(st.sampled_from(
                  ["iam.amazonaws.com", "sts.amazonaws.com", "s3.amazonaws.com", "ec2.amazonaws.com"])))
    maybe("eventSource", source)
    if draw(st.integers(0, 30)):
        r["eventName"] = name
    else:
        r["eventName"] = draw(st.sampled_from(["", None, 3]))
    maybe("awsRegion", draw(st.sampled_from(["us-east-1", "eu-west-1", "", "no/such region"])))
    maybe("sourceIPAddress", draw(st.sampled_from(["203.0.113.9", "s3.amazonaws.com", "AWS Internal", "", None])))
    maybe("userAgent", draw(_OPT))
    if draw(st.booleans()):
        req = draw(st.fixed_dictionaries({}, optional={
            "userName": _OPT, "roleName": _OPT, "policyArn": _ARNS, "status": _OPT, "roleArn": _ARNS,
            "roleSessionName": _OPT, "bucketName": _TEXT, "nested": _JSON, "numbers": _JSON}))
        r["requestParameters"] = draw(st.one_of(st.just(req), _SCALAR)) if draw(st.integers(0, 9)) == 0 else req
    if draw(st.booleans()):
        resp: Any = draw(st.fixed_dictionaries({}, optional={
            "ConsoleLogin": _OPT, "credentials": _JSON,
            "user": st.one_of(st.just({}), st.fixed_dictionaries({"arn": _ARNS}, optional={"userId": _OPT})),
            "role": st.fixed_dictionaries({"arn": _ARNS}, optional={"roleId": _OPT, "userId": _OPT})}))
        r["responseElements"] = resp
    maybe("additionalEventData", draw(st.one_of(
        st.fixed_dictionaries({}, optional={"LoginTo": _OPT, "MFAUsed": _OPT, "bytesTransferredIn": st.integers(0, 9),
                                            "bytesTransferredOut": st.floats(0, 1e6, allow_nan=False),
                                            "x-amz-id-2": _TEXT}), _TEXT)))
    maybe("requestID", draw(_OPT))
    maybe("eventID", draw(st.uuids()).hex)
    maybe("readOnly", draw(st.booleans()))
    maybe("eventType", "AwsApiCall")
    maybe("managementEvent", name not in ("GetObject", "PutObject", "Invoke"))
    maybe("eventCategory", "Data" if name in ("GetObject", "PutObject", "Invoke") else draw(
        st.sampled_from(["Management", "Data", ""])))
    maybe("recipientAccountId", draw(st.sampled_from(["111122223333", "", "12"])))
    maybe("errorCode", draw(_OPT))
    maybe("errorMessage", draw(_OPT))
    maybe("vpcEndpointId", draw(_OPT))
    maybe("tlsDetails", {"tlsVersion": "TLSv1.3", "cipherSuite": draw(_TEXT)})
    maybe("resources", draw(st.lists(st.one_of(
        st.fixed_dictionaries({}, optional={"ARN": _ARNS, "type": _OPT, "accountId": _OPT}), _TEXT), max_size=3)))
    maybe("serviceEventDetails", draw(_JSON))
    keys = list(r)
    random.Random(draw(st.integers(0, 1000))).shuffle(keys)  # key order is kept in unmapped and request data
    return {k: r[k] for k in keys}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records=st.lists(_record(), min_size=1, max_size=60), gz=st.booleans(), records_key=st.booleans(),
       region=st.sampled_from([None, "eu-central-1"]))
def test_generated_records_same_both_ways(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                                          records: list[Any], gz: bool, records_key: bool, region: str | None) -> None:
    tmp = tmp_path_factory.mktemp("gen")
    body = json.dumps({"Records": records} if records_key else records).encode()
    path = tmp / ("in.json.gz" if gz else "in.json")
    path.write_bytes(gzip.compress(body) if gz else body)
    options = {"account": "999988887777", **({"region": region} if region else {})}
    s = _assert_same([path], tmp, monkeypatch, options)
    assert s["in"] == len(records)


def test_big_integers_and_odd_records_fall_back_to_the_per_record_mapper(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _calls(monkeypatch)
    base = {"eventTime": "2024-05-01T12:00:00Z", "eventName": "GetObject", "eventSource": "s3.amazonaws.com",
            "recipientAccountId": "111122223333", "awsRegion": "us-east-1"}
    odd = [base | {"eventVersion": 1.08}, base | {"eventTime": 1714564800}, base | {"recipientAccountId": "x"}]
    (tmp_path / "odd.json").write_text(json.dumps({"Records": [base, *odd, base]}))
    (tmp_path / "big.json").write_text('[{"eventTime": "2024-05-01T12:00:00Z", "eventName": "X", '
                                       '"recipientAccountId": "111122223333", "awsRegion": "us-east-1", '
                                       '"requestParameters": {"n": 123456789012345678901234}}]')
    # eventVersion 1.08 as a number is written as the text "1.08" (both ways); the other two odd records are rejected
    s = _assert_same([tmp_path / "odd.json", tmp_path / "big.json"], tmp_path / "b", monkeypatch)
    assert s["rejected"] == 2 and s["out"] == 4
    assert 3 in seen  # odd.json's two plain records and the numeric eventVersion went column-wise; big.json one at a time


@pytest.mark.parametrize("where", ["requestParameters", "additionalEventData", "someNewKey"])
@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity"])
def test_numbers_duckdb_or_orjson_refuse_fall_back_to_one_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, number: str, where: str) -> None:
    """A number beyond a double (DuckDB: "number is infinity") or a NaN/Infinity literal (orjson refuses both) in one
    record does not fail the import: that stretch is decoded by Python's json one record at a time, and both paths
    write the same lake with every record in it."""
    base = {"eventVersion": "1.09", "eventTime": "2024-05-01T12:00:00Z", "eventName": "PutObject",
            "eventSource": "s3.amazonaws.com", "recipientAccountId": "111122223333", "awsRegion": "us-east-1"}
    good = [json.dumps(base | {"eventID": f"e{i}", "requestParameters": {"n": i}}) for i in range(40)]
    odd = json.dumps(base | {"eventID": "odd", where: {"n": "PLACE"}}).replace('"PLACE"', number)
    (tmp_path / "in.json").write_text('{"Records": [' + ",".join(good[:20] + [odd] + good[20:]) + "]}")
    s = _assert_same([tmp_path / "in.json"], tmp_path, monkeypatch)
    assert s["rejected"] == 0 and s["out"] == 41


def _ndjson(records: list[Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_map_batch_equals_map_record_row_by_row() -> None:
    """On the Stratus copies and the golden inputs, the flat table of ``map_batch`` is the one of ``map_record``'s rows,
    every column and every row (``?key`` flags included), and no record is left to the per-record mapper."""
    from slake_forensics.importers.cloudtrail import map_record
    from slake_forensics.importers.readers import read_json

    files = [*sorted((FIX / "stratus").glob("*.json")), *sorted((FIX / "aws_authored_v1_cloudtrail").glob("*/input/*.test.gz"))]
    raws = [r for f in files for _, r in read_json(f) if isinstance(r, dict)
            and len(r.get("recipientAccountId") or "") == 12]  # two golden inputs name 13-digit accounts
    table, left = cloudtrail_fast.map_batch(raws, {}, pipeline._day, pipeline._check_folders)
    assert left == [] and table.num_rows == len(raws) > 300
    want = cloudtrail_fast.flat_from_rows([map_record(r, {}) for r in raws], pipeline._day)
    assert table.schema == want.schema
    for col in want.column_names:
        assert table[col].equals(want[col]), col


def test_ndjson_exports_same_both_ways_and_column_wise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NDJSON goes through the column-wise path too: CloudTrail Lake exports (times without a zone) and
    Logstash/Elastic records (``@timestamp`` instead of eventTime, numbers where CloudTrail writes text)."""
    seen = _calls(monkeypatch)
    stratus = []
    for f in sorted((FIX / "stratus").glob("*.json")):
        data = json.loads(f.read_text())
        stratus += data["Records"] if isinstance(data, dict) else data
    (tmp_path / "stratus.ndjson").write_text(_ndjson(stratus))
    lake = [{**r, "eventTime": r["eventTime"].replace("T", " ").replace("Z", ".000")} for r in stratus[:50]]
    (tmp_path / "lake.json").write_text(_ndjson(lake))
    logstash = []
    for r in stratus[50:120]:
        r = {k: v for k, v in r.items() if k != "eventTime"} | {"@timestamp": r["eventTime"], "@version": "1"}
        logstash.append(r | {"eventVersion": 1.08, "recipientAccountId": int(r["recipientAccountId"])})
    (tmp_path / "logstash.ndjson").write_text(_ndjson(logstash) + "not json\n")
    s = _assert_same(sorted(tmp_path.glob("*.*json")), tmp_path / "lakes", monkeypatch)
    assert s["out"] == 310 + 50 + 70 and s["rejected"] == 1
    assert sum(seen) == s["out"]  # every record went the column-wise way


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records=st.lists(_record(), min_size=1, max_size=60), gz=st.booleans())
def test_generated_ndjson_same_both_ways(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                                         records: list[Any], gz: bool) -> None:
    tmp = tmp_path_factory.mktemp("gen")
    body = _ndjson(records).encode()
    path = tmp / ("in.ndjson.gz" if gz else "in.ndjson")
    path.write_bytes(gzip.compress(body) if gz else body)
    s = _assert_same([path], tmp, monkeypatch, {"account": "999988887777"})
    assert s["in"] == len(records)  # a `null` line is a record in (and a reject), never skipped as a blank
    assert s["rejected"] >= sum(r is None for r in records)


def test_batches_bounded_by_size_same_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large records close a column-wise batch by the characters read (``FAST_CHARS``), not only by their count."""
    from bench.importer import generate

    seen = _calls(monkeypatch)
    monkeypatch.setattr(pipeline, "FAST_CHARS", 2 << 20)  # ~1,500 bench records; the reader refills by the megabyte
    files = generate(tmp_path / "in", 4_000, 1)
    s = _assert_same(files, tmp_path, monkeypatch)
    assert s["out"] == 4_000 and sum(seen) == 4_000
    assert len(seen) >= 3 and max(seen) < pipeline.FAST_BATCH
