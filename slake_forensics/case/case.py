"""The :class:`Case` object: opening a case folder, writing entries, evidence, views and verify."""
from __future__ import annotations

import datetime as dt
import getpass
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slake_forensics.case.errors import CaseInputError, CaseIntegrityWarning, NotACaseError
from slake_forensics.case.evidence import _export, _read_evidence
from slake_forensics.case.iocs import normalize_ioc
from slake_forensics.case.log import (
    _LOG,
    RETRACTABLE,
    _append,
    _append_locked,
    _create,
    _locked,
    _read_header,
    _read_log,
    _repair,
    _torn,
)
from slake_forensics.case.verify import VerifyReport, _verify
from slake_forensics.case.views import _timeline, _view
from slake_forensics.core import catalog
from slake_forensics.core.errors import UnknownSourceError
from slake_forensics.core.timewindow import TimeLike, to_utc


class Case:
    """An investigation's case folder: an append-only, hash-chained log and its evidence.

    Open (or create) one with :meth:`Case.open`.  Writes (:meth:`bookmark`, :meth:`note`,
    :meth:`add_ioc`, :meth:`save_query`, :meth:`export`, :meth:`retract`) append to the log and
    return the new entry's ``seq``, or the evidence path.  Views (:attr:`bookmarks`,
    :attr:`notes`, :attr:`iocs`, :attr:`queries`, :attr:`exports`, :meth:`timeline`) re-read the
    log, so they include other writers' entries.  :meth:`verify` re-checks everything.

    Parameters
    ----------
    path : pathlib.Path
        The case folder (absolute).
    header : dict
        The parsed ``case.json``: ``format``, ``format_version``, ``case_id``, ``uid``,
        ``title``, ``created``, ``created_by``, ``tool_version``.
    analyst : str
        The name that signs every entry this object writes.

    Notes
    -----
    :meth:`Case.open` builds the object (it creates or checks the folder); ``path``,
    ``header`` and ``analyst`` stay available as attributes of the same names.

    Examples
    --------
    >>> import tempfile
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> rows = lake.load("cloud_trail_mgmt", "2026-05-24T00:00Z", "2026-05-25T00:00Z",
    ...                  columns=["time_dt", "metadata.uid", "api.operation"]).head(3)
    >>> case = Case.open(tempfile.mkdtemp(), analyst="alice", title="Leaked CI key", case_id="IR-42")
    >>> case.bookmark(rows, note="first calls of the day", tags=["recon"])
    [1, 2, 3]
    >>> case.note("Key AKIA… used from 203.0.113.7")
    4
    >>> case.add_ioc("ip", " 203.0.113.7 ", note="scanner")
    5
    >>> case.export(rows, "ct_first3").name
    'ct_first3.parquet'
    >>> len(case.bookmarks), case.iocs["value"].tolist(), case.exports["rows"].tolist()
    (3, ['203.0.113.7'], [3])
    >>> case.verify().ok
    True
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
        """Open the case in a folder, creating it when the folder is missing or empty.

        Parameters
        ----------
        path : str or os.PathLike
            The case folder.
        analyst : str, optional
            Signs every entry this object writes; default ``$SLAKE_ANALYST``, else the OS user.
        title, case_id : str, optional
            Used when creating the case (defaults: the folder name).  For an existing case they
            must match its header if given.

        Returns
        -------
        Case

        Raises
        ------
        NotACaseError
            For a file, or a non-empty folder without ``case.json``.
        CorruptCaseError
            For an unreadable ``case.json``, or one written by a newer case format.
        CaseInputError
            When ``title`` or ``case_id`` differs from an existing case's.

        Warns
        -----
        CaseIntegrityWarning
            When the log is missing or ends with an incomplete line (reading works, writing is
            refused until :meth:`repair`).

        Examples
        --------
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> case = Case.open(folder, analyst="alice", title="Leaked CI key", case_id="IR-42")
        >>> case.case_id, case.title, case.analyst
        ('IR-42', 'Leaked CI key', 'alice')
        >>> sorted(p.name for p in case.path.iterdir())
        ['.lock', 'case.json', 'evidence', 'log.head.json', 'log.jsonl', 'reports']
        >>> again = Case.open(folder, analyst="bob")  # an existing case keeps its header
        >>> again.case_id, again.analyst
        ('IR-42', 'bob')
        """
        root = Path(path).expanduser().absolute()
        who = analyst or os.environ.get("SLAKE_ANALYST") or _os_user()
        if root.exists() and not root.is_dir():
            raise NotACaseError(f"{root} is a file, not a case folder; give a folder path.")
        root.mkdir(parents=True, exist_ok=True)
        if not (root / "case.json").exists():
            # Before the lock file, which would litter a folder that is not ours; another process may be
            # creating the case right now, so its files are let through until the check under the lock.
            _refuse_non_case(root, creating=True)
            with _locked(root):
                if not (root / "case.json").exists():
                    _refuse_non_case(root)
                    _create(root, who, title or root.name, case_id or root.name)
        header = _read_header(root)
        for key, given in (("title", title), ("case_id", case_id)):
            if given is not None and given != header.get(key):
                raise CaseInputError(f"{root} is case {header.get('case_id')!r} titled {header.get('title')!r}; "
                                     f"its {key} is fixed at creation ({given!r} given). Omit {key} to open it.")
        case = cls(root, header, who)
        log = root / _LOG
        if not log.exists():
            warnings.warn(f"{root} has no log.jsonl; run case.verify().", CaseIntegrityWarning, stacklevel=2)
        elif torn := _torn(log):
            warnings.warn(
                f"{log} ends with an incomplete line ({len(torn)} bytes: {torn[:60]!r}…), from an interrupted "
                "write or a truncated copy. Reading works; writing is refused until case.repair() records it. "
                "Run case.verify() for details.",
                CaseIntegrityWarning,
                stacklevel=2,
            )
        return case

    @property
    def case_id(self) -> str:
        """The case's id, fixed at creation (default: the folder name).

        Examples
        --------
        >>> import os, tempfile
        >>> case = Case.open(os.path.join(tempfile.mkdtemp(), "IR-42"))
        >>> case.case_id, case.title  # both default to the folder name
        ('IR-42', 'IR-42')
        """
        return self.header["case_id"]

    @property
    def title(self) -> str:
        """The case's title, fixed at creation (default: the folder name).

        Examples
        --------
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> Case.open(folder, title="Leaked CI key").title
        'Leaked CI key'
        >>> Case.open(folder, title="Another title")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        slake_forensics.case.errors.CaseInputError: ... its title is fixed at creation ('Another title' given). ...
        """
        return self.header["title"]

    @property
    def created(self) -> pd.Timestamp:
        """When the case was created (UTC).

        Examples
        --------
        >>> import tempfile
        >>> str(Case.open(tempfile.mkdtemp()).created.tz)
        'UTC'
        """
        return pd.Timestamp(self.header["created"])

    def __repr__(self) -> str:
        return f"Case({str(self.path)!r}, case_id={self.case_id!r}, title={self.title!r}, analyst={self.analyst!r})"

    # -- appending -------------------------------------------------------------------------

    def bookmark(
        self,
        event_uid: str | pd.Series | pd.DataFrame,
        source: str | None = None,
        note: str = "",
        tags: Iterable[str] | str = (),
        time: TimeLike | int | None = None,
        row: pd.Series | Mapping[str, Any] | None = None,
    ) -> int | list[int]:
        """Bookmark an event, or every row of a frame.

        Either name the event (``event_uid``, ``source``, optionally its ``time`` and a ``row``
        snapshot of its fields) or pass a row (Series) or rows (DataFrame) of a timeline
        (``time, source, uid, summary…``) or of a lake load (``metadata.uid``, ``time_dt``):
        the uid, source and time come from the row (the source also from the frame's
        ``attrs``) and the whole row is kept as ``row``.

        Parameters
        ----------
        event_uid : str, pandas.Series or pandas.DataFrame
            The event's uid, or the row(s) to bookmark.
        source : str, optional
            The event's source (``"cloud_trail_mgmt"`` …); given explicitly it wins over the row's.
        note : str, optional
            Why the event matters.
        tags : str or iterable of str, optional
            Labels such as ``"recon"``.
        time : time-like or int, optional
            The event's time (integers are epoch milliseconds); not with a DataFrame.
        row : pandas.Series or mapping, optional
            A snapshot of the event's fields; not with a DataFrame.

        Returns
        -------
        int or list of int
            The new entry's seq, or one seq per row for a DataFrame.

        Raises
        ------
        CaseInputError
            When the event has no uid or no source, or ``time``/``row`` come with a DataFrame.
        CorruptCaseError
            When the log is damaged (see :meth:`verify`, :meth:`repair`); nothing is written.

        Examples
        --------
        >>> import tempfile
        >>> import slake_forensics as sf
        >>> rows = sf.Lake.sample().load("cloud_trail_mgmt", "2026-05-24T00:00Z", "2026-05-25T00:00Z",
        ...                              columns=["time_dt", "metadata.uid", "api.operation"]).head(3)
        >>> case = Case.open(tempfile.mkdtemp(), analyst="alice")
        >>> case.bookmark(rows, tags=["recon"])
        [1, 2, 3]
        >>> case.bookmark("evt-1", "vpc_flow", note="flow to the C2", time="2026-05-24T01:02:03Z",
        ...               row={"src": "10.0.0.1", "bytes": 10})
        4
        >>> case.bookmarks["source"].tolist()
        ['cloud_trail_mgmt', 'cloud_trail_mgmt', 'cloud_trail_mgmt', 'vpc_flow']
        >>> case.bookmarks["tags"].tolist()
        [['recon'], ['recon'], ['recon'], []]
        """
        tag_list = [tags] if isinstance(tags, str) else [str(t) for t in tags]
        if isinstance(event_uid, pd.DataFrame):
            if time is not None or row is not None:
                raise CaseInputError("time and row apply to one event; bookmark DataFrame rows without them.")
            items = [self._bookmark_payload(r, source, note, tag_list, None, None, event_uid.attrs)
                     for _, r in event_uid.iterrows()]
            return _append(self.path, self.analyst, items)
        return _append(self.path, self.analyst,
                       [self._bookmark_payload(event_uid, source, note, tag_list, time, row, {})])[0]

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
        _check_source(source)
        when = None
        if not _missing(time):
            when = (pd.Timestamp(int(time), unit="ms", tz="UTC") if isinstance(time, int | np.integer)
                    else to_utc(time, what="bookmark time"))
        return "bookmark", {"uid": str(uid), "source": str(source), "time": when, "note": note, "tags": tags,
                            "row": None if row is None else dict(row)}

    def note(self, text: str) -> int:
        """Append a free-text note.

        Parameters
        ----------
        text : str
            The note; its first line is its summary in :meth:`timeline`.

        Returns
        -------
        int
            The note's seq.

        Raises
        ------
        CaseInputError
            For blank text.

        Examples
        --------
        >>> import tempfile
        >>> case = Case.open(tempfile.mkdtemp(), analyst="alice")
        >>> case.note("Key AKIA… used from 203.0.113.7\\nsecond line")
        1
        >>> case.notes["text"].tolist()
        ['Key AKIA… used from 203.0.113.7\\nsecond line']
        """
        if not isinstance(text, str) or not text.strip():
            raise CaseInputError("A note needs some text.")
        return _append(self.path, self.analyst, [("note", {"text": text})])[0]

    def set_focus(self, finding_id: str, scope: Mapping[str, Any] | None = None) -> int:
        """Record the finding this case follows and its scope, for the next stages to continue with.

        Notebook 02 writes it; 03 and 04 read :attr:`focus`.  A later focus supersedes an earlier
        one (both stay in the log).

        Parameters
        ----------
        finding_id : str
            The followed finding's ``finding_uid``.
        scope : Mapping, optional
            JSON-able facts of its scope, e.g. ``start`` and ``end`` (the window, ISO-8601 text or
            timestamps), ``entities`` and ``accounts`` (lists of text).  Timestamps are stored as
            UTC ISO-8601 text.

        Returns
        -------
        int
            The focus entry's seq.

        Raises
        ------
        CaseInputError
            For a blank finding id or a scope that is not a mapping with text keys.

        Examples
        --------
        >>> import tempfile
        >>> case = Case.open(tempfile.mkdtemp(), analyst="alice")
        >>> case.set_focus("arn:aws:guardduty:us-east-1:111122223333:detector/d1/finding/f1",
        ...                {"start": pd.Timestamp("2026-05-14T20:00Z"), "accounts": ["111122223333"]})
        1
        >>> case.focus["finding_id"].rsplit("/", 1)[-1], case.focus["scope"]
        ('f1', {'accounts': ['111122223333'], 'start': '2026-05-14T20:00:00+00:00'})
        """
        if not isinstance(finding_id, str) or not finding_id.strip():
            raise CaseInputError("set_focus needs the finding's id (its finding_uid).")
        if scope is not None and not (isinstance(scope, Mapping) and all(isinstance(k, str) for k in scope)):
            raise CaseInputError("The focus scope must be a mapping with text keys, e.g. {'start': …, 'accounts': […]}.")
        facts = {k: _focus_value(v) for k, v in (scope or {}).items()}
        return _append(self.path, self.analyst, [("focus", {"finding_id": finding_id.strip(), "scope": facts})])[0]

    @property
    def focus(self) -> dict[str, Any] | None:
        """The latest :meth:`set_focus`: ``{"finding_id", "scope", "seq", "analyst", "logged_at"}``, or ``None``.

        Examples
        --------
        >>> import tempfile
        >>> case = Case.open(tempfile.mkdtemp(), analyst="alice")
        >>> case.focus is None
        True
        >>> _ = case.set_focus("f1"); _ = case.set_focus("f2", {"entities": ["AKIAEXAMPLE"]})
        >>> case.focus["finding_id"], case.focus["scope"], case.focus["seq"]
        ('f2', {'entities': ['AKIAEXAMPLE']}, 2)
        """
        last = next((e for e in reversed(self._entries()) if e.get("kind") == "focus"), None)
        if last is None:
            return None
        payload = last["payload"]
        return {"finding_id": payload.get("finding_id"), "scope": payload.get("scope", {}), "seq": last.get("seq"),
                "analyst": last.get("analyst"), "logged_at": last.get("time")}

    def add_ioc(self, type: str, value: str, note: str = "") -> int:
        """Record an indicator of compromise, validated and normalized by :func:`normalize_ioc`.

        Parameters
        ----------
        type : str
            One of ``ip``, ``domain``, ``access_key``, ``principal``, ``bucket``, ``instance``,
            ``user_agent``, ``hash``, ``other``.
        value : str
            The indicator as found; :attr:`iocs` shows it normalized (``value``) and as given
            (``original``).
        note : str, optional
            Where it was seen, why it matters.

        Returns
        -------
        int
            The IOC's seq.

        Raises
        ------
        CaseInputError
            For an unknown type or an invalid value (nothing is written).

        Examples
        --------
        >>> import tempfile
        >>> case = Case.open(tempfile.mkdtemp(), analyst="alice")
        >>> case.add_ioc("ip", " 203.0.113.7 ", note="scanner")
        1
        >>> case.add_ioc("domain", "Evil.Example.COM.")
        2
        >>> case.iocs[["type", "value"]].values.tolist()
        [['ip', '203.0.113.7'], ['domain', 'evil.example.com']]
        """
        return _append(self.path, self.analyst, [("ioc", {"type": type, "value": normalize_ioc(type, value),
                                                          "original": value, "note": note})])[0]

    def save_query(self, name: str, sql: str, params: Sequence[Any] | None = None) -> int:
        """Record a query worth re-running.

        Parameters
        ----------
        name : str
            What the query finds.
        sql : str
            Its SQL text.
        params : sequence, optional
            The values of its ``?`` placeholders (stored as JSON: times as UTC ISO text).

        Returns
        -------
        int
            The query's seq.

        Raises
        ------
        CaseInputError
            For a blank name or SQL text.

        Examples
        --------
        >>> import tempfile
        >>> case = Case.open(tempfile.mkdtemp(), analyst="alice")
        >>> case.save_query("by ip", "SELECT * FROM t WHERE src_endpoint.ip = ?", ["203.0.113.7"])
        1
        >>> case.queries[["name", "params"]].values.tolist()
        [['by ip', '["203.0.113.7"]']]
        """
        if not isinstance(name, str) or not name.strip() or not isinstance(sql, str) or not sql.strip():
            raise CaseInputError("save_query needs a non-blank name and SQL text.")
        return _append(self.path, self.analyst, [("query", {"name": name, "sql": sql, "params": list(params or [])})])[0]

    def retract(self, seq: int, reason: str) -> int:
        """Withdraw a bookmark, note, IOC, query or export by appending a ``retract`` entry.

        Nothing is rewritten: the views leave the entry out from then on and :meth:`timeline`
        flags it.  Evidence files stay, and stay verified.

        Parameters
        ----------
        seq : int
            The entry to withdraw.
        reason : str
            Why.

        Returns
        -------
        int
            The retraction's seq.

        Raises
        ------
        CaseInputError
            For a blank reason, a seq that is not a bookmark, note, IOC, query or export of
            this case, or one already retracted.

        Examples
        --------
        >>> import tempfile
        >>> case = Case.open(tempfile.mkdtemp(), analyst="alice")
        >>> vpn = case.add_ioc("ip", "198.51.100.1")
        >>> case.retract(vpn, "our own VPN egress")
        2
        >>> len(case.iocs), case.timeline()["retracted"].tolist()
        (0, [False, True, False])
        """
        if not isinstance(reason, str) or not reason.strip():
            raise CaseInputError("Say why the entry is retracted (reason='…').")
        with _locked(self.path):
            entries = self._entries()
            kinds = {e.get("seq"): e.get("kind") for e in entries}
            if kinds.get(seq) not in RETRACTABLE:
                raise CaseInputError(f"seq {seq!r} is not a bookmark, note, IOC, query or export of this case.")
            if any(e.get("kind") == "retract" and e["payload"].get("seq") == seq for e in entries):
                raise CaseInputError(f"seq {seq} is already retracted.")
            return _append_locked(self.path, self.analyst,
                                  [("retract", {"seq": seq, "kind": kinds[seq], "reason": reason})])[0]

    def repair(self) -> int | None:
        """Record and remove an incomplete last log line so writing can continue.

        The incomplete bytes (base64), their size and SHA-256 go into a ``repair`` entry with
        ``head_before``, the ``log.head.json`` record found (when it names a later seq than the
        log kept, whole entries had been cut off, and the entry says so).  This is the only
        operation that shortens ``log.jsonl``, and only by the bytes after its last newline.

        Returns
        -------
        int or None
            The repair entry's seq, or ``None`` when the log was complete.

        Examples
        --------
        >>> import tempfile, warnings
        >>> case = Case.open(tempfile.mkdtemp(), analyst="alice")
        >>> _ = case.note("kept")
        >>> with open(case.path / "log.jsonl", "ab") as log:  # a write cut short
        ...     _ = log.write(b'{"seq": 2, "ti')
        >>> case.verify().ok
        False
        >>> case.repair()
        2
        >>> case.verify().ok, case.repair()
        (True, None)
        """
        return _repair(self.path, self.analyst)

    # -- evidence --------------------------------------------------------------------------

    def export(self, df: pd.DataFrame, name: str, note: str = "") -> Path:
        """Write a frame as evidence ``evidence/<name>.parquet`` with a manifest, and log it.

        Arrow dtypes (lists, maps, structs, tz-aware times) and other pandas dtypes are kept
        (:meth:`read_evidence` restores them).  The manifest (``evidence/<name>.manifest.json``
        and the ``export`` log entry) holds the file's SHA-256 and size, rows, columns and dtypes,
        the query (sql, translated_sql, params, engine) and lake location from ``df.attrs``,
        Athena query ids and bytes scanned, the load window and the span of ``time_dt``/``time``,
        tool versions, analyst and ``exported_at`` (UTC).

        Parameters
        ----------
        df : pandas.DataFrame
            The frame, typically a lake load or SQL result (its ``attrs`` are the provenance).
        name : str
            1-100 of ``A-Z a-z 0-9 . _ -``, starting with a letter or digit, no extension.
        note : str, optional
            What the evidence shows.

        Returns
        -------
        pathlib.Path
            The Parquet file.

        Raises
        ------
        EvidenceExistsError
            When the name is taken (case-insensitively, also by deleted evidence); the message
            suggests a free one.  Evidence is never overwritten.
        CaseInputError
            For a bad name, or a frame Parquet cannot hold.
        CorruptCaseError
            When the log is damaged; no files are left behind.
        TypeError
            When ``df`` is not a DataFrame.

        Examples
        --------
        >>> import tempfile
        >>> import slake_forensics as sf
        >>> rows = sf.Lake.sample().load("cloud_trail_mgmt", "2026-05-24T00:00Z", "2026-05-25T00:00Z",
        ...                              columns=["time_dt", "metadata.uid", "api.operation"]).head(3)
        >>> case = Case.open(tempfile.mkdtemp(), analyst="alice")
        >>> path = case.export(rows, "ct_first3", note="first calls of the day")
        >>> path.relative_to(case.path).as_posix()
        'evidence/ct_first3.parquet'
        >>> sorted(p.name for p in path.parent.iterdir())
        ['ct_first3.manifest.json', 'ct_first3.parquet']
        >>> manifest = case.exports.iloc[0]
        >>> manifest["name"], manifest["rows"], len(manifest["sha256"])
        ('ct_first3', 3, 64)
        """
        return _export(self.path, self.case_id, self.analyst, df, name, note)

    def read_evidence(self, name: str, check: bool = True) -> pd.DataFrame:
        """Read evidence back with its original dtypes; ``attrs`` hold its manifest.

        Parameters
        ----------
        name : str
            The name it was exported under (see :attr:`exports`).
        check : bool, default True
            Compare the file's SHA-256 with the manifest first.

        Returns
        -------
        pandas.DataFrame
            The exported frame, columns, dtypes and index as they were; ``attrs`` is its manifest.

        Raises
        ------
        CaseInputError
            For a bad or unknown name, or a missing file.
        CorruptCaseError
            With ``check``, when the file no longer matches its manifest.

        Examples
        --------
        >>> import tempfile
        >>> import slake_forensics as sf
        >>> rows = sf.Lake.sample().load("cloud_trail_mgmt", "2026-05-24T00:00Z", "2026-05-25T00:00Z",
        ...                              columns=["time_dt", "metadata.uid", "api.operation"]).head(3)
        >>> case = Case.open(tempfile.mkdtemp(), analyst="alice")
        >>> _ = case.export(rows, "ct_first3")
        >>> back = case.read_evidence("ct_first3")
        >>> back.equals(rows), back.dtypes.equals(rows.dtypes)
        (True, True)
        >>> back.attrs["source"], back.attrs["rows"], back.attrs["analyst"]
        ('cloud_trail_mgmt', 3, 'alice')
        """
        return _read_evidence(self.path, name, check)

    # -- views -----------------------------------------------------------------------------

    def _entries(self) -> list[dict[str, Any]]:
        """Readable log entries in order; warns (:class:`CaseIntegrityWarning`) about lines left out."""
        log = _read_log(self.path)
        bad = sum(e is None for e in log.entries)
        if bad or log.torn:
            warnings.warn(f"{self.path / _LOG}: {bad} unreadable line(s)"
                          f"{' and an incomplete last line' if log.torn else ''} left out; run case.verify().",
                          CaseIntegrityWarning, stacklevel=3)
        return [e for e in log.entries if e is not None and isinstance(e.get("payload"), dict)]

    def _live(self, kind: str) -> pd.DataFrame:
        """The view of ``kind``'s entries not retracted (warns about unreadable lines)."""
        return _view(self._entries(), kind)

    @property
    def bookmarks(self) -> pd.DataFrame:
        """Live bookmarks: ``seq, logged_at, analyst, time, source, uid, note, tags, row``.

        ``logged_at`` is when the entry was written and ``time`` the event's time (both UTC);
        ``tags`` is a list; ``row`` the event's snapshot as JSON text.  Retracted bookmarks are
        left out.

        Examples
        --------
        >>> import tempfile
        >>> case = Case.open(tempfile.mkdtemp(), analyst="alice")
        >>> _ = case.bookmark("evt-1", "vpc_flow", note="flow to the C2", time="2026-05-24T01:02:03Z")
        >>> list(case.bookmarks.columns)
        ['seq', 'logged_at', 'analyst', 'time', 'source', 'uid', 'note', 'tags', 'row']
        >>> case.bookmarks[["uid", "note"]].values.tolist()
        [['evt-1', 'flow to the C2']]
        """
        return self._live("bookmark")

    @property
    def notes(self) -> pd.DataFrame:
        """Live notes: ``seq, logged_at, analyst, text``.

        Examples
        --------
        >>> import tempfile
        >>> case = Case.open(tempfile.mkdtemp(), analyst="alice")
        >>> wrong = case.note("Key rotated at 13:05")
        >>> _ = case.note("Key rotated at 14:05")
        >>> _ = case.retract(wrong, "typo in the time")  # retracted entries leave the views
        >>> case.notes[["seq", "analyst", "text"]].values.tolist()
        [[2, 'alice', 'Key rotated at 14:05']]
        """
        return self._live("note")

    @property
    def iocs(self) -> pd.DataFrame:
        """Live IOCs: ``seq, logged_at, analyst, type, value, original, note`` (``value`` normalized).

        Examples
        --------
        >>> import tempfile
        >>> case = Case.open(tempfile.mkdtemp(), analyst="alice")
        >>> _ = case.add_ioc("hash", "D41D8CD98F00B204E9800998ECF8427E", note="dropper")
        >>> _ = case.add_ioc("bucket", "s3://acme-payroll-exports/")
        >>> case.iocs["value"].tolist()
        ['d41d8cd98f00b204e9800998ecf8427e', 'acme-payroll-exports']
        >>> case.iocs["original"].tolist()
        ['D41D8CD98F00B204E9800998ECF8427E', 's3://acme-payroll-exports/']
        """
        return self._live("ioc")

    @property
    def queries(self) -> pd.DataFrame:
        """Live saved queries: ``seq, logged_at, analyst, name, sql, params`` (params as JSON text).

        Examples
        --------
        >>> import tempfile
        >>> import pandas as pd
        >>> case = Case.open(tempfile.mkdtemp(), analyst="alice")
        >>> _ = case.save_query("root since", "SELECT * FROM t WHERE actor.user.type = 'Root' AND time_dt >= ?",
        ...                     [pd.Timestamp("2026-05-24T02:00:00+02:00")])
        >>> case.queries["params"].tolist()  # times as UTC ISO text
        ['["2026-05-24T00:00:00.000000Z"]']
        """
        return self._live("query")

    @property
    def exports(self) -> pd.DataFrame:
        """Live evidence: ``seq, logged_at, analyst, name, rows, sha256, size_bytes, sql, note``.

        Examples
        --------
        >>> import tempfile
        >>> import pandas as pd
        >>> case = Case.open(tempfile.mkdtemp(), analyst="alice")
        >>> _ = case.export(pd.DataFrame({"ip": ["203.0.113.7"]}), "scanner_ips")
        >>> list(case.exports.columns)
        ['seq', 'logged_at', 'analyst', 'name', 'rows', 'sha256', 'size_bytes', 'sql', 'note']
        >>> case.exports[["name", "rows"]].values.tolist()
        [['scanner_ips', 1]]
        """
        return self._live("export")

    def timeline(self) -> pd.DataFrame:
        """Every log entry in order, retracted ones flagged, shaped like an event timeline.

        Returns
        -------
        pandas.DataFrame
            Columns ``time, source, uid, summary, seq, kind, analyst, retracted, payload``:
            ``time`` is when the entry was logged (UTC), ``source`` is ``"case"``, ``uid`` is
            ``<case_id>#<seq>``, ``payload`` the entry's payload as JSON text.

        Examples
        --------
        >>> import tempfile
        >>> case = Case.open(tempfile.mkdtemp(), analyst="alice", case_id="IR-42", title="Leaked CI key")
        >>> _ = case.add_ioc("access_key", "AKIAIOSFODNN7EXAMPLE")
        >>> tl = case.timeline()
        >>> list(tl.columns)
        ['time', 'source', 'uid', 'summary', 'seq', 'kind', 'analyst', 'retracted', 'payload']
        >>> tl[["uid", "summary"]].values.tolist()
        [['IR-42#0', 'case created: Leaked CI key'], ['IR-42#1', 'IOC access_key AKIAIOSFODNN7EXAMPLE']]
        """
        return _timeline(self._entries(), self.case_id)

    # -- verification ----------------------------------------------------------------------

    def verify(self) -> VerifyReport:
        """Re-check the whole case and report every check and problem.

        Checks the header, the log's hash chain, the head record, every evidence file and its
        manifest, and looks for files nobody exported.

        Returns
        -------
        VerifyReport
            ``ok``, the ``checks`` frame, ``problems`` and a readable ``str``.  It never raises
            for damage it finds.

        Examples
        --------
        >>> import tempfile
        >>> import pandas as pd
        >>> case = Case.open(tempfile.mkdtemp(), analyst="alice")
        >>> _ = case.export(pd.DataFrame({"ip": ["203.0.113.7"]}), "scanner_ips")
        >>> case.verify().ok
        True
        >>> _ = (case.path / "evidence" / "planted.parquet").write_bytes(b"PAR1")
        >>> report = case.verify()
        >>> report.ok, report.problems
        (False, ['evidence/planted.parquet: not exported through the case (added, renamed, or left by an interrupted export)'])
        """
        return _verify(self.path)


