"""Targets, the printed table and the JSON file of a benchmark run."""
from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

#: How a check compares ``value`` with its target: ``max_ratio`` value/baseline <= limit;
#: ``min_speedup`` baseline/value >= limit; ``max`` value <= limit; ``info`` no target.
KINDS = ("max_ratio", "min_speedup", "max", "info")


@dataclass(frozen=True)
class Check:
    """One line of the table: a toolkit figure, what it is compared with, and the target."""

    measurement: str
    value: float | None
    unit: str
    kind: str
    limit: float | None = None
    baseline: str | None = None
    baseline_value: float | None = None
    rows: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """``value / baseline_value`` (``baseline / value`` for a speed-up), or ``None``."""
        if self.value is None or self.baseline_value is None or not self.value or not self.baseline_value:
            return None
        return self.baseline_value / self.value if self.kind == "min_speedup" else self.value / self.baseline_value

    @property
    def met(self) -> bool | None:
        """Whether the target is met (``None`` for ``info`` lines and missing figures)."""
        if self.kind == "info" or self.value is None or self.limit is None:
            return None
        if self.kind == "max":
            return self.value <= self.limit
        ratio = self.ratio
        if ratio is None:
            return None
        return ratio >= self.limit if self.kind == "min_speedup" else ratio <= self.limit

    @property
    def target(self) -> str:
        """The target as text: ``<= 1.25x``, ``>= 20x faster``, ``<= 2 s``, or ``-``."""
        if self.kind == "max_ratio":
            return f"<= {self.limit:g}x"
        if self.kind == "min_speedup":
            return f">= {self.limit:g}x faster"
        if self.kind == "max":
            return f"<= {self.limit:g} {self.unit}"
        return "-"

    def as_json(self) -> dict[str, Any]:
        """The check with its computed ratio, target text and verdict."""
        return {**asdict(self), "ratio": self.ratio, "target": self.target, "met": self.met}


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    return f"{value:,.0f} {unit}"


def table(checks: list[Check]) -> str:
    """The checks as a fixed-width text table."""
    head = ("measurement", "toolkit", "baseline", "ratio", "target", "met", "rows")
    lines = []
    for c in checks:
        base = f"{c.baseline} {_fmt(c.baseline_value, c.unit)}" if c.baseline else ""
        ratio = c.ratio
        ratio_text = "" if ratio is None else (f"{ratio:.1f}x faster" if c.kind == "min_speedup" else f"{ratio:.2f}x")
        met = {True: "yes", False: "NO", None: ""}[c.met]
        lines.append((c.measurement, _fmt(c.value, c.unit), base, ratio_text, c.target if c.kind != "info" else "", met,
                      c.rows + (f"  {c.note}" if c.note else "")))
    widths = [max(len(r[i]) for r in [head, *lines]) for i in range(len(head))]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in lines]
    return "\n".join(out)


def machine() -> dict[str, Any]:
    """CPU count, platform and the versions that matter to the figures."""
    import duckdb
    import pandas
    import pyarrow

    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "pandas": pandas.__version__, "pyarrow": pyarrow.__version__, "duckdb": duckdb.__version__}


def write(results: Path, document: dict[str, Any]) -> Path:
    """Write ``document`` to ``results/<UTC timestamp>.json`` (written whole, then renamed); returns the path."""
    results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = results / f"{stamp}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=1, default=str) + "\n")
    tmp.replace(path)
    return path
