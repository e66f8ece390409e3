"""OCSF records of any class (third-party products, other clouds, on-premises) → a custom source ``ext/<name>``.

Records are kept as given (nested, the class's own fields and types); they are checked, not remapped:

* ``class_uid`` present and an integer;
* ``time`` present as integer epoch milliseconds, or, without ``time``, ``time_dt`` as an RFC 3339 / ISO 8601
  text with a UTC offset (``time`` is then added from it);
* ``metadata.product.name`` present.

A record failing a check goes to the rejects file with the reason. The partition's account is ``cloud.account.uid``
when it is an AWS account id, ``external_<id>`` for another cloud's or system's id, else ``--account`` or ``external``
(Security Lake's custom-source layout); its region ``cloud.region`` when that is an AWS region, else ``--region``
(default ``us-east-1``), while another cloud's region stays in the row's ``cloud.region``. The
source is ``ext/<--name>``, or without ``--name`` ``ext/<product name>`` in lower case with ``_`` for other
characters. ``null`` members and objects left empty are dropped (Parquet cannot hold an empty struct).
"""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from slake_forensics.core.catalog import REGION_RE
from slake_forensics.core.layout import ACCOUNT_RE
from slake_forensics.importers.record import Mapped, RejectRecord
from slake_forensics.importers.shape import ShapeConflict, shape
from slake_forensics.importers.unmapped import flatten_values

KIND = "ocsf"
SUMMARY = "OCSF JSON / NDJSON of any class (third-party, other clouds, on-premises) → custom source ext/<--name>"
READER = "json"

#: A custom source name: Security Lake allows word characters, ``-``, ``.``; here it is also a folder name.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: The AWS region a custom source's rows go to when the record names none (or another cloud's region).
DEFAULT_REGION = "us-east-1"
#: ``time`` must fall in 1973..3000 as epoch milliseconds (smaller: seconds; larger: micro- or nanoseconds).
MIN_MS, MAX_MS = 100_000_000_000, 32_503_680_000_000


def check_options(options: Mapping[str, str]) -> None:
    """Refuse a ``--name`` / ``--account`` / ``--region`` that cannot name a folder, before any file is read.

    Parameters
    ----------
    options : Mapping[str, str]
        Importer options.

    Raises
    ------
    ValueError
        On a bad value (the command line exits with status 2).

    Examples
    --------
    >>> check_options({"name": "fw"})
    >>> check_options({"name": "../x"})
    Traceback (most recent call last):
    ...
    ValueError: --name '../x' is not a custom source name: use letters, digits, '_', '-', '.' (at most 64, starting with a letter or digit)
    """
    name = options.get("name")
    if name is not None and not NAME_RE.fullmatch(name):
        raise ValueError(f"--name {name!r} is not a custom source name: use letters, digits, '_', '-', '.' "
                         "(at most 64, starting with a letter or digit)")
    account, region = options.get("account"), options.get("region")
    if account is not None and not re.search(r"[A-Za-z0-9]", account):
        raise ValueError(f"--account {account!r} names no account: give an AWS account id or the system's own id "
                         "(written as accountId=external_<id>)")
    if region is not None and not REGION_RE.fullmatch(region):
        raise ValueError(f"--region {region!r} is not an AWS region name, e.g. us-east-1 (the region the custom source "
                         "is registered in; another cloud's region stays in cloud.region)")


@functools.lru_cache(maxsize=256)
def source_name(product: str) -> str:
    """The default custom source name of a product: lower case, runs of other characters as ``_``.

    Examples
    --------
    >>> source_name("Palo Alto Networks PAN-OS")
    'palo_alto_networks_pan-os'
    """
    slug = re.sub(r"[^a-z0-9_.-]+", "_", product.lower()).strip("_.-")[:64]
    return slug or "unnamed"


