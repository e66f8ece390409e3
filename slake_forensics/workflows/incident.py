"""Detection and analysis in one import, as the notebooks use it (``from slake_forensics import incident``).

Triage lives in :mod:`slake_forensics.workflows.triage` (:func:`findings`, :func:`plot_findings`,
:func:`choose_finding`, :func:`finding_picker`), the investigation of one finding in
:mod:`slake_forensics.workflows.investigation` (:func:`investigate`, :class:`Incident`,
:func:`recovery_check`, :func:`correlations`, :func:`case_folder`); this module only re-exports them.
"""
from __future__ import annotations

from slake_forensics.workflows.investigation import (
    IOC_TYPES, KINDS, PLAYBOOKS, SCOPE_COLUMNS, Incident, case_folder, continue_case, correlations, focus_scope,
    investigate, recovery_check,
)
from slake_forensics.workflows.triage import (
    SEVERITY_NAMES, THREAT_PRODUCTS, TRIAGE_COLUMNS, InvestigationError, choose_finding, finding_picker, findings,
    plot_findings, readable,
)

__all__ = [
    "findings", "plot_findings", "choose_finding", "finding_picker", "InvestigationError", "THREAT_PRODUCTS",
    "SEVERITY_NAMES", "TRIAGE_COLUMNS", "Incident", "investigate", "recovery_check", "correlations", "case_folder",
    "KINDS", "PLAYBOOKS", "IOC_TYPES", "SCOPE_COLUMNS", "focus_scope", "continue_case", "readable",
]
