"""Post-incident activity (NIST SP 800-61): the review as text, and the lessons-learned report.

The figures come from :mod:`slake_forensics.workflows.metrics`; here they become text:
:func:`format_duration` and :func:`metrics_frame` (the metrics as a two-column table),
:func:`missing_logs` and :func:`action_items` (the review's two lists), and :func:`render_report`
(Markdown and standalone HTML in ``<case>/reports/``, with the timeline picture).  Every value
from the case is HTML-escaped in both files.
"""
from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from slake_forensics.analysis.timeline import plot_timeline
from slake_forensics.workflows.metrics import CONTAINMENT, DETECTION, MALICIOUS, bookmark_timeline, tagged_bookmarks

if TYPE_CHECKING:
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
    """The metrics of :func:`~slake_forensics.workflows.metrics.incident_metrics` as display text.

    Parameters
    ----------
    metrics
        An :func:`~slake_forensics.workflows.metrics.incident_metrics` dict.

    Returns
    -------
    pandas.DataFrame
        Columns ``metric, value`` (both text), one row per metric: the times, the durations, the
        counts and the counts per source, tag and IOC type.

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
    >>> table = metrics_frame(incident_metrics(case)).set_index("metric")["value"]
    >>> table["First malicious activity"], table["Dwell time (detection − first malicious)"]
    ('2026-03-04 01:00:00 UTC', '2 h 30 min')
    """
    basis = {"tag": "bookmark tagged '{}'".format(metrics["tags"]["detection"]), "finding": "earliest bookmarked finding"}
    rows = [
        ("First malicious activity", _fmt_time(metrics["first_malicious"])),
        ("Last malicious activity", _fmt_time(metrics["last_malicious"])),
        ("Detection", _fmt_time(metrics["detection"])
         + (f" ({basis[metrics['detection_basis']]}, {metrics['detection_source']})" if metrics["detection_basis"] else "")),
        ("Containment", _fmt_time(metrics["containment"])),
        ("Dwell time (detection − first malicious)", format_duration(metrics["dwell_time"])),
        ("Time to detect", format_duration(metrics["time_to_detect"])),
        ("Time to contain (containment − detection)", format_duration(metrics["time_to_contain"])),
        ("Attack duration (last − first malicious)", format_duration(metrics["attack_duration"])),
        ("Exposure (containment − first malicious)", format_duration(metrics["exposure"])),
        ("Bookmarked events", str(metrics["bookmarks"])),
        ("Malicious events bookmarked", str(metrics["malicious_events"])),
        ("Malicious events after containment", str(metrics["malicious_after_containment"])),
        ("Bookmarks per source", _fmt_counts(metrics["bookmarks_by_source"])),
        ("Malicious events per source", _fmt_counts(metrics["malicious_by_source"])),
        ("Bookmarks per tag", _fmt_counts(metrics["bookmarks_by_tag"])),
        ("IOCs per type", _fmt_counts(metrics["iocs_by_type"])),
    ]
    return pd.DataFrame(rows, columns=["metric", "value"])


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


def _timeline_png(case: Case, tl: pd.DataFrame) -> bytes | None:
    """PNG bytes of :func:`plot_timeline` over ``tl`` with the case's bookmarks marked, or ``None`` if empty."""
    if tl.empty:
        return None
    bm = tagged_bookmarks(case)
    marks = bm[np.array([bool(t & {MALICIOUS, DETECTION, CONTAINMENT}) and not pd.isna(tm)
                         for t, tm in zip(bm["tagset"], bm["time"])], dtype=bool)]
    labels = pd.DataFrame({"time": marks["time"], "note": [", ".join(sorted(t)) for t in marks["tagset"]]})
    fig = plot_timeline(tl, bookmarks=labels if len(labels) <= 30 else labels["time"])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _md(value: Any) -> str:
    """Text for a Markdown table cell: HTML-escaped (Markdown passes raw HTML through), pipes and
    line breaks neutralized."""
    return html.escape(str(value)).replace("|", "\\|").replace("\r", " ").replace("\n", "<br>")


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
    summary_lines = [
        f"Case {case.case_id}: {case.title}",
        f"First malicious activity {_fmt_time(m['first_malicious'])}, last {_fmt_time(m['last_malicious'])}.",
        f"Detected {_fmt_time(m['detection'])} after a dwell time of {format_duration(m['dwell_time'])}; "
        f"contained {_fmt_time(m['containment'])}, {format_duration(m['time_to_contain'])} after detection.",
        f"{m['malicious_events']} malicious event(s) bookmarked across {len(m['malicious_by_source'])} source(s); "
        f"{sum(m['iocs_by_type'].values())} IOC(s) recorded.",
    ]
    if m["malicious_after_containment"]:
        ok = m.get("succeeded_after_containment", m["malicious_after_containment"])
        summary_lines.append(f"{m['malicious_after_containment']} malicious event(s) happened after containment; "
                             + (f"{ok} not shown to have failed: containment was incomplete." if ok
                                else "all of them failed: containment held."))
    summary_lines += [f"Note ({n.analyst}, {_fmt_time(n.logged_at)}): {n.text}" for n in case.notes.itertuples()]

    events = pd.DataFrame({
        "time": [_fmt_time(t) for t in bm["time"]],
        "source": [_cell(s) for s in bm["source"]],
        "tags": [", ".join(sorted(t)) for t in bm["tagset"]],
        "event": [_cell(s.get("summary")) for s in bm["snapshot"]],
        "note": [_cell(n) for n in bm["note"]],
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
        ("Summary", "", summary_lines),
        ("Timeline", "Bookmarked events in time order.", events),
        ("Metrics", "", metrics_frame(m)),
        ("What was detected by what", "Findings and alerts bookmarked as detections.", detections),
        ("Hunts that would have fired earlier",
         "Packaged hunts whose hits match bookmarked malicious events; the lead is measured to detection.", hunt_part),
        ("Missing logs", "Sources or fields that were missing or insufficient during the investigation.",
         _items(missing_logs) or ["None recorded."]),
        ("Action items", "", _items(actions) or ["None recorded."]),
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

    md = [f"# {_md(title)}", "", f"Case `{_md(case.case_id)}`, report generated {generated}.", ""]
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
            md += [f"- {_md(line)}" for line in content] + [""]
            body.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in content) + "</ul>")

    style = ("body{font-family:sans-serif;max-width:75em;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;"
             "text-align:left;vertical-align:top}th{background:#f3f3f3}img{max-width:100%}")
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
