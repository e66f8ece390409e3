"""Generic streaming JSON reader: plain or gzip; ``{"Records": [...]}``, arrays, NDJSON, single objects."""
from __future__ import annotations

import codecs
import gzip
import json
import re
import zlib
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from slake_forensics.importers.record import RejectRecord

CHUNK = 1 << 20
_DEC = json.JSONDecoder()
#: A JSON escape of a UTF-16 surrogate: Python's decoder turns a lone one into a str that is not valid Unicode.
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
LONE_SURROGATE = ("holds an unpaired UTF-16 surrogate escape (such as \\ud800), which is not valid Unicode and "
                  "cannot be stored; the record is kept here unchanged")
TOO_DEEP = "is nested too deeply to be decoded (thousands of levels of arrays or objects); the record is kept here"
#: Reasons after which reading goes on with the next record (the record's end is known).
_SKIPPABLE = (LONE_SURROGATE, TOO_DEEP)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _end_of_value(buf: str, pos: int) -> int | None:
    """End of the JSON array or object starting at ``buf[pos]`` (brackets counted outside strings), or None."""
    depth = 0
    for m in _TOKEN.finditer(buf, pos):
        c = m.group()
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth == 0:
                return m.end()
    return None


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


MAX_RECORD = 64 << 20


class _Stream:
    """Sliding text buffer over a (possibly gzip) byte stream, decoded incrementally as UTF-8."""

    def __init__(self, f: BinaryIO, read: list[int] | None = None) -> None:
        self.f, self.buf, self.pos, self.eof, self.read = f, "", 0, False, read
        self.base = 0  # offset in the decoded text of buf[0]
        self.error: str | None = None
        self.dec = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def fill(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.f.read1(CHUNK)  # type: ignore[attr-defined]
        except (EOFError, OSError, zlib.error) as e:
            self.error, chunk = f"unreadable compressed data (truncated or corrupt gzip?): {e}", b""
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos:] + self.dec.decode(chunk)
        self.base += self.pos
        self.pos = 0
        if self.read is not None:
            self.read[:1] = [self.base + len(self.buf)]
        return True

    def peek(self) -> str | None:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n,":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.fill():
                return None

    def value(self) -> tuple[Any, str | None]:
        """Decode the value at the cursor: ``(obj, None)`` or ``(raw_text, reason)``."""
        while True:
            try:
                obj, end = _DEC.raw_decode(self.buf, self.pos)
                if _SURROGATE.search(self.buf, self.pos, end) and not _is_unicode(obj):
                    raw, self.pos = self.buf[self.pos:end], end
                    return raw, LONE_SURROGATE
                self.pos = end
                return obj, None
            except RecursionError:
                close = _end_of_value(self.buf, self.pos)
                if close is None and not self.eof and len(self.buf) - self.pos <= MAX_RECORD:
                    self.fill()
                    continue
                stop = len(self.buf) if close is None else close
                raw, self.pos = self.buf[self.pos:stop][:4096], stop
                return raw, TOO_DEEP
            except json.JSONDecodeError as e:
                if self.eof or len(self.buf) - self.pos > MAX_RECORD:
                    raw = self.buf[self.pos:self.pos + 4096]
                    self.buf, self.pos, self.eof = "", 0, True
                    why = "truncated JSON (input ends inside a record)" if e.pos >= len(e.doc) - 1 else \
                        f"malformed JSON: {e.msg} (reading of this file stops here)"
                    return raw, why
                self.fill()


