"""The fast window load of a local lake (issue 16): one scan of plain files, footer facts remembered, the
sort skipped when the rows are in order; every result the same as the file-by-file read (rows,
order, dtypes, attrs).  Behaviour only: the timing is the bench's (``python -m bench --only window``)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fixture_lake import ACCOUNTS, DAY0, DAYS, REGIONS

from slake_forensics.core import ocsf
from slake_forensics.engines import local
from slake_forensics.lake import Lake, LocalLake

END = DAY0 + pd.Timedelta(days=DAYS)
DAY1 = DAY0 + pd.Timedelta(days=1)


def _local(root: Path) -> LocalLake:
    return cast(LocalLake, Lake.local(str(root)))


def _file_by_file(lake: LocalLake, source: str, start: pd.Timestamp, end: pd.Timestamp, accounts: list[str] | None,
                  columns: list[str] | None) -> pd.DataFrame:
    """The load as it was before the one-scan read: each file read by ``_read``, concatenated, sorted by time."""
    src, window, _, _, cols, paths = lake._plan(source, start, end, accounts, None, columns)
    table, skipped = lake._read_each(src, window, cols, paths, "raise")
    assert not skipped
    return ocsf.flatten(table.sort_by([(local._SORT, "ascending")]).drop_columns([local._SORT]))


CASES = [
    ("cloud_trail_mgmt", DAY1, DAY1 + pd.Timedelta(days=1), [ACCOUNTS[0]],
     ["time_dt", "accountid", "region", "api.operation", "actor.user.uid", "src_endpoint.ip", "status"]),
    ("cloud_trail_mgmt", DAY0 + pd.Timedelta(hours=5), END - pd.Timedelta(hours=7), None, None),  # time filter, every column
    ("vpc_flow", DAY0, END, None, ["time_dt", "src_endpoint", "dst_endpoint.port"]),
    ("route53", DAY0 + pd.Timedelta(hours=30), DAY0 + pd.Timedelta(hours=31), [ACCOUNTS[1]], ["time_dt", "query.hostname"]),
]


@pytest.mark.parametrize(("source", "start", "end", "accounts", "columns"), CASES)
def test_one_scan_equals_the_file_by_file_read(lake: LocalLake, source: str, start: pd.Timestamp, end: pd.Timestamp,
                                                accounts: list[str] | None, columns: list[str] | None) -> None:
    src, window, _, _, cols, paths = lake._plan(source, start, end, accounts, None, columns)
    assert len(paths) > 1
    assert lake._read_plain(src, window, cols, paths) is not None  # the fixture's files are plain: one scan
    df = lake.load(source, start, end, accounts=accounts, columns=columns)
    pd.testing.assert_frame_equal(df, _file_by_file(lake, source, start, end, accounts, columns), check_exact=True)
    assert df.attrs["files"] == [str(p) for p in paths]
    assert df.attrs["engine"] == "pyarrow"
    times = df["time_dt"]
    assert times.is_monotonic_increasing and times.min() >= start and times.max() < end


def test_rows_of_equal_time_keep_the_files_order(lake_copy: Path) -> None:
    # both regions' files of one account and day, their times cut to the hour: many ties across the files
    folders = sorted(lake_copy.glob(f"aws/CLOUD_TRAIL_MGMT/2.0/region=*/accountId={ACCOUNTS[0]}/eventDay={DAY1:%Y%m%d}"))
    assert len(folders) == len(REGIONS)
    for folder in folders:
        (path,) = folder.glob("*.parquet")
        table = pq.read_table(path)
        i = table.schema.get_field_index("time_dt")
        table = table.set_column(i, table.schema.field(i), pc.floor_temporal(table["time_dt"], unit="hour"))
        pq.write_table(table, path)
    lake = _local(lake_copy)
    end, cols = DAY1 + pd.Timedelta(days=1), ["time_dt", "region", "metadata.uid"]
    df = lake.load("cloud_trail_mgmt", DAY1, end, accounts=[ACCOUNTS[0]], columns=cols)
    assert df["time_dt"].duplicated().sum() > len(df) // 2
    pd.testing.assert_frame_equal(df, _file_by_file(lake, "cloud_trail_mgmt", DAY1, end, [ACCOUNTS[0]], cols), check_exact=True)
    first = df.groupby("time_dt", sort=False)["region"].first()  # the files are read in path order: eu-west-1 first
    assert set(first) == {"eu-west-1"}


def test_footer_facts_are_read_once_and_again_after_a_change(lake_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Path] = []
    real = local._plain_file

    def counting(path: Path, *args: Any) -> Any:
        opened.append(path)
        return real(path, *args)

    monkeypatch.setattr(local, "_plain_file", counting)
    lake = _local(lake_copy)
    first = lake.load("vpc_flow", DAY0, END, columns=["time_dt", "src_endpoint.ip"])
    paths = sorted(map(Path, first.attrs["files"]))
    assert sorted(opened) == paths
    opened.clear()
    again = lake.load("vpc_flow", DAY0, END, columns=["time_dt", "src_endpoint.ip"])
    assert opened == []  # schema, classes and time span remembered
    pd.testing.assert_frame_equal(again, first, check_exact=True)
    # a file replaced by one with fewer rows (new size and modification time) is read again, and its rows change
    changed = paths[0]
    table = pq.read_table(changed)
    pq.write_table(table.slice(0, 10), changed)
    st = changed.stat()
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    after = lake.load("vpc_flow", DAY0, END, columns=["time_dt", "src_endpoint.ip"])
    assert opened == [changed]
    assert len(after) == len(first) - table.num_rows + 10
    pd.testing.assert_frame_equal(after, _file_by_file(lake, "vpc_flow", DAY0, END, None, ["time_dt", "src_endpoint.ip"]),
                                  check_exact=True)


def test_files_of_different_schemas_are_read_file_by_file(lake_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = next(lake_copy.glob(f"aws/ROUTE53/2.0/region={REGIONS[0]}/accountId={ACCOUNTS[0]}/eventDay={DAY0:%Y%m%d}"))
    (path,) = folder.glob("*.parquet")
    table = pq.read_table(path)
    pq.write_table(table.append_column("extra_note", pa.array(["x"] * table.num_rows)), path)
    lake = _local(lake_copy)
    read: list[Path] = []
    real = local._read

    def counting(p: Path, *args: Any) -> Any:
        read.append(p)
        return real(p, *args)

    monkeypatch.setattr(local, "_read", counting)
    df = lake.load("route53", DAY0, DAY1, columns=["time_dt", "query.hostname", "extra_note"])
    assert sorted(read) == sorted(map(Path, df.attrs["files"])) and len(read) > 1
    assert (df["extra_note"] == "x").sum() == table.num_rows and df["extra_note"].isna().sum() == len(df) - table.num_rows
    assert df["time_dt"].is_monotonic_increasing


def test_ascending_needs_no_null_and_no_step_down() -> None:
    assert local._ascending(pa.chunked_array([[1, 2], [2, 5]]))
    assert local._ascending(pa.chunked_array([[]], pa.int64()))
    assert not local._ascending(pa.chunked_array([[1, 3], [2]]))
    assert not local._ascending(pa.chunked_array([[5, None, 3]]))  # a null hides the step down from pc.less_equal
