"""Smoke run of the benchmark suite (``python -m bench --smoke``) on a tiny generated lake, so the
benchmarks (not run by CI) cannot rot: every measurement runs, has figures, and the toolkit,
peer and naive variants return the same rows."""
from __future__ import annotations

import json
import subprocess
import sys
from numbers import Number
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
MEASUREMENTS = {
    "window_load": {"toolkit", "duckdb", "pyarrow_limit", "pyarrow_limit_sorted", "naive"},
    "pivot": {"toolkit", "duckdb", "naive"},
    "index": {"indexed", "build"},
    "memory": {"toolkit", "naive"},
    "timeline": {"toolkit"},
    "notebooks": {"tiny.ipynb"},
}


def test_bench_smoke_run(tmp_path: Path) -> None:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import slake_forensics\n1 + 1")]
    nbformat.write(nb, notebooks / "tiny.ipynb")
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--lake", str(tmp_path / "lake"), "--results", str(results),
         "--notebooks", str(notebooks)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "window load" in proc.stdout and "pivot" in proc.stdout  # the table is printed
    (path,) = results.glob("*.json")
    doc = json.loads(path.read_text())
    assert doc["smoke"] is True and doc["repeat"] == 1

    measured = doc["measurements"]
    assert set(measured) == set(MEASUREMENTS) | {"growth"}
    for name, variants in MEASUREMENTS.items():
        assert set(measured[name]["variants"]) == variants, name
    for name, group in measured.items():
        for variant, summary in group["variants"].items():
            assert summary["error"] is None, (name, variant, summary["error"])
            assert isinstance(summary["median_s"], Number) and summary["median_s"] > 0, (name, variant)
            if name != "notebooks":  # a growth lake of the first day(s) may hold none of the pivot IP's events
                assert isinstance(summary["rows"], int) and summary["rows"] >= (name != "growth"), (name, variant)
    for name in ("window_load", "pivot", "index", "memory", "growth"):
        group = measured[name]
        assert group["rows_equal"] is True, name
        counts = {(s["rows"], s["time_sum_ms"]) for v, s in group["variants"].items()
                  if (name != "growth" or v.startswith("window")) and v != "build"}
        assert len(counts) == 1, (name, counts)
    assert {s["frame_mb"] > 0 for s in measured["memory"]["variants"].values()} == {True}
    timeline = measured["timeline"]["variants"]["toolkit"]
    assert set(timeline["parts_median_s"]) == {"build_s", "draw_s", "load_s"}

    checks = doc["checks"]
    assert checks and all(isinstance(c["value"], Number) for c in checks)
    targets = [c for c in checks if c["kind"] != "info"]
    assert {c["target"] for c in targets} >= {"<= 1.25x", ">= 20x faster", "<= 1.2x", ">= 50x faster", "<= 2 s",
                                              "<= 0.5x", "<= 5 s"}
