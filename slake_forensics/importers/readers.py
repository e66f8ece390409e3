"""Generic streaming JSON reader: plain or gzip; ``{"Records": [...]}``, arrays, NDJSON, single objects."""
from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from .record import RejectRecord

CHUNK = 1 << 20
_DEC = json.JSONDecoder()
_WS = b" \t\r\n"


def _open(path: Path) -> BinaryIO:
    f = open(path, "rb")  # noqa: SIM115 - read-only; closed by the caller
    magic = f.read(2)
    f.seek(0)
    if path.suffix == ".gz" or magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    return f


def iter_files(paths: list[Path]) -> Iterator[Path]:
    """Yield every log file below ``paths`` (files as given; directories walked recursively, sorted).

    Parameters
    ----------
    paths : list of Path
        Files or directories such as ``AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/`` trees.

    Returns
    -------
    Iterator[Path]
        Regular files, hidden files and ``*.sha256``/``*.md5`` digests skipped.

    Examples
    --------
    >>> list(iter_files([]))
    []
    """
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not f.name.startswith(".") and f.suffix not in (".sha256", ".md5"):
                    yield f
        elif p.is_file():
            yield p
        else:
            raise FileNotFoundError(f"{p}: no such file or directory")


class _Stream:
    """Sliding byte buffer over a (possibly gzip) stream."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.buf, self.pos, self.eof, self.error = f, b"", 0, False, None

    def fill(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.f.read(CHUNK)
        except (EOFError, OSError, zlib.error) as e:
            self.error, chunk = f"unreadable compressed data: {e}", b""
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0
        return True

    def skip_ws(self) -> int | None:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WS:
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.fill():
                return None


def _value_end(buf: bytes, start: int) -> int | None:
    """Index just after the JSON object/array starting at ``start``, or None if not complete in ``buf``."""
    depth, i, n, instr = 0, start, len(buf), False
    while i < n:
        c = buf[i]
        if instr:
            if c == 0x5C:
                i += 2
                continue
            if c == 0x22:
                instr = False
        elif c == 0x22:
            instr = True
        elif c in (0x7B, 0x5B):
            depth += 1
        elif c in (0x7D, 0x5D):
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def _next_value(s: _Stream) -> tuple[bytes, int] | None:
    """Raw bytes of the next complete object/array at the cursor (reads more as needed)."""
    start = s.pos
    scanned = start
    while True:
        end = _scan(s.buf, start, scanned)
        if end is not None:
            s.pos = end
            return s.buf[start:end], start
        scanned = len(s.buf)
        off = s.pos
        if not s.fill():
            return None
        start -= off  # buffer was rebased
        scanned -= off


def _scan(buf: bytes, start: int, scanned: int) -> int | None:
    # rescanning from start is simplest and correct; orjson does the heavy lifting
    return _value_end(buf, start)


def read_json(path: Path) -> Iterator[tuple[str, dict[str, Any] | RejectRecord]]:
    """Yield ``(origin, record)`` for every JSON record of ``path``, streaming in bounded memory.

    Parameters
    ----------
    path : Path
        Plain or gzip file holding ``{"Records": [...]}``, a top-level array, NDJSON, or one object.

    Returns
    -------
    Iterator[tuple[str, dict | RejectRecord]]
        ``origin`` is ``"<file>#<index>"`` (arrays/Records) or ``"<file>:<line>"`` (NDJSON); malformed units
        come as :class:`RejectRecord` and reading continues with the next unit where possible.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.json"; _ = p.write_text('{"Records": [{"a": 1}]}')
    >>> [r for _, r in read_json(p)]
    [{'a': 1}]
    """
    with _open(path) as f:
        s = _Stream(f)
        first = s.skip_ws()
        if first is None:
            if s.error:
                yield f"{path}#0", RejectRecord(s.error)
            return
        if first == 0x5B:
            s.pos += 1
            yield from _array(s, path, 0)
        elif first == 0x7B:
            yield from _objects(s, path)
        else:
            yield from _lines(s, path)
        if s.error:
            yield f"{path}#end", RejectRecord(s.error)


def _array(s: _Stream, path: Path, base: int) -> Iterator[tuple[str, dict[str, Any] | RejectRecord]]:
    i = base
    while True:
        c = s.skip_ws()
        if c is None:
            yield f"{path}#{i}", RejectRecord("truncated JSON array (no closing ']')")
            return
        if c == 0x5D:
            s.pos += 1
            return
        if c == 0x2C:
            s.pos += 1
            continue
        if c != 0x7B:
            tail = s.buf[s.pos:s.pos + 80]
            yield f"{path}#{i}", RejectRecord(f"array element is not a JSON object: {tail[:80]!r}")
            return
        got = _next_value(s)
        if got is None:
            yield f"{path}#{i}", RejectRecord("truncated JSON: the last record is incomplete")
            return
        raw, _ = got
        try:
            rec = orjson.loads(raw)
            yield f"{path}#{i}", rec
        except orjson.JSONDecodeError as e:
            err = RejectRecord(f"malformed JSON record: {e}")
            err.raw = raw.decode("utf-8", "replace")  # type: ignore[attr-defined]
            yield f"{path}#{i}", err
        i += 1


def _objects(s: _Stream, path: Path) -> Iterator[tuple[str, dict[str, Any] | RejectRecord]]:
    """One or more top-level objects: Records wrappers, single objects or NDJSON (origin by line)."""
    n = 0
    line = 1
    while True:
        c = s.skip_ws()
        if c is None:
            return
        line_here = line + s.buf.count(b"\n", 0, s.pos) if n == 0 else None
        if c != 0x7B:
            yield from _lines(s, path, line)
            return
        # Records wrapper: look at the first key without decoding the whole value
        while len(s.buf) - s.pos < 64 and s.fill():
            pass
        head = s.buf[s.pos:s.pos + 64].lstrip(b"{ \t\r\n")
        if head.startswith(b'"Records"'):
            s.pos = s.buf.index(b":", s.pos) + 1
            if s.skip_ws() == 0x5B:
                s.pos += 1
                yield from _array(s, path, 0)
                while (c := s.skip_ws()) is not None and c != 0x7D:
                    s.pos += 1  # trailing keys after Records are ignored
                if c == 0x7D:
                    s.pos += 1
                continue
        nl_before = s.buf.count(b"\n", 0, s.pos)
        got = _next_value(s)
        if got is None:
            yield f"{path}:{line}", RejectRecord("truncated JSON: the last record is incomplete")
            return
        raw, start = got
        ln = line + nl_before
        line = ln + raw.count(b"\n")
        # rebase line counting: consumed text before the value had nl_before newlines
        s.buf, s.pos = s.buf[s.pos:], 0
        try:
            yield f"{path}:{ln}", orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            err = RejectRecord(f"malformed JSON record: {e}")
            err.raw = raw.decode("utf-8", "replace")  # type: ignore[attr-defined]
            yield f"{path}:{ln}", err
        n += 1
        del line_here


def _lines(s: _Stream, path: Path, line: int = 1) -> Iterator[tuple[str, dict[str, Any] | RejectRecord]]:
    """Line by line for what is not a JSON object stream (every bad line becomes a reject)."""
    rest = io.BytesIO(s.buf[s.pos:])
    for chunk_src in (rest, s.f):
        pass
    pending = s.buf[s.pos:]
    while True:
        nl = pending.find(b"\n")
        while nl < 0:
            if not s.fill_raw_into(pending) if False else False:
                break
            try:
                more = s.f.read(CHUNK)
            except (EOFError, OSError, zlib.error) as e:
                s.error, more = f"unreadable compressed data: {e}", b""
            if not more:
                break
            pending += more
            nl = pending.find(b"\n")
        text, pending = (pending[:nl], pending[nl + 1:]) if nl >= 0 else (pending, b"")
        if text.strip():
            try:
                rec = orjson.loads(text)
                if not isinstance(rec, dict):
                    raise RejectRecord(f"line is JSON but not an object: {text[:80]!r}")
                yield f"{path}:{line}", rec
            except (orjson.JSONDecodeError, RejectRecord) as e:
                err = e if isinstance(e, RejectRecord) else RejectRecord(f"not JSON: {e}")
                err.raw = text.decode("utf-8", "replace")  # type: ignore[attr-defined]
                yield f"{path}:{line}", err
        line += 1
        if nl < 0:
            s.buf, s.pos, s.eof = b"", 0, True
            return
