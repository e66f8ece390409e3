"""Read raw logs, map them with a kind's mapper, and write Parquet in the Security Lake key layout.

Every input file is hashed (SHA-256) and listed in ``<out>/import_manifest.jsonl``; a file whose hash is already
there is skipped, and output names are derived from the input hash and partition, so re-importing is idempotent.
Rejected records go to ``<out>/import_rejects.jsonl`` with reason, origin and raw text.
"""
from __future__ import annotations

import functools
import gc
import hashlib
import importlib
import json
import multiprocessing as mp
import os
import re
import shutil
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from slake_forensics.core.version import __version__
from slake_forensics.core.catalog import SOURCES
from slake_forensics.core.layout import ACCOUNT_RE, EXTERNAL_ACCOUNT_RE, REGION_FOLDER_RE, partition_dir
from slake_forensics.sample.writer import CODEC, build_table
from slake_forensics.importers.kinds import load_kind
from slake_forensics.importers.readers import iter_files, read_json
from slake_forensics.importers.record import Mapped, RejectRecord, unforeseen
from slake_forensics.importers.shape import ShapeConflict, shape

MANIFEST = "import_manifest.jsonl"
REJECTS = "import_rejects.jsonl"
FLUSH_ROWS = 20_000  # rows per flush of one input file (all partitions): bounds a worker at ~400 MB
ASL_VERSION = "2.0"


@dataclass
class ImportSummary:
    """What one :func:`import_logs` call did.

    ``skipped`` lists input files already imported (same SHA-256), which added nothing.
    """

    kind: str
    files: int = 0
    skipped: list[str] = field(default_factory=list)
    records_in: int = 0
    records_out: int = 0
    rejected: int = 0
    per_source: dict[str, int] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        head = (f"{self.kind}: {self.files} file(s) imported, {len(self.skipped)} already imported (skipped); "
                f"{self.records_in:,} records in, {self.records_out:,} rows out, {self.rejected:,} rejected "
                f"in {self.seconds:.1f} s")
        out = [head]
        out += [f"  {s:<20} {n:>12,} rows" for s, n in sorted(self.per_source.items())]
        out += [f"  already imported, nothing added: {p}" for p in self.skipped]
        return out


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of ``path`` (read-only, streamed).

    Parameters
    ----------
    path : Path
        File to hash.

    Returns
    -------
    str
        64 hex digits.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"")
    >>> sha256_file(p)[:8]
    'e3b0c442'
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _imported(out: Path) -> set[str]:
    p = out / MANIFEST
    if not p.exists():
        return set()
    return {json.loads(line)["sha256"] for line in p.read_text().splitlines() if line.strip()}


