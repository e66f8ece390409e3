"""Correlating events across sources in time, and grouping activity into sessions.

:func:`correlate` is an interval join: every pair of a left and a right event that share a
key value (an IP, a principal, an access key…) and lie within ``within`` of each other.
It is vectorized (sorting plus binary search, then one ``np.repeat``), so its cost grows
with rows plus matched pairs, never with the cross product of a hot key.

:func:`sessions` numbers bursts of activity per actor (a new session after a silence longer
than ``gap``); :func:`session_summary` turns a sessioned frame into one row per session.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: Which way :func:`correlate` looks from a left event: both ways, forward (right follows) or backward.
Direction = Literal["both", "forward", "backward"]
#: The column :func:`sessions` adds.
SESSION_COLUMN = "session_id"
_NAT = np.iinfo(np.int64).min  # NaT as int64 nanoseconds


def correlate(
    left: pd.DataFrame,
    right: pd.DataFrame,
    on: str | tuple[str, str],
    within: str | pd.Timedelta = "10min",
    direction: Direction = "both",
    *,
    left_time: str | None = None,
    right_time: str | None = None,
) -> pd.DataFrame:
    """Every (left event, right event) pair sharing a key value within ``within`` of each other.

    ``on`` is either a ``(left_column, right_column)`` pair, one column name present on both
    sides, or an entity type (``"ip"``, ``"principal"``, ``"access_key"``…) whose values
    :func:`entity_values` collects from every field of each side that holds that type.  A key
    column may be a list column (``src_endpoint.intermediate_ips``) or a field of a list of
    structs (``answers.rdata`` in Route 53): each element is a key, and a pair matched through
    several elements appears once.  Null keys and rows without a time never match.

    ``direction`` bounds ``delta = right time - left time``: ``"both"`` keeps
    ``-within <= delta <= within``, ``"forward"`` keeps ``0 <= delta <= within`` (right follows
    left), ``"backward"`` keeps ``-within <= delta <= 0``.  Times are ``time_dt`` (raw loaded
    frames) or ``time`` (normalized timelines) unless ``left_time`` / ``right_time`` say otherwise.

    Returns one row per pair: the left row's columns prefixed ``left.``, the right row's
    prefixed ``right.``, then ``key`` (the shared value as a string; the left row's first
    matching element when several match) and ``delta``
    (``timedelta64[ns]``).  Rows are ordered by left row, then right time.
    ``attrs`` records ``on``, ``within`` and ``direction``.

    Parameters
    ----------
    left, right
        Raw loaded frames (``Lake.load``) or normalized timelines.
    on
        ``(left_column, right_column)``, a column of both, or an entity type.
    within
        The largest time distance of a pair.
    direction
        ``"both"``, ``"forward"`` (right at or after left) or ``"backward"``.
    left_time, right_time
        Time columns (default ``time_dt``, else ``time``).

    Returns
    -------
    pandas.DataFrame
        ``left.<column>`` for every left column, ``right.<column>`` for every right column,
        then ``key`` and ``delta``; one row per pair.

    Examples
    --------
    Which DNS answers were followed within a minute by a flow to the address they gave:

    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> dns = lake.load("route53", "2026-05-14T20:00Z", "2026-05-14T20:15Z")
    >>> flows = lake.load("vpc_flow", "2026-05-14T20:00Z", "2026-05-14T20:15Z")
    >>> pairs = sf.correlate(dns, flows, on=("answers.rdata", "dst_endpoint.ip"), within="1min", direction="forward")
    >>> mining = pairs[pairs["left.query.hostname"] == "pool.supportxmr.com."].iloc[0]
    >>> mining["right.dst_endpoint.port"], mining["key"], mining["delta"]
    (3333, '94.130.27.54', Timedelta('0 days 00:00:02'))
    """
    if direction not in ("both", "forward", "backward"):
        raise ValueError(f"direction must be 'both', 'forward' or 'backward', not {direction!r}.")
    window = pd.Timedelta(within)
    if window < pd.Timedelta(0):
        raise ValueError(f"within must not be negative, got {within!r}.")
    (li, lk), (ri, rk), (lspec, rspec) = _keys(left, right, on)
    tl = _times(left, left_time)
    tr = _times(right, right_time)
    li, lk = li[tl[li] != _NAT], lk[tl[li] != _NAT]
    ri, rk = ri[tr[ri] != _NAT], rk[tr[ri] != _NAT]

    before = 0 if direction == "forward" else window.value
    after = 0 if direction == "backward" else window.value
    pl, pr = _interval_pairs(lk, tl[li], rk, tr[ri], before, after)
    lrow, rrow, key = li[pl], ri[pr], lk[pl]
    if len(lrow):  # one pair per (left row, right row), even when several elements matched
        keep = ~pd.DataFrame({"l": lrow, "r": rrow}).duplicated().to_numpy()
        lrow, rrow, key = lrow[keep], rrow[keep], key[keep]
    delta = tr[rrow] - tl[lrow]
    order = np.lexsort((rrow, delta, lrow))
    lrow, rrow, key, delta = lrow[order], rrow[order], key[order], delta[order]

    out = pd.concat(
        [
            left.iloc[lrow].reset_index(drop=True).add_prefix("left."),
            right.iloc[rrow].reset_index(drop=True).add_prefix("right."),
        ],
        axis=1,
    )
    out["key"] = pd.array(key, dtype=pd.ArrowDtype(pa.string()))
    out["delta"] = pd.to_timedelta(delta, unit="ns")
    out.attrs = {"on": (lspec, rspec), "within": window, "direction": direction}
    return out


def gap_text(delta: pd.Series) -> pd.Series:
    """Time gaps as an analyst reads them: ``+00:00:02``, ``-00:33:23``, ``+1d 02:00:00``.

    pandas prints a negative gap of 33 minutes as ``-1 days +23:26:37``; this signs the whole
    gap instead (``delta`` of :func:`correlate`: the right event's time minus the left's).

    Parameters
    ----------
    delta
        Timedeltas (``NaT`` gives ``<NA>``).

    Returns
    -------
    pandas.Series
        Text, ``±[Nd ]HH:MM:SS``, same index.

    Examples
    --------
    >>> gap_text(pd.Series(pd.to_timedelta(["-00:33:23", "00:00:02", "26:00:00", None]))).tolist()
    ['-00:33:23', '+00:00:02', '+1d 02:00:00', <NA>]
    """
    def one(value: pd.Timedelta) -> str | None:
        if pd.isna(value):
            return None
        seconds = int(abs(value).total_seconds())
        days, rest = divmod(seconds, 86_400)
        hours, rest = divmod(rest, 3_600)
        text = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
        return ("-" if value < pd.Timedelta(0) else "+") + (f"{days}d " if days else "") + text

    return pd.Series([one(v) for v in pd.to_timedelta(delta)], index=delta.index, dtype="string")


def key_values(df: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """The key elements of ``column``: ``(row positions, values as str)``, nulls dropped.

    A scalar column gives one element per non-null row; a list column one per list item;
    ``a.b`` where ``a`` is a list of structs (``answers.rdata``) one per item's ``b``.

    Parameters
    ----------
    df
        A flattened frame.
    column
        A column, or ``<list of structs column>.<field>``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Row positions and the values (``object`` strings), element by element.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> dns = sf.Lake.sample().load("route53", "2026-05-14T20:07Z", "2026-05-14T20:08Z")
    >>> rows, values = key_values(dns, "answers.rdata")
    >>> rows[:1].tolist(), values[:1].tolist()
    ([0], ['94.130.27.54'])
    """
    if column in df.columns:
        arr = _arrow(df[column])
        parents = np.arange(len(df))
    else:
        head, _, field = column.rpartition(".")
        if head not in df.columns or not _is_list(_arrow(df[head]).type):
            raise KeyError(f"No column {column!r} (nor a list of structs {head!r} with field {field!r}).")
        value_type = _arrow(df[head]).type.value_type
        if not pa.types.is_struct(value_type) or value_type.get_field_index(field) < 0:
            raise KeyError(f"Column {head!r} is not a list of structs with a field {field!r}.")
        parents, arr = _explode(_arrow(df[head]), np.arange(len(df)))
        arr = pc.struct_field(arr, field)
    if _is_list(arr.type):
        parents, arr = _explode(arr, parents)
    valid = np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)
    values = np.asarray(pc.cast(arr, pa.string()).to_numpy(zero_copy_only=False), dtype=object)
    return parents[valid], values[valid]


def _explode(arr: pa.Array, parents: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    idx = pc.list_parent_indices(arr).to_numpy()
    return parents[idx], pc.list_flatten(arr)


def _arrow(series: pd.Series) -> pa.Array:
    arr = pa.array(series, from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


#: Timeline columns holding each entity type, for normalized frames (no ``attrs["source"]``).
TIMELINE_ENTITY_COLUMNS: dict[str, tuple[str, ...]] = {"ip": ("src_ip", "dst_ip"), "principal": ("actor",)}


def _keys(left: pd.DataFrame, right: pd.DataFrame, on: str | tuple[str, str]) -> tuple[
    tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], tuple[str, str]
]:
    """``((left rows, left keys), (right rows, right keys), (left spec, right spec))`` for ``on``."""
    if isinstance(on, tuple | list):
        if len(on) != 2:
            raise ValueError(f"on must be a (left_column, right_column) pair, got {on!r}.")
        return key_values(left, on[0]), key_values(right, on[1]), (on[0], on[1])
    if on in left.columns and on in right.columns:
        return key_values(left, on), key_values(right, on), (on, on)
    return entity_values(left, on), entity_values(right, on), (on, on)


def entity_values(df: pd.DataFrame, entity_type: str) -> tuple[np.ndarray, np.ndarray]:
    """Every ``entity_type`` value in ``df``: ``(row positions, values as str)``.

    A raw load (``attrs["source"]``) uses every field :mod:`slake_forensics.analysis.entities` lists for
    its source (e.g. ``ip`` in VPC flow: source, destination and intermediate IPs); a
    normalized timeline uses :data:`TIMELINE_ENTITY_COLUMNS`.  A row holding the value in
    several fields appears once per field.

    Parameters
    ----------
    df
        A raw load (with ``attrs["source"]``) or a normalized timeline.
    entity_type
        An entity type (``ip``, ``principal``, …).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Row positions (int64) and values (``object`` strings).

    Examples
    --------
    >>> import slake_forensics as sf
    >>> dns = sf.Lake.sample().load("route53", "2026-05-14T20:07Z", "2026-05-14T20:08Z")
    >>> rows, values = entity_values(dns, "ip")
    >>> sorted(set(values[rows == 0]))
    ['10.35.7.139', '94.130.27.54']
    """
    from slake_forensics.core.catalog import source as find_source
    from slake_forensics.analysis.entities import fields_for

    if "source" in df.attrs:
        src = find_source(df.attrs["source"])
        found = [fld.extract(df, src) for fld in fields_for(src.name, entity_type)]
        found = [(rows, np.asarray(vals.to_numpy(zero_copy_only=False), dtype=object)) for rows, vals in found]
    elif entity_type in TIMELINE_ENTITY_COLUMNS and set(TIMELINE_ENTITY_COLUMNS[entity_type]) <= set(df.columns):
        found = [key_values(df, c) for c in TIMELINE_ENTITY_COLUMNS[entity_type]]
    else:
        raise KeyError(
            f"Cannot find {entity_type!r} entities in a frame without attrs['source'] "
            f"(timeline frames know {sorted(TIMELINE_ENTITY_COLUMNS)}); pass on=(left_column, right_column)."
        )
    if not found:
        return np.array([], dtype=np.int64), np.array([], dtype=object)
    return (np.concatenate([r for r, _ in found]).astype(np.int64),
            np.concatenate([v for _, v in found]).astype(object))


def _times(df: pd.DataFrame, column: str | None) -> np.ndarray:
    """Event times of ``df`` as int64 UTC nanoseconds (``NaT`` rows get the minimum int64)."""
    if column is None:
        column = next((c for c in ("time_dt", "time") if c in df.columns and _is_datetime(df[c])), None)
        if column is None:
            raise KeyError("No time_dt or datetime time column; pass left_time= / right_time=.")
    values = pd.to_datetime(df[column], utc=True)
    return values.to_numpy(dtype="datetime64[ns]").astype("int64")


def _is_datetime(s: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(s) or (
        isinstance(s.dtype, pd.ArrowDtype) and pa.types.is_timestamp(s.dtype.pyarrow_dtype)
    )


def _interval_pairs(
    lk: np.ndarray, lt: np.ndarray, rk: np.ndarray, rt: np.ndarray, before: int, after: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(i, j)`` with ``lk[i] == rk[j]`` and ``lt[i] - before <= rt[j] <= lt[i] + after``.

    Right elements are sorted by (key code, time rank); each left element's matches are one
    contiguous run found with two binary searches, expanded with ``np.repeat``.
    """
    codes, _ = pd.factorize(np.concatenate([lk, rk]))
    lc, rc = codes[: len(lk)].astype(np.int64), codes[len(lk) :].astype(np.int64)
    times = np.unique(rt)
    span = len(times) + 1
    rrank = np.searchsorted(times, rt)
    composite = rc * span + rrank
    order = np.argsort(composite, kind="stable")
    composite = composite[order]
    lo_rank = np.searchsorted(times, lt - before, side="left")
    hi_rank = np.searchsorted(times, lt + after, side="right")
    lo = np.searchsorted(composite, lc * span + lo_rank, side="left")
    hi = np.searchsorted(composite, lc * span + hi_rank, side="left")
    counts = np.maximum(hi - lo, 0)
    total = int(counts.sum())
    left_pos = np.repeat(np.arange(len(lk)), counts)
    starts = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    right_pos = order[starts + np.arange(total)]
    return left_pos, right_pos


