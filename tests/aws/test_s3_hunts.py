"""Hunts on the S3 engine read the hunt's own window: a 14-day hunt gets the same hits as on the local engine.

Before the scope travelled to the engine, ``hunts.run`` called ``lake.sql`` without a window and the S3
engine downloaded only its default last 7 days, so half of a 14-day hunt's events were silently missing.
"""
from __future__ import annotations

from pathlib import Path

import boto3
import pandas as pd
import pytest

from slake_forensics.lake import Lake
from slake_forensics.sample.bundled import ensure_sample_lake

from aws_fixtures import REGION, lake_bucket

SOURCE_PREFIX = "aws/CLOUD_TRAIL_MGMT/2.0"


@pytest.fixture
def bucket_and_root(aws) -> tuple[str, Path]:
    """The bundled lake's 14 days of CloudTrail, uploaded to a moto bucket named like a Security Lake bucket."""
    root = Path(ensure_sample_lake())
    bucket = lake_bucket()
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=bucket)
    for path in sorted((root / SOURCE_PREFIX).rglob("*.parquet")):
        s3.upload_file(str(path), bucket, path.relative_to(root).as_posix())
    return bucket, root


def _hits(df: pd.DataFrame) -> pd.DataFrame:
    """Hits in a canonical order (list columns cannot be sort keys, so order by the rows' text)."""
    key = df.astype(str).agg("|".join, axis=1)
    return df.iloc[key.argsort(kind="stable").to_numpy()].reset_index(drop=True)


@pytest.mark.parametrize("hunt", ["console_login_without_mfa", "new_source_ip_for_principal"])
def test_fourteen_day_hunt_on_s3_equals_local(bucket_and_root, tmp_path, hunt):
    bucket, root = bucket_and_root
    local = Lake.sample()
    s3 = Lake.s3(f"s3://{bucket}", REGION)
    s3.cache_dir = tmp_path / "cache"
    s3.now = local.now
    start, end = local.now - pd.Timedelta(days=14), local.now
    want = local.hunt(hunt, start, end)
    got = s3.hunt(hunt, start, end)
    assert len(want) > 0, f"{hunt} has no hits on the bundled lake over 14 days: the comparison would prove nothing"
    first = pd.to_datetime(want[[c for c in want.columns if c.endswith("time_dt")][0]]).min()
    if hunt == "console_login_without_mfa":  # hits older than the S3 engine's own 7-day default exist
        assert first < end - pd.Timedelta(days=7)
    pd.testing.assert_frame_equal(_hits(got), _hits(want), check_dtype=False)
    # the engine downloaded the whole window (plus the hunt's baseline), not its own default 7 days
    downloaded_days = {k.split("eventDay=")[1][:8] for k in got.attrs["s3_files"]}
    assert len(downloaded_days) >= 14


def test_the_default_window_is_the_hunts_fourteen_days(bucket_and_root, tmp_path):
    bucket, _ = bucket_and_root
    local = Lake.sample()
    s3 = Lake.s3(f"s3://{bucket}", REGION)
    s3.cache_dir = tmp_path / "cache"
    s3.now = local.now
    got = s3.hunt("console_login_without_mfa")
    want = local.hunt("console_login_without_mfa")
    assert got.attrs["window"] == want.attrs["window"]
    assert got.attrs["window"][1] - got.attrs["window"][0] == pd.Timedelta(days=14)
    pd.testing.assert_frame_equal(_hits(got), _hits(want), check_dtype=False)
