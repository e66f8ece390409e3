"""correlate(): interval joins equal a brute-force cross join + filter; sessions(): splits exactly at gaps."""
from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from fixture_lake import DAY0, DAYS

from slake_forensics.analysis.correlate import correlate, key_values, session_summary, sessions
from slake_forensics.lake import Lake

T0 = pd.Timestamp("2024-03-01T00:00:00Z")


def _events(
    rng: np.random.Generator, n: int, key: str, keys: list[str | None], prefix: str, hours: int = 6
) -> pd.DataFrame:
    ms = T0.value // 1_000_000 + rng.integers(0, hours * 3_600_000, n)
    ms[:3] = T0.value // 1_000_000 + np.array([0, 600_000, 1_200_000])  # exact 10-minute steps
    times = pa.array(ms, pa.int64()).view(pa.timestamp("ms", tz="UTC"))
    return pd.DataFrame(
        {
            "time_dt": pd.array(times, dtype=pd.ArrowDtype(times.type)),
            key: pd.array(rng.choice(np.array(keys, dtype=object), n), dtype=pd.ArrowDtype(pa.string())),
            "id": [f"{prefix}{i}" for i in range(n)],
        }
    )


def _brute(left: pd.DataFrame, right: pd.DataFrame, lk: str, rk: str, within: str, direction: str) -> set:
    """Every left×right pair, filtered: the definition correlate() must match."""
    cross = left.merge(right, how="cross", suffixes=("_l", "_r"))
    tl = "time_dt_l" if "time_dt_l" in cross else "time_dt"
    delta = pd.to_datetime(cross["time_dt_r"], utc=True) - pd.to_datetime(cross[tl], utc=True)
    w = pd.Timedelta(within)
    same = (cross[lk if lk != rk else f"{lk}_l"] == cross[rk if lk != rk else f"{rk}_r"]).fillna(False).astype(bool)
    lo = pd.Timedelta(0) if direction == "forward" else -w
    hi = pd.Timedelta(0) if direction == "backward" else w
    keep = same & (delta >= lo) & (delta <= hi)
    return set(zip(cross.loc[keep, "id_l"], cross.loc[keep, "id_r"], delta[keep]))


@pytest.mark.parametrize("direction", ["both", "forward", "backward"])
@pytest.mark.parametrize("within", ["10min", "0s", "2h"])
def test_correlate_equals_cross_join(direction: str, within: str) -> None:
    rng = np.random.default_rng(3)
    keys = ["10.0.0.1", "10.0.0.2", "10.0.0.3", None]
    left = _events(rng, 300, "src_endpoint.ip", keys, "L")
    right = _events(rng, 400, "dst_endpoint.ip", keys[:2] + ["10.9.9.9", None], "R")
    out = correlate(left, right, on=("src_endpoint.ip", "dst_endpoint.ip"), within=within, direction=direction)
    got = set(zip(out["left.id"], out["right.id"], out["delta"]))
    assert len(got) == len(out)
    assert got == _brute(left, right, "src_endpoint.ip", "dst_endpoint.ip", within, direction)
    assert (out["key"] == out["left.src_endpoint.ip"]).all()
    assert (out["key"] == out["right.dst_endpoint.ip"]).all()


def test_correlate_same_column_name_and_order() -> None:
    rng = np.random.default_rng(5)
    left = _events(rng, 120, "actor.user.uid", ["a", "b"], "L")
    right = _events(rng, 150, "actor.user.uid", ["a", "b", "c"], "R")
    out = correlate(left, right, on="actor.user.uid", within="30min", direction="forward")
    assert set(zip(out["left.id"], out["right.id"], out["delta"])) == _brute(
        left, right, "actor.user.uid", "actor.user.uid", "30min", "forward"
    )
    order = pd.DataFrame({"l": out["left.id"].str[1:].astype(int), "d": out["delta"]})
    assert order.equals(order.sort_values(["l", "d"]))
    assert out.attrs["direction"] == "forward"
    with pytest.raises(ValueError):
        correlate(left, right, on="actor.user.uid", direction="sideways")  # type: ignore[arg-type]


