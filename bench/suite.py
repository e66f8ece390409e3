"""The six measurements: each runs its variants (:mod:`bench.runner`) and turns the medians into
table lines with targets (:class:`bench.report.Check`)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .lakes import LakeInfo, growth_steps, sub_lake
from .notebooks import discover, sample_lake_env
from .report import Check
from .runner import Outcome, Variant, measure

#: Timed calls per child for the window loads (tens of milliseconds each).
WINDOW_INNER = 5


@dataclass
class Group:
    """One measurement's outcomes, table lines and whether its variants returned the same rows
    (``None`` where there is nothing to compare)."""

    name: str
    outcomes: dict[str, Outcome]
    checks: list[Check] = field(default_factory=list)
    rows_equal: bool | None = None
    #: Figures that are not timed variants (the Athena bytes model), written to the JSON as they are.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """Whether a variant failed or the variants' rows differ."""
        return self.rows_equal is False or any(o.error is not None for o in self.outcomes.values())

    def as_json(self) -> dict[str, Any]:
        """Variants' summaries and the row verdict."""
        out = {"variants": {k: o.summary() for k, o in self.outcomes.items()}, "rows_equal": self.rows_equal}
        return {**out, **self.extra}


def same_rows(outcomes: list[Outcome]) -> tuple[bool, str]:
    """``(equal, text)``: whether every outcome ran and returned the same rows (count and time
    fingerprint) in every run, and the row count or the mismatch as text."""
    keys = {(o.rows, o.time_sum_ms) for o in outcomes}
    ok = all(o.error is None and o.records and o.consistent for o in outcomes) and len(keys) == 1
    if ok:
        return True, f"{outcomes[0].rows:,} (same)"
    return False, "MISMATCH " + " ".join(f"{o.variant.name.split()[0]}={o.rows}" for o in outcomes)


def window(params: dict[str, Any], repeat: int) -> Group:
    """Window load: toolkit vs DuckDB by hand, the raw pyarrow limit, the limit with the toolkit's sort
    by time (the second baseline: what of the gap the sort explains) and the naive way."""
    variants = [Variant("toolkit", "window.toolkit", params, inner=WINDOW_INNER),
                Variant("duckdb", "window.duckdb", params, inner=WINDOW_INNER),
                Variant("pyarrow_limit", "window.pyarrow", params, inner=WINDOW_INNER),
                Variant("pyarrow_limit_sorted", "window.pyarrow_sorted", params, inner=WINDOW_INNER),
                Variant("naive", "window.naive", params)]
    out = measure(variants, repeat, "window load")
    ok, rows = same_rows(list(out.values()))
    t = out["toolkit"].median_s
    name = "window load (1 day, 1 account, 12 cols)"
    checks = [
        Check(name, t, "s", "max_ratio", 1.25, "pyarrow limit", out["pyarrow_limit"].median_s, rows),
        Check(name, t, "s", "max_ratio", 1.25, "pyarrow limit + sort", out["pyarrow_limit_sorted"].median_s, rows),
        Check(name, t, "s", "min_speedup", 20, "naive pandas", out["naive"].median_s, rows),
        Check(name, t, "s", "info", None, "duckdb by hand", out["duckdb"].median_s, rows),
    ]
    return Group("window_load", out, checks, ok)


def pivot(params: dict[str, Any], repeat: int) -> Group:
    """Pivot: toolkit vs the hand-written DuckDB UNION ALL and the naive way; and under 2 s."""
    variants = [Variant("toolkit", "pivot.toolkit", params), Variant("duckdb", "pivot.duckdb", params),
                Variant("naive", "pivot.naive", params)]
    out = measure(variants, repeat, "pivot")
    ok, rows = same_rows(list(out.values()))
    t = out["toolkit"].median_s
    name = "pivot (1 IP, 8 sources, whole period)"
    checks = [
        Check(name, t, "s", "max_ratio", 1.2, "duckdb UNION ALL", out["duckdb"].median_s, rows),
        Check(name, t, "s", "min_speedup", 50, "naive pandas", out["naive"].median_s, rows),
        Check(name, t, "s", "max", 2.0, rows=rows),
    ]
    return Group("pivot", out, checks, ok)


