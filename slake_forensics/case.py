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
"""
from __future__ import annotations

import base64
import contextlib
import datetime as dt
import getpass
import hashlib
import ipaddress
import json
import math
import os
import re
import tempfile
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from slake_forensics.core.version import __version__
from slake_forensics.core.errors import SlakeError
from slake_forensics.core.timewindow import TimeLike, to_utc

FORMAT = "slake-forensics-case"
FORMAT_VERSION = 1
EVIDENCE_FORMAT = "slake-forensics-evidence"
IOC_TYPES = ("ip", "domain", "access_key", "principal", "bucket", "instance", "user_agent", "hash", "other")
RETRACTABLE = ("bookmark", "note", "ioc", "query", "export")
KINDS = ("created", *RETRACTABLE, "retract", "repair")
GENESIS = "0" * 64
_PARQUET_KEY = b"slake_forensics"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_HEAD = "log.head.json"


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


# ---- JSON-safe values ----------------------------------------------------------------------


def _utc_iso(ts: pd.Timestamp | dt.datetime) -> str:
    """UTC ISO-8601 with microseconds and ``Z`` (naive values are taken as UTC)."""
    ts = pd.Timestamp(ts)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now() -> str:
    """The current UTC time as :func:`_utc_iso` text."""
    return _utc_iso(pd.Timestamp.now(tz="UTC"))


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: times become UTC ISO strings, missing values ``None``,
    NumPy/Arrow scalars and arrays Python values and lists, maps (lists of pairs) lists of
    ``[key, value]``, bytes base64, and anything else its ``str``."""
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
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, pd.Series):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray | pa.Array):
        items = value.to_pylist() if isinstance(value, pa.Array) else list(value)
        return [jsonable(v) for v in items]
    return str(value)


def _dumps(obj: Any) -> bytes:
    """The log's canonical JSON: compact, key-sorted, ASCII, no NaN."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode("ascii")


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


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling, fsync and rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk, where the platform allows it."""
    if os.name == "posix":
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if os.name == "nt":
            import msvcrt

            while True:
                try:
                    msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                    break
                except OSError:  # LK_LOCK gives up after 10 s; keep waiting
                    continue
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock on every platform


# ---- reading the log -------------------------------------------------------------------------


@dataclass
class _Log:
    """A parsed log: entries (``None`` where a line is not a JSON object), their line hashes,
    the bytes of an incomplete last line, and the file size."""

    entries: list[dict[str, Any] | None]
    hashes: list[str]
    torn: bytes
    size: int


def _read_log(path: Path) -> _Log:
    """Parse the whole log file at ``path``."""
    data = path.read_bytes()
    *lines, torn = data.split(b"\n")
    entries: list[dict[str, Any] | None] = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        entries.append(entry if isinstance(entry, dict) else None)
    return _Log(entries, [_sha256(line) for line in lines], torn, len(data))


def _tail(fd: int) -> tuple[bytes | None, bytes]:
    """``(last complete line or None, bytes after the last newline)`` of an open file."""
    size = os.fstat(fd).st_size
    buf, pos = b"", size
    while pos > 0:
        step = min(1 << 16, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + buf
        if buf.count(b"\n") >= 2 or (pos == 0 and b"\n" in buf):
            break
    if b"\n" not in buf:
        return None, buf
    body, torn = buf.rsplit(b"\n", 1)
    return body.rsplit(b"\n", 1)[-1], torn


# ---- validation ------------------------------------------------------------------------------

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
    """The canonical form of an IOC value of ``type``; raises :class:`CaseInputError` if invalid.

    ``ip``: an IPv4/IPv6 address or CIDR network, compressed; ``domain``: lower case, no
    trailing dot; ``access_key``: ``AKIA``/``ASIA`` + 16 characters; ``principal``: an IAM/STS
    ARN, a unique id (``AIDA…``, ``AROA…[:session]``) or a 12-digit account; ``bucket``: an
    S3 bucket name (``s3://`` and ``arn:aws:s3:::`` prefixes are dropped); ``instance``: an EC2
    instance id; ``hash``: MD5/SHA-1/SHA-256/SHA-512 hex, lower case; ``user_agent`` and
    ``other``: any non-blank text, kept exactly.
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


def _check_name(name: str) -> str:
    """An evidence name: 1-100 of ``A-Z a-z 0-9 . _ -``, starting with a letter or digit."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise CaseInputError(
            f"Bad evidence name {name!r}: use 1-100 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit (no '/', '\\' or '..' path parts), e.g. 'ct_leaked_key_2026-03-02'."
        )
    if name.lower().endswith((".parquet", ".json")):
        raise CaseInputError(f"Give the evidence name without an extension: {name.rsplit('.', 1)[0]!r}.")
    return name


