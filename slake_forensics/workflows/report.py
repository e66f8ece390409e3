"""Post-incident activity (NIST SP 800-61): incident metrics and a lessons-learned report.

Everything here is computed from the **case** -- the events the analyst bookmarked and tagged,
the IOCs and notes recorded -- and, for the hunts, from the lake.  Nothing reads an answer key.

Tag conventions
---------------
Bookmark events with these tags (any case, surrounding blanks ignored) while investigating;
an event may carry several (a containment action is often not malicious; a finding is both a
``detection`` and, when it names the attacker's activity, evidence of it)::

    case.bookmark(row, tags=["malicious"])            # attacker activity, any source
    case.bookmark(finding, tags=["detection"])        # the finding/alert that started the response
    case.bookmark(ct_row, tags=["containment"])       # a responder's containment action

``malicious``
    An attacker's event (API call, network flow, DNS query, ...).  The earliest and latest
    bookmarked ``malicious`` events are the first and last malicious activity.
``detection``
    The finding or alert that detected the incident.  Detection time is the earliest
    ``detection`` bookmark; without one, the earliest bookmarked *finding* (a Security Hub
    event, or any row whose ``class_name`` contains ``Finding``), and the metrics say which
    rule was used (``detection_basis``).
``containment``
    A containment action (key deactivated, instance isolated, deny policy attached ...).
    Containment time is the earliest ``containment`` bookmark.

Other tags (``persistence``, ``exfiltration``, ``recon`` ...) are free; they are counted in
``bookmarks_by_tag``.  Bookmark times are the *events'* times (UTC), not when they were
bookmarked; bookmarks without a time are counted but place nothing on the timeline.

Functions
---------
:func:`incident_metrics` (times, durations and counts as a dict), :func:`metrics_frame` (the
same as a two-column table), :func:`hunts_that_would_have_fired` (which packaged hunts hit the
bookmarked malicious events, and how long before detection), :func:`missing_logs` and
:func:`action_items` (the review's two lists), :func:`render_report` (Markdown and standalone
HTML in ``<case>/reports/``).
"""
from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from slake_forensics.case import Case
from slake_forensics.analysis.normalize import TIME, as_timeline, is_failure
from slake_forensics.analysis.timeline import FINDING_SOURCES, plot_timeline, timeline as merge_timeline
from slake_forensics.core.timewindow import TimeLike

if TYPE_CHECKING:
    from slake_forensics.lake import Lake

MALICIOUS, DETECTION, CONTAINMENT = "malicious", "detection", "containment"
MATCH_TOLERANCE = pd.Timedelta(minutes=5)
REPORT_NAME = "lessons_learned"

#: Row-snapshot fields whose values name an entity (timeline columns and flattened OCSF fields);
#: a hunt hit sharing one of them with a bookmarked event, at its time, is about that event.
ENTITY_KEYS = (
    "actor", "src_ip", "dst_ip", "target",
    "actor.user.uid", "actor.user.name", "actor.user.uid_alt", "actor.user.credential_uid",
    "actor.session.credential_uid", "actor.session.issuer", "src_endpoint.ip", "dst_endpoint.ip",
    "src_endpoint.instance_uid", "dst_endpoint.instance_uid", "query.hostname", "http_request.url.hostname",
)
#: Hit columns holding an event id, compared with bookmark uids.
HIT_UID_COLUMNS = ("metadata.uid", "api.request.uid", "finding_info.uid", "http_request.uid", "uid")
_HIT_TIME_COLUMNS = ("time_dt", "first_time_dt", "last_time_dt", "time", "hour")

# ---- metrics -----------------------------------------------------------------------------------


def _tagset(tags: Any) -> set[str]:
    """Lower-cased, stripped tags of one bookmark (``tags`` is a list, array or missing)."""
    if tags is None or (not isinstance(tags, list | tuple | np.ndarray) and pd.isna(tags)):
        return set()
    return {str(t).strip().lower() for t in tags if t is not None and str(t).strip()}


