"""One investigation timeline: merging frames, a swim-lane picture, and an explorer for JupyterLab.

:func:`timeline` merges normalized frames (from :func:`~slake_forensics.analysis.pivot.pivot`) and raw
loaded frames into one time-sorted frame of :data:`~slake_forensics.analysis.normalize.TIMELINE_COLUMNS`.
:func:`plot_timeline` draws one lane per source / actor / … with findings and bookmarks marked;
above ``max_points`` events it draws per-lane binned counts instead of points, so a million
events build and draw in about a second.  :func:`explore` returns an ipywidgets explorer.
"""
from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from slake_forensics.analysis.normalize import TIMELINE_COLUMNS, as_timeline, empty_timeline, normalize
from slake_forensics.core.timewindow import to_utc

if TYPE_CHECKING:  # matplotlib is imported when a picture is drawn, not with the package
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Sources whose every row is a finding (see :func:`is_finding`).
FINDING_SOURCES = ("sh_findings",)
#: The lane of the rarest values past ``max_lanes``, and the lane of nulls.
OTHER_LANE = "(other)"
NONE_LANE = "(none)"
#: Timeline columns the explorer's entity filter searches.
ENTITY_FIELDS = ("actor", "src_ip", "dst_ip", "target")
_NS_PER_DAY = 86_400 * 10**9

#: What :func:`plot_timeline` takes as bookmarks: a frame with a ``time`` column, ``{label: time}`` or times.
Bookmarks: TypeAlias = pd.DataFrame | pd.Series | Mapping[str, Any] | Iterable[Any] | None


def timeline(*frames: pd.DataFrame) -> pd.DataFrame:
    """Merge frames into one timeline of ``TIMELINE_COLUMNS``, sorted by ``time`` (stable).

    A frame that already has every timeline column (a :func:`pivot` result, an earlier
    timeline) is taken as is; any other frame is a raw load and is normalized with
    ``normalize(df, df.attrs["source"])``.  An event present in several frames (same
    ``source``, non-null ``uid`` and ``time``) is kept once, first occurrence first; updates of
    one finding share its uid but not its time, so each update stays.  Returns a frame
    with a fresh ``RangeIndex`` and ``attrs["sources"]`` listing the sources present (no
    frames: an empty timeline).

    Parameters
    ----------
    *frames
        Timelines (:func:`~slake_forensics.analysis.pivot.pivot` results) and raw loads (``Lake.load``).

    Returns
    -------
    pandas.DataFrame
        Columns ``time, source, class_name, activity, actor, src_ip, dst_ip, target, status,
        severity, summary, uid, account, region, ref``, sorted by ``time``.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> dns = lake.load("route53", "2026-05-14T20:07Z", "2026-05-14T20:08Z")
    >>> flows = lake.pivot(ip="94.130.27.54", start="2026-05-14T20:07Z", end="2026-05-14T20:08Z", progress=False)
    >>> tl = sf.timeline(dns, flows)
    >>> len(dns), len(flows), len(tl), tl.attrs["sources"]
    (7, 3, 9, ['route53', 'vpc_flow'])
    """
    parts = []
    for i, df in enumerate(frames):
        if set(TIMELINE_COLUMNS) <= set(df.columns):
            parts.append(as_timeline(df))
        elif "source" in df.attrs:
            parts.append(normalize(df, df.attrs["source"]))
        else:
            raise ValueError(
                f"Frame {i} is neither a timeline (columns {list(TIMELINE_COLUMNS)}) nor a lake load "
                "(attrs['source']); normalize it with normalize(df, source) first."
            )
    if not parts:
        return empty_timeline()
    merged = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    has_uid = merged["uid"].notna().to_numpy(dtype=bool)
    dup = merged.duplicated(["source", "uid", "time"]).to_numpy(dtype=bool) & has_uid
    merged = merged[~dup]
    order = np.argsort(_ns(merged["time"]), kind="stable")
    out = merged.iloc[order].reset_index(drop=True)
    out.attrs = {"sources": sorted(out["source"].dropna().astype(str).unique())}
    return out