def test_correlate_route53_answers_to_flows(lake: Lake) -> None:
    """A list-of-structs key: each Route 53 answer's rdata against flow destinations; each pair once."""
    dns = lake.load("route53", DAY0, DAY0 + pd.Timedelta(days=DAYS))
    rng = np.random.default_rng(11)
    flows = _events(rng, 500, "dst_endpoint.ip", [f"192.0.2.{i}" for i in range(12)], "F", hours=24 * DAYS)
    dns = dns.assign(id=[f"Q{i}" for i in range(len(dns))])
    out = correlate(dns, flows, on=("answers.rdata", "dst_endpoint.ip"), within="1h", direction="forward")

    expected = set()
    answers = dns["answers"].tolist()
    for qid, qt, ans in zip(dns["id"], dns["time_dt"], answers):
        ips = {a["rdata"] for a in ans or [] if a["rdata"] is not None}
        hit = flows[flows["dst_endpoint.ip"].isin(ips)]
        d = hit["time_dt"] - qt
        for fid, delta in zip(hit["id"][(d >= pd.Timedelta(0)) & (d <= pd.Timedelta("1h"))], d[(d >= pd.Timedelta(0)) & (d <= pd.Timedelta("1h"))]):
            expected.add((qid, fid, delta))
    got = set(zip(out["left.id"], out["right.id"], out["delta"]))
    assert len(expected) > 10
    assert got == expected and len(out) == len(got)


def test_rows_without_time_never_match() -> None:
    left = pd.DataFrame({"time_dt": pd.to_datetime(["2024-01-01T00:00Z", None], utc=True), "k": ["a", "a"]})
    right = pd.DataFrame({"time_dt": pd.to_datetime(["2024-01-01T00:01Z", None], utc=True), "k": ["a", "a"]})
    out = correlate(left, right, on="k", within="1h")
    assert len(out) == 1 and out.loc[0, "delta"] == pd.Timedelta("1min")


def test_key_values_explodes_lists() -> None:
    df = pd.DataFrame(
        {
            "ips": pd.array([["a", "b"], None, [], ["c", None]], dtype=pd.ArrowDtype(pa.list_(pa.string()))),
            "one": pd.array(["x", None, "y", "z"], dtype=pd.ArrowDtype(pa.string())),
        }
    )
    rows, values = key_values(df, "ips")
    assert rows.tolist() == [0, 0, 3] and values.tolist() == ["a", "b", "c"]
    rows, values = key_values(df, "one")
    assert rows.tolist() == [0, 2, 3] and values.tolist() == ["x", "y", "z"]
    with pytest.raises(KeyError):
        key_values(df, "ips.nope")


def _brute_sessions(df: pd.DataFrame, by: list[str], gap: pd.Timedelta) -> list[frozenset]:
    """Sessions as sets of row ids, by walking each group's events in time order."""
    groups: dict = {}
    for i, row in df.iterrows():
        groups.setdefault(tuple(None if pd.isna(row[c]) else row[c] for c in by), []).append((row["time_dt"], row["id"]))
    out = []
    for events in groups.values():
        events.sort()
        current = [events[0][1]]
        for (prev, _), (t, rid) in pairwise(events):
            if t - prev > gap:
                out.append(frozenset(current))
                current = []
            current.append(rid)
        out.append(frozenset(current))
    return out


def test_sessions_split_exactly_at_gap() -> None:
    base = T0
    steps = ["0s", "30min", "60min", "90min1ms", "120min1ms", "240min"]  # 30min gaps stay, 30min+1ms splits
    df = pd.DataFrame(
        {
            "time_dt": [base + pd.Timedelta(s) for s in steps] * 2,
            "actor.user.uid": ["alice"] * 6 + ["bob"] * 6,
            "src_endpoint.ip": ["1.1.1.1"] * 12,
            "id": range(12),
        }
    )
    out = sessions(df.sample(frac=1, random_state=1), gap="30min")
    per_row = out.set_index("id")["session_id"].sort_index()
    assert per_row.tolist() == [0, 0, 0, 2, 2, 4, 1, 1, 1, 3, 3, 5]
    summary = session_summary(out)
    assert summary["events"].tolist() == [3, 3, 2, 2, 1, 1]
    assert summary["actor.user.uid"].tolist() == ["alice", "bob"] * 3
    assert summary.loc[0, "duration"] == pd.Timedelta("60min")