def _prune(value: Any, where: str = "") -> Any:
    """``value`` without ``null`` object members, objects left empty dropped (``None`` for an empty one), checked
    that Parquet can hold it (:func:`~slake_forensics.importers.shape.shape` of every list, 64-bit integers)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(v, (dict, list)) or (isinstance(v, int) and not -(1 << 63) <= v < 1 << 63):
                v = _prune(v, f"{where}.{k}" if where else k)
            if v is not None:
                out[k] = v
        return out or None
    if isinstance(value, list):
        items = [_prune(v, f"{where}[]") for v in value]
        shape(items, where)
        return items
    if isinstance(value, int) and not isinstance(value, bool):
        shape(value, where)  # raises: too large for 64 bits
    return value


def _time_ms(raw: Mapping[str, Any]) -> int:
    t = raw.get("time")
    if t is not None:
        if isinstance(t, float) and t.is_integer():
            t = int(t)
        if isinstance(t, bool) or not isinstance(t, int):
            raise RejectRecord(f"time {t!r} is not integer epoch milliseconds")
        if not MIN_MS <= t <= MAX_MS:
            unit = "seconds" if t < MIN_MS else "micro- or nanoseconds"
            raise RejectRecord(f"time {t} is not epoch milliseconds of a date between 1973 and 3000 "
                               f"(it looks like epoch {unit}; OCSF time is epoch milliseconds)")
        return t
    text = raw.get("time_dt")
    if text is None:
        raise RejectRecord("no time: an OCSF record needs time (epoch milliseconds) or time_dt (RFC 3339 text)")
    if not isinstance(text, str):
        raise RejectRecord(f"time_dt {text!r} is not an RFC 3339 text such as 2024-05-01T12:00:00Z")
    try:
        when = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise RejectRecord(f"time_dt {text!r} is not an RFC 3339 text such as 2024-05-01T12:00:00Z") from None
    if when.tzinfo is None:
        raise RejectRecord(f"time_dt {text!r} has no UTC offset; give it as in 2024-05-01T12:00:00Z or +02:00")
    return round(when.timestamp() * 1000)


def _member(raw: Mapping[str, Any], *path: str) -> Mapping[str, Any]:
    """The object at ``path`` (``{}`` when a step is missing or not an object)."""
    cur: Any = raw
    for key in path:
        cur = cur.get(key) if isinstance(cur, Mapping) else None
    return cur if isinstance(cur, Mapping) else {}


def _account(value: Any, option: str | None) -> str:
    """The ``accountId=`` folder: an AWS account id as is, another cloud's or system's id as ``external_<id>``."""
    if value is None or value == "":
        return "external" if option is None else _account(option, None)
    text = str(value)
    if isinstance(value, (dict, list)):
        raise RejectRecord(f"cloud.account.uid {text[:80]!r} is not an id")
    if ACCOUNT_RE.fullmatch(text):
        return text
    ident = re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-")[:100]
    if not ident:
        raise RejectRecord(f"cloud.account.uid {text[:80]!r} has no letters or digits to name a partition folder")
    return f"external_{ident}"


def _region(value: Any, option: str | None) -> str:
    """The ``region=`` folder: the record's region when it is an AWS region, else ``--region`` (default us-east-1).

    Security Lake keeps a custom source in the AWS region where it was registered; another cloud's region
    (``westeurope``) stays in the row's ``cloud.region``.
    """
    text = "" if value is None else str(value)
    if REGION_RE.fullmatch(text):
        return text
    return option or DEFAULT_REGION


def map_record(raw: dict[str, Any], options: Mapping[str, str]) -> Mapped:
    """Check one OCSF record and route it to ``ext/<name>`` in its account and region.

    Parameters
    ----------
    raw : dict
        An OCSF event or finding of any class, as JSON.
    options : Mapping[str, str]
        ``name`` (custom source; default from ``metadata.product.name``), ``account`` / ``region`` (for records
        without ``cloud.account.uid`` / ``cloud.region``; default ``external``).

    Returns
    -------
    Mapped
        Source ``ext/<name>``; the row is the record itself (``null`` members dropped, ``time`` added from
        ``time_dt`` when missing).

    Raises
    ------
    RejectRecord
        When ``class_uid``, ``time`` / ``time_dt`` or ``metadata.product.name`` is missing or of the wrong type.

    Examples
    --------
    >>> m = map_record({"class_uid": 4001, "time": 1714564800000, "metadata": {"product": {"name": "FW"}},
    ...                 "src_endpoint": {"ip": "10.0.0.1"}}, {"name": "firewall"})
    >>> (m.source, m.account, m.region, m.row["src_endpoint"])
    ('ext/firewall', 'external', 'us-east-1', {'ip': '10.0.0.1'})
    """
    check_options(options)
    class_uid = raw.get("class_uid")
    if class_uid is None:
        raise RejectRecord("no class_uid: every OCSF record names its class (e.g. 4001 Network Activity)")
    if isinstance(class_uid, bool) or not isinstance(class_uid, int) or class_uid < 0:
        raise RejectRecord(f"class_uid {class_uid!r} is not a non-negative integer")
    t = _time_ms(raw)
    name = _member(raw, "metadata", "product").get("name")
    if not isinstance(name, str) or not name.strip():
        raise RejectRecord("no metadata.product.name: say which product logged the record")
    account = _account(_member(raw, "cloud", "account").get("uid"), options.get("account"))
    region = _region(_member(raw, "cloud").get("region"), options.get("region"))
    try:
        row = _prune(raw)
    except ShapeConflict as e:
        raise RejectRecord(f"record cannot be stored in Parquet as given: {e}") from None
    row["time"] = t
    if row.get("unmapped") is not None:  # flattened to dotted keys, as Security Lake writes unmapped
        flat: dict[str, list[str]] = {}
        # an object as OCSF has it; any other value (a hostile producer's) is kept under the key "unmapped"
        flatten_values("" if isinstance(row["unmapped"], dict) else "unmapped", row["unmapped"], flat)
        row["unmapped"] = {k: ",".join(v) for k, v in flat.items()}
    return Mapped(f"ext/{options.get('name') or source_name(name)}", account, region, row)
