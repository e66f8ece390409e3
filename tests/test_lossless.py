"""Damaged lakes lose nothing on the local engine: a drifted column type is reconciled (or its file skipped
by name), bad partition names, files of another source and rows outside their partition day are reported
with the file and counts, and random damage to a file ends in a clear error or a skip report, never a raw
library traceback nor a lost intact file."""
from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fixture_lake import DAY0, DAYS, build_fixture_lake
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slake_forensics.core.errors import CorruptFileError, MisplacedFileError, SchemaMismatchError, SlakeError
from slake_forensics.engines.local import OutsideDayWarning, SkippedFileWarning
from slake_forensics.lake import Lake

END = DAY0 + pd.Timedelta(days=DAYS)
COUNT = "SELECT count(*) AS n FROM cloud_trail_mgmt"
ACCOUNT = "111111111111"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("intact")
    build_fixture_lake(root)
    return root


@pytest.fixture(scope="module")
def intact(base: Path) -> dict[str, object]:
    """What the intact lake answers: CloudTrail rows, a load, the pivot on one account."""
    lake = Lake.local(str(base))
    return {
        "rows": len(lake.load("cloud_trail_mgmt", DAY0, END)),
        "load": lake.load("cloud_trail_mgmt", DAY0, END),
        "pivot": lake.pivot(account=ACCOUNT, start=DAY0, end=END, sources=["cloud_trail_mgmt"], progress=False),
        "severe": lake.sql(COUNT + " WHERE severity_id >= 2").iloc[0]["n"],
    }


def _copy(base: Path, tmp: Path) -> Path:
    root = tmp / "lake"
    shutil.copytree(base, root)
    return root


def _victim(root: Path) -> Path:
    return sorted(root.glob("aws/CLOUD_TRAIL_MGMT/2.0/**/*.parquet"))[0]


def _set(table: pa.Table, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def _rewrite(path: Path, change: Callable[[pa.Table], pa.Table]) -> int:
    table = change(pq.read_table(path))
    pq.write_table(table, path)
    return table.num_rows


DRIFTS: dict[str, Callable[[pa.Table], pa.Table]] = {
    # what pandas writes by default: zone-less nanoseconds
    "naive_ns_time_dt": lambda t: _set(t, "time_dt", t["time_dt"].cast(pa.timestamp("ns"))),
    "utc_us_time_dt": lambda t: _set(t, "time_dt", t["time_dt"].cast(pa.timestamp("us", tz="UTC"))),
    "iso_string_time_dt": lambda t: _set(t, "time_dt", pc.strftime(t["time_dt"], "%Y-%m-%dT%H:%M:%SZ")),
    "zoneless_string_time_dt": lambda t: _set(t, "time_dt", pc.strftime(t["time_dt"], "%Y-%m-%d %H:%M:%S")),
    "string_severity_id": lambda t: _set(t, "severity_id", t["severity_id"].cast(pa.string())),
    "int64_severity_id": lambda t: _set(t, "severity_id", t["severity_id"].cast(pa.int64())),
}


@pytest.mark.parametrize("drift", list(DRIFTS))
def test_a_drifted_column_type_in_one_file_is_reconciled_everywhere(base, intact, tmp_path, drift):
    root = _copy(base, tmp_path)
    _rewrite(_victim(root), DRIFTS[drift])
    lake = Lake.local(str(root))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing skipped, nothing reported: every row is read
        loaded = lake.load("cloud_trail_mgmt", DAY0, END)
        pd.testing.assert_frame_equal(loaded, intact["load"])
        assert lake.sql(COUNT).iloc[0]["n"] == intact["rows"]
        within = lake.sql(COUNT + " WHERE time_dt >= ? AND time_dt < ?", [DAY0, END])
        assert within.iloc[0]["n"] == intact["rows"]
        assert lake.sql(COUNT + " WHERE severity_id >= 2").iloc[0]["n"] == intact["severe"]
        pivot = lake.pivot(account=ACCOUNT, start=DAY0, end=END, sources=["cloud_trail_mgmt"], progress=False)
        pd.testing.assert_frame_equal(pivot, intact["pivot"])


@pytest.mark.parametrize("hunt", ["console_login_without_mfa", "new_source_ip_for_principal"])
def test_hunts_on_the_bundled_lake_with_drifted_files_find_what_they_find_on_the_intact_one(tmp_path, hunt):
    intact_lake = Lake.sample()
    root = tmp_path / "sample"
    shutil.copytree(Path(intact_lake.location) / "aws", root / "aws")
    trails = sorted(root.glob("aws/CLOUD_TRAIL_MGMT/2.0/**/*.parquet"))
    _rewrite(trails[-1], DRIFTS["naive_ns_time_dt"])
    _rewrite(trails[-2], DRIFTS["string_severity_id"])
    lake = Lake.local(str(root), now=intact_lake.now)
    start, end = intact_lake.now - pd.Timedelta(days=14), intact_lake.now
    want = intact_lake.hunt(hunt, start, end)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkippedFileWarning)
        got = lake.hunt(hunt, start, end)
    assert len(want) > 0
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False)


