"""Post-incident activity (NIST SP 800-61): the incident's metrics, from the case's tagged bookmarks.

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
:func:`incident_metrics` (times, durations and counts as a dict), :func:`tagged_bookmarks` (the
bookmarks with their tags and row snapshots parsed), :func:`bookmark_timeline` (the bookmarked
events as a timeline), :func:`hunts_that_would_have_fired` (which packaged hunts hit the
bookmarked malicious events, and how long before detection) and :func:`match_hits` (the rule it
uses).  Their text, the review's lists and the report are in
:mod:`slake_forensics.workflows.rendering`.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from slake_forensics.analysis.normalize import TIME, as_timeline, is_failure
from slake_forensics.analysis.timeline import FINDING_SOURCES, timeline as merge_timeline
from slake_forensics.core.timewindow import TimeLike

if TYPE_CHECKING:
    from slake_forensics.case import Case
    from slake_forensics.lake import Lake

MALICIOUS, DETECTION, CONTAINMENT = "malicious", "detection", "containment"
MATCH_TOLERANCE = pd.Timedelta(minutes=5)

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
    """The case's live bookmarks with their tags and row snapshots parsed, sorted by event time.

    Parameters
    ----------
    case
        The case.

    Returns
    -------
    pandas.DataFrame
        ``case.bookmarks`` (``seq, logged_at, analyst, time, source, uid, note, tags, row``) plus
        ``tagset`` (set of lower-cased, stripped tags), ``snapshot`` (the row snapshot as a dict),
        ``summary`` (the snapshot's ``summary``, else the note) and ``finding`` (bool: a Security
        Hub event or a ``… Finding`` class); untimed bookmarks last.

    Examples
    --------
    >>> import tempfile
    >>> import slake_forensics as sf
    >>> from slake_forensics.workflows.metrics import tagged_bookmarks
    >>> folder = tempfile.TemporaryDirectory()  # removed with the object
    >>> case = sf.Case.open(f"{folder.name}/case", analyst="doc")
    >>> _ = case.bookmark("f-1", "sh_findings", tags=["Detection "], time="2026-03-04T03:30Z")
    >>> _ = case.bookmark("ev-1", "cloud_trail_mgmt", tags=["malicious", "recon"], time="2026-03-04T01:00Z",
    ...                   row={"src_ip": "203.0.113.7", "summary": "svc ListBuckets"})
    >>> bm = tagged_bookmarks(case)
    >>> [(u, sorted(tags), finding) for u, tags, finding in zip(bm["uid"], bm["tagset"], bm["finding"])]
    [('ev-1', ['malicious', 'recon'], False), ('f-1', ['detection'], True)]
    >>> bm["summary"].iloc[0]
    'svc ListBuckets'
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

    Parameters
    ----------
    case
        The case.
    malicious_tag, detection_tag, containment_tag
        The tags that mark the attacker's events, the detecting finding and containment actions
        (compared lower-cased and stripped).

    Returns
    -------
    dict
        Times are UTC :class:`pandas.Timestamp`, durations :class:`pandas.Timedelta`; either is
        None when the bookmarks do not determine it.

        ``first_malicious`` / ``last_malicious``
            earliest / latest event tagged ``malicious_tag``.
        ``detection``, ``detection_uid``, ``detection_source``, ``detection_basis``
            the earliest event tagged ``detection_tag``, else the earliest bookmarked finding;
            basis ``"tag"``, ``"finding"`` or None.
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
            containment − first malicious (how long the attacker had before being contained);
            the report (:func:`~slake_forensics.workflows.rendering.metrics_frame`) prints it as
            *dwell time*, and ``dwell_time`` above as *time to detect*.
        ``bookmarks``, ``malicious_events``, ``malicious_after_containment``, ``succeeded_after_containment``
            counts of live bookmarks, malicious ones, malicious ones later than containment
            (attacker attempts that outlived containment), and of those the ones not shown to have
            failed (their status is not a failure: containment may not have held for them).
        ``bookmarks_by_source``, ``malicious_by_source``, ``bookmarks_by_tag``, ``iocs_by_type``
            ``{name: count}``, largest first.
        ``tags``
            the three tag names used.

    Examples
    --------
    >>> import tempfile
    >>> import slake_forensics as sf
    >>> from slake_forensics.workflows.metrics import incident_metrics
    >>> lake = sf.Lake.sample()
    >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
    >>> inc = sf.investigate(lake, tri[tri["type"].str.startswith("Exfiltration:S3")].iloc[0])
    >>> folder = tempfile.TemporaryDirectory()  # removed with the object
    >>> case = sf.Case.open(f"{folder.name}/case", analyst="doc")
    >>> _ = inc.bookmark(case)
    >>> m = incident_metrics(case)
    >>> str(m["dwell_time"]), str(m["time_to_contain"]), m["detection_basis"]
    ('0 days 00:33:22.986000', '0 days 10:01:09.554000', 'tag')
    >>> m["malicious_by_source"]
    {'cloud_trail_mgmt': 22, 's3_data': 4}
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