def _ns(times: pd.Series) -> np.ndarray:
    """UTC epoch nanoseconds of a datetime column (Arrow or NumPy backed); NaT → int64 minimum."""
    if isinstance(times.dtype, pd.ArrowDtype):
        arr = pa.array(times, from_pandas=True)
        arr = pc.cast(arr, pa.timestamp("ns", tz="UTC")).cast(pa.int64())
        return arr.to_numpy(zero_copy_only=False) if arr.null_count == 0 else (
            pc.fill_null(arr, np.iinfo(np.int64).min).to_numpy()
        )
    return pd.to_datetime(times, utc=True).to_numpy(dtype="datetime64[ns]").astype(np.int64)


def is_finding(tl: pd.DataFrame) -> np.ndarray:
    """Boolean mask of timeline rows that are findings (Security Hub, or a ``… Finding`` class).

    Parameters
    ----------
    tl
        A timeline (``source`` and optionally ``class_name`` columns).

    Returns
    -------
    numpy.ndarray
        ``bool``, one per row.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> tl = sf.Lake.sample().pivot(ip="103.75.108.118", start="2026-05-21T03:00Z", end="2026-05-21T05:00Z",
    ...                             sources=["cloud_trail_mgmt", "sh_findings"], progress=False)
    >>> int(is_finding(tl).sum()), len(tl)
    (2, 23)
    """
    mask = tl["source"].isin(FINDING_SOURCES).to_numpy(dtype=bool, na_value=False)
    if "class_name" in tl.columns:
        named = tl["class_name"].astype("string").str.contains("Finding", regex=False)
        mask = mask | named.to_numpy(dtype=bool, na_value=False)
    return mask


def new_figure(**kwargs: Any) -> Figure:
    """A matplotlib Figure that displays itself as a PNG when it is a notebook cell's value.

    The figure is not managed by pyplot (so nothing accumulates in ``plt`` and ``plt.show()`` does
    not show it a second time): a notebook cell displays it by ending with it, or with
    ``display(fig)``; a report saves it with ``fig.savefig``.  Every plotting function of the
    toolkit that builds its own figure builds it here.

    Parameters
    ----------
    **kwargs
        Passed to :class:`matplotlib.figure.Figure` (``figsize``, ``layout`` …).

    Returns
    -------
    matplotlib.figure.Figure
        An instance of a Figure subclass with ``_repr_png_``.

    Examples
    --------
    >>> fig = new_figure(figsize=(2, 1))
    >>> ax = fig.add_subplot()
    >>> fig._repr_png_()[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    return _display_figure_class()(**kwargs)


@functools.cache
def _display_figure_class() -> type[Figure]:
    from matplotlib.figure import Figure

    class DisplayFigure(Figure):
        """A Figure with a PNG representation for IPython's display (see :func:`new_figure`)."""

        def _repr_png_(self) -> bytes:
            buf = io.BytesIO()
            self.savefig(buf, format="png", dpi=100)
            return buf.getvalue()

    return DisplayFigure


