"""Post-incident activity (NIST SP 800-61): the review as text, and the lessons-learned report.

The figures come from :mod:`slake_forensics.workflows.metrics`; here they become text:
:func:`format_duration` and :func:`metrics_frame` (the metrics with their definitions),
:func:`missing_logs` and :func:`action_items` (the review's two lists), and :func:`render_report`
(Markdown and standalone HTML in ``<case>/reports/``, with the timeline picture).  Every value
from the case is HTML-escaped in the HTML and backslash-escaped (no HTML entities) in the Markdown.
"""
from __future__ import annotations

import base64
import html
import io
import json
import re
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from slake_forensics.analysis.timeline import plot_timeline
from slake_forensics.workflows.metrics import CONTAINMENT, DETECTION, MALICIOUS, bookmark_timeline, tagged_bookmarks

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.transforms import Bbox

    from slake_forensics.case import Case

REPORT_NAME = "lessons_learned"


def format_duration(td: pd.Timedelta | None) -> str:
    """A duration as text, in days, hours and minutes.

    Parameters
    ----------
    td
        The duration (None or NaT allowed).

    Returns
    -------
    str
        ``3 d 4 h 5 min`` (parts that are zero left out; seconds only when shorter than a
        minute), ``-`` first when negative, ``—`` for None.

    Examples
    --------
    >>> import pandas as pd
    >>> from slake_forensics.workflows.rendering import format_duration
    >>> format_duration(pd.Timedelta(hours=26, minutes=5)), format_duration(pd.Timedelta(seconds=-42)), format_duration(None)
    ('1 d 2 h 5 min', '-42 s', '—')
    """
    if td is None or pd.isna(td):
        return "—"
    sign, secs = ("-" if td < pd.Timedelta(0) else ""), int(abs(td).total_seconds())
    days, rest = divmod(secs, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    text = " ".join(p for p in parts if p) or f"{seconds} s"
    return sign + text


def _fmt_time(ts: Any) -> str:
    return "—" if ts is None or pd.isna(ts) else pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S UTC")


def _fmt_counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items()) or "none"


