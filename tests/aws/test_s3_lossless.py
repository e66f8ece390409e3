"""Damaged lakes on the S3 engine (moto server) answer as the local engine over the same files: same rows,
same counts, the same files reported (named by their ``s3://`` URI), ``on_error='skip'``; the download
cache re-fetches a damaged copy."""
from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from aws_fixtures import s3_copy_of

from slake_forensics.core.errors import CorruptFileError, MisplacedFileError, SchemaMismatchError
from slake_forensics.lake import Lake

START, END = pd.Timestamp("2026-03-01T00:00:00Z"), pd.Timestamp("2026-03-04T00:00:00Z")
COUNT = "SELECT count(*) AS n FROM cloud_trail_mgmt"


def _set(table: pa.Table, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def _shift(t: pa.Table) -> pa.Table:
    hours = 20 * 3_600_000  # most rows land on the next day, still inside the window
    return _set(_set(t, "time_dt", pc.add(t["time_dt"], pa.scalar(hours, pa.duration("ms")))), "time", pc.add(t["time"], hours))


#: damage -> (change to the table, or None for a truncated file; error raised by default; rows lost with on_error='skip')
DAMAGE: dict[str, tuple[Callable[[pa.Table], pa.Table] | None, type[Exception] | None, bool]] = {
    "truncated": (None, CorruptFileError, True),
    "foreign_class": (lambda t: _set(t, "class_uid", pa.array([4001] * t.num_rows, pa.int32())), MisplacedFileError, True),
    "unparseable_time_dt": (lambda t: _set(t, "time_dt", pa.array(["not a time"] * t.num_rows)), SchemaMismatchError, True),
    "naive_ns_time_dt": (lambda t: _set(t, "time_dt", t["time_dt"].cast(pa.timestamp("ns"))), None, False),
    "string_severity_id": (lambda t: _set(t, "severity_id", t["severity_id"].cast(pa.string())), None, False),
    "outside_day": (_shift, None, False),
}


def _messages(call: Callable[[], object]) -> tuple[object, str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, " | ".join(f"{w.category.__name__}: {w.message}" for w in caught)


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_file_gives_the_same_rows_counts_and_report_on_s3_and_local(aws, local_lake_root, tmp_path, damage):
    change, error, lost = DAMAGE[damage]
    root = tmp_path / "lake"
    shutil.copytree(local_lake_root, root)
    intact = len(Lake.local(str(root)).load("cloud_trail_mgmt", START, END))
    victim = sorted(root.glob("aws/CLOUD_TRAIL_MGMT/2.0/**/eventDay=20260302/*.parquet"))[0]
    key = victim.relative_to(root).as_posix()
    rows = pq.read_metadata(victim).num_rows
    if change is None:
        victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    else:
        pq.write_table(change(pq.read_table(victim)), victim)
    s3, local = s3_copy_of(root, tmp_path)
    uri = f"{s3.location}/{key}"

    if error is not None:  # by default the load stops, naming the object
        with pytest.raises(error, match=victim.name) as info:
            s3.load("cloud_trail_mgmt", START, END)
        assert uri in str(info.value) and "on_error='skip'" in str(info.value) or error is MisplacedFileError
        with pytest.raises(error, match=victim.name):
            local.load("cloud_trail_mgmt", START, END)
    got, said_s3 = _messages(lambda: s3.load("cloud_trail_mgmt", START, END, on_error="skip"))
    want, said_local = _messages(lambda: local.load("cloud_trail_mgmt", START, END, on_error="skip"))
    assert isinstance(got, pd.DataFrame) and isinstance(want, pd.DataFrame)
    pd.testing.assert_frame_equal(got, want)
    assert len(got) == intact - (rows if lost else 0)  # nothing but the damaged file's rows is lost
    assert got.attrs["skipped_files"] == ([uri] if lost else []) and want.attrs["skipped_files"] == ([str(victim)] if lost else [])
    if lost:
        assert "SkippedFileWarning: Skipping a file: " in said_s3 and uri in said_s3 and str(victim) in said_local
    if damage == "outside_day":
        moved = int(pc.sum(pc.greater_equal(pq.read_table(victim)["time"], int(pd.Timestamp("2026-03-03T00:00Z").value // 10**6))).as_py())
        detail = f"{moved} of {rows} row(s) lie outside its partition day eventDay=20260302"
        assert moved > 0 and got.attrs["outside_day"] == {uri: want.attrs["outside_day"][str(victim)]}
        assert f"{uri}: {detail}" in said_s3 and f"{key}: {detail}" in said_local
        assert "OutsideDayWarning" in said_s3 and "OutsideDayWarning" in said_local
    else:
        assert "OutsideDayWarning" not in said_s3 + said_local

    if damage == "truncated":  # an unreadable object stops a query, named by its URI
        with pytest.raises(CorruptFileError, match=victim.name) as caught:
            s3.sql(COUNT, start=START, end=END)
        assert uri in str(caught.value) and "slake-s3-" not in str(caught.value)
        return
    n_s3, said_s3 = _messages(lambda: s3.sql(COUNT, start=START, end=END))
    n_local, said_local = _messages(lambda: local.sql(COUNT))
    assert isinstance(n_s3, pd.DataFrame) and isinstance(n_local, pd.DataFrame)
    assert n_s3.iloc[0]["n"] == n_local.iloc[0]["n"] == intact - (rows if lost else 0)
    if lost:
        assert uri in said_s3 and key in said_local and n_s3.attrs["skipped_files"] == [uri]


def test_a_damaged_file_in_the_download_cache_is_fetched_again(aws, local_lake_root, tmp_path):
    s3, local = s3_copy_of(local_lake_root, tmp_path)
    first = s3.sql(COUNT, start=START, end=END)
    cached = sorted((tmp_path / "cache").rglob("*.parquet"))
    assert len(cached) == len(list(local_lake_root.rglob("*.parquet")))
    original = {p: p.read_bytes() for p in cached}
    cached[0].write_bytes(original[cached[0]][:100])  # truncated
    flipped = bytearray(original[cached[1]])
    flipped[len(flipped) // 2] ^= 0xFF  # same size, other content: the ETag (MD5) tells
    cached[1].write_bytes(bytes(flipped))
    again = s3.sql(COUNT, start=START, end=END)
    assert again.iloc[0]["n"] == first.iloc[0]["n"] == local.sql(COUNT).iloc[0]["n"]
    assert all(p.read_bytes() == original[p] for p in cached)


@pytest.mark.parametrize("day", ["2026-13-45", "20261345"])
def test_a_bad_partition_folder_is_reported_alike_on_s3_and_local(aws, local_lake_root, tmp_path, day):
    root = tmp_path / "lake"
    shutil.copytree(local_lake_root, root)
    good = sorted(root.glob("aws/CLOUD_TRAIL_MGMT/2.0/**/eventDay=20260302/*.parquet"))[0]
    bad = Path(str(good.parent).replace("eventDay=20260302", f"eventDay={day}")) / good.name
    bad.parent.mkdir(parents=True)
    shutil.copyfile(good, bad)
    key = bad.relative_to(root).as_posix()
    s3, local = s3_copy_of(root, tmp_path)
    uri = f"{s3.location}/{key}"
    reason = f"bad partition folder 'eventDay={day}'"
    listed, said = _messages(s3.sources)
    assert f"{uri} ({reason}" in said
    assert isinstance(listed, pd.DataFrame) and listed.set_index("source").loc["cloud_trail_mgmt", "skipped_files"] == 1
    got, said_s3 = _messages(lambda: s3.load("cloud_trail_mgmt", START, END))
    want, said_local = _messages(lambda: local.load("cloud_trail_mgmt", START, END))
    assert isinstance(got, pd.DataFrame) and isinstance(want, pd.DataFrame)
    pd.testing.assert_frame_equal(got, want)
    assert f"{uri} ({reason}" in said_s3 and f"{key} ({reason}" in said_local
    n_s3, said_s3 = _messages(lambda: s3.sql(COUNT, start=START, end=END))
    n_local, said_local = _messages(lambda: local.sql(COUNT))
    assert isinstance(n_s3, pd.DataFrame) and isinstance(n_local, pd.DataFrame)
    assert n_s3.iloc[0]["n"] == n_local.iloc[0]["n"] == len(want)
    assert f"{uri} ({reason}" in said_s3 and n_s3.attrs["skipped_files"] == [uri]
    assert n_local.attrs["skipped_files"] == [str(bad)]