# ---- helpers -----------------------------------------------------------------------------------


def _os_user() -> str:
    """The OS login name (``uid-<n>`` where the system has none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


#: What :func:`_create` writes, in that order (``case.json`` last, through a ``.case.json.*.tmp`` sibling).
_CREATED = frozenset({".lock", "evidence", "reports", _LOG, "log.head.json"})


def _refuse_non_case(root: Path, creating: bool = False) -> None:
    """Raise :class:`NotACaseError` if ``root`` (which has no ``case.json``) holds anything but a lock file,
    or, with ``creating`` (another process may hold the lock and be creating the case), anything but
    the files a case creation writes."""
    ours = _CREATED if creating else {".lock"}
    others = sorted(p.name for p in root.iterdir()
                    if p.name not in ours and not (creating and p.name.startswith((".case.json.", ".log.head.json."))))
    if others and (root / "case.json").exists():  # created meanwhile
        return
    if others and not creating and set(others) <= _CREATED:
        raise NotACaseError(
            f"{root} holds a case whose creation was interrupted (it has {', '.join(others)} but no case.json). "
            "Move those files away, or remove the folder, and open it again to create the case."
        )
    if others:
        raise NotACaseError(
            f"{root} is not a case: it has no case.json but holds {', '.join(others[:5])}"
            f"{' …' if len(others) > 5 else ''}. Open an existing case folder, or a new or empty folder to create one."
        )


_CUSTOM_NAME = re.compile(r"ext_[a-z0-9][a-z0-9_]{0,63}")


def _check_source(source: Any) -> None:
    """Raise :class:`CaseInputError` unless ``source`` names a catalog source or a custom ``ext_<name>`` one."""
    if not isinstance(source, str):
        raise CaseInputError(f"source must be a source name such as 'cloud_trail_mgmt', not {type(source).__name__}.")
    if _CUSTOM_NAME.fullmatch(source):
        return
    try:
        catalog.source(source)
    except UnknownSourceError as exc:
        raise CaseInputError(f"Cannot bookmark an event of source {source!r}: {exc} "
                             "Custom sources are named 'ext_<name>' (lower case).") from None


def _first(fields: Mapping[str, Any], *names: str) -> Any:
    """The first of ``names`` present in ``fields`` with a non-missing value, else ``None``."""
    return next((fields[n] for n in names if not _missing(fields.get(n))), None)


def _missing(value: Any) -> bool:
    """Whether ``value`` is ``None``, ``pd.NA``, ``pd.NaT`` or a float NaN."""
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _is_time(value: Any) -> bool:
    """Whether a row's ``time`` holds a time (a timeline) rather than OCSF epoch milliseconds."""
    return isinstance(value, pd.Timestamp | dt.datetime | str) and value is not pd.NaT


def _focus_value(value: Any) -> Any:
    """A focus scope value as JSON: timestamps as UTC ISO-8601 text, sequences as lists of those."""
    if isinstance(value, pd.Timestamp | dt.datetime):
        return to_utc(value).isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Iterable):
        return [_focus_value(v) for v in value]
    return str(value)