def metrics_frame(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """The metrics of :func:`~slake_forensics.workflows.metrics.incident_metrics` as display text,
    each with its definition.

    The durations are measured between different pairs of times, so they differ unless the
    times coincide: *time to detect* runs from the first malicious activity to detection, *dwell
    time* from the first malicious activity to containment (how long the attacker was in), *time
    to contain* from detection to containment, *attack duration* from the first to the last
    malicious activity.

    Parameters
    ----------
    metrics
        An :func:`~slake_forensics.workflows.metrics.incident_metrics` dict.

    Returns
    -------
    pandas.DataFrame
        Columns ``metric, value, definition`` (all text), one row per metric: the times, the
        durations, the counts and the counts per source, tag and IOC type.

    Examples
    --------
    >>> import tempfile
    >>> import slake_forensics as sf
    >>> from slake_forensics.workflows.metrics import incident_metrics
    >>> from slake_forensics.workflows.rendering import metrics_frame
    >>> folder = tempfile.TemporaryDirectory()  # removed with the object
    >>> case = sf.Case.open(f"{folder.name}/case", analyst="doc")
    >>> _ = case.bookmark("ev-1", "cloud_trail_mgmt", tags=["malicious"], time="2026-03-04T01:00Z")
    >>> _ = case.bookmark("f-1", "sh_findings", tags=["detection"], time="2026-03-04T03:30Z")
    >>> _ = case.bookmark("ct-1", "cloud_trail_mgmt", tags=["containment"], time="2026-03-04T05:00Z")
    >>> table = metrics_frame(incident_metrics(case)).set_index("metric")
    >>> table.loc["First malicious activity", "value"], table.loc["Time to detect", "value"]
    ('2026-03-04 01:00:00 UTC', '2 h 30 min')
    >>> table.loc["Dwell time", "value"], table.loc["Time to contain", "value"]
    ('4 h', '1 h 30 min')
    >>> table.loc["Dwell time", "definition"]
    'first malicious activity → containment: how long the attacker was in'
    """
    basis = {"tag": "bookmark tagged '{}'".format(metrics["tags"]["detection"]), "finding": "earliest bookmarked finding"}
    tags = metrics["tags"]
    rows = [
        ("First malicious activity", _fmt_time(metrics["first_malicious"]),
         f"earliest event bookmarked '{tags['malicious']}'"),
        ("Last malicious activity", _fmt_time(metrics["last_malicious"]),
         f"latest event bookmarked '{tags['malicious']}'"),
        ("Detection", _fmt_time(metrics["detection"])
         + (f" ({basis[metrics['detection_basis']]}, {metrics['detection_source']})" if metrics["detection_basis"] else ""),
         f"earliest event bookmarked '{tags['detection']}', else the earliest bookmarked finding"),
        ("Containment", _fmt_time(metrics["containment"]),
         f"earliest responder action bookmarked '{tags['containment']}'"),
        ("Time to detect", format_duration(metrics["time_to_detect"]),
         "first malicious activity → detection (the first finding or alert)"),
        ("Dwell time", format_duration(metrics["exposure"]),
         "first malicious activity → containment: how long the attacker was in"),
        ("Time to contain", format_duration(metrics["time_to_contain"]), "detection → containment"),
        ("Attack duration", format_duration(metrics["attack_duration"]),
         "first → last malicious activity (later attempts included)"),
        ("Bookmarked events", str(metrics["bookmarks"]), "live bookmarks in the case"),
        ("Malicious events bookmarked", str(metrics["malicious_events"]),
         f"bookmarks tagged '{tags['malicious']}'"),
        ("Malicious events after containment", str(metrics["malicious_after_containment"]),
         "attacker events later than containment (attempts that outlived it)"),
        ("Bookmarks per source", _fmt_counts(metrics["bookmarks_by_source"]), "all bookmarks, by lake source"),
        ("Malicious events per source", _fmt_counts(metrics["malicious_by_source"]), "attacker events, by lake source"),
        ("Bookmarks per tag", _fmt_counts(metrics["bookmarks_by_tag"]), "an event may carry several tags"),
        ("IOCs per type", _fmt_counts(metrics["iocs_by_type"]), "indicators recorded in the case"),
    ]
    return pd.DataFrame(rows, columns=["metric", "value", "definition"])


# ---- the review's lists -----------------------------------------------------------------------


def missing_logs(readiness: pd.DataFrame, playbooks: Iterable[str] | None = None) -> dict[str, str]:
    """The logs that were missing or incomplete, for the report.

    Parameters
    ----------
    readiness
        A :func:`slake_forensics.workflows.readiness.playbook_readiness` frame.
    playbooks
        The playbooks whose rows to keep (default: all), e.g. an incident's ``playbooks``.

    Returns
    -------
    dict
        ``{"<source> (<playbook>, <role>)": "<status>: <why>; accounts without data …; days
        missing …"}`` for the rows whose status is not ``present`` (:func:`render_report`'s
        ``missing_logs``); empty when every needed source delivered.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> from slake_forensics.workflows.rendering import missing_logs
    >>> lake = sf.Lake.sample()
    >>> ready = sf.readiness.playbook_readiness(lake, playbooks=["IRP-DataAccess"])
    >>> missing = missing_logs(ready)
    >>> list(missing)
    ['s3_data (IRP-DataAccess, required)', 'vpc_flow (IRP-DataAccess, helpful)']
    >>> missing["s3_data (IRP-DataAccess, required)"][:60]
    'partial: object-level GetObject evidence: which objects were'
    """
    rows = readiness if playbooks is None else readiness[readiness["playbook"].isin(list(playbooks))]
    out = {}
    for r in rows[rows["status"] != "present"].itertuples():
        where = [f"accounts without data: {', '.join(map(str, r.accounts_missing))}" if len(r.accounts_missing) else "",
                 f"days missing: {'; '.join(map(str, r.gap_ranges))}" if len(r.gap_ranges) else ""]
        out[f"{r.source} ({r.playbook}, {r.role})"] = "; ".join(p for p in [f"{r.status}: {r.why}", *where] if p)
    return out


def action_items(metrics: Mapping[str, Any], hunts: pd.DataFrame | None = None,
                 missing: Mapping[str, str] | None = None, scope: pd.DataFrame | None = None,
                 *, slow_detection: pd.Timedelta = pd.Timedelta(hours=1),
                 slow_containment: pd.Timedelta = pd.Timedelta(hours=4)) -> list[str]:
    """Lessons-learned action items derived from the review's findings, most important first.

    Parameters
    ----------
    metrics
        An :func:`~slake_forensics.workflows.metrics.incident_metrics` dict: detection slower
        than ``slow_detection`` or containment slower than ``slow_containment``, and attacker
        activity that succeeded after containment, become items.
    hunts
        A :func:`~slake_forensics.workflows.metrics.hunts_that_would_have_fired` frame: hunts that
        fired before detection are to be scheduled as detections.
    missing
        A :func:`missing_logs` dict: sources to turn on.
    scope
        An incident's scope: long-lived keys, created identities, role sessions and exposed
        buckets each bring a guardrail to add.
    slow_detection, slow_containment
        The targets for time to detect and time to contain.

    Returns
    -------
    list of str
        One-line items.

    Examples
    --------
    >>> import tempfile
    >>> import slake_forensics as sf
    >>> from slake_forensics.workflows.metrics import incident_metrics
    >>> from slake_forensics.workflows.rendering import action_items
    >>> folder = tempfile.TemporaryDirectory()  # removed with the object
    >>> case = sf.Case.open(f"{folder.name}/case", analyst="doc")
    >>> _ = case.bookmark("ev-1", "cloud_trail_mgmt", tags=["malicious"], time="2026-03-04T01:00Z")
    >>> _ = case.bookmark("f-1", "sh_findings", tags=["detection"], time="2026-03-04T03:30Z")
    >>> action_items(incident_metrics(case), missing={"s3_data": "off in one account"})
    ['Time to detect was 2 h 30 min (target 1 h): route the detecting finding type to on-call paging.', 'Turn on or repair s3_data: off in one account.']
    """
    items = []
    if metrics.get("succeeded_after_containment"):
        items.append(f"Containment did not hold: {metrics['succeeded_after_containment']} attacker event(s) succeeded "
                     "after it. Review the containment steps and re-check the IOCs.")
    if hunts is not None and len(hunts):
        early = hunts[hunts["fired_before_detection"].fillna(False).astype(bool)]
        for h in early.itertuples():
            items.append(f"Schedule hunt '{h.name}' ({h.title}) as a detection: it matched the attack "
                         f"{format_duration(h.lead)} before the incident was detected.")
    if metrics.get("dwell_time") is not None and metrics["dwell_time"] > slow_detection:
        items.append(f"Time to detect was {format_duration(metrics['dwell_time'])} (target {format_duration(slow_detection)}): "
                     "route the detecting finding type to on-call paging.")
    if metrics.get("time_to_contain") is not None and metrics["time_to_contain"] > slow_containment:
        items.append(f"Time to contain was {format_duration(metrics['time_to_contain'])} (target {format_duration(slow_containment)}): "
                     "pre-approve the containment runbook steps (key deactivation, instance isolation) for the on-call responder.")
    for source, why in (missing or {}).items():
        items.append(f"Turn on or repair {source}: {why}.")
    if scope is not None and len(scope):
        kinds = set(scope["kind"])
        if "compromised_key" in kinds:
            items.append("Replace long-lived access keys of automation users with roles (OIDC federation for CI) "
                         "and alert on their use from new networks.")
        if kinds & {"created_user", "created_key", "created_login_profile", "attached_policy"}:
            items.append("Add a guardrail (SCP or permission boundary) on iam:CreateUser/CreateAccessKey/AttachUserPolicy "
                         "for automation principals.")
        if "role_session" in kinds:
            items.append("Require IMDSv2 (hop limit 1) on instances and alert on instance-role credentials used outside AWS.")
        if kinds & {"public_access_block_removed", "bucket_policy_changed"}:
            items.append("Enforce S3 Block Public Access at the account level and alert on bucket-policy changes of sensitive buckets.")
    return items


# ---- the report -----------------------------------------------------------------------------


LABEL_GID = "event-label"  #: the gid of the picture's event labels (tests find them by it)
_KIND_COLORS = {MALICIOUS: "crimson", DETECTION: "royalblue", CONTAINMENT: "forestgreen"}


def _overlaps(box: Bbox, placed: list[Bbox]) -> bool:
    return any(box.x0 < b.x1 and b.x0 < box.x1 and box.y0 < b.y1 and b.y0 < box.y1 for b in placed)


def timeline_figure(case: Case, tl: pd.DataFrame, max_labels: int = 40) -> Figure | None:
    """The report's timeline picture: the events in swim lanes, the case's attacker, detection and
    containment bookmarks as coloured lines, each labelled above the plot without overlap.

    Labels are placed left to right; one that would overlap a placed label moves up a row, so
    every label stays legible however close the events are.  Past ``max_labels`` bookmarks only
    the first of each kind is labelled (all keep their line).

    Parameters
    ----------
    case
        The case whose tagged bookmarks are marked.
    tl
        The timeline to draw (e.g. :func:`~slake_forensics.workflows.metrics.bookmark_timeline`).
    max_labels
        The most bookmarks labelled one by one.

    Returns
    -------
    matplotlib.figure.Figure or None
        The figure (drawn, without a layout engine, so positions are final), or None when ``tl``
        is empty.  Labels carry the gid :data:`LABEL_GID`.

    Examples
    --------
    >>> import tempfile
    >>> import slake_forensics as sf
    >>> from slake_forensics.workflows.metrics import bookmark_timeline
    >>> from slake_forensics.workflows.rendering import LABEL_GID, timeline_figure
    >>> folder = tempfile.TemporaryDirectory()  # removed with the object
    >>> case = sf.Case.open(f"{folder.name}/case", analyst="doc")
    >>> for minute in range(5):  # five events a minute apart: their labels would collide in one row
    ...     _ = case.bookmark(f"ev-{minute}", "cloud_trail_mgmt", tags=["malicious"],
    ...                       time=f"2026-03-04T01:0{minute}Z", row={"activity": "GetObject"})
    >>> fig = timeline_figure(case, bookmark_timeline(case))
    >>> len([t for ax in fig.axes for t in ax.texts if t.get_gid() == LABEL_GID])
    5
    """
    if tl.empty:
        return None
    import matplotlib.dates as mdates  # imported here: ``import slake_forensics`` loads no plotting library
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    bm = tagged_bookmarks(case)
    kinds = [next((k for k in (MALICIOUS, DETECTION, CONTAINMENT) if k in t), None) for t in bm["tagset"]]
    marks = bm.assign(kind=kinds)
    marks = marks[marks["kind"].notna() & marks["time"].notna()].sort_values("time", kind="stable")
    fig = plot_timeline(tl)
    ax = fig.axes[0]
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # lay out once, then freeze the layout so label offsets stay where they are measured
    fig.set_layout_engine("none")
    renderer = canvas.get_renderer()
    first_of_kind = ~marks.duplicated("kind")
    placed: list[Bbox] = []
    for (_, row), first in zip(marks.iterrows(), first_of_kind):
        when = pd.Timestamp(row["time"]).tz_convert("UTC")
        x = float(mdates.date2num(when.to_pydatetime()))
        color = _KIND_COLORS[row["kind"]]
        ax.axvline(x, color=color, linewidth=0.8, alpha=0.8, zorder=4)
        if len(marks) > max_labels and not first:
            continue
        snap = row["snapshot"] or {}
        what = _readable(snap.get("activity") or snap.get("summary") or row["source"])
        text = f"{row['kind']} {when:%m-%d %H:%M} {what}"
        text = text if len(text) <= 48 else text[:47] + "…"
        label = ax.annotate(text, (x, 1), xycoords=("data", "axes fraction"), xytext=(0, 6), textcoords="offset points",
                            fontsize="x-small", ha="left", va="bottom", color=color, gid=LABEL_GID, annotation_clip=False,
                            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
                            arrowprops={"arrowstyle": "-", "color": color, "linewidth": 0.5, "shrinkA": 0, "shrinkB": 0,
                                        "relpos": (0, 0)})  # a vertical leader from the label's corner
        for level in range(len(marks) + 1):
            label.xyann = (0, 6 + 11 * level)
            box = Text.get_window_extent(label, renderer)
            if not _overlaps(box, placed):
                break
        placed.append(box)
    return fig


def _timeline_png(case: Case, tl: pd.DataFrame) -> bytes | None:
    """PNG bytes of :func:`timeline_figure`, or ``None`` when there is nothing to draw."""
    fig = timeline_figure(case, tl)
    if fig is None:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


_ACCOUNT = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")
_ARN = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]*:[a-z0-9-]*:[0-9]*:[^\s,;)\]]+")
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>&|#])")


