"""Sigma rules on Security Lake CloudTrail (OCSF 1.1.0): compile to Athena SQL with bound values, run on any engine.

Work in progress: see :mod:`.mapping` for the field mapping (a pySigma ``ProcessingPipeline``)
and :mod:`.backend` for the Athena SQL backend.
"""
from __future__ import annotations

from .mapping import UnmappedFieldError, cloudtrail_pipeline, resolve_field

__all__ = ["UnmappedFieldError", "cloudtrail_pipeline", "resolve_field"]
