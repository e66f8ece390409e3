"""Case file: append-only hash-chained log, views across reopen, Parquet evidence with manifests, verify()."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fixture_lake import NOW

import slake_forensics as sf
from slake_forensics.case import (
    Case,
    CaseInputError,
    CaseIntegrityWarning,
    CorruptCaseError,
    EvidenceExistsError,
    NotACaseError,
    normalize_ioc,
)
from slake_forensics.lake import Lake


@pytest.fixture
def case(tmp_path: Path) -> Case:
    return Case.open(tmp_path / "IR-42", analyst="alice", title="Leaked CI key")


def _timeline(ct: pd.DataFrame) -> pd.DataFrame:
    """A timeline-shaped frame (``time, source, uid, summary``) over the fixture CloudTrail events."""
    return pd.DataFrame({
        "time": ct["time_dt"],
        "source": "cloud_trail_mgmt",
        "uid": pd.array([f"ev-{i}" for i in range(len(ct))], dtype=pd.ArrowDtype(pa.string())),
        "summary": ct["api.operation"],
    })


def _lines(case: Case) -> list[bytes]:
    return (case.path / "log.jsonl").read_bytes().splitlines()


def _failed(report: sf.case.VerifyReport) -> list[tuple[str, str]]:
    bad = report.checks[report.checks["status"] == "FAIL"]
    return list(zip(bad["check"], bad["target"]))


# ---- layout, opening ---------------------------------------------------------------------------


def test_open_creates_layout_header_and_genesis_entry(case: Case) -> None:
    names = {p.name for p in case.path.iterdir()}
    assert {"case.json", "log.jsonl", "log.head.json", "evidence", "reports"} <= names
    header = json.loads((case.path / "case.json").read_text())
    assert (header["case_id"], header["title"], header["created_by"]) == ("IR-42", "Leaked CI key", "alice")
    assert header["tool_version"] == sf.__version__ and header["created"].endswith("Z")
    (entry,) = [json.loads(line) for line in _lines(case)]
    assert entry["seq"] == 0 and entry["kind"] == "created" and entry["prev"] == "0" * 64
    assert entry["payload"]["case_json_sha256"] == hashlib.sha256((case.path / "case.json").read_bytes()).hexdigest()
    assert case.created.tz is not None and sf.Case is Case


def test_analyst_defaults_to_env_and_reopen_keeps_header(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLAKE_ANALYST", "bob")
    again = Case.open(case.path)
    assert again.analyst == "bob" and again.title == "Leaked CI key" and again.case_id == "IR-42"
    with pytest.raises(CaseInputError, match="fixed at creation"):
        Case.open(case.path, title="Another title")


def test_non_case_folder_and_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a case")
    with pytest.raises(NotACaseError, match="no case.json"):
        Case.open(tmp_path)
    with pytest.raises(NotACaseError, match="is a file"):
        Case.open(tmp_path / "notes.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # left untouched


# ---- entries and views ---------------------------------------------------------------------------


def test_entries_round_trip_across_reopen(case: Case, ct: pd.DataFrame) -> None:
    tl = _timeline(ct)
    one = case.bookmark(tl.iloc[5], note="first AccessDenied", tags="recon")
    many = case.bookmark(tl.iloc[10:13], tags=["exfil", "s3"])
    named = case.bookmark("evt-1", "vpc_flow", note="flow", time="2024-03-02T01:02:03+02:00",
                          row={"src": "10.0.0.1", "bytes": 10})
    epoch = case.bookmark("evt-2", "route53", time=1_709_251_200_123)
    assert isinstance(one, int) and many == [one + 1, one + 2, one + 3] and epoch == named + 1
    case.note("Key AKIA… used from 203.0.113.7\nsecond line")
    case.add_ioc("ip", " 203.0.113.7 ", note="scanner")
    case.add_ioc("access_key", "AKIAIOSFODNN7EXAMPLE")
    case.add_ioc("domain", "Evil.Example.COM.")
    q = case.save_query("by ip", "SELECT * FROM t WHERE src_endpoint.ip = ? AND time_dt >= ?",
                        ["203.0.113.7", NOW.to_pydatetime()])

    again = Case.open(case.path, analyst="bob")
    b = again.bookmarks
    assert list(b.columns) == ["seq", "logged_at", "analyst", "time", "source", "uid", "note", "tags", "row"]
    assert b["uid"].tolist() == ["ev-5", "ev-10", "ev-11", "ev-12", "evt-1", "evt-2"]
    assert b["time"].tolist()[:4] == [tl["time"].iloc[i] for i in (5, 10, 11, 12)]
    assert b["time"].iloc[4] == pd.Timestamp("2024-03-01T23:02:03Z")
    assert b["time"].iloc[5] == pd.Timestamp("2024-03-01T00:00:00.123Z")
    assert str(b["time"].dtype) == str(b["logged_at"].dtype) == "timestamp[us, tz=UTC][pyarrow]"
    assert b["tags"].tolist()[:2] == [["recon"], ["exfil", "s3"]] and set(b["analyst"]) == {"alice"}
    assert json.loads(b["row"].iloc[0])["summary"] == tl["summary"].iloc[5]
    assert json.loads(b["row"].iloc[4]) == {"bytes": 10, "src": "10.0.0.1"}
    assert again.notes["text"].tolist() == ["Key AKIA… used from 203.0.113.7\nsecond line"]
    iocs = again.iocs
    assert iocs[["type", "value"]].values.tolist() == [
        ["ip", "203.0.113.7"], ["access_key", "AKIAIOSFODNN7EXAMPLE"], ["domain", "evil.example.com"]]
    assert iocs["original"].iloc[0] == " 203.0.113.7 "
    qs = again.queries
    assert qs["seq"].tolist() == [q] and qs["name"].iloc[0] == "by ip"
    assert json.loads(qs["params"].iloc[0]) == ["203.0.113.7", "2024-03-03T12:00:00.000000Z"]

    again.note("bob's note")
    tl_case = Case.open(case.path).timeline()
    assert list(tl_case.columns[:4]) == ["time", "source", "uid", "summary"]
    assert tl_case["seq"].tolist() == list(range(len(tl_case)))
    assert tl_case["analyst"].iloc[-1] == "bob" and tl_case["uid"].iloc[-1] == f"IR-42#{len(tl_case) - 1}"
    assert tl_case["time"].is_monotonic_increasing and case.verify().ok


def test_retraction_appends_and_hides(case: Case) -> None:
    ioc = case.add_ioc("ip", "198.51.100.1")
    keep = case.add_ioc("ip", "198.51.100.2")
    before = (case.path / "log.jsonl").read_bytes()
    r = case.retract(ioc, "our own VPN egress")
    assert (case.path / "log.jsonl").read_bytes().startswith(before)  # appended, nothing rewritten
    assert case.iocs["seq"].tolist() == [keep]
    tl = case.timeline()
    assert tl.loc[tl["seq"] == ioc, "retracted"].item()
    assert "our own VPN egress" in tl.loc[tl["seq"] == r, "summary"].item()
    with pytest.raises(CaseInputError, match="already retracted"):
        case.retract(ioc, "again")
    with pytest.raises(CaseInputError, match="not a bookmark"):
        case.retract(0, "the genesis entry")
    with pytest.raises(CaseInputError, match="why"):
        case.retract(keep, " ")


@pytest.mark.parametrize(("type_", "value", "expected"), [
    ("ip", "2001:DB8::1", "2001:db8::1"),
    ("ip", "10.1.2.3/8", "10.0.0.0/8"),
    ("principal", "arn:aws:iam::123456789012:user/ci-deployer", "arn:aws:iam::123456789012:user/ci-deployer"),
    ("principal", "AROAEXAMPLEROLEID:i-0abc", "AROAEXAMPLEROLEID:i-0abc"),
    ("bucket", "s3://acme-payroll-exports/", "acme-payroll-exports"),
    ("instance", "i-0123456789abcdef0", "i-0123456789abcdef0"),
    ("hash", "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e"),
    ("user_agent", " aws-cli/2.15 ", " aws-cli/2.15 "),
])
def test_ioc_normalization(type_: str, value: str, expected: str) -> None:
    assert normalize_ioc(type_, value) == expected


@pytest.mark.parametrize(("type_", "value", "message"), [
    ("url", "http://x", "Unknown IOC type 'url'"),
    ("ip", "999.1.1.1", "not a valid ip"),
    ("access_key", "AKIA123", "not a valid access_key"),
    ("bucket", "Bad_Bucket", "not a valid bucket"),
    ("hash", "abc", "not a valid hash"),
    ("domain", "", "non-blank"),
])
def test_invalid_iocs_are_refused(case: Case, type_: str, value: str, message: str) -> None:
    with pytest.raises(CaseInputError, match=message):
        case.add_ioc(type_, value)
    assert len(_lines(case)) == 1


def test_bookmark_needs_uid_and_source(case: Case) -> None:
    with pytest.raises(CaseInputError, match="which source"):
        case.bookmark("evt-1")
    with pytest.raises(CaseInputError, match="no uid"):
        case.bookmark(pd.Series({"source": "vpc_flow", "time": NOW}))
    assert len(_lines(case)) == 1


# ---- evidence ----------------------------------------------------------------------------------


def test_export_round_trips_dtypes_and_records_provenance(case: Case, ct: pd.DataFrame) -> None:
    df = ct.copy()
    df.attrs = dict(ct.attrs)
    df["numpy_utc"] = pd.to_datetime(df["time"], unit="ms", utc=True)
    df["label"] = pd.Categorical(["a", "b"] * (len(df) // 2) + ["a"] * (len(df) % 2))
    kinds = {str(df[c].dtype).split("<")[0] for c in ("resources", "unmapped", "metadata.profiles", "time_dt")}
    assert kinds == {"list", "map", "timestamp[ms, tz=UTC][pyarrow]"}

    path = case.export(df, "ct_window", note="every CloudTrail event of the fixture window")
    assert path == case.path / "evidence" / "ct_window.parquet"
    back = case.read_evidence("ct_window")
    pd.testing.assert_frame_equal(back, df.reset_index(drop=True))
    assert back["unmapped"].dtype == df["unmapped"].dtype and back["numpy_utc"].dtype == df["numpy_utc"].dtype
    on_disk = pq.read_table(path).schema  # any Parquet reader sees the real nested/tz types
    assert on_disk.field("resources").type == df["resources"].dtype.pyarrow_dtype
    assert on_disk.field("time_dt").type == pa.timestamp("ms", tz="UTC")

    manifest = json.loads((case.path / "evidence" / "ct_window.manifest.json").read_text())
    data = path.read_bytes()
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest() and manifest["size_bytes"] == len(data)
    assert manifest["rows"] == len(df) and [c["name"] for c in manifest["columns"]] == list(df.columns)
    assert manifest["sql"] == ct.attrs["sql"] and manifest["params"] == ct.attrs["params"]
    assert (manifest["engine"], manifest["lake"], manifest["source"]) == ("pyarrow", ct.attrs["lake"], "cloud_trail_mgmt")
    assert manifest["window"] == {"start": "2024-03-01T00:00:00.000000Z", "end": "2024-03-04T00:00:00.000000Z"}
    assert manifest["event_span"]["first"] == "2024-03-01T00:00:00.000000Z"
    assert manifest["attrs"]["files"] == ct.attrs["files"]
    assert (manifest["analyst"], manifest["tool_version"], manifest["case_id"]) == ("alice", sf.__version__, "IR-42")
    assert pd.Timestamp(manifest["exported_at"]).tz is not None
    assert manifest["athena_query_ids"] == [] and manifest["data_scanned_bytes"] is None
    entry = json.loads(_lines(case)[-1])
    assert entry["kind"] == "export" and entry["payload"] == manifest
    exports = case.exports
    assert exports[["name", "rows", "sha256"]].values.tolist() == [["ct_window", len(df), manifest["sha256"]]]
    assert back.attrs["sha256"] == manifest["sha256"]


def test_export_of_sql_result_records_query_and_athena_ids(case: Case, lake: Lake) -> None:
    df = lake.sql(f"SELECT time_dt, api.operation, resources FROM {lake.table_name('cloud_trail_mgmt')} "
                  "WHERE time_dt >= ? ORDER BY time_dt LIMIT 5", params=[(NOW - pd.Timedelta(hours=6)).to_pydatetime()])
    df.attrs.update(query_execution_id="0f6c1d5e-athena", data_scanned_bytes=123_456)
    case.export(df, "recent")
    manifest = case.read_evidence("recent").attrs
    assert manifest["params"] == ["2024-03-03T06:00:00.000000Z"]
    assert manifest["translated_sql"] == df.attrs["translated_sql"]
    assert manifest["athena_query_ids"] == ["0f6c1d5e-athena"] and manifest["data_scanned_bytes"] == 123_456
    assert manifest["window"] is None and manifest["attrs"]["elapsed_s"] == df.attrs["elapsed_s"]
    pd.testing.assert_frame_equal(case.read_evidence("recent"), df)


def test_export_refuses_overwrite_and_bad_names(case: Case, ct: pd.DataFrame, tmp_path: Path) -> None:
    small = ct.head(3)
    case.export(small, "keys")
    before = (case.path / "evidence" / "keys.parquet").read_bytes()
    for name in ("keys", "KEYS"):
        with pytest.raises(EvidenceExistsError, match="(?i)'keys-2'"):
            case.export(ct, name)
    assert (case.path / "evidence" / "keys.parquet").read_bytes() == before
    for bad in ("../x", "..", "a/b", "a\\b", "/etc/passwd", ".hidden", "", "x.parquet", "con sole"):
        with pytest.raises(CaseInputError, match="evidence name|without an extension"):
            case.export(small, bad)
    assert not (tmp_path / "x.parquet").exists() and not (case.path / "x.parquet").exists()
    assert sorted(p.name for p in (case.path / "evidence").iterdir()) == ["keys.manifest.json", "keys.parquet"]
    (case.path / "evidence" / "keys.parquet").unlink()  # a deleted name stays taken: the log remembers it
    with pytest.raises(EvidenceExistsError):
        case.export(small, "keys")


# ---- verify --------------------------------------------------------------------------------------


@pytest.fixture
def busy_case(case: Case, ct: pd.DataFrame) -> Case:
    case.export(ct.head(50), "first50")
    case.export(ct.tail(20), "last20")
    case.note("a note")
    case.add_ioc("ip", "203.0.113.7")
    return case


def test_verify_clean(busy_case: Case) -> None:
    report = busy_case.verify()
    assert report.ok and report.problems == [] and "OK" in str(report)
    assert set(report.checks["check"]) == {"header", "log", "head", "evidence", "manifest"}
    assert report.head == hashlib.sha256(_lines(busy_case)[-1]).hexdigest()


def test_verify_detects_one_changed_byte_in_evidence(busy_case: Case) -> None:
    path = busy_case.path / "evidence" / "first50.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    report = busy_case.verify()
    assert not report.ok and _failed(report) == [("evidence", "evidence/first50.parquet")]
    assert "modified" in str(report) and "FAIL" in str(report)
    with pytest.raises(CorruptCaseError, match="no longer matches"):
        busy_case.read_evidence("first50")


def test_verify_detects_deleted_and_unexpected_files(busy_case: Case) -> None:
    (busy_case.path / "evidence" / "last20.parquet").unlink()
    (busy_case.path / "evidence" / "planted.parquet").write_bytes(b"PAR1")
    manifest = busy_case.path / "evidence" / "first50.manifest.json"
    manifest.write_text(manifest.read_text().replace('"rows": 50', '"rows": 49'))
    report = busy_case.verify()
    assert sorted(_failed(report)) == [("evidence", "evidence/last20.parquet"),
                                       ("manifest", "evidence/first50.manifest.json"),
                                       ("unexpected", "evidence/planted.parquet")]
    assert "missing" in str(report)


def test_verify_detects_edited_log_line_and_header(busy_case: Case) -> None:
    log = busy_case.path / "log.jsonl"
    log.write_bytes(log.read_bytes().replace(b'"text":"a note"', b'"text":"A note"'))
    header = busy_case.path / "case.json"
    header.write_text(header.read_text().replace("Leaked CI key", "Nothing happened"))
    report = busy_case.verify()
    note_line = next(i for i, line in enumerate(_lines(busy_case)) if b"A note" in line)
    assert sorted(_failed(report)) == [("header", "case.json"), ("log", f"log.jsonl line {note_line + 2}")]
    assert "hash chain broken" in str(report)


def test_truncated_log_is_reported_refused_and_repairable(busy_case: Case) -> None:
    log = busy_case.path / "log.jsonl"
    data = log.read_bytes()
    torn = data[: len(data) - 25]
    log.write_bytes(torn)
    report = busy_case.verify()
    assert not report.ok and "incomplete last line" in str(report)
    with pytest.warns(CaseIntegrityWarning, match="incomplete line"):
        reopened = Case.open(busy_case.path, analyst="carol")
    with pytest.raises(CorruptCaseError, match="incomplete line"):
        reopened.note("must not be written after a torn line")
    with pytest.raises(CorruptCaseError, match="incomplete line"):
        reopened.export(pd.DataFrame({"x": [1]}), "after_tear")
    assert log.read_bytes() == torn and not list((busy_case.path / "evidence").glob("after_tear*"))
    with pytest.warns(CaseIntegrityWarning, match="incomplete last line"):
        assert reopened.iocs.empty  # the IOC was the torn line: left out, and said so
    seq = reopened.repair()
    entry = json.loads(_lines(reopened)[-1])
    assert entry["kind"] == "repair" and entry["seq"] == seq
    assert entry["payload"]["head_before"]["seq"] == seq  # the cut line had been a whole entry: recorded as such
    assert entry["payload"]["removed_bytes"] == len(torn) - len(torn.rsplit(b"\n", 1)[0]) - 1
    report = reopened.verify()
    assert report.ok, str(report)
    assert reopened.repair() is None


def test_log_cut_at_a_line_boundary_is_detected_by_the_head(busy_case: Case) -> None:
    log = busy_case.path / "log.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-2]))
    report = busy_case.verify()
    assert _failed(report) == [("head", "log.head.json")] and "truncated" in str(report)
    with pytest.raises(CorruptCaseError, match="truncated"):
        busy_case.note("must not extend a truncated log")


def test_verify_of_missing_log(busy_case: Case) -> None:
    (busy_case.path / "log.jsonl").unlink()
    report = busy_case.verify()
    assert ("log", "log.jsonl") in _failed(report) and not report.ok
    with pytest.raises(CorruptCaseError, match="missing"):
        busy_case.note("nowhere to go")


# ---- concurrent writers --------------------------------------------------------------------------


def test_two_case_objects_in_threads_keep_one_chain(case: Case) -> None:
    other = Case.open(case.path, analyst="bob")
    errors: list[BaseException] = []

    def write(c: Case, n: int) -> None:
        try:
            for i in range(n):
                c.note(f"{c.analyst} {i}")
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(c, 60)) for c in (case, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    entries = [json.loads(line) for line in _lines(case)]
    assert [e["seq"] for e in entries] == list(range(121))
    assert case.verify().ok and len(other.notes) == 120


def test_two_processes_keep_one_chain(case: Case) -> None:
    script = ("import sys; from slake_forensics.case import Case\n"
              "c = Case.open(sys.argv[1], analyst=sys.argv[2])\n"
              "for i in range(40): c.note(f'{sys.argv[2]} {i}')\n")
    env = {**os.environ, "PYTHONPATH": str(Path(sf.__file__).parent.parent)}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(case.path), who], env=env) for who in ("p1", "p2")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    notes = case.notes
    assert len(notes) == 80 and set(notes["analyst"]) == {"p1", "p2"}
    report = case.verify()
    assert report.ok, str(report)


def test_window_given_as_text_is_parsed(case: Case, ct: pd.DataFrame) -> None:
    df = ct.head(2)
    df.attrs = {"window": "[2024-03-01 00:00:00+00:00, 2024-03-02 00:00:00+00:00)"}
    case.export(df, "athena_sources_shape")
    assert case.read_evidence("athena_sources_shape").attrs["window"] == {
        "start": "2024-03-01T00:00:00.000000Z", "end": "2024-03-02T00:00:00.000000Z"}
