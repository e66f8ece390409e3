"""Indicators of compromise: their types and the rules that validate and normalize their values."""
from __future__ import annotations

import ipaddress
import re

from slake_forensics.case.errors import CaseInputError

IOC_TYPES = ("ip", "domain", "access_key", "principal", "bucket", "instance", "user_agent", "hash", "other")

_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]")
_ACCESS_KEY = re.compile(r"A(?:KIA|SIA)[A-Z0-9]{16}")
_UNIQUE_ID = re.compile(r"A(?:IDA|ROA|IPA|NPA|NVA|SCA|GPA)[A-Z0-9]{4,124}(?::[\w+=,.@/-]+)?")
_ARN = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{12}:\S+")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_INSTANCE = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})")
_HASH_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_IOC_HINTS = {
    "ip": "an IPv4/IPv6 address or CIDR network such as 203.0.113.7 or 2001:db8::/32",
    "domain": "a host name such as evil.example.com",
    "access_key": "an access key id: AKIA or ASIA and 16 upper-case letters or digits",
    "principal": "an IAM/STS ARN, a unique id such as AIDA…/AROA…[:session], or a 12-digit account",
    "bucket": "an S3 bucket name (3-63 of a-z 0-9 . -)",
    "instance": "an EC2 instance id such as i-0123456789abcdef0",
    "hash": "an MD5, SHA-1, SHA-256 or SHA-512 hex digest",
}


def normalize_ioc(type: str, value: str) -> str:
    """The canonical form of an indicator of compromise, as :meth:`Case.add_ioc` records it.

    Parameters
    ----------
    type : str
        One of :data:`IOC_TYPES`: ``ip``, ``domain``, ``access_key``, ``principal``, ``bucket``,
        ``instance``, ``user_agent``, ``hash``, ``other``.
    value : str
        The indicator as found; surrounding white space is dropped (except for ``user_agent``
        and ``other``, which are kept exactly).

    Returns
    -------
    str
        ``ip``: an IPv4/IPv6 address or CIDR network, compressed (a network's host bits cleared);
        ``domain``: lower case, no trailing dot; ``access_key``: ``AKIA``/``ASIA`` + 16
        characters; ``principal``: an IAM/STS ARN, a unique id (``AIDA…``, ``AROA…[:session]``)
        or a 12-digit account; ``bucket``: an S3 bucket name (``s3://`` and ``arn:aws:s3:::``
        prefixes and a trailing ``/`` dropped); ``instance``: an EC2 instance id; ``hash``: an
        MD5/SHA-1/SHA-256/SHA-512 hex digest, lower case; ``user_agent`` and ``other``: the
        non-blank text as given.

    Raises
    ------
    CaseInputError
        For an unknown type, a blank value, or a value that is not valid for its type (the
        message says what was expected).

    Examples
    --------
    >>> normalize_ioc("ip", " 2001:DB8:0::1 ")
    '2001:db8::1'
    >>> normalize_ioc("ip", "10.1.2.3/8")
    '10.0.0.0/8'
    >>> normalize_ioc("domain", "Evil.Example.COM.")
    'evil.example.com'
    >>> normalize_ioc("bucket", "s3://acme-payroll-exports/")
    'acme-payroll-exports'
    >>> normalize_ioc("access_key", "AKIA123")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    slake_forensics.case.errors.CaseInputError: 'AKIA123' is not a valid access_key IOC: ...
    """
    if type not in IOC_TYPES:
        raise CaseInputError(f"Unknown IOC type {type!r}; use one of {', '.join(IOC_TYPES)}.")
    if not isinstance(value, str) or not value.strip():
        raise CaseInputError(f"An IOC value must be non-blank text, not {value!r}.")
    v = value if type in ("user_agent", "other") else value.strip()
    ok = True
    if type == "ip":
        try:
            v = str(ipaddress.ip_address(v)) if "/" not in v else str(ipaddress.ip_network(v, strict=False))
        except ValueError:
            ok = False
    elif type == "domain":
        v = v.lower().rstrip(".")
        ok = bool(_DOMAIN.fullmatch(v))
    elif type == "access_key":
        ok = bool(_ACCESS_KEY.fullmatch(v))
    elif type == "principal":
        ok = bool(_ARN.fullmatch(v) or _UNIQUE_ID.fullmatch(v) or re.fullmatch(r"\d{12}", v))
    elif type == "bucket":
        v = v.removeprefix("s3://").removeprefix("arn:aws:s3:::").rstrip("/")
        ok = bool(_BUCKET.fullmatch(v)) and ".." not in v
    elif type == "instance":
        ok = bool(_INSTANCE.fullmatch(v))
    elif type == "hash":
        v = v.lower()
        ok = len(v) in _HASH_LENGTHS and bool(re.fullmatch(r"[0-9a-f]+", v))
    if not ok:
        raise CaseInputError(f"{value!r} is not a valid {type} IOC: expected {_IOC_HINTS[type]}. "
                             "Use type 'other' to record it as free text.")
    return v