def plot_timeline(
    tl: pd.DataFrame,
    by: str = "source",
    findings: bool = True,
    bookmarks: Bookmarks = None,
    ax: Axes | None = None,
    max_points: int = 20_000,
    max_lanes: int = 20,
    bins: int = 600,
) -> Figure:
    """Draw ``tl`` as swim lanes (one per value of ``by``) and return the matplotlib Figure.

    Lanes are ordered by event count; past ``max_lanes`` the rarest values share an
    ``(other)`` lane, and nulls get ``(none)``.  Up to ``max_points`` events are drawn as
    points; more are drawn as per-lane counts in ``bins`` time bins (log colour scale), all
    computed with NumPy.  With ``findings`` the findings (see :func:`is_finding`) are drawn
    on top as red diamonds in their lane.  ``bookmarks`` are vertical lines: a frame with a
    ``time`` column (and optional ``note`` / ``summary`` labels, e.g. ``case.bookmarks``), a
    ``{label: time}`` mapping, or times.  Draws into ``ax`` when given.

    Parameters
    ----------
    tl
        A timeline (:func:`timeline`, :func:`~slake_forensics.analysis.pivot.pivot`).
    by
        The column whose values are the lanes.
    findings
        Mark findings.
    bookmarks
        Times to mark with vertical lines.
    ax
        Axes to draw into (default: a new Figure).
    max_points, max_lanes, bins
        Points above which counts are drawn, lanes before ``(other)``, and time bins of the counts.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the drawing (:func:`new_figure`: a notebook cell displays it by ending
        with it or with ``display(fig)``; ``savefig`` saves it).

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import slake_forensics as sf
    >>> tl = sf.Lake.sample().pivot(ip="103.75.108.118", start="2026-05-21T03:00Z", end="2026-05-21T05:00Z",
    ...                             sources=["cloud_trail_mgmt", "sh_findings"], progress=False)
    >>> fig = sf.plot_timeline(tl, by="activity", bookmarks={"detection": "2026-05-21T04:03:52Z"})
    >>> type(fig).__name__, fig.axes[0].get_title()
    ('DisplayFigure', '23 events by activity')
    """
    import matplotlib.dates as mdates
    from matplotlib.colors import LogNorm

    if by not in tl.columns:
        raise KeyError(f"No column {by!r} to make lanes of; timeline columns are {list(tl.columns)}.")
    if ax is None:
        ax = new_figure(layout="constrained", figsize=(12, 1.2 + 0.35 * min(max_lanes, max(1, tl[by].nunique(dropna=False))))).add_subplot()
    fig = ax.figure  # the figure or subfigure holding ax
    ns = _ns(tl["time"]) if len(tl) else np.array([], dtype=np.int64)
    if (ns == np.iinfo(np.int64).min).any():  # rows without a time cannot be placed
        tl, ns = tl[ns != np.iinfo(np.int64).min], ns[ns != np.iinfo(np.int64).min]
    lane, labels, counts = _lanes(tl[by], max_lanes)
    x = _days(ns)
    nl = len(labels)
    binned = len(tl) > max(max_points, 0)
    if binned:
        lo, hi = (x.min(), x.max()) if len(x) else (0.0, 1.0)
        hi = hi if hi > lo else lo + 1 / 1440
        tbin = np.minimum(((x - lo) / (hi - lo) * bins).astype(np.int64), bins - 1)
        grid = np.bincount(lane * bins + tbin, minlength=nl * bins).reshape(nl, bins).astype(float)
        grid[grid == 0] = np.nan
        image = ax.imshow(grid, aspect="auto", interpolation="nearest", origin="upper", cmap="viridis",
                          norm=LogNorm(vmin=1, vmax=max(1.0, np.nanmax(grid) if nl else 1.0)),
                          extent=(lo, hi, nl - 0.5, -0.5))
        fig.colorbar(image, ax=ax, pad=0.01, label=f"events per bin ({_bin_label(hi - lo, bins)})")
    elif len(tl):
        jitter = (np.random.default_rng(0).random(len(tl)) - 0.5) * 0.5
        ax.scatter(x, lane + jitter, c=lane, cmap="tab20", vmin=0, vmax=max(19, nl - 1), s=6, linewidths=0,
                   alpha=0.7, rasterized=True)
    if findings and len(tl):
        hit = is_finding(tl)
        if hit.any():
            ax.scatter(x[hit], lane[hit], marker="D", s=40, facecolors="none", edgecolors="red", linewidths=1.2,
                       label=f"findings ({int(hit.sum()):,})", zorder=3)
            ax.legend(loc="upper right", fontsize="small")
    for when, label in _bookmark_items(bookmarks):
        bx = _days(np.array([when.value], dtype=np.int64))[0]
        ax.axvline(bx, color="orange", linewidth=1, zorder=4)
        if label:
            ax.annotate(label, (bx, 1), xycoords=("data", "axes fraction"), rotation=90, fontsize="x-small",
                        va="top", ha="right", color="black", zorder=5,
                        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "orange", "alpha": 0.8})
    ax.set_yticks(range(nl), [f"{lab} ({c:,})" for lab, c in zip(labels, counts)], fontsize="small")
    ax.set_ylim(max(nl, 1) - 0.5, -0.5)
    ax.xaxis_date(tz="UTC")
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator(), tz="UTC"))
    ax.set_xlabel("time (UTC)")
    ax.set_title(f"{len(tl):,} events by {by}" + (" (binned counts)" if binned else ""), fontsize="medium")
    ax.grid(axis="x", alpha=0.3)
    return fig.figure  # the root figure, also when ax sits in a subfigure


