"""LocalLake: loads, pruning, provenance, bad input, corrupt files, schema drift, explain, clock."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fixture_lake import ACCOUNTS, DAY0, DAYS, NOW, REGIONS

from slake_forensics.core import ocsf
from slake_forensics.core.catalog import source
from slake_forensics.engines import local
from slake_forensics.core.errors import (
    BadWindowError,
    CorruptFileError,
    NoPartitionsError,
    NotALakeError,
    UnknownColumnError,
    UnknownSourceError,
)
from slake_forensics.lake import Lake
from slake_forensics.core.timewindow import NaiveTimeWarning, Window

END = DAY0 + pd.Timedelta(days=DAYS)


def _ms(series: pd.Series) -> list[int]:
    return pa.array(series).cast(pa.int64()).to_pylist()


def test_sources_match_what_was_written(lake: Lake, lake_data) -> None:
    _, tables = lake_data
    df = lake.sources().set_index("source")
    assert sorted(df.index) == sorted(tables)
    for name, table in tables.items():
        row = df.loc[name]
        assert row["rows"] == table.num_rows
        assert row["first_event"] == pd.Timestamp(pc.min(table["time_dt"]).as_py())
        assert row["last_event"] == pd.Timestamp(pc.max(table["time_dt"]).as_py())
        assert row["accounts"] == sorted(set(table["accountid"].to_pylist()))
        assert row["regions"] == sorted(set(table["region"].to_pylist()))
        assert row["table"] == source(name).qualified_table("us-east-1")


def test_full_load_is_everything_sorted_and_flat(lake: Lake, lake_data, ct: pd.DataFrame) -> None:
    table = lake_data[1]["cloud_trail_mgmt"]
    assert len(ct) == table.num_rows
    assert _ms(ct["time_dt"]) == sorted(table["time"].to_pylist())
    assert list(ct.columns) == ocsf.flat_names(source("cloud_trail_mgmt").schema)
    assert all(isinstance(dt, pd.ArrowDtype) for dt in ct.dtypes)
    assert ct["time_dt"].dtype.pyarrow_dtype.tz == "UTC"
    written = sorted(zip(table["time"].to_pylist(), ocsf.flatten(table)["actor.user.name"].fillna("").tolist()))
    assert sorted(zip(_ms(ct["time_dt"]), ct["actor.user.name"].fillna("").tolist())) == written
    assert ct.attrs["source"] == "cloud_trail_mgmt"
    assert ct.attrs["lake"] == lake.location
    assert ct.attrs["window"] == (DAY0, END)
    assert len(ct.attrs["files"]) == len(list(Path(lake.location).glob("aws/CLOUD_TRAIL_MGMT/**/*.parquet")))


def test_window_is_half_open(lake: Lake, ct: pd.DataFrame) -> None:
    start, end = DAY0 + pd.Timedelta(days=1), DAY0 + pd.Timedelta(days=2)
    df = lake.load("cloud_trail_mgmt", start, end)
    expected = ct[(ct["time_dt"] >= start) & (ct["time_dt"] < end)]
    assert _ms(df["time_dt"]) == _ms(expected["time_dt"])
    assert (df["time_dt"] == start).any()  # fixture has an event exactly at each midnight
    assert not (df["time_dt"] == end).any()


def test_late_event_in_a_day_partition_is_still_filtered(lake_copy: Path) -> None:
    """Footer statistics let a load skip the row filter only when a file lies wholly in the window:
    an event filed under the next day's partition must not leak into that day's load."""
    day = DAY0 + pd.Timedelta(days=1)
    victim = sorted(lake_copy.glob(f"aws/CLOUD_TRAIL_MGMT/**/eventDay={day:%Y%m%d}/*.parquet"))[0]
    table = pq.read_table(victim)
    late = pa.array([(day - pd.Timedelta(minutes=5)).value // 1_000_000] + [None] * (table.num_rows - 1), pa.int64())
    times = pc.coalesce(late.cast(pa.timestamp("ms", tz="UTC")).cast(table["time_dt"].type), table["time_dt"])
    pq.write_table(table.set_column(table.schema.get_field_index("time_dt"), "time_dt", times), victim)
    lake = Lake.local(lake_copy)
    df = lake.load("cloud_trail_mgmt", day, day + pd.Timedelta(days=1))
    assert (df["time_dt"] >= day).all()
    assert len(df) == sum(pq.read_metadata(p).num_rows for p in lake.files("cloud_trail_mgmt", Window(day, day + pd.Timedelta(days=1)))) - 1


def test_accounts_and_regions_filter(lake: Lake, ct: pd.DataFrame) -> None:
    df = lake.load("cloud_trail_mgmt", DAY0, END, accounts=ACCOUNTS[0], regions=[REGIONS[1]])
    expected = ct[(ct["accountid"] == ACCOUNTS[0]) & (ct["region"] == REGIONS[1])]
    assert len(df) == len(expected) > 0
    assert _ms(df["time_dt"]) == _ms(expected["time_dt"])
    assert df.attrs["accounts"] == [ACCOUNTS[0]] and df.attrs["regions"] == [REGIONS[1]]


def test_columns_are_projected_in_order(lake: Lake, ct: pd.DataFrame) -> None:
    df = lake.load("cloud_trail_mgmt", DAY0, END, columns=["actor.user.uid", "api.response", "unmapped", "time_dt"])
    assert list(df.columns) == [
        "actor.user.uid",
        "api.response.error",
        "api.response.message",
        "api.response.data",
        "unmapped",
        "time_dt",
    ]
    for col in df.columns:
        assert pa.array(df[col]).to_pylist() == pa.array(ct[col]).to_pylist(), col


def test_unknown_column_suggests_closest(lake: Lake) -> None:
    with pytest.raises(UnknownColumnError, match=r"actor\.user\.uid"):
        lake.load("cloud_trail_mgmt", DAY0, END, columns=["actor.usr.uid"])


def test_one_day_one_account_opens_only_its_files(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Path] = []

    def counting(real):
        def opening(path, *args):
            opened.append(path)
            return real(path, *args)

        return opening

    # a load opens a file either in one scan of plain files (footer read once by _plain_file) or file by file (_read)
    monkeypatch.setattr(local, "_read", counting(local._read))
    monkeypatch.setattr(local, "_plain_file", counting(local._plain_file))
    lake = Lake.local(lake.location)  # a fresh lake: what footers say is remembered per lake
    day = DAY0 + pd.Timedelta(days=1)
    df = lake.load("vpc_flow", day, day + pd.Timedelta(days=1), accounts=[ACCOUNTS[1]])
    expected = sorted(Path(lake.location).glob(f"aws/VPC_FLOW/2.0/region=*/accountId={ACCOUNTS[1]}/eventDay={day:%Y%m%d}/*.parquet"))
    assert sorted(opened) == expected
    assert sorted(map(Path, df.attrs["files"])) == expected
    assert len(expected) == len(REGIONS)
    assert set(df["accountid"]) == {ACCOUNTS[1]}


def test_not_a_lake(tmp_path: Path, lake: Lake) -> None:
    with pytest.raises(NotALakeError, match=r"aws/<SOURCE_NAME>/2\.0/region="):
        Lake.local(tmp_path)
    with pytest.raises(NotALakeError, match="not a folder"):
        Lake.local(tmp_path / "missing")
    with pytest.raises(NotALakeError, match="point at the folder that contains 'aws'"):
        Lake.local(Path(lake.location) / "aws" / "VPC_FLOW")


def test_bad_source_window_and_naive_times(lake: Lake) -> None:
    with pytest.raises(UnknownSourceError, match="cloud_trail_mgmt"):
        lake.load("cloudtrail", DAY0, END)
    with pytest.raises(BadWindowError):
        lake.load("vpc_flow", END, DAY0)
    with pytest.warns(NaiveTimeWarning):
        df = lake.load("vpc_flow", "2024-03-01 00:00:00.001", "2024-03-01 06:00")
    assert df["time_dt"].min() >= pd.Timestamp("2024-03-01T00:00:00.001Z")


def test_no_partitions_says_what_exists(lake: Lake) -> None:
    with pytest.raises(NoPartitionsError, match="20240301..20240303") as info:
        lake.load("vpc_flow", "2023-01-01T00:00Z", "2023-01-02T00:00Z")
    assert ACCOUNTS[0] in str(info.value) and REGIONS[0] in str(info.value)
    with pytest.raises(NoPartitionsError, match="no waf data"):
        lake.load("waf", DAY0, END)


def _damage(root: Path) -> Path:
    victim = sorted(root.glob("aws/CLOUD_TRAIL_MGMT/**/*.parquet"))[0]
    victim.write_bytes(b"this is not parquet" * 10)
    return victim


def test_corrupt_file_raises_naming_it_or_is_skipped(lake_copy: Path, lake: Lake) -> None:
    lost = pq.read_metadata(sorted(lake_copy.glob("aws/CLOUD_TRAIL_MGMT/**/*.parquet"))[0]).num_rows
    victim = _damage(lake_copy)
    damaged = Lake.local(lake_copy, now=NOW)
    with pytest.raises(CorruptFileError, match=victim.name) as info:
        damaged.load("cloud_trail_mgmt", DAY0, END)
    assert "on_error='skip'" in str(info.value)
    with pytest.warns(local.SkippedFileWarning, match=victim.name):
        df = damaged.load("cloud_trail_mgmt", DAY0, END, on_error="skip")
    assert df.attrs["skipped_files"] == [str(victim)]
    assert str(victim) not in df.attrs["files"]
    assert len(df) == len(lake.load("cloud_trail_mgmt", DAY0, END)) - lost
    with pytest.raises(CorruptFileError, match=victim.name):
        damaged.sql("SELECT count(*) AS n FROM cloud_trail_mgmt")


def test_schema_drift_file_is_conformed_not_dropped(lake_copy: Path) -> None:
    victim = sorted(lake_copy.glob("aws/VPC_FLOW/**/*.parquet"))[0]
    original = pq.read_table(victim)
    drifted = original.drop_columns(["traffic"])
    drifted = drifted.set_column(
        drifted.schema.get_field_index("time_dt"), "time_dt", original["time_dt"].cast(pa.timestamp("us"))
    )
    drifted = drifted.append_column("vendor_extra", pa.array(np.arange(drifted.num_rows)))
    pq.write_table(drifted, victim)
    df = Lake.local(lake_copy).load("vpc_flow", DAY0, END)
    mine = df[df["vendor_extra"].notna()]
    assert len(mine) == original.num_rows
    assert sorted(_ms(mine["time_dt"])) == sorted(original["time"].to_pylist())
    assert mine["traffic.bytes"].isna().all()
    assert df["traffic.bytes"].notna().sum() == len(df) - original.num_rows


def test_sql_sees_columns_only_some_files_have_and_notices_rewritten_files(lake_copy: Path) -> None:
    """One schema: files are read as they are; once a file drifts (rewritten in place), the query
    unions by name instead of silently keeping only the first file's columns."""
    lake = Lake.local(lake_copy)
    total = lake.sql("SELECT count(*) AS n FROM vpc_flow")["n"].iloc[0]
    files = sorted(lake_copy.glob("aws/VPC_FLOW/**/*.parquet"))
    victim = files[-1]  # the last file: DuckDB takes the first file's columns when not told to union
    original = pq.read_table(victim)
    pq.write_table(original.append_column("vendor_extra", pa.array(np.ones(original.num_rows, dtype="int64"))), victim)
    df = lake.sql("SELECT count(*) AS n, sum(vendor_extra) AS extra FROM vpc_flow")
    assert df["n"].iloc[0] == total
    assert df["extra"].iloc[0] == original.num_rows


