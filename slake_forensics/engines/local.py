"""A Security Lake in a local folder: Parquet files in the real S3 key layout.

Loads read only the files whose path (source, region, account, event day) can hold matching
rows, project nested columns at read time and filter ``time_dt`` with Parquet statistics.
SQL runs on DuckDB over views of the referenced sources, after :mod:`..athena_sql`
translates Athena's dialect.

Both source versions are read: a source's name (``cloud_trail_mgmt``) gives its version-2 rows
and its version-1 rows presented in version-2 names (:mod:`slake_forensics.core.versions`).
Files as AWS writes them (partition columns only in the key, legacy 2-level lists, NOT NULL
fields) are reconciled with the catalog schema the same way.  Every file below ``aws/`` and
``ext/`` is either read or reported with its reason (:attr:`LocalEngine.skipped`).
"""
from __future__ import annotations

import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from slake_forensics.core import layout, ocsf, versions
from slake_forensics.engines import prefilter
from slake_forensics.sql.translate import translate
from slake_forensics.core.catalog import (
    SOURCE_VERSION,
    SOURCES,
    TIMESTAMP_TYPE,
    V1_SOURCES,
    Source,
    custom_source,
    source as find_source,
    table_source,
)
from slake_forensics.core.errors import (
    BadWindowError,
    CorruptFileError,
    MisplacedFileError,
    NoPartitionsError,
    NotALakeError,
    QueryError,
    QueryInterrupted,
    QueryTimeout,
    SandboxError,
    SchemaMismatchError,
    SlakeError,
    TooManyRowsError,
    UNREADABLE_PARQUET,
    UnknownColumnError,
    UnknownSourceError,
)
from slake_forensics.core.config import RAISE_LIMIT, query_limits
from slake_forensics.core.scope import id_list
from slake_forensics.engines.base import Engine, Explanation
from slake_forensics.sql.build import load_query
from slake_forensics.core.timewindow import TimeLike, Window

LAYOUT = (
    "aws/<SOURCE_NAME>/2.0/region=<region>/accountId=<12 digits>/eventDay=<YYYYMMDD>/<name>.parquet "
    "(or 1.0 for source version 1; custom sources: ext/<name>/[<version>/]region=…/accountId=…/eventDay=…/<name>.parquet)"
)
_SORT = "__slake_time"
#: ``(file, signature)`` of Parquet files: an MD5 of their schema elements in order.
_SCHEMA_SIGNATURES = """
SELECT file_name, md5(string_agg(concat_ws(':', name, type, repetition_type, num_children, converted_type,
                                           logical_type, type_length, scale, precision), ',' ORDER BY n))
FROM (SELECT *, row_number() OVER () AS n FROM parquet_schema(?))
GROUP BY file_name
"""
#: Queries with more rows passing their filter than this run in one phase (see :mod:`.prefilter`).
_PREFILTER_CAP = 100_000
#: Seconds between the calling thread's checks for Ctrl-C and the deadline while a query runs.
_POLL_S = 0.05
#: Seconds a stopped query's worker is given to end before the caller gets control back anyway.
_STOP_GRACE_S = 0.5
OnError = Literal["raise", "skip"]
_PARQUET = ds.ParquetFileFormat()
_LOCAL_FS = pafs.LocalFileSystem()


class _PlainFile(NamedTuple):
    """What a load needs of a data file that holds its source's classes, read once from its footer.

    Only this is kept, not the parsed footer: that costs ~300 kB a file, and a scan reads it again
    faster than that would save (no difference measured on the bench window)."""

    #: Its Arrow schema (one object per distinct schema of the lake).
    schema: pa.Schema
    #: First and last ``time_dt`` from the statistics of every row group, ``None`` when one is missing.
    span: tuple[pd.Timestamp, pd.Timestamp] | None


class SkippedFileWarning(UserWarning):
    """A file of the lake was not read (unreadable, misplaced, bad partition name …) and was skipped."""


class OutsideDayWarning(UserWarning):
    """Rows of a file lie outside its partition's event day: kept and counted by their time, and named with their count."""


