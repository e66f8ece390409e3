"""Verification of a whole case: header, log hash chain, head record, evidence files and manifests."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from slake_forensics.case.encoding import _file_sha256, _sha256
from slake_forensics.case.evidence import _exports
from slake_forensics.case.log import _HEAD, _LOG, GENESIS, KINDS, _Log, _read_head, _read_log


@dataclass(frozen=True)
class VerifyReport:
    """The result of :meth:`Case.verify`: every check made, and whether any failed.

    Parameters
    ----------
    case : pathlib.Path
        The case folder checked.
    checks : pandas.DataFrame
        One row per check: ``check`` (``header``, ``log``, ``head``, ``evidence``, ``manifest``,
        ``unexpected``), ``target`` (a path relative to the case), ``status`` (``ok``, ``warn``
        or ``FAIL``) and ``detail``.
    head : str or None
        The SHA-256 of the last complete log line (record it outside the case to detect a later
        rewrite of the whole log); ``None`` for an empty or missing log.

    See Also
    --------
    Case.verify : Makes the report.

    Examples
    --------
    >>> import tempfile
    >>> from slake_forensics.case import Case
    >>> case = Case.open(tempfile.mkdtemp(), analyst="alice", title="Leaked CI key")
    >>> _ = case.note("Key AKIA… used from 203.0.113.7")
    >>> report = case.verify()
    >>> report.ok, report.problems
    (True, [])
    >>> list(report.checks.columns)
    ['check', 'target', 'status', 'detail']
    >>> report.checks[["check", "target", "status"]].values.tolist()
    [['header', 'case.json', 'ok'], ['log', 'log.jsonl', 'ok'], ['head', 'log.head.json', 'ok']]
    >>> len(report.head)
    64
    >>> _ = (case.path / "case.json").write_text("{}")  # an edited header fails its check
    >>> print(case.verify().problems)
    ['case.json: changed since creation (SHA-256 differs from log entry 0)']
    """

    case: Path
    checks: pd.DataFrame
    head: str | None

    @property
    def ok(self) -> bool:
        """Whether no check failed (``warn`` rows do not count).

        Examples
        --------
        >>> from pathlib import Path
        >>> import pandas as pd
        >>> checks = pd.DataFrame([("head", "log.head.json", "warn", "a write interrupted before updating the head?")],
        ...                       columns=["check", "target", "status", "detail"])
        >>> VerifyReport(Path("IR-42"), checks, None).ok
        True
        """
        return not (self.checks["status"] == "FAIL").any()

    @property
    def problems(self) -> list[str]:
        """``"<target>: <detail>"`` of every failed check, in check order.

        Examples
        --------
        >>> from pathlib import Path
        >>> import pandas as pd
        >>> checks = pd.DataFrame([("evidence", "evidence/keys.parquet", "FAIL", "missing (deleted or moved)"),
        ...                        ("header", "case.json", "ok", "unchanged since creation")],
        ...                       columns=["check", "target", "status", "detail"])
        >>> VerifyReport(Path("IR-42"), checks, None).problems
        ['evidence/keys.parquet: missing (deleted or moved)']
        """
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


def _verify(root: Path) -> VerifyReport:
    """Check the case folder ``root`` (see :meth:`Case.verify`); never raises for damage it finds."""
    checks: list[tuple[str, str, str, str]] = []

    def add(check: str, target: str, problem: str | None, ok_detail: str = "", status: str = "FAIL") -> None:
        checks.append((check, target, status if problem else "ok", problem or ok_detail))

    if not (root / _LOG).exists():
        add("log", _LOG, "missing: the case's record is gone")
        log = _Log([], [], b"", 0)
    else:
        log = _read_log(root)
    entries = log.entries
    first = entries[0] if entries else None

    try:
        header_bytes = (root / "case.json").read_bytes()
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
            add("log", f"{_LOG} line {i + 1}", problem)
        prev = digest
    if log.torn:
        chain_ok = False
        add("log", f"{_LOG} line {len(entries) + 1}",
            f"incomplete last line ({len(log.torn)} bytes, no newline): truncated or interrupted write; "
            "case.repair() records it")
    if (root / _LOG).exists() and chain_ok:
        add("log", _LOG, None, f"{len(entries)} entries, hash chain intact")

    last_seq, last_hash = len(entries) - 1, (log.hashes[-1] if log.hashes else None)
    head = _read_head(root)
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
    for entry in _exports(entries):
        manifest = entry["payload"]
        name = str(manifest.get("name"))
        pq_name, mf_name = f"{name}.parquet", f"{name}.manifest.json"
        expected |= {pq_name, mf_name}
        path = root / "evidence" / pq_name
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
            on_disk = json.loads((root / "evidence" / mf_name).read_bytes())
            add("manifest", f"evidence/{mf_name}", None if on_disk == manifest else
                "differs from the manifest recorded in the log", "matches the log")
        except FileNotFoundError:
            add("manifest", f"evidence/{mf_name}", "missing (deleted or moved)")
        except ValueError:
            add("manifest", f"evidence/{mf_name}", "not valid JSON (edited or damaged)")
    folder = root / "evidence"
    for p in sorted(folder.iterdir()) if folder.is_dir() else []:
        if p.name not in expected:
            add("unexpected", f"evidence/{p.name}", "not exported through the case (added, renamed, or left by "
                                                    "an interrupted export)")
    if not folder.is_dir():
        add("evidence", "evidence/", "folder missing")
    frame = pd.DataFrame(checks, columns=["check", "target", "status", "detail"])
    return VerifyReport(root, frame, last_hash)