def test_a_drifted_column_that_cannot_be_reconciled_skips_its_file_by_name(base, intact, tmp_path):
    root = _copy(base, tmp_path)
    victim = _victim(root)
    lost = _rewrite(victim, lambda t: _set(t, "time_dt", pa.array(["not a time"] * t.num_rows)))
    lake = Lake.local(str(root))
    with pytest.warns(SkippedFileWarning, match=victim.name):
        listed = lake.sources().set_index("source").loc["cloud_trail_mgmt"]
    assert listed["rows"] == intact["rows"] - lost and listed["skipped_files"] == 1
    with pytest.raises(SchemaMismatchError, match=victim.name) as info:
        lake.load("cloud_trail_mgmt", DAY0, END)
    assert "time_dt" in str(info.value) and "on_error='skip'" in str(info.value)
    with pytest.warns(SkippedFileWarning, match=victim.name):
        df = lake.load("cloud_trail_mgmt", DAY0, END, on_error="skip")
    assert df.attrs["skipped_files"] == [str(victim)] and len(df) == intact["rows"] - lost
    with pytest.warns(SkippedFileWarning, match=victim.name):
        counted = lake.sql(COUNT)
    assert counted.iloc[0]["n"] == intact["rows"] - lost
    assert counted.attrs["skipped_files"] == [str(victim)]
    with pytest.warns(SkippedFileWarning, match=victim.name):
        pivot = lake.pivot(account=ACCOUNT, start=DAY0, end=END, sources=["cloud_trail_mgmt"], progress=False)
    rows = pq.read_table(victim)
    in_victim = sum(1 for a in rows["accountid"].to_pylist() if a == ACCOUNT)
    assert len(pivot) == len(intact["pivot"]) - in_victim


@pytest.mark.parametrize("day", ["2026-13-45", "20261345"])
def test_bad_partition_names_are_reported_with_the_file(base, intact, tmp_path, day):
    root = _copy(base, tmp_path)
    victim = _victim(root)
    bad = Path(str(victim.parent).replace("eventDay=20240301", f"eventDay={day}")) / victim.name
    bad.parent.mkdir(parents=True)
    shutil.copyfile(victim, bad)
    lake = Lake.local(str(root))
    key = bad.relative_to(root).as_posix()
    with pytest.warns(SkippedFileWarning, match=f"eventDay={day}") as caught:
        listed = lake.sources()
    assert key in " ".join(str(w.message) for w in caught)
    assert listed.set_index("source").loc["cloud_trail_mgmt", "rows"] == intact["rows"]
    assert listed.set_index("source").loc["cloud_trail_mgmt", "skipped_files"] == 1
    with pytest.warns(SkippedFileWarning, match=f"eventDay={day}"):
        assert len(lake.load("cloud_trail_mgmt", DAY0, END)) == intact["rows"]


def test_a_file_of_another_source_is_reported_and_not_counted(base, intact, tmp_path):
    root = _copy(base, tmp_path)
    vpc = sorted(root.glob("aws/VPC_FLOW/2.0/**/*.parquet"))[0]
    foreign = _victim(root).parent / "vpc_copy.parquet"
    shutil.copyfile(vpc, foreign)
    lake = Lake.local(str(root))
    with pytest.warns(SkippedFileWarning, match="vpc_copy.parquet.*class_uid \\[4001\\]"):
        assert lake.sources().set_index("source").loc["cloud_trail_mgmt", "rows"] == intact["rows"]
    with pytest.raises(MisplacedFileError, match="vpc_copy.parquet"):
        lake.load("cloud_trail_mgmt", DAY0, END)
    with pytest.warns(SkippedFileWarning, match="vpc_copy.parquet"):
        assert len(lake.load("cloud_trail_mgmt", DAY0, END, on_error="skip")) == intact["rows"]
    with pytest.warns(SkippedFileWarning, match="vpc_copy.parquet"):
        assert lake.sql(COUNT).iloc[0]["n"] == intact["rows"]


