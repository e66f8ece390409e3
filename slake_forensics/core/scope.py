"""The scope of a call: a time window plus optional accounts and regions, and the one default-window rule.

Every public call that reads the lake (``load``, ``sql``, ``pivot``, hunts, workflows) resolves its
arguments into a :class:`Scope` here and hands it on to the engine, so the same ``[start, end)``,
accounts and regions reach the files an engine opens, the partitions Athena prunes and the SQL
predicate.  :func:`default_window` is the only place that decides what an omitted ``start`` or
``end`` means; :func:`slake_forensics.sql.build.scope_predicate` is the only builder of the predicate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from slake_forensics.core.errors import BadArgumentError, BadWindowError
from slake_forensics.core.timewindow import TimeLike, Window, to_utc

#: Days a window spans when the caller gives no ``start``.
DEFAULT_DAYS = 14


def default_window(
    clock: pd.Timestamp, start: TimeLike | None = None, end: TimeLike | None = None, days: float = DEFAULT_DAYS
) -> Window:
    """The window ``[start, end)`` with the defaults every call uses.

    Parameters
    ----------
    clock
        The lake's current time (``lake.clock()``).
    start, end
        Analyst-supplied bounds; ``end`` defaults to ``clock``, ``start`` to ``days`` before ``end``.
    days
        Length of the default window in days.

    Returns
    -------
    Window
        The half-open UTC window.

    Examples
    --------
    >>> import pandas as pd
    >>> w = default_window(pd.Timestamp("2026-03-15", tz="UTC"), days=7)
    >>> w.start.isoformat(), w.end.isoformat()
    ('2026-03-08T00:00:00+00:00', '2026-03-15T00:00:00+00:00')
    """
    e = clock if end is None else to_utc(end, what="end")
    s = e - pd.Timedelta(days=days) if start is None else to_utc(start, what="start")
    return Window.of(s, e)


def id_list(values: Iterable[str] | str | int | None, what: str) -> list[str] | None:
    """Normalise an ``accounts`` / ``regions`` argument to a list of strings (``None`` stays ``None``).

    Parameters
    ----------
    values
        One value or several; integers are account ids and are zero-padded to 12 digits.
    what
        The argument's name, for the error message.

    Returns
    -------
    list of str or None

    Examples
    --------
    >>> id_list(123456789012, "accounts")
    ['123456789012']
    >>> id_list(["us-east-1", "eu-west-1"], "regions")
    ['us-east-1', 'eu-west-1']
    """
    if values is None:
        return None
    if isinstance(values, bool) or isinstance(values, Mapping | bytes) or not isinstance(values, str | int | Iterable):
        raise BadArgumentError(f"{what} must be a string or a list of strings (e.g. {what}=['123456789012']), "
                               f"not {type(values).__name__}.")
    items: Iterable[str | int] = [values] if isinstance(values, str | int) else values
    out: list[str] = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, str | int):
            raise BadArgumentError(f"{what} must be strings, not {type(v).__name__} ({v!r:.60}).")
        if isinstance(v, int) and not 0 <= v < 10**12:
            raise BadArgumentError(f"{what}: {v} is not a 12-digit account id; pass it as a string such as '123456789012'.")
        if isinstance(v, str) and not v.strip():
            raise BadArgumentError(f"{what}: a blank value was given; pass real values or None for all.")
        out.append(f"{v:012d}" if isinstance(v, int) else v)
    if not out:
        raise BadArgumentError(f"Empty {what} list: pass None for all {what}, or at least one value.")
    return out


def column_list(columns: Iterable[str] | str | None) -> list[str] | None:
    """Normalise a ``columns`` argument to a list of distinct names, in first-seen order (``None`` stays ``None``).

    Parameters
    ----------
    columns
        One column name or several (top-level or dotted, such as ``src_endpoint.ip``).

    Returns
    -------
    list of str or None

    Raises
    ------
    BadArgumentError
        For an empty selection, a blank name or a value that is not a string.

    Examples
    --------
    >>> column_list(["time_dt", "src_endpoint.ip", "time_dt"])
    ['time_dt', 'src_endpoint.ip']
    >>> column_list([])
    Traceback (most recent call last):
    ...
    slake_forensics.core.errors.BadArgumentError: columns=[] selects nothing: pass None for every column, or names such as ['time_dt', 'src_endpoint.ip'].
    """
    if columns is None:
        return None
    if isinstance(columns, Mapping | bytes) or not isinstance(columns, str | Iterable):
        raise BadArgumentError(f"columns must be a column name or a list of names (e.g. ['time_dt', 'api.operation']), "
                               f"not {type(columns).__name__}.")
    items = [columns] if isinstance(columns, str) else list(columns)
    for c in items:
        if not isinstance(c, str) or not c.strip():
            raise BadArgumentError(f"columns must be non-blank names such as 'time_dt', not {c!r:.60}.")
    if not items:
        raise BadArgumentError("columns=[] selects nothing: pass None for every column, "
                               "or names such as ['time_dt', 'src_endpoint.ip'].")
    return list(dict.fromkeys(items))


@dataclass(frozen=True)
class Scope:
    """What a call reads: a window and optional accounts and regions (``None`` = all).

    Examples
    --------
    >>> s = Scope.of("2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", accounts="123456789012")
    >>> s.accounts, s.window.days()
    (('123456789012',), ['20260301'])
    """

    window: Window
    accounts: tuple[str, ...] | None = None
    regions: tuple[str, ...] | None = None

    @classmethod
    def of(
        cls,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        accounts: Iterable[str] | str | int | None = None,
        regions: Iterable[str] | str | None = None,
        *,
        clock: pd.Timestamp | None = None,
        days: float = DEFAULT_DAYS,
    ) -> Scope:
        """Resolve analyst arguments into a scope (defaults by :func:`default_window`).

        Parameters
        ----------
        start, end
            Window bounds; an omitted bound needs ``clock``.
        accounts, regions
            Partitions to keep (``None`` = all).
        clock
            The lake's clock, for omitted bounds.
        days
            Length of the default window.

        Returns
        -------
        Scope
        """
        if clock is not None:
            window = default_window(clock, start, end, days)
        elif start is None or end is None:
            raise BadWindowError("Pass start= and end= (or call through a lake, whose clock gives the defaults).")
        else:
            window = Window.of(start, end)
        acc = id_list(accounts, "accounts")
        reg = id_list(regions, "regions")
        return cls(window, None if acc is None else tuple(acc), None if reg is None else tuple(reg))

    def widened(self, days_before: float) -> Scope:
        """The same scope starting ``days_before`` days earlier (for hunts that compare with a baseline).

        Examples
        --------
        >>> s = Scope.of("2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z").widened(7)
        >>> s.window.start.isoformat()
        '2026-03-01T00:00:00+00:00'
        """
        w = Window(self.window.start - pd.Timedelta(days=days_before), self.window.end)
        return Scope(w, self.accounts, self.regions)