def _lanes(values: pd.Series, max_lanes: int) -> tuple[np.ndarray, list[str], list[int]]:
    """Lane index per row, lane labels and lane counts; lanes by descending count, the rest in ``(other)``."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    names = np.array([str(u) for u in uniques] + [NONE_LANE], dtype=object)
    codes = np.where(codes < 0, len(uniques), codes)
    counts = np.bincount(codes, minlength=len(names))
    present = np.flatnonzero(counts)
    ranked = present[np.lexsort((names[present].astype(str), -counts[present]))]
    keep = ranked if len(ranked) <= max_lanes else ranked[: max_lanes - 1]
    lane_of = np.full(len(names), len(keep), dtype=np.int64)
    lane_of[keep] = np.arange(len(keep))
    labels = [str(n) for n in names[keep]]
    lane_counts = [int(c) for c in counts[keep]]
    if len(keep) < len(ranked):
        labels.append(OTHER_LANE)
        lane_counts.append(int(counts[ranked[len(keep):]].sum()))
    return lane_of[codes], labels, lane_counts


def _days(ns: np.ndarray) -> np.ndarray:
    """Matplotlib date numbers (days since its epoch) of UTC epoch nanoseconds."""
    import matplotlib.dates as mdates

    epoch = np.datetime64(mdates.get_epoch(), "ns").astype(np.int64)
    return (ns - epoch) / _NS_PER_DAY


def _bin_label(span_days: float, bins: int) -> str:
    """Bin width in the unit an analyst reads at a glance: ``45 s``, ``14.4 min``, ``2.5 h``."""
    seconds = span_days * 86_400 / bins
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7_200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3_600:.3g} h"


def _bookmark_items(bookmarks: Bookmarks) -> list[tuple[pd.Timestamp, str]]:
    if bookmarks is None:
        return []
    if isinstance(bookmarks, pd.DataFrame):
        if "time" not in bookmarks.columns:
            raise KeyError("A bookmarks frame needs a 'time' column (case.bookmarks has one).")
        label_col = next((c for c in ("note", "summary", "label") if c in bookmarks.columns), None)
        labels = bookmarks[label_col].fillna("").astype(str) if label_col else [""] * len(bookmarks)
        return [(to_utc(t), str(lab)) for t, lab in zip(bookmarks["time"], labels) if not pd.isna(t)]
    if isinstance(bookmarks, Mapping):
        return [(to_utc(t), str(label)) for label, t in bookmarks.items()]
    if isinstance(bookmarks, str | pd.Timestamp):
        bookmarks = [bookmarks]
    return [(to_utc(t), "") for t in bookmarks]


class TimelineExplorer:
    """An ipywidgets explorer over a timeline (see :func:`explore`); display it with ``.widget``
    or by evaluating it in a notebook cell.

    Widgets: ``range`` (a SelectionRangeSlider over time), ``sources`` (SelectMultiple; none
    selected means all), ``field`` and ``entity`` (case-insensitive substring of ``actor``,
    ``src_ip``, ``dst_ip``, ``target`` or any of them), ``rows`` (pick shown rows),
    ``bookmark_button``, ``status`` and ``table`` (HTML of the first ``page_size`` rows).
    ``selected`` is the filtered frame; ``picked`` the rows picked in ``rows``; ``tags``
    (comma-separated) and ``note`` are passed with the bookmark.

    Parameters
    ----------
    tl
        The timeline to explore.
    bookmark
        Called as ``bookmark(rows, tags=[...], note="...")`` with the picked rows when the
        bookmark button is clicked, e.g. ``case.bookmark``; ``tags`` and ``note`` are passed only
        when filled in, so a one-argument callable (``list.append``) also works without them.
    page_size
        Rows shown in ``rows`` and ``table``.
    steps
        Stops of the time slider.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> tl = sf.Lake.sample().pivot(ip="103.75.108.118", start="2026-05-21T03:00Z", end="2026-05-21T05:00Z",
    ...                             sources=["cloud_trail_mgmt", "sh_findings"], progress=False)
    >>> explorer = TimelineExplorer(tl)
    >>> explorer.sources.value = ("sh_findings",)
    >>> explorer.status.value
    '2 of 23 events'
    """

    def __init__(self, tl: pd.DataFrame, bookmark: Callable[..., Any] | None = None,
                 page_size: int = 200, steps: int = 200) -> None:
        import ipywidgets as w

        label = {"description_width": "initial"}  # labels at their natural width, never cut off

        self.tl = tl
        self.page_size = page_size
        self._callback = bookmark
        self._ns = _ns(tl["time"]) if len(tl) else np.array([], dtype=np.int64)
        self._sources = tl["source"].astype("string").fillna(NONE_LANE).to_numpy(dtype=object)
        self._lower = {f: tl[f].astype("string").str.lower().fillna("") for f in ENTITY_FIELDS if f in tl.columns}
        edges = _edges(self._ns, steps)
        self.range = w.SelectionRangeSlider(
            options=[(t.strftime("%Y-%m-%d %H:%M:%S"), t) for t in edges], index=(0, len(edges) - 1),
            description="time", continuous_update=False, layout=w.Layout(width="95%"), style=label,
        )
        self.sources = w.SelectMultiple(options=sorted(set(self._sources)), description="sources", rows=6,
                                        style=label)
        self.field = w.Dropdown(options=["any", *self._lower], value="any", description="field", style=label)
        self.entity = w.Text(placeholder="IP, principal, resource… (substring)", description="entity",
                             continuous_update=False, style=label)
        self.rows = w.SelectMultiple(options=[], description="pick", rows=8, layout=w.Layout(width="95%"),
                                     style=label)
        self.tags = w.Text(description="tags", placeholder="comma-separated, e.g. exfil, c2", style=label)
        self.note = w.Text(description="note", placeholder="why these rows matter", style=label,
                           layout=w.Layout(width="40%"))
        self.bookmark_button = w.Button(description="Bookmark picked rows", icon="bookmark",
                                        disabled=bookmark is None)
        self.status = w.Label()
        self.table = w.HTML()
        self.selected = tl
        for control in (self.range, self.sources, self.field, self.entity):
            control.observe(self._refresh, names="value")
        self.bookmark_button.on_click(self._bookmark)
        self.widget = w.VBox([
            self.range,
            w.HBox([self.sources, w.VBox([self.field, self.entity])]),
            self.rows,
            w.HBox([self.tags, self.note, self.bookmark_button, self.status]),
            self.table,
        ])
        self._refresh()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def mask(self) -> np.ndarray:
        """Boolean mask over ``tl`` of the rows the current filter values keep.

        Returns
        -------
        numpy.ndarray
            ``bool``, one per row of ``tl``.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> explorer = sf.explore(sf.timeline(sf.Lake.sample().load("cloud_trail_mgmt", "2026-05-21T03:30Z", "2026-05-21T03:34Z")))
        >>> explorer.field.value, explorer.entity.value = "src_ip", "103.75.108.118"
        >>> int(explorer.mask().sum()), len(explorer.selected)
        (14, 14)
        """
        lo, hi = self.range.value
        keep = (self._ns >= lo.value) & (self._ns <= hi.value)
        if self.sources.value:
            keep &= np.isin(self._sources, list(self.sources.value))
        needle = self.entity.value.strip().lower()
        if needle:
            fields = list(self._lower) if self.field.value == "any" else [self.field.value]
            hit = np.zeros(len(self.tl), dtype=bool)
            for f in fields:
                hit = hit | self._lower[f].str.contains(needle, regex=False).to_numpy(dtype=bool, na_value=False)
            keep &= hit
        return keep

    @property
    def picked(self) -> pd.DataFrame:
        """The rows picked in ``rows`` (positions in ``selected``), in time order.

        Returns
        -------
        pandas.DataFrame
            Timeline rows.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> ct = sf.Lake.sample().load("cloud_trail_mgmt", "2026-05-21T03:30Z", "2026-05-21T03:34Z")
        >>> explorer = sf.explore(sf.timeline(ct))
        >>> explorer.rows.value = tuple(i for label, i in explorer.rows.options if "ListUsers" in label or "GetCallerIdentity" in label)
        >>> explorer.picked["activity"].tolist()
        ['GetCallerIdentity', 'ListUsers']
        """
        return self.selected.iloc[sorted(self.rows.value)]

    def _refresh(self, _change: Any = None) -> None:
        self.selected = self.tl[self.mask()]
        shown = self.selected.head(self.page_size)
        self.rows.options = [(_row_label(r), i) for i, r in enumerate(shown.itertuples(index=False))]
        self.status.value = f"{len(self.selected):,} of {len(self.tl):,} events" + (
            f" (first {len(shown):,} shown)" if len(shown) < len(self.selected) else "")
        self.table.value = shown.to_html(index=False, max_cols=16, escape=True, na_rep="")

    def _bookmark(self, _button: Any = None) -> None:
        picked = self.picked
        if picked.empty:
            self.status.value = "Pick rows to bookmark first."
            return
        tags = [t.strip() for t in self.tags.value.split(",") if t.strip()]
        note = self.note.value.strip()
        extra: dict[str, Any] = {"tags": tags} if tags else {}
        if note:
            extra["note"] = note
        if self._callback is not None:
            self._callback(picked, **extra)
        self.status.value = f"Bookmarked {len(picked)} row(s)" + (f" tagged {', '.join(tags)}." if tags else ".")


def _edges(ns: np.ndarray, steps: int) -> list[pd.Timestamp]:
    """``steps + 1`` evenly spaced slider stops from the first to the last event (seconds)."""
    valid = ns[ns != np.iinfo(np.int64).min]
    if not len(valid):
        now = pd.Timestamp.now(tz="UTC").floor("s")
        return [now, now + pd.Timedelta(seconds=1)]
    lo = pd.Timestamp(int(valid.min()), tz="UTC").floor("s")
    hi = pd.Timestamp(int(valid.max()), tz="UTC").ceil("s")
    if hi <= lo:
        hi = lo + pd.Timedelta(seconds=1)
    stops = pd.date_range(lo, hi, periods=steps + 1).round("s").unique()
    return list(stops)


def _row_label(row: Any) -> str:
    summary = getattr(row, "summary", None)
    when = pd.Timestamp(row.time).strftime("%Y-%m-%d %H:%M:%S")
    return f"{when}  {row.source}  {'' if pd.isna(summary) else summary}"[:160]


def explore(tl: pd.DataFrame, bookmark: Callable[..., Any] | None = None) -> TimelineExplorer:
    """An interactive explorer of timeline ``tl`` for JupyterLab; returns a :class:`TimelineExplorer`.

    ``bookmark`` is called with the picked rows (a timeline frame), and the ``tags`` and ``note``
    typed in when filled in, when the bookmark button is clicked, e.g.
    ``explore(tl, bookmark=case.bookmark)``.  Builds without a running kernel.

    Parameters
    ----------
    tl, bookmark
        As for :class:`TimelineExplorer`.

    Returns
    -------
    TimelineExplorer
        Its ``widget`` (or the explorer itself, as a cell's value) displays it.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> tl = sf.Lake.sample().pivot(ip="103.75.108.118", start="2026-05-21T03:00Z", end="2026-05-21T05:00Z",
    ...                             sources=["cloud_trail_mgmt", "sh_findings"], progress=False)
    >>> kept = []
    >>> explorer = sf.explore(tl, bookmark=kept.append)
    >>> explorer.rows.value = (0,)
    >>> explorer.bookmark_button.click()
    >>> explorer.status.value, kept[0]["activity"].tolist()
    ('Bookmarked 1 row(s).', ['GetCallerIdentity'])
    """
    return TimelineExplorer(tl, bookmark=bookmark)