def index(params: dict[str, Any], repeat: int, scan: Group) -> Group:
    """Pivot through the entity index (warm) against the peer and naive of ``scan`` (the pivot group,
    whose rows it must equal), and the cold index build (one run: it reads the whole lake) and
    size against one full-window pivot scan and the lake's bytes."""
    out = measure([Variant("indexed", "pivot.indexed", params)], repeat, "indexed pivot")
    out.update(measure([Variant("build", "index.build", params)], 1, "index build"))
    ok, rows = same_rows([out["indexed"], scan.outcomes["toolkit"], scan.outcomes["duckdb"]])
    t = out["indexed"].median_s
    name = "pivot with the entity index (warm)"
    lake = Path(params["lake"])
    lake_mb = sum((Path(d) / f).stat().st_size for d, _, names in os.walk(lake, followlinks=True)  # a lake may link its folders
                  for f in names if f.endswith(".parquet")) / 1e6
    index_mb = sum(p.stat().st_size for p in (lake.parent / "index").rglob("*") if p.is_file()) / 1e6
    files = out["build"].rows
    checks = [
        Check(name, t, "s", "min_speedup", 5, "duckdb UNION ALL", scan.outcomes["duckdb"].median_s, rows),
        Check(name, t, "s", "min_speedup", 100, "naive pandas", scan.outcomes["naive"].median_s, rows),
        Check(name, t, "s", "max", 0.5, rows=rows),
        Check(name, t, "s", "info", None, "pivot scan (toolkit)", scan.outcomes["toolkit"].median_s, rows),
        Check("index build (cold, whole lake, 1 run)", out["build"].median_s, "s", "max_ratio", 1.5, "pivot scan (toolkit)",
              scan.outcomes["toolkit"].median_s, f"{files:,} files" if files is not None else "n/a"),
        Check("index size", index_mb, "MB", "max_ratio", 0.02, "lake Parquet", lake_mb),
    ]
    return Group("index", out, checks, ok)


def expand(params: dict[str, Any], repeat: int) -> Group:
    """The 2-hop expansion graph from the pivot's IP over the period, through the entity index (warm), under 2 s."""
    out = measure([Variant("indexed", "expand.indexed", params)], repeat, "expand")
    ex = out["indexed"]
    rows = f"{ex.rows:,} nodes" if ex.rows is not None else "n/a"
    checks = [Check("expand 2 hops from the IP (indexed, warm)", ex.median_s, "s", "max", 2.0, rows=rows)]
    return Group("expand", out, checks)


def index_update(params: dict[str, Any], index_group: Group | None) -> Group:
    """Incremental index updates after one and after three new days (one run each: the untimed
    preparation builds the other days' index), each against those days' share of the cold build when
    the index group ran, with the time per new file and per new MB of both, so that proportionality
    to the new data is measured: three days' update should cost about three times one day's."""
    out = measure([Variant("update", "index.update", params),
                   Variant("update_3days", "index.update", {**params, "new_days": 3})], 1, "index update")
    build = index_group.outcomes.get("build") if index_group is not None else None
    checks = []
    for name, days in (("update", 1), ("update_3days", 3)):
        up = out[name]
        what = "one new day" if days == 1 else f"{days} new days"
        new_mb = _new_bytes(params, days) / 1e6
        files = f"{up.rows:,} files, {new_mb:.1f} MB" if up.rows is not None else "n/a"
        share = None
        if build is not None and build.median_s is not None and build.rows and up.rows is not None:
            share = build.median_s * up.rows / build.rows
        kind, limit = ("max_ratio", 1.5) if share is not None else ("info", None)
        checks.append(Check(f"index update after {what} (1 run)", up.median_s, "s", kind, limit,
                            "the days' share of the cold build" if share is not None else None, share, files))
        if up.median_s is not None and up.rows:
            checks.append(Check(f"index update after {what}: per new file", up.median_s / up.rows * 1e3, "ms", "info",
                                rows=files))
            checks.append(Check(f"index update after {what}: per new MB", up.median_s / new_mb * 1e3, "ms/MB", "info", rows=files))
    one, three = out["update"], out["update_3days"]
    if one.median_s and three.median_s:
        byte_ratio = _new_bytes(params, 3) / _new_bytes(params, 1)
        checks.append(Check("index update: 3 new days against 1 (proportional: the ratio of new bytes)", three.median_s, "s",
                            "info", None, "1 new day", one.median_s, note=f"new bytes {byte_ratio:.2f}x"))
    return Group("index_update", out, checks)


def _new_bytes(params: dict[str, Any], days: int) -> int:
    """Bytes of the lake's Parquet files in the last ``days`` days of the window (an update's new files)."""
    from .pivot import new_days_start

    first = new_days_start(params["end"], days)
    wanted = {(first + pd.Timedelta(days=i)).strftime("%Y%m%d") for i in range(days)}
    return sum((Path(d) / f).stat().st_size for d, _, names in os.walk(params["lake"], followlinks=True)
               for f in names if f.endswith(".parquet") and Path(d).name.removeprefix("eventDay=") in wanted)


def athena_bytes(params: dict[str, Any]) -> Group:
    """The Athena bytes-scanned model (:mod:`bench.athena`) for an IP seen on 3 of the days: narrowed
    to its partitions against the unindexed pivot, at most 15 %.  Needs the bench index (``bench/index``)."""
    from .athena import model

    lake = Path(params["lake"])
    m = model(str(lake), str(lake.parent / "index"), params["start"], params["end"])
    note = f"{m['ip']}: {m['days']} days, {m['partitions']} partitions"
    checks = [Check("athena bytes scanned, pivot narrowed by the entity summary", m["narrowed_bytes"] / 1e6, "MB",
                    "max_ratio", 0.15, "unindexed pivot", m["unindexed_bytes"] / 1e6, note=note)]
    return Group("athena_bytes", {}, checks, extra={"model": m})


