"""Preparation (NIST SP 800-61): are the logs an investigation needs turned on, complete and kept?

Everything here is pushed down: one aggregating SQL query (a ``UNION ALL`` over the sources
present) counts events per source, account, region and hour or day, and the rest is pandas on
those few thousand rows.  No function loads a source.

* :func:`coverage`: which sources deliver data for which account and region.
* :func:`daily_volume` and :func:`plot_volume_heatmap`: events per day, source and account.
* :func:`gaps`: hours or days without data where a source is on.
* :func:`retention`: how far back each source goes, and its source (``asl_version``) and OCSF
  (``metadata.version``) versions.
* :data:`PLAYBOOKS`, :func:`playbook_readiness`, :func:`readiness_matrix`,
  :func:`plot_readiness`, :func:`checklist` and :func:`hunt_readiness`: whether the sources
  each incident-response playbook and hunt needs are there, and what to turn on.

The playbooks and the notes on turning sources on are data: ``data/readiness.yaml``, read once at
import and checked.

The default window is the whole lake up to its clock: ``start`` defaults to the day of the
earliest event, ``end`` to :meth:`Lake.clock` (events at the clock itself included).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from slake_forensics.core.catalog import SOURCES
from slake_forensics.core.layout import ACCOUNT_RE
from slake_forensics.sql.build import scope_predicate
from slake_forensics.core.timewindow import TimeLike, Window, to_utc
from slake_forensics.workflows import _data

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from slake_forensics.lake import Lake

STATUSES = ("present", "gappy", "partial", "missing")
_UNITS = {"hour": pd.Timedelta(hours=1), "day": pd.Timedelta(days=1)}
_MS = pd.Timedelta(milliseconds=1)


@dataclass(frozen=True)
class Playbook:
    """An incident-response playbook and the sources it needs (one entry of ``data/readiness.yaml``).

    Attributes
    ----------
    name, title
        The playbook's id (``IRP-DataAccess``) and what it responds to.
    reference
        The public playbook it follows.
    required, helpful
        Source name -> why the playbook needs that source (the evidence the source holds for it).

    Examples
    --------
    >>> import slake_forensics as sf
    >>> book = sf.readiness.PLAYBOOKS["IRP-DataAccess"]
    >>> book.title
    'Unintended access to an Amazon S3 bucket'
    >>> sorted(book.required)
    ['cloud_trail_mgmt', 's3_data', 'sh_findings']
    """

    name: str
    title: str
    reference: str
    required: Mapping[str, str]
    helpful: Mapping[str, str]


def _tables() -> tuple[dict[str, Playbook], dict[str, str]]:
    """:data:`PLAYBOOKS` and :data:`ENABLE_NOTES` from ``data/readiness.yaml``, checked."""
    table = _data.load("readiness.yaml")
    books: dict[str, Playbook] = {}
    for node in table["playbooks"].items():
        name = node.fields("name", "title", "reference", "required", "helpful")["name"].text()
        if name in books:
            node["name"].fail(f"repeats the playbook {name!r}")
        required, helpful = node["required"].text_map(SOURCES), node["helpful"].text_map(SOURCES)
        if not required:
            node["required"].fail("should name at least one source")
        if set(required) & set(helpful):
            node["helpful"].fail(f"repeats required source(s) {sorted(set(required) & set(helpful))}")
        books[name] = Playbook(name, node["title"].text(), node["reference"].text(), required, helpful)
    notes = table["enable_notes"].text_map(SOURCES)
    for book in books.values():
        for source in (*book.required, *book.helpful):
            if source not in notes:
                table["enable_notes"].fail(f"lacks {source!r}, a source playbook {book.name} needs")
    return books, notes


#: The incident-response playbooks by name, in report order (``data/readiness.yaml``).
PLAYBOOKS: dict[str, Playbook]
#: What to know when turning a source on (shown in :func:`checklist`; ``data/readiness.yaml``).
ENABLE_NOTES: dict[str, str]
PLAYBOOKS, ENABLE_NOTES = _tables()


# ---- window and counts -----------------------------------------------------------------------


def window(lake: Lake, start: TimeLike | None = None, end: TimeLike | None = None) -> Window:
    """The window the functions of this module use by default.

    Parameters
    ----------
    lake
        The lake.
    start, end
        Bounds of the window; ``start`` defaults to midnight (UTC) of the lake's earliest event,
        ``end`` to the lake's clock plus one millisecond (so an event at the clock counts).

    Returns
    -------
    Window
        The half-open UTC window ``[start, end)``.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> w = sf.readiness.window(lake)
    >>> w.start.isoformat(), w.end.isoformat()
    ('2026-05-11T00:00:00+00:00', '2026-05-25T00:00:00+00:00')
    """
    return _window(lake, None, start, end)


def _window(lake: Lake, sources: pd.DataFrame | None, start: TimeLike | None, end: TimeLike | None) -> Window:
    e = lake.clock() + _MS if end is None else to_utc(end, what="end")
    if start is None:
        firsts = (lake.sources() if sources is None else sources)["first_event"].dropna()
        s = firsts.min().floor("D") if len(firsts) else e - pd.Timedelta(days=1)
    else:
        s = to_utc(start, what="start")
    return Window.of(s, e)


def _survey(lake: Lake, start: TimeLike | None, end: TimeLike | None, unit: str) -> tuple[Window, pd.DataFrame, pd.DataFrame]:
    """``(window, lake.sources(), counts)``: the window and the event counts of :func:`_counts`."""
    sources = lake.sources()
    win = _window(lake, sources, start, end)
    return win, sources, _counts(lake, sources, win, unit)


def _counts(lake: Lake, sources: pd.DataFrame, win: Window, unit: str) -> pd.DataFrame:
    """Events per ``source, account, region, bucket`` (``bucket`` = hour or day start) in ``win``,
    with ``first_event`` and ``last_event``: one SQL query over every source in ``sources``."""
    present = set(sources["source"])
    names = [n for n in [*SOURCES, *(c.name for c in lake.custom_sources())] if n in present]
    columns = ["source", "account", "region", "bucket", "events", "first_event", "last_event"]
    if not names:
        return pd.DataFrame(columns=columns)
    part = (
        "SELECT {k} AS source_index, accountid AS account, region, date_trunc('{unit}', time_dt) AS bucket, "
        "count(*) AS events, min(time_dt) AS first_event, max(time_dt) AS last_event FROM {table} "
        "WHERE {scope} GROUP BY accountid, region, date_trunc('{unit}', time_dt)"
    )
    # Sources are numbered (a custom source's name comes from a folder of the lake) and ``unit`` comes from
    # _UNITS: nothing from the caller or the lake's keys is formatted into the SQL.
    scope, bound = scope_predicate(win)
    text = "\nUNION ALL\n".join(part.format(k=k, unit=unit, table=lake.table_name(n), scope=" AND ".join(scope))
                               for k, n in enumerate(names))
    params = bound * len(names)
    df = lake.sql(text, params, start=win.start, end=win.end)
    out = pd.DataFrame({
        "source": [names[int(k)] for k in df["source_index"]], "account": df["account"].astype(str),
        "region": df["region"].astype(str),
        **{c: pd.to_datetime(df[c], utc=True).astype("datetime64[ns, UTC]") for c in ("bucket", "first_event", "last_event")},
        "events": df["events"].astype("int64"),
    })[columns]
    out.attrs = {"sql": text, "params": params}
    return out


# ---- coverage and volume ---------------------------------------------------------------------


def coverage(lake: Lake, start: TimeLike | None = None, end: TimeLike | None = None) -> pd.DataFrame:
    """Which sources deliver data for which account and region in ``[start, end)``.

    Parameters
    ----------
    lake
        The lake.
    start, end
        The window (default: :func:`window`).

    Returns
    -------
    pandas.DataFrame
        One row per source × account × region with at least one event, ordered by catalog
        source order, account, region: ``source, account, region, events, first_event,
        last_event`` (UTC), ``days_with_data`` (UTC days with at least one event),
        ``days_in_window`` (UTC days the window touches) and ``share_of_days``
        (``days_with_data / days_in_window``).  ``attrs["window"]`` is ``(start, end)``.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> cov = sf.readiness.coverage(lake)
    >>> list(cov.columns)
    ['source', 'account', 'region', 'events', 'first_event', 'last_event', 'days_with_data', 'days_in_window', 'share_of_days']
    >>> cov["source"].iloc[0], int(cov["days_in_window"].iloc[0])
    ('cloud_trail_mgmt', 14)
    """
    win, _, counts = _survey(lake, start, end, "day")
    out = (
        counts.groupby(["source", "account", "region"], sort=False)
        .agg(events=("events", "sum"), first_event=("first_event", "min"), last_event=("last_event", "max"),
             days_with_data=("bucket", "nunique"))
        .reset_index()
    )
    out["days_in_window"] = len(win.days())
    out["share_of_days"] = out["days_with_data"] / out["days_in_window"]
    out = _catalog_order(out, ["account", "region"])
    out.attrs = {"window": (win.start, win.end)}
    return out


def coverage_matrix(cov: pd.DataFrame) -> pd.DataFrame:
    """Pivot :func:`coverage` to sources × ``account / region``.

    Parameters
    ----------
    cov
        A :func:`coverage` frame.

    Returns
    -------
    pandas.DataFrame
        Sources (rows, catalog order) × ``account / region`` (columns): days with data, 0 where
        the source sent nothing for that account and region; empty when ``cov`` is.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> m = sf.readiness.coverage_matrix(sf.readiness.coverage(lake))
    >>> list(m.index)[:3], m.columns.name
    (['cloud_trail_mgmt', 's3_data', 'lambda_execution'], 'account / region')
    """
    if cov.empty:
        return pd.DataFrame()
    wide = cov.assign(where=cov["account"] + " / " + cov["region"]).pivot_table(
        index="source", columns="where", values="days_with_data", aggfunc="sum", fill_value=0
    )
    wide = wide.reindex([s for s in SOURCES if s in wide.index])
    wide.columns.name = "account / region"
    return wide.astype("int64")


def daily_volume(lake: Lake, start: TimeLike | None = None, end: TimeLike | None = None) -> pd.DataFrame:
    """Events per UTC day, source and account in ``[start, end)``.

    Parameters
    ----------
    lake
        The lake.
    start, end
        The window (default: :func:`window`).

    Returns
    -------
    pandas.DataFrame
        A complete grid, one row per ``day`` × ``source`` × ``account`` where the source holds
        data for the account anywhere in the lake (:meth:`Lake.sources`): ``day`` (UTC
        midnight), ``source``, ``account``, ``events`` (0 on days without data).
        ``attrs["window"]`` is ``(start, end)``.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> daily = sf.readiness.daily_volume(lake)
    >>> list(daily.columns), daily["day"].nunique()
    (['day', 'source', 'account', 'events'], 14)
    """
    win, sources, counts = _survey(lake, start, end, "day")
    summed = counts.groupby([counts["bucket"].rename("day"), "source", "account"])["events"].sum()
    days = pd.date_range(win.start.floor("D"), (win.end - _MS).floor("D"), freq="D")
    pairs = _pairs(sources, counts)
    index = pd.MultiIndex.from_tuples(
        [(d, s, a) for s, a in pairs for d in days], names=["day", "source", "account"]
    )
    out = summed.reindex(index, fill_value=0).astype("int64").reset_index()
    out.attrs = {"window": (win.start, win.end)}
    return out


def plot_volume_heatmap(daily: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Draw :func:`daily_volume` as a heatmap.

    One row per ``source / account``, one column per day, colour = log10(events); days without
    any event are red.

    Parameters
    ----------
    daily
        A :func:`daily_volume` frame.
    ax
        The Axes to draw on (default: a new figure sized to the grid).

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> ax = sf.readiness.plot_volume_heatmap(sf.readiness.daily_volume(lake))
    >>> ax.get_title()
    'Events per day by source and account'
    """
    import matplotlib.pyplot as plt

    grid = daily.pivot_table(index=["source", "account"], columns="day", values="events", aggfunc="sum", fill_value=0)
    order = {s: i for i, s in enumerate(SOURCES)}
    grid = grid.iloc[sorted(range(len(grid)), key=lambda i: (order.get(grid.index[i][0], 99), grid.index[i][1]))]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 0.35 * grid.shape[1] + 3), max(2.0, 0.3 * grid.shape[0] + 1)))
    values = grid.to_numpy(dtype=float)
    masked = np.ma.masked_less_equal(values, 0)
    cmap = plt.get_cmap("viridis").with_extremes(bad="#d62728")
    image = ax.imshow(np.ma.log10(masked), aspect="auto", interpolation="nearest", cmap=cmap)
    ax.figure.colorbar(image, ax=ax, label="events per day (log10); red: none")
    ax.set_yticks(range(len(grid)), [f"{s} / {a}" for s, a in grid.index], fontsize=8)
    step = max(1, grid.shape[1] // 20)
    ax.set_xticks(range(0, grid.shape[1], step), [pd.Timestamp(d).strftime("%m-%d") for d in grid.columns[::step]],
                  rotation=90, fontsize=8)
    ax.set_title("Events per day by source and account")
    return ax


# ---- gaps ------------------------------------------------------------------------------------


def gaps(
    lake: Lake,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    freq: str = "1h",
    min_gap: str | pd.Timedelta | None = None,
    min_expected: float = 0.0,
) -> pd.DataFrame:
    """Ingestion gaps: runs of whole buckets without a single event where a source is on.

    A source is on for an account when it holds data for the account somewhere in the lake.
    Only whole buckets inside the window are judged (a partial bucket at the clock is not a
    gap).

    Parameters
    ----------
    lake
        The lake.
    start, end
        The window (default: :func:`window`).
    freq
        The bucket: hours, days, or multiples (``"1h"``, ``"6h"``, ``"1D"``).
    min_gap
        Runs shorter than this are dropped (default: one bucket).
    min_expected
        Runs where fewer events than this were expected are dropped (a quiet hour of a low-volume
        source is no outage; at 5 expected events an empty run happens by chance under 1 % of the
        time).  Runs of kind ``all`` are always kept.

    Returns
    -------
    pandas.DataFrame
        One row per gap, ordered by source, account and start: ``source, account, start, end``
        (UTC, end exclusive), ``length`` (Timedelta), ``buckets``, ``kind`` (``leading``: before
        the first data in the window; ``inner``; ``trailing``: after the last; ``all``: no data in
        the whole window) and ``expected_events`` (the pair's average events per bucket over its
        span with data × ``buckets``; NaN for ``all``: a gap with expected_events well below 1 may
        be a quiet period, not an outage).  ``attrs`` hold ``freq`` and ``window``.

    Raises
    ------
    ValueError
        When ``freq`` is not a positive multiple of one hour.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> list(sf.readiness.gaps(lake, freq="1D").columns)
    ['source', 'account', 'start', 'end', 'length', 'buckets', 'kind', 'expected_events']
    >>> len(sf.readiness.gaps(lake, freq="1D"))  # every source delivered every day it is on
    0
    """
    step = pd.Timedelta(freq)
    if step <= pd.Timedelta(0) or step % _UNITS["hour"] != pd.Timedelta(0):
        raise ValueError(f"freq must be a positive multiple of one hour such as '1h', '6h' or '1D'; got {freq!r}.")
    floor = pd.Timedelta(min_gap) if min_gap is not None else step
    unit = "day" if step % _UNITS["day"] == pd.Timedelta(0) else "hour"
    win, sources, counts = _survey(lake, start, end, unit)
    out = _gaps_from_counts(counts, _pairs(sources, counts), win, step)
    keep = (out["length"] >= floor) & ((out["kind"] == "all") | (out["expected_events"] >= min_expected))
    out = out[keep].reset_index(drop=True)
    out.attrs = {"freq": freq, "window": (win.start, win.end)}
    return out


def _gaps_from_counts(counts: pd.DataFrame, pairs: list[tuple[str, str]], win: Window, step: pd.Timedelta) -> pd.DataFrame:
    columns = ["source", "account", "start", "end", "length", "buckets", "kind", "expected_events"]
    epoch = pd.Timestamp(0, tz="UTC")
    first = epoch + -((epoch - win.start) // step) * step  # ceil to the bucket grid
    n = int((win.end - first) // step)
    if n <= 0:
        return pd.DataFrame(columns=columns)
    grid_start = first
    bucket_no = ((counts["bucket"] - grid_start) // step).astype("int64")
    inside = (counts["bucket"] >= grid_start) & (bucket_no < n)
    per = {
        key: g.groupby("no")["events"].sum()
        for key, g in counts[inside].assign(no=bucket_no[inside]).groupby(["source", "account"])
    }
    rows = []
    for source, account in pairs:
        filled = np.zeros(n, dtype=np.int64)
        if (source, account) in per:
            sub = per[(source, account)]
            filled[sub.index.to_numpy()] = sub.to_numpy()
        has = np.flatnonzero(filled)
        rate = filled.sum() / (has[-1] - has[0] + 1) if len(has) else np.nan
        empty = np.concatenate([[False], filled == 0, [False]])
        edges = np.flatnonzero(np.diff(empty.astype(np.int8)))
        for lo, hi in zip(edges[::2], edges[1::2]):
            kind = "all" if not len(has) else "leading" if lo == 0 else "trailing" if hi == n else "inner"
            rows.append({
                "source": source, "account": account, "start": grid_start + lo * step, "end": grid_start + hi * step,
                "length": (hi - lo) * step, "buckets": int(hi - lo), "kind": kind, "expected_events": rate * (hi - lo),
            })
    return pd.DataFrame(rows, columns=columns)


def _pairs(sources: pd.DataFrame, counts: pd.DataFrame) -> list[tuple[str, str]]:
    """(source, account) pairs where the source is on: in ``sources`` (:meth:`Lake.sources`) or in
    ``counts``, catalog order."""
    found = {(r.source, a) for r in sources.itertuples() for a in r.accounts}
    found |= set(zip(counts["source"], counts["account"]))
    order = {s: i for i, s in enumerate(SOURCES)}
    return sorted(found, key=lambda p: (order.get(p[0], 99), p[1]))


def _catalog_order(df: pd.DataFrame, then: list[str]) -> pd.DataFrame:
    order = {s: i for i, s in enumerate(SOURCES)}
    return df.sort_values(["source", *then], key=lambda c: c.map(order) if c.name == "source" else c).reset_index(drop=True)


# ---- retention -------------------------------------------------------------------------------


def retention(lake: Lake, start: TimeLike | None = None, end: TimeLike | None = None) -> pd.DataFrame:
    """How far back each source goes and which versions it holds, over ``[start, end)``.

    One SQL query, reading only ``time_dt``, ``asl_version`` and ``metadata.version``.

    Parameters
    ----------
    lake
        The lake.
    start, end
        The window (default: the whole lake up to its clock).

    Returns
    -------
    pandas.DataFrame
        One row per source (catalog order): ``source, first_event, last_event`` (UTC),
        ``span_days`` (float), ``events``, ``asl_versions`` and ``ocsf_versions`` (sorted lists
        of the ``asl_version`` partition values and ``metadata.version`` values present),
        ``mixed_versions`` (more than one combination; a null version shows as ``(none)``) and
        ``versions`` (text: each combination with its first and last day and event count).

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> ret = sf.readiness.retention(lake)
    >>> ret[["source", "span_days", "mixed_versions"]].head(2)
                 source  span_days  mixed_versions
    0  cloud_trail_mgmt       14.0           False
    1           s3_data       14.0           False
    """
    sources = lake.sources()
    win = _window(lake, sources, start, end)
    names = [n for n in SOURCES if n in set(sources["source"])]
    columns = ["source", "first_event", "last_event", "span_days", "events", "asl_versions", "ocsf_versions",
               "mixed_versions", "versions"]
    if not names:
        return pd.DataFrame(columns=columns)
    part = (
        "SELECT '{name}' AS source, asl_version, metadata.version AS ocsf_version, count(*) AS events, "
        "min(time_dt) AS first_event, max(time_dt) AS last_event FROM {table} "
        "WHERE {scope} GROUP BY asl_version, metadata.version"
    )
    scope, bound = scope_predicate(win)
    text = "\nUNION ALL\n".join(part.format(name=n, table=lake.table_name(n), scope=" AND ".join(scope)) for n in names)
    df = lake.sql(text, bound * len(names), start=win.start, end=win.end)
    df = df.assign(
        first_event=pd.to_datetime(df["first_event"], utc=True), last_event=pd.to_datetime(df["last_event"], utc=True),
        asl_version=df["asl_version"].astype(object).where(df["asl_version"].notna(), "(none)"),
        ocsf_version=df["ocsf_version"].astype(object).where(df["ocsf_version"].notna(), "(none)"),
    )
    rows = []
    for name in names:
        sub = df[df["source"] == name].sort_values("first_event")
        if sub.empty:
            continue
        first, last = sub["first_event"].min(), sub["last_event"].max()
        rows.append({
            "source": name, "first_event": first, "last_event": last,
            "span_days": round((last - first) / pd.Timedelta(days=1), 2), "events": int(sub["events"].sum()),
            "asl_versions": sorted(set(sub["asl_version"])), "ocsf_versions": sorted(set(sub["ocsf_version"])),
            "mixed_versions": len(sub) > 1,
            "versions": "; ".join(
                f"asl {r.asl_version} / OCSF {r.ocsf_version}: {r.first_event:%Y-%m-%d} → {r.last_event:%Y-%m-%d} "
                f"({int(r.events):,} events)" for r in sub.itertuples()
            ),
        })
    out = pd.DataFrame(rows, columns=columns)
    out.attrs = {"window": (win.start, win.end)}
    return out


# ---- playbooks and hunts ---------------------------------------------------------------------


def playbook_readiness(
    lake: Lake,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    playbooks: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Whether each playbook's sources deliver data in every account of ``[start, end)``.

    The accounts judged are the AWS accounts with any event of any source in the window.  Per playbook and
    source it needs, ``status`` is ``missing`` (no event in any account), ``partial`` (no event
    in some accounts), ``gappy`` (whole UTC days without data in some account, where the
    account's daily average says at least one event was expected) or ``present``.

    Parameters
    ----------
    lake
        The lake.
    start, end
        The window (default: :func:`window`).
    playbooks
        Names of :data:`PLAYBOOKS` to judge (default: all).

    Returns
    -------
    pandas.DataFrame
        The matrix in long form, one row per playbook × needed source (playbook order, required
        before helpful): ``playbook, title, source, role`` (``required``/``helpful``),
        ``status``, ``accounts_present``, ``accounts_missing``, ``accounts_gappy`` (lists),
        ``gap_days`` (days without data summed over accounts), ``gap_ranges`` (list of
        ``"account: first day → last day"``), ``why`` and ``hunts_blocked`` (hunts that read the
        source and cannot run because it has no data in the window).  ``attrs`` hold ``window``
        and ``accounts``.  Pivot it with :func:`readiness_matrix`; turn it into a to-do list with
        :func:`checklist`.

    Raises
    ------
    ValueError
        When a name in ``playbooks`` is not in :data:`PLAYBOOKS`.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> ready = sf.readiness.playbook_readiness(lake, playbooks=["IRP-CredCompromise"])
    >>> ready[["playbook", "source", "role", "status"]]
                 playbook            source      role   status
    0  IRP-CredCompromise  cloud_trail_mgmt  required  present
    1  IRP-CredCompromise       sh_findings   helpful  present
    2  IRP-CredCompromise           s3_data   helpful  partial
    """
    chosen = list(PLAYBOOKS) if playbooks is None else list(playbooks)
    unknown = [p for p in chosen if p not in PLAYBOOKS]
    if unknown:
        raise ValueError(f"Unknown playbook(s) {unknown}; known: {', '.join(PLAYBOOKS)}.")
    win, sources, counts = _survey(lake, start, end, "day")
    universe = sorted(a for a in set(counts["account"]) if ACCOUNT_RE.fullmatch(a))  # not a custom source's 'external'
    present = {s: sorted(set(g["account"])) for s, g in counts.groupby("source")}
    day_gaps = _gaps_from_counts(counts, _pairs(sources, counts), win, _UNITS["day"])
    real = day_gaps[(day_gaps["kind"] != "all") & (day_gaps["expected_events"] >= 1)]
    blocked = _hunts_by_source(set(present))
    rows = []
    for name in chosen:
        book = PLAYBOOKS[name]
        for role, needs in (("required", book.required), ("helpful", book.helpful)):
            for source, why in needs.items():
                have = present.get(source, [])
                g = real[(real["source"] == source) & real["account"].isin(have)]
                gappy = sorted(set(g["account"]))
                missing = [a for a in universe if a not in have]
                status = "missing" if not have else "partial" if missing else "gappy" if gappy else "present"
                rows.append({
                    "playbook": name, "title": book.title, "source": source, "role": role, "status": status,
                    "accounts_present": have, "accounts_missing": missing, "accounts_gappy": gappy,
                    "gap_days": int(g["buckets"].sum()),
                    "gap_ranges": [f"{r.account}: {r.start:%Y-%m-%d} → {(r.end - _MS):%Y-%m-%d}" for r in g.itertuples()],
                    "why": why, "hunts_blocked": blocked.get(source, []),
                })
    out = pd.DataFrame(rows)
    out.attrs = {"window": (win.start, win.end), "accounts": universe}
    return out


def _hunts_by_source(present: set[str]) -> dict[str, list[str]]:
    """``{source: [hunts reading it]}`` for the sources not in ``present``."""
    from slake_forensics.analysis import hunts

    out: dict[str, list[str]] = {}
    for name in hunts.names():
        for source in hunts.get(name).sources:
            if source not in present:
                out.setdefault(source, []).append(name)
    return out


def readiness_matrix(readiness: pd.DataFrame) -> pd.DataFrame:
    """Pivot :func:`playbook_readiness` to playbooks (rows) × sources (columns, catalog order).

    Parameters
    ----------
    readiness
        A :func:`playbook_readiness` frame.

    Returns
    -------
    pandas.DataFrame
        Cells are the status (``present``, ``gappy``, ``partial``, ``missing``), with
        `` (helpful)`` appended for helpful sources and empty where the playbook does not use the
        source; a first column ``verdict`` says ``not ready`` (a required source missing),
        ``limited`` (a required source partial or gappy, or a helpful one not present) or ``ready``.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> ready = sf.readiness.playbook_readiness(lake, playbooks=["IRP-CredCompromise"])
    >>> sf.readiness.readiness_matrix(ready).loc["IRP-CredCompromise"].to_dict()
    {'verdict': 'limited', 'cloud_trail_mgmt': 'present', 's3_data': 'partial (helpful)', 'sh_findings': 'present (helpful)'}
    """
    cells = readiness.assign(cell=readiness["status"] + np.where(readiness["role"] == "helpful", " (helpful)", ""))
    wide = cells.pivot(index="playbook", columns="source", values="cell").fillna("")
    wide = wide.reindex(index=list(dict.fromkeys(readiness["playbook"])), columns=[s for s in SOURCES if s in wide.columns])
    verdicts = {}
    for name, g in readiness.groupby("playbook", sort=False):
        req, helpful = g[g["role"] == "required"], g[g["role"] == "helpful"]
        if (req["status"] == "missing").any():
            verdicts[name] = "not ready"
        elif (req["status"] != "present").any() or (helpful["status"] != "present").any():
            verdicts[name] = "limited"
        else:
            verdicts[name] = "ready"
    wide.insert(0, "verdict", pd.Series(verdicts))
    wide.columns.name = None
    return wide


def plot_readiness(readiness: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Draw :func:`readiness_matrix` as a coloured grid.

    Green present, yellow gappy, orange partial, red missing; helpful sources paler, blank where
    not needed.

    Parameters
    ----------
    readiness
        A :func:`playbook_readiness` frame.
    ax
        The Axes to draw on (default: a new figure sized to the matrix).

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on; its y tick labels name each playbook with its verdict.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> ax = sf.readiness.plot_readiness(sf.readiness.playbook_readiness(lake))
    >>> len(ax.get_yticklabels()) == len(sf.readiness.PLAYBOOKS)
    True
    """
    import matplotlib.pyplot as plt

    full = readiness_matrix(readiness)
    matrix = full.drop(columns="verdict")
    colours = {"present": (0.17, 0.63, 0.17), "gappy": (0.95, 0.8, 0.1), "partial": (1.0, 0.5, 0.05), "missing": (0.84, 0.15, 0.16)}
    rgb = np.ones((*matrix.shape, 3))
    if ax is None:
        _, ax = plt.subplots(figsize=(1.3 * matrix.shape[1] + 2.5, 0.6 * matrix.shape[0] + 1.2))
    for (i, j), cell in np.ndenumerate(matrix.to_numpy()):
        if cell:
            status, helpful = cell.split(" ")[0], cell.endswith("(helpful)")
            rgb[i, j] = 1 - 0.45 * (1 - np.array(colours[status])) if helpful else colours[status]
            ax.text(j, i, status + ("\n(helpful)" if helpful else ""), ha="center", va="center", fontsize=7)
    ax.imshow(rgb, aspect="auto")
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(matrix.shape[0]), [f"{p} ({full.at[p, 'verdict']})" for p in matrix.index], fontsize=8)
    ax.set_title("Playbook readiness: sources each playbook needs")
    return ax


def _accounts_text(accounts: list[str], universe: list[str]) -> str:
    if accounts == universe and len(universe) > 1:
        return f"every account ({', '.join(accounts)})"
    return ("account " if len(accounts) == 1 else "accounts ") + ", ".join(accounts)


def checklist(readiness: pd.DataFrame) -> list[str]:
    """What to turn on or repair, from :func:`playbook_readiness`: one sentence per source.

    First the sources to enable (missing or partial), those some playbook requires before those
    that only help, then the sources with ingestion gaps to investigate.  Each item names the
    accounts, the playbooks and what they need the source for, and the hunts waiting for it.

    Parameters
    ----------
    readiness
        A :func:`playbook_readiness` frame.

    Returns
    -------
    list of str
        The items; empty when every needed source delivers in every account.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> items = sf.readiness.checklist(sf.readiness.playbook_readiness(lake, playbooks=["IRP-CredCompromise"]))
    >>> items[0][:60]
    'Enable CloudTrail S3 data events (S3_DATA) in account 732496'
    """
    universe = sorted({a for col in ("accounts_present", "accounts_missing") for accts in readiness[col] for a in accts})
    enable, repair = [], []
    for source, g in readiness.groupby("source", sort=False):
        src = SOURCES[source]
        label = f"{src.title} ({src.source_name})"
        required = g[g["role"] == "required"]
        needs = "; ".join(
            f"{r.playbook} needs {r.why}" + ("" if r.role == "required" else " (helpful)")
            for r in pd.concat([required, g[g["role"] == "helpful"]]).itertuples()
        )
        status = g["status"].iloc[0]
        if status in ("missing", "partial"):
            accounts = g["accounts_missing"].iloc[0]
            item = f"Enable {label} in {_accounts_text(accounts, universe)}: {needs}. Note: {ENABLE_NOTES[source]}."
            hunts = g["hunts_blocked"].iloc[0]
            if len(hunts):
                item += f" Hunts that cannot run without it: {', '.join(hunts)}."
            enable.append((required.empty, -len(g), item))
        elif status == "gappy":
            ranges = "; ".join(g["gap_ranges"].iloc[0])
            item = (f"Check ingestion of {label}: {int(g['gap_days'].iloc[0])} day(s) without data in "
                    f"{_accounts_text(g['accounts_gappy'].iloc[0], universe)} ({ranges}). Evidence from those days "
                    f"is absent, not negative: {needs}.")
            repair.append((required.empty, -len(g), item))
    return [item for *_, item in sorted(enable, key=lambda t: t[:2])] + [item for *_, item in sorted(repair, key=lambda t: t[:2])]


def hunt_readiness(readiness: pd.DataFrame) -> pd.DataFrame:
    """Which hunts can run on the sources :func:`playbook_readiness` found.

    Sources no playbook uses count as missing.

    Parameters
    ----------
    readiness
        A :func:`playbook_readiness` frame.

    Returns
    -------
    pandas.DataFrame
        One row per hunt, hunts that cannot run first, then by name: ``name, title, stage,
        sources`` (list), ``missing`` (sources without data in the window) and ``can_run`` (bool).

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> hunts = sf.readiness.hunt_readiness(sf.readiness.playbook_readiness(lake))
    >>> list(hunts.columns), bool(hunts["can_run"].all())
    (['name', 'title', 'stage', 'sources', 'missing', 'can_run'], True)
    """
    from slake_forensics.analysis import hunts

    present = set(readiness.loc[readiness["status"] != "missing", "source"])
    rows = []
    for name in hunts.names():
        hunt = hunts.get(name)
        missing = [s for s in hunt.sources if s not in present]
        rows.append({"name": name, "title": hunt.title, "stage": hunt.stage, "sources": list(hunt.sources),
                     "missing": missing, "can_run": not missing})
    out = pd.DataFrame(rows, columns=["name", "title", "stage", "sources", "missing", "can_run"])
    return out.sort_values(["can_run", "name"], kind="stable").reset_index(drop=True)
