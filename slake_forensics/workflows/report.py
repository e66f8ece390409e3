"""The post-incident review in one import, as the notebooks use it (``from slake_forensics import report``).

The figures (:func:`incident_metrics`, :func:`hunts_that_would_have_fired`, :func:`tagged_bookmarks`,
:func:`bookmark_timeline`, :func:`match_hits`) live in :mod:`slake_forensics.workflows.metrics`, with
the tag conventions; their text and the report (:func:`format_duration`, :func:`metrics_frame`,
:func:`missing_logs`, :func:`action_items`, :func:`timeline_figure`, :func:`render_report`) in
:mod:`slake_forensics.workflows.rendering`; this module only re-exports them.
"""
from __future__ import annotations

from slake_forensics.workflows.metrics import (
    CONTAINMENT, DETECTION, ENTITY_KEYS, HIT_UID_COLUMNS, MALICIOUS, MATCH_TOLERANCE, bookmark_timeline,
    hunts_that_would_have_fired, incident_metrics, match_hits, tagged_bookmarks,
)
from slake_forensics.workflows.rendering import (
    LABEL_GID, REPORT_NAME, action_items, format_duration, metrics_frame, missing_logs, render_report, timeline_figure,
)

__all__ = [
    "MALICIOUS", "DETECTION", "CONTAINMENT", "MATCH_TOLERANCE", "ENTITY_KEYS", "HIT_UID_COLUMNS", "REPORT_NAME", "LABEL_GID",
    "tagged_bookmarks", "incident_metrics", "bookmark_timeline", "match_hits", "hunts_that_would_have_fired",
    "format_duration", "metrics_frame", "missing_logs", "action_items", "render_report", "timeline_figure",
]