def test_explain_load_and_sql(lake: Lake) -> None:
    day = DAY0 + pd.Timedelta(days=2)
    ex = lake.explain("route53", day, END, accounts=[ACCOUNTS[0]], columns=["query.hostname"])
    df = lake.load("route53", day, END, accounts=[ACCOUNTS[0]], columns=["query.hostname"])
    assert ex.files == df.attrs["files"]
    assert ACCOUNTS[0] not in ex.sql and "?" in ex.sql
    assert any(ACCOUNTS[0] in p for p in ex.params)
    assert "query.hostname" in str(ex) and ex.files[0] in str(ex)
    q = lake.explain("SELECT count(*) FROM amazon_security_lake_table_eu_west_1_route53_2_0 WHERE rcode = ?", ["NXDOMAIN"])
    assert q.params == ["NXDOMAIN"] and "?" in q.translated_sql
    assert sorted(q.files) == sorted(map(str, Path(lake.location).glob("aws/ROUTE53/**/*.parquet")))
    assert "<pre>" in q._repr_html_()


def test_clock_defaults_to_real_time(lake_data, lake: Lake) -> None:
    text = "SELECT count(*) AS n FROM vpc_flow WHERE time_dt > CURRENT_TIMESTAMP - INTERVAL '1' DAY"
    assert Lake.local(lake_data[0]).sql(text)["n"].iloc[0] == 0  # the data is from 2024
    full = lake.load("vpc_flow", DAY0, END)
    assert lake.sql(text)["n"].iloc[0] == (full["time_dt"] > NOW - pd.Timedelta(days=1)).sum() > 0


