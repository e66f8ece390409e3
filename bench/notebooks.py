"""Notebook run times: each notebook executed top to bottom with nbclient in a fresh kernel, on the
bundled sample lake (``SLAKE_*`` lake settings are removed from the environment so the notebooks'
``Lake.from_config()`` falls back to it).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Environment variables that would point the notebooks at another lake.
LAKE_SETTINGS = ("SLAKE_LAKE", "SLAKE_REGION", "SLAKE_DATABASE", "SLAKE_WORKGROUP", "SLAKE_S3_OUTPUT", "SLAKE_NOW", "SLAKE_CONFIG")


def discover(folder: Path) -> list[Path]:
    """Every notebook below ``folder`` (recursively, checkpoints skipped), sorted."""
    return sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def sample_lake_env() -> dict[str, str]:
    """This process's environment without the lake settings of :data:`LAKE_SETTINGS`."""
    return {k: v for k, v in os.environ.items() if k not in LAKE_SETTINGS}


def execute(p: dict[str, Any]) -> Callable[[], None]:
    """Read notebook ``p["path"]``; returns the op that executes it (kernel start included), in its
    own folder, with a ``p["timeout"]``-second limit per cell.  A failing cell raises."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(p["path"])
    text = path.read_text(encoding="utf-8")

    def run() -> None:
        nb = nbformat.reads(text, as_version=4)
        NotebookClient(nb, timeout=int(p["timeout"]), kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()

    return run