def sessions(
    df: pd.DataFrame,
    by: Sequence[str] | str = ("actor.user.uid", "src_endpoint.ip"),
    gap: str | pd.Timedelta = "30min",
    *,
    time: str | None = None,
) -> pd.DataFrame:
    """``df`` (same rows, same order) with a ``session_id`` column added.

    A session is a run of events with equal ``by`` values (nulls are a value like any other)
    in which consecutive events are at most ``gap`` apart: a silence strictly longer than
    ``gap`` starts a new session.  Ids are ``0, 1, …`` in order of session start (ties by
    ``by`` values).  ``attrs`` gains ``session_by`` and ``session_gap`` for
    :func:`session_summary`.

    Parameters
    ----------
    df
        Events (a raw load or a timeline).
    by
        Columns whose values identify an actor.
    gap
        The longest silence inside one session.
    time
        The time column (default ``time_dt``, else ``time``).

    Returns
    -------
    pandas.DataFrame
        ``df``'s columns plus ``session_id`` (int64).

    Examples
    --------
    >>> import slake_forensics as sf
    >>> ct = sf.Lake.sample().load("cloud_trail_mgmt", "2026-05-21T03:00Z", "2026-05-21T05:00Z")
    >>> sessioned = sf.sessions(ct)
    >>> leaked = sessioned[sessioned["src_endpoint.ip"] == "103.75.108.118"]
    >>> leaked["session_id"].nunique(), len(leaked)
    (1, 21)
    """
    by = [by] if isinstance(by, str) else list(by)
    limit = pd.Timedelta(gap).value
    t = _times(df, time)
    codes = _group_codes(df, by)
    order = np.lexsort((t, codes))
    tc, cc = t[order], codes[order]
    new = np.ones(len(df), dtype=bool)
    new[1:] = (cc[1:] != cc[:-1]) | (np.diff(tc) > limit)
    run = np.cumsum(new) - 1  # session number in (group, time) order
    starts = tc[new]
    rank = np.empty(len(starts), dtype=np.int64)
    rank[np.lexsort((cc[new], starts))] = np.arange(len(starts))
    ids = np.empty(len(df), dtype=np.int64)
    ids[order] = rank[run]
    out = df.copy()
    out[SESSION_COLUMN] = ids
    out.attrs = {**df.attrs, "session_by": by, "session_gap": pd.Timedelta(gap)}
    return out


