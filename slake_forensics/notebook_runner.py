"""Execute the curated notebooks headless into executed ``.ipynb`` and HTML files."""
from __future__ import annotations

import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter


def run_notebooks(src: Path, out: Path, *, timeout: int = 600) -> list[tuple[Path, float]]:
    """Execute every notebook below ``src`` (sorted, checkpoints skipped) into ``out``.

    Each notebook runs with its own folder as working directory; the executed notebook
    and an HTML rendering are written under ``out`` with the same relative path.
    Returns ``[(notebook path, seconds)]``.  Raises nbclient's ``CellExecutionError``
    (naming the cell) on the first failing notebook.
    """
    results = []
    for path in sorted(p for p in src.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts):
        nb = nbformat.read(path, as_version=4)
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
        secs = time.perf_counter() - t0
        target = out / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        html, _ = HTMLExporter().from_notebook_node(nb)
        target.with_suffix(".html").write_text(html, encoding="utf-8")
        results.append((path, secs))
        print(f"{path.relative_to(src)}: {secs:.1f} s -> {target}", flush=True)
    return results
