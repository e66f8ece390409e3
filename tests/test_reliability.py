"""The hostile corpus of issue 14 as tests: the case file and the Python API's inputs.

Property-based (hypothesis) where it fits: hostile strings (notes, tags, IOC and entity values with
SQL metacharacters, lone surrogates, NULs, huge strings) never give a raw traceback and never reach
SQL unbound; random window bounds give a window or a :class:`BadWindowError`.  The case file under
concurrency runs real processes (``spawn``).  docs/reliability.md maps every case to its test here.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import slake_forensics as sf
from slake_forensics.analysis.pivot import PIVOT_ENTITIES, build_query, entity_values
from slake_forensics.case import Case, CaseInputError, NotACaseError
from slake_forensics.core.errors import BadArgumentError, BadWindowError, SlakeError, UnknownSourceError
from slake_forensics.core.scope import Scope, column_list, id_list
from slake_forensics.core.timewindow import Window, to_utc

START, END = "2026-05-21T00:00Z", "2026-05-21T01:00Z"
HOSTILE = [
    "bad \ud800",
    "\udfff tail",
    "nul\x00byte",
    "' OR 1=1 --",
    "x'); DROP TABLE t; --",
    '"; SELECT read_text(\'/etc/passwd\'); --',
    "%_\\",
    "$1 ? :name {0}",
    "\u202e right-to-left",
    "🙂 emoji",
    "a" * 1_000_000,
]
# Text that includes lone surrogates and control characters (hypothesis leaves surrogates out by default).
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=200)
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def sample() -> sf.Lake:
    return sf.Lake.sample()


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


# ---- case file: hostile text ---------------------------------------------------------------------


def test_lone_surrogate_note_is_refused_and_nothing_breaks(tmp_path: Path) -> None:
    case = Case.open(tmp_path / "c", analyst="alice")
    before = (case.path / "log.jsonl").read_bytes()
    with pytest.raises(CaseInputError, match="lone surrogate"):
        case.note("bad \ud800")
    with pytest.raises(CaseInputError, match="lone surrogate"):
        case.bookmark("ev-1", "cloud_trail_mgmt", tags=["ok", "bad \udc00"])
    with pytest.raises(CaseInputError, match="lone surrogate"):
        case.export(pd.DataFrame({"a": [1]}), "e1", note="bad \ud800")
    assert (case.path / "log.jsonl").read_bytes() == before  # nothing written
    assert sorted(p.name for p in (case.path / "evidence").iterdir()) == []
    assert case.note("fine") == 1
    assert case.notes["text"].tolist() == ["fine"]
    assert len(case.timeline()) == 2
    assert case.verify().ok


def test_a_log_already_holding_a_surrogate_still_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A log written before the check (or by hand) keeps every view and the timeline working, also after retract."""
    case = Case.open(tmp_path / "c", analyst="alice")
    with monkeypatch.context() as m:
        m.setattr("slake_forensics.case.log._lone_surrogate", lambda value, where: None)
        seq = case.note("bad \ud800")
    assert b"\\ud800" in (case.path / "log.jsonl").read_bytes()
    assert case.notes["text"].tolist() == ["bad \\ud800"]  # shown escaped
    assert case.timeline()["summary"].tolist()[-1] == "bad \\ud800"
    case.retract(seq, "surrogate")
    assert case.notes.empty
    assert len(case.timeline()) == 3
    assert case.verify().ok


