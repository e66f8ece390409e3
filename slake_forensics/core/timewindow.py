"""Time windows: parsing analyst-supplied times and mapping a window to event days.

Policy for naive times: a datetime or string without a time zone is taken as UTC
(Security Lake stores every time in UTC) and a :class:`NaiveTimeWarning` says so once
per distinct value, so an analyst in another zone notices.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TypeAlias

import pandas as pd

from slake_forensics.core.errors import BadWindowError

TimeLike: TypeAlias = str | datetime | date | pd.Timestamp


class NaiveTimeWarning(UserWarning):
    """A time without a zone was given and is being read as UTC."""


_warned: set[str] = set()


def to_utc(value: TimeLike, *, what: str = "time") -> pd.Timestamp:
    """Return ``value`` as a tz-aware UTC :class:`pandas.Timestamp`.

    Accepts ISO strings (``"2026-03-01"``, ``"2026-03-01T12:00Z"``), ``datetime``, ``date``
    and ``Timestamp``.  Naive values are read as UTC with a :class:`NaiveTimeWarning`.
    Raises :class:`BadWindowError` for anything unparsable.
    """
    if isinstance(value, pd.Timestamp | datetime | date | str) is False:
        raise BadWindowError(f"{what} must be a datetime, date or ISO-8601 string, not {type(value).__name__}.")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise BadWindowError(
            f"Cannot read {what} {value!r} as a time ({exc}). Use ISO-8601, e.g. '2026-03-01T12:00:00Z'."
        ) from None
    if ts is pd.NaT:
        raise BadWindowError(f"{what} is empty (NaT); give a real time such as '2026-03-01T00:00:00Z'.")
    if ts.tzinfo is None:
        key = str(value)
        if key not in _warned:
            _warned.add(key)
            warnings.warn(
                f"{what} {value!r} has no time zone; reading it as UTC. Add 'Z' or '+00:00' to silence this.",
                NaiveTimeWarning,
                stacklevel=3,
            )
        return ts.tz_localize(timezone.utc)
    return ts.tz_convert(timezone.utc)


@dataclass(frozen=True)
class Window:
    """A half-open UTC time window ``[start, end)``."""

    start: pd.Timestamp
    end: pd.Timestamp

    @classmethod
    def of(cls, start: TimeLike, end: TimeLike) -> "Window":
        """Build a window from two analyst-supplied times; raises :class:`BadWindowError` if start >= end."""
        s, e = to_utc(start, what="start"), to_utc(end, what="end")
        if s >= e:
            raise BadWindowError(
                f"start {s.isoformat()} is not before end {e.isoformat()}; swap them or widen the window."
            )
        return cls(s, e)

    def days(self) -> list[str]:
        """Event days (``YYYYMMDD``, UTC) the window touches, in order."""
        first = self.start.normalize()
        last = (self.end - pd.Timedelta(milliseconds=1)).normalize()
        n = (last - first).days
        return [(first + timedelta(days=i)).strftime("%Y%m%d") for i in range(n + 1)]

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"