def _day(ms: Any) -> str:
    if not isinstance(ms, int):
        raise RejectRecord(f"mapped row has no integer epoch-ms 'time' (got {ms!r})")
    try:
        return _day_of(ms // 86_400_000)
    except (OverflowError, OSError, ValueError):
        raise RejectRecord(f"time {ms} ms since 1970 is not a date a partition can name (out of range)") from None


@functools.lru_cache(maxsize=4096)
def _day_of(days: int) -> str:
    return datetime.fromtimestamp(days * 86_400, tz=UTC).strftime("%Y%m%d")


class _Writer:
    """Per-file batches keyed (source, account, region, day), flushed to deterministic file names.

    A column-wise mapper adds flat tables (:meth:`add_table`); rows and tables are flushed together every
    :data:`FLUSH_ROWS` rows, in input order, so both ways write the same files.
    """

    def __init__(self, out: Path, sha: str) -> None:
        self.out, self.sha = out, sha
        self.batches: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
        self.seq: dict[tuple[str, str, str, str], int] = defaultdict(int)
        self.written: list[Path] = []
        self.origins: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)  # parallel to batches
        self.unfit: list[tuple[str, str, str, dict[str, Any]]] = []  # (source, origin, reason, row) not written
        self.pending = 0
        self.parts: list[Any] = []  # with add_table: flat tables and lists of (Mapped, origin), in input order

    def add(self, m: Mapped, origin: str = "") -> None:
        row = m.row
        _check_partition(m)
        key = (m.source, m.account, m.region, _day(row.get("time")))
        if self.parts:
            if not isinstance(self.parts[-1], list):
                self.parts.append([])
            self.parts[-1].append((m, origin))
        else:
            self.batches[key].append(row)
            self.origins[key].append(origin)
        self.pending += 1
        if self.pending >= FLUSH_ROWS:
            self.flush()

    def add_table(self, table: pa.Table) -> None:
        """Add the flat table of a column-wise mapper (``cloudtrail_fast.FLAT_SCHEMA``)."""
        while table.num_rows:
            if not self.parts:  # rows added one at a time so far in this flush: they go first
                # grouped by partition, each in input order: flushing regroups them the same way
                self.parts.append([(Mapped(k[0], k[1], k[2], r), o) for k, rows in self.batches.items()
                                   for r, o in zip(rows, self.origins[k])])
                self.batches.clear()
                self.origins.clear()
            room = FLUSH_ROWS - self.pending
            self.parts.append(table.slice(0, room))
            self.pending += min(room, table.num_rows)
            table = table.slice(room)
            if self.pending >= FLUSH_ROWS:
                self.flush()

    def flush(self) -> None:
        if self.parts:
            self._flush_flat()
        for key, rows in self.batches.items():
            if rows:
                self._write(key, rows, self.origins.get(key, []))
        self.batches.clear()
        self.origins.clear()
        self.pending = 0

    def _flush_flat(self) -> None:
        from slake_forensics.importers.cloudtrail_fast import DOTTED, FLAT

        tables = [self._flat_rows(p) if isinstance(p, list) else p for p in self.parts if len(p)]
        self.parts = []
        if not tables:
            return
        t = pa.concat_tables(tables)
        del tables
        groups = pc.binary_join_element_wise(t["_source"], t["_account"], t["_region"], t["_day"], "|")
        enc = groups.combine_chunks().dictionary_encode()
        codes = np.asarray(enc.indices)
        # each partition's rows together, by time (ties in input order), as _put writes them: one take
        order = np.lexsort((np.asarray(t["_day_ms"]), codes))
        t = t.combine_chunks().take(pa.array(order))  # take on many chunks costs several times more
        counts = np.bincount(codes, minlength=len(enc.dictionary))
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        # whether any row of a partition set a dotted key (else its struct leaf stays out, as rows one at a time)
        given = {k: np.add.reduceat(np.asarray(t[f"?{k}"]), starts) > 0 for k in DOTTED} if len(t) else {}
        for code, key in enumerate(enc.dictionary.to_pylist()):
            part = t.slice(int(starts[code]), int(counts[code]))
            cols: dict[str, Any] = {k: part[k] for k in FLAT if "." not in k or given[k][code]}
            source, account, region, day = key.split("|")
            self._write_catalog((source, account, region, day), cols, part.num_rows)
        del t, part, cols

    def _flat_rows(self, part: list[tuple[Mapped, str]]) -> pa.Table:
        """The flat table of rows mapped one at a time; a row whose value does not fit is set aside as unfit."""
        from slake_forensics.importers.cloudtrail_fast import fitting_rows, flat_from_rows

        mapped, origins = [m for m, _ in part], [o for _, o in part]
        keep, unfit = fitting_rows(mapped, _day)
        self.unfit += [(mapped[i].source, origins[i], why, mapped[i].row) for i, why in unfit]
        return flat_from_rows([mapped[i] for i in keep], _day)

    def _name(self, key: tuple[str, str, str, str]) -> str:
        seq = self.seq[key]
        self.seq[key] += 1
        return hashlib.sha256(f"{self.sha}|{'|'.join(key)}|{seq}".encode()).hexdigest()[:32]

    def _write(self, key: tuple[str, str, str, str], rows: list[dict[str, Any]], origins: list[str]) -> None:
        source, account, region, day = key
        if source.startswith("ext/"):
            name = self._name(key)
            folder = self.out / source / f"region={region}/accountId={account}/eventDay={day}"
            tables = _ext_tables(rows)
            if len(tables) > 1:  # rows whose fields' types differ: one file per kind of row
                for extra in tables[1:]:
                    sub = hashlib.sha256(f"{name}|{extra.num_rows}|{extra.schema}".encode()).hexdigest()[:32]
                    self._put(folder, sub, extra)
            self._put(folder, name, tables[0])
            return
        try:
            self._write_catalog(key, _columns(rows), len(rows))
        except ValueError:  # a value of the wrong type (a hostile record): find the rows, write the others
            fit = []
            for row, origin in zip(rows, origins or [""] * len(rows)):
                try:
                    build_table(SOURCES[key[0]], _with_partition(_columns([row]), key, 1), 1)
                    fit.append(row)
                except (KeyError, ValueError, TypeError, OverflowError, pa.ArrowException) as e:
                    self.unfit.append((key[0], origin, f"a value does not fit the {key[0]} schema: {e}", row))
            if fit:
                self._write_catalog(key, _columns(fit), len(fit))

    def _write_catalog(self, key: tuple[str, str, str, str], cols: dict[str, Any], n: int) -> None:
        source, account, region, day = key
        name = self._name(key)
        src = SOURCES[source]
        try:
            table = build_table(src, _with_partition(cols, key, n), n)
        except (KeyError, ValueError, TypeError, OverflowError, pa.ArrowException) as e:
            raise ValueError(f"the mapper's rows do not fit the {source} schema (a mapper bug, please report it): "
                             f"{e}") from e
        self._put(self.out / partition_dir(src, region, account, day), name, table)

    def _put(self, folder: Path, name: str, table: pa.Table) -> None:
        if "time" in table.column_names:
            times = np.asarray(table["time"].cast(pa.int64()))
            if len(times) > 1 and (np.diff(times) < 0).any():
                table = table.sort_by("time")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.{CODEC}.parquet"
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp, compression=CODEC)
        tmp.replace(path)
        self.written.append(path)


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Column lists of flat catalog rows (a field a row lacks is None)."""
    cols: dict[str, list[Any]] = {}
    n = len(rows)
    for i, row in enumerate(rows):
        for k, v in row.items():
            col = cols.get(k)
            if col is None:
                col = cols[k] = [None] * n
            col[i] = v
    return cols


def _with_partition(cols: dict[str, Any], key: tuple[str, str, str, str], n: int) -> dict[str, Any]:
    """``cols`` with the partition columns a row does not give itself."""
    _, account, region, _ = key
    cols.setdefault("accountid", [account] * n)
    cols.setdefault("region", [region] * n)
    cols.setdefault("asl_version", [ASL_VERSION] * n)
    cols.setdefault("time_dt", cols["time"])
    return cols


#: Partition values: what the key layout parses back, and never a path of its own (``..``, ``/``).
_EXT_SOURCE = re.compile(r"ext/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _check_partition(m: Mapped) -> None:
    """Reject a row whose account or region is not a partition the lake readers parse back (core.layout's rules)."""
    _check_folders(m.source, m.account, m.region)


def _check_folders(source: str, account: str, region: str) -> None:
    """:func:`_check_partition` of the partition values (checked once per partition when they are text)."""
    for what, value in (("account", account), ("region", region)):
        if not isinstance(value, str):  # a list or object is not hashable for the cache either
            raise RejectRecord(f"{what} {str(value)[:80]!r} is a JSON {type(value).__name__}, not text: it cannot be a "
                               f"partition folder")
    _check_names(source, account, region)


@functools.lru_cache(maxsize=4096)
def _check_names(source: str, account: str, region: str) -> None:
    """:func:`_check_folders` on text, once per partition (an exception is not cached: a bad one is checked each time)."""
    ext = source.startswith("ext/")
    if ext and not _EXT_SOURCE.fullmatch(source):
        raise ValueError(f"custom source {source!r} is not ext/<name> with a plain folder name")
    if not (EXTERNAL_ACCOUNT_RE if ext else ACCOUNT_RE).fullmatch(account):
        want = "12 digits, external or external_<id>" if ext else "a 12-digit AWS account id"
        raise RejectRecord(f"account {account[:80]!r} cannot be a partition folder ({want})")
    if not REGION_FOLDER_RE.fullmatch(region):
        raise RejectRecord(f"region {region[:80]!r} cannot be a partition folder (an AWS region name such as us-east-1)")


_UNMAPPED = pa.map_(pa.string(), pa.string())


def _ext_tables(rows: list[dict[str, Any]]) -> list[pa.Table]:
    """Tables of nested ``ext/`` rows: every row's fields (not only the first row's), types inferred.

    Rows whose values of a field have types that cannot share a column (a number here, a text there) are split by
    the type each row gives the conflicting fields, one table per type combination, so nothing is dropped.
    """
    names = list(dict.fromkeys(k for r in rows for k in r))
    columns: dict[str, pa.Array] = {}
    conflicts = []
    for n in names:
        try:
            if n == "unmapped":  # Security Lake's tables hold unmapped as map<string, string> whatever the class
                columns[n] = pa.array([None if r.get(n) is None else list(r[n].items()) for r in rows], _UNMAPPED)
                continue
            columns[n] = pa.array([r.get(n) for r in rows])
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            conflicts.append(n)
    if not conflicts:
        return [pa.table(columns)]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        try:
            groups[tuple(shape(r.get(n)) for n in conflicts)].append(r)
        except ShapeConflict as e:
            raise ValueError(f"a custom-source row cannot be stored in Parquet (a mapper bug, please report it): {e}") from e
    if len(groups) == 1:
        raise ValueError(f"custom-source rows of one type do not share a column: {conflicts} (please report it)")
    return [t for g in groups.values() for t in _ext_tables(g)]


#: Kinds with a column-wise mapper of batches of decoded records (``map_batch``), by module.
FAST = {"cloudtrail": "slake_forensics.importers.cloudtrail_fast"}
#: Records a column-wise mapper maps at a time (bounds the decoded records held: ~10 KB of Python objects each).
FAST_BATCH = 4_096
#: ... or the records of this many characters of input (large records: the batch stays a few hundred MB at most).
FAST_CHARS = 16 << 20


def _memory_pool() -> pa.MemoryPool:
    """Arrow's jemalloc pool (the system allocator where Arrow was built without it).

    Arrow's default, mimalloc, hands freed pages back to the system ~10 ms after each flush and then faults them in
    again, as 2 MB transparent huge pages on this kind of machine: a third of the import's CPU time went to the
    kernel (60,000 records on 2 workers: 1.56 s of system time with mimalloc, 0.37 s with jemalloc, 0.39 s with the
    system allocator; peak RSS 312, 260 and 255 MB).
    """
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:
        return pa.system_memory_pool()


def _import_file(kind: str, path: Path, out: Path, options: Mapping[str, str], sha: str) -> dict[str, Any]:
    """Import one file: :func:`_map_file` with Python's cyclic garbage collector paused and Arrow on
    :func:`_memory_pool` (both restored afterwards).

    Decoded JSON records hold no reference cycles, but a batch of them is ~250,000 young objects, and the collector's
    passes over them cost a quarter of the mapping's CPU time; it runs again when the file is done.
    """
    enabled = gc.isenabled()
    gc.disable()
    pool = pa.default_memory_pool()
    pa.set_memory_pool(_memory_pool())
    try:
        return _map_file(kind, path, out, options, sha)
    finally:
        pa.set_memory_pool(pool)
        if enabled:
            gc.enable()


def _map_file(kind: str, path: Path, out: Path, options: Mapping[str, str], sha: str) -> dict[str, Any]:
    module = load_kind(kind)
    w = _Writer(out, sha)
    rin = rout = rej = 0
    per: dict[str, int] = defaultdict(int)
    rejects: list[dict[str, Any]] = []

    def one(origin: str, raw: Any) -> None:
        """Map one record with the kind's per-record mapper (or reject it)."""
        nonlocal rout, rej
        try:
            if isinstance(raw, RejectRecord):
                raise raw
            try:
                mapped = module.map_record(raw, options)
            except RejectRecord:
                raise
            except Exception as e:  # a hostile value the mapper did not foresee: that record only is rejected
                raise unforeseen(kind, e) from e
            for m in mapped if isinstance(mapped, list) else [mapped]:
                w.add(m, origin)
                per[m.source] += 1
                rout += 1
        except RejectRecord as e:
            rej += 1
            text = getattr(e, "raw", None)
            rejects.append({"reason": str(e), "origin": origin,
                            "raw": text if text is not None else (raw if isinstance(raw, dict) else None)})

    read = [0]  # characters read so far (json reader)
    records = read_json(path, read) if module.READER == "json" else module.READER(path)
    if kind in FAST and module.READER == "json":
        map_batch = importlib.import_module(FAST[kind]).map_batch
        origins: list[str] = []
        raws: list[dict[str, Any]] = []
        start = [0]  # characters read when the pending batch began

        def flush() -> None:
            """Map the pending records column-wise; those left to the per-record mapper keep their place."""
            nonlocal rout
            table, left = map_batch(raws, options, _day, _check_folders)
            for s, n in zip(*pc.value_counts(table["_source"]).flatten()):
                per[s.as_py()] += n.as_py()
            rout += table.num_rows
            at = 0  # rows of ``table`` added so far
            for k, i in enumerate([*left, len(raws)]):
                run = i - at - k  # rows mapped column-wise before record i
                if run:
                    w.add_table(table.slice(at, run))
                    at += run
                if i < len(raws):
                    one(origins[i], raws[i])
            origins.clear()
            raws.clear()
            start[0] = read[0]

        for origin, raw in records:
            rin += 1
            if isinstance(raw, dict):
                origins.append(origin)
                raws.append(raw)
                if len(raws) >= FAST_BATCH or read[0] - start[0] > FAST_CHARS:
                    flush()
            else:
                if raws:
                    flush()
                one(origin, raw)
        if raws:
            flush()
    else:
        for origin, raw in records:
            rin += 1
            one(origin, raw)
    w.flush()
    # Arrow's allocator keeps what the flushes freed (each flush reuses it: releasing it after every flush made the
    # next one fault every page in again, ~15 us a record of CPU); given back once the file is done
    pa.default_memory_pool().release_unused()
    for source, origin, why, row in w.unfit:
        rej += 1
        rout -= 1
        per[source] -= 1
        rejects.append({"reason": why, "origin": origin, "raw": None, "row": row})
    per = defaultdict(int, {s: n for s, n in per.items() if n})
    return {"path": str(path), "records_in": rin, "records_out": rout, "rejected": rej, "per_source": dict(per),
            "written": [str(p) for p in w.written], "rejects": rejects}


def import_logs(kind: str, paths: Iterable[str | Path], out: str | Path, *, options: Mapping[str, str] | None = None,
                progress: bool = True, workers: int | None = None) -> ImportSummary:
    """Import raw log files of ``kind`` into the lake folder ``out``.

    Parameters
    ----------
    kind : str
        A key of :data:`slake_forensics.importers.kinds.KINDS`.
    paths : iterable of str or Path
        Files or directories (walked recursively, e.g. an ``AWSLogs/`` tree). Never modified.
    out : str or Path
        Lake root; Parquet goes to ``aws/<SOURCE>/2.0/region=…/accountId=…/eventDay=…/`` (``ext/<name>/…``).
    options : mapping, optional
        Mapper options such as ``name``, ``account``, ``region``.
    progress : bool
        Show a progress bar over input bytes.
    workers : int, optional
        Processes mapping files in parallel (default: one per CPU, at most one per file; 1 = in this process).

    Returns
    -------
    ImportSummary
        Counts per file and source; files already imported (same SHA-256) are listed as skipped.

    Examples
    --------
    >>> import_logs("cloudtrail", ["AWSLogs/"], "lake")  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    opts = dict(options or {})
    check = getattr(load_kind(kind), "check_options", None)
    if check is not None:
        check(opts)  # a bad option is a usage error before any file is read
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = list(iter_files([Path(p) for p in paths]))
    done = _imported(out)
    summary = ImportSummary(kind)
    per: dict[str, int] = defaultdict(int)
    bar = tqdm(total=sum(f.stat().st_size for f in files), unit="B", unit_scale=True, disable=not progress,
               desc=f"import {kind}")
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(files)))
    pool = ProcessPoolExecutor(n_workers, mp_context=mp.get_context("fork")) if n_workers > 1 else None
    try:
        todo: list[tuple[Path, str, int]] = []
        shas = pool.map(sha256_file, files) if pool else map(sha256_file, files)  # hashed in parallel
        for f, sha in zip(files, shas):
            size = f.stat().st_size
            if sha in done or any(sha == s for _, s, _ in todo):
                summary.skipped.append(str(f))
                bar.update(size)
            else:
                todo.append((f, sha, size))
        results = (pool.map(_import_file, *zip(*[(kind, f, out, opts, sha) for f, sha, _ in todo])) if pool and todo
                   else (_import_file(kind, f, out, opts, sha) for f, sha, _ in todo))
        with open(out / MANIFEST, "a") as man, open(out / REJECTS, "a") as rej:
            for (f, sha, size), r in zip(todo, results):
                rej.writelines(json.dumps({"file": str(f), "sha256": sha, **line}, default=str) + "\n" for line in r.pop("rejects"))
                summary.files += 1
                summary.records_in += r["records_in"]
                summary.records_out += r["records_out"]
                summary.rejected += r["rejected"]
                summary.written += r["written"]
                for s, n in r["per_source"].items():
                    per[s] += n
                man.write(json.dumps({"file": str(f.resolve()), "sha256": sha, "size": size, "kind": kind,
                                      "options": opts, "tool_version": __version__,
                                      "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
                                      "records_in": r["records_in"], "records_out": r["records_out"],
                                      "rejected": r["rejected"], "per_source": r["per_source"],
                                      "outputs": [str(Path(p).relative_to(out)) for p in r["written"]]}) + "\n")
                man.flush()
                bar.update(size)
    finally:
        if pool:
            pool.shutdown()
    bar.close()
    summary.per_source = dict(per)
    summary.seconds = time.perf_counter() - t0
    return summary


def copy_lake(background: str | Path, out: str | Path) -> int:
    """Copy the lake ``background`` into the new folder ``out``, hard-linking files where possible.

    Parameters
    ----------
    background : str or Path
        Existing lake root (its ``aws/`` and ``ext/`` trees are copied; answer keys are not).
    out : str or Path
        Folder to create; must not exist yet.

    Returns
    -------
    int
        Number of files linked or copied.

    Examples
    --------
    >>> copy_lake("sample_data", "exercise")  # doctest: +SKIP
    """
    background, out = Path(background), Path(out)
    if out.exists():
        raise FileExistsError(f"{out} already exists; give a new folder for the exercise lake")
    n = 0
    for top in ("aws", "ext"):
        for f in sorted((background / top).rglob("*")) if (background / top).is_dir() else []:
            if not f.is_file():
                continue
            dest = out / f.relative_to(background)
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(f, dest)  # read-only sharing; the importer only adds new files, never rewrites
            except OSError:
                shutil.copy2(f, dest)
            n += 1
    out.mkdir(parents=True, exist_ok=True)
    return n