def test_rows_outside_their_partition_day_are_reported_with_counts(base, intact, tmp_path):
    root = _copy(base, tmp_path)
    victim = _victim(root)
    two_days = 2 * 86_400_000
    n = _rewrite(victim, lambda t: _set(
        _set(t, "time_dt", pc.add(t["time_dt"], pa.scalar(two_days, pa.duration("ms")))), "time", pc.add(t["time"], two_days)
    ))
    lake = Lake.local(str(root))
    said = f"{victim.relative_to(root).as_posix()}: {n} of {n} row(s) lie outside its partition day eventDay=20240301"
    for call in (
        lambda: lake.sources(),
        lambda: lake.load("cloud_trail_mgmt", DAY0, END),
        lambda: lake.sql(COUNT),
        lambda: lake.pivot(account=ACCOUNT, start=DAY0, end=END, sources=["cloud_trail_mgmt"], progress=False),
    ):
        with pytest.warns(OutsideDayWarning) as caught:
            result = call()
        assert said in " ".join(str(w.message) for w in caught)
    # kept, and counted alike by load and sql over the window that holds both the file's day and its rows
    with pytest.warns(OutsideDayWarning):
        loaded = lake.load("cloud_trail_mgmt", DAY0, END)
    assert len(loaded) == intact["rows"] and loaded.attrs["outside_day"][str(victim)].startswith(f"{n} of {n}")
    with pytest.warns(OutsideDayWarning):
        assert lake.sql(COUNT + " WHERE time_dt >= ? AND time_dt < ?", [DAY0, END]).iloc[0]["n"] == intact["rows"]
    assert result is not None


def _damage(path: Path, data: st.DataObject) -> None:
    raw = bytearray(path.read_bytes())
    if data.draw(st.booleans(), label="truncate"):
        del raw[data.draw(st.integers(0, len(raw) - 1), label="cut at") :]
    else:
        for offset in data.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=8), label="flip at"):
            raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_damage_to_one_file_gives_a_clear_error_or_a_skip_report(base, intact, data):
    with tempfile.TemporaryDirectory() as tmp:
        root = _copy(base, Path(tmp))
        victim = _victim(root)
        rows = pq.read_metadata(victim).num_rows
        _damage(victim, data)
        lake = Lake.local(str(root))
        try:
            df = lake.load("cloud_trail_mgmt", DAY0, END, on_error="skip")
        except SlakeError:
            pass  # a message that says what to do, never a raw library error
        else:
            # every intact file's rows are there; the damaged file's rows are there or it is named as skipped
            expected = intact["rows"] - (rows if str(victim) in df.attrs["skipped_files"] else 0)
            assert len(df) == expected or (not df.attrs["skipped_files"] and len(df) >= intact["rows"] - rows)
        try:
            lake.sql(COUNT)
        except SlakeError as exc:
            assert isinstance(exc, CorruptFileError | SchemaMismatchError) and victim.name in str(exc)


def test_a_footer_byte_that_leaves_a_column_name_not_utf8_is_a_damaged_file(base, intact, tmp_path):
    # the failure hypothesis found: pyarrow reads such a footer, then fails only when the name is decoded
    root = _copy(base, tmp_path)
    victim = _victim(root)
    rows = pq.read_metadata(victim).num_rows
    raw = bytearray(victim.read_bytes())
    at = raw.find(b"\x18\x0ccategory_uid")  # the name's schema element in the footer (Thrift: type, length, bytes)
    assert at > 0
    raw[at + 2] ^= 0xFF
    victim.write_bytes(bytes(raw))
    lake = Lake.local(str(root))
    with pytest.raises(CorruptFileError, match=victim.name):
        lake.load("cloud_trail_mgmt", DAY0, END)
    with pytest.warns(SkippedFileWarning, match=victim.name):
        df = lake.load("cloud_trail_mgmt", DAY0, END, on_error="skip")
    assert df.attrs["skipped_files"] == [str(victim)] and len(df) == intact["rows"] - rows
    with pytest.warns(SkippedFileWarning):
        listed = lake.sources()
    reasons = {key: reason for key, reason in listed.attrs["skipped"].items() if key.endswith(victim.name)}
    assert len(reasons) == 1 and next(iter(reasons.values())).startswith("unreadable"), listed.attrs["skipped"]
