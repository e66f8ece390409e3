"""What each measurement reads, chosen from the lake before anything is timed: the window-load
day and account, the pivot IP, the memory window of one million rows, the timeline window.
"""
from __future__ import annotations

import dataclasses
import json
from collections import Counter

import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from slake_forensics.core.layout import parse_key

from .lakes import LakeInfo, growth_steps
from .pivot import run_peer

#: An address no lake holds (TEST-NET-1): the pivots' untimed warm-up looks for it.
WARM_IP = "192.0.2.1"


def iso(ts: pd.Timestamp) -> str:
    """``ts`` as ISO 8601 text with its UTC offset."""
    return ts.isoformat()


def events_per_account_day(info: LakeInfo) -> Counter[tuple[str, str]]:
    """Events of every source per ``(account, YYYYMMDD)``, counted from the file footers."""
    counts: Counter[tuple[str, str]] = Counter()
    for path in (info.root / "aws").rglob("*.parquet"):
        part = parse_key(path.relative_to(info.root).as_posix())
        if part is not None:
            counts[part.account, part.day] += pq.read_metadata(path).num_rows
    return counts


def busiest_first(info: LakeInfo, counts: Counter[tuple[str, str]]) -> LakeInfo:
    """``info`` with its accounts ordered by events, most first (ties in generation order): the
    measurements use the first, and the growth lakes keep the first ones."""
    per_account = Counter({a: 0 for a in info.accounts})
    for (account, _day), n in counts.items():
        per_account[account] += n
    ordered = sorted(info.accounts, key=lambda a: (-per_account[a], info.accounts.index(a)))
    return dataclasses.replace(info, accounts=tuple(ordered))


def window_params(info: LakeInfo) -> dict[str, str]:
    """The window load: the first account, the last day of the smallest growth lake (so every
    growth lake has it); the warm-up loads the same day of the second account (every growth lake
    has it too), or of the first when there is only one."""
    day = info.day(growth_steps(info)[0][0][0] - 1).strftime("%Y-%m-%d")
    return {"lake": str(info.root), "account": info.accounts[0], "warm_account": info.accounts[min(1, len(info.accounts) - 1)],
            "day": day}


def pivot_params(info: LakeInfo, ip: str | None = None) -> dict[str, str]:
    """The pivot over the whole period for ``ip``, by default :func:`pick_ip`'s choice."""
    return {"lake": str(info.root), "ip": ip or pick_ip(info), "start": iso(info.start), "end": iso(info.end),
            "warm_ip": WARM_IP, "warm_end": iso(info.day(1))}


def pick_ip(info: LakeInfo) -> str:
    """Of the IPs in the lake's answer keys (the incidents' outside addresses), the one the
    hand-written peer finds in the most sources (then in the most rows, then the smallest text)."""
    ips = sorted({ip for f in (info.root / "answers").glob("*.json") for ip in json.loads(f.read_text()).get("ips", [])})
    if not ips:
        raise RuntimeError(f"{info.root}/answers has no IPs to pivot on; pass --ip.")

    def rank(ip: str) -> tuple[int, int, str]:
        rows = run_peer(str(info.root), ip, info.start, info.end)
        return (-rows["source"].nunique(), -len(rows), ip)

    return min(ips, key=rank)


def memory_params(info: LakeInfo, rows: int) -> dict[str, str]:
    """The window from the lake's start holding ``rows`` CloudTrail events (all of them if fewer):
    it ends 1 ms after the ``rows``-th event time, so ties may add a few rows."""
    dataset = ds.dataset(info.root / "aws" / "CLOUD_TRAIL_MGMT" / "2.0", format="parquet")
    times = dataset.to_table(columns=["time_dt"])["time_dt"]
    ordered = times.take(pc.sort_indices(times))
    n = min(rows, len(ordered))
    end = pd.Timestamp(ordered[n - 1].as_py()).tz_convert("UTC") + pd.Timedelta(milliseconds=1)
    return {"lake": str(info.root), "start": iso(info.start), "end": iso(end)}


def timeline_params(info: LakeInfo, counts: Counter[tuple[str, str]], events: int) -> dict[str, str | int]:
    """The timeline: the first account's events of every source from the lake's start, over as
    many whole days as hold ``events`` (``counts`` from :func:`events_per_account_day`); ``events``
    capped at what the account has."""
    account = info.accounts[0]
    per_day = {day: n for (acct, day), n in counts.items() if acct == account}
    total, days = 0, 0
    for days, day in enumerate(sorted(per_day), start=1):
        total += per_day[day]
        if total >= events:
            break
    return {"lake": str(info.root), "account": account, "start": iso(info.start), "end": iso(info.day(days)),
            "events": min(events, total)}
