"""S3Lake on a real-shaped lake in a moto bucket: v1 beside v2, a bad partition name and a custom
source give the same answers as the local engine over the same files."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from real_lakes import V1_FILES, custom_auth_table, day_of, set_leaf, write_v1

from slake_forensics.engines.local import SkippedFileWarning
from slake_forensics.lake import Lake

from aws_fixtures import s3_copy_of

START, END = pd.Timestamp("2026-02-28T00:00:00Z"), pd.Timestamp("2026-03-04T00:00:00Z")
IP = "198.51.100.250"


@pytest.fixture
def real_lakes(aws, local_lake_root: Path, tmp_path: Path) -> tuple[Lake, Lake, str]:
    """(S3 lake, local lake, a principal with events before and after the upgrade) over the same files."""
    root = tmp_path / "lake"
    shutil.copytree(local_lake_root, root)
    local = Lake.local(str(root))
    principal = local.load("cloud_trail_mgmt", START, END, columns=["actor.user.uid"])["actor.user.uid"].value_counts().index[0]
    v1 = pq.read_table(dict((p.name, p) for _, p in V1_FILES)["ConsoleLogin.test.gz.parquet"])
    t = int(pd.Timestamp("2026-02-28T23:00:00Z").value // 10**6)
    write_v1(root, "CLOUD_TRAIL_MGMT", set_leaf(set_leaf(v1, "actor.user.uuid", [principal]), "time", [t]), "v1.gz.parquet")
    bad = root / "aws/CLOUD_TRAIL_MGMT/2.0/region=us-east-1/accountId=111122223333/eventDay=2026-13-45/x.parquet"
    bad.parent.mkdir(parents=True)
    shutil.copyfile(sorted(root.glob("aws/CLOUD_TRAIL_MGMT/2.0/**/*.parquet"))[0], bad)
    folder = root / f"ext/okta_auth/region=us-east-1/accountId=external/eventDay={day_of(t)}"
    folder.mkdir(parents=True)
    pq.write_table(custom_auth_table([t, t + 1], principal, IP), folder / "okta.parquet")
    remote, local = s3_copy_of(root, tmp_path)
    return remote, local, principal


def test_s3_reads_v1_beside_v2_and_custom_sources_like_the_local_engine(real_lakes):
    s3, local, principal = real_lakes
    with pytest.warns(SkippedFileWarning, match="2026-13-45"):
        listed = s3.sources().set_index("source")
    assert listed.loc["cloud_trail_mgmt", "versions"] == ["1.0", "2.0"]
    assert listed.loc["cloud_trail_mgmt", "spans"]["1.0"][0] == pd.Timestamp("2026-02-28T00:00:00Z")
    assert listed.loc["cloud_trail_mgmt", "skipped_files"] == 1
    assert listed.loc["ext_okta_auth", "classes"] == [3002]
    with pytest.warns(SkippedFileWarning):
        want = local.load("cloud_trail_mgmt", START, END)
    got = s3.load("cloud_trail_mgmt", START, END)
    pd.testing.assert_frame_equal(got, want)
    assert got.iloc[0]["metadata.version"] == "1.0.0-rc.2" and got.iloc[0]["actor.user.uid"] == principal
    pd.testing.assert_frame_equal(s3.load("ext_okta_auth", START, END), local.load("ext_okta_auth", START, END))
    text = ("SELECT asl_version, count(*) AS n FROM amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0 "
            "WHERE \"actor\".\"user\".\"uid\" = ? GROUP BY 1 ORDER BY 1")
    counted = s3.sql(text, [principal], start=START, end=END)  # lists event days only: the bad folder is not read
    assert counted["asl_version"].tolist() == ["1.0", "2.0"] and counted["n"].tolist()[0] == 1
    v1 = s3.sql("SELECT actor.user.uuid AS arn FROM amazon_security_lake_table_us_east_1_cloud_trail_mgmt_1_0", start=START, end=END)
    assert v1["arn"].tolist() == [principal]
    hits = s3.pivot(principal=principal, start=START, end=END, sources=["cloud_trail_mgmt", "ext_okta_auth"], progress=False)
    assert hits["time"].is_monotonic_increasing and hits.iloc[0]["time"] == pd.Timestamp("2026-02-28T23:00:00Z")
    assert {"cloud_trail_mgmt", "ext_okta_auth"} <= set(hits["source"])