# ---- verify report -------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyReport:
    """The result of :meth:`Case.verify`.

    ``checks`` has one row per check: ``check`` (``header``, ``log``, ``head``,
    ``evidence``, ``manifest``, ``unexpected``), ``target`` (a path relative to the case),
    ``status`` (``ok``, ``warn`` or ``FAIL``) and ``detail``.  ``ok`` is true when nothing failed;
    ``head`` is the SHA-256 of the last complete log line (record it outside the case to detect
    a later rewrite of the whole log).
    """

    case: Path
    checks: pd.DataFrame
    head: str | None

    @property
    def ok(self) -> bool:
        return not (self.checks["status"] == "FAIL").any()

    @property
    def problems(self) -> list[str]:
        """``"<target>: <detail>"`` of every failed check."""
        bad = self.checks[self.checks["status"] == "FAIL"]
        return [f"{t}: {d}" for t, d in zip(bad["target"], bad["detail"])]

    def __str__(self) -> str:
        counts = self.checks["status"].value_counts()
        verdict = "OK" if self.ok else f"{counts.get('FAIL', 0)} PROBLEM(S)"
        lines = [f"Case {self.case}: {verdict} ({len(self.checks)} checks; log head {self.head})"]
        for row in self.checks.itertuples():
            if row.status != "ok":
                lines.append(f"  {row.status:4} {row.check:10} {row.target}: {row.detail}")
        return "\n".join(lines)

    __repr__ = __str__


# ---- the case ------------------------------------------------------------------------------


