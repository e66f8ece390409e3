"""slake-forensics: incident response over Amazon Security Lake (OCSF) in pandas.

``import slake_forensics as sf`` then ``lake = sf.Lake.sample()`` (or ``.local``, ``.s3``,
``.athena``, ``.from_config``); see the README for a tour.  The analyst's functions are
exported here (``sf.entities(df)``, ``sf.correlate(a, b, on="ip")``, ``sf.timeline(*frames)``,
``sf.findings(lake, start, end)``, ``sf.investigate(lake, finding)`` …); their modules keep
the details.
"""
from __future__ import annotations

__version__ = "0.1.0"

from . import hunts
from .baseline import new_for_principal, rare_apis, volume_spikes
from .case import Case
from .catalog import SOURCES
from .correlate import correlate, sessions
from .entities import entities
from .errors import (
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
from .graph import plot_graph
from .incident import Incident, findings, investigate, plot_findings, recovery_check
from .lake import Lake
from .timeline import explore, plot_timeline, timeline
from .timewindow import NaiveTimeWarning
from .validate import validate_lake

__all__ = [
    "SOURCES", "Lake", "validate_lake", "NaiveTimeWarning", "SlakeError", "NotALakeError", "UnknownSourceError",
    "UnknownColumnError", "BadWindowError", "NoPartitionsError", "AwsConfigError", "QueryError", "SampleDataError",
    "Case", "hunts", "entities", "correlate", "sessions", "timeline", "plot_timeline", "explore", "plot_graph",
    "new_for_principal", "rare_apis", "volume_spikes", "findings", "plot_findings", "investigate", "Incident",
    "recovery_check",
]
