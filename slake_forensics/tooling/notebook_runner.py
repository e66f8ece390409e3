"""Execute the curated notebooks headless into executed ``.ipynb`` and HTML files."""
from __future__ import annotations

import fnmatch
import time
from copy import deepcopy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"


def inject_parameters(nb: nbformat.NotebookNode, parameters: Mapping[str, Any]) -> nbformat.NotebookNode:
    """Add a cell tagged ``injected-parameters`` right after the cell tagged ``parameters``,
    assigning each value with its ``repr`` (the papermill convention).  Returns ``nb``.

    Raises ``ValueError`` when ``parameters`` is not empty and the notebook has no parameters cell,
    or when a name is not a Python identifier (values are never spliced in as code)."""
    if not parameters:
        return nb
    bad = [name for name in parameters if not str(name).isidentifier()]
    if bad:
        raise ValueError(f"Parameter names must be Python identifiers: {bad}.")
    index = next((i for i, c in enumerate(nb.cells) if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])), None)
    if index is None:
        raise ValueError("The notebook has no cell tagged 'parameters' to override.")
    source = "# Injected parameters\n" + "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": [INJECTED_TAG]})
    nb.cells.insert(index + 1, cell)
    return nb


def notebooks_below(src: Path, only: Iterable[str] | None = None) -> list[Path]:
    """Notebooks below ``src`` (sorted, checkpoints skipped); ``only`` keeps those whose path
    relative to ``src`` matches one of the glob patterns (``"02_*"``, ``"training/*"``)."""
    paths = sorted(p for p in src.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if only is not None:
        patterns = list(only)
        paths = [p for p in paths if any(fnmatch.fnmatch(p.relative_to(src).as_posix(), pat) for pat in patterns)]
    return paths


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def offline_view(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose outputs that carry both a widget view and ``text/html`` keep only the HTML.

    An exported page renders a widget view from the saved widget state with scripts fetched from a CDN,
    so offline it shows a blank area; outputs that also carry a self-contained HTML rendering (the
    interactive timeline inlines BokehJS) show that instead.  Other widgets are left as they are.

    Examples
    --------
    >>> cell = nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output(
    ...     "display_data", data={WIDGET_VIEW: {"model_id": "m"}, "text/html": "<div>plot</div>", "text/plain": "p"})])
    >>> nb = nbformat.v4.new_notebook(cells=[cell])
    >>> sorted(offline_view(nb).cells[0].outputs[0].data), sorted(nb.cells[0].outputs[0].data)[0]
    (['text/html', 'text/plain'], 'application/vnd.jupyter.widget-view+json')
    """
    copy = deepcopy(nb)
    for cell in copy.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and "text/html" in data:
                del data[WIDGET_VIEW]
    return copy


def run_notebooks(
    src: Path,
    out: Path,
    *,
    parameters: Mapping[str, Any] | None = None,
    only: Iterable[str] | None = None,
    timeout: int = 600,
) -> list[tuple[Path, float]]:
    """Execute the notebooks below ``src`` (see :func:`notebooks_below`) in order into ``out``.

    ``parameters`` override names of each notebook's parameters cell (a notebook lacking a name
    simply gets the extra variable).  Each notebook runs with its own folder as working
    directory; the executed notebook and an HTML rendering are written under ``out`` with the
    same relative path.  Returns ``[(notebook path, seconds)]``.  Raises nbclient's
    ``CellExecutionError`` (naming the cell) on the first failing notebook.
    """
    results = []
    for path in notebooks_below(src, only):
        nb = inject_parameters(nbformat.read(path, as_version=4), parameters or {})
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
        secs = time.perf_counter() - t0
        target = out / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        html, _ = HTMLExporter().from_notebook_node(offline_view(nb))
        target.with_suffix(".html").write_text(html, encoding="utf-8")
        results.append((path, secs))
        print(f"{path.relative_to(src)}: {secs:.1f} s -> {target}", flush=True)
    return results
