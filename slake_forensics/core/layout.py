"""Security Lake's S3 key layout and partition pruning by path.

A native source-version-2 object lives at
``aws/<SOURCE_NAME>/2.0/region=<region>/accountId=<12 digits>/eventDay=<YYYYMMDD>/<32 hex>.<codec>.parquet``.
The same layout is used below a local folder and below an S3 bucket, so the functions
here work on plain key strings and serve both.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from slake_forensics.core.catalog import SOURCE_VERSION, SOURCES, Source
from slake_forensics.core.timewindow import Window

KEY_RE = re.compile(
    r"(?:^|/)aws/(?P<source_name>[A-Z0-9_]+)/(?P<version>\d\.\d)/region=(?P<region>[a-z0-9-]+)"
    r"/accountId=(?P<account>[^/]+)/eventDay=(?P<day>\d{8})/(?P<file>[^/]+\.parquet)$"
)
_BY_SOURCE_NAME = {s.source_name: s for s in SOURCES.values()}


@dataclass(frozen=True)
class Partition:
    """The partition values a data file's key carries."""

    source: Source
    region: str
    account: str
    day: str  # YYYYMMDD


def partition_dir(source: Source, region: str, account: str, day: str) -> str:
    """Key prefix of one partition (no trailing slash)."""
    return f"{source.prefix}region={region}/accountId={account}/eventDay={day}"


def parse_key(key: str) -> Partition | None:
    """Return the :class:`Partition` of a data-file key, or ``None`` if the key is not one.

    Only native source-version-2 keys of the eight known sources count.
    """
    m = KEY_RE.search(key.replace("\\", "/"))
    if not m or m["version"] != SOURCE_VERSION or m["source_name"] not in _BY_SOURCE_NAME:
        return None
    return Partition(_BY_SOURCE_NAME[m["source_name"]], m["region"], m["account"], m["day"])


def select(
    keys: Iterable[str] | Mapping[str, Partition | None],
    source: Source,
    window: Window | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
) -> list[str]:
    """Keys of ``source`` whose partition lies in the window, accounts and regions (sorted).

    Pruning is by path only: files are never opened here.  ``None`` means no filter.  ``keys``
    may map each key to its already parsed :class:`Partition` (saves parsing every key again).
    """
    days = set(window.days()) if window is not None else None
    accts = set(map(str, accounts)) if accounts is not None else None
    regs = set(regions) if regions is not None else None
    out = []
    parsed = keys.items() if isinstance(keys, Mapping) else ((k, parse_key(k)) for k in keys)
    for key, p in parsed:
        if p is None or p.source != source:
            continue
        if days is not None and p.day not in days:
            continue
        if accts is not None and p.account not in accts:
            continue
        if regs is not None and p.region not in regs:
            continue
        out.append(key)
    return sorted(out)
