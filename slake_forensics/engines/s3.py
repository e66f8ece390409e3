"""A Security Lake read straight from its S3 bucket with awswrangler.

Caveat: source-version-2 tables are Apache Iceberg tables.  The Parquet files under a
prefix are not the table: a prefix can still hold files that the current snapshot no
longer references (deleted, rewritten by compaction, or expired but not yet removed),
so reading files by path can return duplicates or deleted rows.  Use this engine for
triage and for copies of a lake (exports, evidence buckets); Athena
(:class:`~slake_forensics.engines.athena.AthenaLake`) is authoritative for v2 tables.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import awswrangler as wr
import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from slake_forensics.core import layout, ocsf, versions
from slake_forensics.sql.translate import referenced_tables
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
from slake_forensics.core.config import RAISE_LIMIT, query_limits
from slake_forensics.core.errors import (
    BadConfigError,
    CorruptFileError,
    MisplacedFileError,
    NoPartitionsError,
    NotALakeError,
    QueryTimeout,
    SchemaMismatchError,
    SlakeError,
)
from slake_forensics.core.scope import default_window, id_list
from slake_forensics.engines.base import Engine, Explanation
from slake_forensics.core.catalog import check_region
from slake_forensics.sql.build import load_query
from slake_forensics.core.timewindow import TimeLike, Window
from slake_forensics.engines.athena import aws_error, aws_session
from slake_forensics.engines.local import (
    LocalEngine,
    OnError,
    OutsideDayWarning,
    SkippedFileWarning,
    _class_problem,
    outside_day,
)

_log = logging.getLogger(__name__)
_URI_RE = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>.*?))?/?$")
_SORT = "__slake_time"
_SKIP_HINT = " It is not damaged: remove it from the lake prefix, or pass on_error='skip' to skip it with a warning."
_SQL_RE = re.compile(r"\s*(\(|select\b|with\b|values\b|table\b|--|/\*)", re.IGNORECASE)


def default_cache_dir() -> Path:
    """``$SLAKE_CACHE`` if set, else ``$XDG_CACHE_HOME/slake-forensics/s3`` (``~/.cache/…``)."""
    if os.environ.get("SLAKE_CACHE"):
        return Path(os.environ["SLAKE_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "slake-forensics" / "s3"


class S3Engine(Engine):
    """A lake read from ``s3://<bucket>[/<prefix>]`` holding ``aws/<SOURCE_NAME>/2.0/…`` keys.

    **Iceberg caveat**: source-version-2 tables are Apache Iceberg tables, and files under a
    prefix can include data outside the current snapshot (deleted, compacted or expired
    files).  This engine reads files by path, so it is for triage and for copies of the
    lake; Athena is authoritative for v2.

    ``load`` lists only the partitions the window, accounts and regions select (one S3
    ``LIST`` per region/account/event day), reads those files with
    ``awswrangler.s3.read_parquet`` (top-level column projection) behind a ``tqdm`` progress
    bar (notebook-aware, silent when output is not a terminal) and returns exactly what
    :class:`~slake_forensics.engines.local.LocalLake` returns for the same files.

    ``sql`` downloads the files of the sources a query names, for a window, into a local
    cache (``cache_dir``; keys are immutable, so a cached file is reused) and runs the query
    with the local engine (DuckDB) over exactly those files: see :meth:`sql`.

    Both source versions are read (a source's version-1 files below ``aws/<SOURCE>/1.0/`` join
    its rows in version-2 names, :mod:`slake_forensics.core.versions`), and custom sources below
    ``ext/<name>/`` are discovered (their class from the first file's ``class_uid``).
    """

    #: Days before the lake clock that :meth:`sql` downloads when no ``start``/``end`` is given.
    sql_days: int = 7
    #: The lake's home region: always known here (taken from the boto3 session when not given).
    region: str
    #: Parallel S3 requests (listing, reading, downloading).
    max_workers: int = 16

    def __init__(
        self,
        bucket_uri: str,
        region: str | None = None,
        boto3_session: boto3.Session | None = None,
        now: TimeLike | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        m = _URI_RE.match(bucket_uri or "")
        if not m:
            raise BadConfigError(
                f"{bucket_uri!r} is not an S3 URI of a lake bucket, e.g. s3://aws-security-data-lake-us-east-1-abc123."
            )
        self.bucket = m["bucket"]
        self.prefix = f"{m['prefix']}/" if m["prefix"] else ""
        self.session = aws_session(region, boto3_session, endpoint_url)  # bounded timeouts and retries
        self.region = check_region(self.session.region_name)
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        super().__init__(f"s3://{self.bucket}/{self.prefix}".rstrip("/"), now)
        self._custom: dict[tuple[str, str], Source] | None = None

    # ---- listing ----------------------------------------------------------------------------

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def _key(self, uri: str) -> str:
        return uri[len(f"s3://{self.bucket}/{self.prefix}") :]

    def _dirs(self, key_prefix: str, name: str) -> list[str]:
        """Values of the ``<name>=`` folders directly below ``key_prefix`` (``name=""``: every folder's name)."""
        try:
            found = wr.s3.list_directories(self._uri(key_prefix), boto3_session=self.session)
        except Exception as exc:
            raise aws_error(exc) or NotALakeError(f"Cannot list {self._uri(key_prefix)}: {exc}") from None
        values = []
        for uri in found:
            last = uri.rstrip("/").rsplit("/", 1)[-1]
            if not name:
                values.append(last)
            elif last.startswith(f"{name}="):
                values.append(last[len(name) + 1 :])
        return sorted(values)

    def _objects(self, key_prefix: str) -> list[str]:
        try:
            uris = wr.s3.list_objects(self._uri(key_prefix), suffix=".parquet", boto3_session=self.session)
        except Exception as exc:
            raise aws_error(exc) or NotALakeError(f"Cannot list {self._uri(key_prefix)}: {exc}") from None
        return [self._key(u) for u in uris]

    def custom_sources(self) -> list[Source]:
        """The custom sources below ``ext/<name>/[<version>/]`` (their class read from one file each, once)."""
        if self._custom is None:
            found: dict[tuple[str, str], Source] = {}
            for name in self._dirs("ext/", ""):
                below = self._dirs(f"ext/{name}/", "")
                for version in [v for v in below if "=" not in v] + ([""] if any(v.startswith("region=") for v in below) else []):
                    prefix = f"ext/{name}/" + (f"{version}/" if version else "")
                    keys = self._objects(prefix)
                    if keys:
                        self._download(keys[:1])
                        classes = versions.file_classes([self._cached(keys[0])])
                        found[(name, version)] = custom_source(name, classes, version)
            self._custom = found
        return sorted(self._custom.values(), key=lambda s: s.name)

    def _versions_of(self, src: Source) -> list[Source]:
        """The versioned sources whose files ``src`` reads: v2 and v1 for a v2 source, else ``src`` only."""
        if src.version == SOURCE_VERSION and not src.custom and src.name in V1_SOURCES:
            return [src, V1_SOURCES[src.name]]
        return [src]

    def keys(
        self,
        source: str | Source,
        window: Window | None,
        accounts: Iterable[str] | str | None = None,
        regions: Iterable[str] | str | None = None,
    ) -> list[str]:
        """Data-file keys (below the lake prefix) of ``source`` in the window, accounts and regions, sorted.

        Lists ``region=`` and ``accountId=`` folders, then each selected event-day folder
        (all days when ``window`` is ``None``), below the prefix of each version the source reads
        (a version-2 source: ``2.0/`` and ``1.0/``; a version-1 one: ``1.0/``);
        :func:`~slake_forensics.core.layout.select` makes the final choice.
        """
        src = source if isinstance(source, Source) else find_source(source)
        accts, regs = id_list(accounts, "accounts"), id_list(regions, "regions")
        prefixes = []
        for ver in self._versions_of(src):
            region_values = [r for r in self._dirs(ver.prefix, "region") if regs is None or r in regs]
            pairs = [
                (r, a)
                for r in region_values
                for a in self._dirs(f"{ver.prefix}region={r}/", "accountId")
                if accts is None or a in accts
            ]
            if window is None:
                prefixes += [f"{ver.prefix}region={r}/accountId={a}/" for r, a in pairs]
            else:
                prefixes += [layout.partition_dir(ver, r, a, d) + "/" for r, a in pairs for d in window.days()]
        with ThreadPoolExecutor(max(1, min(self.max_workers, len(prefixes) or 1))) as pool:
            found = [k for keys in pool.map(self._objects, prefixes) for k in keys]
        parts = {k: self._partition(k) for k in found}
        only = None if src.version == SOURCE_VERSION or src.custom else [src.version]
        return layout.select(parts, src, window, accts, regs, only)

    def _bad_folders(
        self, src: Source, accounts: Iterable[str] | str | None = None, regions: Iterable[str] | str | None = None
    ) -> dict[str, str]:
        """``{key: reason}`` of the objects of ``src`` below an ``eventDay=`` folder whose name is not a day
        (``eventDay=2026-13-45``), in the given accounts and regions: reported as the local engine reports them.

        One ``LIST`` of event-day folders per region and account of each version the source reads."""
        if src.custom:
            return {}
        accts, regs = id_list(accounts, "accounts"), id_list(regions, "regions")
        found: dict[str, str] = {}
        for ver in self._versions_of(src):
            for r in [r for r in self._dirs(ver.prefix, "region") if regs is None or r in regs]:
                for a in [a for a in self._dirs(f"{ver.prefix}region={r}/", "accountId") if accts is None or a in accts]:
                    for d in self._dirs(f"{ver.prefix}region={r}/accountId={a}/", "eventDay"):
                        folder = f"{layout.partition_dir(ver, r, a, d)}/"
                        reason = layout.classify(folder + "x.parquet", {(ver.source_name, ver.version): ver})
                        if isinstance(reason, str):
                            found.update({k: reason for k in self._objects(folder)})
        return found

    def _warn_bad_folders(self, found: dict[str, str]) -> None:
        if found:
            listed = "; ".join(f"{self._uri(k)} ({r})" for k, r in found.items())
            warnings.warn(f"Skipped {len(found)} file(s) of the lake: {listed}", SkippedFileWarning, stacklevel=3)

    def _partition(self, key: str) -> layout.Partition | None:
        custom = {(s.source_name, s.version): s for s in self.custom_sources()} if key.startswith("ext/") else None
        part = layout.classify(key, custom)
        return part if isinstance(part, layout.Partition) else None

    # ---- sources ----------------------------------------------------------------------------

    def sources(self) -> pd.DataFrame:
        """One row per source with data (see :meth:`Lake.sources`), from folder listings only.

        Cost: a few ``LIST`` requests per source/region/account; no file is read.  So
        ``first_event`` is the start of the first event day present, ``last_event`` the last
        millisecond of the last one, and ``rows`` is ``<NA>`` (it would take every file's
        footer); ``attrs["resolution"]`` is ``"day"``.
        """
        out, skipped = [], {}
        for src in [*SOURCES.values(), *self.custom_sources()]:
            accounts, regions, spans = set(), set(), {}
            for ver in self._versions_of(src):
                days = set()
                for r in self._dirs(ver.prefix, "region"):
                    accts = self._dirs(f"{ver.prefix}region={r}/", "accountId")
                    for a in accts:
                        for d in self._dirs(f"{ver.prefix}region={r}/accountId={a}/", "eventDay"):
                            folder = f"{layout.partition_dir(ver, r, a, d)}/"
                            part = layout.classify(folder + "x.parquet", {(ver.source_name, ver.version): ver})
                            if isinstance(part, layout.Partition):
                                days.add(d)
                            else:
                                skipped.update({k: part for k in self._objects(folder)})
                    if accts:
                        regions.add(r)
                        accounts.update(accts)
                if days:
                    first, last = pd.Timestamp(min(days), tz="UTC"), pd.Timestamp(max(days), tz="UTC")
                    spans[ver.version] = (first, last + pd.Timedelta(days=1) - pd.Timedelta(milliseconds=1))
            if not spans:
                continue
            out.append(
                {
                    "source": src.name,
                    "table": src.qualified_table(self.region),
                    "classes": list(src.classes),
                    "accounts": sorted(accounts),
                    "regions": sorted(regions),
                    "first_event": min(s[0] for s in spans.values()),
                    "last_event": max(s[1] for s in spans.values()),
                    "rows": pd.NA,
                    "versions": sorted(spans),
                    "spans": dict(sorted(spans.items())),
                    "skipped_files": sum(1 for k in skipped if k.startswith((f"aws/{src.source_name}/", f"ext/{src.source_name}/"))),
                }
            )
        columns = ["source", "table", "classes", "accounts", "regions", "first_event", "last_event", "rows", "versions", "spans", "skipped_files"]
        df = pd.DataFrame(out, columns=columns).astype({"rows": "Int64"})
        if skipped:
            listed = "; ".join(f"{self._uri(k)} ({r})" for k, r in skipped.items())
            warnings.warn(f"Skipped {len(skipped)} file(s) of the lake: {listed}", SkippedFileWarning, stacklevel=2)
        df.attrs = {"lake": self.location, "resolution": "day", "skipped": {self._uri(k): r for k, r in skipped.items()}}
        return df

    # ---- load -------------------------------------------------------------------------------

    def _plan(
        self,
        source: str,
        start: TimeLike,
        end: TimeLike,
        accounts: Iterable[str] | str | None,
        regions: Iterable[str] | str | None,
        columns: Iterable[str] | str | None,
    ) -> tuple[Source, Window, list[str] | None, list[str] | None, list[str] | None, list[str]]:
        src = find_source(source)
        window = Window.of(start, end)
        accts, regs = id_list(accounts, "accounts"), id_list(regions, "regions")
        cols = None if columns is None else ocsf.check_columns(columns, src.schema, f"source {src.name}")
        keys = self.keys(src, window, accts, regs)
        if not keys:
            raise NoPartitionsError(
                f"No partitions for {src.name} in {window}"
                + (f", accounts {accts}" if accts is not None else "")
                + (f", regions {regs}" if regs is not None else "")
                + f" below {self.location}. Widen the window, change the filters, or check lake.sources()."
            )
        return src, window, accts, regs, cols, keys

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
        """Events of ``source`` in ``[start, end)`` read from S3 (see :meth:`Lake.load`).

        Returns the same frame as the local engine for the same files: dotted columns,
        Arrow dtypes, rows in the window sorted by ``time_dt`` (stable, files in key order);
        ``attrs`` as the local engine's, ``files`` being ``s3://`` URIs.  As there, an object
        that cannot be read raises :class:`CorruptFileError`, one that cannot be reconciled
        with the catalog :class:`SchemaMismatchError`, one holding another source's class
        :class:`MisplacedFileError`, each naming its ``s3://`` URI; ``on_error="skip"`` skips
        such a file with a :class:`SkippedFileWarning` and lists it in ``attrs["skipped_files"]``.
        Rows outside their partition day are kept and reported (:class:`OutsideDayWarning`,
        ``attrs["outside_day"]``).
        """
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}.")
        src, window, accts, regs, cols, keys = self._plan(source, start, end, accounts, regions, columns)
        # version-1 and custom files are read whole: their columns have other names until reconciled
        whole = any(self._partition(k).version != SOURCE_VERSION or src.custom for k in keys)  # type: ignore[union-attr]
        top = None if cols is None or whole else sorted({c.split(".")[0] for c in cols} | {"time_dt", "time"})
        uris = [self._uri(k) for k in keys]
        results: list[tuple[pa.Table, str] | SlakeError | None] = [None] * len(uris)
        with ThreadPoolExecutor(max(1, min(self.max_workers, len(uris)))) as pool, tqdm(
            total=len(uris), desc=f"{src.name} files", unit="file", disable=None
        ) as bar:
            futures = {pool.submit(self._try_read, uri, src, window, top): i for i, uri in enumerate(uris)}
            for future in futures:
                results[futures[future]] = future.result()
                bar.update()
        tables, skipped, outside = [], [], {}
        for uri, result in zip(uris, results):
            if isinstance(result, SlakeError):
                if on_error == "raise":
                    raise result
                skipped.append(uri)
                warnings.warn(f"Skipping a file: {result}", SkippedFileWarning, stacklevel=2)
                continue
            assert result is not None
            tables.append(result[0])
            if result[1]:
                outside[uri] = result[1]
        self._warn_bad_folders(self._bad_folders(src, accts, regs))
        if outside:
            listed = "; ".join(f"{u}: {d}" for u, d in outside.items())
            warnings.warn(f"{len(outside)} file(s) hold rows outside their partition day: {listed}", OutsideDayWarning, stacklevel=2)
        if not tables:
            empty = src.schema.empty_table()
            tables = [empty.append_column(_SORT, pa.array([], pa.int64()))]
        table = pa.concat_tables(tables, promote_options="permissive")
        table = table.sort_by([(_SORT, "ascending")]).drop_columns([_SORT])
        df = ocsf.flatten(table)
        if cols is not None:
            df = df[[name for c in cols for name in df.columns if name == c or name.startswith(c + ".")]]
        sql, params = load_query(src, region=self.region, window=window, accounts=accts, regions=regs, columns=cols)
        df.attrs = {
            "source": src.name,
            "window": (window.start, window.end),
            "accounts": accts,
            "regions": regs,
            "columns": cols,
            "files": [u for u in uris if u not in skipped],
            "skipped_files": skipped,
            "outside_day": outside,
            "lake": self.location,
            "engine": "awswrangler",
            "sql": sql,
            "params": params,
        }
        return df

    def _try_read(self, uri: str, src: Source, window: Window, top: list[str] | None) -> tuple[pa.Table, str] | SlakeError:
        """:meth:`_read`, or the :class:`SlakeError` naming ``uri`` that says why the object was not read."""
        try:
            return self._read(uri, src, window, top)
        except SlakeError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - any library's failure on one object becomes a message naming it
            found = aws_error(exc)
            if found is not None:
                raise found from None
            return CorruptFileError(
                f"Cannot read {uri}: {type(exc).__name__}: {exc}. The object is damaged, truncated or not Parquet. "
                "Re-copy it into the lake bucket, or pass on_error='skip' to skip unreadable objects with a warning."
            )

    def _read(self, uri: str, src: Source, window: Window, top: list[str] | None) -> tuple[pa.Table, str]:
        """One file's rows in the window, conformed to the catalog, plus the sort column; and the
        sentence reporting its rows outside its partition day (``""`` when none)."""
        try:
            frame = wr.s3.read_parquet(uri, columns=top, dtype_backend="pyarrow", boto3_session=self.session)
        except Exception as exc:
            raise aws_error(exc) or exc
        table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
        part = self._partition(self._key(uri))
        assert part is not None  # keys() returns only keys with a partition
        if "class_uid" in table.column_names:
            problem = _class_problem({int(c) for c in pc.unique(table["class_uid"]).to_pylist() if c is not None}, part)
            if problem:
                raise MisplacedFileError(f"{uri}: {problem}")
        try:
            times = _epoch_ms(table)
        except pa.ArrowInvalid as exc:
            raise SchemaMismatchError(f"{uri}: its time column cannot be read as a time: {exc}.{_SKIP_HINT}") from None
        detail = outside_day(times, part)[1]
        lo, hi = -(-window.start.value // 10**6), -(-window.end.value // 10**6)
        mask = pc.and_(pc.greater_equal(times, lo), pc.less(times, hi))
        try:
            table = versions.reconcile(table.filter(mask), part, src, uri)
        except pa.ArrowInvalid as exc:
            raise SchemaMismatchError(f"{exc}{_SKIP_HINT}") from None
        return table.append_column(_SORT, times.filter(mask)), detail

    # ---- SQL --------------------------------------------------------------------------------

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
        """Run Athena SQL over the files of a window, with the local engine.

        ``timeout`` (seconds, downloads included) and ``max_rows`` bound the query as on the
        local engine (defaults: the ``query_timeout`` and ``max_rows`` settings): past the time
        limit :class:`QueryTimeout`, on Ctrl-C :class:`QueryInterrupted`, beyond ``max_rows``
        :class:`TooManyRowsError`.  Each S3 call has the configured timeouts and retries.

        The sources the query names are downloaded for ``[start, end)`` (default: the
        :attr:`sql_days` days before the lake clock) and optional ``accounts`` / ``regions``
        into ``cache_dir``, then :class:`~slake_forensics.engines.local.LocalLake` runs the
        query over exactly those files (a per-query folder of hard links; whole event days,
        so filter ``time_dt`` in the SQL for exact bounds).  ``only_files`` (keys below the
        lake prefix) restricts the files further: the entity index's narrowing.  Returns the local engine's frame
        with ``attrs`` extended by ``window`` and ``s3_files``.  Raises
        :class:`NoPartitionsError` when the window holds no file of any named source.
        """
        started = time.monotonic()
        timeout, max_rows = query_limits(timeout, max_rows)
        window = self._sql_window(start, end)
        names = referenced_tables(text)
        wanted = {table_source(n) for n in names}
        keys = [k for src in wanted for k in self.keys(src, window, accounts, regions)]
        if only_files is not None:
            only = set(only_files)
            keys = [k for k in keys if k in only]
        if not keys:
            raise NoPartitionsError(
                f"No files of {', '.join(sorted(s.name for s in wanted)) or 'any source'} in {window} below "
                f"{self.location}. Pass start=/end= covering the data (lake.sources() shows the days present)."
            )
        bad = {k: r for src in wanted for k, r in self._bad_folders(src, accounts, regions).items()}
        self._warn_bad_folders(bad)
        _log.info("Query over %d file(s) of %s in %s; cache %s", len(keys), self.location, window, self.cache_dir)
        self._download(keys)
        left = None if timeout is None else timeout - (time.monotonic() - started)
        if left is not None and left <= 0:
            raise QueryTimeout(
                f"Downloading the {len(keys)} file(s) of the query took longer than its time limit of {timeout:g} s. "
                f"Narrow the window, or raise the limit: sql(..., timeout=<seconds>) or {RAISE_LIMIT['timeout']}."
            )
        view = Path(tempfile.mkdtemp(prefix="slake-s3-")).resolve()
        local = f"{view}/"
        try:
            for key in keys:
                target = view / key
                target.parent.mkdir(parents=True, exist_ok=True)
                _link(self._cached(key), target)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    df = LocalEngine(view, now=self.now).sql(text, params, timeout=left or float("inf"), max_rows=max_rows)
                except SlakeError as exc:  # name the objects, not the per-query folder
                    raise type(exc)(str(exc).replace(local, self._uri(""))) from None
        finally:
            shutil.rmtree(view, ignore_errors=True)
        for w in caught:  # the local engine's reports, naming the objects
            text_of = str(w.message).replace(local, self._uri(""))
            for key in keys:
                text_of = text_of.replace(f" {key}", f" {self._uri(key)}")
            warnings.warn(text_of, w.category, stacklevel=2)
        df.attrs.update(
            lake=self.location,
            window=(window.start, window.end),
            s3_files=[self._uri(k) for k in keys],
            skipped_files=[p.replace(local, self._uri("")) for p in df.attrs.get("skipped_files", [])] + [self._uri(k) for k in bad],
        )
        df.attrs.pop("files", None)
        return df

    def _sql_window(self, start: TimeLike | None, end: TimeLike | None) -> Window:
        if (start is None) != (end is None):
            raise BadConfigError("Pass both start= and end= (or neither, for the last sql_days days).")
        return default_window(self.clock(), start, end, days=self.sql_days)

    def _cached(self, key: str) -> Path:
        return self.cache_dir / self.bucket / self.prefix / key

    def _heads(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """``{key: HEAD response}`` (``ContentLength``, ``ETag`` …) of ``keys``: one request each, in parallel."""
        if not keys:
            return {}
        try:
            found = wr.s3.describe_objects([self._uri(k) for k in keys], boto3_session=self.session)
        except Exception as exc:
            raise aws_error(exc) or NotALakeError(f"Cannot read the metadata of {len(keys)} object(s) below {self.location}: {exc}") from None
        return {self._key(uri): head for uri, head in found.items()}

    def _download(self, keys: list[str]) -> None:
        """Fetch every key whose cached copy is missing or differs from the object (written to a
        temporary name, checked, then renamed).

        A cached copy is verified against the object's size and, for objects uploaded in one part,
        its ETag (the MD5 of the content) on every use; a copy that differs (a damaged or truncated
        cache file) is fetched again with a log message.  A download that still differs raises
        :class:`CorruptFileError` naming the object."""
        heads = self._heads(keys)
        missing = []
        for key in keys:
            path = self._cached(key)
            if not path.is_file():
                missing.append(key)
            elif _differs(path, heads.get(key)):
                _log.warning("Cached copy of %s differs from the object (size or ETag): fetching it again", self._uri(key))
                missing.append(key)

        def fetch(key: str) -> None:
            path = self._cached(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + f".part{os.getpid()}")
            try:
                wr.s3.download(self._uri(key), str(partial), boto3_session=self.session)
            except Exception as exc:
                partial.unlink(missing_ok=True)
                raise aws_error(exc) or exc
            reason = _differs(partial, heads.get(key))
            if reason:
                partial.unlink(missing_ok=True)
                raise CorruptFileError(
                    f"Downloaded {self._uri(key)} but the copy differs from the object ({reason}): the transfer was "
                    "cut or the object changed while it was read. Run the query again."
                )
            partial.replace(path)

        if not missing:
            return
        with ThreadPoolExecutor(max(1, min(self.max_workers, len(missing)))) as pool, tqdm(
            total=len(missing), desc="downloading", unit="file", disable=None
        ) as bar:
            for _ in pool.map(fetch, missing):
                bar.update()

    # ---- explain ----------------------------------------------------------------------------

    def explain(self, what: str, *args: Any, **kwargs: Any) -> Explanation:
        """What a load (``explain(source, start, end, …)``) or query (``explain(sql, params=None,
        start=None, end=None)``) would read: the equivalent Athena SQL and the ``s3://`` files.
        Lists S3 but reads no data file."""
        if _SQL_RE.match(what):
            window = self._sql_window(kwargs.get("start"), kwargs.get("end"))
            keys = [k for n in referenced_tables(what) for k in self.keys(table_source(n), window)]
            return Explanation(what, list(kwargs.get("params") or []), [self._uri(k) for k in keys], "duckdb")
        src, window, accts, regs, cols, keys = self._plan(what, *args, **kwargs)
        sql, params = load_query(src, region=self.region, window=window, accounts=accts, regions=regs, columns=cols)
        return Explanation(sql, params, [self._uri(k) for k in keys], "awswrangler")


def _epoch_ms(table: pa.Table) -> pa.ChunkedArray:
    """Epoch milliseconds of ``time_dt`` (any unit or zone, or ISO 8601 strings), else of ``time``, as int64."""
    if "time_dt" in table.column_names:
        try:
            return ocsf.conform_array(table["time_dt"], TIMESTAMP_TYPE, "time_dt").cast(pa.int64())
        except pa.ArrowInvalid:
            if "time" not in table.column_names:
                raise
    return table["time"].cast(pa.int64())


def _differs(path: Path, head: dict[str, Any] | None) -> str:
    """Why the file at ``path`` is not the object of HEAD response ``head`` (``""`` when it is or ``head`` is unknown).

    Compares the size, and the MD5 with the ETag when the ETag is one (a single-part upload; a
    multipart ETag holds a ``-`` and is not the content's MD5)."""
    if not head:
        return ""
    size = path.stat().st_size
    want = head.get("ContentLength")
    if want is not None and size != int(want):
        return f"{size} bytes, the object has {want}"
    etag = str(head.get("ETag") or "").strip('"')
    if re.fullmatch(r"[0-9a-f]{32}", etag):
        digest = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != etag:
            return f"MD5 {digest.hexdigest()}, the object's ETag is {etag}"
    return ""


def _link(source: Path, target: Path) -> None:
    """Hard-link ``source`` to ``target`` (copy when the file system cannot link)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
