"""What a mapper returns: one OCSF row bound for one source partition, or the reason a record was rejected."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Mapped:
    """One raw record mapped to OCSF 1.1.0 (Security Lake source version 2).

    ``source`` is a catalog source name (``cloud_trail_mgmt``, ``s3_data``, ``lambda_execution``, ``vpc_flow``,
    ``route53``, ``sh_findings``, ``waf``, ``eks_audit``) or ``ext/<name>`` for a custom source; ``account`` and
    ``region`` are the partition's ``accountId`` and ``region``; ``row`` is the OCSF row: for catalog sources a flat
    ``{dotted.path: value}`` dict of the v2 Glue schema's leaves (timestamps as int epoch milliseconds, lists as
    Python lists, lists of structs as lists of nested dicts, maps as ``dict[str, str]``; ``evidences[]`` as OCSF
    1.1.0 and the v2 table have them, fields directly under each evidence); for ``ext/`` sources the
    nested OCSF record itself. ``account`` and ``region`` must be plain folder names (letters, digits, ``_-.``;
    for catalog sources a 12-digit account and a region folder name such as ``us-east-1``; for ``ext/`` sources an
    account ``external`` or ``external_<id>``), else the writer rejects the record.
    """

    source: str
    account: str
    region: str
    row: dict[str, Any]


class RejectRecord(ValueError):
    """Raised by a reader or mapper for a record it cannot map; the message is the reason."""


def unforeseen(kind: str, error: Exception) -> RejectRecord:
    """The reject of a record on which the ``kind`` mapper raised ``error`` (a hostile value it did not foresee).

    Parameters
    ----------
    kind : str
        The importer kind whose mapper failed.
    error : Exception
        What it raised.

    Returns
    -------
    RejectRecord
        Its message names the kind and the error, so the record's reject says why.

    Examples
    --------
    >>> str(unforeseen("waf", AttributeError("'str' object has no attribute 'get'")))
    "the waf mapper cannot map this record (AttributeError: 'str' object has no attribute 'get')"
    """
    return RejectRecord(f"the {kind} mapper cannot map this record ({type(error).__name__}: {str(error)[:200]})")