def _row(text: Any) -> dict[str, Any]:
    """A bookmark's row snapshot (JSON text in ``case.bookmarks``) as a dict (empty when absent)."""
    if text is None or (isinstance(text, float) and np.isnan(text)) or text is pd.NA:
        return {}
    try:
        row = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return row if isinstance(row, dict) else {}


def tagged_bookmarks(case: Case) -> pd.DataFrame:
    """``case.bookmarks`` with helper columns, sorted by event time (untimed last).

    Adds ``tagset`` (set of lower-cased tags), ``snapshot`` (the row snapshot as a dict),
    ``summary`` (the snapshot's ``summary``, else the note) and ``finding`` (bool: a Security
    Hub event or a ``… Finding`` class).
    """
    bm = case.bookmarks
    bm = bm.assign(
        tagset=[_tagset(t) for t in bm["tags"]],
        snapshot=[_row(r) for r in bm["row"]],
    )
    bm["summary"] = [str(s.get("summary") or n or "") for s, n in zip(bm["snapshot"], bm["note"].fillna(""))]
    bm["finding"] = [
        src in FINDING_SOURCES or "Finding" in str(s.get("class_name") or "")
        for src, s in zip(bm["source"].astype(object), bm["snapshot"])
    ]
    return bm.sort_values("time", kind="stable", na_position="last").reset_index(drop=True)


def _earliest(bm: pd.DataFrame, mask: Iterable[bool]) -> pd.Series | None:
    """The earliest timed bookmark among ``mask`` (``bm`` is sorted by time), or ``None``."""
    sel = bm[np.asarray(list(mask), dtype=bool) & bm["time"].notna().to_numpy(dtype=bool)]
    return None if sel.empty else sel.iloc[0]


def _ts(value: Any) -> pd.Timestamp | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).tz_convert("UTC")


def _minus(a: pd.Timestamp | None, b: pd.Timestamp | None) -> pd.Timedelta | None:
    return None if a is None or b is None else a - b


def incident_metrics(
    case: Case,
    *,
    malicious_tag: str = MALICIOUS,
    detection_tag: str = DETECTION,
    containment_tag: str = CONTAINMENT,
) -> dict[str, Any]:
    """Post-incident metrics from the case's tagged bookmarks and IOCs (see the module doc for tags).

    Returns a dict; times are UTC :class:`pandas.Timestamp`, durations :class:`pandas.Timedelta`,
    and either is ``None`` when the bookmarks do not determine it:

    ``first_malicious`` / ``last_malicious``
        earliest / latest event tagged ``malicious_tag``.
    ``detection``, ``detection_uid``, ``detection_source``, ``detection_basis``
        the earliest event tagged ``detection_tag``, else the earliest bookmarked finding;
        basis ``"tag"``, ``"finding"`` or ``None``.
    ``containment``, ``containment_uid``
        the earliest event tagged ``containment_tag``.
    ``dwell_time``
        detection − first malicious (how long the attacker went unnoticed).
    ``time_to_detect``
        the same interval, under the name NIST/SOC metrics use (MTTD per incident).
    ``time_to_contain``
        containment − detection.
    ``attack_duration``
        last − first malicious.
    ``exposure``
        containment − first malicious (how long the attacker had before being contained).
    ``bookmarks``, ``malicious_events``, ``malicious_after_containment``, ``succeeded_after_containment``
        counts of live bookmarks, malicious ones, malicious ones later than containment
        (attacker attempts that outlived containment), and of those the ones not shown to have
        failed (their status is not a failure: containment may not have held for them).
    ``bookmarks_by_source``, ``malicious_by_source``, ``bookmarks_by_tag``, ``iocs_by_type``
        ``{name: count}``, largest first.
    ``tags``
        the three tag names used.
    """
    mal, det, con = (t.strip().lower() for t in (malicious_tag, detection_tag, containment_tag))
    bm = tagged_bookmarks(case)
    is_mal = [mal in t for t in bm["tagset"]]
    mal_times = bm.loc[np.asarray(is_mal, dtype=bool), "time"].dropna()
    first = _ts(mal_times.min()) if len(mal_times) else None
    last = _ts(mal_times.max()) if len(mal_times) else None

    detection_row, basis = _earliest(bm, [det in t for t in bm["tagset"]]), "tag"
    if detection_row is None:
        detection_row, basis = _earliest(bm, bm["finding"]), "finding"
    detection = _ts(detection_row["time"]) if detection_row is not None else None
    containment_row = _earliest(bm, [con in t for t in bm["tagset"]])
    containment = _ts(containment_row["time"]) if containment_row is not None else None

    dwell = _minus(detection, first)
    mal_rows = bm.loc[np.asarray(is_mal, dtype=bool)]
    late = mal_rows[mal_rows["time"] > containment] if containment is not None else mal_rows.iloc[0:0]
    after = len(late)
    succeeded = int(sum(not is_failure((snap or {}).get("status")) for snap in late["snapshot"]))
    tag_counts = pd.Series([t for tags in bm["tagset"] for t in sorted(tags)], dtype=object).value_counts()
    iocs = case.iocs
    return {
        "first_malicious": first,
        "last_malicious": last,
        "detection": detection,
        "detection_uid": None if detection_row is None else str(detection_row["uid"]),
        "detection_source": None if detection_row is None else str(detection_row["source"]),
        "detection_basis": None if detection_row is None else basis,
        "containment": containment,
        "containment_uid": None if containment_row is None else str(containment_row["uid"]),
        "dwell_time": dwell,
        "time_to_detect": dwell,
        "time_to_contain": _minus(containment, detection),
        "attack_duration": _minus(last, first),
        "exposure": _minus(containment, first),
        "bookmarks": len(bm),
        "malicious_events": int(sum(is_mal)),
        "malicious_after_containment": after,
        "succeeded_after_containment": succeeded,
        "bookmarks_by_source": _counts(bm["source"]),
        "malicious_by_source": _counts(bm.loc[np.asarray(is_mal, dtype=bool), "source"]),
        "bookmarks_by_tag": {str(k): int(v) for k, v in tag_counts.items()},
        "iocs_by_type": _counts(iocs["type"]),
        "tags": {"malicious": mal, "detection": det, "containment": con},
    }


