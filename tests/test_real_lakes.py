"""Real lakes as AWS writes them, on the local engine: source version 1 beside version 2, AWS's own
files (partition columns only in the key, NOT NULL fields, lists named ``array``), files reported
rather than dropped, and custom sources."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fixture_lake import ACCOUNTS, DAY0, DAYS, NOW, REGIONS
from real_lakes import V1_ACCOUNT, V1_FILES, custom_auth_table, day_of, eks_like_table, place_v1, set_leaf, write_v1

from slake_forensics.core import catalog, ocsf
from slake_forensics.core.errors import MisplacedFileError
from slake_forensics.engines.local import SkippedFileWarning
from slake_forensics.lake import Lake

END = DAY0 + pd.Timedelta(days=DAYS)
V2_TABLE = "amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_{}_2_0"
V1_TABLE = "amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_{}_1_0"


def _hive(t: pa.DataType) -> pa.DataType:
    """``t`` with list elements renamed as the catalog names them (AWS's files name them ``array``)."""
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _hive(f.type)) for f in t])
    if pa.types.is_list(t):
        return pa.list_(_hive(t.value_type))
    if pa.types.is_map(t):
        return pa.map_(t.key_type, t.item_type)
    return t


@pytest.mark.parametrize("source_name,path", V1_FILES, ids=[p.name for _, p in V1_FILES])
def test_v1_catalog_schema_holds_every_column_of_awss_files(source_name, path):
    schema = _v1(source_name).schema
    for field in pq.read_schema(path):
        assert ocsf.type_at(schema, field.name) is not None, field.name
        # the catalog's type of a column is the union of the files': every field of this file is in it
        for leaf in ocsf.leaf_paths(pa.schema([pa.field(field.name, _hive(field.type))])):
            assert ocsf.type_at(schema, leaf) is not None, leaf
    assert not ocsf.type_at(schema, "time_dt") and ocsf.type_at(schema, "time") == pa.int64()


def _v1(source_name: str) -> catalog.Source:
    src = catalog.versioned(source_name, "1.0")
    assert src is not None
    return src


def _entity(row: dict) -> dict[str, Any]:
    """A pivot argument reaching the v1 row: its source IP, else its principal ARN, else (a Security Hub
    finding on a security group: no IP nor principal) the account of its key."""
    if (row.get("src_endpoint") or {}).get("ip"):
        return {"ip": row["src_endpoint"]["ip"]}
    user = (row.get("actor") or {}).get("user") or {}
    if user.get("uuid"):
        return {"principal": user["uuid"]}
    return {"account": V1_ACCOUNT}


def _value(x: object) -> object:
    return None if x is pd.NA or x is None else x


def _check_v1_file(lake: Lake, source_name: str, path: Path, others: int) -> None:
    raw = pq.read_table(path)
    src = _v1(source_name)
    t = raw["time"][0].as_py()
    start, end = pd.Timestamp(t, unit="ms", tz="UTC").floor("D"), pd.Timestamp(t, unit="ms", tz="UTC").floor("D") + pd.Timedelta(days=1)
    df = lake.load(src.name, start, end)
    assert len(df) == 1 + others
    mine = df[df["asl_version"] == "1.0"]
    assert len(mine) == 1
    row = mine.iloc[0]
    assert row["time_dt"] == pd.Timestamp(t, unit="ms", tz="UTC")
    assert row["metadata.version"] == "1.0.0-rc.2"
    assert (row["accountid"], row["region"]) == (V1_ACCOUNT, "us-east-1")
    assert row["class_uid"] == {3005: 6003}.get(raw["class_uid"][0].as_py(), raw["class_uid"][0].as_py())
    user = (raw.to_pylist()[0].get("actor") or {}).get("user") or {}
    if user:
        assert _value(row["actor.user.uid"]) == user["uuid"] and _value(row["actor.user.uid_alt"]) == user["uid"]
    # SQL against the v1 table reads the file as it is; against the v2 table, in v2 names
    v1 = lake.sql(f"SELECT time, accountid, asl_version, metadata.version AS v FROM {V1_TABLE.format(src.name)}")
    assert v1["time"].tolist() == raw["time"].to_pylist() and v1["asl_version"].tolist() == ["1.0"]
    v2 = lake.sql(
        f"SELECT time_dt, class_uid FROM {V2_TABLE.format(src.name)} WHERE metadata.version = ? AND time_dt >= ? AND time_dt < ?",
        ["1.0.0-rc.2", start, end],
    )
    assert v2["time_dt"].tolist() == [row["time_dt"]] and v2["class_uid"].tolist() == [row["class_uid"]]
    hits = lake.pivot(**_entity(raw.to_pylist()[0]), start=start, end=end, progress=False)
    assert ((hits["source"] == src.name) & (hits["time"] == row["time_dt"])).sum() == 1