def test_moving_the_clock_moves_a_repeated_query(lake_data) -> None:
    """Translations are remembered per SQL text; the clock they were made with is part of the key."""
    text = "SELECT count(*) AS n FROM vpc_flow WHERE time_dt > CURRENT_TIMESTAMP - INTERVAL '1' DAY"
    moved = Lake.local(lake_data[0], now=NOW)
    full = moved.load("vpc_flow", DAY0, END)
    assert moved.sql(text)["n"].iloc[0] == moved.sql(text)["n"].iloc[0] == (full["time_dt"] > NOW - pd.Timedelta(days=1)).sum() > 0
    moved.now = NOW + pd.Timedelta(days=30)
    assert moved.sql(text)["n"].iloc[0] == 0


def test_sample_uses_bundled_lake_and_its_clock(lake_data, monkeypatch: pytest.MonkeyPatch) -> None:
    bundled = pytest.importorskip("slake_forensics.sample.bundled")
    root = lake_data[0]
    end_of_data = pd.Timestamp(max(pc.max(t["time_dt"]).as_py() for t in lake_data[1].values()))
    monkeypatch.setattr(bundled, "ensure_sample_lake", lambda: root)
    monkeypatch.setattr(bundled, "sample_now", lambda r: end_of_data if r == root else None)
    sample = Lake.sample()
    assert sample.location == str(root.resolve()) and sample.now == end_of_data
    assert Lake.sample(now="2024-03-02T00:00Z").now == pd.Timestamp("2024-03-02T00:00Z")
    text = "SELECT count(*) AS n FROM route53 WHERE time_dt BETWEEN now() - INTERVAL '1' DAY AND now()"
    full = sample.load("route53", DAY0, END)
    in_day = (full["time_dt"] >= end_of_data - pd.Timedelta(days=1)) & (full["time_dt"] <= end_of_data)
    assert sample.sql(text)["n"].iloc[0] == in_day.sum() > 0


