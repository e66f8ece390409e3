"""S3Lake against a moto bucket: the same frames as the local engine, reading only the window's files."""
from __future__ import annotations

from pathlib import Path

import awswrangler as wr
import pandas as pd
import pytest

from slake_forensics.core.errors import BadConfigError, NoPartitionsError
from slake_forensics.lake import Lake
from slake_forensics.core.timewindow import Window

from aws_fixtures import ACCOUNTS, REGION

WINDOWS = [
    ("2026-03-01T00:00:00Z", "2026-03-04T00:00:00Z"),  # everything
    ("2026-03-01T06:00:00Z", "2026-03-02T00:00:00.001Z"),  # includes the 03-02 midnight event
    ("2026-03-02T12:30:00.5Z", "2026-03-03T01:00:00Z"),
]


@pytest.fixture
def lakes(s3_lake_bucket: str, local_lake_root: Path, tmp_path: Path) -> tuple[Lake, Lake]:
    s3 = Lake.s3(f"s3://{s3_lake_bucket}", REGION)
    s3.cache_dir = tmp_path / "cache"
    return s3, Lake.local(str(local_lake_root))


@pytest.mark.parametrize("start,end", WINDOWS)
def test_load_equals_local(lakes, start, end):
    s3, local = lakes
    got = s3.load("cloud_trail_mgmt", start, end)
    want = local.load("cloud_trail_mgmt", start, end)
    assert len(want) > 0
    pd.testing.assert_frame_equal(got, want)
    assert got.attrs["window"] == want.attrs["window"]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(accounts=[ACCOUNTS[1]]),
        dict(regions="eu-west-1"),
        dict(accounts=ACCOUNTS[0], regions=["us-east-1"], columns=["time_dt", "actor.user", "resources", "unmapped"]),
        dict(columns=["unmapped", "metadata.profiles", "time", "actor.session.created_time_dt", "is_mfa"]),
    ],
)
def test_load_with_filters_and_columns_equals_local(lakes, kwargs):
    s3, local = lakes
    start, end = "2026-03-01T12:00:00Z", "2026-03-03T12:00:00Z"
    pd.testing.assert_frame_equal(s3.load("cloud_trail_mgmt", start, end, **kwargs), local.load("cloud_trail_mgmt", start, end, **kwargs))


def test_only_the_windows_files_are_read(lakes, local_lake_root, monkeypatch):
    s3, local = lakes
    read: list[str] = []
    real = wr.s3.read_parquet

    def spy(path, *args, **kwargs):
        read.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(wr.s3, "read_parquet", spy)
    window = Window.of("2026-03-02T00:00:00Z", "2026-03-02T18:00:00Z")
    df = s3.load("cloud_trail_mgmt", window.start, window.end, accounts=[ACCOUNTS[0]])
    want = [p.relative_to(local_lake_root).as_posix() for p in local.files("cloud_trail_mgmt", window, [ACCOUNTS[0]])]
    assert len(want) == 2  # one account x two regions x one day, out of 12 files
    assert sorted(read) == df.attrs["files"] == [f"{s3.location}/{k}" for k in want]


def test_no_partitions_and_bad_uri(lakes):
    s3, _ = lakes
    with pytest.raises(NoPartitionsError, match="Widen the window"):
        s3.load("cloud_trail_mgmt", "2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z")
    with pytest.raises(BadConfigError, match="not an S3 URI"):
        Lake.s3("s3://Not_A_Bucket", REGION)


def test_sources_from_listings(lakes):
    s3, _ = lakes
    df = s3.sources()
    assert df["source"].tolist() == ["cloud_trail_mgmt"]
    row = df.iloc[0]
    assert row["accounts"] == sorted(ACCOUNTS)
    assert row["regions"] == ["eu-west-1", "us-east-1"]
    assert row["first_event"] == pd.Timestamp("2026-03-01", tz="UTC")
    assert row["last_event"] == pd.Timestamp("2026-03-03T23:59:59.999", tz="UTC")


def test_sql_downloads_the_window_and_runs_locally(lakes, tmp_path):
    s3, local = lakes
    text = (
        "SELECT accountid, count(*) AS n FROM amazon_security_lake_glue_db_us_east_1."
        "amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0 "
        "WHERE time_dt >= from_iso8601_timestamp(?) AND time_dt < from_iso8601_timestamp(?) "
        "GROUP BY accountid ORDER BY accountid"
    )
    params = ["2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"]
    got = s3.sql(text, params, start="2026-03-02T00:00:00Z", end="2026-03-03T00:00:00Z")
    want = local.sql(text, params)
    pd.testing.assert_frame_equal(got, want)
    assert len(got.attrs["s3_files"]) == 4  # 2 accounts x 2 regions x 1 day
    cached = sorted(p for p in (tmp_path / "cache").rglob("*.parquet"))
    assert len(cached) == 4
    # a second run reuses the cache (no new files, same result)
    again = s3.sql(text, params, start="2026-03-02T00:00:00Z", end="2026-03-03T00:00:00Z")
    pd.testing.assert_frame_equal(again, want)
    assert sorted(p for p in (tmp_path / "cache").rglob("*.parquet")) == cached
    with pytest.raises(BadConfigError, match="both start= and end="):
        s3.sql(text, params, start="2026-03-02T00:00:00Z")