class Case:
    """An investigation's case folder; open one with :meth:`Case.open`.

    Writes (:meth:`bookmark`, :meth:`note`, :meth:`add_ioc`, :meth:`save_query`,
    :meth:`export`, :meth:`retract`) append to the log and return the new entry's ``seq``.
    Views (:attr:`bookmarks`, :attr:`notes`, :attr:`iocs`, :attr:`queries`, :attr:`exports`,
    :meth:`timeline`) re-read the log, so they include other writers' entries.
    """

    def __init__(self, path: Path, header: dict[str, Any], analyst: str) -> None:
        """Use :meth:`Case.open`."""
        self.path = path
        self.header = header
        self.analyst = analyst

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        analyst: str | None = None,
        *,
        title: str | None = None,
        case_id: str | None = None,
    ) -> Case:
        """Open the case in ``path``, creating it when the folder is missing or empty.

        ``analyst`` signs every entry this object writes (default ``$SLAKE_ANALYST``, else the
        OS user).  ``title`` and ``case_id`` are used when creating (defaults: the folder name);
        for an existing case they must match its header if given.  Raises
        :class:`NotACaseError` for a file or a non-empty folder without ``case.json``, and
        :class:`CorruptCaseError` for an unreadable ``case.json``.  Warns
        (:class:`CaseIntegrityWarning`) when the log ends with an incomplete line.
        """
        root = Path(path).expanduser().absolute()
        who = analyst or os.environ.get("SLAKE_ANALYST") or _os_user()
        if root.exists() and not root.is_dir():
            raise NotACaseError(f"{root} is a file, not a case folder; give a folder path.")
        root.mkdir(parents=True, exist_ok=True)
        if not (root / "case.json").exists():
            _refuse_non_case(root)  # before the lock file, which would litter a folder that is not ours
            with _locked(root / ".lock"):
                if not (root / "case.json").exists():
                    _refuse_non_case(root)
                    cls._create(root, who, title or root.name, case_id or root.name)
        header = _read_header(root)
        for key, given in (("title", title), ("case_id", case_id)):
            if given is not None and given != header.get(key):
                raise CaseInputError(f"{root} is case {header.get('case_id')!r} titled {header.get('title')!r}; "
                                     f"its {key} is fixed at creation ({given!r} given). Omit {key} to open it.")
        case = cls(root, header, who)
        log = root / "log.jsonl"
        if not log.exists():
            warnings.warn(f"{root} has no log.jsonl; run case.verify().", CaseIntegrityWarning, stacklevel=2)
        else:
            fd = os.open(log, os.O_RDONLY)
            try:
                torn = _tail(fd)[1]
            finally:
                os.close(fd)
            if torn:
                warnings.warn(
                    f"{log} ends with an incomplete line ({len(torn)} bytes: {torn[:60]!r}…), from an interrupted "
                    "write or a truncated copy. Reading works; writing is refused until case.repair() records it. "
                    "Run case.verify() for details.",
                    CaseIntegrityWarning,
                    stacklevel=2,
                )
        return case

    @staticmethod
    def _create(root: Path, analyst: str, title: str, case_id: str) -> None:
        """Lay out a new case in the empty folder ``root`` (the caller holds the lock)."""
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "case_id": case_id,
            "uid": str(uuid.uuid4()),
            "title": title,
            "created": _now(),
            "created_by": analyst,
            "tool_version": __version__,
        }
        for sub in ("evidence", "reports"):
            (root / sub).mkdir()
        data = json.dumps(header, indent=1, sort_keys=True).encode() + b"\n"
        entry = {"seq": 0, "time": header["created"], "analyst": analyst, "kind": "created",
                 "payload": {"header": header, "case_json_sha256": _sha256(data)}, "prev": GENESIS}
        line = _dumps(entry)
        fd = os.open(root / "log.jsonl", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            _write_all(fd, line + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        _write_head(root, 0, _sha256(line), len(line) + 1)
        _atomic_write(root / "case.json", data)  # last: a folder with case.json is a complete case

    @property
    def case_id(self) -> str:
        return self.header["case_id"]

    @property
    def title(self) -> str:
        return self.header["title"]

    @property
    def created(self) -> pd.Timestamp:
        """When the case was created (UTC)."""
        return pd.Timestamp(self.header["created"])

    def __repr__(self) -> str:
        return f"Case({str(self.path)!r}, case_id={self.case_id!r}, title={self.title!r}, analyst={self.analyst!r})"

    # -- appending -------------------------------------------------------------------------

    def _append(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[int]:
        """Append ``(kind, payload)`` entries under the case lock; returns their seqs (see :meth:`_append_locked`)."""
        with _locked(self.path / ".lock"):
            return self._append_locked(items)

    def _append_locked(self, items: Sequence[tuple[str, dict[str, Any]]], check_head: bool = True) -> list[int]:
        """Append ``(kind, payload)`` entries; the caller holds the case lock.  Returns their seqs.

        Raises :class:`CorruptCaseError` when the log is missing, ends with an incomplete line,
        its last line is unreadable, or (unless ``check_head`` is false, for :meth:`repair`) it
        ends before, or differs from, the last line ``log.head.json`` records.
        """
        log = self.path / "log.jsonl"
        if not log.exists():
            raise CorruptCaseError(f"{log} is missing, so nothing can be appended; run case.verify().")
        fd = os.open(log, os.O_RDWR | os.O_APPEND)
        try:
            last, torn = _tail(fd)
            if torn:
                raise CorruptCaseError(
                    f"{log} ends with an incomplete line ({len(torn)} bytes), so this entry was not written. "
                    "Run case.verify(), then case.repair() to record the incomplete bytes and continue."
                )
            try:
                seq = int(json.loads(last)["seq"]) if last is not None else -1
            except (ValueError, KeyError, TypeError):
                raise CorruptCaseError(f"The last line of {log} is not a log entry; run case.verify().") from None
            prev = _sha256(last) if last is not None else GENESIS
            head = _read_head(self.path) if check_head else None
            behind = head is not None and head.get("seq", -1) > seq
            if behind or (head is not None and head.get("seq") == seq and head.get("sha256") != prev):
                raise CorruptCaseError(
                    f"{log} ends at seq {seq} but {_HEAD} records seq {head.get('seq')}: the log was truncated "
                    "or its last line changed. Nothing was written; run case.verify()."
                )
            seqs = []
            for kind, payload in items:
                seq += 1
                entry = {"seq": seq, "time": _now(), "analyst": self.analyst, "kind": kind,
                         "payload": jsonable(payload), "prev": prev}
                line = _dumps(entry)
                _write_all(fd, line + b"\n")
                prev = _sha256(line)
                seqs.append(seq)
            os.fsync(fd)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        _write_head(self.path, seq, prev, size)
        return seqs

    def bookmark(
        self,
        event_uid: str | pd.Series | pd.DataFrame,
        source: str | None = None,
        note: str = "",
        tags: Iterable[str] | str = (),
        time: TimeLike | int | None = None,
        row: pd.Series | Mapping[str, Any] | None = None,
    ) -> int | list[int]:
        """Bookmark an event; returns its entry's seq (a list of seqs for a DataFrame).

        Either name the event (``event_uid``, ``source``, optionally its ``time`` and a ``row``
        snapshot of its fields) or pass a row (Series) or rows (DataFrame) of a timeline
        (``time, source, uid, summary…``) or of a lake load (``metadata.uid``, ``time_dt``):
        the uid, source and time come from the row and the whole row is kept as ``row``.
        ``source`` given explicitly wins over the row's.  Integer times are epoch milliseconds.
        """
        tag_list = [tags] if isinstance(tags, str) else [str(t) for t in tags]
        if isinstance(event_uid, pd.DataFrame):
            if time is not None or row is not None:
                raise CaseInputError("time and row apply to one event; bookmark DataFrame rows without them.")
            items = [self._bookmark_payload(r, source, note, tag_list, None, None, event_uid.attrs)
                     for _, r in event_uid.iterrows()]
            return self._append(items)
        return self._append([self._bookmark_payload(event_uid, source, note, tag_list, time, row, {})])[0]

    @staticmethod
    def _bookmark_payload(
        event: str | pd.Series,
        source: str | None,
        note: str,
        tags: list[str],
        time: TimeLike | int | None,
        row: pd.Series | Mapping[str, Any] | None,
        attrs: Mapping[str, Any],
    ) -> tuple[str, dict[str, Any]]:
        if isinstance(event, pd.Series):
            row = event if row is None else row
            fields = event.to_dict()
            uid = _first(fields, "uid", "metadata.uid")
            source = source or _first(fields, "source") or attrs.get("source") or event.attrs.get("source")
            if time is None:
                time = fields["time"] if _is_time(fields.get("time")) else _first(fields, "time_dt", "time")
        else:
            uid = event
        if uid is None or (isinstance(uid, str) and not uid.strip()):
            raise CaseInputError("The event has no uid: pass event_uid, or a row with a 'uid' or 'metadata.uid' value.")
        if not source:
            raise CaseInputError(f"Say which source event {uid!r} is from (source='cloud_trail_mgmt', …).")
        when = None
        if not _missing(time):
            when = (pd.Timestamp(int(time), unit="ms", tz="UTC") if isinstance(time, int | np.integer)
                    else to_utc(time, what="bookmark time"))
        return "bookmark", {"uid": str(uid), "source": str(source), "time": when, "note": note, "tags": tags,
                            "row": None if row is None else dict(row)}

    def note(self, text: str) -> int:
        """Append a free-text note; returns its seq."""
        if not isinstance(text, str) or not text.strip():
            raise CaseInputError("A note needs some text.")
        return self._append([("note", {"text": text})])[0]

    def add_ioc(self, type: str, value: str, note: str = "") -> int:
        """Record an indicator of compromise (validated and normalized by :func:`normalize_ioc`); returns its seq."""
        return self._append([("ioc", {"type": type, "value": normalize_ioc(type, value), "original": value,
                                      "note": note})])[0]

    def save_query(self, name: str, sql: str, params: Sequence[Any] | None = None) -> int:
        """Record a query worth re-running (its name, SQL text and ``?`` parameters); returns its seq."""
        if not isinstance(name, str) or not name.strip() or not isinstance(sql, str) or not sql.strip():
            raise CaseInputError("save_query needs a non-blank name and SQL text.")
        return self._append([("query", {"name": name, "sql": sql, "params": list(params or [])})])[0]

    def retract(self, seq: int, reason: str) -> int:
        """Withdraw entry ``seq`` (a bookmark, note, IOC, query or export) by appending a
        ``retract`` entry; the views then leave it out.  Evidence files stay and stay verified.
        Returns the retraction's seq."""
        if not isinstance(reason, str) or not reason.strip():
            raise CaseInputError("Say why the entry is retracted (reason='…').")
        with _locked(self.path / ".lock"):
            entries = self._entries()
            kinds = {e.get("seq"): e.get("kind") for e in entries}
            if kinds.get(seq) not in RETRACTABLE:
                raise CaseInputError(f"seq {seq!r} is not a bookmark, note, IOC, query or export of this case.")
            if any(e.get("kind") == "retract" and e["payload"].get("seq") == seq for e in entries):
                raise CaseInputError(f"seq {seq} is already retracted.")
            return self._append_locked([("retract", {"seq": seq, "kind": kinds[seq], "reason": reason})])[0]

    def repair(self) -> int | None:
        """Record and remove an incomplete last log line so writing can continue.

        The incomplete bytes (base64), their size and SHA-256 go into a ``repair`` entry with
        ``head_before``, the ``log.head.json`` record found (when it names a later seq than the
        log kept, whole entries had been cut off, and the entry says so).  This is the only
        operation that shortens ``log.jsonl``, and only by the bytes after its last newline.
        Returns the repair entry's seq, or ``None`` when the log was complete.
        """
        log = self.path / "log.jsonl"
        with _locked(self.path / ".lock"):
            head = _read_head(self.path)
            fd = os.open(log, os.O_RDWR)
            try:
                torn = _tail(fd)[1]
                if not torn:
                    return None
                os.ftruncate(fd, os.fstat(fd).st_size - len(torn))
                os.fsync(fd)
            finally:
                os.close(fd)
            payload = {"removed_base64": base64.b64encode(torn).decode("ascii"), "removed_bytes": len(torn),
                       "removed_sha256": _sha256(torn), "head_before": head}
            return self._append_locked([("repair", payload)], check_head=False)[0]

    # -- evidence --------------------------------------------------------------------------

    def export(self, df: pd.DataFrame, name: str, note: str = "") -> Path:
        """Write ``df`` as evidence ``evidence/<name>.parquet`` with a manifest; returns the Parquet path.

        Arrow dtypes (lists, maps, structs, tz-aware times) and other pandas dtypes are kept
        (:meth:`read_evidence` restores them).  The manifest (``evidence/<name>.manifest.json``
        and the ``export`` log entry) holds the file's SHA-256 and size, rows, columns and dtypes,
        the query (sql, translated_sql, params, engine) and lake location from ``df.attrs``,
        Athena query ids and bytes scanned, the load window and the span of ``time_dt``/``time``,
        tool versions, analyst and ``exported_at`` (UTC).  Raises :class:`EvidenceExistsError`
        if the name is taken (suggesting a free one) and :class:`CaseInputError` for a bad name.
        """
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"export takes a DataFrame, not {type(df).__name__}.")
        _check_name(name)
        folder = self.path / "evidence"
        with _locked(self.path / ".lock"):
            taken = {p.name.removesuffix(".parquet").removesuffix(".manifest.json").lower() for p in folder.iterdir()}
            taken |= {str(e["payload"].get("name", "")).lower()
                      for e in _read_log(self.path / "log.jsonl").entries if e and e.get("kind") == "export"}
            if name.lower() in taken:
                free = next(f"{name}-{i}" for i in range(2, 10_000) if f"{name}-{i}".lower() not in taken)
                raise EvidenceExistsError(
                    f"Evidence {name!r} already exists in {folder} and evidence is never overwritten; "
                    f"export under another name, e.g. {free!r}."
                )
            provenance = _provenance(df.attrs)
            table = _to_table(df, name, provenance)
            target = folder / f"{name}.parquet"
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
            os.close(fd)
            try:
                pq.write_table(table, tmp, compression="zstd")
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
                digest, size = _file_sha256(Path(tmp))
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            manifest = jsonable({
                "format": EVIDENCE_FORMAT,
                "format_version": FORMAT_VERSION,
                "case_id": self.case_id,
                "name": name,
                "file": f"evidence/{name}.parquet",
                "sha256": digest,
                "size_bytes": size,
                "rows": len(df),
                "columns": [{"name": str(c), "dtype": str(t)} for c, t in df.dtypes.items()],
                "note": note,
                "analyst": self.analyst,
                "exported_at": _now(),
                "event_span": _event_span(df),
                "tool_version": __version__,
                "pandas_version": pd.__version__,
                "pyarrow_version": pa.__version__,
                **provenance,
            })
            manifest_path = folder / f"{name}.manifest.json"
            _atomic_write(manifest_path, json.dumps(manifest, indent=1, sort_keys=True).encode() + b"\n")
            try:
                self._append_locked([("export", manifest)])
            except CorruptCaseError:  # not recorded, so not evidence: leave no unexplained files behind
                target.unlink()
                manifest_path.unlink()
                raise
        return target

    def read_evidence(self, name: str, check: bool = True) -> pd.DataFrame:
        """Read evidence ``name`` back with its original dtypes; ``attrs`` hold its manifest.

        With ``check`` the file's SHA-256 is compared with the manifest first and a mismatch
        raises :class:`CorruptCaseError`.
        """
        _check_name(name)
        path = self.path / "evidence" / f"{name}.parquet"
        manifest = next((e["payload"] for e in reversed(_read_log(self.path / "log.jsonl").entries)
                         if e and e.get("kind") == "export" and e["payload"].get("name") == name), None)
        if manifest is None or not path.exists():
            raise CaseInputError(f"No evidence {name!r} in {self.path}; see case.exports for the names.")
        if check and _file_sha256(path)[0] != manifest["sha256"]:
            raise CorruptCaseError(f"{path} no longer matches the SHA-256 in its manifest; run case.verify().")
        df = _from_table(pq.read_table(path))
        df.attrs = manifest
        return df

    # -- views -----------------------------------------------------------------------------

    def _live(self, kind: str) -> list[dict[str, Any]]:
        """Entries of ``kind`` not retracted, in log order (warns about unreadable lines)."""
        entries = self._entries()
        gone = {e["payload"].get("seq") for e in entries if e.get("kind") == "retract"}
        return [e for e in entries if e.get("kind") == kind and e.get("seq") not in gone]

    def _entries(self) -> list[dict[str, Any]]:
        """Readable log entries in order; warns (:class:`CaseIntegrityWarning`) about lines left out."""
        log = _read_log(self.path / "log.jsonl")
        bad = sum(e is None for e in log.entries)
        if bad or log.torn:
            warnings.warn(f"{self.path / 'log.jsonl'}: {bad} unreadable line(s)"
                          f"{' and an incomplete last line' if log.torn else ''} left out; run case.verify().",
                          CaseIntegrityWarning, stacklevel=3)
        return [e for e in log.entries if e is not None and isinstance(e.get("payload"), dict)]

    @property
    def bookmarks(self) -> pd.DataFrame:
        """Live bookmarks: ``seq, logged_at, analyst, time, source, uid, note, tags, row``
        (``time`` is the event's time, UTC; ``tags`` a list; ``row`` the snapshot as JSON text)."""
        return _frame(self._live("bookmark"), [
            ("time", pa.timestamp("us", tz="UTC"), lambda p: _ts(p.get("time"))),
            ("source", pa.string(), lambda p: p.get("source")),
            ("uid", pa.string(), lambda p: p.get("uid")),
            ("note", pa.string(), lambda p: p.get("note")),
            ("tags", pa.list_(pa.string()), lambda p: p.get("tags") or []),
            ("row", pa.string(), lambda p: None if p.get("row") is None else json.dumps(p["row"], sort_keys=True)),
        ])

    @property
    def notes(self) -> pd.DataFrame:
        """Live notes: ``seq, logged_at, analyst, text``."""
        return _frame(self._live("note"), [("text", pa.string(), lambda p: p.get("text"))])

    @property
    def iocs(self) -> pd.DataFrame:
        """Live IOCs: ``seq, logged_at, analyst, type, value, original, note`` (``value`` normalized)."""
        return _frame(self._live("ioc"), [
            ("type", pa.string(), lambda p: p.get("type")),
            ("value", pa.string(), lambda p: p.get("value")),
            ("original", pa.string(), lambda p: p.get("original")),
            ("note", pa.string(), lambda p: p.get("note")),
        ])

    @property
    def queries(self) -> pd.DataFrame:
        """Live saved queries: ``seq, logged_at, analyst, name, sql, params`` (params as JSON text)."""
        return _frame(self._live("query"), [
            ("name", pa.string(), lambda p: p.get("name")),
            ("sql", pa.string(), lambda p: p.get("sql")),
            ("params", pa.string(), lambda p: json.dumps(p.get("params"))),
        ])

    @property
    def exports(self) -> pd.DataFrame:
        """Live evidence: ``seq, logged_at, analyst, name, rows, sha256, size_bytes, sql, note``."""
        return _frame(self._live("export"), [
            ("name", pa.string(), lambda p: p.get("name")),
            ("rows", pa.int64(), lambda p: p.get("rows")),
            ("sha256", pa.string(), lambda p: p.get("sha256")),
            ("size_bytes", pa.int64(), lambda p: p.get("size_bytes")),
            ("sql", pa.string(), lambda p: p.get("sql")),
            ("note", pa.string(), lambda p: p.get("note")),
        ])

    def timeline(self) -> pd.DataFrame:
        """Every log entry in order, retracted ones flagged, shaped like an event timeline.

        Columns ``time, source, uid, summary, seq, kind, analyst, retracted, payload``: ``time``
        is when the entry was logged (UTC), ``source`` is ``"case"``, ``uid`` is
        ``<case_id>#<seq>``, ``payload`` the entry's payload as JSON text.
        """
        entries = self._entries()
        gone = {e["payload"].get("seq") for e in entries if e.get("kind") == "retract"}
        rows = [{
            "time": _ts(e.get("time")),
            "source": "case",
            "uid": f"{self.case_id}#{e.get('seq')}",
            "summary": _summary(e),
            "seq": e.get("seq"),
            "kind": e.get("kind"),
            "analyst": e.get("analyst"),
            "retracted": e.get("seq") in gone,
            "payload": json.dumps(e.get("payload"), sort_keys=True),
        } for e in entries]
        schema = pa.schema([("time", pa.timestamp("us", tz="UTC")), ("source", pa.string()), ("uid", pa.string()),
                            ("summary", pa.string()), ("seq", pa.int64()), ("kind", pa.string()),
                            ("analyst", pa.string()), ("retracted", pa.bool_()), ("payload", pa.string())])
        return pa.Table.from_pylist(rows, schema=schema).to_pandas(types_mapper=pd.ArrowDtype)

    # -- verification ----------------------------------------------------------------------

    def verify(self) -> VerifyReport:
        """Re-check the whole case: header, log hash chain, head record, every evidence file
        and manifest, and files nobody exported.  Returns a :class:`VerifyReport` (``ok``,
        ``checks`` frame, readable ``str``); it never raises for damage it finds."""
        checks: list[tuple[str, str, str, str]] = []

        def add(check: str, target: str, problem: str | None, ok_detail: str = "", status: str = "FAIL") -> None:
            checks.append((check, target, status if problem else "ok", problem or ok_detail))

        log_path = self.path / "log.jsonl"
        if not log_path.exists():
            add("log", "log.jsonl", "missing: the case's record is gone")
            log = _Log([], [], b"", 0)
        else:
            log = _read_log(log_path)
        entries = log.entries
        first = entries[0] if entries else None

        try:
            header_bytes = (self.path / "case.json").read_bytes()
            payload = first.get("payload") if first and first.get("kind") == "created" else None
            recorded = payload.get("case_json_sha256") if isinstance(payload, dict) else None
            add("header", "case.json", None if recorded == _sha256(header_bytes) else
                "changed since creation (SHA-256 differs from log entry 0)" if recorded else
                "cannot be checked: log entry 0 is not a readable 'created' entry", "unchanged since creation")
        except FileNotFoundError:
            add("header", "case.json", "missing")

        chain_ok, prev = True, GENESIS
        for i, (entry, digest) in enumerate(zip(entries, log.hashes)):
            problem = None
            if entry is None:
                problem = "not a JSON object (edited or damaged)"
            elif entry.get("seq") != i:
                problem = f"seq is {entry.get('seq')!r}, expected {i} (lines removed, inserted or reordered)"
            elif entry.get("prev") != prev:
                problem = ("hash chain broken: 'prev' does not match the SHA-256 of the line before "
                           "(that line or this one was edited)")
            elif entry.get("kind") not in KINDS or not isinstance(entry.get("payload"), dict):
                problem = f"unknown kind {entry.get('kind')!r} or payload not an object"
            if problem:
                chain_ok = False
                add("log", f"log.jsonl line {i + 1}", problem)
            prev = digest
        if log.torn:
            chain_ok = False
            add("log", f"log.jsonl line {len(entries) + 1}",
                f"incomplete last line ({len(log.torn)} bytes, no newline): truncated or interrupted write; "
                "case.repair() records it")
        if log_path.exists() and chain_ok:
            add("log", "log.jsonl", None, f"{len(entries)} entries, hash chain intact")

        last_seq, last_hash = len(entries) - 1, (log.hashes[-1] if log.hashes else None)
        head = _read_head(self.path)
        if head is None:
            add("head", _HEAD, "missing or unreadable, so a log cut at a line boundary cannot be detected")
        elif head.get("seq", -1) > last_seq:
            add("head", _HEAD, f"log is truncated: it ends at seq {last_seq} but {_HEAD} records seq {head.get('seq')}")
        elif head.get("seq") == last_seq and head.get("sha256") != last_hash:
            add("head", _HEAD, f"the last log line (seq {last_seq}) differs from the one {_HEAD} records")
        elif head.get("seq", -1) < last_seq:
            add("head", _HEAD, f"records seq {head.get('seq')} but the log goes on to seq {last_seq} "
                               "(a write interrupted before updating the head?)", status="warn")
        else:
            add("head", _HEAD, None, f"matches the last entry (seq {last_seq})")

        expected: set[str] = set()
        for entry in entries:
            if not entry or entry.get("kind") != "export":
                continue
            manifest = entry["payload"]
            name = str(manifest.get("name"))
            pq_name, mf_name = f"{name}.parquet", f"{name}.manifest.json"
            expected |= {pq_name, mf_name}
            path = self.path / "evidence" / pq_name
            if not path.exists():
                add("evidence", f"evidence/{pq_name}", "missing (deleted or moved)")
            else:
                digest, size = _file_sha256(path)
                add("evidence", f"evidence/{pq_name}",
                    None if (digest, size) == (manifest.get("sha256"), manifest.get("size_bytes"))
                    else f"modified: SHA-256 {digest[:16]}… size {size}, manifest says "
                         f"{str(manifest.get('sha256'))[:16]}… size {manifest.get('size_bytes')}",
                    f"SHA-256 and size match (seq {entry.get('seq')})")
            try:
                on_disk = json.loads((self.path / "evidence" / mf_name).read_bytes())
                add("manifest", f"evidence/{mf_name}", None if on_disk == manifest else
                    "differs from the manifest recorded in the log", "matches the log")
            except FileNotFoundError:
                add("manifest", f"evidence/{mf_name}", "missing (deleted or moved)")
            except ValueError:
                add("manifest", f"evidence/{mf_name}", "not valid JSON (edited or damaged)")
        folder = self.path / "evidence"
        for p in sorted(folder.iterdir()) if folder.is_dir() else []:
            if p.name not in expected:
                add("unexpected", f"evidence/{p.name}", "not exported through the case (added, renamed, or left by "
                                                        "an interrupted export)")
        if not folder.is_dir():
            add("evidence", "evidence/", "folder missing")
        frame = pd.DataFrame(checks, columns=["check", "target", "status", "detail"])
        return VerifyReport(self.path, frame, last_hash)


# ---- helpers -----------------------------------------------------------------------------------


def _os_user() -> str:
    """The OS login name (``uid-<n>`` where the system has none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _refuse_non_case(root: Path) -> None:
    """Raise :class:`NotACaseError` if ``root`` (which has no ``case.json``) holds anything but a lock file."""
    others = sorted(p.name for p in root.iterdir() if p.name != ".lock")
    if others:
        raise NotACaseError(
            f"{root} is not a case: it has no case.json but holds {', '.join(others[:5])}"
            f"{' …' if len(others) > 5 else ''}. Open an existing case folder, or a new or empty folder to create one."
        )


def _write_all(fd: int, data: bytes) -> None:
    """One ``write`` of ``data``; a short write raises rather than leaving a silent half line."""
    written = os.write(fd, data)
    if written != len(data):
        raise CorruptCaseError(
            f"Only {written} of {len(data)} bytes reached the log; run case.verify() and case.repair()."
        )


def _read_header(root: Path) -> dict[str, Any]:
    """The parsed ``case.json``; raises :class:`CorruptCaseError` / :class:`NotACaseError` if it is not one."""
    try:
        header = json.loads((root / "case.json").read_bytes())
    except ValueError:
        raise CorruptCaseError(f"{root / 'case.json'} is not valid JSON; the case header is damaged.") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise NotACaseError(f"{root / 'case.json'} is not a slake-forensics case header (format {FORMAT!r}).")
    if header.get("format_version", 0) > FORMAT_VERSION:
        raise CorruptCaseError(f"{root} was written by a newer slake-forensics (case format "
                               f"{header['format_version']}); upgrade to open it.")
    return header


def _read_head(root: Path) -> dict[str, Any] | None:
    """The parsed ``log.head.json``, or ``None`` when it is missing or unreadable."""
    try:
        head = json.loads((root / _HEAD).read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    return head if isinstance(head, dict) else None


def _write_head(root: Path, seq: int, sha256: str, size: int) -> None:
    """Atomically record the log's last seq, the SHA-256 of its last line and its size in bytes."""
    _atomic_write(root / _HEAD, json.dumps({"seq": seq, "sha256": sha256, "bytes": size}).encode() + b"\n")


def _first(fields: Mapping[str, Any], *names: str) -> Any:
    """The first of ``names`` present in ``fields`` with a non-missing value, else ``None``."""
    return next((fields[n] for n in names if not _missing(fields.get(n))), None)


def _missing(value: Any) -> bool:
    """Whether ``value`` is ``None``, ``pd.NA``, ``pd.NaT`` or a float NaN."""
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _is_time(value: Any) -> bool:
    """Whether a row's ``time`` holds a time (a timeline) rather than OCSF epoch milliseconds."""
    return isinstance(value, pd.Timestamp | dt.datetime | str) and value is not pd.NaT


def _ts(value: Any) -> pd.Timestamp | None:
    """A logged ISO time as a Timestamp (``None`` stays ``None``)."""
    return None if value is None else pd.Timestamp(value)


def _frame(entries: list[dict[str, Any]], fields: list[tuple[str, pa.DataType, Any]]) -> pd.DataFrame:
    """``seq, logged_at, analyst`` plus ``fields`` (name, Arrow type, payload getter) of ``entries``."""
    schema = pa.schema([("seq", pa.int64()), ("logged_at", pa.timestamp("us", tz="UTC")), ("analyst", pa.string()),
                        *[(name, typ) for name, typ, _ in fields]])
    rows = [{"seq": e["seq"], "logged_at": _ts(e["time"]), "analyst": e.get("analyst"),
             **{name: get(e["payload"]) for name, _, get in fields}} for e in entries]
    return pa.Table.from_pylist(rows, schema=schema).to_pandas(types_mapper=pd.ArrowDtype)


def _summary(entry: dict[str, Any]) -> str:
    """One line describing a log entry, for :meth:`Case.timeline`."""
    p, kind = entry.get("payload") or {}, entry.get("kind")
    if kind == "created":
        return f"case created: {p.get('header', {}).get('title')}"
    if kind == "bookmark":
        return f"bookmark {p.get('source')} {p.get('uid')}" + (f": {p['note']}" if p.get("note") else "")
    if kind == "note":
        return str(p.get("text", "")).splitlines()[0] if p.get("text") else "note"
    if kind == "ioc":
        return f"IOC {p.get('type')} {p.get('value')}" + (f": {p['note']}" if p.get("note") else "")
    if kind == "query":
        return f"query saved: {p.get('name')}"
    if kind == "export":
        return f"evidence exported: {p.get('name')} ({p.get('rows')} rows, sha256 {str(p.get('sha256'))[:12]}…)"
    if kind == "retract":
        return f"retracted seq {p.get('seq')} ({p.get('kind')}): {p.get('reason')}"
    if kind == "repair":
        head = p.get("head_before") or {}
        return (f"log repaired: {p.get('removed_bytes')} bytes of an incomplete line recorded and removed; "
                f"the head had recorded seq {head.get('seq')}")
    return str(kind)


def _window(value: Any) -> dict[str, str] | None:
    """A load window from ``attrs['window']`` (a ``(start, end)`` pair or ``"[start, end)"`` text)."""
    if isinstance(value, tuple | list) and len(value) == 2:
        return {"start": jsonable(value[0]), "end": jsonable(value[1])}
    if isinstance(value, str):
        m = re.fullmatch(r"\[(.+), (.+)\)", value)
        if m:
            return {"start": _utc_iso(pd.Timestamp(m[1])), "end": _utc_iso(pd.Timestamp(m[2]))}
    return None


def _provenance(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's query provenance from a frame's ``attrs``; ``attrs`` keeps the other attrs
    (input ``files``, ``columns``, ``elapsed_s``, Athena ``workgroup`` …) as JSON."""
    ids = attrs.get("query_execution_ids", attrs.get("query_execution_id"))
    lifted = {"sql", "translated_sql", "params", "engine", "lake", "source", "window", "accounts", "regions",
              "query_execution_id", "query_execution_ids", "data_scanned_bytes"}
    return {
        "sql": attrs.get("sql"),
        "translated_sql": attrs.get("translated_sql"),
        "params": jsonable(attrs.get("params")),
        "engine": attrs.get("engine"),
        "lake": attrs.get("lake"),
        "source": attrs.get("source"),
        "window": _window(attrs.get("window")),
        "accounts": jsonable(attrs.get("accounts")),
        "regions": jsonable(attrs.get("regions")),
        "athena_query_ids": [] if ids is None else jsonable([ids] if isinstance(ids, str) else list(ids)),
        "data_scanned_bytes": jsonable(attrs.get("data_scanned_bytes")),
        "attrs": jsonable({k: v for k, v in attrs.items() if k not in lifted}),
    }


def _event_span(df: pd.DataFrame) -> dict[str, str | None] | None:
    """First and last value (UTC) of ``time_dt``, else of a datetime ``time`` column; ``None`` if neither."""
    for col in ("time_dt", "time"):
        if col in df.columns and (isinstance(df[col].dtype, pd.DatetimeTZDtype)
                                  or (isinstance(df[col].dtype, pd.ArrowDtype)
                                      and pa.types.is_timestamp(df[col].dtype.pyarrow_dtype))):
            s = df[col].dropna()
            return {"first": jsonable(s.min()) if len(s) else None, "last": jsonable(s.max()) if len(s) else None}
    return None


def _to_table(df: pd.DataFrame, name: str, provenance: dict[str, Any]) -> pa.Table:
    """``df`` as an Arrow table whose metadata records each column's pandas dtype and the provenance."""
    plain = df.copy(deep=False)
    plain.attrs = {}
    try:
        with warnings.catch_warnings():  # pyarrow reads tz-aware numpy columns through the deprecated Series.values
            warnings.filterwarnings("ignore", message="Series.values returning an ndarray that drops timezone")
            table = pa.Table.from_pandas(plain, preserve_index=None)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise CaseInputError(f"Cannot write {name!r} as Parquet: {exc}. Convert mixed-type object columns "
                             "(e.g. with .astype(str)) and export again.") from None
    levels = [] if isinstance(df.index, pd.RangeIndex) else [df.index.get_level_values(i).dtype
                                                             for i in range(df.index.nlevels)]
    spec = {
        "columns": {str(c): {"arrow": isinstance(t, pd.ArrowDtype), "dtype": str(t)} for c, t in df.dtypes.items()},
        "index": [{"arrow": isinstance(t, pd.ArrowDtype), "dtype": str(t)} for t in levels],
        "provenance": provenance,
    }
    return table.replace_schema_metadata({**(table.schema.metadata or {}), _PARQUET_KEY: _dumps(spec)})


def _from_table(table: pa.Table) -> pd.DataFrame:
    """A frame from a table written by :func:`_to_table`, with each column's recorded pandas dtype.

    Arrow-backed columns come back as the same :class:`pandas.ArrowDtype`; others are
    converted the default pandas way and cast to their recorded dtype when that differs.
    """
    spec = json.loads(table.schema.metadata[_PARQUET_KEY])
    df = table.to_pandas(types_mapper=pd.ArrowDtype)
    for name, info in spec["columns"].items():
        if not info["arrow"] and name in table.column_names:
            col = table.column(name).to_pandas()
            if str(col.dtype) != info["dtype"]:
                with contextlib.suppress(TypeError, ValueError):
                    col = col.astype(info["dtype"])
            df[name] = col.to_numpy() if isinstance(col.dtype, np.dtype) else col.array
    if spec["index"] and not all(info["arrow"] for info in spec["index"]):
        levels = []
        for i, info in enumerate(spec["index"]):
            level = df.index.get_level_values(i)
            if not info["arrow"]:
                with contextlib.suppress(TypeError, ValueError):
                    level = level.astype(info["dtype"])
            levels.append(level)
        df.index = levels[0] if len(levels) == 1 else pd.MultiIndex.from_arrays(levels, names=df.index.names)
    return df