class LocalEngine(Engine):
    """A lake below a local folder (``<path>/aws/<SOURCE_NAME>/2.0/…``); see :class:`Lake`.

    The folder is scanned once when the lake is created; call :meth:`refresh` after adding files.
    """

    def __init__(self, path: str | os.PathLike[str], now: TimeLike | None = None) -> None:
        root = Path(path).expanduser().resolve()
        super().__init__(str(root), now)
        self.root = root
        self._schemas: dict[Path, tuple[tuple[int, int], str | None]] = {}
        self._inspected: dict[Path, tuple[tuple[int, int], tuple[bool, str, str]]] = {}
        self._plain_files: dict[Path, tuple[tuple[int, int], _PlainFile | None]] = {}
        self._distinct_schemas: dict[pa.Schema, pa.Schema] = {}
        self.refresh()

    def refresh(self) -> None:
        """Rescan the folder for data files; raises :class:`NotALakeError` if it holds none."""
        if not self.root.is_dir():
            raise NotALakeError(
                f"{self.root} is not a folder. A local lake is a folder holding Security Lake's "
                f"S3 layout: {LAYOUT}."
            )
        keys: dict[str, layout.Partition] = {}
        skipped: dict[str, str] = {}
        custom: dict[tuple[str, str], list[str]] = {}
        for top in ("aws", "ext"):
            for path in sorted((self.root / top).rglob("*")):
                if not path.is_file() or path.name.startswith("."):
                    continue
                key = path.relative_to(self.root).as_posix()
                part = layout.classify(key)
                if isinstance(part, layout.Partition):
                    keys[key] = part
                elif layout.custom_key(key) is not None:
                    custom.setdefault(layout.custom_key(key) or ("", ""), []).append(key)
                else:
                    skipped[key] = part
        for (name, version), found in custom.items():
            classes = versions.file_classes([self.root / k for k in found])
            src = custom_source(name, classes, version)
            for key in found:
                keys[key] = layout.classify(key, {(name, version): src})  # type: ignore[assignment]
        if not keys:
            raise NotALakeError(self._not_a_lake_message(skipped))
        self._keys = keys
        #: The data files' keys per source name (both versions), for :meth:`files`.
        self._keys_of: dict[str, dict[str, layout.Partition]] = {}
        for key, part in keys.items():
            self._keys_of.setdefault(part.source.name, {})[key] = part
        #: Files below ``aws/`` and ``ext/`` that are not data files of a known source, with the reason.
        self.skipped: dict[str, str] = skipped

    def _not_a_lake_message(self, skipped: dict[str, str]) -> str:
        msg = f"No Security Lake data files below {self.root}. Expected the layout {LAYOUT} (source names: " + ", ".join(
            s.source_name for s in SOURCES.values()
        ) + ")."
        if skipped:
            shown = "; ".join(f"{k}: {r}" for k, r in list(skipped.items())[:5])
            msg += f" Found {len(skipped)} file(s) below aws/ or ext/ that are not data files of a known source: {shown}."
        nested = next((p.parent for p in self.root.glob("*/**/aws") if p.is_dir()), None)
        if nested is not None:
            msg += f" An 'aws' folder exists at {nested / 'aws'}: try Lake.local({str(nested)!r})."
        elif self.root.name == "aws" or "aws" in self.root.parts:
            top = self.root.parents[len(self.root.parts) - 1 - list(self.root.parts).index("aws")]
            msg += f" This path is inside the layout; point at the folder that contains 'aws': Lake.local({str(top)!r})."
        return msg

    # ---- files ----------------------------------------------------------------------------

    def _present(self) -> dict[Source, list[str]]:
        """Keys per source as an investigation reads it (version-1 keys under their version-2 source)."""
        out: dict[Source, list[str]] = {}
        for key, part in sorted(self._keys.items()):
            out.setdefault(part.source.investigated_as, []).append(key)
        return out

    def custom_sources(self) -> list[Source]:
        """The custom sources (``ext/<name>/``) of this lake."""
        return sorted({p.source for p in self._keys.values() if p.source.custom}, key=lambda s: s.name)

    def _skipped_of(self, src: Source) -> dict[str, str]:
        """Skipped files (:attr:`skipped`) whose key names ``src`` (its API name or ``ext/<name>``)."""
        marks = (f"aws/{src.source_name}/", f"ext/{src.source_name}/")
        return {k: r for k, r in self.skipped.items() if k.startswith(marks)}

    def _warn_skipped(self, skipped: dict[str, str], stacklevel: int = 3) -> None:
        if skipped:
            listed = "; ".join(f"{k} ({r})" for k, r in skipped.items())
            warnings.warn(f"Skipped {len(skipped)} file(s) of the lake: {listed}", SkippedFileWarning, stacklevel=stacklevel)

    def files(
        self,
        source: str | Source,
        window: Window | None = None,
        accounts: Iterable[str] | str | None = None,
        regions: Iterable[str] | str | None = None,
    ) -> list[Path]:
        """Data files of ``source`` whose path lies in the window, accounts and regions (sorted).

        Pruning is by path only (no file is opened).  ``None`` means no filter.  A version-2 source
        (or its name) gives the files of both versions; a version-1 :class:`Source` only its own.
        """
        src = source if isinstance(source, Source) else find_source(source)
        only = None if src.version == SOURCE_VERSION or src.custom else [src.version]
        keys = layout.select(self._keys_of.get(src.name, {}), src, window, id_list(accounts, "accounts"), id_list(regions, "regions"), only)
        return [self.root / k for k in keys]

    def _part(self, path: Path) -> layout.Partition:
        return self._keys[path.relative_to(self.root).as_posix()]

    def _no_partitions(self, src: Source, window: Window, accounts: list[str] | None, regions: list[str] | None) -> NoPartitionsError:
        parts = [p for p in self._keys.values() if p.source.name == src.name]
        asked = f"{src.name} in {window}" + (f", accounts {accounts}" if accounts is not None else "") + (
            f", regions {regions}" if regions is not None else ""
        )
        if not parts:
            present = sorted({p.source.name for p in self._keys.values()})
            return NoPartitionsError(
                f"No partitions for {asked}: this lake has no {src.name} data at all. Sources present: {', '.join(present)}."
            )
        days = sorted({p.day for p in parts})
        return NoPartitionsError(
            f"No partitions for {asked}. {src.name} has event days {days[0]}..{days[-1]} ({len(days)} days), "
            f"accounts {sorted({p.account for p in parts})}, regions {sorted({p.region for p in parts})}. "
            "Widen the window or change the account/region filters."
        )

    # ---- sources --------------------------------------------------------------------------

    def sources(self) -> pd.DataFrame:
        """One row per source present (see :meth:`Lake.sources`); also ``files`` (count), ``versions``
        (the source versions present), ``spans`` (per version: first and last event) and
        ``skipped_files`` (count of the source's files not read).

        Row counts and first/last event come from Parquet footers (statistics of ``time_dt``, or of
        ``time`` in version-1 files).  Files not read — unreadable, holding another source's class,
        or not in the layout (bad partition name, unknown source or version) — are reported with a
        :class:`SkippedFileWarning` and listed with their reason in ``attrs["skipped"]``
        (``attrs["skipped_files"]`` lists their paths).
        """
        rows, skipped = [], dict(self.skipped)
        region = self.region or "us-east-1"
        for src, keys in self._present().items():
            paths = [self.root / k for k in keys]
            with ThreadPoolExecutor(_workers(len(paths))) as pool:
                stats = list(pool.map(_footer_stats, paths))
            spans: dict[str, list[pd.Timestamp]] = {}
            total = 0
            for key, path, st in zip(keys, paths, stats):
                part = self._keys[key]
                problem = str(st) if isinstance(st, Exception) else _class_problem(st[3], part) or _drift_problem(path, part)
                if problem:
                    skipped[key] = problem if not isinstance(st, Exception) else f"unreadable: {problem}"
                    continue
                assert not isinstance(st, Exception)
                total += st[0]
                span = spans.setdefault(part.version or "-", [])
                span += [t for t in st[1:3] if t is not None]
            times = [t for span in spans.values() for t in span]
            parts = [self._keys[k] for k in keys]
            rows.append(
                {
                    "source": src.name,
                    "table": src.qualified_table(region),
                    "classes": list(src.classes),
                    "accounts": sorted({p.account for p in parts}),
                    "regions": sorted({p.region for p in parts}),
                    "first_event": min(times) if times else pd.NaT,
                    "last_event": max(times) if times else pd.NaT,
                    "rows": total,
                    "files": len(keys),
                    "versions": sorted({p.version for p in parts}),
                    "spans": {v: (min(t), max(t)) if t else (pd.NaT, pd.NaT) for v, t in sorted(spans.items())},
                    "skipped_files": sum(1 for k in skipped if k in set(keys)) + len(self._skipped_of(src)),
                }
            )
        df = pd.DataFrame(rows)
        for col in ("first_event", "last_event"):
            df[col] = pd.to_datetime(df[col], utc=True)
        self._warn_skipped(skipped)
        outside = self._warn_outside(self.root / k for k in self._keys if k not in skipped)
        df.attrs = {
            "lake": self.location,
            "skipped_files": [str(self.root / k) for k in skipped],
            "skipped": skipped,
            "outside_day": {str(self.root / k): d for k, d in outside.items()},
        }
        return df

    # ---- load -----------------------------------------------------------------------------

    def _plan(
        self,
        source: str,
        start: TimeLike,
        end: TimeLike,
        accounts: Iterable[str] | str | None = None,
        regions: Iterable[str] | str | None = None,
        columns: Iterable[str] | str | None = None,
    ) -> tuple[Source, Window, list[str] | None, list[str] | None, list[str] | None, list[Path]]:
        src = find_source(source)
        window = Window.of(start, end)
        accts, regs = id_list(accounts, "accounts"), id_list(regions, "regions")
        paths = self.files(src, window, accts, regs)
        if not paths:
            raise self._no_partitions(src, window, accts, regs)
        cols = None if columns is None else self._check_columns(src, columns, paths)
        return src, window, accts, regs, cols, paths

    def _check_columns(self, src: Source, columns: Iterable[str] | str, paths: list[Path]) -> list[str]:
        cols = [columns] if isinstance(columns, str) else list(columns)
        try:
            return ocsf.check_columns(cols, src.schema, f"source {src.name}")
        except UnknownColumnError:
            # the files may carry columns beyond the catalog (schema drift): accept those too
            schemas = [src.schema] + [_schema_or_none(p) for p in paths]
            known = [c for c in cols if any(s is not None and ocsf.type_at(s, c) is not None for s in schemas)]
            if len(known) == len(cols):
                return cols
            raise

    def load(
        self,
        source: str,
        start: TimeLike,
        end: TimeLike,
        accounts: Iterable[str] | str | None = None,
        regions: Iterable[str] | str | None = None,
        columns: Iterable[str] | str | None = None,
        *,
        on_error: OnError = "raise",
    ) -> pd.DataFrame:
        """Events of ``source`` in ``[start, end)`` (see :meth:`Lake.load`).

        Opens only the files the path filter keeps (listed in ``attrs["files"]``): those of both
        source versions, version-1 rows presented in version-2 names.  A file that cannot be read
        raises :class:`CorruptFileError` naming it, one whose schema cannot be reconciled with the
        catalog :class:`SchemaMismatchError`, one holding another source's class
        :class:`MisplacedFileError`; with ``on_error="skip"`` such a file is skipped with a
        :class:`SkippedFileWarning` and listed in ``attrs["skipped_files"]``.  Files of the source
        not in the layout (bad partition name) are always skipped with that warning.
        """
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}.")
        src, window, accts, regs, cols, paths = self._plan(source, start, end, accounts, regions, columns)
        table, skipped = self._read_plain(src, window, cols, paths), list[str]()
        if table is None:
            table, skipped = self._read_each(src, window, cols, paths, on_error)
        self._warn_skipped(self._skipped_of(src))
        outside = self._warn_outside([p for p in paths if str(p) not in skipped])
        times = table[_SORT]
        table = table.drop_columns([_SORT])
        if not _ascending(times):  # a stable sort: rows of equal time keep the files' order
            table = table.take(pc.sort_indices(times))
        df = ocsf.flatten(table)
        sql, params = self._athena_sql(src, window, accts, regs, cols)
        df.attrs = {
            "source": src.name,
            "window": (window.start, window.end),
            "accounts": accts,
            "regions": regs,
            "columns": cols,
            "files": [str(p) for p in paths if str(p) not in skipped],
            "skipped_files": skipped,
            "outside_day": {str(self.root / k): d for k, d in outside.items()},
            "lake": self.location,
            "engine": "pyarrow",
            "sql": sql,
            "params": params,
        }
        return df

    def _read_each(
        self, src: Source, window: Window, cols: list[str] | None, paths: list[Path], on_error: OnError
    ) -> tuple[pa.Table, list[str]]:
        """The rows of ``paths`` read file by file (:func:`_read`) with the sort column, and the files
        skipped (``on_error="skip"``, with a :class:`SkippedFileWarning` each)."""
        with ThreadPoolExecutor(_workers(len(paths))) as pool:
            results = list(pool.map(lambda p: _try_read(p, self._part(p), src, window, cols), paths))
        tables, skipped = [], []
        for path, result in zip(paths, results):
            if isinstance(result, pa.Table):
                tables.append(result)
                continue
            error = self._file_error(path, result)
            if on_error == "raise":
                raise error from result
            skipped.append(str(path))
            warnings.warn(f"Skipping a file: {error}", SkippedFileWarning, stacklevel=3)
        return (pa.concat_tables(tables, promote_options="permissive") if tables else _empty(src, cols)), skipped

    def _read_plain(self, src: Source, window: Window, cols: list[str] | None, paths: list[Path]) -> pa.Table | None:
        """The rows of ``paths`` read in one scan, as :meth:`_read_each` would return them, when every file
        is plain (one Parquet schema, readable, needing no reconciling, holding its source's classes);
        ``None`` otherwise, or when a column does not take its catalog type (the file-by-file read then
        names the file).

        What the footers say (schema, classes, time span) is remembered per size and modification time,
        so a repeated load only scans; the time filter is applied only when a file's footer statistics
        do not place it wholly inside the window."""
        found = [self._plain_file(p) for p in paths]
        plain = [f for f in found if f is not None]
        if len(plain) < len(paths) or any(f.schema != plain[0].schema for f in plain):
            return None
        schema = plain[0].schema
        if any(_needs_reconcile(schema, self._part(p), src) for p in paths):
            return None
        inside = all(f.span is not None and window.start <= f.span[0] and f.span[1] < window.end for f in plain)
        flt = None if inside else _time_filter(schema, window)
        dataset = ds.FileSystemDataset([_PARQUET.make_fragment(str(p), _LOCAL_FS) for p in paths], schema, _PARQUET, _LOCAL_FS)
        try:
            return _shaped(dataset, schema, src, flt, cols, str)
        except UNREADABLE_PARQUET + (SlakeError,):
            return None

    def _plain_file(self, path: Path) -> _PlainFile | None:
        """:class:`_PlainFile` of a data file, remembered per size and modification time; ``None`` when
        its footer cannot be read or it holds a class its source does not."""
        try:
            st = path.stat()
        except OSError:
            return None
        stamp = (st.st_size, st.st_mtime_ns)
        seen = self._plain_files.get(path)
        if seen is not None and seen[0] == stamp:
            return seen[1]
        try:
            found = _plain_file(path, self._part(path))
        except UNREADABLE_PARQUET:
            found = None
        if found is not None:
            found = found._replace(schema=self._distinct_schemas.setdefault(found.schema, found.schema))
        self._plain_files[path] = (stamp, found)
        return found

    def _file_error(self, path: Path, exc: Exception) -> SlakeError:
        """The error to raise for a file that :func:`_try_read` could not turn into rows."""
        key = path.relative_to(self.root).as_posix()
        if isinstance(exc, SlakeError):
            return exc
        return CorruptFileError(
            f"Cannot read {path}: {exc}. The file is damaged, truncated or not Parquet. Re-copy it from the "
            f"lake bucket (key {key}), move it out of the lake folder, or pass on_error='skip' to skip "
            "unreadable files with a warning."
        )

    # ---- SQL ------------------------------------------------------------------------------

    def _translate(self, text: str) -> tuple[str, dict[str, Source]]:
        """``(DuckDB SQL, {view key: Source} of the tables it reads)`` of Athena SQL ``text``."""
        translated, sources = _translated(text, self.now)
        return translated, {_view_key(src): src for src in sources}

    def sql(
        self,
        text: str,
        params: Sequence[Any] | None = None,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        accounts: Iterable[str] | str | None = None,
        regions: Iterable[str] | str | None = None,
        only_files: Iterable[str] | None = None,
        timeout: float | None = None,
        max_rows: int | None = None,
    ) -> pd.DataFrame:
        """Run Athena SQL on DuckDB over this lake's files (see :meth:`Lake.sql`).

        Bounds: the query runs on a worker thread while the calling thread waits, so Ctrl-C (a
        notebook's interrupt) interrupts DuckDB and raises :class:`QueryInterrupted` (also a
        :class:`KeyboardInterrupt`) within a second; past ``timeout`` seconds it is interrupted with
        :class:`QueryTimeout`; a result of more than ``max_rows`` rows raises
        :class:`TooManyRowsError` before any frame is built (never truncated).
        Both default to the ``query_timeout`` and ``max_rows`` settings
        (:func:`~slake_forensics.core.config.read_limits`).

        Any region's table name reads every file of that source (the local lake is a rollup;
        the ``region`` column tells regions apart), or, with a scope (``start`` and ``end``,
        ``accounts``, ``regions``), only the files whose partitions lie in it.

        Source versions: a ``_2_0`` table name (or a bare source name) reads the version-2 files
        **and the version-1 rows presented in version-2 names** — the same rows :meth:`load`
        returns, so an investigation's SQL works across the upgrade unchanged; ``metadata.version``
        and ``asl_version`` tell the rows apart.  A ``_1_0`` table name reads only the version-1
        files, as they are (version-1 names; ``accountid``/``region``/``asl_version`` from the key),
        for SQL written against AWS's v1 tables.  A custom source is the table ``ext_<name>``
        (or ``amazon_security_lake_table_<region>_ext_<name>``).  Files DuckDB cannot read as
        the catalog types them (another version, partition columns only in the key, legacy lists
        of single-field structs) are read with pyarrow and reconciled first; files that hold
        another source's class are skipped with a :class:`SkippedFileWarning` and listed in
        ``attrs["skipped_files"]``.  A view gains an ``eventday`` partition
        column (``YYYYMMDD`` from the path) when the query mentions ``eventday``.  Raises
        :class:`UnknownSourceError` for unknown tables, :class:`UnknownColumnError` with the
        closest names for unknown columns, :class:`CorruptFileError` for unreadable files and
        :class:`QueryError` (engine message + translated SQL) for anything else.  ``only_files``
        (keys below the lake root) further restricts the files read: the entity index's narrowing.
        """
        started = time.perf_counter()
        timeout, max_rows = query_limits(timeout, max_rows)
        params = list(params) if params is not None else []
        translated, wanted = self._translate(text)
        with_eventday = re.search(r"\beventday\b", text, re.IGNORECASE) is not None
        window = Window.of(start, end) if start is not None and end is not None else None
        if (start is None) != (end is None):
            raise BadWindowError("Give both start and end to scope a query, or neither.")
        files = {key: self.files(src, window, accounts, regions) for key, src in wanted.items()}
        if only_files is not None:
            only = {self.root / k for k in only_files}
            files = {key: [p for p in paths if p in only] for key, paths in files.items()}
        skipped = self._drop_misplaced(files)
        for src in wanted.values():
            skipped.update(self._skipped_of(src))
        self._warn_skipped(skipped)
        self._warn_outside(p for paths in files.values() for p in paths)
        con = _sandboxed_connection(self.root)

        def run() -> pa.Table:
            con.execute("SET TimeZone='UTC'")
            con.execute("SET integer_division=true")  # Trino: integer / integer is an integer
            con.execute("SET parquet_metadata_cache=true")  # footers read for the schema check serve the scan
            try:
                # files the entity index already narrowed to are few: the prefilter's extra scan costs more than it saves
                if only_files is not None or not self._restrict_to_hits(con, translated, params, wanted, files, with_eventday):
                    for key, src in wanted.items():
                        self._create_view(con, src, files[key], with_eventday, skipped)
                return _fetch(con.sql(translated, params=params), max_rows)
            except duckdb.Error as exc:
                raise self._query_error(exc, translated, wanted, files) from None

        try:
            with warnings.catch_warnings(record=True) as caught:  # the worker's warnings, shown to the caller below
                warnings.simplefilter("always")
                table = _bounded(con, run, timeout)
        finally:
            for w in caught:
                warnings.warn(w.message, w.category, stacklevel=2)
        df = ocsf.flatten(_ms_if_lossless(table))
        df.attrs = {
            "sql": text,
            "translated_sql": translated,
            "params": params,
            "engine": "duckdb",
            "lake": self.location,
            "files": [str(p) for paths in files.values() for p in paths],
            "skipped_files": [str(self.root / k) for k in skipped],
            "elapsed_s": time.perf_counter() - started,
        }
        return df

    def _inspect(self, path: Path) -> tuple[bool, str, str]:
        """``(plain, problem, outside)`` of a data file from its footer, remembered per size and modification time.

        ``plain``: DuckDB reads it as the catalog types it (version 2, partition columns in the
        file, no legacy list of single-field structs, no column of another type: drift);
        ``problem``: why it does not belong where it lies (another source's class), ``""`` when
        it does; ``outside``: how many of its rows lie outside its partition day (``""`` when
        none).  An unreadable footer is not plain."""
        st = path.stat()
        stamp = (st.st_size, st.st_mtime_ns)
        seen = self._inspected.get(path)
        if seen is not None and seen[0] == stamp:
            return seen[1]
        part = self._part(path)
        try:  # the footer is read once: its statistics and its Arrow schema
            with pq.ParquetFile(path) as file:
                meta, schema = file.metadata, file.schema_arrow
        except UNREADABLE_PARQUET:
            result = (False, "", "")
        else:
            stats = _footer_stats(path, meta)
            problem = "" if isinstance(stats, Exception) else _class_problem(stats[3], part)
            plain = _plain_schema(schema, part.source)
            outside = ""
            if not problem and not isinstance(stats, Exception):
                try:
                    outside = _outside_day(path, part, stats)[1]
                except UNREADABLE_PARQUET:
                    outside = ""
            result = (plain, problem, outside)
        self._inspected[path] = (stamp, result)
        return result

    def _warn_outside(self, paths: Iterable[Path], stacklevel: int = 3) -> dict[str, str]:
        """Warn about the files of ``paths`` holding rows outside their partition day; returns ``{key: detail}``."""
        found = {p.relative_to(self.root).as_posix(): self._inspect(p)[2] for p in paths if p.is_file()}
        found = {k: d for k, d in found.items() if d}
        if found:
            listed = "; ".join(f"{k}: {d}" for k, d in found.items())
            warnings.warn(f"{len(found)} file(s) hold rows outside their partition day: {listed}", OutsideDayWarning, stacklevel=stacklevel)
        return found

    def _drop_misplaced(self, files: dict[str, list[Path]]) -> dict[str, str]:
        """Remove files holding another source's class from ``files``; returns ``{key: reason}`` of those removed."""
        every = sorted({p for paths in files.values() for p in paths})
        with ThreadPoolExecutor(_workers(len(every))) as pool:
            found = dict(zip(every, pool.map(self._inspect, every)))
        dropped = {p.relative_to(self.root).as_posix(): found[p][1] for p in every if found[p][1]}
        for key in files:
            files[key] = [p for p in files[key] if not found[p][1]]
        return dropped

    def _same_schema(self, con: duckdb.DuckDBPyConnection, paths: list[Path]) -> bool:
        """Whether every file of ``paths`` has one Parquet schema (an unreadable file counts as different).

        The footers of files not seen before are read by DuckDB on ``con`` (whose Parquet
        metadata cache the query's own scan then reuses); each file's schema signature is
        remembered with its size and modification time, so repeated queries only stat files."""
        stamps = {}
        for path in paths:
            st = path.stat()
            stamps[path] = (st.st_size, st.st_mtime_ns)
        unseen = [p for p in paths if self._schemas.get(p, (None, None))[0] != stamps[p]]
        if unseen:
            try:
                rows = con.sql(_SCHEMA_SIGNATURES, params=[[str(p) for p in unseen]]).fetchall()
            except duckdb.Error:
                return False  # an unreadable file: the scan names it (CorruptFileError)
            signatures = dict(rows)
            for path in unseen:
                self._schemas[path] = (stamps[path], signatures.get(str(path)))
        found = {self._schemas[p][1] for p in paths}
        return len(found) == 1 and None not in found

    def _create_view(
        self, con: duckdb.DuckDBPyConnection, src: Source, paths: list[Path], with_eventday: bool, skipped: dict[str, str] | None = None
    ) -> None:
        """Register view ``slake_<source>`` over ``paths`` (an empty table of the catalog schema if none).

        Files of one schema are read as they are; files whose schemas differ (a source version
        change, schema drift) are unioned by column name, which DuckDB would otherwise not do:
        it keeps the first file's columns and drops the others' extra ones without a word."""
        name = _view_name(src)
        if not paths:
            warnings.warn(f"This lake has no {src.name} data; the query sees an empty table.", stacklevel=4)
            con.register(name, src.schema.empty_table())
            return
        if not self._all_plain(src, paths):
            con.register(name, self._reconciled(src, paths, with_eventday, skipped))
            return
        union = not self._same_schema(con, paths)
        rel = con.read_parquet([str(p) for p in paths], union_by_name=union, hive_partitioning=False, filename=True)
        rel.project(f"* EXCLUDE (filename){_eventday(with_eventday)}").create_view(name)

    def _all_plain(self, src: Source, paths: list[Path]) -> bool:
        """Whether DuckDB can read every file of a view of ``src`` as it is (see :meth:`_inspect`)."""
        return src.version == SOURCE_VERSION and not src.custom and all(self._inspect(p)[0] for p in paths)

    def _reconciled(
        self, src: Source, paths: list[Path], with_eventday: bool, skipped: dict[str, str] | None = None
    ) -> pa.Table:
        """Every row of ``paths`` as rows of ``src``, read with pyarrow (:func:`_read`).

        A file whose schema cannot be reconciled (a column of a type that does not cast, e.g. a
        ``time_dt`` string that is not a time) is skipped with a :class:`SkippedFileWarning` and
        added to ``skipped``, so it does not break the source; an unreadable file raises its error."""
        with ThreadPoolExecutor(_workers(len(paths))) as pool:
            results = list(pool.map(lambda p: _try_read(p, self._part(p), src, None, None), paths))
        tables = []
        for path, result in zip(paths, results):
            if isinstance(result, SchemaMismatchError | MisplacedFileError):
                warnings.warn(f"Skipping a file: {result}", SkippedFileWarning, stacklevel=5)
                if skipped is not None:
                    skipped[path.relative_to(self.root).as_posix()] = str(result)
                continue
            if not isinstance(result, pa.Table):
                raise self._file_error(path, result) from result
            table = result.drop_columns([_SORT])
            if with_eventday:
                table = table.append_column("eventday", pa.array([self._part(path).day] * table.num_rows, pa.string()))
            tables.append(table)
        return pa.concat_tables(tables, promote_options="permissive") if tables else _empty(src, None).drop_columns([_SORT])

    def _restrict_to_hits(
        self,
        con: duckdb.DuckDBPyConnection,
        translated: str,
        params: list[Any],
        wanted: dict[str, Source],
        files: dict[str, list[Path]],
        with_eventday: bool,
    ) -> bool:
        """Run phase 1 of :mod:`.prefilter` and register the source's view over its hits only.

        Returns ``False`` (nothing registered) when the query does not qualify, its files differ
        in schema, or more than :data:`_PREFILTER_CAP` rows pass its filter: the caller then
        registers the full views and runs the query once."""
        if len(wanted) != 1:
            return False
        key, src = next(iter(wanted.items()))
        paths = [str(p) for p in files[key]]
        phase1 = prefilter.row_query(translated, _view_name(src), _PREFILTER_CAP)
        if phase1 is None or not paths or not self._all_plain(src, files[key]) or not self._same_schema(con, files[key]):
            return False
        ids = f"filename AS {prefilter.FILE_COLUMN}, file_row_number AS {prefilter.ROW_COLUMN}"
        every = con.read_parquet(paths, hive_partitioning=False, filename=True, file_row_number=True)
        every.project(f"* EXCLUDE (filename, file_row_number), {ids}{_eventday(with_eventday)}").create_view(_view_name(src))
        con.execute("SET preserve_insertion_order=false")  # phase 1 is a set: its LIMIT then keeps the scan parallel
        hits = con.sql(phase1, params=params).to_arrow_table()
        con.execute("RESET preserve_insertion_order")
        if hits.num_rows > _PREFILTER_CAP:
            return False
        con.register("slake_hits", hits)
        hit_files = sorted(set(hits.column(0).to_pylist())) or paths[:1]
        rel = con.read_parquet(hit_files, hive_partitioning=False, filename=True, file_row_number=True)
        rel.filter(f"(filename, file_row_number) IN (SELECT {prefilter.FILE_COLUMN}, {prefilter.ROW_COLUMN} FROM slake_hits)") \
            .project(f"* EXCLUDE (filename, file_row_number){_eventday(with_eventday)}").create_view(_view_name(src))
        return True

    def _query_error(
        self, exc: duckdb.Error, translated: str, wanted: dict[str, Source], files: dict[str, list[Path]]
    ) -> Exception:
        message = str(exc)
        if isinstance(exc, duckdb.PermissionException) or "not in the catalog, but it exists in the" in message:
            return SandboxError(
                f"The query was refused: SQL on a lake can read only the lake's tables, not other files, URLs "
                f"or extensions (DuckDB said: {message.splitlines()[0]}). Query the lake's tables by name "
                "(Lake.tables()), or load other data in Python and join it there."
            )
        for path in (p for paths in files.values() for p in paths):
            if str(path) in message:
                return CorruptFileError(
                    f"Cannot read {path} while running the query: {message}. If Lake.load reads it, the file is "
                    "intact and DuckDB could not read its schema: please report it; otherwise it is damaged: "
                    "re-copy it from the lake bucket or move it out of the lake folder "
                    "(Lake.load(..., on_error='skip') can skip unreadable files)."
                )
        missing = _missing_column(exc, message)
        if missing is not None:
            known = sorted({n for s in wanted.values() for n in ocsf.leaf_paths(s.schema)})
            where = ", ".join(wanted) or "the query"
            hint = ""
            if any(s.version != SOURCE_VERSION and not s.custom for s in wanted.values()):
                hint = (" A _1_0 table has version-1 names (time in epoch ms, actor.user.uuid …); the _2_0 table "
                        "presents its rows in version-2 names (docs/source_versions.md).")
            return UnknownColumnError(
                f"{ocsf.unknown_column_message([missing], known, where)}{hint} Engine said: {message.splitlines()[0]}"
            )
        return QueryError(f"DuckDB could not run the query: {message}\nTranslated SQL:\n{translated}")

    # ---- explain --------------------------------------------------------------------------

    def explain(self, what: str, *args: Any, **kwargs: Any) -> Explanation:
        """What a load or query would do (see :meth:`Lake.explain`); nothing is read.

        For a load: the equivalent Athena SELECT with partition predicates, its parameters and
        the files that would be opened.  For a query: the SQL, its DuckDB translation and every
        file of the sources it references.
        """
        if _looks_like_sql(what):
            params = kwargs.pop("params", args[0] if args else None)
            translated, wanted = self._translate(what)
            files = [str(p) for src in wanted.values() for p in self.files(src)]
            return Explanation(what, list(params or []), files, "duckdb", translated)
        src, window, accts, regs, cols, paths = self._plan(what, *args, **kwargs)
        sql, params = self._athena_sql(src, window, accts, regs, cols)
        return Explanation(sql, params, [str(p) for p in paths], "pyarrow")

    def _athena_sql(
        self, src: Source, window: Window, accounts: list[str] | None, regions: list[str] | None, columns: list[str] | None
    ) -> tuple[str, list[str]]:
        """The Athena query (and execution parameters) that this load amounts to, via :func:`load_query`."""
        known = None if columns is None else tuple(c for c in columns if ocsf.type_at(src.schema, c) is not None)
        sql, params = _load_query(src, self.region or "us-east-1", window, _tuple(accounts), _tuple(regions), known)
        return sql, list(params)


