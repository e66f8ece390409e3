"""The bytes a case writes: JSON-safe values, the log's canonical JSON, UTC times and SHA-256 digests."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa


def _utc_iso(ts: pd.Timestamp | dt.datetime) -> str:
    """UTC ISO-8601 with microseconds and ``Z`` (naive values are taken as UTC)."""
    ts = pd.Timestamp(ts)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now() -> str:
    """The current UTC time as :func:`_utc_iso` text."""
    return _utc_iso(pd.Timestamp.now(tz="UTC"))


def jsonable(value: Any) -> Any:
    """A value as plain JSON data, the way the case log and evidence manifests store it.

    Parameters
    ----------
    value : object
        Any value: a scalar, a pandas/NumPy/Arrow scalar or array, a mapping, a sequence, a Series.

    Returns
    -------
    Any
        ``None``, ``bool``, ``int``, ``float``, ``str``, ``list`` or ``dict`` (keys as text), nested.
        Times become UTC ISO-8601 strings with microseconds and ``Z`` (naive times are taken as
        UTC), dates ISO dates, durations ISO durations; missing values (``None``, NaN, ``pd.NA``,
        ``pd.NaT``) and infinities ``None``; NumPy and Arrow scalars and arrays Python values and
        lists; maps (lists of pairs) lists of ``[key, value]``; a Series a dict by index;
        ``Decimal`` its text; bytes base64 text; anything else its ``str``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> jsonable({"when": pd.Timestamp("2026-05-24T08:00:00+02:00"), "count": np.int64(3),
    ...           "score": float("nan"), "raw": b"PK", "ports": np.array([22, 443])})
    {'when': '2026-05-24T06:00:00.000000Z', 'count': 3, 'score': None, 'raw': 'UEs=', 'ports': [22, 443]}
    >>> jsonable(pd.Series({"ip": "203.0.113.7", "seen": pd.NaT}))
    {'ip': '203.0.113.7', 'seen': None}
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp | dt.datetime):
        return _utc_iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, pd.Timedelta | dt.timedelta):
        return pd.Timedelta(value).isoformat()
    if isinstance(value, np.datetime64 | np.timedelta64):
        return jsonable(pd.Timestamp(value) if isinstance(value, np.datetime64) else pd.Timedelta(value))
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, pa.Scalar):
        return jsonable(value.as_py())
    if isinstance(value, Mapping | pd.Series):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray | pa.Array):
        items = value.to_pylist() if isinstance(value, pa.Array) else list(value)
        return [jsonable(v) for v in items]
    return str(value)


def _lone_surrogate(value: Any, where: str) -> str | None:
    """Where (``where`` extended by keys and indexes) the first text holding a lone surrogate lies in
    plain JSON data ``value``, or ``None``: such text (``"\\ud800"``) cannot be encoded as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where
        return None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and _lone_surrogate(key, where) is not None:
            return f"{where} (a key)"
        if (found := _lone_surrogate(item, f"{where}[{key!r}]")) is not None:
            return found
    return None


_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def _escape_surrogates(value: Any) -> Any:
    """``value`` (plain JSON data) with every lone surrogate in its text written as ``\\udXXX`` (printable, UTF-8 safe)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_escape_surrogates(k): _escape_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape_surrogates(v) for v in value]
    return value


def _dumps(obj: Any) -> bytes:
    """The log's canonical JSON: compact, key-sorted, ASCII, no NaN."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode("ascii")


def _pretty(obj: Any) -> bytes:
    """JSON for a file people read (``case.json``, evidence manifests): indented, key-sorted, one final newline."""
    return json.dumps(obj, indent=1, sort_keys=True).encode() + b"\n"


def _sha256(data: bytes) -> str:
    """SHA-256 hex digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> tuple[str, int]:
    """``(sha256 hex, size in bytes)`` of a file, read in 1 MiB blocks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size
