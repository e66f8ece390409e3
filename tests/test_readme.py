"""The README's Quick start runs on the bundled lake and finds data (it is the first thing a new user types)."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd

README = Path(__file__).resolve().parents[1] / "README.md"


def quick_start() -> str:
    text = README.read_text()
    section = text.split("## Quick start", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S)[1]


def test_quick_start_runs_without_warnings_and_finds_rows() -> None:
    scope: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a time-zone warning or an empty-table warning fails the test
        exec(compile(quick_start(), str(README), "exec"), scope)
    ct, ops = scope["ct"], scope["ops"]
    assert isinstance(ct, pd.DataFrame) and len(ct) > 0, "the Quick start's load finds nothing in the bundled lake"
    assert set(ct.columns) == {"time_dt", "actor.user.uid", "api.operation"}
    assert len(ops) > 0 and ops["n"].is_monotonic_decreasing, "the Quick start's SQL finds nothing for its IP"