def _group_codes(df: pd.DataFrame, by: list[str]) -> np.ndarray:
    if not by:
        return np.zeros(len(df), dtype=np.int64)
    missing = [c for c in by if c not in df.columns]
    if missing:
        raise KeyError(f"No column(s) {missing} to group sessions by.")
    return df.groupby(by, dropna=False, sort=True).ngroup().to_numpy(dtype=np.int64)


def session_summary(df: pd.DataFrame, by: Sequence[str] | str | None = None, *, time: str | None = None) -> pd.DataFrame:
    """One row per session of a frame returned by :func:`sessions`, ordered by ``session_id``.

    Columns: ``session_id``, the ``by`` columns (default: those :func:`sessions` used),
    ``start``, ``end``, ``duration``, ``events``; with CloudTrail columns present also
    ``apis`` (distinct ``api.operation`` count), ``top_apis`` (the three most frequent,
    ``"Op×n"`` joined by ``", "``) and ``errors`` (rows with an ``api.response.error``).

    Parameters
    ----------
    df
        A frame returned by :func:`sessions`.
    by
        Columns to report per session (default those :func:`sessions` grouped by).
    time
        The time column (default ``time_dt``, else ``time``).

    Returns
    -------
    pandas.DataFrame
        ``session_id``, the ``by`` columns, ``start, end, duration, events`` and, for CloudTrail,
        ``apis, top_apis, errors``.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> from slake_forensics.analysis.correlate import session_summary
    >>> ct = sf.Lake.sample().load("cloud_trail_mgmt", "2026-05-21T03:00Z", "2026-05-21T05:00Z")
    >>> summary = session_summary(sf.sessions(ct))
    >>> row = summary[summary["src_endpoint.ip"] == "103.75.108.118"].iloc[0]
    >>> int(row["events"]), int(row["errors"]), str(row["duration"]), row["top_apis"].split(", ")[0]
    (21, 10, '0 days 00:16:34.892000', 'GetBucketPolicy×5')
    """
    if SESSION_COLUMN not in df.columns:
        raise KeyError("No session_id column: run sessions(df) first.")
    by = df.attrs.get("session_by", []) if by is None else ([by] if isinstance(by, str) else list(by))
    tcol = time or next(c for c in ("time_dt", "time") if c in df.columns)
    work = pd.DataFrame({SESSION_COLUMN: df[SESSION_COLUMN].to_numpy(), "_t": pd.to_datetime(df[tcol], utc=True)})
    for c in by:
        work[c] = df[c].to_numpy()
    grouped = work.groupby(SESSION_COLUMN, sort=True)
    out = grouped[by].first() if by else pd.DataFrame(index=grouped.size().index)
    out["start"] = grouped["_t"].min()
    out["end"] = grouped["_t"].max()
    out["duration"] = out["end"] - out["start"]
    out["events"] = grouped.size()
    if "api.operation" in df.columns:
        ops = pd.DataFrame({SESSION_COLUMN: work[SESSION_COLUMN], "op": df["api.operation"].to_numpy()})
        out["apis"] = ops.groupby(SESSION_COLUMN)["op"].nunique()
        counts = ops.value_counts([SESSION_COLUMN, "op"]).rename("n").reset_index()
        counts = counts.sort_values([SESSION_COLUMN, "n", "op"], ascending=[True, False, True])
        top = counts.groupby(SESSION_COLUMN).head(3)
        out["top_apis"] = (top["op"].astype(str) + "×" + top["n"].astype(str)).groupby(top[SESSION_COLUMN]).agg(", ".join)
        out["top_apis"] = out["top_apis"].fillna("")
    if "api.response.error" in df.columns:
        err = pd.Series(df["api.response.error"].notna().to_numpy(), index=work.index)
        out["errors"] = err.groupby(work[SESSION_COLUMN]).sum()
    return out.reset_index()
