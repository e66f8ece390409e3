"""The case file: an append-only, hash-chained record of an investigation, and its evidence.

A case is a folder::

    <case>/
      case.json          header: format, case_id, title, created (UTC), created_by, tool_version
      log.jsonl          append-only event log, one JSON object per line (see below)
      log.head.json      seq and SHA-256 of the last log line (detects whole lines cut off the end)
      evidence/          <name>.parquet exported frames + <name>.manifest.json beside each
      reports/           free for reports; not covered by verify()
      .lock              lock file serializing writers (empty)

Every log line is ``{"seq", "time", "analyst", "kind", "payload", "prev"}`` serialized as
compact, key-sorted, ASCII JSON; ``seq`` counts from 0, ``time`` is UTC ISO-8601 with ``Z``,
``prev`` is the SHA-256 (hex) of the previous line's bytes without its newline (64 zeros for
line 0).  Kinds: ``created`` (payload: the header and the SHA-256 of ``case.json``),
``bookmark``, ``note``, ``ioc``, ``query``, ``export`` (payload: the evidence manifest),
``retract`` (payload: the retracted ``seq`` and a reason) and ``repair`` (payload: the bytes of
an incomplete last line that :meth:`Case.repair` removed).  Nothing is ever rewritten: removing
a bookmark, note, IOC, query or export appends a ``retract`` entry.

Writers take an exclusive lock on ``.lock``, read the log's last line, write each new line with
one ``write`` on an ``O_APPEND`` descriptor, ``fsync`` and then replace ``log.head.json``, so two
:class:`Case` objects (or processes) on one folder extend one valid chain.  A log whose last
line is incomplete (a crash mid-write, a cut copy) is reported, and writes are refused until
:meth:`Case.repair` records the incomplete bytes in a ``repair`` entry.

Modules, each importing only those listed before it: ``errors`` (the exceptions),
``encoding`` (:func:`jsonable`, canonical JSON, UTC times, SHA-256), ``log`` (the log file:
locking, atomic writes, tail and head, append, create, repair), ``iocs``
(:func:`normalize_ioc`), ``evidence`` (Parquet export and read-back with provenance),
``views`` (the DataFrame views and the timeline), ``verify`` (:class:`VerifyReport`) and
``case`` (:class:`Case`, which composes them).  Import the names from this package.
"""
from __future__ import annotations

from slake_forensics.case.case import Case
from slake_forensics.case.encoding import jsonable
from slake_forensics.case.errors import (
    CaseError,
    CaseInputError,
    CaseIntegrityWarning,
    CorruptCaseError,
    EvidenceExistsError,
    NotACaseError,
)
from slake_forensics.case.evidence import EVIDENCE_FORMAT
from slake_forensics.case.iocs import IOC_TYPES, normalize_ioc
from slake_forensics.case.log import FORMAT, FORMAT_VERSION, GENESIS, KINDS, RETRACTABLE
from slake_forensics.case.verify import VerifyReport

__all__ = [
    "Case", "VerifyReport", "normalize_ioc", "jsonable",
    "CaseError", "NotACaseError", "CaseInputError", "EvidenceExistsError", "CorruptCaseError", "CaseIntegrityWarning",
    "IOC_TYPES", "KINDS", "RETRACTABLE", "GENESIS", "FORMAT", "FORMAT_VERSION", "EVIDENCE_FORMAT",
]