@PROPERTY
@given(text=ANY_TEXT, tag=ANY_TEXT)
@example(text=HOSTILE[0], tag="t")
@example(text="a" * 1_000_000, tag="\x00")
@example(text="' OR 1=1 --", tag="'); DROP TABLE t; --")
def test_hostile_case_text_is_stored_exactly_or_refused(text: str, tag: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        case = Case.open(Path(folder) / "c", analyst="alice")
        try:
            case.note(text)
            case.bookmark("ev-1", "cloud_trail_mgmt", note=text, tags=[tag])
        except CaseInputError as exc:
            assert _has_surrogate(text) or _has_surrogate(tag) or not text.strip(), exc
            assert len(case.timeline()) >= 1
            return
        assert not _has_surrogate(text + tag)
        assert case.notes["text"].tolist() == [text]
        assert case.bookmarks["tags"].tolist() == [[tag]]
        assert len(case.timeline()) == 3
        assert case.verify().ok


@PROPERTY
@given(kind=st.sampled_from(["ip", "domain", "access_key", "principal", "bucket", "instance", "user_agent",
                             "hash", "other"]), value=ANY_TEXT)
def test_hostile_ioc_values_are_normalized_or_refused(kind: str, value: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        case = Case.open(Path(folder) / "c", analyst="alice")
        try:
            case.add_ioc(kind, value)
        except CaseInputError:
            assert len(case.timeline()) == 1
            return
        assert len(case.iocs) == 1
        assert case.verify().ok


# ---- case file: bookmark sources -----------------------------------------------------------------


@pytest.mark.parametrize("source", ["../../etc/passwd", "/etc/passwd", "cloud_trail_mgmt/../../x", "ext_../x",
                                    "nope", "", " ", "cloud_trail_mgmt; DROP TABLE t", 42])
def test_bookmark_source_must_be_in_the_catalog(tmp_path: Path, source: object) -> None:
    case = Case.open(tmp_path / "c", analyst="alice")
    with pytest.raises(CaseInputError):
        case.bookmark("ev-1", source)  # type: ignore[arg-type]
    with pytest.raises(CaseInputError):
        case.bookmark(pd.DataFrame({"uid": ["ev-2"], "source": [source]}))
    assert case.bookmarks.empty


def test_bookmark_sources_of_the_catalog_and_custom_ones(tmp_path: Path) -> None:
    case = Case.open(tmp_path / "c", analyst="alice")
    case.bookmark("ev-1", "cloud_trail_mgmt")
    case.bookmark("ev-2", "amazon_security_lake_table_us_east_1_vpc_flow_2_0")
    case.bookmark("ev-3", "ext_okta_auth")
    assert case.bookmarks["source"].tolist() == [
        "cloud_trail_mgmt", "amazon_security_lake_table_us_east_1_vpc_flow_2_0", "ext_okta_auth"]


# ---- case file: evidence round trip --------------------------------------------------------------

ROUND_TRIPS = {
    "string_index": pd.DataFrame({"a": [1, 2]}, index=["x", "y"]),
    "utc_index": pd.DataFrame({"a": [1, 2]}, index=pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True)),
    "multiindex_rows": pd.DataFrame({"a": [1, 2]}, index=pd.MultiIndex.from_tuples([("x", 1), ("y", 2)],
                                                                                     names=["k", "n"])),
    "named_int_index": pd.DataFrame({"a": [1]}, index=pd.Index([5], name="i")),
    "object_lists": pd.DataFrame({"a": [[1, 2], [3]]}),
    "object_dicts": pd.DataFrame({"a": [{"x": 1}, {"x": 2}]}),
    "object_none": pd.DataFrame({"a": pd.Series(["x", None], dtype=object)}),
    "object_bytes": pd.DataFrame({"a": pd.Series([b"x", None], dtype=object)}),
    "categorical": pd.DataFrame({"a": pd.Categorical(["x", "y"])}),
    "naive_time": pd.DataFrame({"t": pd.to_datetime(["2026-01-01"])}),
    "nullable_int": pd.DataFrame({"a": pd.array([1, None], dtype="Int64")}),
    "nan_inf": pd.DataFrame({"a": [np.nan, np.inf, -0.0]}),
    "nul_text": pd.DataFrame({"a": ["a\x00b", "' OR 1=1 --"]}),
    "no_columns": pd.DataFrame(),
}
REFUSED = {
    "int_columns": pd.DataFrame({0: [1], 1: [2]}),
    "multiindex_columns": pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "b"), ("a", "c")])),
    "duplicate_columns": pd.DataFrame([[1, 2]], columns=["a", "a"]),
    "mixed_object": pd.DataFrame({"a": [1, "x"]}),
}


@pytest.mark.parametrize("name", sorted(ROUND_TRIPS))
def test_evidence_reads_back_equal(tmp_path: Path, name: str) -> None:
    case = Case.open(tmp_path / "c", analyst="alice")
    df = ROUND_TRIPS[name]
    case.export(df, name)
    back = case.read_evidence(name)
    back.attrs = {}
    pd.testing.assert_frame_equal(back, df, check_exact=True)
    assert case.verify().ok


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_evidence_that_would_not_read_back_is_refused(tmp_path: Path, name: str) -> None:
    case = Case.open(tmp_path / "c", analyst="alice")
    with pytest.raises(CaseInputError, match="Cannot (export|write)"):
        case.export(REFUSED[name], name)
    assert sorted(p.name for p in (case.path / "evidence").iterdir()) == []
    assert case.exports.empty
    assert case.verify().ok


# ---- case file under concurrency (real processes) ------------------------------------------------


def _open_and_note(folder: str, who: str, go: float) -> int:
    time.sleep(max(0.0, go - time.time()))
    return Case.open(folder, analyst=who).note(f"hello from {who}")


def _writes(folder: str, who: str, n: int) -> int:
    case = Case.open(folder, analyst=who)
    for i in range(n):
        if i % 3 == 0:
            case.note(f"{who} note {i}")
        elif i % 3 == 1:
            case.bookmark(f"{who}-ev-{i}", "vpc_flow", note=f"{who} {i}", time="2026-05-21T00:00:00Z")
        else:
            case.bookmark(f"{who}-tag-{i}", "cloud_trail_mgmt", tags=[who, f"t{i}"])
    return n