# ---- helpers ----------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _translated(text: str, now: pd.Timestamp | None) -> tuple[str, tuple[Source, ...]]:
    """Athena SQL ``text`` as DuckDB SQL over ``slake_<source>`` views, and the sources it reads.

    Remembered per text and clock: values are bound parameters, so repeated pivots and hunts send
    the same text and skip sqlglot's parse.  Raises :class:`UnknownSourceError` for unknown tables."""
    wanted: dict[str, Source] = {}

    def resolve(name: str) -> str:
        try:
            src = table_source(name)
        except UnknownSourceError:
            raise UnknownSourceError(_unknown_table_message(name)) from None
        wanted[_view_key(src)] = src
        return _view_name(src)

    return translate(text, now=now, resolve_table=resolve), tuple(wanted.values())


@lru_cache(maxsize=256)
def _load_query(
    src: Source, region: str, window: Window, accounts: tuple[str, ...] | None, regions: tuple[str, ...] | None,
    columns: tuple[str, ...] | None,
) -> tuple[str, tuple[str, ...]]:
    """:func:`load_query` of a load, remembered (a load repeated on the same window builds the same text)."""
    sql, params = load_query(src, region=region, window=window, accounts=accounts, regions=regions, columns=columns)
    return sql, tuple(params)


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