def test_sessions_match_brute_force(ct: pd.DataFrame) -> None:
    df = ct.assign(id=range(len(ct)))
    by = ["actor.user.uid", "src_endpoint.ip"]
    out = sessions(df, by=by, gap="45min")
    assert out.index.equals(df.index) and out["id"].tolist() == df["id"].tolist()
    got = {frozenset(g["id"]) for _, g in out.groupby("session_id")}
    assert got == set(_brute_sessions(df, by, pd.Timedelta("45min")))
    starts = pd.Series(out["time_dt"].to_numpy(dtype="datetime64[ms]")).groupby(out["session_id"].to_numpy()).min()
    assert starts.is_monotonic_increasing
    summary = session_summary(out)
    assert len(summary) == out["session_id"].nunique()
    assert summary["events"].sum() == len(df)
    assert (summary["apis"] <= summary["events"]).all()
    assert summary["errors"].sum() == df["api.response.error"].notna().sum()
    first = out[out["session_id"] == 0]
    assert summary.loc[0, "top_apis"].split(", ")[0].split("×")[0] == first["api.operation"].value_counts().sort_index().idxmax()


def test_correlate_on_entity_type_uses_every_ip_field(ct: pd.DataFrame) -> None:
    """on="ip": CloudTrail source IPs and IP observables against a timeline's src_ip and dst_ip."""
    raw = ct[ct["time_dt"] < DAY0 + pd.Timedelta(hours=20)].reset_index(drop=True)
    raw["id"] = [f"C{i}" for i in range(len(raw))]
    raw.attrs = dict(ct.attrs)
    rng = np.random.default_rng(8)
    n = 250
    ms = DAY0.value // 1_000_000 + rng.integers(0, 20 * 3_600_000, n)
    string = pd.ArrowDtype(pa.string())
    tl = pd.DataFrame(
        {
            "time": pd.array(pa.array(ms).view(pa.timestamp("ms", tz="UTC")), dtype=pd.ArrowDtype(pa.timestamp("ms", tz="UTC"))),
            "src_ip": pd.array(rng.choice(np.array(["10.0.1.1", "10.0.2.0", None], dtype=object), n), dtype=string),
            "dst_ip": pd.array(rng.choice(np.array(["10.0.0.2", "8.8.8.8", None], dtype=object), n), dtype=string),
            "id": [f"T{i}" for i in range(n)],
        }
    )
    out = correlate(raw, tl, on="ip", within="20min")

    def ips(row: pd.Series) -> set:
        found = {row["src_endpoint.ip"]} if pd.notna(row["src_endpoint.ip"]) else set()
        observed = row["observables"]
        return found | {o["value"] for o in ([] if observed is None else observed) if o["type_id"] == 2}

    expected = set()
    tl_ips = [{v for v in (s, d) if pd.notna(v)} for s, d in zip(tl["src_ip"], tl["dst_ip"])]
    for i, row in raw.iterrows():
        mine = ips(row)
        for j in range(n):
            delta = tl["time"].iloc[j] - row["time_dt"]
            if abs(delta) <= pd.Timedelta("20min") and mine & tl_ips[j]:
                expected.add((row["id"], tl["id"].iloc[j], delta))
    got = set(zip(out["left.id"], out["right.id"], out["delta"]))
    assert len(expected) > 20
    assert got == expected and len(out) == len(got)
    assert out.attrs["on"] == ("ip", "ip")
    with pytest.raises(KeyError, match="attrs"):
        correlate(tl.drop(columns=["src_ip"]), tl, on="ip")