@pytest.mark.parametrize("source_name,path", V1_FILES, ids=[p.name for _, p in V1_FILES])
def test_awss_v1_file_alone_loads_answers_sql_and_pivots(tmp_path, source_name, path):
    place_v1(tmp_path, source_name, path)
    lake = Lake.local(tmp_path)
    _check_v1_file(lake, source_name, path, others=0)
    row = lake.sources().iloc[0]
    assert row["versions"] == ["1.0"] and row["rows"] == 1 and row["skipped_files"] == 0


@pytest.mark.parametrize("source_name,path", V1_FILES[::4] + V1_FILES[-3:], ids=[p.name for _, p in V1_FILES[::4] + V1_FILES[-3:]])
def test_awss_v1_file_beside_v2_data(lake_copy, lake_data, source_name, path):
    place_v1(lake_copy, source_name, path)
    lake = Lake.local(lake_copy, now=NOW)
    _check_v1_file(lake, source_name, path, others=0)
    name = _v1(source_name).name
    sources = lake.sources().set_index("source")
    v2_rows = lake_data[1][name].num_rows if name in lake_data[1] else 0
    assert sources.loc[name, "rows"] == v2_rows + 1
    assert sources.loc[name, "versions"] == (["1.0", "2.0"] if v2_rows else ["1.0"])