def _counts(values: pd.Series) -> dict[str, int]:
    """``{value: count}`` of a column, largest first (ties by value)."""
    counts = values.astype(object).fillna("(none)").value_counts()
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return {str(k): int(v) for k, v in ordered}


def format_duration(td: pd.Timedelta | None) -> str:
    """A duration as ``3 d 4 h 5 min`` (``-`` prefix when negative, ``—`` for ``None``)."""
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
    """The metrics of :func:`incident_metrics` as display text: columns ``metric, value``, one row each."""
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


# ---- hunts ----------------------------------------------------------------------------------


def _norm(value: Any) -> str:
    """An entity value for comparison: text, stripped, lower case, no trailing dot (Route 53 names)."""
    return str(value).strip().lower().rstrip(".")


def _bookmark_entities(snapshot: Mapping[str, Any]) -> set[str]:
    """Normalized entity values of a bookmarked event's row snapshot (see :data:`ENTITY_KEYS`);
    an S3 ``bucket/key`` target also contributes its bucket."""
    out = set()
    for key in ENTITY_KEYS:
        value = snapshot.get(key)
        if isinstance(value, str) and value.strip():
            out.add(_norm(value))
            if key == "target" and "/" in value and not value.startswith("/"):
                out.add(_norm(value.split("/", 1)[0]))
    return out


def _hit_values(row: Mapping[str, Any]) -> set[str]:
    """Normalized string values (list items included) of a hit row, time columns excluded."""
    out: set[str] = set()
    for key, value in row.items():
        if key in _HIT_TIME_COLUMNS:
            continue
        items = value if isinstance(value, list | tuple | np.ndarray) else [value]
        for item in items:
            if isinstance(item, str) and item.strip():
                out.add(_norm(item))
    return out


