"""slake-forensics: incident response over Amazon Security Lake (OCSF) in pandas.

``import slake_forensics as sf`` then ``lake = sf.Lake.sample()`` (or ``.local``, ``.s3``,
``.athena``, ``.from_config``); see the README for a tour.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .case import Case
from .catalog import SOURCES
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
from .lake import Lake
from .timewindow import NaiveTimeWarning
from .validate import validate_lake

__all__ = [
    "SOURCES", "Lake", "validate_lake", "NaiveTimeWarning", "SlakeError", "NotALakeError", "UnknownSourceError",
    "UnknownColumnError", "BadWindowError", "NoPartitionsError", "AwsConfigError", "QueryError", "SampleDataError",
    "Case",
]