def test_sql_on_a_source_the_lake_lacks_sees_an_empty_table(lake: Lake) -> None:
    with pytest.warns(UserWarning, match="no waf data"):
        df = lake.sql("SELECT count(*) AS n, max(time_dt) AS last FROM amazon_security_lake_table_us_east_1_waf_2_0")
    assert df["n"].iloc[0] == 0 and df["last"].isna().all()


def test_sql_scope_opens_only_the_scoped_partitions(lake):
    """A scope limits the files a query reads; the SQL's own predicates still decide the rows."""
    table = lake.table_name("cloud_trail_mgmt")
    sql = f"SELECT count(*) AS n FROM {table} WHERE time_dt >= ? AND time_dt < ? AND accountid = ?"
    start, end = pd.Timestamp("2024-03-02T00:00:00Z"), pd.Timestamp("2024-03-03T00:00:00Z")
    params = [start.to_pydatetime(), end.to_pydatetime(), ACCOUNTS[0]]
    whole = lake.sql(sql, params)
    scoped = lake.sql(sql, params, start=start, end=end, accounts=[ACCOUNTS[0]])
    assert scoped["n"].iloc[0] == whole["n"].iloc[0] > 0
    assert 0 < len(scoped.attrs["files"]) < len(whole.attrs["files"])
    assert all("eventDay=20240302" in f and f"accountId={ACCOUNTS[0]}" in f for f in scoped.attrs["files"])
    with pytest.raises(BadWindowError, match="both start and end"):
        lake.sql(sql, params, start=start)


def test_open_puts_the_clock_at_the_latest_event(lake: Lake) -> None:
    opened = Lake.open(str(lake.location))
    assert opened.clock() == lake.sources()["last_event"].max()
    assert Lake.open(str(lake.location), now="2030-01-01T00:00:00Z").clock() == pd.Timestamp("2030-01-01", tz="UTC")