def _hit_span(row: Mapping[str, Any]) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """``(start, end)`` of a hit: ``time_dt`` for one event, ``first_time_dt``/``last_time_dt`` for a group."""
    start = next((row[c] for c in ("time_dt", "first_time_dt") if c in row and not pd.isna(row[c])), None)
    end = next((row[c] for c in ("time_dt", "last_time_dt") if c in row and not pd.isna(row[c])), start)
    return _ts(start), _ts(end)


def match_hits(
    hits: pd.DataFrame, malicious: pd.DataFrame, tolerance: pd.Timedelta = MATCH_TOLERANCE
) -> tuple[int, set[str], pd.Timestamp | None]:
    """Which hits of one hunt are about bookmarked malicious events.

    ``malicious`` is :func:`tagged_bookmarks` rows (``uid``, ``time``, ``snapshot``).  A hit
    matches a bookmark when one of its :data:`HIT_UID_COLUMNS` equals the bookmark's uid, or
    when the bookmark's time lies in the hit's span widened by ``tolerance`` and the hit shares
    an entity value with the bookmarked event.  Returns ``(matching hits, uids of the
    bookmarks hit, first match)``: the earliest time a matching hit could have been seen, the
    later of the hit's start and its earliest matched malicious event (a hit whose span starts
    with the owner's own activity does not fire about the attack before the attack begins).
    """
    marks = [(str(u), _ts(t), _bookmark_entities(s)) for u, t, s in zip(malicious["uid"], malicious["time"], malicious["snapshot"])]
    when = {u: t for u, t, _ in marks}
    n, hit_uids, first = 0, set(), None
    for row in hits.to_dict("records"):
        start, end = _hit_span(row)
        found = {str(row[c]) for c in HIT_UID_COLUMNS if c in row and isinstance(row[c], str)} & when.keys()
        if start is not None:
            values = _hit_values(row)
            found |= {u for u, t, ents in marks
                      if t is not None and start - tolerance <= t <= end + tolerance and ents & values}
        if not found:
            continue
        n += 1
        hit_uids |= found
        times = [when[u] for u in found if when[u] is not None]
        candidates = [t for t in (start, min(times) if times else None) if t is not None]
        fired = max(candidates) if candidates else None
        if fired is not None and (first is None or fired < first):
            first = fired
    return n, hit_uids, first


def hunts_that_would_have_fired(
    lake: Lake,
    case: Case,
    start: TimeLike,
    end: TimeLike,
    *,
    metrics: Mapping[str, Any] | None = None,
    malicious_tag: str = MALICIOUS,
    tolerance: pd.Timedelta = MATCH_TOLERANCE,
) -> pd.DataFrame:
    """Run every packaged hunt over ``[start, end)`` and say which would have caught the attack.

    A hunt *hit a malicious event* when one of its hits matches a bookmark tagged
    ``malicious_tag`` (see :func:`match_hits`).  Its lead is detection − its first match
    (detection from ``metrics``, default :func:`incident_metrics` of the case): positive
    means the hunt would have fired that long before the incident was detected.  For a hit that groups events (counts over a span) the start is when its
    evidence begins; its threshold may be met later, so the lead is an upper bound.

    Returns one row per hunt: those that fired before detection first (longest lead first),
    then the other hunts with malicious hits, then the rest, hunts that did not run last:
    ``name, title, stage, severity, hits`` (Int64, ``<NA>`` when it did not run), ``error``,
    ``malicious_hits`` (hits about bookmarked malicious events), ``events_hit`` (distinct
    malicious bookmarks hit), ``first_match`` (UTC), ``lead`` (Timedelta) and
    ``fired_before_detection`` (bool).  ``attrs``: ``detection`` and ``window``.
    """
    from slake_forensics.analysis import hunts

    metrics = incident_metrics(case, malicious_tag=malicious_tag) if metrics is None else metrics
    detection = metrics["detection"]
    bm = tagged_bookmarks(case)
    tag = malicious_tag.strip().lower()
    malicious = bm[np.array([tag in t for t in bm["tagset"]], dtype=bool)]
    summary = hunts.run_all(lake, None, start, end)
    hits_by_hunt = summary.attrs.get("hits", {})
    rows = []
    for rec in summary.to_dict("records"):
        n, uids, first = (match_hits(hits_by_hunt[rec["name"]], malicious, tolerance)
                          if rec["name"] in hits_by_hunt else (0, set(), None))
        lead = _minus(detection, first)
        rows.append({
            "name": rec["name"], "title": rec["title"], "stage": rec["stage"], "severity": rec["severity"],
            "hits": rec["hits"], "error": rec["error"], "malicious_hits": n, "events_hit": len(uids),
            "first_match": first, "lead": lead, "fired_before_detection": bool(lead is not None and lead > pd.Timedelta(0)),
        })
    out = pd.DataFrame(rows, columns=["name", "title", "stage", "severity", "hits", "error", "malicious_hits",
                                      "events_hit", "first_match", "lead", "fired_before_detection"])
    out["hits"] = out["hits"].astype("Int64")
    out["first_match"] = pd.to_datetime(out["first_match"], utc=True)
    out["lead"] = pd.to_timedelta(out["lead"])
    ran = out["hits"].notna().to_numpy(dtype=bool)
    out = out.assign(_ran=ran).sort_values(["fired_before_detection", "lead", "malicious_hits", "_ran", "name"],
                                           ascending=[False, False, False, False, True], na_position="last",
                                           kind="stable")
    out = out.drop(columns="_ran").reset_index(drop=True)
    out.attrs = {"detection": detection, "window": summary.attrs.get("window")}
    return out