def test_two_processes_creating_the_same_case_do_not_race(tmp_path: Path) -> None:
    with mp.get_context("spawn").Pool(2) as pool:
        pool.apply(time.sleep, (0,))  # both workers started before the first round
        for r in range(12):
            folder = str(tmp_path / f"round{r}")
            go = time.time() + 0.3
            results = [pool.apply_async(_open_and_note, (folder, who, go)) for who in ("alice", "bob")]
            assert sorted(res.get(timeout=60) for res in results) == [1, 2]
            case = Case.open(folder, analyst="carol")
            kinds = case.timeline()["kind"].tolist()
            assert kinds.count("created") == 1, r
            assert sorted(case.notes["text"]) == ["hello from alice", "hello from bob"]
            assert case.verify().ok, str(case.verify())


def test_an_interrupted_creation_is_reported_not_overwritten(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    Case.open(folder, analyst="alice")
    (folder / "case.json").unlink()  # as if the creator died before its last step
    with pytest.raises(NotACaseError, match="creation was interrupted"):
        Case.open(folder, analyst="bob")
    assert (folder / "log.jsonl").exists()


def test_two_processes_times_200_writes_lose_nothing(tmp_path: Path) -> None:
    folder = str(tmp_path / "busy")
    Case.open(folder, analyst="lead")
    with mp.get_context("spawn").Pool(2) as pool:
        done = pool.starmap(_writes, [(folder, "alice", 200), (folder, "bob", 200)])
    assert done == [200, 200]
    case = Case.open(folder, analyst="lead")
    tl = case.timeline()
    assert tl["seq"].tolist() == list(range(401))
    assert len(case.notes) + len(case.bookmarks) == 400
    for who in ("alice", "bob"):
        assert (case.timeline()["analyst"] == who).sum() == 200
        assert {f"{who} note {i}" for i in range(0, 200, 3)} == {t for t in case.notes["text"] if t.startswith(who)}
    assert case.verify().ok, str(case.verify())
    lines = (case.path / "log.jsonl").read_bytes().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == list(range(401))


# ---- inputs at the edge of the Python API --------------------------------------------------------


def test_load_columns_are_checked(sample: sf.Lake) -> None:
    with pytest.raises(BadArgumentError, match=r"columns=\[\] selects nothing"):
        sample.load("waf", START, END, columns=[])
    for bad in ({"time_dt": 1}, [1], [""], b"time_dt"):
        with pytest.raises(BadArgumentError, match="columns"):
            sample.load("waf", START, END, columns=bad)  # type: ignore[arg-type]
    df = sample.load("waf", START, END, columns=["time_dt", "src_endpoint", "src_endpoint.ip", "time_dt"])
    assert not df.columns.duplicated().any()
    assert list(df.columns)[:1] == ["time_dt"] and "src_endpoint.ip" in df.columns
    assert df.attrs["source"] == "waf"


def test_load_window_and_partitions_are_checked(sample: sf.Lake) -> None:
    with pytest.raises(BadWindowError, match="ambiguous"):
        sample.load("waf", "05/21/2026", END)
    with pytest.raises(BadWindowError, match="not before end"):
        sample.load("waf", END, START)
    with pytest.raises(BadArgumentError, match="Empty accounts"):
        sample.load("waf", START, END, accounts=[])
    with pytest.raises(BadArgumentError, match="regions"):
        sample.load("waf", START, END, regions={"us-east-1": 1})


def test_pivot_arguments_are_checked(sample: sf.Lake) -> None:
    with pytest.raises(BadArgumentError, match=r"ip must be a string or a list of strings \(e.g. ip=\["):
        sample.pivot(ip={"203.0.113.7": 1}, start=START, end=END)
    with pytest.raises(BadArgumentError, match="ip values must be strings"):
        sample.pivot(ip=[1], start=START, end=END)  # type: ignore[list-item]
    with pytest.raises(BadArgumentError, match="blank"):
        sample.pivot(ip=" ", start=START, end=END)
    with pytest.raises(BadArgumentError, match=r"sources=\[\] selects no source"):
        sample.pivot(ip="203.0.113.7", sources=[], start=START, end=END)
    with pytest.raises(BadArgumentError, match="sources must be"):
        sample.pivot(ip="203.0.113.7", sources={"waf": 1}, start=START, end=END)
    with pytest.raises(UnknownSourceError):
        sample.pivot(ip="203.0.113.7", sources=["../../etc"], start=START, end=END)
    with pytest.raises(BadArgumentError, match="limit_per_source"):
        sample.pivot(ip="203.0.113.7", limit_per_source=0, start=START, end=END)
    with pytest.raises(BadArgumentError, match="at least one entity"):
        sample.pivot(start=START, end=END)
    with pytest.raises(BadWindowError, match="ambiguous"):
        sample.pivot(ip="203.0.113.7", start="05/12/2026", end=END)
    with pytest.raises(BadWindowError, match="not before end"):
        sample.pivot(ip="203.0.113.7", start=END, end=START)


def test_every_refusal_is_a_slake_error_and_keeps_builtin_types() -> None:
    assert issubclass(BadArgumentError, SlakeError)
    assert issubclass(BadArgumentError, ValueError) and issubclass(BadArgumentError, TypeError)
    with pytest.raises(BadArgumentError):
        id_list([True], "accounts")  # type: ignore[list-item]
    with pytest.raises(BadArgumentError, match="12-digit"):
        id_list(10**13, "accounts")
    assert column_list("time_dt") == ["time_dt"]
    assert id_list(123, "accounts") == ["000000000123"]


@pytest.mark.parametrize("value", HOSTILE[2:])
def test_hostile_entity_values_run_and_stay_bound(sample: sf.Lake, value: str) -> None:
    tl = sample.pivot(ip=value, principal=value, start=START, end=END, progress=False)
    assert tl.empty
    assert all(value not in q for q in tl.attrs["queries"].values())


@settings(max_examples=100, deadline=None)
@given(name=st.sampled_from(PIVOT_ENTITIES), value=ANY_TEXT)
def test_entity_values_never_change_the_sql(name: str, value: str) -> None:
    lake = sf.Lake.sample()
    window = Window.of(START, END)
    try:
        values = entity_values(name, value)
    except BadArgumentError:
        assert not value.strip()
        return
    for source in ("cloud_trail_mgmt", "vpc_flow", "route53"):
        got = build_query(lake, source, window, {name: values})
        ref = build_query(lake, source, window, {name: entity_values(name, "x" * max(1, len(value)))})
        if got is None:
            assert ref is None
            continue
        assert ref is not None and got[0] == ref[0]  # the text is the same whatever the value: values are bound
        assert set(values) <= {p for p in got[1] if isinstance(p, str)}


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_sql_parameters_come_back_unchanged(sample: sf.Lake, value: str) -> None:
    if _has_surrogate(value):
        with pytest.raises(SlakeError):
            sample.sql("SELECT ? AS v", [value], start=START, end=END)
        return
    assert sample.sql("SELECT ? AS v", [value], start=START, end=END)["v"].tolist() == [value]


# ---- random window bounds ------------------------------------------------------------------------

TIMES = st.datetimes(min_value=pd.Timestamp("1700-01-01").to_pydatetime(),
                     max_value=pd.Timestamp("2200-01-01").to_pydatetime(),
                     timezones=st.sampled_from([None, pd.Timestamp("2026-01-01", tz="UTC").tzinfo]))


@settings(max_examples=200, deadline=None)
@given(start=TIMES, end=TIMES)
def test_random_window_bounds(start: pd.Timestamp, end: pd.Timestamp) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s, e = to_utc(start), to_utc(end)
        if s >= e:
            with pytest.raises(BadWindowError, match="not before end"):
                Window.of(start, end)
            return
        w = Window.of(start.isoformat(), end.isoformat())
    assert (w.start, w.end) == (s, e)
    assert str(w.start.tz) == "UTC"


@settings(max_examples=300, deadline=None)
@given(text=ANY_TEXT)
@example(text="05/12/2026")
@example(text="2026-13-45")
@example(text="20261345")
@example(text="2026-02-30T25:61Z")
@example(text="'; DROP TABLE t; --")
@example(text="\x00")
def test_random_time_text_is_a_time_or_a_clear_error(text: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ts = to_utc(text, what="start")
        except BadWindowError as exc:
            assert "start" in str(exc)
            return
    assert str(ts.tz) == "UTC"


@pytest.mark.parametrize("bad", ["05/12/2026", "12/05/2026", "May 12 2026", "2026/05/12", "12.05.2026", "now",
                                 "", " ", "2026-05-12garbage", 20260512, 1.5, True, None, [2026, 5, 12]])
def test_ambiguous_or_mistyped_times_are_refused(bad: object) -> None:
    with pytest.raises(BadWindowError, match="start"):
        Scope.of(bad, END)


def test_explicit_format_reads_other_notations() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert to_utc("05/12/2026", format="%d/%m/%Y") == pd.Timestamp("2026-12-05", tz="UTC")
        assert to_utc("05/12/2026", format="%m/%d/%Y") == pd.Timestamp("2026-05-12", tz="UTC")
    with pytest.raises(BadWindowError, match="does not match format"):
        to_utc("2026-05-12", format="%d/%m/%Y")
