"""Hostile inputs never crash an import: the damaged record is rejected with its reason, the good ones around it import.

Found by fuzzing every kind with its own fixtures (issue 12): values of the wrong JSON type, out-of-range times,
and text flow logs that are concatenated, headerless, not UTF-8 or not gzip.
"""
from __future__ import annotations

import copy
import gzip
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from slake_forensics.importers import pipeline

FIX = Path(__file__).parent / "fixtures"
ACCT = "123456789012"


def _route53() -> dict[str, Any]:
    return json.loads(gzip.decompress((FIX / "imp_network/route53-inputs0.json.gz").read_bytes()))


def _set(rec: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    rec = copy.deepcopy(rec)
    here = rec
    for k in path[:-1]:
        here = here[k]
    here[path[-1]] = value
    return rec


def _rejects(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / pipeline.REJECTS).read_text().splitlines()]


# (kind, good record, field path, hostile value, options, words of the reason)
JSON_CASES = [
    ("route53", "route53", ("srcport",), "garbage", {}, "cannot map this record"),  # int() of text in the mapper
    ("route53", "route53", ("answers", 0), [], {}, "cannot map this record"),
    ("route53", "route53", ("query_name",), True, {}, "does not fit the route53 schema"),  # bool where text goes
    ("route53", "route53", ("vpc_id",), {"a": 1}, {}, "does not fit the route53 schema"),
    ("waf", "waf", ("httpRequest", "headers", 0, "value"), None, {}, "cannot map this record"),
    ("waf", "waf", ("terminatingRuleMatchDetails",), "text", {}, "cannot map this record"),
    ("waf", "waf", ("timestamp",), 2**62, {}, "out of range"),
    ("eks", "eks", ("user",), ["x"], {"region": "us-east-1", "account": ACCT}, "cannot map this record"),
    ("eks", "eks", ("user", "extra", "arn"), {"a": 1}, {"region": "us-east-1", "account": ACCT},
     "cannot map this record"),
]


def _good(which: str) -> dict[str, Any]:
    if which == "route53":
        return _route53()
    return json.loads((FIX / f"imp_network/ocsf_{which}.raw").read_text())


@pytest.mark.parametrize(("kind", "which", "path", "value", "options", "why"), JSON_CASES,
                         ids=[f"{c[0]}-{'.'.join(map(str, c[2]))}-{type(c[3]).__name__}" for c in JSON_CASES])
def test_json_kinds_reject_a_hostile_value_and_keep_the_good_records(
        tmp_path: Path, kind: str, which: str, path: tuple[Any, ...], value: Any, options: dict[str, str],
        why: str) -> None:
    good = _good(which)
    log = tmp_path / "in.json"
    log.write_text("\n".join(json.dumps(r) for r in (good, _set(good, path, value), good)) + "\n")
    s = pipeline.import_logs(kind, [log], tmp_path / "lake", options=options, progress=False, workers=1)
    assert (s.records_in, s.records_out, s.rejected) == (3, 2, 1)
    assert sum(s.per_source.values()) == 2
    [rej] = _rejects(tmp_path / "lake")
    assert why in rej["reason"] and rej["origin"] == f"{log}:2"


def test_ocsf_unmapped_that_is_not_an_object_is_kept(tmp_path: Path) -> None:
    good = json.loads((FIX / "ocsf_ext/onprem-firewall.ndjson").read_text().splitlines()[0])
    log = tmp_path / "in.ndjson"
    log.write_text("\n".join(json.dumps(r) for r in (good, {**good, "unmapped": True}, good)) + "\n")
    s = pipeline.import_logs("ocsf", [log], tmp_path / "lake", options={"name": "fw"}, progress=False, workers=1)
    assert (s.records_out, s.rejected) == (3, 0)


HEAD = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
LINE = f"2 {ACCT} eni-0a 10.0.0.1 10.0.0.2 443 49152 6 10 840 1714557600 1714557660 ACCEPT OK"