def bookmark_timeline(case: Case) -> pd.DataFrame:
    """The bookmarked events as a normalized timeline, from their row snapshots.

    Parameters
    ----------
    case
        The case.

    Returns
    -------
    pandas.DataFrame
        Timeline columns (``time, source, class_name, activity, actor, src_ip, dst_ip, target,
        status, severity, summary, uid, account, region, ref``), sorted by time; untimed
        bookmarks are left out.

    Examples
    --------
    >>> import tempfile
    >>> import slake_forensics as sf
    >>> from slake_forensics.workflows.metrics import bookmark_timeline
    >>> folder = tempfile.TemporaryDirectory()  # removed with the object
    >>> case = sf.Case.open(f"{folder.name}/case", analyst="doc")
    >>> _ = case.bookmark("ct-1", "cloud_trail_mgmt", tags=["containment"], time="2026-03-04T06:00Z")
    >>> _ = case.bookmark("ev-1", "cloud_trail_mgmt", tags=["malicious"], time="2026-03-04T01:00Z",
    ...                   row={"src_ip": "203.0.113.7", "summary": "svc ListBuckets"})
    >>> bookmark_timeline(case)[["uid", "src_ip"]].to_dict("records")
    [{'uid': 'ev-1', 'src_ip': '203.0.113.7'}, {'uid': 'ct-1', 'src_ip': None}]
    """
    bm = tagged_bookmarks(case)
    bm = bm[bm["time"].notna()]
    if bm.empty:
        return merge_timeline()
    rows = [{**s, "time": t, "source": src, "uid": u, "summary": summ}
            for s, t, src, u, summ in zip(bm["snapshot"], bm["time"], bm["source"], bm["uid"], bm["summary"])]
    frame = pd.DataFrame(rows)
    frame["time"] = pd.Series(pa.array(bm["time"].array), dtype=TIME, index=frame.index)  # Arrow-typed, as timelines are
    return merge_timeline(as_timeline(frame))


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

    A hit matches a bookmark when one of its :data:`HIT_UID_COLUMNS` equals the bookmark's uid,
    or when the bookmark's time lies in the hit's span (``time_dt``, or ``first_time_dt`` to
    ``last_time_dt``) widened by ``tolerance`` and the hit shares an entity value
    (:data:`ENTITY_KEYS`) with the bookmarked event.

    Parameters
    ----------
    hits
        One hunt's hits.
    malicious
        :func:`tagged_bookmarks` rows (``uid``, ``time``, ``snapshot``) of the malicious events.
    tolerance
        How far outside a hit's span a bookmark may lie.

    Returns
    -------
    tuple
        ``(matching hits, uids of the bookmarks hit, first match)``: the first match is the
        earliest time a matching hit could have been seen, the later of the hit's start and its
        earliest matched malicious event (a hit whose span starts with the owner's own activity
        does not fire about the attack before the attack begins); None without a match.

    Examples
    --------
    >>> import tempfile
    >>> import pandas as pd
    >>> import slake_forensics as sf
    >>> from slake_forensics.workflows.metrics import match_hits, tagged_bookmarks
    >>> folder = tempfile.TemporaryDirectory()  # removed with the object
    >>> case = sf.Case.open(f"{folder.name}/case", analyst="doc")
    >>> _ = case.bookmark("ev-1", "cloud_trail_mgmt", tags=["malicious"], time="2026-03-04T01:00Z",
    ...                   row={"src_ip": "203.0.113.7"})
    >>> hits = pd.DataFrame({"time_dt": [pd.Timestamp("2026-03-04T01:02Z")], "src_endpoint.ip": ["203.0.113.7"]})
    >>> n, uids, first = match_hits(hits, tagged_bookmarks(case))
    >>> n, uids, first.isoformat()
    (1, {'ev-1'}, '2026-03-04T01:02:00+00:00')
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
        times = [t for u in found if (t := when[u]) is not None]
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
    progress: bool = False,
) -> pd.DataFrame:
    """Run every packaged hunt over ``[start, end)`` and say which would have caught the attack.

    A hunt *hit a malicious event* when one of its hits matches a bookmark tagged
    ``malicious_tag`` and not the containment tag (see :func:`match_hits`): a responder's
    containment action is never credited as a hit on the attacker's activity.  Its lead is detection − its first match:
    positive means the hunt would have fired that long before the incident was detected.  For a
    hit that groups events (counts over a span) the start is when its evidence begins; its
    threshold may be met later, so the lead is an upper bound.

    Parameters
    ----------
    lake
        The lake to run the hunts on.
    case
        The case with the tagged bookmarks.
    start, end
        The window the hunts run over.
    metrics
        :func:`incident_metrics` of the case (default: computed), for the detection time.
    malicious_tag
        The tag of the attacker's events.
    tolerance
        As :func:`match_hits`.
    progress
        Show a progress bar over the hunts.

    Returns
    -------
    pandas.DataFrame
        One row per hunt: those that fired before detection first (longest lead first), then the
        other hunts with malicious hits, then the rest, hunts that did not run last: ``name,
        title, stage, severity, hits`` (Int64, ``<NA>`` when it did not run), ``error``,
        ``malicious_hits`` (hits about bookmarked malicious events), ``events_hit`` (distinct
        malicious bookmarks hit), ``first_match`` (UTC), ``lead`` (Timedelta) and
        ``fired_before_detection`` (bool).  ``attrs``: ``detection`` and ``window``.

    Examples
    --------
    >>> import tempfile
    >>> import slake_forensics as sf
    >>> from slake_forensics.workflows.metrics import hunts_that_would_have_fired
    >>> lake = sf.Lake.sample()
    >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
    >>> inc = sf.investigate(lake, tri[tri["type"].str.startswith("Exfiltration:S3")].iloc[0])
    >>> folder = tempfile.TemporaryDirectory()  # removed with the object
    >>> case = sf.Case.open(f"{folder.name}/case", analyst="doc")
    >>> _ = inc.bookmark(case)
    >>> fired = hunts_that_would_have_fired(lake, case, "2026-05-21T00:00Z", "2026-05-22T00:00Z")
    >>> fired[["name", "malicious_hits", "fired_before_detection"]].head(3)
                              name  malicious_hits  fired_before_detection
    0     long_lived_key_inventory               3                    True
    1  new_source_ip_for_principal               2                    True
    2             s3_bulk_download               2                    True
    """
    from slake_forensics.analysis import hunts

    metrics = incident_metrics(case, malicious_tag=malicious_tag) if metrics is None else metrics
    detection = metrics["detection"]
    bm = tagged_bookmarks(case)
    tag = malicious_tag.strip().lower()
    responders = metrics["tags"]["containment"]  # the responders' own actions are never the attacker's events
    malicious = bm[np.array([tag in t and responders not in t for t in bm["tagset"]], dtype=bool)]
    summary = hunts.run_all(lake, None, start, end, progress=progress)
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