def _eventday(wanted: bool) -> str:
    """The projection suffix adding ``eventday`` (``YYYYMMDD`` of the file's partition) to a view, or ``""``."""
    return ", regexp_extract(filename, 'eventDay=([0-9]{8})', 1) AS eventday" if wanted else ""


def _workers(n: int) -> int:
    return max(1, min(n, (os.cpu_count() or 4) * 2, 32))


def _view_key(src: Source) -> str:
    """``cloud_trail_mgmt`` for a version-2 or custom source, ``cloud_trail_mgmt_1_0`` for a version-1 one."""
    return src.name if src.version == SOURCE_VERSION or src.custom else src.suffix


def _view_name(src: Source) -> str:
    return f"slake_{_view_key(src)}"


def _legacy_struct_lists(schema: pa.Schema) -> bool:
    """Whether ``schema`` holds a legacy 2-level list (element not named ``element``/``item``) of
    single-field structs, which DuckDB reads as a list of the field's values."""

    def walk(typ: pa.DataType) -> bool:
        if pa.types.is_struct(typ):
            return any(walk(f.type) for f in typ)
        if pa.types.is_list(typ) or pa.types.is_large_list(typ):
            value = typ.value_field
            legacy = value.name not in ("element", "item") and pa.types.is_struct(value.type) and value.type.num_fields == 1
            return legacy or walk(value.type)
        if pa.types.is_map(typ):
            return walk(typ.item_type)
        return False

    return any(walk(f.type) for f in schema)


