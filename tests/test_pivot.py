"""pivot(): the pushed-down timeline equals a pandas filter over Lake.load of every source.

The expected rows come from loading each source whole and keeping the rows whose entities (a
row-by-row Python statement in tests/entity_lake.py) include a wanted value; pivot must return
exactly those events, normalized.  Also: normalize() equals the SQL projection, the SQL carries
the time predicates and binds every value, hostile values match nothing and raise nothing,
fetch_rows returns the full events.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from entity_lake import ACCOUNTS, ARNS, BUCKETS, DAY0, DOMAINS, HOSTILE, INSTANCES, IPS, KEYS, NOW, build_entity_lake, row_entities  # noqa: E402

from slake_forensics.core.catalog import SOURCES
from slake_forensics.lake import Lake
from slake_forensics.analysis.normalize import TIMELINE_COLUMNS, as_timeline, normalize, projection
from slake_forensics.analysis.pivot import fetch_rows, pivot

START = DAY0 + pd.Timedelta(hours=13)
END = NOW - pd.Timedelta(hours=9)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    root = tmp_path_factory.mktemp("pivot_lake")
    build_entity_lake(root)
    return Lake.local(root, now=NOW)


@pytest.fixture(scope="module")
def loaded(lake: Lake) -> dict[str, pd.DataFrame]:
    return {s: lake.load(s, START, END) for s in SOURCES}


def expected(loaded: dict[str, pd.DataFrame], wanted: dict[str, set], accounts: set | None = None) -> pd.DataFrame:
    frames = []
    for src, df in loaded.items():
        keep = [
            any(per.get(t, set()) & vals for t, vals in wanted.items())
            and (accounts is None or acct in accounts)
            for per, acct in zip(row_entities(df, src), df["accountid"])
        ]
        frames.append(normalize(df[keep], src))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["time", "source", "uid"], kind="stable").reset_index(drop=True)


def same(got: pd.DataFrame, exp: pd.DataFrame) -> None:
    assert list(got.columns) == list(TIMELINE_COLUMNS)
    assert len(exp) > 0, "the case must select something"
    key = ["time", "source", "uid", "summary"]
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True), exp.sort_values(key).reset_index(drop=True), check_dtype=False
    )
    assert got["time"].is_monotonic_increasing


CASES = {
    "one ip": ({"ip": IPS[0]}, {"ip": {IPS[0]}}),
    "ip list with a hostile value in the data": ({"ip": [IPS[1], HOSTILE[0]]}, {"ip": {IPS[1], HOSTILE[0]}}),
    "access key": ({"access_key": KEYS[0]}, {"access_key": {KEYS[0]}}),
    "principal arn": ({"principal": ARNS[2]}, {"principal": {ARNS[2]}}),
    "principal name": ({"principal": "alice"}, {"principal": {"alice"}}),
    "principal acted on (user.name)": ({"principal": "eve-backdoor"}, {"principal": {"eve-backdoor"}}),
    "bucket": ({"bucket": BUCKETS[0]}, {"bucket": {BUCKETS[0]}}),
    "instance": ({"instance": INSTANCES[:2]}, {"instance": set(INSTANCES[:2])}),
    "domain without its dot": ({"domain": DOMAINS[2].rstrip(".")}, {"domain": {DOMAINS[2], DOMAINS[2].rstrip(".")}}),
    "several types": ({"ip": IPS[2], "access_key": KEYS[1], "domain": DOMAINS[0]}, {"ip": {IPS[2]}, "access_key": {KEYS[1]}, "domain": {DOMAINS[0], DOMAINS[0].rstrip(".")}}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_pivot_equals_pandas_filter(lake: Lake, loaded: dict, case: str) -> None:
    kwargs, wanted = CASES[case]
    got = pivot(lake, start=START, end=END, progress=False, **kwargs)
    same(got, expected(loaded, wanted))
    assert sum(got.attrs["rows"].values()) == len(got)


def test_account_scopes_partitions(lake: Lake, loaded: dict) -> None:
    got = pivot(lake, ip=IPS[0], account=ACCOUNTS[1], start=START, end=END, progress=False)
    same(got, expected(loaded, {"ip": {IPS[0]}}, accounts={ACCOUNTS[1]}))
    for sql, params in zip(got.attrs["queries"].values(), got.attrs["params"].values()):
        assert '"accountid" IN (?)' in sql and params[2] == ACCOUNTS[1]
    alone = pivot(lake, account=ACCOUNTS[0], start=START, end=END, progress=False)
    assert len(alone) == sum(int((df["accountid"] == ACCOUNTS[0]).sum()) for df in loaded.values())


def test_sql_has_time_predicates_and_binds_values(lake: Lake) -> None:
    got = pivot(lake, ip=HOSTILE[0], principal=HOSTILE[1], start=START, end=END, progress=False)
    assert set(got.attrs["queries"]) == set(SOURCES)
    for name, sql in got.attrs["queries"].items():
        assert '"time_dt" >= from_iso8601_timestamp(?)' in sql and '"time_dt" < from_iso8601_timestamp(?)' in sql
        assert lake.table_name(name) in sql
        params = got.attrs["params"][name]
        assert pd.Timestamp(params[0]) == START and pd.Timestamp(params[1]) == END
        assert HOSTILE[0] in params and HOSTILE[0] not in sql and HOSTILE[1] not in sql
        assert sql.count("?") == len(params)
    assert got.attrs["window"] == (START, END)


@pytest.mark.parametrize(
    "value", ["1' OR '1'='1' --", "'); DROP TABLE x; --", "\\", "%", "_", "*", "\"quoted\"", "ü😀\n\t", "' || '", "x" * 300]
)
def test_hostile_values_match_nothing(lake: Lake, value: str) -> None:
    kw = dict(ip=value, principal=value, access_key=value, bucket=value, instance=value, domain=value)
    got = pivot(lake, start=START, end=END, progress=False, **kw)
    assert got.empty and list(got.columns) == list(TIMELINE_COLUMNS)


def test_sources_without_a_field_are_skipped(lake: Lake) -> None:
    got = pivot(lake, bucket=BUCKETS[1], start=START, end=END, progress=False)
    assert set(got.attrs["skipped"]) == {"vpc_flow", "route53", "eks_audit", "waf"}
    assert set(got.attrs["queries"]) == {"cloud_trail_mgmt", "s3_data", "lambda_execution", "sh_findings"}
    only = pivot(lake, ip=IPS[0], sources=["waf", "route53"], start=START, end=END, progress=False)
    assert set(only["source"]) == {"waf", "route53"} and set(only.attrs["queries"]) == {"waf", "route53"}


def test_limit_per_source_keeps_first_rows(lake: Lake) -> None:
    full = pivot(lake, ip=IPS[:3], start=START, end=END, progress=False)
    got = pivot(lake, ip=IPS[:3], start=START, end=END, limit_per_source=5, progress=False)
    for src, part in got.groupby("source"):
        everything = full[full["source"] == src]
        assert len(part) == min(5, len(everything))
        assert part["time"].max() <= everything["time"].sort_values().iloc[len(part) - 1]
    assert set(got.attrs["truncated"]) == {s for s, n in full.attrs["rows"].items() if n >= 5}
    assert "LIMIT 5" in got.attrs["queries"]["waf"]


def test_bad_arguments(lake: Lake) -> None:
    with pytest.raises(ValueError):
        pivot(lake, start=START, end=END)
    with pytest.raises(TypeError):
        pivot(lake, ip=[1], start=START, end=END)
    with pytest.raises(ValueError):
        pivot(lake, ip=[], start=START, end=END)
    with pytest.raises(ValueError):
        pivot(lake, ip=IPS[0], start=END, end=START)


@pytest.mark.parametrize("src", list(SOURCES))
def test_normalize_equals_sql_projection(lake: Lake, loaded: dict, src: str) -> None:
    sql = f'SELECT {projection(src)} FROM {lake.table_name(src)} WHERE "time_dt" >= from_iso8601_timestamp(?) AND "time_dt" < from_iso8601_timestamp(?)'
    via_sql = as_timeline(lake.sql(sql, [START.isoformat(), END.isoformat()]))
    via_pandas = normalize(loaded[src])
    key = ["time", "uid", "summary"]
    pd.testing.assert_frame_equal(
        via_sql.sort_values(key).reset_index(drop=True), via_pandas.sort_values(key).reset_index(drop=True)
    )
    assert via_pandas["uid"].notna().all() and via_pandas["ref"].str.startswith(f"{src}:").all()


def test_vpc_and_route53_uids_are_md5_of_row_fields(loaded: dict) -> None:
    import hashlib

    df = loaded["vpc_flow"].head(20)
    norm = normalize(df)
    for (_, row), uid in zip(df.iterrows(), norm["uid"]):
        parts = [row["time"], row["accountid"], row["region"], row["src_endpoint.ip"], row["src_endpoint.port"], row["dst_endpoint.ip"],
                 row["dst_endpoint.port"], row["src_endpoint.instance_uid"], row["src_endpoint.interface_uid"],
                 row["connection_info.protocol_num"], row["traffic.bytes"], row["traffic.packets"], row["action"]]
        text = "|".join("" if pd.isna(p) else str(p) for p in parts)
        assert uid == hashlib.md5(text.encode()).hexdigest()


def test_fetch_rows_returns_the_full_events(lake: Lake, loaded: dict) -> None:
    timeline = pivot(lake, ip=IPS[1], start=START, end=END, progress=False)
    sample = timeline.groupby("source").head(3)
    full = fetch_rows(lake, sample)
    assert set(full) == set(sample["source"])
    for src, rows in full.items():
        asked = sample[sample["source"] == src]
        back = normalize(rows, src)
        assert sorted(zip(back["uid"], back["time"])) == sorted(zip(asked["uid"], asked["time"]))
        source_rows = loaded[src]
        norm = normalize(source_rows)
        pairs = set(zip(asked["uid"], asked["time"]))
        mask = [k in pairs for k in zip(norm["uid"], norm["time"])]  # finding ids repeat across updates
        pd.testing.assert_frame_equal(
            rows.reset_index(drop=True), source_rows[mask].reset_index(drop=True), check_dtype=False
        )
    assert lake.fetch_rows(sample).keys() == full.keys()


def test_lake_method_delegates(lake: Lake) -> None:
    a = lake.pivot(ip=IPS[0], start=START, end=END, progress=False)
    b = pivot(lake, ip=IPS[0], start=START, end=END, progress=False)
    pd.testing.assert_frame_equal(a, b)
