"""Registry of importer kinds: CLI name -> module implementing the mapper contract (imported lazily)."""
from __future__ import annotations

import importlib
from types import ModuleType

KINDS: dict[str, str] = {
    k: f"slake_forensics.importers.{k}"
    for k in ("cloudtrail", "vpcflow", "route53", "guardduty", "securityhub", "waf", "eks", "ocsf")
}


def load_kind(kind: str) -> ModuleType:
    """Import and return the module of ``kind``.

    Parameters
    ----------
    kind : str
        A key of :data:`KINDS`.

    Returns
    -------
    ModuleType
        Module exposing ``KIND``, ``SUMMARY``, ``READER`` and ``map_record``.

    Examples
    --------
    >>> load_kind("nope")  # doctest: +SKIP
    ValueError: unknown kind 'nope'; known kinds: ...
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}")
    try:
        return importlib.import_module(KINDS[kind])
    except ModuleNotFoundError as e:
        if e.name == KINDS[kind]:
            raise ValueError(f"the {kind!r} importer ({KINDS[kind]}) is not installed in this build") from e
        raise