def _looks_like_sql(text: str) -> bool:
    return re.match(r"\s*(\(|select\b|with\b|values\b|table\b|--|/\*)", text, re.IGNORECASE) is not None


def _unknown_table_message(name: str) -> str:
    examples = [
        "amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0",
        '"awsdatacatalog"."amazon_security_lake_glue_db_eu_west_1"."amazon_security_lake_table_eu_west_1_vpc_flow_2_0"',
        "route53 (a bare source name)",
    ]
    tables = ", ".join(s.suffix for s in SOURCES.values())
    v1 = ", ".join(s.suffix for s in V1_SOURCES.values())
    return (
        f"Unknown table {name!r}. A local lake has the eight Security Lake tables, under any region's "
        f"name: amazon_security_lake_table_<region>_<{tables}>, the version-1 tables <{v1}> and its custom "
        "sources as ext_<name>. For example: " + "; ".join(examples) + "."
    )


_MISSING_COLUMN = [
    re.compile(r'Referenced column "([^"]+)" not found'),
    re.compile(r'Could not find key "([^"]+)" in struct'),
    re.compile(r'does not have a column named "([^"]+)"'),
    re.compile(r'Referenced table "([^"]+)" not found'),
]


def _missing_column(exc: duckdb.Error, message: str) -> str | None:
    if not isinstance(exc, duckdb.BinderException):
        return None
    for pattern in _MISSING_COLUMN:
        m = pattern.search(message)
        if m:
            return m.group(1)
    return None


