"""Every notebook in real JupyterLab, driven by Debian's Chromium (``/usr/bin/chromium``, never downloaded).

JupyterLab serves a temporary copy of ``notebooks/`` on 127.0.0.1 with a token; each notebook is
opened, all its cells run, and once every code cell has executed the test asserts: no error
output (read from the saved notebook and the page), no "Error displaying widget", at least the
expected number of pictures (``<img>``/``<canvas>`` outputs).  In 02 it then picks a row in the
explorer (``sf.explore``), presses its bookmark button and reads the case folder to see the new
bookmark.  Screenshots go to ``out/browser/<notebook>.png``.  Skipped without ``/usr/bin/chromium``
(``.ci/run`` installs it when running as root).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium)")

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "out" / "browser"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Notebook (relative to notebooks/) -> the fewest pictures (<img> or <canvas> outputs) it must show.
NOTEBOOKS = {
    "00_start_here.ipynb": 0,
    "01_preparation.ipynb": 0,
    # the triage and timeline pictures (tests/test_notebooks.py EXPECTED_IMAGES) and the interactive timeline (canvas)
    "02_detection_analysis.ipynb": 4,
    "03_containment_eradication_recovery.ipynb": 1,  # the recovery check's timeline
    "04_post_incident.ipynb": 1,  # the lessons-learned timeline
    "training/exercise.ipynb": 0,
}
RUN_TIMEOUT_S = 180
_NOTEBOOK = "window.jupyterapp?.shell.currentWidget?.sessionContext"
_KERNEL_READY = f"{_NOTEBOOK}?.isReady && {_NOTEBOOK}.session?.kernel?.status === 'idle'"
#: Every code cell ran (numbered prompt) or the run stopped at an error, and nothing is queued.
_RUN_OVER = f"""() => {{
    const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
        .map((p) => p.textContent.trim());
    const ran = prompts.filter((t) => /^\\[\\d+\\]:$/.test(t)).length;
    return {_NOTEBOOK}?.session?.kernel?.status === 'idle' && !prompts.some((t) => t.includes('*')) && ran > 0
        && (ran === prompts.length || document.querySelector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"], .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"] .ansi-red-intense-fg, .jp-OutputArea-output pre .ansi-red-fg') !== null);
}}"""
#: JupyterLab settings: render every cell (no windowing, so off-screen outputs are in the page), no news pop-up.
_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """(base URL, token, served folder) of a JupyterLab serving a copy of notebooks/."""
    work = tmp_path_factory.mktemp("lab")
    served = work / "notebooks"
    shutil.copytree(ROOT / "notebooks", served, ignore=shutil.ignore_patterns("cases", ".ipynb_checkpoints"))
    token, port = secrets.token_hex(16), _free_port()
    for name, values in _SETTINGS.items():
        (work / "settings" / name).parent.mkdir(parents=True, exist_ok=True)
        (work / "settings" / name).write_text(json.dumps(values))
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(work / "runtime"), "JUPYTERLAB_WORKSPACES_DIR": str(work / "ws"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.root_dir={served}", f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True",
           f"--LabApp.workspaces_dir={work / 'ws'}", f"--LabApp.user_settings_dir={work / 'settings'}", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", *(["--allow-root"] if as_root else [])]
    log = open(work / "lab.log", "wb")  # closed in the finally below
    proc = subprocess.Popen(cmd, cwd=served, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start:\n" + (work / "lab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield url, token, served
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


def _run_all(page: Any, url: str, token: str, rel: str) -> None:
    """Open ``rel`` in JupyterLab, run all cells and wait until every code cell has executed."""
    stem = Path(rel).stem.replace("_", "-")
    page.goto(f"{url}/lab/workspaces/{stem}/tree/{rel}?reset&token={token}")
    page.wait_for_function(_KERNEL_READY, timeout=90_000)
    # resolves when the run is over (an error stops it early: asserted by the caller)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(_RUN_OVER, timeout=RUN_TIMEOUT_S * 1000, polling=500)
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_timeout(2000)  # widgets and Bokeh finish rendering


def _errors(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


@pytest.mark.parametrize("rel", list(NOTEBOOKS))
def test_notebook_runs_in_jupyterlab(lab: tuple[str, str, Path], browser: Any, rel: str) -> None:
    url, token, served = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _run_all(page, url, token, rel)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / (Path(rel).stem + ".png")))
        assert _errors(served / rel) == []
        assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']").count() == 0
        assert page.get_by_text("Error displaying widget").count() == 0
        pictures = page.locator(".jp-OutputArea-output img, .jp-OutputArea-output canvas").count()
        assert pictures >= NOTEBOOKS[rel], f"{rel}: {pictures} picture(s)"
        if rel == "02_detection_analysis.ipynb":  # the interactive timeline drew (Bokeh canvas), then the explorer
            timeline = page.locator(".jp-Cell:has-text('sf.interactive_timeline(tl')").last
            assert timeline.locator(".jp-OutputArea-output canvas").count() >= 1
            timeline.scroll_into_view_if_needed()
            timeline.screenshot(path=str(SCREENSHOTS / "02_interactive_timeline.png"))
            _bookmark_from_explorer(page, served)
    finally:
        page.close()


def _bookmark_from_explorer(page: Any, served: Path) -> None:
    """Pick the explorer's first row, press its bookmark button, and find the bookmark in the case folder."""
    from slake_forensics import Case

    (header,) = sorted(served.glob("cases/*/case.json"))
    before = len(Case.open(header.parent).bookmarks)
    explorer = page.locator(".widget-vbox:has(button:has-text('Bookmark picked rows'))").last
    rows = explorer.locator(".widget-select-multiple:has(label:text-is('pick')) select")
    first = rows.locator("option").first
    rows.select_option(first.get_attribute("value"))
    explorer.locator("button:has-text('Bookmark picked rows')").click()
    explorer.get_by_text("Bookmarked 1 row(s).").wait_for(timeout=30_000)
    marks = Case.open(header.parent).bookmarks
    assert len(marks) == before + 1
    picked = json.loads(marks.iloc[-1]["row"])
    assert picked["time"][:19].replace("T", " ") in (first.text_content() or "").replace("\xa0", " ")
