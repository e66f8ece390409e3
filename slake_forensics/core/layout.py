"""Security Lake's S3 key layout and partition pruning by path.

A native data file lives at
``aws/<SOURCE_NAME>/<version>/region=<region>/accountId=<12 digits>/eventDay=<YYYYMMDD>/<name>.parquet``
(``<version>`` is ``2.0`` or ``1.0``); a custom source's at
``ext/<name>/[<version>/]region=<region>/accountId=<12 digits | external | external_<id>>/eventDay=<YYYYMMDD>/<name>.parquet``.
The same layout is used below a local folder and below an S3 bucket, so the functions
here work on plain key strings and serve both.  :func:`classify` says why a key is not a
data file of a known source, so that no file of a lake is passed over without a word.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from slake_forensics.core.catalog import SOURCE_VERSION, SOURCE_VERSIONS, SOURCES, V1_SOURCES, Source, versioned
from slake_forensics.core.timewindow import Window

KEY_RE = re.compile(
    r"(?:^|/)(?P<root>aws|ext)/(?P<source_name>[^/]+)/(?:(?P<version>[^/=]+)/)?region=(?P<region>[^/]*)"
    r"/accountId=(?P<account>[^/]*)/eventDay=(?P<day>[^/]*)/(?P<file>[^/]+)$"
)
ACCOUNT_RE = re.compile(r"^\d{12}$")
EXTERNAL_ACCOUNT_RE = re.compile(r"^(?:\d{12}|external(?:_[A-Za-z0-9-]+)?)$")
#: A ``region=`` folder: an AWS region's shape (lower-case words and a number) without insisting on a known one,
#: since anonymised lakes rename regions (``apiso-northsouth-3r``) and AWS adds regions.
REGION_FOLDER_RE = re.compile(r"^[a-z]{2,}(?:-[a-z0-9]+)+$")


@dataclass(frozen=True)
class Partition:
    """The partition values a data file's key carries; ``source`` is the versioned (or custom) source."""

    source: Source
    region: str
    account: str
    day: str  # YYYYMMDD

    @property
    def version(self) -> str:
        """The source version from the key's prefix (``""`` for a custom source without one)."""
        return self.source.version


def partition_dir(source: Source, region: str, account: str, day: str) -> str:
    """Key prefix of one partition (no trailing slash)."""
    return f"{source.prefix}region={region}/accountId={account}/eventDay={day}"


def classify(key: str, custom: Mapping[tuple[str, str], Source] | None = None) -> Partition | str:
    """The :class:`Partition` of a data-file key, or the reason it is not one (a sentence).

    ``custom`` maps ``(name, version)`` of the custom sources found so far to their source; a
    custom key of a source not in it gives the reason ``"custom source"`` (the caller learns its
    classes from the data, see :func:`custom_key`).

    Examples
    --------
    >>> classify("aws/VPC_FLOW/1.0/region=us-east-1/accountId=123456789012/eventDay=20240301/a.gz.parquet").source.version
    '1.0'
    >>> classify("aws/VPC_FLOW/2.0/region=us-east-1/accountId=123456789012/eventDay=2026-13-45/a.parquet")
    "bad partition folder 'eventDay=2026-13-45': not a day YYYYMMDD (expected e.g. eventDay=20240301)"
    """
    key = key.replace("\\", "/")
    if not key.endswith(".parquet"):
        return "not a Parquet data file (name does not end in .parquet)"
    m = KEY_RE.search(key)
    if not m:
        return (
            "not in the partition layout aws/<SOURCE>/<version>/region=…/accountId=…/eventDay=YYYYMMDD/ "
            "(or ext/<name>/[<version>/]region=…/…)"
        )
    bad = _bad_partition(m["region"], m["account"], m["day"], m["root"] == "ext")
    if bad:
        return bad
    if m["root"] == "ext":
        src = (custom or {}).get((m["source_name"], m["version"] or ""))
        return Partition(src, m["region"], m["account"], m["day"]) if src else "custom source"
    version = m["version"] or ""
    src = versioned(m["source_name"], version)
    if src is None:
        known = {s.source_name for s in SOURCES.values()} | {s.source_name for s in V1_SOURCES.values()}
        if m["source_name"] not in known:
            return f"unknown source {m['source_name']!r} (known: {', '.join(sorted(known))})"
        if version not in SOURCE_VERSIONS:
            return f"unknown source version {version!r} of {m['source_name']} (this toolkit reads {', '.join(SOURCE_VERSIONS)})"
        return f"{m['source_name']} has no source version {version} (it is new in version 2)"
    return Partition(src, m["region"], m["account"], m["day"])


def custom_key(key: str) -> tuple[str, str] | None:
    """``(name, version)`` of a custom-source key (``ext/<name>/[<version>/]…``) with good partitions, else ``None``."""
    m = KEY_RE.search(key.replace("\\", "/"))
    if not m or m["root"] != "ext" or not key.endswith(".parquet") or _bad_partition(m["region"], m["account"], m["day"], True):
        return None
    return m["source_name"], m["version"] or ""


def _bad_partition(region: str, account: str, day: str, external: bool) -> str:
    if not REGION_FOLDER_RE.fullmatch(region):
        return f"bad partition folder 'region={region}': not an AWS region name (expected e.g. region=us-east-1)"
    if not (EXTERNAL_ACCOUNT_RE if external else ACCOUNT_RE).fullmatch(account):
        want = "12 digits, external or external_<id>" if external else "12 digits"
        return f"bad partition folder 'accountId={account}': not {want}"
    try:
        dt.datetime.strptime(day, "%Y%m%d")
        ok = len(day) == 8
    except ValueError:
        ok = False
    if not ok:
        return f"bad partition folder 'eventDay={day}': not a day YYYYMMDD (expected e.g. eventDay=20240301)"
    return ""


def parse_key(key: str) -> Partition | None:
    """Return the :class:`Partition` of a native source-version-2 key of the eight known sources, or ``None``.

    :func:`classify` also accepts version-1 keys and says why a key is not a data file.
    """
    part = classify(key)
    return part if isinstance(part, Partition) and part.version == SOURCE_VERSION else None


def _partition(key: str) -> Partition | None:
    part = classify(key)
    return part if isinstance(part, Partition) else None


def select(
    keys: Iterable[str] | Mapping[str, Partition | None],
    source: Source,
    window: Window | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    versions: Iterable[str] | None = None,
) -> list[str]:
    """Keys of ``source`` whose partition lies in the window, accounts and regions (sorted).

    Pruning is by path only: files are never opened here.  ``None`` means no filter.  ``keys``
    may map each key to its already parsed :class:`Partition` (saves parsing every key again).
    Every version of the source counts (its ``name`` is compared) unless ``versions`` names some.
    """
    days = set(window.days()) if window is not None else None
    accts = set(map(str, accounts)) if accounts is not None else None
    regs = set(regions) if regions is not None else None
    vers = set(versions) if versions is not None else None
    out = []
    parsed = keys.items() if isinstance(keys, Mapping) else ((k, _partition(k)) for k in keys)
    for key, p in parsed:
        if p is None or p.source.name != source.name:
            continue
        if vers is not None and p.version not in vers:
            continue
        if days is not None and p.day not in days:
            continue
        if accts is not None and p.account not in accts:
            continue
        if regs is not None and p.region not in regs:
            continue
        out.append(key)
    return sorted(out)