def _schema_or_none(path: Path) -> pa.Schema | None:
    try:
        return pq.read_schema(path)
    except UNREADABLE_PARQUET:
        return None


FooterStats = tuple[int, pd.Timestamp | None, pd.Timestamp | None, set[int] | None]


@lru_cache(maxsize=256)
def _plain_schema(schema: pa.Schema, source: Source) -> bool:
    """Whether DuckDB reads a file of ``schema`` under ``source`` (its key's versioned source) as the
    catalog types it (see :meth:`LocalEngine._inspect`); remembered per schema, which a lake's files
    of one source mostly share (the checks walk wide OCSF schemas)."""
    src = source.investigated_as
    return (
        not _needs_reconcile_source(schema, source, src)
        and not _legacy_struct_lists(schema)
        and not ocsf.drifted_leaves(schema, src.schema)
    )


def _footer_stats(path: Path, meta: pq.FileMetaData | None = None) -> FooterStats | Exception:
    """``(rows, first event, last event, class_uid min and max)`` from a file's footer, or the exception reading it.

    Times are the statistics of ``time_dt``, or of ``time`` (epoch ms) in files without one
    (version 1); the column is read when the footer has no statistics.  ``meta``: the file's
    footer when the caller has read it already."""
    try:
        meta = pq.read_metadata(path) if meta is None else meta
        name = _time_column(meta.schema.to_arrow_schema())
        lo = hi = None
        classes: set[int] | None = None
        for i in range(meta.num_row_groups):
            group = meta.row_group(i)
            for j in range(group.num_columns):
                col = group.column(j)
                if col.statistics is None or not col.statistics.has_min_max:
                    continue
                if col.path_in_schema == "class_uid":
                    classes = (classes or set()) | {int(col.statistics.min), int(col.statistics.max)}
                if col.path_in_schema != name:
                    continue
                a, b = _utc_stat(col.statistics.min), _utc_stat(col.statistics.max)
                lo = a if lo is None else min(lo, a)
                hi = b if hi is None else max(hi, b)
        if lo is None and meta.num_rows and name is not None:
            times = _times_ms(path)
            lo, hi = _utc_stat(pc.min(times).as_py()), _utc_stat(pc.max(times).as_py())
        return meta.num_rows, lo, hi, classes
    except UNREADABLE_PARQUET as exc:
        return exc


def _time_column(schema: pa.Schema) -> str | None:
    """``time_dt`` when the file has it as a timestamp, else ``time`` (epoch ms), else ``None``."""
    if "time_dt" in schema.names and pa.types.is_timestamp(schema.field("time_dt").type):
        return "time_dt"
    return "time" if "time" in schema.names else None


def _times_ms(path: Path) -> pa.ChunkedArray:
    """Epoch milliseconds of every row of a file: its ``time_dt`` (any type that parses), else its ``time``."""
    schema = pq.read_schema(path)
    if "time_dt" in schema.names:
        try:
            return _epoch_ms(ocsf.conform_array(pq.read_table(path, columns=["time_dt"])["time_dt"], TIMESTAMP_TYPE, "time_dt"))
        except pa.ArrowInvalid:
            if "time" not in schema.names:
                raise
    return pq.read_table(path, columns=["time"])["time"].cast(pa.int64())


def _outside_day(path: Path, part: layout.Partition, stats: FooterStats) -> tuple[int, str]:
    """``(rows, detail)`` of a file's rows whose time is not on its partition's day (``(0, "")`` when none).

    The footer's first and last event decide when they lie inside the day; otherwise the time column is read."""
    lo, hi = stats[1], stats[2]
    day = pd.Timestamp(part.day, tz="UTC")
    if lo is None or hi is None or (lo >= day and hi < day + pd.Timedelta(days=1)):
        return 0, ""
    return outside_day(_times_ms(path), part)


