"""Baselines: new-for-principal on a purpose-built lake, rare APIs against pandas, volume spikes on an injected burst."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixture_lake import DAY0

from slake_forensics.analysis.baseline import new_for_principal, rare_apis, volume_spikes
from slake_forensics.core.catalog import source
from slake_forensics.lake import LocalLake
from slake_forensics.lake import Lake
from slake_forensics.sample.writer import build_table, write_source

VICTIM = "arn:aws:iam::111111111111:user/victim"
OTHER = "arn:aws:iam::111111111111:user/other"
START = pd.Timestamp("2024-03-08T00:00:00Z")  # investigated window: [START, START + 1 day)
END = START + pd.Timedelta(days=1)


def _ct_table(rows: list[dict]) -> object:
    n = len(rows)
    ms = np.array([pd.Timestamp(r["time"]).value // 1_000_000 for r in rows], dtype=np.int64)
    cols = {
        "time": ms,
        "time_dt": ms,
        "class_uid": np.full(n, 6003, np.int32),
        "class_name": ["API Activity"] * n,
        "category_uid": np.full(n, 6, np.int32),
        "category_name": ["Application Activity"] * n,
        "activity_id": np.full(n, 99, np.int32),
        "activity_name": ["Other"] * n,
        "type_uid": np.full(n, 600399, np.int64),
        "type_name": ["API Activity: Other"] * n,
        "severity_id": np.full(n, 1, np.int32),
        "severity": ["Informational"] * n,
        "actor.user.uid": [r["who"] for r in rows],
        "actor.user.credential_uid": [r.get("key", "AKIAEXAMPLE") for r in rows],
        "src_endpoint.ip": [r["ip"] for r in rows],
        "http_request.user_agent": [r["ua"] for r in rows],
        "api.service.name": [r["svc"] for r in rows],
        "api.operation": [r["op"] for r in rows],
        "accountid": [r.get("account", "111111111111") for r in rows],
        "region": [r.get("region", "us-east-1") for r in rows],
    }
    return build_table(source("cloud_trail_mgmt"), cols, n)


def _history() -> list[dict]:
    """Eight days: a steady baseline for the victim, then new things in the window only."""
    usual = {"who": VICTIM, "ip": "198.51.100.7", "ua": "aws-cli/2.15", "svc": "s3.amazonaws.com", "op": "GetObject"}
    rows = []
    for day in range(7):
        for hour in (9, 13, 17):
            t = DAY0 + pd.Timedelta(days=day, hours=hour)
            rows.append({**usual, "time": t})
            rows.append({**usual, "time": t + pd.Timedelta(minutes=5), "op": "ListBuckets"})
    # the other principal already used the attacker's IP in the baseline: irrelevant for the victim
    rows.append({**usual, "who": OTHER, "ip": "203.0.113.9", "time": DAY0 + pd.Timedelta(days=2)})
    # an event of the victim older than the baseline: must not count as seen
    rows.append({**usual, "ip": "192.0.2.55", "time": DAY0 - pd.Timedelta(days=3)})
    rows += [
        {**usual, "time": START + pd.Timedelta(hours=9)},  # usual activity continues
        {**usual, "time": START + pd.Timedelta(hours=10), "ip": "198.51.100.8"},  # new IP, known /24
        {**usual, "time": START + pd.Timedelta(hours=11), "ip": "203.0.113.9", "ua": "python-requests/2.31",
         "svc": "iam.amazonaws.com", "op": "CreateUser"},
        {**usual, "time": START + pd.Timedelta(hours=12), "ip": "203.0.113.9", "ua": "python-requests/2.31",
         "svc": "iam.amazonaws.com", "op": "CreateAccessKey", "region": "eu-west-1"},
        {**usual, "time": START + pd.Timedelta(hours=13), "ip": "192.0.2.55", "account": "222222222222"},
        {**usual, "time": END + pd.Timedelta(hours=1), "ip": "100.64.0.1"},  # after the window
    ]
    return rows


@pytest.fixture(scope="module")
def story_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root: Path = tmp_path_factory.mktemp("baseline_lake")
    write_source(_ct_table(_history()), root, source("cloud_trail_mgmt"), np.random.default_rng(1))
    return Lake.local(root, now=END + pd.Timedelta(days=1))


def _independent_new(events: pd.DataFrame, principal: str, window: tuple, base: tuple) -> pd.DataFrame:
    """new_for_principal recomputed from loaded rows with plain pandas and ipaddress."""
    ev = events[events["actor.user.uid"] == principal].astype({"time_dt": "datetime64[ms, UTC]"})
    ev["api"] = ev["api.service.name"].map(lambda s: s.split(".")[0]) + ":" + ev["api.operation"]

    def net(ip: str) -> str:
        return str(ipaddress.ip_network(f"{ip}/24", strict=False))

    ev["network"] = ev["src_endpoint.ip"].map(net)
    kinds = {"ip": "src_endpoint.ip", "network": "network", "user_agent": "http_request.user_agent", "api": "api",
             "region": "region", "account": "accountid"}
    in_w = (ev["time_dt"] >= window[0]) & (ev["time_dt"] < window[1])
    in_b = (ev["time_dt"] >= base[0]) & (ev["time_dt"] < base[1])
    rows = []
    for kind, col in kinds.items():
        seen = set(ev.loc[in_b, col])
        for value, g in ev[in_w & ~ev[col].isin(seen)].groupby(col):
            rows.append({"kind": kind, "value": value, "first_seen": g["time_dt"].min(), "events": len(g)})
    return pd.DataFrame(rows)


def test_new_for_principal_finds_window_only_values(story_lake: Lake) -> None:
    out = new_for_principal(story_lake, VICTIM, START, END, baseline_days=7, sources=["cloud_trail_mgmt"])
    found = set(zip(out["kind"], out["value"]))
    assert ("ip", "203.0.113.9") in found
    assert ("network", "203.0.113.0/24") in found
    assert ("ip", "198.51.100.8") in found and ("network", "198.51.100.0/24") not in found
    assert ("ip", "198.51.100.7") not in found  # the baseline IP
    assert ("ip", "192.0.2.55") in found  # seen only before the baseline period
    assert ("ip", "100.64.0.1") not in found  # after the window
    assert {("api", "iam:CreateUser"), ("api", "iam:CreateAccessKey"), ("region", "eu-west-1"),
            ("account", "222222222222"), ("user_agent", "python-requests/2.31")} <= found
    assert not any(k == "api" and v.startswith("s3:") for k, v in found)
    row = out[(out["kind"] == "ip") & (out["value"] == "203.0.113.9")].iloc[0]
    assert row["first_seen"] == START + pd.Timedelta(hours=11) and row["events"] == 2
    assert out["first_seen"].is_monotonic_increasing

    events = story_lake.load("cloud_trail_mgmt", DAY0 - pd.Timedelta(days=5), END + pd.Timedelta(days=1))
    expected = _independent_new(events, VICTIM, (START, END), (START - pd.Timedelta(days=7), START))
    got = out.sort_values(["kind", "value"], ignore_index=True)
    expected = expected.sort_values(["kind", "value"], ignore_index=True)
    assert got["kind"].tolist() == expected["kind"].tolist()
    assert got["value"].tolist() == expected["value"].tolist()
    assert got["events"].tolist() == expected["events"].tolist()
    assert [pd.Timestamp(t) for t in got["first_seen"]] == [pd.Timestamp(t) for t in expected["first_seen"]]


def test_new_for_principal_matches_access_key_and_explicit_baseline(story_lake: Lake) -> None:
    by_key = new_for_principal(story_lake, "AKIAEXAMPLE", START, END, sources=["cloud_trail_mgmt"])
    assert ("ip", "203.0.113.9") not in set(zip(by_key["kind"], by_key["value"]))  # OTHER shares the key
    early = new_for_principal(story_lake, VICTIM, START, END, baseline=(DAY0, DAY0 + pd.Timedelta(hours=10)),
                              sources=["cloud_trail_mgmt"])
    assert ("api", "s3:ListBuckets") not in set(zip(early["kind"], early["value"]))
    assert ("ip", "198.51.100.8") in set(zip(early["kind"], early["value"]))
    assert "time_dt >= from_iso8601_timestamp(?)" in early.attrs["sql"] and "eventday" not in early.attrs["sql"]
    with pytest.raises(ValueError, match="overlaps"):
        new_for_principal(story_lake, VICTIM, START, END, baseline=(START - pd.Timedelta(hours=1), END))


def test_new_for_principal_binds_hostile_principal(story_lake: Lake) -> None:
    out = new_for_principal(story_lake, "x' OR '1'='1", START, END, sources=["cloud_trail_mgmt"])
    assert out.empty


def test_rare_apis_match_pandas(lake: Lake, ct: pd.DataFrame) -> None:
    start, end = DAY0 + pd.Timedelta(hours=6), DAY0 + pd.Timedelta(hours=9)
    out = rare_apis(lake, start, end, max_principals=2)
    w = ct[(ct["time_dt"] >= start) & (ct["time_dt"] < end)].astype({"time_dt": "datetime64[ms, UTC]"})
    w["api"] = w["api.service.name"].map(lambda s: s.split(".")[0]) + ":" + w["api.operation"]
    per_api = w.groupby("api").agg(principals=("actor.user.uid", "nunique"), events=("api", "size"),
                                   first_seen=("time_dt", "min"))
    expected = per_api[per_api["principals"] <= 2]
    assert len(expected) > 0 and len(per_api) > len(expected)
    got = out.set_index("api")
    assert set(got.index) == set(expected.index)
    for api, row in expected.iterrows():
        assert got.loc[api, "principals"] == row["principals"]
        assert got.loc[api, "events"] == row["events"]
        assert pd.Timestamp(got.loc[api, "first_seen"]) == pd.Timestamp(row["first_seen"])
        assert got.loc[api, "principal_list"] == ", ".join(sorted(w.loc[w["api"] == api, "actor.user.uid"].unique()))


def _hourly(principals: dict[str, float], hours: int, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for who, level in principals.items():
        for h in range(hours):
            for k in range(4):  # four GetObjects per hour, steady volume ±10 %
                rows.append({"time_dt": DAY0 + pd.Timedelta(hours=h, minutes=10 * k), "actor.user.uid": who,
                             "bytes": level / 4 * rng.uniform(0.9, 1.1)})
    return pd.DataFrame(rows)


def test_volume_spikes_flag_burst_not_steady_traffic() -> None:
    rng = np.random.default_rng(4)
    df = _hourly({"steady": 5e6, "victim": 1e6}, 48, rng)
    burst = pd.DataFrame({"time_dt": [DAY0 + pd.Timedelta(hours=40, minutes=m) for m in range(0, 60, 3)],
                          "actor.user.uid": "victim", "bytes": 4e6})
    newcomer = pd.DataFrame({"time_dt": [DAY0 + pd.Timedelta(hours=41)], "actor.user.uid": "newcomer", "bytes": 9e9})
    df = pd.concat([df, burst, newcomer], ignore_index=True)
    base = (DAY0, DAY0 + pd.Timedelta(hours=24))
    out = volume_spikes(df, value="bytes", baseline=base, threshold=10)
    spikes = out[out["spike"]]
    assert list(zip(spikes["actor.user.uid"], spikes["time"])) == [("victim", DAY0 + pd.Timedelta(hours=40))]
    row = spikes.iloc[0]
    expected_total = df[(df["actor.user.uid"] == "victim") & (df["time_dt"] >= DAY0 + pd.Timedelta(hours=40))
                        & (df["time_dt"] < DAY0 + pd.Timedelta(hours=41))]["bytes"].sum()
    assert row["total"] == pytest.approx(expected_total)
    victim_base = df[(df["actor.user.uid"] == "victim") & (df["time_dt"] < base[1])]
    median = victim_base.groupby(victim_base["time_dt"].dt.floor("1h"))["bytes"].sum().median()
    assert row["baseline_median"] == pytest.approx(median)
    assert row["ratio"] == pytest.approx(expected_total / median) and row["z"] > 10
    assert out["time"].min() >= base[1]  # baseline bins are not scored
    assert np.isnan(out.loc[out["actor.user.uid"] == "newcomer", "ratio"]).all()  # no baseline, no verdict
    counts = volume_spikes(df, value=None, baseline=base, threshold=5)
    assert list(zip(counts.loc[counts["spike"], "actor.user.uid"], counts.loc[counts["spike"], "time"])) == [
        ("victim", DAY0 + pd.Timedelta(hours=40))
    ]
    with pytest.raises(KeyError, match="bytes_out"):
        volume_spikes(df, value="bytes_out")


def test_lake_methods_delegate(story_lake: Lake, lake: Lake) -> None:
    direct = new_for_principal(story_lake, VICTIM, START, END, sources=["cloud_trail_mgmt"])
    assert story_lake.new_for_principal(VICTIM, START, END, sources=["cloud_trail_mgmt"]).equals(direct)
    start, end = DAY0, DAY0 + pd.Timedelta(hours=3)
    assert lake.rare_apis(start, end, max_principals=1).equals(rare_apis(lake, start, end, max_principals=1))


class _WindowedLake(LocalLake):
    """A local lake whose sql() takes the window hint the S3 lake needs, and records it."""

    windows: list[tuple[pd.Timestamp, pd.Timestamp]]

    def sql(self, text: str, params: object = None, *, start: object = None, end: object = None) -> pd.DataFrame:
        self.windows.append((start, end))
        return super().sql(text, params)


def test_windowed_engines_get_the_whole_queried_span(story_lake: Lake) -> None:
    windowed = _WindowedLake(story_lake.location, now=story_lake.now)
    windowed.windows = []
    out = new_for_principal(windowed, VICTIM, START, END, baseline_days=7, sources=["cloud_trail_mgmt"])
    assert windowed.windows == [(START - pd.Timedelta(days=7), END)]
    assert out.equals(new_for_principal(story_lake, VICTIM, START, END, baseline_days=7, sources=["cloud_trail_mgmt"]))
    rare_apis(windowed, START, END)
    assert windowed.windows[-1] == (START, END)
