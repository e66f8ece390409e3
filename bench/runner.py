"""Repeated measurements: each variant of a measurement run ``repeat`` times in fresh child
processes, rounds interleaved (toolkit, peer, … then again) so drifting machine load hits all
variants alike; summaries are medians.
"""
from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, field
from typing import Any

from .child import run_child


@dataclass(frozen=True)
class Variant:
    """One way of doing a measurement: a task of :data:`bench.tasks.TASKS` and its parameters.

    ``inner`` timed calls per child process (for operations of milliseconds); ``frame_bytes``
    asks the child for the result frame's deep size; ``env`` replaces the child's environment.
    """

    name: str
    task: str
    params: dict[str, Any]
    inner: int = 1
    frame_bytes: bool = False
    env: dict[str, str] | None = None


@dataclass
class Outcome:
    """The child records of one variant, or the error that stopped it."""

    variant: Variant
    records: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def runs_s(self) -> list[float]:
        """Every timed call of every child, in order."""
        return [t for r in self.records for t in r["runs_s"]]

    @property
    def median_s(self) -> float | None:
        """Median run time in seconds (``None`` when nothing ran)."""
        return statistics.median(self.runs_s) if self.runs_s else None

    def median(self, key: str) -> float | None:
        """Median over the child records of a numeric field (``peak_delta_mb``, ``frame_mb``…), or ``None``."""
        values = [r[key] for r in self.records if r.get(key) is not None]
        return statistics.median(values) if values else None

    def part_median(self, part: str) -> float | None:
        """Median over all timed calls of one named part (``build_s``…), or ``None``."""
        values = [p[part] for r in self.records for p in r.get("parts_s", []) if part in p]
        return statistics.median(values) if values else None

    @property
    def rows(self) -> int | None:
        """Row count of the result (the same in every run, else the first), or ``None``."""
        return self.records[0].get("rows") if self.records else None

    @property
    def time_sum_ms(self) -> int | None:
        """Time fingerprint of the result (see :func:`bench.child.fingerprint`), or ``None``."""
        return self.records[0].get("time_sum_ms") if self.records else None

    @property
    def consistent(self) -> bool:
        """Whether every run returned the same rows (count and fingerprint)."""
        return len({(r.get("rows"), r.get("time_sum_ms")) for r in self.records}) <= 1

    def summary(self) -> dict[str, Any]:
        """The JSON form: task, parameters, runs, medians, rows, fingerprint, memory, parts, error."""
        parts = sorted({k for r in self.records for p in r.get("parts_s", []) for k in p})
        return {
            "task": self.variant.task,
            "params": self.variant.params,
            "runs_s": self.runs_s,
            "median_s": self.median_s,
            "rows": self.rows,
            "time_sum_ms": self.time_sum_ms,
            "consistent_rows": self.consistent,
            "peak_rss_mb": self.median("peak_rss_mb"),
            "peak_delta_mb": self.median("peak_delta_mb"),
            "held_delta_mb": self.median("held_delta_mb"),
            "frame_mb": self.median("frame_mb"),
            "parts_median_s": {k: self.part_median(k) for k in parts},
            "error": self.error,
        }


def measure(variants: list[Variant], repeat: int, what: str) -> dict[str, Outcome]:
    """Run every variant ``repeat`` times, interleaved; returns ``{variant name: Outcome}``.

    A variant whose child fails is not run again and carries the error; the others go on.
    Progress goes to stderr as ``what``.
    """
    out = {v.name: Outcome(v) for v in variants}
    for round_no in range(1, repeat + 1):
        for v in variants:
            o = out[v.name]
            if o.error is not None:
                continue
            try:
                o.records.append(run_child(v.task, v.params, inner=v.inner, frame_bytes=v.frame_bytes, env=v.env))
            except Exception as exc:  # noqa: BLE001 - a failed variant is reported, the run goes on
                o.error = str(exc)
            shown = "error" if o.error else f"{o.records[-1]['runs_s'][-1]:.3f} s"
            print(f"  {what} [{round_no}/{repeat}] {v.name}: {shown}", file=sys.stderr, flush=True)
    return out
