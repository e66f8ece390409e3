"""The benchmark lake: generated once with the generator's scale mode, then reused; and the
smaller lakes of the growth measurement, made of hard links into it (no regeneration).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from slake_forensics.core.layout import parse_key

#: Arguments of ``python -m slake_forensics sample`` for the full benchmark lake (about 11M events).
FULL = {"seed": 1, "days": 30, "scale": 10.0, "accounts": 4, "regions": 2}
#: The tiny lake of ``--smoke`` (a few thousand events, seconds to make).
SMOKE = {"seed": 3, "days": 3, "scale": 0.05, "accounts": 4, "regions": 2}


@dataclass(frozen=True)
class LakeInfo:
    """What a generated lake holds, from its ``generation.json``."""

    root: Path
    start: pd.Timestamp
    days: int
    accounts: tuple[str, ...]
    regions: tuple[str, ...]
    rows: dict[str, int]

    @property
    def end(self) -> pd.Timestamp:
        """The end of the lake's period (exclusive), UTC midnight."""
        return self.start + pd.Timedelta(days=self.days)

    @property
    def events(self) -> int:
        """Events across all sources."""
        return sum(self.rows.values())

    def day(self, index: int) -> pd.Timestamp:
        """UTC midnight starting day ``index`` (0-based) of the period."""
        return self.start + pd.Timedelta(days=index)


def read_info(root: Path) -> LakeInfo:
    """The :class:`LakeInfo` of the generated lake at ``root``; raises ``FileNotFoundError`` when
    ``root`` has no ``generation.json`` (not a lake made by the generator)."""
    gen = json.loads((root / "generation.json").read_text())
    start = pd.Timestamp(gen["start"]).tz_convert("UTC").floor("D")
    return LakeInfo(root, start, int(gen["days"]), tuple(gen["accounts"]), tuple(gen["regions"]), dict(gen["rows"]))


def ensure_lake(root: Path, spec: dict[str, float]) -> LakeInfo:
    """Reuse the lake at ``root`` or generate it with ``spec`` (see :data:`FULL`) in a child process.

    Returns its :class:`LakeInfo`.  A folder holding data but no ``generation.json`` (a half-written
    lake) raises ``RuntimeError`` rather than being overwritten.
    """
    if (root / "generation.json").exists():
        info = read_info(root)
        print(f"reusing the benchmark lake at {root}: {info.events:,} events, {info.days} days, "
              f"{len(info.accounts)} accounts, {len(info.regions)} regions", flush=True)
        return info
    if (root / "aws").exists():
        raise RuntimeError(f"{root} holds data but no generation.json (an interrupted generation?); delete it and rerun.")
    cmd = [sys.executable, "-m", "slake_forensics", "sample", "--out", str(root), "--quiet"]
    cmd += [arg for key, value in spec.items() for arg in (f"--{key}", str(value))]
    print("generating the benchmark lake:", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True)
    return read_info(root)


@dataclass(frozen=True)
class SubLake:
    """One lake of the growth measurement: the first ``days`` days and ``accounts`` accounts of the big lake."""

    root: Path
    days: int
    accounts: int

    @property
    def label(self) -> str:
        """``"10 days x 4 accounts"``."""
        return f"{self.days} days x {self.accounts} accounts"


def growth_steps(info: LakeInfo) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """``(days steps, accounts steps)``, each a list of ``(days, accounts)`` lakes: thirds of the period
    with every account (30 days: 10, 20, 30), and half then all of the accounts over the whole period (2, 4)."""
    n_acc = len(info.accounts)
    days = sorted({max(1, round(info.days * k / 3)) for k in (1, 2, 3)})
    return [(d, n_acc) for d in days], [(info.days, a) for a in sorted({max(1, n_acc // 2), n_acc})]


def sub_lake(info: LakeInfo, days: int, accounts: int) -> SubLake:
    """The lake holding the first ``days`` days and the first ``accounts`` accounts (in the order
    of ``info.accounts``) of ``info``'s lake; the full lake itself when that is all of it.

    Others are built in ``<lake>-growth/d<days>_a<accounts>/`` by hard-linking the partitions'
    files (copying where links are impossible), and reused when already complete.
    """
    if days >= info.days and accounts >= len(info.accounts):
        return SubLake(info.root, info.days, len(info.accounts))
    root = info.root.parent / f"{info.root.name}-growth" / f"d{days}_a{accounts}"
    marker = root / ".complete"
    keep_days = {info.day(i).strftime("%Y%m%d") for i in range(days)}
    keep_accounts = set(info.accounts[:accounts])
    stamp = json.dumps({"from": str(info.root.resolve()), "days": sorted(keep_days), "accounts": sorted(keep_accounts)})
    if marker.exists() and marker.read_text() == stamp:
        return SubLake(root, days, accounts)
    shutil.rmtree(root, ignore_errors=True)
    for path in sorted((info.root / "aws").rglob("*.parquet")):
        key = path.relative_to(info.root).as_posix()
        part = parse_key(key)
        if part is None or part.day not in keep_days or part.account not in keep_accounts:
            continue
        target = root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)
    marker.write_text(stamp)
    return SubLake(root, days, accounts)
