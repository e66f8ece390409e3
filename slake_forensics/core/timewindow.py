"""Time windows: parsing analyst-supplied times and mapping a window to event days.

Policy for naive times: a datetime or string without a time zone is taken as UTC
(Security Lake stores every time in UTC) and a :class:`NaiveTimeWarning` says so once
per distinct value, so an analyst in another zone notices.
"""
from __future__ import annotations

import re
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


#: ISO 8601 dates and times: ``2026-03-01``, ``20260301``, ``2026-03-01T12:00``, ``2026-03-01 12:00:00.5Z``,
#: ``2026-03-01T12:00:00+02:00`` …  Anything else (``05/12/2026``, ``May 12``) is ambiguous or locale-bound.
_ISO = re.compile(
    r"(\d{4}-\d{2}-\d{2}|\d{8})"
    r"([T ]\d{2}(:?\d{2}(:?\d{2}([.,]\d{1,9})?)?)?)?"
    r"(Z|[+-]\d{2}(:?\d{2})?)?",
    re.IGNORECASE,
)


def to_utc(value: TimeLike, *, what: str = "time", format: str | None = None) -> pd.Timestamp:
    """Return ``value`` as a tz-aware UTC :class:`pandas.Timestamp`.

    Parameters
    ----------
    value : str, datetime.datetime, datetime.date or pandas.Timestamp
        The time.  Text must be ISO 8601 (``"2026-03-01"``, ``"2026-03-01T12:00Z"``,
        ``"2026-03-01T12:00:00+02:00"``) unless ``format`` is given: a date such as
        ``"05/12/2026"`` is refused, since it reads as 12 May or 5 December.
    what : str, optional
        The argument's name, for error messages.
    format : str, optional
        An explicit :meth:`~datetime.datetime.strptime` format for text that is not ISO 8601,
        e.g. ``"%d/%m/%Y"``.

    Returns
    -------
    pandas.Timestamp
        Tz-aware, UTC.  Naive values are read as UTC with a :class:`NaiveTimeWarning`.

    Raises
    ------
    BadWindowError
        For a value of another type, text that is not ISO 8601 (or does not match ``format``)
        or an impossible date.

    Examples
    --------
    >>> to_utc("2026-03-01T12:00:00+02:00").isoformat()
    '2026-03-01T10:00:00+00:00'
    >>> to_utc("05/12/2026", format="%d/%m/%Y", what="start").isoformat()
    '2026-12-05T00:00:00+00:00'
    >>> to_utc("05/12/2026", what="start")
    Traceback (most recent call last):
    ...
    slake_forensics.core.errors.BadWindowError: Cannot read start '05/12/2026': it is not an ISO-8601 time, so its day and month would be ambiguous. Write it as '2026-03-01' or '2026-03-01T12:00:00Z', or pass format= (e.g. '%d/%m/%Y').
    """
    if isinstance(value, bool) or isinstance(value, pd.Timestamp | datetime | date | str) is False:
        raise BadWindowError(f"{what} must be a datetime, date or ISO-8601 string such as '2026-03-01T12:00:00Z', "
                             f"not {type(value).__name__} ({value!r:.60}).")
    given = value
    if isinstance(value, str) and format is not None:
        try:
            value = datetime.strptime(value.strip(), format)
        except ValueError as exc:
            raise BadWindowError(f"{what} {value!r:.80} does not match format {format!r} ({exc}).") from None
    elif isinstance(value, str) and not _ISO.fullmatch(value.strip()):
        raise BadWindowError(
            f"Cannot read {what} {value!r:.80}: it is not an ISO-8601 time, so its day and month would be "
            "ambiguous. Write it as '2026-03-01' or '2026-03-01T12:00:00Z', or pass format= (e.g. '%d/%m/%Y')."
        )
    try:
        ts = pd.Timestamp(value.strip() if isinstance(value, str) else value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise BadWindowError(
            f"Cannot read {what} {value!r} as a time ({exc}). Use ISO-8601, e.g. '2026-03-01T12:00:00Z'."
        ) from None
    if ts is pd.NaT:
        raise BadWindowError(f"{what} is empty (NaT); give a real time such as '2026-03-01T00:00:00Z'.")
    if ts.tzinfo is None:
        key = str(given)
        if key not in _warned:
            _warned.add(key)
            warnings.warn(
                f"{what} {given!r} has no time zone; reading it as UTC. Add 'Z' or '+00:00' to silence this.",
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
