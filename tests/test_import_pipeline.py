"""The importer framework (readers, batching, layout, manifest, rejects) with a tiny CloudTrail-shaped test kind."""
from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
import types
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from slake_forensics import Lake
from slake_forensics.importers import kinds, pipeline
from slake_forensics.importers.record import Mapped, RejectRecord

ACCT = "123456789012"


def _map(raw: dict[str, Any], options: Any) -> Mapped:
    when = raw.get("eventTime") or raw.get("@timestamp")
    if not when:
        raise RejectRecord("record has no eventTime / @timestamp")
    ms = int(datetime.fromisoformat(when).timestamp() * 1000)
    row = {"time": ms, "api.operation": raw.get("eventName"), "cloud.region": raw.get("awsRegion", "us-east-1"),
           "class_uid": 6003, "class_name": "API Activity", "category_uid": 6, "category_name": "Application Activity",
           "severity_id": 1, "severity": "Informational", "activity_id": 99, "activity_name": "Other",
           "type_uid": 600399, "type_name": "API Activity: Other"}
    return Mapped("cloud_trail_mgmt", raw.get("recipientAccountId", ACCT), raw.get("awsRegion", "us-east-1"), row)


@pytest.fixture(autouse=True)
def testkind(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = types.ModuleType("slake_forensics.importers._testkind")
    mod.KIND, mod.SUMMARY, mod.READER, mod.map_record = "testkind", "test", "json", _map
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setitem(kinds.KINDS, "testkind", mod.__name__)


def _ev(i: int, day: int = 1, region: str = "us-east-1") -> dict[str, Any]:
    return {"eventTime": f"2024-03-{day:02d}T10:00:{i % 60:02d}Z", "eventName": f"Op{i}", "awsRegion": region,
            "recipientAccountId": ACCT}


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_all_shapes_import_and_load(tmp_path: Path) -> None:
    src = tmp_path / "in"
    tree = src / "AWSLogs" / ACCT / "CloudTrail" / "us-east-1" / "2024" / "03" / "01"
    tree.mkdir(parents=True)
    (tree / "a.json.gz").write_bytes(gzip.compress(json.dumps({"Records": [_ev(i) for i in range(5)]}).encode()))
    (src / "array.json").write_text(json.dumps([_ev(i, 2) for i in range(3)], indent=2))
    nd = [json.dumps({"@timestamp": f"2024-03-02T11:00:0{i}Z", "eventName": "Nd"}) for i in range(4)]
    (src / "lines.ndjson").write_text("\n".join(nd) + "\n")
    (src / "records.json").write_text(json.dumps({"Records": [_ev(i, 1, "eu-west-1") for i in range(2)]}))
    before = {p: _digest(p) for p in src.rglob("*") if p.is_file()}
    out = tmp_path / "lake"
    s = pipeline.import_logs("testkind", [src], out, progress=False)
    assert (s.files, s.records_in, s.records_out, s.rejected) == (4, 14, 14, 0)
    assert {p: _digest(p) for p in src.rglob("*") if p.is_file()} == before
    parts = sorted(str(p.relative_to(out).parent) for p in out.rglob("*.parquet"))
    assert "aws/CLOUD_TRAIL_MGMT/2.0/region=eu-west-1/accountId=123456789012/eventDay=20240301" in parts
    lake = Lake.local(str(out))
    df = lake.load("cloud_trail_mgmt", start="2024-03-01T00:00Z", end="2024-03-03T00:00Z")
    assert len(df) == 14
    man = [json.loads(x) for x in (out / "import_manifest.jsonl").read_text().splitlines()]
    assert {m["sha256"] for m in man} == set(before.values())
    assert all(m["tool_version"] and m["kind"] == "testkind" for m in man)
    again = pipeline.import_logs("testkind", [src], out, progress=False)
    assert again.files == 0 and len(again.skipped) == 4 and again.records_out == 0
    assert sorted(str(p.relative_to(out).parent) for p in out.rglob("*.parquet")) == parts


def test_rejects_bad_inputs_keep_good_records(tmp_path: Path) -> None:
    good = gzip.compress(json.dumps({"Records": [_ev(i) for i in range(20000)]}).encode())
    (tmp_path / "trunc.json.gz").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.txt").write_text("hello world\nnot json either\n")
    (tmp_path / "notime.ndjson").write_text(json.dumps(_ev(1)) + "\n" + json.dumps({"eventName": "X"}) + "\n{bad\n")
    out = tmp_path / "lake"
    s = pipeline.import_logs("testkind", [tmp_path], out, progress=False)
    rej = [json.loads(x) for x in (out / pipeline.REJECTS).read_text().splitlines()]
    reasons = {r["origin"]: r["reason"] for r in rej}
    assert s.rejected == len(rej) and s.records_out > 1
    assert any("gzip" in r or "truncated" in r for o, r in reasons.items() if "trunc.json.gz" in o)
    assert reasons[f"{tmp_path / 'junk.txt'}:1"] == "not JSON"
    assert [r["raw"] for r in rej if r["origin"].endswith("junk.txt:2")] == ["not json either"]
    assert reasons[f"{tmp_path / 'notime.ndjson'}:2"] == "record has no eventTime / @timestamp"
    assert f"{tmp_path / 'notime.ndjson'}:3" in reasons


def test_unknown_and_missing_kind() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        kinds.load_kind("nope")


def test_large_single_line_streamed_in_bounded_memory(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    ev = json.dumps(_ev(1, 1) | {"pad": "x" * 800})
    n = 200_000
    with open(big, "w") as f:
        f.write('{"Records": [' + ev)
        f.writelines("," + ev for _ in range(n - 1))
        f.write("]}")
    size = big.stat().st_size
    assert size > 150e6
    # VmHWM (peak RSS) starts afresh at exec, unlike ru_maxrss, which a forked child inherits from pytest
    code = f"""
import pathlib, re
from slake_forensics.importers.readers import read_json
hwm = lambda: int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read())[1])
base = hwm()
n = sum(1 for _ in read_json(pathlib.Path({str(big)!r})))
print(n, base, hwm())
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    got, base_kb, peak_kb = map(int, r.stdout.split())
    assert got == n
    assert peak_kb - base_kb < 60_000, f"reading a {size / 1e6:.0f} MB single-line file grew peak RSS by " \
        f"{(peak_kb - base_kb) / 1e3:.0f} MB"


def test_cli_exit_codes_and_training_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from slake_forensics.tooling.cli import main

    good = tmp_path / "good.json"
    good.write_text(json.dumps({"Records": [_ev(i) for i in range(3)]}))
    bad = tmp_path / "bad.ndjson"
    bad.write_text(json.dumps(_ev(5)) + "\n{\"eventName\": \"no time\"}\n")
    assert main(["import", "testkind", str(good), "--out", str(tmp_path / "bg"), "--quiet"]) == 0
    assert "3 rows out" in capsys.readouterr().out
    assert main(["import", "testkind", str(bad), "--out", str(tmp_path / "l2"), "--quiet"]) == 3
    ex = tmp_path / "exercise"
    assert main(["training-import", "testkind", str(bad), "--out", str(ex), "--background", str(tmp_path / "bg"),
                 "--quiet"]) == 3
    bg_files = sorted(p.relative_to(tmp_path / "bg") for p in (tmp_path / "bg" / "aws").rglob("*.parquet"))
    assert bg_files and all((ex / p).exists() for p in bg_files)
    df = Lake.local(str(ex)).load("cloud_trail_mgmt", start="2024-03-01T00:00Z", end="2024-03-02T00:00Z")
    assert sorted(df["api.operation"]) == ["Op0", "Op1", "Op2", "Op5"]
    with pytest.raises(SystemExit) as e:
        main(["import", "nokind", str(good), "--out", str(tmp_path / "l3")])
    assert e.value.code == 2


def test_ext_source_written_with_inferred_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.parquet as pq

    def ext_map(raw: dict[str, Any], options: Any) -> Mapped:
        return Mapped(f"ext/{options['name']}", options["account"], "us-west-2",
                      {"time": raw["t"], "actor": {"user": {"name": raw["u"]}}})

    monkeypatch.setattr(sys.modules["slake_forensics.importers._testkind"], "map_record", ext_map)
    (tmp_path / "x.ndjson").write_text('{"t": 1709287200000, "u": "bob"}\n{"t": 1709373600000, "u": "eve"}\n')
    s = pipeline.import_logs("testkind", [tmp_path / "x.ndjson"], tmp_path / "lake", progress=False,
                             options={"name": "myapp", "account": ACCT})
    assert s.per_source == {"ext/myapp": 2}
    files = sorted((tmp_path / "lake" / "ext" / "myapp").rglob("*.parquet"))
    assert [str(f.parent.relative_to(tmp_path / "lake")) for f in files] == [
        f"ext/myapp/region=us-west-2/accountId={ACCT}/eventDay=20240301",
        f"ext/myapp/region=us-west-2/accountId={ACCT}/eventDay=20240302"]
    assert pq.read_table(files[0]).to_pylist() == [{"time": 1709287200000, "actor": {"user": {"name": "bob"}}}]


def test_bench_generator_feeds_the_reader(tmp_path: Path) -> None:
    from bench.importer import generate
    from slake_forensics.importers.readers import read_json

    files = generate(tmp_path, 50, 2)
    recs = [r for f in files for _, r in read_json(f)]
    assert len(recs) == 50 and all(r["eventTime"] and r["recipientAccountId"] == ACCT for r in recs)


@pytest.mark.parametrize("pretty", [False, True])
def test_batched_array_reading_matches_one_at_a_time(tmp_path: Path, pretty: bool) -> None:
    """Records spanning several 1 MB buffers, read in orjson batches, come out exactly as ``json.loads`` reads them:
    records split across buffers, nested ``},`` inside records and strings, and elements orjson refuses (NaN, an
    integer beyond 64 bits) or that are not objects (decoded one at a time, as before) at batch boundaries."""
    from slake_forensics.importers import readers

    recs: list[Any] = []
    for i in range(4000):
        recs.append({"eventVersion": "1.09", "eventTime": f"2024-03-01T00:00:{i % 60:02d}Z", "n": i,
                     "requestParameters": {"items": [{"a": i}, {"b": "x},{y"}], "s": "}, {\"eventVersion\": "},
                     "resources": [{"ARN": f"arn:{i}"}, {"ARN": "z"}], "pad": "p" * (i % 1400)})
    recs[1500] = {**recs[1500], "bad": float("nan")}
    recs[2600] = {**recs[2600], "huge": 1 << 70}
    recs[3100] = [1, 2]
    text = json.dumps({"Records": recs}, indent=2 if pretty else None)
    assert len(text) > 3 * readers.CHUNK
    want = json.loads(text)["Records"]
    for name, data in (("a.json", text.encode()), ("a.json.gz", gzip.compress(text.encode()))):
        (tmp_path / name).write_bytes(data)
        got = list(readers.read_json(tmp_path / name))
        assert [o for o, _ in got] == [f"{tmp_path / name}#{i}" for i in range(len(want))]
        assert isinstance(got[3100][1], RejectRecord) and "not a JSON object" in str(got[3100][1])
        same = [r for i, (_, r) in enumerate(got) if i != 3100]
        assert json.dumps(same) == json.dumps([r for i, r in enumerate(want) if i != 3100])  # NaN == NaN as text
        assert same[2600]["huge"] == 1 << 70


def test_batched_array_reading_falls_back_on_malformed_element(tmp_path: Path) -> None:
    """A malformed element after many good ones, inside a batch window: every good record before it is read, then the
    element is rejected as before (reading of an array stops there)."""
    from slake_forensics.importers import readers

    good = [json.dumps({"eventVersion": "1.09", "n": i, "pad": "q" * 300}) for i in range(5000)]
    text = '{"Records": [' + ",".join(good[:3000]) + ',{"eventVersion": "1.09", "n": oops},' + ",".join(good[3000:]) + "]}"
    (tmp_path / "m.json").write_text(text)
    got = list(readers.read_json(tmp_path / "m.json"))
    assert [r["n"] for _, r in got[:3000]] == list(range(3000))
    assert len(got) == 3001 and isinstance(got[3000][1], RejectRecord) and "malformed JSON" in str(got[3000][1])


def test_long_digit_runs_inside_strings_keep_batched_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Strings full of digits (Terraform's ``tf-…-20240731142344425800000001`` request ids) still decode in orjson
    batches; only a JSON *number* of 20 or more digits (after ``:``, ``[`` or ``,``) is decoded one at a time, exactly."""
    from slake_forensics.importers import readers

    one_at_a_time = []
    real_value = readers._Stream.value
    monkeypatch.setattr(readers._Stream, "value", lambda s: one_at_a_time.append(1) or real_value(s))
    recs = [{"eventTime": "2024-03-01T00:00:00Z", "requestParameters": {"creatorRequestId": f"tf-cfg-2024073114234442580000{i:04d}"}}
            for i in range(3000)]
    (tmp_path / "ids.json").write_text(json.dumps({"Records": recs}))
    assert [r for _, r in readers.read_json(tmp_path / "ids.json")] == recs
    assert len(one_at_a_time) <= 1, len(one_at_a_time)  # at most the last element, which no "}," follows
    recs[10] = {**recs[10], "huge": [-(1 << 70), 1]}
    (tmp_path / "big.json").write_text(json.dumps({"Records": recs}))
    got = [r for _, r in readers.read_json(tmp_path / "big.json")]
    assert got == recs and got[10]["huge"][0] == -(1 << 70) and len(one_at_a_time) > 10


@pytest.mark.parametrize("shape", ["records", "ndjson", "pretty"])
def test_lone_surrogate_escape_rejects_that_record_only(tmp_path: Path, shape: str) -> None:
    """``"\\ud800"`` alone is valid JSON text but not Unicode: Python's decoder accepts it and Parquet cannot store
    it. That record goes to the rejects file, raw and with a reason; the records around it, including one with a
    proper surrogate pair (an emoji), are imported, on the CloudTrail importer's column-wise and per-record paths."""
    base = {"eventVersion": "1.09", "eventTime": "2024-03-01T00:00:00Z", "eventSource": "s3.amazonaws.com",
            "eventName": "ListBuckets", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
            "userIdentity": {"type": "IAMUser", "accountId": ACCT, "arn": f"arn:aws:iam::{ACCT}:user/a"},
            "recipientAccountId": ACCT, "eventID": "e0"}
    recs = [{**base, "eventID": f"e{i}", "userAgent": "ok \U0001F600" if i == 3 else "cli"} for i in range(6)]
    bad = json.dumps({**base, "eventID": "bad", "requestParameters": {"bucketName": "x"}}).replace('"x"', '"x\\ud800y"')
    good = [json.dumps(r) for r in recs]
    if shape == "records":
        text = '{"Records": [' + ",".join(good[:2] + [bad] + good[2:]) + "]}"
    elif shape == "ndjson":
        text = "\n".join(good[:2] + [bad] + good[2:]) + "\n"
    else:
        text = json.dumps(json.loads(bad), indent=2) + "\n" + "\n".join(good) + "\n"
    (tmp_path / "in.json").write_text(text)
    out = tmp_path / "lake"
    s = pipeline.import_logs("cloudtrail", [tmp_path / "in.json"], out, progress=False)
    rej = [json.loads(x) for x in (out / pipeline.REJECTS).read_text().splitlines()]
    assert (s.records_in, s.records_out, s.rejected) == (7, 6, 1)
    assert "unpaired UTF-16 surrogate" in rej[0]["reason"] and "\\ud800" in rej[0]["raw"]
    rows = Lake.local(out).load("cloud_trail_mgmt", "2024-03-01T00:00Z", "2024-03-02T00:00Z")
    assert sorted(rows["metadata.uid"]) == sorted(f"e{i}" for i in range(6))
    assert "ok \U0001F600" in set(rows["http_request.user_agent"])
