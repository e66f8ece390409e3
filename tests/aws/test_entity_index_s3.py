"""The entity index of an S3 lake (moto): keyed by ETag, pivots equal to the local lake's scan."""
from __future__ import annotations

from pathlib import Path

import boto3
import pandas as pd
import pyarrow.parquet as pq
import pytest

from slake_forensics.analysis import entity_index, pivot as pivot_module
from slake_forensics.lake import Lake

from aws_fixtures import REGION

WINDOW = {"start": "2026-03-01T00:00:00Z", "end": "2026-03-04T00:00:00Z"}


@pytest.fixture
def lakes(s3_lake_bucket: str, local_lake_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Lake, Lake]:
    monkeypatch.setenv("SLAKE_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setattr(entity_index, "_OPEN", {})
    s3 = Lake.s3(f"s3://{s3_lake_bucket}", REGION)
    s3.cache_dir = tmp_path / "cache"
    return s3, Lake.local(str(local_lake_root))


def test_s3_index_is_keyed_by_etag_and_pivots_equal_the_scan(lakes, s3_lake_bucket, monkeypatch):
    s3, local = lakes
    ips = local.load("cloud_trail_mgmt", **WINDOW)["src_endpoint.ip"].dropna().unique().tolist()
    with monkeypatch.context() as m:
        m.setattr(pivot_module, "index_of", lambda lake: None)
        want = {ip: local.pivot(ip=ip, progress=False, **WINDOW) for ip in ips[:3]}
    index = s3.build_index(progress=False)
    files = pq.read_table(index.path / "files.parquet").to_pandas()
    client = boto3.client("s3", region_name=REGION)
    etags = {k: client.head_object(Bucket=s3_lake_bucket, Key=k)["ETag"].strip('"') for k in files["key"]}
    assert len(files) > 0 and files["stamp"].tolist() == [etags[k] for k in files["key"]]
    for ip, expected in want.items():
        got = s3.pivot(ip=ip, progress=False, **WINDOW)
        assert len(expected) > 0 and got.attrs["index"]["cloud_trail_mgmt"][0] <= got.attrs["index"]["cloud_trail_mgmt"][1]
        pd.testing.assert_frame_equal(got, expected)
    absent = s3.pivot(ip="203.0.113.250", progress=False, **WINDOW)
    assert len(absent) == 0 and absent.attrs["index"]["cloud_trail_mgmt"][0] == 0
    # an object rewritten with other bytes (new ETag) is re-indexed by the next pivot
    key, other = files["key"].iloc[0], files["key"].iloc[1]
    client.put_object(Bucket=s3_lake_bucket, Key=key, Body=s3._cached(other).read_bytes())
    s3._cached(key).unlink()  # the cache holds keys as immutable; this test rewrote one
    s3.pivot(ip=ips[0], progress=False, **WINDOW)
    assert index.last_update["indexed"] == 1