def memory(params: dict[str, Any], repeat: int) -> Group:
    """Memory for ~1M CloudTrail rows flattened: peak RSS growth and frame bytes, toolkit vs naive."""
    variants = [Variant("toolkit", "memory.toolkit", params, frame_bytes=True),
                Variant("naive", "memory.naive", params, frame_bytes=True)]
    out = measure(variants, repeat, "memory")
    ok, rows = same_rows(list(out.values()))
    tk, nv = out["toolkit"], out["naive"]
    checks = [
        Check("memory: peak RSS growth to hold the rows", tk.median("peak_delta_mb"), "MB", "max_ratio", 0.5,
              "naive pandas", nv.median("peak_delta_mb"), rows),
        Check("memory: DataFrame bytes (deep)", tk.median("frame_mb"), "MB", "max_ratio", 0.5, "naive pandas",
              nv.median("frame_mb"), rows),
        Check("memory: load time (info)", tk.median_s, "s", "info", None, "naive pandas", nv.median_s, rows),
    ]
    return Group("memory", out, checks, ok)


def timeline(params: dict[str, Any], repeat: int) -> Group:
    """Timeline: build (from raw loads) and draw, under 5 s; the parts and the load as information.
    There is no peer to compare rows with: the rows are the timeline's out of the events put in
    (``timeline()`` keeps one row per source and uid)."""
    out = measure([Variant("toolkit", "timeline.toolkit", params)], repeat, "timeline")
    tk = out["toolkit"]
    rows = f"{tk.rows:,} of {params['events']:,} in" if tk.rows is not None else "n/a"
    name = f"timeline {params['events']:,} events"
    checks = [
        Check(f"{name}: build + draw", tk.median_s, "s", "max", 5.0, rows=rows),
        Check(f"{name}: build (timeline())", tk.part_median("build_s"), "s", "info", rows=rows),
        Check(f"{name}: draw (plot_timeline, PNG)", tk.part_median("draw_s"), "s", "info", rows=rows),
        Check(f"{name}: load (untimed preparation)", tk.part_median("load_s"), "s", "info", rows=rows),
    ]
    return Group("timeline", out, checks)


def growth(info: LakeInfo, window_params: dict[str, Any], pivot_params: dict[str, Any], full: dict[str, Outcome],
           repeat: int) -> Group:
    """Window-load and pivot time over the growth lakes (:func:`bench.lakes.growth_steps`); the full
    lake's figures are ``full`` (``{"window": …, "pivot": …}``: the toolkit outcomes measured on it)."""
    day_steps, account_steps = growth_steps(info)
    lakes = {step: sub_lake(info, *step) for step in day_steps + account_steps}
    out: dict[str, Outcome] = {}
    for lake in dict.fromkeys(lakes.values()):
        if lake.root == info.root:
            out[f"window {lake.label}"], out[f"pivot {lake.label}"] = full["window"], full["pivot"]
            continue
        out.update(measure([
            Variant(f"window {lake.label}", "window.toolkit", {**window_params, "lake": str(lake.root)}, inner=WINDOW_INNER),
            Variant(f"pivot {lake.label}", "pivot.toolkit", {**pivot_params, "lake": str(lake.root)}),
        ], repeat, f"growth {lake.label}"))
    ok, rows = same_rows([o for k, o in out.items() if k.startswith("window ")])
    checks = []
    for what, steps in (("days", day_steps), ("accounts", account_steps)):
        small, big = lakes[steps[0]].label, lakes[steps[-1]].label
        for step in steps:
            label = lakes[step].label
            pv = out[f"pivot {label}"]
            checks.append(Check(f"growth in {what}: window load, {label}", out[f"window {label}"].median_s, "s", "info",
                                rows=rows))
            checks.append(Check(f"growth in {what}: pivot, {label}", pv.median_s, "s", "info",
                                baseline=small if label != small else None,
                                baseline_value=out[f"pivot {small}"].median_s if label != small else None,
                                rows=f"{pv.rows:,}" if pv.rows is not None else "n/a"))
        axis = 0 if what == "days" else 1
        checks.append(Check(f"growth in {what}: window load flat, {steps[-1][axis]} vs {steps[0][axis]} {what}",
                            out[f"window {big}"].median_s, "s", "max_ratio", 1.25, small, out[f"window {small}"].median_s, rows))
    return Group("growth", out, checks, ok)


def notebooks(folder: Path, repeat: int, timeout: int) -> Group:
    """Run time of every notebook below ``folder`` on the bundled lake (information, no target)."""
    from slake_forensics.sample.bundled import ensure_sample_lake

    ensure_sample_lake(progress=False)
    env = sample_lake_env()
    variants = [Variant(str(p.relative_to(folder)), "notebook", {"path": str(p.resolve()), "timeout": timeout}, env=env)
                for p in discover(folder)]
    out = measure(variants, repeat, "notebooks")
    checks = [Check(f"notebook {name}", o.median_s, "s", "info", note=f"FAILED: {o.error.splitlines()[-1]}" if o.error else "")
              for name, o in out.items()]
    return Group("notebooks", out, checks)
