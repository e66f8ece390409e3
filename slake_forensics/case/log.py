"""The hash-chained, append-only log of a case folder, its header and its head record.

Writes go through :func:`_locked` (an exclusive lock on ``.lock``), :func:`_append_locked` (one
``write`` per line on an ``O_APPEND`` descriptor, ``fsync``, then :func:`_write_head`) and
:func:`_staged` / :func:`_atomic_write` (a temporary sibling, ``fsync``, rename) for whole files.
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slake_forensics.case.encoding import (
    _ESCAPED_SURROGATE,
    _dumps,
    _escape_surrogates,
    _lone_surrogate,
    _now,
    _pretty,
    _sha256,
    jsonable,
)
from slake_forensics.case.errors import CaseInputError, CorruptCaseError, NotACaseError
from slake_forensics.core.version import __version__

FORMAT = "slake-forensics-case"
FORMAT_VERSION = 1
RETRACTABLE = ("bookmark", "note", "ioc", "query", "export")
KINDS = ("created", *RETRACTABLE, "retract", "repair", "focus")
GENESIS = "0" * 64
_HEAD = "log.head.json"
_LOG = "log.jsonl"


# ---- whole files, locking --------------------------------------------------------------------


@contextlib.contextmanager
def _staged(path: Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` to write in the ``with`` block; then fsync'd and renamed
    over ``path`` (and the folder fsync'd), or removed if the block raises."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling, fsync and rename."""
    with _staged(path) as tmp:
        tmp.write_bytes(data)


def _fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk, where the platform allows it."""
    if os.name == "posix":
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold the case folder ``root``'s exclusive lock (``.lock``, created if missing) for the ``with`` block."""
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if sys.platform == "win32":
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


# ---- reading ---------------------------------------------------------------------------------


@dataclass
class _Log:
    """A parsed log: entries (``None`` where a line is not a JSON object), their line hashes,
    the bytes of an incomplete last line, and the file size."""

    entries: list[dict[str, Any] | None]
    hashes: list[str]
    torn: bytes
    size: int


def _read_log(root: Path) -> _Log:
    """Parse the whole log file of the case folder ``root``."""
    data = (root / _LOG).read_bytes()
    *lines, torn = data.split(b"\n")
    entries: list[dict[str, Any] | None] = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if entry is not None and _ESCAPED_SURROGATE.search(line):  # text no UTF-8 view could hold
            entry = _escape_surrogates(entry)
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


def _torn(path: Path) -> bytes:
    """The bytes after the last newline of the log at ``path`` (empty when its last line is complete)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return _tail(fd)[1]
    finally:
        os.close(fd)


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


# ---- writing ---------------------------------------------------------------------------------


def _write_all(fd: int, data: bytes) -> None:
    """One ``write`` of ``data``; a short write raises rather than leaving a silent half line."""
    written = os.write(fd, data)
    if written != len(data):
        raise CorruptCaseError(
            f"Only {written} of {len(data)} bytes reached the log; run case.verify() and case.repair()."
        )


def _write_head(root: Path, seq: int, sha256: str, size: int) -> None:
    """Atomically record the log's last seq, the SHA-256 of its last line and its size in bytes."""
    _atomic_write(root / _HEAD, json.dumps({"seq": seq, "sha256": sha256, "bytes": size}).encode() + b"\n")


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
    data = _pretty(header)
    entry = {"seq": 0, "time": header["created"], "analyst": analyst, "kind": "created",
             "payload": {"header": header, "case_json_sha256": _sha256(data)}, "prev": GENESIS}
    line = _dumps(entry)
    fd = os.open(root / _LOG, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
    try:
        _write_all(fd, line + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    _write_head(root, 0, _sha256(line), len(line) + 1)
    _atomic_write(root / "case.json", data)  # last: a folder with case.json is a complete case


def _append(root: Path, analyst: str, items: Sequence[tuple[str, dict[str, Any]]]) -> list[int]:
    """Append ``(kind, payload)`` entries under the case lock; returns their seqs (see :func:`_append_locked`)."""
    with _locked(root):
        return _append_locked(root, analyst, items)


def _append_locked(
    root: Path, analyst: str, items: Sequence[tuple[str, dict[str, Any]]], check_head: bool = True
) -> list[int]:
    """Append ``(kind, payload)`` entries signed by ``analyst``; the caller holds the case lock.  Returns their seqs.

    Raises :class:`CaseInputError` (before writing anything) when a payload holds text with a
    lone surrogate, and :class:`CorruptCaseError` when the log is missing, ends with an incomplete line,
    its last line is unreadable, or (unless ``check_head`` is false, for :func:`_repair`) it
    ends before, or differs from, the last line ``log.head.json`` records.
    """
    payloads = [jsonable(payload) for _, payload in items]
    for (kind, _), payload in zip(items, payloads):
        if (where := _lone_surrogate(payload, kind)) is not None:
            raise CaseInputError(
                f"The {kind}'s text at {where} holds a lone surrogate (e.g. '\\ud800', half of a UTF-16 pair), "
                "which no UTF-8 file or view can hold; nothing was written. Pass valid text, e.g. "
                "text.encode('utf-8', 'backslashreplace').decode() to keep it escaped."
            )
    log = root / _LOG
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
        head = _read_head(root) if check_head else None
        if head is not None and (head.get("seq", -1) > seq or (head.get("seq") == seq and head.get("sha256") != prev)):
            raise CorruptCaseError(
                f"{log} ends at seq {seq} but {_HEAD} records seq {head.get('seq')}: the log was truncated "
                "or its last line changed. Nothing was written; run case.verify()."
            )
        seqs = []
        for (kind, _), payload in zip(items, payloads):
            seq += 1
            entry = {"seq": seq, "time": _now(), "analyst": analyst, "kind": kind,
                     "payload": payload, "prev": prev}
            line = _dumps(entry)
            _write_all(fd, line + b"\n")
            prev = _sha256(line)
            seqs.append(seq)
        os.fsync(fd)
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    _write_head(root, seq, prev, size)
    return seqs


def _repair(root: Path, analyst: str) -> int | None:
    """Record the incomplete last line of ``root``'s log in a ``repair`` entry and cut it off
    (see :meth:`Case.repair`); returns the entry's seq, or ``None`` when the log was complete."""
    with _locked(root):
        head = _read_head(root)
        fd = os.open(root / _LOG, os.O_RDWR)
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
        return _append_locked(root, analyst, [("repair", payload)], check_head=False)[0]