# (name, file bytes, rows out, rejects)
FLOW_CASES = [
    ("start-beyond-any-date", f"{HEAD}\n{LINE}\n{LINE.replace('1714557600', '99999999999999999999')}\n{LINE}\n", 2, 1),
    ("start-in-ms", f"{HEAD}\n{LINE}\n{LINE.replace('1714557600', '1714557600000')}\n{LINE}\n", 2, 1),
    ("not-utf8-line", f"{HEAD}\n{LINE}\n".encode() + b"2 \xff\xfe bad\n" + f"{LINE}\n".encode(), 2, 1),
    ("bom-and-crlf", b"\xef\xbb\xbf" + f"{HEAD}\r\n{LINE}\r\n{LINE}\r\n".encode(), 2, 0),
    ("files-concatenated", f"{HEAD}\n{LINE}\n{HEAD}\n{LINE}\n", 2, 0),
    ("no-header-default-format", f"{LINE}\n{LINE}\n", 2, 0),
    ("no-header-custom-format", "x=1 y=2\nx=3 y=4\n", 0, 2),  # every line says why, none is dropped unseen
    ("a-word-is-no-header", "garbage\nmore words\n", 0, 2),  # names no flow log field: not taken for a header
    ("too-few-and-too-many-fields", f"{HEAD}\n{LINE}\n2 {ACCT} eni-0a\n{LINE} x y\n{LINE}\n", 2, 2),
]


@pytest.mark.parametrize(("name", "data", "out", "rejected"), FLOW_CASES, ids=[c[0] for c in FLOW_CASES])
def test_vpcflow_text_hostile_lines(tmp_path: Path, name: str, data: str | bytes, out: int, rejected: int) -> None:
    log = tmp_path / "flow.log"
    log.write_bytes(data.encode() if isinstance(data, str) else data)
    s = pipeline.import_logs("vpcflow", [log], tmp_path / "lake", options={"region": "us-east-1"}, progress=False,
                             workers=1)
    assert (s.records_out, s.rejected) == (out, rejected)
    assert all(r["reason"] and r["origin"].startswith(f"{log}:") for r in _rejects(tmp_path / "lake"))


def test_vpcflow_gzip_that_is_not_gzip_is_one_clear_reject(tmp_path: Path) -> None:
    log = tmp_path / "flow.log.gz"
    log.write_text(f"{HEAD}\n{LINE}\n")
    s = pipeline.import_logs("vpcflow", [log], tmp_path / "lake", options={"region": "us-east-1"}, progress=False,
                             workers=1)
    assert (s.records_out, s.rejected) == (0, 1)
    assert "cannot be read" in _rejects(tmp_path / "lake")[0]["reason"]


STRATUS = FIX / "stratus/aws.execution.ssm-start-session.json"

# (name, file text built from the capture's records, records out, rejects)
JSON_FILE_CASES = [
    ("bom-records-object", lambda recs: "\ufeff" + json.dumps({"Records": recs}), "all", 0),
    ("bom-ndjson", lambda recs: "\ufeff" + "\n".join(json.dumps(r) for r in recs), "all", 0),
    ("arrays-concatenated", lambda recs: json.dumps(recs[:2]) + "\n" + json.dumps(recs[2:]), "all", 0),
    ("ndjson-after-an-array", lambda recs: json.dumps(recs[:2]) + "\n" + json.dumps(recs[2]), 2, 1),
]


@pytest.mark.parametrize(("name", "build", "out", "rejected"), JSON_FILE_CASES, ids=[c[0] for c in JSON_FILE_CASES])
def test_cloudtrail_files_with_a_bom_or_several_arrays(tmp_path: Path, name: str, build: Any, out: Any,
                                                       rejected: int) -> None:
    recs = json.loads(STRATUS.read_text())
    log = tmp_path / "in.json"
    log.write_text(build(recs), encoding="utf-8")
    s = pipeline.import_logs("cloudtrail", [log], tmp_path / "lake", progress=False, workers=1)
    assert (s.records_out, s.rejected) == (len(recs) if out == "all" else out, rejected)
    if rejected:  # nothing after the array is dropped unseen: the reject says why reading stopped
        assert "after the closing ']'" in _rejects(tmp_path / "lake")[0]["reason"]


CT_CASES = [
    ("awsRegion", ["x"], "is a JSON list, not text"),
    ("recipientAccountId", {"a": "1"}, "is a JSON dict, not text"),
    ("userIdentity", True, "cloudtrail mapper cannot map this record"),
    ("userIdentity", "AROA", "cloudtrail mapper cannot map this record"),
    ("errorCode", [1], "does not fit the cloud_trail_mgmt schema"),
]


