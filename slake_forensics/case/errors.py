"""The case file's exceptions and its integrity warning."""
from __future__ import annotations

from slake_forensics.core.errors import SlakeError


class CaseError(SlakeError):
    """Base class of the case file's errors."""


class NotACaseError(CaseError, FileNotFoundError):
    """A folder is not a case (it holds other files but no ``case.json``), or is a file."""


class CaseInputError(CaseError, ValueError):
    """An argument is invalid: an evidence name, IOC type or value, a seq to retract."""


class EvidenceExistsError(CaseError, FileExistsError):
    """An evidence name is taken; evidence is never overwritten."""


class CorruptCaseError(CaseError, RuntimeError):
    """The case's header or log is damaged, so appending would extend a broken record."""


class CaseIntegrityWarning(UserWarning):
    """Opening or reading a case found damage; :meth:`Case.verify` gives the full report."""
