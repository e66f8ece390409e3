"""Whether a hunt's hit stands for a known event (shared by the hunt tests on stories and on Stratus captures)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def covers(hit: pd.Series, event: pd.Series) -> bool:
    """Does a hit stand for ``event``?  Its OCSF-named columns equal the event's values and the
    event's time is the hit's ``time_dt`` or lies in ``[first_time_dt, last_time_dt]``."""
    t = event["time_dt"]
    if "time_dt" in hit.index:
        if hit["time_dt"] != t:
            return False
    elif not hit["first_time_dt"] <= t <= hit["last_time_dt"]:
        return False
    for col, value in hit.items():
        if col in event.index and col != "time_dt" and not isinstance(value, list | np.ndarray) and pd.notna(value):
            if str(event[col]) != str(value):
                return False
    return True
