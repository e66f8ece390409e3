"""Timeline: build and draw a one-million-event timeline.

Preparation (untimed, its time reported as ``load_s``) loads every source of one account over
``[start, end)`` with ``Lake.load`` and keeps the first ``events`` rows in catalog source order.  The
timed op builds the timeline from those raw loads (``timeline()``: normalize, merge, sort) and
draws it (``plot_timeline`` rendered to PNG).  Parameters: ``lake``, ``account``, ``start``,
``end`` (ISO times), ``events``.
"""
from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

Op = Callable[[], tuple[pd.DataFrame, dict[str, float]]]


def toolkit(p: dict[str, Any]) -> Op:
    """Load, trim, warm up on a thousand rows; returns the op (build + draw, with their split)."""
    import slake_forensics as sf
    from slake_forensics.core.catalog import SOURCES
    from slake_forensics.core.errors import NoPartitionsError
    from slake_forensics.analysis.timeline import plot_timeline, timeline

    lake = sf.Lake.local(p["lake"])
    t0 = time.perf_counter()
    frames, left = [], int(p["events"])
    for name in SOURCES:
        if left <= 0:
            break
        try:
            df = lake.load(name, pd.Timestamp(p["start"]), pd.Timestamp(p["end"]), accounts=[p["account"]])
        except NoPartitionsError:  # the account has none of this source in the window
            continue
        frames.append(df.iloc[:left])
        left -= len(frames[-1])
    load_s = time.perf_counter() - t0

    def build_and_draw(parts: list[pd.DataFrame]) -> tuple[pd.DataFrame, dict[str, float]]:
        t0 = time.perf_counter()
        tl = timeline(*parts)
        t1 = time.perf_counter()
        plot_timeline(tl).savefig(io.BytesIO(), format="png")
        t2 = time.perf_counter()
        return tl, {"build_s": t1 - t0, "draw_s": t2 - t1, "load_s": load_s}

    build_and_draw([f.iloc[:100] for f in frames])
    return lambda: build_and_draw(frames)