def test_one_pivot_timeline_across_the_upgrade(lake_copy):
    lake = Lake.local(lake_copy, now=NOW)
    before = lake.load("cloud_trail_mgmt", DAY0, END, columns=["actor.user.uid", "time_dt"])
    principal = before["actor.user.uid"].value_counts().index[0]
    # the same principal signed in the day before the upgrade, recorded by the v1 transformer
    v1 = pq.read_table(dict((p.name, p) for _, p in V1_FILES)["ConsoleLogin-mfa.test.gz.parquet"])
    t = int((DAY0 - pd.Timedelta(hours=2)).value // 10**6)
    v1 = set_leaf(set_leaf(v1, "actor.user.uuid", [principal]), "time", [t])
    write_v1(lake_copy, "CLOUD_TRAIL_MGMT", v1, "a" * 32 + ".gz.parquet")
    lake = Lake.local(lake_copy, now=NOW)
    start = DAY0 - pd.Timedelta(days=1)
    only_v1 = lake.load("cloud_trail_mgmt", start, DAY0)  # a day that exists only in v1
    assert only_v1["actor.user.uid"].tolist() == [principal]
    hits = lake.pivot(principal=principal, start=start, end=END, sources="cloud_trail_mgmt", progress=False)
    want = (before["actor.user.uid"] == principal).sum() + 1
    assert len(hits) >= want
    assert hits["time"].is_monotonic_increasing
    assert hits.iloc[0]["time"] == pd.Timestamp(t, unit="ms", tz="UTC") and hits.iloc[0]["actor"] == principal
    assert (hits["time"] >= DAY0).sum() == len(hits) - 1
    spans = lake.sources().set_index("source").loc["cloud_trail_mgmt", "spans"]
    assert spans["1.0"] == (pd.Timestamp(t, unit="ms", tz="UTC"),) * 2
    assert spans["2.0"][0] >= DAY0


def test_bad_partition_misplaced_class_and_v1_file_under_2_0_are_reported(lake_copy):
    ct = sorted(lake_copy.glob("aws/CLOUD_TRAIL_MGMT/2.0/**/*.parquet"))[0]
    bad_day = lake_copy / f"aws/CLOUD_TRAIL_MGMT/2.0/region={REGIONS[0]}/accountId={ACCOUNTS[0]}/eventDay=2026-13-45/x.parquet"
    bad_day.parent.mkdir(parents=True)
    shutil.copyfile(ct, bad_day)
    vpc = sorted(lake_copy.glob("aws/VPC_FLOW/2.0/**/*.parquet"))[0]
    misplaced = ct.parent / "from_vpc_flow.parquet"
    shutil.copyfile(vpc, misplaced)
    api = dict((p.name, p) for _, p in V1_FILES)["UpdateTrail.test.gz.parquet"]
    v1_under_v2 = ct.parent / "v1_file.gz.parquet"
    shutil.copyfile(api, v1_under_v2)
    lake = Lake.local(lake_copy, now=NOW)
    with pytest.warns(SkippedFileWarning) as caught:
        sources = lake.sources()
    said = " ".join(str(w.message) for w in caught)
    skipped = sources.attrs["skipped"]
    key = lambda p: p.relative_to(lake_copy).as_posix()  # noqa: E731
    assert "eventDay=2026-13-45" in skipped[key(bad_day)] and key(bad_day) in said
    assert "class_uid [4001]" in skipped[key(misplaced)] and key(misplaced) in said
    assert "class_uid [3005]" in skipped[key(v1_under_v2)]
    row = sources.set_index("source").loc["cloud_trail_mgmt"]
    assert row["skipped_files"] == 3
    written = sum(pq.read_metadata(p).num_rows for p in lake_copy.glob("aws/CLOUD_TRAIL_MGMT/2.0/*/*/eventDay=2024*/*.parquet"))
    assert row["rows"] == written - pq.read_metadata(misplaced).num_rows - 1
    # a load names the misplaced file and never calls it damaged; skipping says which files and why
    with pytest.raises(MisplacedFileError, match="from_vpc_flow.parquet") as info:
        lake.load("cloud_trail_mgmt", DAY0, END)
    assert "damaged" not in str(info.value) and "another source" in str(info.value)
    with pytest.warns(SkippedFileWarning, match="2026-13-45"):
        df = lake.load("cloud_trail_mgmt", DAY0, END, on_error="skip")
    assert sorted(df.attrs["skipped_files"]) == sorted([str(misplaced), str(v1_under_v2)])
    assert len(df) == row["rows"]
    with pytest.warns(SkippedFileWarning, match="from_vpc_flow"):
        n = lake.sql("SELECT count(*) AS n FROM cloud_trail_mgmt").iloc[0]["n"]
    assert n == row["rows"]


def test_aws_style_eks_file_takes_partitions_from_the_key_and_runs_the_eks_hunts(tmp_path):
    t0 = int(pd.Timestamp("2024-03-02T10:00:00Z").value // 10**6)
    table = eks_like_table([t0 + i * 60_000 for i in range(4)])
    folder = tmp_path / f"aws/EKS_AUDIT/2.0/region=eu-west-1/accountId=123456789012/eventDay={day_of(t0)}"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / ("b" * 32 + ".gz.parquet"), use_compliant_nested_type=False)
    assert "accountid" not in pq.read_schema(folder / ("b" * 32 + ".gz.parquet")).names
    lake = Lake.local(tmp_path, now="2024-03-03T00:00:00Z")
    df = lake.load("eks_audit", "2024-03-02T00:00Z", "2024-03-03T00:00Z")
    assert df["accountid"].tolist() == ["123456789012"] * 4 and df["region"].unique().tolist() == ["eu-west-1"]
    assert df["asl_version"].unique().tolist() == ["2.0"]
    groups = lake.sql(
        "SELECT g.name AS g FROM eks_audit CROSS JOIN UNNEST(actor.user.groups) AS t(g) WHERE accountid = ? ORDER BY 1",
        ["123456789012"],
    )
    assert groups["g"].tolist() == ["system:authenticated"] * 3 + ["system:unauthenticated"]
    hits = lake.hunt("eks_anonymous_access", "2024-03-02T00:00Z", "2024-03-03T00:00Z")
    assert hits["actor.user.name"].tolist() == ["system:anonymous"] and hits["accountid"].tolist() == ["123456789012"]
    assert len(lake.hunt("eks_privileged_pod", "2024-03-02T00:00Z", "2024-03-03T00:00Z")) == 0
    # an IP with leading zeros is matched as text
    ip = lake.pivot(ip="12.000.22.2", start="2024-03-02T00:00Z", end="2024-03-03T00:00Z", progress=False)
    assert ip["src_ip"].tolist() == ["12.000.22.2"]


def test_custom_source_is_discovered_loaded_queried_and_pivoted(lake_copy):
    principal, ip = "arn:aws:iam::111111111111:user/okta-alice", "203.0.113.77"
    t0 = int((DAY0 + pd.Timedelta(hours=5)).value // 10**6)
    for account in ("external", "external_okta1"):
        folder = lake_copy / f"ext/okta_auth/1.0/region={REGIONS[0]}/accountId={account}/eventDay={day_of(t0)}"
        folder.mkdir(parents=True)
        pq.write_table(custom_auth_table([t0, t0 + 1000], principal, ip), folder / "c.parquet")
    lake = Lake.local(lake_copy, now=NOW)
    row = lake.sources().set_index("source").loc["ext_okta_auth"]
    assert row["classes"] == [3002] and row["rows"] == 4 and row["accounts"] == ["external", "external_okta1"]
    df = lake.load("ext_okta_auth", DAY0, END)
    assert len(df) == 4 and set(df["accountid"]) == {"external", "external_okta1"} and set(df["asl_version"]) == {"1.0"}
    counted = lake.sql("SELECT accountid, count(*) AS n FROM ext_okta_auth WHERE src_endpoint.ip = ? GROUP BY 1 ORDER BY 1", [ip])
    assert counted["n"].tolist() == [2, 2]
    hits = lake.pivot(ip=ip, start=DAY0, end=END, progress=False)
    assert set(hits["source"]) == {"ext_okta_auth"} and len(hits) == 4 and set(hits["actor"]) == {principal}
    assert pc.all(pa.array(hits["time"] >= DAY0)).as_py()