def outside_day(ms: pa.ChunkedArray | pa.Array, part: layout.Partition) -> tuple[int, str]:
    """``(rows, detail)`` of the epoch-millisecond times ``ms`` (one file's) not on ``part``'s event day.

    The detail is the sentence that :class:`OutsideDayWarning` gives for the file (``""`` when no row is outside)."""
    first = pd.Timestamp(part.day, tz="UTC").value // 10**6
    outside = pc.or_(pc.less(ms, first), pc.greater_equal(ms, first + 86_400_000))
    n = int(pc.sum(outside).as_py() or 0)
    if not n:
        return 0, ""
    lo, hi = (pd.Timestamp(pc.min(ms).as_py(), unit="ms", tz="UTC"), pd.Timestamp(pc.max(ms).as_py(), unit="ms", tz="UTC"))
    return n, (
        f"{n} of {len(ms)} row(s) lie outside its partition day eventDay={part.day} (events {lo} .. {hi}); they are kept "
        f"and counted by their time, so a load or pivot whose window leaves out {part.day} does not see them"
    )


def _utc_stat(value: Any) -> pd.Timestamp:
    """A ``time_dt`` statistic, or a ``time`` one (int epoch ms), as a UTC timestamp."""
    if isinstance(value, int):
        return pd.Timestamp(value, unit="ms", tz="UTC")
    return _utc(value)


