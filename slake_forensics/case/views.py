"""The case's DataFrame views of its log: live bookmarks, notes, IOCs, queries and exports, and the timeline."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd
import pyarrow as pa

_UTC = pa.timestamp("us", tz="UTC")

# A view column: name, Arrow type, and how to get its value from an entry's payload.
_Field = tuple[str, pa.DataType, Callable[[dict[str, Any]], Any]]


def _ts(value: Any) -> pd.Timestamp | None:
    """A logged ISO time as a Timestamp (``None`` stays ``None``)."""
    return None if value is None else pd.Timestamp(value)


def _text(key: str) -> _Field:
    """A string column holding the payload's ``key``."""
    return (key, pa.string(), lambda p: p.get(key))


_FIELDS: dict[str, list[_Field]] = {
    "bookmark": [
        ("time", _UTC, lambda p: _ts(p.get("time"))),
        _text("source"),
        _text("uid"),
        _text("note"),
        ("tags", pa.list_(pa.string()), lambda p: p.get("tags") or []),
        ("row", pa.string(), lambda p: None if p.get("row") is None else json.dumps(p["row"], sort_keys=True)),
    ],
    "note": [_text("text")],
    "ioc": [_text("type"), _text("value"), _text("original"), _text("note")],
    "query": [_text("name"), _text("sql"), ("params", pa.string(), lambda p: json.dumps(p.get("params")))],
    "export": [
        _text("name"),
        ("rows", pa.int64(), lambda p: p.get("rows")),
        _text("sha256"),
        ("size_bytes", pa.int64(), lambda p: p.get("size_bytes")),
        _text("sql"),
        _text("note"),
    ],
}

_TIMELINE = [("time", _UTC), ("source", pa.string()), ("uid", pa.string()), ("summary", pa.string()),
             ("seq", pa.int64()), ("kind", pa.string()), ("analyst", pa.string()), ("retracted", pa.bool_()),
             ("payload", pa.string())]


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, pa.DataType]]) -> pd.DataFrame:
    """``rows`` as an Arrow-backed frame of ``columns`` (name, Arrow type), in that order."""
    return pa.Table.from_pylist(rows, schema=pa.schema(columns)).to_pandas(types_mapper=pd.ArrowDtype)


def _retracted(entries: list[dict[str, Any]]) -> set[Any]:
    """The seqs that ``retract`` entries withdraw."""
    return {e["payload"].get("seq") for e in entries if e.get("kind") == "retract"}


def _view(entries: list[dict[str, Any]], kind: str) -> pd.DataFrame:
    """The entries of ``kind`` not retracted, in log order: ``seq, logged_at, analyst`` and the kind's columns."""
    gone = _retracted(entries)
    fields = _FIELDS[kind]
    rows = [{"seq": e["seq"], "logged_at": _ts(e["time"]), "analyst": e.get("analyst"),
             **{name: get(e["payload"]) for name, _, get in fields}}
            for e in entries if e.get("kind") == kind and e.get("seq") not in gone]
    return _table(rows, [("seq", pa.int64()), ("logged_at", _UTC), ("analyst", pa.string()),
                         *[(name, typ) for name, typ, _ in fields]])


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


def _timeline(entries: list[dict[str, Any]], case_id: str) -> pd.DataFrame:
    """Every entry as a timeline row, retracted ones flagged (see :meth:`Case.timeline`)."""
    gone = _retracted(entries)
    rows = [{
        "time": _ts(e.get("time")),
        "source": "case",
        "uid": f"{case_id}#{e.get('seq')}",
        "summary": _summary(e),
        "seq": e.get("seq"),
        "kind": e.get("kind"),
        "analyst": e.get("analyst"),
        "retracted": e.get("seq") in gone,
        "payload": json.dumps(e.get("payload"), sort_keys=True),
    } for e in entries]
    return _table(rows, _TIMELINE)
