"""An interactive timeline (Bokeh): hover, zoom and pan, source/entity filters, select to bookmark.

:func:`interactive_timeline` draws a timeline (:func:`~slake_forensics.analysis.timeline.timeline`)
as one lane per source with Bokeh.  Hovering an event shows its time, source, activity, actor and
summary; the wheel zooms and dragging pans; a source picker and an entity box filter the events
in the browser (client-side JavaScript, so they also work in a saved page); box or tap selection
picks events, and in JupyterLab (through ``jupyter_bokeh``) the picked events, tags and a note
are bookmarked into a case with one button.  BokehJS is inlined, never fetched from a CDN, so
the picture works offline; :meth:`InteractiveTimeline.save` writes a standalone page.  As a
cell's value its display bundle carries the widget view (what JupyterLab shows) and a
``text/html`` rendering (:meth:`InteractiveTimeline.html_fragment`) that an nbconvert HTML export
shows when the notebook holds no saved widget state.

The static matplotlib picture for reports stays :func:`~slake_forensics.analysis.timeline.plot_timeline`.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from slake_forensics.analysis.timeline import ENTITY_FIELDS

if TYPE_CHECKING:  # bokeh and ipywidgets are imported when a timeline is built
    from bokeh.models import ColumnDataSource, LayoutDOM

#: Hover tooltip rows: (label, Bokeh field reference).
TOOLTIPS = [("time", "@time_text"), ("source", "@source"), ("activity", "@activity"),
            ("actor", "@actor"), ("summary", "@summary")]

# Recomputes the view's mask from the source picker and the entity box (runs in the browser).
_FILTER_JS = """
const picked = new Set(sources.value);
const needle = entity.value.trim().toLowerCase();
const data = src.data;
const n = data.source.length;
const keep = new Array(n);
for (let i = 0; i < n; i++) {
    let ok = picked.size === 0 || picked.has(data.source[i]);
    if (ok && needle) {
        ok = fields.some((f) => String(data[f][i]).toLowerCase().includes(needle));
    }
    keep[i] = ok;
}
filter.booleans = keep;
"""


# file_html's page reduced to a fragment: no <html>/<body>, and none of the page's html/body styles.
_FRAGMENT = """{{ bokeh_css if bokeh_css }}
{{ bokeh_js if bokeh_js }}
{% for doc in docs %}{% for root in doc.roots -%}
<div id="{{ root.elementid }}" data-root-id="{{ root.id }}" style="display: contents;"></div>
{% endfor %}{% endfor %}
{{ plot_script }}
"""


class InteractiveTimeline:
    """A Bokeh timeline of ``tl`` with hover, zoom/pan, source and entity filters and bookmarking.

    Parameters
    ----------
    tl : pandas.DataFrame
        A timeline (``time, source, activity, actor, summary…``).
    bookmark : callable, optional
        Called as ``bookmark(rows, tags=[...], note="...")`` with the selected rows (a timeline
        frame) when the bookmark button is pressed, e.g. ``case.bookmark``.
    title : str
        The figure's title.

    Attributes
    ----------
    figure : bokeh.plotting.figure
        The lanes; its hover tool shows :data:`TOOLTIPS`.
    source : bokeh.models.ColumnDataSource
        One row per event; ``source.selected.indices`` are positions in ``tl``.
    sources, entity : bokeh.models.MultiChoice, bokeh.models.TextInput
        The filters (an empty picker keeps every source).
    layout : bokeh.models.LayoutDOM
        Filters above the figure.
    tags, note, bookmark_button, status : ipywidgets widgets
        The bookmark bar shown under the figure in JupyterLab.
    """

    def __init__(self, tl: pd.DataFrame, bookmark: Callable[..., Any] | None = None,
                 *, title: str = "Timeline") -> None:
        import ipywidgets as w
        from bokeh.models import (BooleanFilter, BoxSelectTool, CDSView, ColumnDataSource, CustomJS, FactorRange,
                                  HoverTool, TapTool)
        from bokeh.models.widgets import MultiChoice, TextInput
        from bokeh.layouts import column, row
        from bokeh.plotting import figure

        self.tl = tl.reset_index(drop=True)
        self._callback = bookmark
        self.title = title
        self.source: ColumnDataSource = ColumnDataSource(_columns(self.tl))
        lanes = sorted(set(self.source.data["source"])) or ["(none)"]
        self.filter = BooleanFilter(booleans=[True] * len(self.tl))
        self.figure = figure(
            title=title, x_axis_type="datetime", y_range=FactorRange(factors=lanes[::-1]), height=max(220, 60 * len(lanes) + 120),
            sizing_mode="stretch_width", tools="xpan,xwheel_zoom,box_zoom,reset,save",
            active_scroll="xwheel_zoom", active_drag="xpan",
        )
        renderer = self.figure.scatter("time", "source", source=self.source, view=CDSView(filter=self.filter),
                                       size=9, alpha=0.7, color="color", selection_color="crimson",
                                       nonselection_alpha=0.25)
        self.figure.add_tools(HoverTool(renderers=[renderer], tooltips=TOOLTIPS, formatters={}),
                              BoxSelectTool(renderers=[renderer]), TapTool(renderers=[renderer]))
        self.figure.xaxis.axis_label = "time (UTC)"
        self.sources = MultiChoice(options=lanes, value=[], title="sources (none picked: all)",
                                   sizing_mode="stretch_width")
        self.entity = TextInput(title=f"entity ({', '.join(f for f in ENTITY_FIELDS)}, summary)",
                                placeholder="IP, principal, resource… (substring)")
        fields = [f for f in (*ENTITY_FIELDS, "summary") if f in self.source.data]
        callback = CustomJS(args=dict(src=self.source, filter=self.filter, sources=self.sources,
                                      entity=self.entity, fields=fields), code=_FILTER_JS)
        self.sources.js_on_change("value", callback)
        self.entity.js_on_change("value", callback)
        self.layout: LayoutDOM = column(row(self.sources, self.entity, sizing_mode="stretch_width"), self.figure,
                                        sizing_mode="stretch_width")
        self.tags = w.Text(description="tags", placeholder="comma-separated, e.g. exfil, c2")
        self.note = w.Text(description="note", placeholder="why these events matter",
                           layout=w.Layout(width="40%"))
        self.bookmark_button = w.Button(description="Bookmark selected", icon="bookmark", disabled=bookmark is None)
        self.status = w.Label()
        self.bookmark_button.on_click(self._bookmark)

    @property
    def selected(self) -> pd.DataFrame:
        """The events selected in the figure, in time order.

        Returns
        -------
        pandas.DataFrame
            Rows of ``tl``.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> ct = sf.Lake.sample().load("cloud_trail_mgmt", "2026-05-21T03:30Z", "2026-05-21T03:34Z")
        >>> it = sf.interactive_timeline(sf.timeline(ct))
        >>> it.source.selected.indices = [1, 0]
        >>> it.selected["activity"].tolist()
        ['DescribeTable', 'AssumeRole']
        """
        return self.tl.iloc[sorted(self.source.selected.indices)]

    def _bookmark(self, _button: Any = None) -> None:
        picked = self.selected
        if picked.empty:
            self.status.value = "Select events in the figure first (box select or tap)."
            return
        tags = [t.strip() for t in self.tags.value.split(",") if t.strip()]
        if self._callback is not None:
            self._callback(picked, tags=tags, note=self.note.value.strip())
        self.status.value = f"Bookmarked {len(picked)} event(s)" + (f" tagged {', '.join(tags)}." if tags else ".")

    def html(self) -> str:
        """The figure and its filters as a standalone HTML page with BokehJS inlined (no CDN).

        Returns
        -------
        str
            An HTML document.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> ct = sf.Lake.sample().load("cloud_trail_mgmt", "2026-05-21T03:30Z", "2026-05-21T03:34Z")
        >>> page = sf.interactive_timeline(sf.timeline(ct)).html()
        >>> "cdn.bokeh.org" in page, "Bokeh" in page
        (False, True)
        """
        from bokeh.embed import file_html
        from bokeh.resources import INLINE

        return file_html(self.layout, INLINE, title=self.title)

    def save(self, path: str | Path) -> Path:
        """Write :meth:`html` to ``path`` (e.g. next to a case's reports); returns the path."""
        out = Path(path)
        out.write_text(self.html(), encoding="utf-8")
        return out

    def widget(self) -> Any:
        """The JupyterLab widget: the figure (``jupyter_bokeh``, selection synced) above the bookmark bar.

        Returns
        -------
        ipywidgets.VBox
        """
        import ipywidgets as w
        from bokeh.io import output_notebook
        from bokeh.resources import INLINE
        from jupyter_bokeh import BokehModel

        output_notebook(INLINE, hide_banner=True)  # BokehJS from the package, not a CDN
        bar = w.HBox([self.tags, self.note, self.bookmark_button, self.status])
        return w.VBox([BokehModel(self.layout), bar])

    def html_fragment(self) -> str:
        """The figure and its filters as an HTML fragment (no ``<html>``/``<body>``, no page styles)
        with BokehJS inlined (no CDN), to embed in another page such as a notebook's HTML export.

        Returns
        -------
        str
            BokehJS and its CSS, the root ``<div>`` and the script that renders the document.
        """
        from bokeh.embed import file_html
        from bokeh.resources import INLINE
        from jinja2 import Template

        return file_html(self.layout, INLINE, title=self.title, template=Template(_FRAGMENT))

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget view for JupyterLab plus ``text/html`` (:meth:`html_fragment`) for renderers
        without the live widget, e.g. nbconvert, which skips a widget view whose state the
        executed notebook did not save.  JupyterLab shows only the richest type, the widget."""
        bundle = self.widget()._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, None)
        data = {**data, "text/html": self.html_fragment()}
        return (data, metadata) if metadata is not None else data


def _columns(tl: pd.DataFrame) -> dict[str, list[Any]]:
    """The figure's data: time, its text, the hover fields, entity fields and a color per source."""
    from bokeh.palettes import Category10_10

    time = pd.to_datetime(tl["time"], utc=True) if "time" in tl else pd.Series([], dtype="datetime64[ns, UTC]")
    data: dict[str, list[Any]] = {
        "time": time.dt.tz_localize(None).tolist(),
        "time_text": time.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("").tolist(),
    }
    for col in ("source", "activity", *ENTITY_FIELDS, "summary"):
        values = tl[col] if col in tl else pd.Series([""] * len(tl))
        data[col] = values.astype("string").fillna("").tolist()
    data["source"] = [s or "(none)" for s in data["source"]]
    palette = {s: Category10_10[i % 10] for i, s in enumerate(sorted(set(data["source"])))}
    data["color"] = [palette[s] for s in data["source"]]
    return data


def interactive_timeline(tl: pd.DataFrame, bookmark: Callable[..., Any] | None = None,
                         *, title: str = "Timeline") -> InteractiveTimeline:
    """An interactive Bokeh timeline of ``tl``; as a cell's value it shows in JupyterLab.

    Hover shows the event's summary, the wheel zooms and dragging pans, the source picker and
    entity box filter, and selected events are bookmarked with tags and a note by
    ``bookmark(rows, tags=..., note=...)`` (pass ``case.bookmark``).  Works offline: BokehJS is
    inlined; :meth:`InteractiveTimeline.save` writes a standalone page.

    Parameters
    ----------
    tl, bookmark, title
        As for :class:`InteractiveTimeline`.

    Returns
    -------
    InteractiveTimeline

    Examples
    --------
    >>> import tempfile
    >>> import slake_forensics as sf
    >>> ct = sf.Lake.sample().load("cloud_trail_mgmt", "2026-05-21T03:30Z", "2026-05-21T03:34Z")
    >>> case = sf.Case.open(tempfile.mkdtemp(), analyst="alice")
    >>> it = sf.interactive_timeline(sf.timeline(ct), bookmark=case.bookmark)
    >>> from bokeh.models import HoverTool
    >>> it.figure.select_one({"type": HoverTool}).tooltips[-1]
    ('summary', '@summary')
    >>> it.source.selected.indices = [0]
    >>> it.tags.value, it.note.value = "recon, attacker", "first call from the attacker's IP"
    >>> it.bookmark_button.click()
    >>> bm = case.bookmarks.iloc[0]
    >>> bm["note"], list(bm["tags"])
    ("first call from the attacker's IP", ['recon', 'attacker'])
    """
    return InteractiveTimeline(tl, bookmark=bookmark, title=title)