# ---- the report -----------------------------------------------------------------------------


def missing_logs(readiness: pd.DataFrame, playbooks: Iterable[str] | None = None) -> dict[str, str]:
    """The logs that were missing or incomplete, from :func:`slake_forensics.workflows.readiness.playbook_readiness`.

    Keeps rows of ``playbooks`` (default: all) whose status is not ``present``.  Returns
    ``{"<source> (<playbook>, <role>)": "<status>: <why>; accounts missing …"}`` for
    :func:`render_report`'s ``missing_logs``; empty when every needed source delivered."""
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

    From ``metrics`` (:func:`incident_metrics`): detection slower than ``slow_detection`` or
    containment slower than ``slow_containment``, attacker activity that succeeded after
    containment; from ``hunts`` (:func:`hunts_that_would_have_fired`): hunts to schedule as
    detections because they fired before detection; from ``missing`` (:func:`missing_logs`):
    sources to turn on; from ``scope`` (an incident's scope): long-lived keys and created
    identities to review.  Returns a list of one-line items."""
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


def bookmark_timeline(case: Case) -> pd.DataFrame:
    """The bookmarked events as a normalized timeline (from their row snapshots), sorted by time;
    untimed bookmarks are left out."""
    bm = tagged_bookmarks(case)
    bm = bm[bm["time"].notna()]
    if bm.empty:
        return merge_timeline()
    rows = [{**s, "time": t, "source": src, "uid": u, "summary": summ}
            for s, t, src, u, summ in zip(bm["snapshot"], bm["time"], bm["source"], bm["uid"], bm["summary"])]
    frame = pd.DataFrame(rows)
    frame["time"] = pd.Series(pa.array(bm["time"].array), dtype=TIME, index=frame.index)  # Arrow-typed, as timelines are
    return merge_timeline(as_timeline(frame))


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

    ``metrics`` comes from :func:`incident_metrics`; ``timeline_df`` is the timeline to draw
    (default: the bookmarked events, :func:`bookmark_timeline`); ``hunts`` is a
    :func:`hunts_that_would_have_fired` result; ``missing_logs`` a list of lines or a
    ``{source: why it mattered}`` mapping; ``actions`` a list of action items.  Sections:
    summary (with the case's notes), timeline, metrics, what was detected by what, hunts that
    would have fired earlier, missing logs, action items.  The HTML embeds the timeline picture
    as a base64 PNG; every value from the case is HTML-escaped in both files.  Files go to
    ``out_dir`` (default ``<case>/reports``), replacing earlier versions, with the picture
    also as ``lessons_learned_timeline.png`` for the Markdown to show.  Returns
    ``{"markdown": path, "html": path}`` plus ``"png": path`` when there was a timeline to draw.
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