def _short_arn(arn: str) -> str:
    """``arn:aws:iam::111122223333:user/svc`` → ``iam user/svc (…3333)``: service, the resource's type
    and name (its middle path elided), the account's last four digits."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return arn
    service, account, segments = parts[2], parts[4], parts[5].split("/")
    resource = "/".join(segments) if len(segments) <= 2 else f"{segments[0]}/…/{segments[-1]}"
    return f"{service} {resource}" + (f" (…{account[-4:]})" if account else "")


def _readable(text: Any) -> str:
    """Text with each full ARN shortened by :func:`_short_arn` (the full values are listed elsewhere)."""
    return _ARN.sub(lambda mt: _short_arn(mt.group(0)), " ".join(str(text).split()))


def _short_list(values: list[str], limit: int = 8) -> str:
    shown = [_readable(v) for v in values[:limit]]
    return ", ".join(shown) + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _md(value: Any) -> str:
    """Markdown text showing ``value`` literally: Markdown's special characters (HTML's ``<``, ``>``
    and ``&`` among them) backslash-escaped, never as HTML entities; line breaks become spaces."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def _md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_none_\n"
    lines = ["| " + " | ".join(_md(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(_md(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _html_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _items(values: Mapping[str, Any] | Iterable[Any] | None) -> list[str]:
    """Report list items: ``"key: value"`` for a mapping, ``str`` of each item otherwise."""
    if values is None:
        return []
    if isinstance(values, Mapping):
        return [f"{k}: {v}" for k, v in values.items()]
    if isinstance(values, str):
        return [values]
    return [str(v) for v in values]


def _cell(value: Any) -> str:
    if value is None or (not isinstance(value, list | tuple | set) and pd.isna(value)):
        return ""
    return str(value)


def _sections(
    case: Case, metrics: Mapping[str, Any], hunts: pd.DataFrame | None, missing_logs: Any, actions: Any
) -> list[tuple[str, str, Any]]:
    """The report's content: ``(title, intro text, frame or list of lines)`` per section."""
    bm = tagged_bookmarks(case)
    m = metrics
    mal = bm[np.array([m["tags"]["malicious"] in t for t in bm["tagset"]], dtype=bool)]
    touched = sorted({str(snap.get("target")) for snap in mal["snapshot"] if snap and snap.get("target")})
    actors = sorted({str(snap.get("actor")) for snap in mal["snapshot"] if snap and snap.get("actor")})
    accounts = sorted({a for snap in mal["snapshot"] for a in _ACCOUNT.findall(json.dumps(snap or {}, default=str))})
    summary_lines = [
        f"What happened: case {case.case_id}, {case.title}. {m['malicious_events']} attacker event(s) were bookmarked "
        f"across {len(m['malicious_by_source'])} source(s), from {_fmt_time(m['first_malicious'])} "
        f"to {_fmt_time(m['last_malicious'])} ({format_duration(m['attack_duration'])}).",
        "Impact: resources and data touched: " + (_short_list(touched) or "none recorded") + "; accounts: "
        + (", ".join(accounts) or "none recorded") + "; acting as: " + (_short_list(actors) or "none recorded") + ".",
        f"Detected {_fmt_time(m['detection'])}, {format_duration(m['time_to_detect'])} after the first malicious activity "
        f"(time to detect); contained {_fmt_time(m['containment'])}, {format_duration(m['time_to_contain'])} after "
        f"detection; the attacker was in for {format_duration(m['exposure'])} (dwell time).",
        f"{sum(m['iocs_by_type'].values())} IOC(s) recorded.",
    ]
    if m["malicious_after_containment"]:
        ok = m.get("succeeded_after_containment", m["malicious_after_containment"])
        summary_lines.append(f"{m['malicious_after_containment']} malicious event(s) happened after containment; "
                             + (f"{ok} not shown to have failed: containment was incomplete." if ok
                                else "all of them failed: containment held."))
    notes = [f"Note ({n.analyst}, {_fmt_time(n.logged_at)}): {_readable(n.text)}" for n in case.notes.itertuples()]
    arns = sorted({a for n in case.notes.itertuples() for a in _ARN.findall(str(n.text))})
    notes += [f"{_short_arn(a)} = {a}" for a in arns]

    responders = np.array([m["tags"]["containment"] in t for t in bm["tagset"]], dtype=bool)

    def event_table(rows: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({
            "time": [_fmt_time(t) for t in rows["time"]],
            "source": [_cell(s) for s in rows["source"]],
            "tags": [", ".join(sorted(t)) for t in rows["tagset"]],
            "event": [_readable(_cell(s.get("summary"))) for s in rows["snapshot"]],
            "note": [_readable(_cell(n)) for n in rows["note"]],
        })

    events, actions_taken = event_table(bm[~responders]), event_table(bm[responders])
    exports = case.exports
    manifest = pd.DataFrame({
        "file": [f"evidence/{n}.parquet" for n in exports["name"]],
        "rows": [_cell(r) for r in exports["rows"]],
        "SHA-256": [_cell(h) for h in exports["sha256"]],
        "manifest": [f"evidence/{n}.manifest.json" for n in exports["name"]],
        "note": [_readable(_cell(n)) for n in exports["note"]],
    })
    det_tag = m["tags"]["detection"]
    detected = bm[np.array([det_tag in t or f for t, f in zip(bm["tagset"], bm["finding"])], dtype=bool)]
    detections = pd.DataFrame({
        "time": [_fmt_time(t) for t in detected["time"]],
        "detected by": [_cell(s.get("actor") or s.get("metadata.product.name") or src)
                        for s, src in zip(detected["snapshot"], detected["source"])],
        "what": [_cell(s) for s in detected["summary"]],
        "tags": [", ".join(sorted(t)) for t in detected["tagset"]],
    })
    if hunts is None:
        hunt_part: Any = ["Hunts were not run for this report (see report.hunts_that_would_have_fired)."]
    else:
        fired = hunts[hunts["malicious_hits"] > 0]
        hunt_part = pd.DataFrame({
            "hunt": fired["name"], "title": fired["title"], "stage": fired["stage"],
            "hits on malicious events": fired["malicious_hits"], "events hit": fired["events_hit"],
            "first match": [_fmt_time(t) for t in fired["first_match"]],
            "before detection by": [format_duration(d) if f else "not earlier"
                                    for d, f in zip(fired["lead"], fired["fired_before_detection"])],
        })
    return [
        ("Executive Summary", "", summary_lines),
        ("Notes", "The analysts' notes, in the order written (ARNs shortened; full values under the section).",
         notes or ["None recorded."]),
        ("Timeline", "The attacker's and the detections' bookmarked events in time order (responders' actions "
         "are listed apart below).", events),
        ("Responders' actions", "Containment and other actions of the response team, bookmarked "
         f"'{m['tags']['containment']}': never counted as attacker activity.", actions_taken),
        ("Metrics", "", metrics_frame(m)),
        ("What was detected by what", "Findings and alerts bookmarked as detections.", detections),
        ("Hunts that would have fired earlier",
         "Packaged hunts whose hits match bookmarked malicious events; the lead is measured to detection.", hunt_part),
        ("Missing logs", "Sources or fields that were missing or insufficient during the investigation.",
         _items(missing_logs) or ["None recorded."]),
        ("Action items", "", _items(actions) or ["None recorded."]),
        ("Evidence manifest", "The case's evidence exports, relative to the case folder "
         f"{case.path}; each has a manifest with its query and span, and case.verify() re-checks the SHA-256.",
         manifest),
    ]


def render_report(
    case: Case,
    metrics: Mapping[str, Any],
    timeline_df: pd.DataFrame | None = None,
    *,
    missing_logs: Mapping[str, Any] | Iterable[Any] | None = None,
    hunts: pd.DataFrame | None = None,
    actions: Iterable[Any] | None = None,
    out_dir: str | Path | None = None,
) -> dict[str, Path]:
    """Write the lessons-learned report as ``lessons_learned.md`` and a standalone ``lessons_learned.html``.

    Sections: summary (with the case's notes), timeline, metrics, what was detected by what,
    hunts that would have fired earlier, missing logs, action items.  The HTML embeds the
    timeline picture as a base64 PNG; every value from the case is HTML-escaped in both files.
    Files replace earlier versions.

    Parameters
    ----------
    case
        The case.
    metrics
        Its :func:`~slake_forensics.workflows.metrics.incident_metrics`.
    timeline_df
        The timeline to draw (default: the bookmarked events,
        :func:`~slake_forensics.workflows.metrics.bookmark_timeline`).
    missing_logs
        A list of lines, or a ``{source: why it mattered}`` mapping (:func:`missing_logs`).
    hunts
        A :func:`~slake_forensics.workflows.metrics.hunts_that_would_have_fired` frame.
    actions
        Action items (:func:`action_items`).
    out_dir
        The folder to write to (default ``<case>/reports``).

    Returns
    -------
    dict
        ``{"markdown": path, "html": path}`` plus ``"png": path`` (the picture as
        ``lessons_learned_timeline.png``, for the Markdown to show) when there was a timeline to
        draw.

    Examples
    --------
    >>> import tempfile
    >>> import slake_forensics as sf
    >>> from slake_forensics.workflows.metrics import incident_metrics
    >>> from slake_forensics.workflows.rendering import render_report
    >>> folder = tempfile.TemporaryDirectory()  # removed with the object
    >>> case = sf.Case.open(f"{folder.name}/case", analyst="doc", title="Leaked key")
    >>> _ = case.bookmark("ev-1", "cloud_trail_mgmt", tags=["malicious"], time="2026-03-04T01:00Z")
    >>> paths = render_report(case, incident_metrics(case), actions=["Rotate the CI key."])
    >>> sorted(paths), paths["html"].relative_to(case.path).as_posix()
    (['html', 'markdown', 'png'], 'reports/lessons_learned.html')
    >>> "- Rotate the CI key." in paths["markdown"].read_text()
    True
    """
    out = Path(out_dir) if out_dir is not None else case.path / "reports"
    out.mkdir(parents=True, exist_ok=True)
    tl = bookmark_timeline(case) if timeline_df is None else timeline_df
    png = _timeline_png(case, tl)
    sections = _sections(case, metrics, hunts, missing_logs, actions)
    title = f"Lessons learned: {case.title}"
    generated = _fmt_time(pd.Timestamp.now(tz="UTC"))

    md = [f"# {_md(title)}", "", f"Case {_md(case.case_id)}, report generated {generated}.", ""]
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p>Case <code>{html.escape(case.case_id)}</code>, report generated {html.escape(generated)}.</p>"]
    for name, intro, content in sections:
        md += [f"## {name}", ""] + ([intro, ""] if intro else [])
        body.append(f"<h2>{html.escape(name)}</h2>" + (f"<p>{html.escape(intro)}</p>" if intro else ""))
        if name == "Timeline":
            if png is None:
                md += ["_No timed events to draw._", ""]
                body.append("<p><em>No timed events to draw.</em></p>")
            else:
                md += [f"![timeline]({REPORT_NAME}_timeline.png)", ""]
                body.append(f'<img alt="timeline" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">')
        if isinstance(content, pd.DataFrame):
            md.append(_md_table(content))
            body.append(_html_table(content))
        else:
            md += [textwrap.fill(_md(line), 100, initial_indent="- ", subsequent_indent="  ", break_long_words=False,
                                 break_on_hyphens=False) for line in content] + [""]
            body.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in content) + "</ul>")

    style = ("body{font-family:sans-serif;max-width:75em;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse;margin:.5em 0;width:100%}td,th{border:1px solid #ccc;padding:.2em .5em;"
             "text-align:left;vertical-align:top;overflow-wrap:anywhere}th{background:#f3f3f3}img{max-width:100%}"
             "li{margin:.2em 0}"
             # printing (to PDF): full width, no heading alone at a page end, rows and the picture not cut,
             # table headers repeated on each page, long values wrapped instead of clipped
             "@page{size:A4;margin:15mm}"
             "@media print{body{max-width:none;margin:0;font-size:10pt}h1,h2{break-after:avoid;page-break-after:avoid}"
             "tr,img,li{break-inside:avoid;page-break-inside:avoid}thead{display:table-header-group}"
             "table{font-size:9pt}}")
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{style}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
    paths = {"markdown": out / f"{REPORT_NAME}.md", "html": out / f"{REPORT_NAME}.html"}
    if png is not None:
        paths["png"] = out / f"{REPORT_NAME}_timeline.png"
    paths["markdown"].write_text("\n".join(md) + "\n", encoding="utf-8")
    if png is not None:
        paths["png"].write_bytes(png)
    paths["html"].write_text(page, encoding="utf-8")
    return paths