def _is_unicode(obj: Any) -> bool:
    """Whether every string of a decoded value is valid Unicode (orjson refuses lone surrogates; ``json`` keeps them)."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _why_not_json(text: str) -> str:
    """Why orjson refused a line: a lone surrogate escape in otherwise valid JSON, or not JSON at all."""
    if _SURROGATE.search(text):
        try:
            json.loads(text)
        except ValueError:
            return "not JSON"
        return LONE_SURROGATE
    return "not JSON"


def _reject(why: str, raw: str) -> RejectRecord:
    err = RejectRecord(why)
    err.raw = raw  # type: ignore[attr-defined]
    return err


def read_json(path: Path, read: list[int] | None = None) -> Iterator[tuple[str, dict[str, Any] | RejectRecord]]:
    """Yield ``(origin, record)`` for every JSON record of ``path``, streaming in bounded memory.

    Parameters
    ----------
    path : Path
        Plain or gzip file holding ``{"Records": [...]}``, a top-level array, NDJSON, or one object.
    read : list of int, optional
        When given, ``read[0]`` is kept at the number of characters read from the stream so far (updated as the
        buffer is refilled, about every megabyte), for a caller bounding what it holds by size.

    Returns
    -------
    Iterator[tuple[str, dict | RejectRecord]]
        ``origin`` is ``"<file>#<index>"`` (arrays/Records) or ``"<file>:<line>"`` (NDJSON / objects); malformed
        units come as :class:`RejectRecord` (with ``.raw``); every NDJSON line is independent.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.json"; _ = p.write_text('{"Records": [{"a": 1}]}')
    >>> [r for _, r in read_json(p)]
    [{'a': 1}]
    """
    with _open(path) as f:
        s = _Stream(f, read)
        s.fill()
        if s.buf.startswith("\ufeff"):  # a byte order mark (files saved by Windows tools)
            s.pos = 1
        first = s.peek()
        if first == "[":
            index = 0
            while s.peek() == "[":  # arrays one after the other (captures concatenated): one numbering
                s.pos += 1
                index = yield from _array(s, path, index)
                if s.peek() == "]":
                    s.pos += 1
            if s.peek() is not None:
                rest = s.buf[s.pos:s.pos + 4096]
                s.buf, s.pos, s.eof = "", 0, True
                yield f"{path}#{index}", _reject("text after the closing ']' of the top-level array is not an array "
                                                 "of records; reading of this file stops here", rest)
        elif first == "{" and _is_records(s):
            yield from _array(s, path)
        elif first is not None:
            yield from _lines(s, path)
        if s.error:
            yield f"{path}#end", _reject(s.error, "")


def _is_records(s: _Stream) -> bool:
    while len(s.buf) - s.pos < 256 and s.fill():
        pass
    head = s.buf[s.pos:s.pos + 256]
    i = head.find('"Records"')
    if i < 0 or head[1:i].strip():
        return False
    j = head.find("[", i)
    if j < 0 or head[i + 9:j].strip() != ":":
        return False
    s.pos += j + 1
    return True


#: Every ASCII digit as ``0``: a run of 20 zeros in the translated text is 20 digits in a row (bytes.translate and
#: bytes.find run at memory speed; a regular expression costs more than orjson's whole parse).
_ZERO_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_TWENTY = b"0" * 20
#: Cuts :func:`_batch` tries per buffer: the last ``},`` may sit inside a record the buffer holds only part of.
BATCH_TRIES = 3


def _cuts(s: _Stream) -> Iterator[int]:
    """Candidate ends (a ``}``) of the last whole array element in the buffer, likeliest first.

    First the ``}`` before the last place where the element at the cursor's opening text (``{"eventVersion"``)
    recurs after a comma (records of one file start with the same key), then the last ``},`` of the buffer.
    """
    buf, pos = s.buf, s.pos
    head = buf[pos:pos + 24]
    j = buf.rfind(head, pos + 1) if head.startswith("{") and len(head) == 24 else -1
    if j > 0:
        k = j - 1
        while k > pos and buf[k] in " \t\r\n":
            k -= 1
        if buf[k] == ",":
            k -= 1
            while k > pos and buf[k] in " \t\r\n":
                k -= 1
            if buf[k] == "}":
                yield k
    cut = len(buf)
    for _ in range(BATCH_TRIES - 1):
        cut = buf.rfind("},", pos, cut)
        if cut < 0:
            return
        yield cut


def _batch(s: _Stream) -> tuple[list[Any] | None, int]:
    """Decode, in one ``orjson`` call, the whole array elements from the cursor to a cut of :func:`_cuts`.

    Returns ``(elements, end)`` with ``s.pos`` moved past them, or ``(None, end)`` when no cut parsed; ``end`` (an
    offset in the decoded text) is the furthest cut tried, up to which elements are then decoded one at a time. A
    cut inside a string or inside a nested object leaves ``[text]`` unbalanced, so only a cut between two top-level
    elements parses; text ``orjson`` refuses (NaN, a lone surrogate, malformed JSON) or would read otherwise (20 or
    more digits in a row: an integer beyond 64 bits becomes a float) goes to the one-at-a-time decoder, as before.
    """
    while len(s.buf) - s.pos < CHUNK // 2 and s.fill():  # gzip's read1 may give far less than CHUNK
        pass
    furthest = -1
    for cut in _cuts(s):
        furthest = max(furthest, s.base + cut)
        data = s.buf[s.pos:cut + 1].encode("utf-8", "surrogatepass")
        if _big_number(data):
            break  # orjson reads an integer beyond 64 bits as a float; json keeps it exact
        try:
            elements = orjson.loads(b"[" + data + b"]")  # a lone surrogate is not UTF-8: refused, as in a str
        except orjson.JSONDecodeError:
            continue
        s.pos = cut + 1  # peek() skips the comma and blanks after the cut
        return elements, s.base + cut
    return None, furthest


def _big_number(data: bytes) -> bool:
    """Whether JSON text ``data`` may hold a number of 20 or more digits: a run of 20 digits after ``:``, ``[`` or
    ``,`` (and blanks or a minus sign), looked at only where :data:`_TWENTY` finds such a run (a regular expression
    over the whole text costs about as much as orjson's parse of it).

    Examples
    --------
    >>> _big_number(b'{"n": -123456789012345678901}'), _big_number(b'{"id": "a123456789012345678901"}')
    (True, False)
    """
    zeros = data.translate(_ZERO_DIGITS)
    at = zeros.find(_TWENTY)
    while at >= 0:
        start = at
        while start > 0 and zeros[start - 1] == 48:  # "0": the run's first digit
            start -= 1
        before = zeros[max(0, start - 40):start].rstrip(b" \t\r\n-")
        if before[-1:] in (b":", b"[", b","):
            return True
        end = start + 20
        while end < len(zeros) and zeros[end] == 48:
            end += 1
        at = zeros.find(_TWENTY, end)
    return False


def _array(s: _Stream, path: Path, i: int = 0) -> Generator[tuple[str, dict[str, Any] | RejectRecord], None, int]:
    """The elements of the array at the cursor (after its ``[``), numbered from ``i``; returns the next number."""
    slow_until = -1  # offset in the decoded text before which elements are decoded one at a time (a batch failed)
    while True:
        c = s.peek()
        if c is None:
            if not s.error:
                yield f"{path}#{i}", _reject("truncated JSON array (no closing ']')", "")
            return i
        if c == "]":
            return i
        if s.base + s.pos > slow_until:
            elements, slow_until = _batch(s)
            if elements is not None:
                for obj in elements:
                    if isinstance(obj, dict):
                        yield f"{path}#{i}", obj
                    else:
                        yield f"{path}#{i}", _reject(f"array element is not a JSON object: {str(obj)[:80]!r}",
                                                     json.dumps(obj))
                    i += 1
                continue
        obj, why = s.value()
        if why is not None:
            yield f"{path}#{i}", _reject(why, obj)
            if why in _SKIPPABLE:
                i += 1
                continue
            return i
        if isinstance(obj, dict):
            yield f"{path}#{i}", obj
        else:
            yield f"{path}#{i}", _reject(f"array element is not a JSON object: {str(obj)[:80]!r}", json.dumps(obj))
        i += 1


def _lines(s: _Stream, path: Path) -> Iterator[tuple[str, dict[str, Any] | RejectRecord]]:
    """NDJSON / one object per file: one record per line; a multi-line single object is decoded whole."""
    line = 1
    ndjson = False  # once a line held a whole object, a malformed "{..." line is one bad record, not a pretty object
    while True:
        while s.buf.find("\n", s.pos, s.pos + MAX_RECORD) < 0 and s.fill():  # find: no copy of the buffer per line
            pass
        nl = s.buf.find("\n", s.pos)
        text = s.buf[s.pos:nl] if nl >= 0 else s.buf[s.pos:]
        if "\x00" in text:  # NUL padding around a line (a log writer's preallocated file): never JSON, dropped
            text = text.strip("\x00")
        start_line = line
        try:
            rec = orjson.loads(text) if text.strip() else _BLANK
        except orjson.JSONDecodeError:
            rec = _MULTI
        whole_line = rec is not _MULTI
        if rec is _MULTI and text.lstrip().startswith("{") and not ndjson:
            obj, why = s.value()  # a pretty-printed object spanning lines
            if why is not None:
                yield f"{path}:{start_line}", _reject(why, obj)
                if why not in _SKIPPABLE:
                    return
            rec = obj if why is None else _BLANK
            nl2 = s.buf.find("\n", s.pos)
            s.pos = len(s.buf) if nl2 < 0 else nl2 + 1
        else:
            s.pos = len(s.buf) if nl < 0 else nl + 1
        if rec is _MULTI:
            yield f"{path}:{start_line}", _reject(_why_not_json(text), text[:4096])
        elif isinstance(rec, dict):
            ndjson = ndjson or whole_line
            yield f"{path}:{start_line}", rec
        elif rec is not _BLANK:  # a `null` line too: a record the writer lost, said, never skipped as a blank
            yield f"{path}:{start_line}", _reject(f"line is JSON but not an object: {text[:80]!r}", text[:4096])
        line += 1
        if nl < 0 and s.eof:
            return


_MULTI = object()
_BLANK = object()  # a blank line, or a pretty object already rejected: nothing more to say
