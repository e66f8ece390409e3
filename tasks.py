#!/usr/bin/env python3
"""Set up and run slake-forensics with nothing but Python 3.11+ (no make needed).

  python3 tasks.py lab        venv + install + bundled sample lake + JupyterLab on notebooks/
                              (further arguments go to JupyterLab: tasks.py lab --port 8890 --ip 0.0.0.0)
  python3 tasks.py notebooks  same set-up, then execute every notebook headless into out/
  python3 tasks.py test       same set-up, then the whole test suite (unit tests + notebooks via nbval)
  python3 tasks.py setup      only the set-up
"""
from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def step(text: str) -> None:
    """Say what set-up is doing now, before a step that may take a while."""
    print(f"==> {text}", flush=True)


def run(*cmd: str | Path) -> None:
    """Run a command in the project folder; stop with its exit code if it fails."""
    print("+", " ".join(map(str, cmd)), flush=True)
    code = subprocess.call([str(c) for c in cmd], cwd=ROOT)
    if code:
        sys.exit(code)


def setup() -> None:
    """Create .venv (once), install the project with test extras at pinned versions, build the sample lake."""
    if sys.version_info < (3, 11):
        sys.exit(f"slake-forensics needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PY.exists():
        step(f"creating the virtual environment {VENV} (once)")
        venv.EnvBuilder(with_pip=True).create(VENV)
        step("installing slake-forensics and its pinned dependencies (the first time takes a few minutes)")
        run(PY, "-m", "pip", "install", "--progress-bar", "on", "--disable-pip-version-check",
            "-c", "constraints.txt", "-e", ".[test]")
    else:
        step(f"checking the installation in {VENV}")
        run(PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-c", "constraints.txt", "-e", ".[test]")
    step("generating (the first time, about a minute) and verifying the bundled sample lake")
    run(PY, "-m", "slake_forensics", "sample", "--bundled")
    step("set-up done")


def main(argv: list[str]) -> None:
    task = argv[0] if argv else "help"
    if task not in {"setup", "lab", "notebooks", "test"}:
        sys.exit(__doc__)
    setup()
    if task == "lab":
        as_root = hasattr(os, "geteuid") and os.geteuid() == 0  # containers often run as root; Jupyter refuses without this
        extra = argv[1:]
        step("starting JupyterLab on notebooks/" + (f" with {' '.join(extra)}" if extra else ""))
        run(PY, "-m", "jupyter", "lab", "notebooks/", *(["--allow-root"] if as_root and "--allow-root" not in extra else []),
            *extra)
    elif task == "notebooks":
        step("executing every notebook into out/")
        run(PY, "-m", "slake_forensics", "run-notebooks", "--out", "out/")
    elif task == "test":
        run(PY, "-m", "ruff", "check", "slake_forensics", "tests", "bench", "tasks.py")  # lint (config in pyproject.toml)
        run(VENV / "bin" / "lint-imports")  # the layers contract (docs/architecture.md)
        run(PY, "-m", "mypy")  # the type checker (config and files in pyproject.toml)
        run(PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--doctest-modules", "slake_forensics")  # docstring examples
        run(PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/", "--nbval-lax", "notebooks/", *argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
