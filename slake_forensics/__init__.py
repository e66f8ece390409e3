"""slake-forensics: incident response over Amazon Security Lake (OCSF) in pandas.

``import slake_forensics as sf`` then ``lake = sf.Lake.sample()`` (or ``.local``, ``.s3``,
``.athena``, ``.from_config``); see the README for a tour.  The analyst's functions are
exported here (``sf.entities(df)``, ``sf.correlate(a, b, on="ip")``, ``sf.timeline(*frames)``,
``sf.findings(lake, start, end)``, ``sf.investigate(lake, finding)`` …); their modules keep
the details.
"""
from __future__ import annotations

from slake_forensics.core.version import __version__ as __version__

from slake_forensics.analysis import hunts, sigma
from slake_forensics.workflows import containment, incident, readiness, report
from slake_forensics.analysis.baseline import new_for_principal, rare_apis, volume_spikes
from slake_forensics.case import Case
from slake_forensics.core.catalog import SOURCES
from slake_forensics.analysis.correlate import correlate, sessions
from slake_forensics.analysis.entities import entities
from slake_forensics.core.errors import (
    AwsConfigError,
    BadWindowError,
    NoPartitionsError,
    NotALakeError,
    QueryError,
    SampleDataError,
    SlakeError,
    UnknownColumnError,
    UnknownSourceError,
)
from slake_forensics.analysis.graph import plot_graph
from slake_forensics.workflows.investigation import Incident, investigate, recovery_check
from slake_forensics.workflows.triage import findings, plot_findings
from slake_forensics.lake import Lake
from slake_forensics.analysis.timeline import explore, plot_timeline, timeline
from slake_forensics.analysis.interactive import interactive_timeline
from slake_forensics.core.timewindow import NaiveTimeWarning
from slake_forensics.workflows.validate import validate_lake

__all__ = [
    "SOURCES", "Lake", "validate_lake", "NaiveTimeWarning", "SlakeError", "NotALakeError", "UnknownSourceError",
    "UnknownColumnError", "BadWindowError", "NoPartitionsError", "AwsConfigError", "QueryError", "SampleDataError",
    "Case", "hunts", "sigma", "containment", "incident", "readiness", "report", "entities", "correlate", "sessions", "timeline", "plot_timeline", "explore", "interactive_timeline", "plot_graph",
    "new_for_principal", "rare_apis", "volume_spikes", "findings", "plot_findings", "investigate", "Incident",
    "recovery_check",
]