def _utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _time_filter(schema: pa.Schema, window: Window) -> ds.Expression:
    """``start <= time_dt < end`` in the file's own ``time_dt`` type (or on ``time`` ms)."""
    if "time_dt" in schema.names and pa.types.is_timestamp(schema.field("time_dt").type):
        typ = schema.field("time_dt").type
        per = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[typ.unit]
        name = "time_dt"
    elif "time" in schema.names:
        typ, per, name = pa.int64(), 10**6, "time"
    else:
        raise pa.ArrowInvalid("the file has neither a time_dt nor a time column")
    lo, hi = -(-window.start.value // per), -(-window.end.value // per)  # ceil: integer units
    return (ds.field(name) >= pa.scalar(lo, pa.int64()).cast(typ)) & (ds.field(name) < pa.scalar(hi, pa.int64()).cast(typ))


def _inside(dataset: ds.FileSystemDataset, schema: pa.Schema, window: Window) -> bool:
    """Whether the footer statistics put every row of the (one-file) dataset inside ``window``,
    so the per-row time filter can be skipped; ``False`` whenever a statistic is missing."""
    name = "time_dt" if "time_dt" in schema.names and pa.types.is_timestamp(schema.field("time_dt").type) else None
    if name is None:
        return False
    for fragment in dataset.get_fragments():
        fragment.ensure_complete_metadata()
        for group in fragment.row_groups:
            stats = (group.statistics or {}).get(name)
            if not stats or stats.get("min") is None or stats.get("max") is None:
                return False
            lo, hi = pd.Timestamp(stats["min"]), pd.Timestamp(stats["max"])
            lo, hi = (lo.tz_localize("UTC"), hi.tz_localize("UTC")) if lo.tzinfo is None else (lo, hi)
            if lo < window.start or hi >= window.end:
                return False
    return True


def _plain_file(path: Path, part: layout.Partition) -> _PlainFile | None:
    """:class:`_PlainFile` of ``path`` from its footer; ``None`` when it holds a class ``part``'s source
    does not (the class column is read only when a statistic is missing, as :func:`_file_classes` does)."""
    fragment = _PARQUET.make_fragment(str(path), _LOCAL_FS)
    fragment.ensure_complete_metadata()
    schema = fragment.physical_schema
    if _class_problem(_file_classes(ds.FileSystemDataset([fragment], schema, _PARQUET, _LOCAL_FS)), part):
        return None
    return _PlainFile(schema, _time_span(fragment, schema))


def _time_span(fragment: ds.ParquetFileFragment, schema: pa.Schema) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """First and last ``time_dt`` (UTC) of a file from its row groups' statistics, ``None`` when the file
    has no timestamp ``time_dt`` or a row group lacks a statistic (the same test as :func:`_inside`)."""
    if "time_dt" not in schema.names or not pa.types.is_timestamp(schema.field("time_dt").type):
        return None
    lo = hi = None
    for group in fragment.row_groups:
        stats = (group.statistics or {}).get("time_dt")
        if not stats or stats.get("min") is None or stats.get("max") is None:
            return None
        a, b = _utc(stats["min"]), _utc(stats["max"])
        lo, hi = (a, b) if lo is None or hi is None else (min(lo, a), max(hi, b))
    return None if lo is None or hi is None else (lo, hi)


def _ascending(values: pa.ChunkedArray) -> bool:
    """Whether ``values`` hold no null and never decrease, so that a stable sort would keep their order."""
    if values.null_count:
        return False
    return len(values) < 2 or bool(pc.all(pc.less_equal(values[:-1], values[1:])).as_py())


def _drift_problem(path: Path, part: layout.Partition) -> str:
    """Why a file whose column types drifted from the catalog cannot be read as its source's rows (``""``
    when it can, or has no drift): the file is then read whole once, as a load or query would read it."""
    schema = _schema_or_none(path)
    if schema is None or not ocsf.drifted_leaves(schema, part.source.schema):
        return ""
    result = _try_read(path, part, part.source.investigated_as, None, None)
    return str(result) if isinstance(result, SchemaMismatchError) else ""


def _needs_reconcile(schema: pa.Schema, part: layout.Partition, src: Source) -> bool:
    """Whether a file must be read whole and reconciled (:func:`versions.reconcile`) rather than projected:
    another version or a custom source, or partition columns only in the key."""
    return _needs_reconcile_source(schema, part.source, src)


def _needs_reconcile_source(schema: pa.Schema, source: Source, src: Source) -> bool:
    """:func:`_needs_reconcile` of a file of the versioned (or custom) source ``source``."""
    return source.version != src.version or source.custom or bool(versions.missing_partitions(schema))


def _read(path: Path, part: layout.Partition, src: Source, window: Window | None, columns: list[str] | None) -> pa.Table:
    """The rows of one file in the window (all rows when ``None``): as rows of ``src``, plus a sort column.

    Raises :class:`MisplacedFileError` when the file holds a class its source does not,
    :class:`SchemaMismatchError` when its schema cannot be reconciled with ``src``'s."""
    dataset = ds.dataset(path, format="parquet")
    schema = dataset.schema
    flt = None if window is None or _inside(dataset, schema, window) else _time_filter(schema, window)
    problem = _class_problem(_file_classes(dataset), part)
    if problem:
        raise MisplacedFileError(f"{path}: {problem}")
    if _needs_reconcile(schema, part, src):
        try:
            table = versions.reconcile(dataset.to_table(filter=flt), part, src, str(path))
        except pa.ArrowInvalid as exc:
            raise SchemaMismatchError(str(exc)) from None
        dataset, schema, flt = ds.dataset(table), table.schema, None
    return _shaped(dataset, schema, src, flt, columns, lambda exc: _mismatch(path, part, src, exc))


def _shaped(
    dataset: ds.Dataset, schema: pa.Schema, src: Source, flt: ds.Expression | None, columns: list[str] | None,
    mismatch: Callable[[Exception], str],
) -> pa.Table:
    """The rows of ``dataset`` (files of one ``schema`` needing no reconciling) passing ``flt``, as rows
    of ``src``: its ``columns`` (every column when ``None``) in catalog types, plus the sort column.

    Raises :class:`SchemaMismatchError` with ``mismatch(exc)`` when a column cannot take its catalog type."""
    if columns is None:
        table = dataset.to_table(filter=flt)
        try:
            table = ocsf.conform(table, src)
        except pa.ArrowInvalid as exc:
            raise SchemaMismatchError(mismatch(exc)) from None
        return table.append_column(_SORT, _epoch_ms(table["time_dt"] if "time_dt" in table.column_names else table["time"]))
    refs = {c: ds.field(*c.split(".")) for c in columns if ocsf.type_at(schema, c) is not None}
    refs[_SORT] = ds.field(_time_column(schema) or "time")
    raw = dataset.to_table(columns=refs, filter=flt)
    arrays, fields = [], []
    for c in columns:
        target = ocsf.type_at(src.schema, c) or ocsf.type_at(schema, c)
        if c in refs:
            try:
                arr = ocsf.conform_array(raw[c], target, c)
            except pa.ArrowInvalid as exc:
                raise SchemaMismatchError(mismatch(exc)) from None
        else:
            arr = pa.chunked_array([pa.nulls(raw.num_rows, target)], target)
        arrays.append(arr)
        fields.append(pa.field(c, arr.type))
    try:
        arrays.append(_epoch_ms(raw[_SORT]))
    except pa.ArrowInvalid as exc:
        raise SchemaMismatchError(mismatch(exc)) from None
    fields.append(pa.field(_SORT, pa.int64()))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _ms_if_lossless(table: pa.Table) -> pa.Table:
    """``table`` with timestamps (DuckDB's microseconds, nested ones too) as ``timestamp[ms, UTC]``
    in every column where no digit is lost; other columns unchanged."""
    for i, f in enumerate(table.schema):
        goal = ocsf.ms_timestamps(f.type)
        if goal == f.type:
            continue
        try:
            col = table.column(i).cast(goal)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        table = table.set_column(i, f.with_type(goal), col)
    return table


def _epoch_ms(times: pa.ChunkedArray) -> pa.ChunkedArray:
    """Epoch milliseconds of a ``time_dt`` (any unit or zone) or ``time`` column, as int64."""
    if pa.types.is_timestamp(times.type):
        times = ocsf.conform_array(times, TIMESTAMP_TYPE, "time_dt")
    return times.cast(pa.int64())


def _mismatch(path: Path, part: layout.Partition, src: Source, exc: Exception) -> str:
    return (
        f"{path} (source {part.source.name}, version {part.version or 'none'}) is readable but its schema cannot be "
        f"reconciled with the {src.suffix} table: {exc}. It is not damaged: move it out of the lake folder, or "
        "pass on_error='skip' to skip it with a warning."
    )


def _class_problem(found: set[int] | None, part: layout.Partition) -> str:
    """Why a file's ``class_uid`` values do not fit its source (``""`` when they do or are unknown)."""
    if part.source.custom or not found:
        return ""
    foreign = versions.foreign_classes(found, part)
    if not foreign:
        return ""
    return (
        f"holds class_uid {foreign}, not a class of {part.source.name} version {part.version} "
        f"({list(part.source.classes)}): it belongs to another source. Move it to that source's folder."
    )


def _file_classes(dataset: ds.FileSystemDataset) -> set[int] | None:
    """The ``class_uid`` values of a one-file dataset: min and max from the footer statistics of each
    row group (the column is read only when a statistic is missing); ``None`` without the column."""
    if "class_uid" not in dataset.schema.names:
        return None
    found: set[int] = set()
    for fragment in dataset.get_fragments():
        fragment.ensure_complete_metadata()
        for group in fragment.row_groups:
            stats = (group.statistics or {}).get("class_uid")
            if not stats or stats.get("min") is None or stats.get("max") is None:
                column = dataset.to_table(columns=["class_uid"])["class_uid"]
                return {int(c) for c in pc.unique(column).to_pylist() if c is not None}
            found |= {int(stats["min"]), int(stats["max"])}
    return found


def _try_read(
    path: Path, part: layout.Partition, src: Source, window: Window | None, columns: list[str] | None
) -> pa.Table | Exception:
    try:
        return _read(path, part, src, window, columns)
    except UNREADABLE_PARQUET + (SlakeError,) as exc:
        return exc


def _empty(src: Source, columns: list[str] | None) -> pa.Table:
    if columns is None:
        fields = list(src.schema)
    else:
        fields = [pa.field(c, ocsf.type_at(src.schema, c) or pa.null()) for c in columns]
    return pa.schema(fields + [pa.field(_SORT, pa.int64())]).empty_table()


def _fetch(rel: duckdb.DuckDBPyRelation, max_rows: int | None) -> pa.Table:
    """The rows of ``rel`` as one Arrow table; :class:`TooManyRowsError` for more than ``max_rows`` (``None``: no limit).

    The check is on DuckDB's Arrow result, before it becomes a pandas frame (the costly part).  It is not
    streamed: a streaming reader deadlocks on views over Arrow tables registered from Python."""
    table = rel.to_arrow_table()
    if max_rows is not None and table.num_rows > max_rows:
        raise TooManyRowsError(
            f"The query returned {table.num_rows} rows, more than max_rows={max_rows}. Add a LIMIT or an aggregate, "
            f"narrow the window, or raise the limit: sql(..., max_rows=…) or {RAISE_LIMIT['max_rows']}."
        )
    return table


def _bounded(con: duckdb.DuckDBPyConnection, work: Callable[[], pa.Table], timeout: float | None) -> pa.Table:
    """``work()`` (which uses ``con``) on a worker thread, interrupted on Ctrl-C or past ``timeout`` seconds.

    The calling thread waits in short steps, so a ``KeyboardInterrupt`` (SIGINT, a notebook's interrupt,
    ``_thread.interrupt_main``) reaches it at once even while DuckDB runs: it then interrupts ``con``
    (``DuckDBPyConnection.interrupt``, again until the worker ends, for a query started after the first)
    and raises :class:`QueryInterrupted`; past the deadline, :class:`QueryTimeout`.  The worker closes
    ``con`` when it ends; it is a daemon thread, so a worker still busy in pyarrow after
    :data:`_STOP_GRACE_S` does not hold the caller.
    """
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["table"] = work()
        except BaseException as exc:  # handed to the calling thread
            outcome["error"] = exc
        finally:
            con.close()
            done.set()

    started = time.monotonic()
    threading.Thread(target=target, name="slake-duckdb-query", daemon=True).start()
    try:
        while not done.wait(_POLL_S):
            if timeout is not None and time.monotonic() - started >= timeout:
                _stop(con, done)
                raise QueryTimeout(
                    f"The query ran longer than its time limit of {timeout:g} s and was interrupted. Narrow the window "
                    f"or the query, or raise the limit: sql(..., timeout=<seconds>) or {RAISE_LIMIT['timeout']}."
                )
    except KeyboardInterrupt:
        _stop(con, done)
        raise QueryInterrupted(
            "The query was interrupted (Ctrl-C or the notebook's interrupt) and DuckDB stopped it."
        ) from None
    if "error" in outcome:
        raise outcome["error"]
    table: pa.Table = outcome["table"]
    return table


def _stop(con: duckdb.DuckDBPyConnection, done: threading.Event) -> None:
    """Interrupt ``con`` until the worker using it ends, for at most :data:`_STOP_GRACE_S` seconds."""
    deadline = time.monotonic() + _STOP_GRACE_S
    while not done.is_set() and time.monotonic() < deadline:
        try:
            con.interrupt()
        except duckdb.Error:  # the worker closed it meanwhile
            return
        done.wait(_POLL_S)


def _sandboxed_connection(root: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that can read files only under ``root`` and cannot install or load extensions.

    ``allowed_directories`` must be set before ``enable_external_access=false``, after which neither
    can be changed by the query (DuckDB refuses to re-enable external access on a running database)."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    dirs = {str(root.absolute()), str(root.resolve())}
    if (root / "aws").is_symlink():  # the lake folder may link its source folders elsewhere
        dirs.add(str((root / "aws").resolve()))
    listed = ", ".join("'" + d.rstrip("/").replace("'", "''") + "/'" for d in sorted(dirs))
    con.execute(f"SET allowed_directories=[{listed}]")
    con.execute("SET enable_external_access=false")
    return con

