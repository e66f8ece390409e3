"""``python -m bench``: generate (or reuse) the benchmark lake, run the measurements, print the
table and write ``bench/results/<UTC timestamp>.json``.

Exit status 0 when every measurement ran and its variants returned the same rows; 1 otherwise.
Missed targets are reported in the table and the JSON, not by the exit status.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import plan, report, suite
from .child import REPO
from .lakes import FULL, SMOKE, ensure_lake

MEASUREMENTS = ("window", "pivot", "index", "expand", "index_update", "athena_bytes", "memory", "timeline", "growth",
                "notebooks")
#: What runs without ``--only``: the issue-16 additions after ``index`` are opt-in (each reads or
#: indexes the whole lake once more; ``athena_bytes`` needs the index ``index`` builds).
DEFAULT = ("window", "pivot", "index", "memory", "timeline", "growth", "notebooks")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m bench``."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lake", type=Path, help="benchmark lake folder, generated when missing "
                   "(default bench/lake; bench/lake-smoke with --smoke)")
    p.add_argument("--repeat", type=int, help="child processes per variant (default 5; 1 with --smoke)")
    p.add_argument("--smoke", action="store_true", help="a tiny lake and one run each: checks the suite works, "
                   "its figures mean nothing")
    p.add_argument("--only", default=",".join(DEFAULT), help=f"comma-separated subset of {','.join(MEASUREMENTS)} "
                   f"(default {','.join(DEFAULT)})")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results", help="folder for the JSON result")
    p.add_argument("--notebooks", type=Path, default=REPO / "notebooks", help="notebooks to time (default notebooks/)")
    p.add_argument("--notebook-timeout", type=int, default=1800, help="seconds allowed per notebook cell")
    p.add_argument("--ip", help="IP to pivot on (default: chosen from the lake's answer keys)")
    p.add_argument("--memory-rows", type=int, default=1_000_000, help="CloudTrail rows of the memory measurement")
    p.add_argument("--timeline-events", type=int, default=1_000_000, help="events of the timeline measurement")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the suite; returns the exit status."""
    args = build_parser().parse_args(argv)
    only = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = sorted(set(only) - set(MEASUREMENTS))
    if unknown:
        print(f"error: unknown measurement(s) {unknown}; choose from {', '.join(MEASUREMENTS)}", file=sys.stderr)
        return 2
    repeat = args.repeat or (1 if args.smoke else 5)
    lake_root = (args.lake or REPO / "bench" / ("lake-smoke" if args.smoke else "lake")).resolve()
    started = time.perf_counter()
    info = ensure_lake(lake_root, SMOKE if args.smoke else FULL)
    counts = plan.events_per_account_day(info)
    info = plan.busiest_first(info, counts)

    window_p = plan.window_params(info)
    pivot_p = plan.pivot_params(info, args.ip) if {"pivot", "growth", "index", "expand", "index_update", "athena_bytes"} & set(only) else {}
    groups: list[suite.Group] = []
    if "window" in only or "growth" in only:
        groups.append(suite.window(window_p, repeat))
    if "pivot" in only or "growth" in only or "index" in only:
        groups.append(suite.pivot(pivot_p, repeat))
    if "index" in only:
        groups.append(suite.index(pivot_p, repeat, groups[-1]))
    if "expand" in only:
        groups.append(suite.expand(pivot_p, repeat))
    if "index_update" in only:
        groups.append(suite.index_update(pivot_p, next((g for g in groups if g.name == "index"), None)))
    if "athena_bytes" in only:
        groups.append(suite.athena_bytes(pivot_p))
    if "memory" in only:
        groups.append(suite.memory(plan.memory_params(info, args.memory_rows), repeat))
    if "timeline" in only:
        groups.append(suite.timeline(plan.timeline_params(info, counts, args.timeline_events), repeat))
    if "growth" in only:
        by_name = {g.name: g for g in groups}
        full = {"window": by_name["window_load"].outcomes["toolkit"], "pivot": by_name["pivot"].outcomes["toolkit"]}
        groups.append(suite.growth(info, window_p, pivot_p, full, repeat))
    if "notebooks" in only:
        groups.append(suite.notebooks(args.notebooks.resolve(), repeat, args.notebook_timeout))

    checks = [c for g in groups for c in g.checks]
    document = {
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "smoke": args.smoke,
        "repeat": repeat,
        "seconds": time.perf_counter() - started,
        "machine": report.machine(),
        "lake": {"root": str(info.root), "events": info.events, "days": info.days, "accounts": list(info.accounts),
                 "regions": list(info.regions), "rows": info.rows},
        "measurements": {g.name: g.as_json() for g in groups},
        "checks": [c.as_json() for c in checks],
    }
    path = report.write(args.results, document)
    print()
    print(f"lake: {info.events:,} events, {info.days} days, {len(info.accounts)} accounts, {len(info.regions)} regions; "
          f"medians of {repeat} run(s) per variant" + (" (SMOKE RUN: figures mean nothing)" if args.smoke else ""))
    print(report.table(checks))
    print(f"\nwrote {path}")
    broken = [g.name for g in groups if g.failed]
    if broken:
        print(f"error: rows differ or a run failed in: {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0
