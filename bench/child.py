"""One measurement run in a fresh process: ``python -m bench.child '<json spec>'``.

The spec names a task of :data:`bench.tasks.TASKS` and its parameters.  The child prepares the
task (imports, opening the lake, an untimed warm-up where the task has one), then times the
operation ``inner`` times with ``time.perf_counter`` and prints one JSON line: the run times, the
result's row count and time fingerprint, and memory figures (peak RSS from ``getrusage``, held
RSS from ``/proc/self/statm``).  :func:`run_child` is the parent's side.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

REPO = Path(__file__).resolve().parents[1]
_MARK = "BENCH-RESULT "


def rss_mb() -> float:
    """This process's resident set size now, in MB (from ``/proc/self/statm``)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (``ru_maxrss`` is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def fingerprint(frame: pd.DataFrame) -> int:
    """Sum of the event times (epoch ms) of ``frame`` (its ``time_dt`` column, else ``time``):
    equal for equal sets of rows whatever the order, columns or time unit; 0 without either column."""
    col = "time_dt" if "time_dt" in frame.columns else "time" if "time" in frame.columns else None
    if col is None or frame.empty:
        return 0
    arr = pa.array(frame[col], from_pandas=True)
    ms = arr.cast(pa.timestamp("ms", tz="UTC"), safe=False).cast(pa.int64())
    return int(pc.sum(ms).as_py() or 0)


def execute(spec: dict[str, Any]) -> dict[str, Any]:
    """Prepare and time the task of ``spec`` in this process; returns the result record."""
    from .tasks import TASKS

    op = TASKS[spec["task"]](spec["params"])
    base_peak, base_held = peak_rss_mb(), rss_mb()
    runs, parts = [], []
    out: Any = None
    for _ in range(int(spec.get("inner", 1))):
        t0 = time.perf_counter()
        out = op()
        runs.append(time.perf_counter() - t0)
        if isinstance(out, tuple):
            out, extra = out
            parts.append(extra)
    record: dict[str, Any] = {
        "runs_s": runs,
        "base_rss_mb": base_held,
        "peak_rss_mb": peak_rss_mb(),
        "peak_delta_mb": peak_rss_mb() - base_peak,
        "held_delta_mb": rss_mb() - base_held,
        "parts_s": parts,
    }
    if isinstance(out, pd.DataFrame):
        record["rows"] = len(out)
        record["time_sum_ms"] = fingerprint(out)
        if spec.get("frame_bytes"):
            from .naive import deep_bytes

            record["frame_mb"] = deep_bytes(out) / 1e6
    return record


def run_child(task: str, params: dict[str, Any], *, inner: int = 1, frame_bytes: bool = False,
              env: dict[str, str] | None = None, timeout: float = 3600) -> dict[str, Any]:
    """Run one measurement of ``task`` in a fresh Python process and return its record
    (see :func:`execute`).  Raises ``RuntimeError`` with the child's stderr when it fails."""
    spec = {"task": task, "params": params, "inner": inner, "frame_bytes": frame_bytes}
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), child_env.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "bench.child", json.dumps(spec)], cwd=REPO, env=child_env,
                          capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(_MARK)]
    if proc.returncode or not lines:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"{task} failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1][len(_MARK):])


def main() -> None:
    """Entry point of the child process: run the spec given as the first argument."""
    print(_MARK + json.dumps(execute(json.loads(sys.argv[1]))), flush=True)


if __name__ == "__main__":
    main()