@pytest.mark.parametrize("layout", ["records", "ndjson"])  # the column-wise path and the per-record path
@pytest.mark.parametrize(("field", "value", "why"), CT_CASES, ids=[f"{c[0]}-{type(c[1]).__name__}" for c in CT_CASES])
def test_cloudtrail_hostile_value_is_one_reject_on_both_paths(tmp_path: Path, layout: str, field: str, value: Any,
                                                              why: str) -> None:
    good = json.loads(STRATUS.read_text())[:3]
    recs = [good[0], {**good[1], field: value}, good[2]]
    log = tmp_path / "in.json"
    log.write_text(json.dumps({"Records": recs}) if layout == "records" else "\n".join(json.dumps(r) for r in recs))
    s = pipeline.import_logs("cloudtrail", [log], tmp_path / "lake", progress=False, workers=1)
    assert (s.records_in, s.records_out, s.rejected) == (3, 2, 1)
    [rej] = _rejects(tmp_path / "lake")
    assert why in rej["reason"]
    assert rej["origin"] == (f"{log}#1" if layout == "records" else f"{log}:2")


def test_ndjson_padded_with_nul_bytes_loses_no_record(tmp_path: Path) -> None:
    good = _route53()
    log = tmp_path / "in.json"
    log.write_bytes(("\n".join(json.dumps(r) for r in (good, good, good))).encode() + b"\x00" * 64 + b"\n" + b"\x00" * 8)
    s = pipeline.import_logs("route53", [log], tmp_path / "lake", progress=False, workers=1)
    assert (s.records_out, s.rejected) == (3, 0)


def test_ndjson_null_line_is_a_reject_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    """A ``null`` line is a record its writer lost: said as a reject with its line, never skipped like a blank."""
    line = json.dumps(_route53())
    log = tmp_path / "in.json"
    log.write_text(f"{line}\n\nnull\n{line}\n   \n")
    s = pipeline.import_logs("route53", [log], tmp_path / "lake", progress=False, workers=1)
    assert (s.records_in, s.records_out, s.rejected) == (3, 2, 1)
    [rej] = _rejects(tmp_path / "lake")
    assert "not an object" in rej["reason"] and rej["origin"] == f"{log}:3"


def test_vpcflow_parquet_that_is_not_parquet_is_one_clear_reject(tmp_path: Path) -> None:
    log = tmp_path / "flow.parquet"
    log.write_text(f"{HEAD}\n{LINE}\n")
    s = pipeline.import_logs("vpcflow", [log], tmp_path / "lake", options={"region": "us-east-1"}, progress=False,
                             workers=1)
    assert (s.records_out, s.rejected) == (0, 1)
    assert "cannot be read as Parquet" in _rejects(tmp_path / "lake")[0]["reason"]


@pytest.fixture
def default_recursion_limit() -> Any:
    """Python's default recursion limit for the test: a library imported by an earlier test may have raised it for
    the whole process, and then Python's json decodes 5,000 levels without hitting it (the full suite did)."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    yield
    sys.setrecursionlimit(before)


@pytest.mark.parametrize("layout", ["records", "array"])
def test_cloudtrail_record_nested_too_deeply_is_one_reject_and_reading_goes_on(
        tmp_path: Path, layout: str, default_recursion_limit: None) -> None:
    good = [json.dumps(r) for r in json.loads(STRATUS.read_text())[:2]]
    deep = '{"eventName": "X]\\"{", "requestParameters": ' + "[" * 5000 + "]" * 5000 + "}"  # brackets in a string too
    body = ",".join([good[0], deep, good[1]])
    log = tmp_path / "in.json"
    log.write_text('{"Records": [' + body + "]}" if layout == "records" else "[" + body + "]")
    s = pipeline.import_logs("cloudtrail", [log], tmp_path / "lake", progress=False, workers=1)
    assert (s.records_in, s.records_out, s.rejected) == (3, 2, 1)
    [rej] = _rejects(tmp_path / "lake")
    assert "nested too deeply" in rej["reason"] and rej["origin"] == f"{log}#1"
