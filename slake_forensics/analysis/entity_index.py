"""An entity index for local and S3 lakes: which files hold each value of the pivot entities.

A pivot scans every file of its window; the index lets it open only the files that can match.
It is a sidecar kept **outside** the lake (lakes are read-only evidence), in
:func:`default_index_dir` (``$SLAKE_INDEX_DIR``, else ``~/.cache/slake-forensics/index``), one
folder per lake keyed by the lake's location (its resolved root path or S3 URI):

``meta.json``
    Format version, the lake's location and a fingerprint of the entity fields indexed
    (:data:`~slake_forensics.analysis.entities.ENTITY_FIELDS`); a mismatch rebuilds the index.
``files.parquet``
    One row per indexed file: ``file_id, source, key, stamp`` (``stamp``: ``size:mtime_ns`` of a
    local file, the ETag of an S3 object).
``values-<source>.parquet``
    ``value, file_id`` pairs, distinct and sorted by value: every value the source's fields of
    :data:`INDEX_ENTITIES` hold in that file, extracted with the same
    :meth:`~slake_forensics.analysis.entities.Field.extract` that :func:`~slake_forensics.analysis.entities.entities`
    uses (prefixes such as ``arn:aws:s3:::`` stripped).

The index is opt-in once, automatic afterwards: :func:`build` (``lake.build_index()``, ``python -m
slake_forensics index LAKE``) creates it; from then on every pivot of that lake (``lake.pivot``,
``lake.expand``, the workflows' lookups) first indexes the files of its window that are new or
changed (size and mtime, or ETag) and then queries only the files the index names.  A file the
index cannot vouch for (unreadable stamp, a value the index never records) is scanned, so results
are the full scan's.  A corrupt index is rebuilt with a :class:`IndexRebuiltWarning`.
See docs/entity_index.md.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from slake_forensics.analysis.entities import ENTITY_FIELDS, Field
from slake_forensics.core import layout, ocsf
from slake_forensics.core.catalog import SOURCE_VERSION, SOURCES, Source, source as find_source
from slake_forensics.core.timewindow import Window
from slake_forensics.engines.local import LocalEngine, _read
from slake_forensics.engines.s3 import S3Engine
from slake_forensics.sql.build import literal, quote_identifier

if TYPE_CHECKING:
    from slake_forensics.engines.base import Engine

#: Entity types the index records (the pivot entities, and account).
INDEX_ENTITIES: tuple[str, ...] = ("ip", "principal", "access_key", "account", "bucket", "instance", "domain")
#: Version of the on-disk format; another version is rebuilt.
FORMAT = 1
#: Values the fields' extraction drops (they name no entity): a pivot on one of them scans every file.
_UNINDEXED = ("", "-")
#: Bytes a file's fixed cost in a build is worth (footer check, opening), to order the sources by cost.
_FILE_COST = 700_000
_SCHEMA = pa.schema([pa.field("value", pa.string()), pa.field("file_id", pa.int32())])
_FILES_SCHEMA = pa.schema(
    [pa.field("file_id", pa.int32()), pa.field("source", pa.string()), pa.field("key", pa.string()), pa.field("stamp", pa.string())]
)


class IndexRebuiltWarning(UserWarning):
    """The entity index of a lake was unreadable or of another format and is rebuilt."""


def default_index_dir() -> Path:
    """``$SLAKE_INDEX_DIR`` if set, else ``$XDG_CACHE_HOME/slake-forensics/index`` (``~/.cache/…``).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from unittest import mock
    >>> with mock.patch.dict("os.environ", {"SLAKE_INDEX_DIR": "/tmp/idx"}):
    ...     str(default_index_dir())
    '/tmp/idx'
    """
    if os.environ.get("SLAKE_INDEX_DIR"):
        return Path(os.environ["SLAKE_INDEX_DIR"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "slake-forensics" / "index"


def indexed_fields(source: str) -> list[Field]:
    """The fields of ``source`` whose values the index records (those of :data:`INDEX_ENTITIES`).

    Parameters
    ----------
    source
        A source name (a custom source uses the fields of the v2 source it is like).

    Returns
    -------
    list of Field
        Distinct, in catalog order.

    Examples
    --------
    >>> [f.name for f in indexed_fields("waf")]
    ['src_endpoint.ip', 'http_request.x_forwarded_for[]', 'observables[type_id in [2]].value', 'accountid', 'http_request.url.hostname']
    """
    fields = ENTITY_FIELDS.get(source, {})
    return list(dict.fromkeys(f for etype in INDEX_ENTITIES for f in fields.get(etype, ())))


def _fingerprint() -> str:
    text = repr([(s, [f for f in indexed_fields(s)]) for s in sorted(ENTITY_FIELDS)]) + f"/{FORMAT}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def lookup_values(source: str, values: Iterable[str]) -> list[str] | None:
    """The index values to look up for pivot values of ``source``: each value, and it without a field's prefix.

    A field stores ``v`` or ``<prefix>v`` and the index records what the field's extraction
    returns (the value without its prefix), so looking up ``v`` and ``v`` without any prefix
    finds every file a pivot predicate can match.

    Parameters
    ----------
    source
        A source name.
    values
        Pivot values (of any entity type).

    Returns
    -------
    list of str or None
        ``None`` when a value is one the index never records (``""``, ``"-"``): scan every file.

    Examples
    --------
    >>> lookup_values("sh_findings", ["arn:aws:s3:::b1", "AKIAEXAMPLE"])
    ['arn:aws:s3:::b1', 'b1', 'AKIAEXAMPLE']
    >>> lookup_values("waf", ["-"]) is None
    True
    """
    prefixes = {p for f in indexed_fields(source) for p in f.prefixes}
    out: list[str] = []
    for v in values:
        if v in _UNINDEXED:
            return None
        out.append(v)
        out += [v[len(p):] for p in sorted(prefixes) if v.startswith(p) and v[len(p):] not in _UNINDEXED]
    return list(dict.fromkeys(out))


@dataclass
class _State:
    """The loaded index: files and, per source, its value table."""

    files: pa.Table
    values: dict[str, pa.Table] = field(default_factory=dict)
    _known: dict[str, tuple[str, int]] | None = None

    def known(self) -> dict[str, tuple[str, int]]:
        """``{key: (stamp, file_id)}`` of the indexed files."""
        if self._known is None:
            f = self.files
            self._known = dict(zip(f["key"].to_pylist(), zip(f["stamp"].to_pylist(), f["file_id"].to_pylist())))
        return self._known


class EntityIndex:
    """The entity index of one local or S3 lake (see the module docs).

    Parameters
    ----------
    lake
        A local or S3 lake.
    index_dir
        The folder holding the indexes of all lakes (default :func:`default_index_dir`).

    Examples
    --------
    >>> import tempfile
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> index = EntityIndex(lake, tempfile.mkdtemp())
    >>> index.exists
    False
    >>> stats = index.update(sources=["waf"], progress=False)
    >>> stats["indexed"] == stats["files"], index.exists
    (True, True)
    >>> index.files_for("waf", ["203.0.113.250"], index.window_keys("waf"))
    []
    """

    def __init__(self, lake: Engine, index_dir: str | os.PathLike[str] | None = None) -> None:
        if not isinstance(lake, (LocalEngine, S3Engine)):
            raise TypeError(f"An entity index is for local and S3 lakes, not {type(lake).__name__}.")
        self.lake = lake
        base = Path(index_dir).expanduser() if index_dir is not None else default_index_dir()
        #: This lake's index folder.
        self.path = base / hashlib.sha256(lake.location.encode()).hexdigest()[:16]
        self._state: _State | None = None
        self._stamp: int | None = None
        self._scope: tuple[dict[str, list[str]], dict[str, str | None]] = ({}, {})
        #: Figures of the last :meth:`update` (``files``, ``indexed``, ``dropped``).
        self.last_update: dict[str, int] = {}

    @property
    def exists(self) -> bool:
        """Whether an index of this lake has been built (``meta.json`` present)."""
        return (self.path / "meta.json").is_file()

    # ---- storage --------------------------------------------------------------------------

    def _load(self) -> _State:
        """The index on disk (empty when there is none); a corrupt or foreign-format one is removed with a warning."""
        marker = self.path / "files.parquet"
        try:
            stamp = marker.stat().st_mtime_ns if marker.is_file() else None
        except OSError:
            stamp = None
        if self._state is not None and stamp == self._stamp:
            return self._state
        state = _State(_FILES_SCHEMA.empty_table())
        if self.exists:
            try:
                meta = json.loads((self.path / "meta.json").read_text())
                if meta.get("format") != FORMAT or meta.get("fields") != _fingerprint() or meta.get("lake") != self.lake.location:
                    raise ValueError(f"format {meta.get('format')}, fields {meta.get('fields')}, lake {meta.get('lake')}")
                state = _State(pq.read_table(marker).cast(_FILES_SCHEMA))
                for name in set(state.files["source"].to_pylist()):
                    state.values[name] = self._read_values(name)
            except (OSError, ValueError, TypeError, KeyError, pa.ArrowException) as exc:
                warnings.warn(
                    f"The entity index of {self.lake.location} at {self.path} is unreadable or outdated ({exc}); rebuilding it.",
                    IndexRebuiltWarning,
                    stacklevel=4,
                )
                shutil.rmtree(self.path, ignore_errors=True)
                state, stamp = _State(_FILES_SCHEMA.empty_table()), None
        self._state, self._stamp = state, stamp
        return state

    def _read_values(self, source: str) -> pa.Table:
        table = pq.read_table(self.path / f"values-{source}.parquet")
        if table.schema != _SCHEMA:
            raise ValueError(f"values-{source}.parquet has schema {table.schema}")
        return table

    def _save(self, state: _State, changed: set[str]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        for name in changed:
            _write(state.values[name], self.path / f"values-{name}.parquet")
        _write(state.files, self.path / "files.parquet")
        meta = {"format": FORMAT, "fields": _fingerprint(), "lake": self.lake.location}
        partial = self.path / f"meta.json.part{os.getpid()}"
        partial.write_text(json.dumps(meta, indent=1))
        partial.replace(self.path / "meta.json")
        self._state, self._stamp = state, (self.path / "files.parquet").stat().st_mtime_ns

    # ---- files of the lake ----------------------------------------------------------------

    def _keys(self, src: Source, window: Window | None, accounts: list[str] | None) -> list[str]:
        lake = self.lake
        if isinstance(lake, LocalEngine):  # LocalEngine.files without building a Path per file
            only = None if src.version == SOURCE_VERSION or src.custom else [src.version]
            return layout.select(lake._keys, src, window, accounts, None, only)
        assert isinstance(lake, S3Engine)
        return lake.keys(src, window, accounts)

    def window_keys(self, source: str, window: Window | None = None, accounts: list[str] | None = None) -> list[str]:
        """Keys of the lake's files of ``source`` whose partition lies in ``window`` and ``accounts``.

        Parameters
        ----------
        source
            A source name.
        window, accounts
            The scope (``None``: no filter).

        Returns
        -------
        list of str
            Keys below the lake root (S3: below the lake prefix), sorted.
        """
        return self._keys(find_source(source), window, accounts)

    def _stamps(self, keys: list[str]) -> dict[str, str | None]:
        """``size:mtime_ns`` of local files, ETags of S3 objects; ``None`` when it cannot be read."""
        lake = self.lake
        out: dict[str, str | None] = {}
        if isinstance(lake, LocalEngine):
            root = f"{lake.root}/"
            for key in keys:
                try:
                    st = os.stat(root + key)
                    out[key] = f"{st.st_size}:{st.st_mtime_ns}"
                except OSError:
                    out[key] = None
            return out
        assert isinstance(lake, S3Engine)
        client = lake.session.client("s3")
        folders = sorted({k.rsplit("/", 1)[0] + "/" for k in keys})
        etags: dict[str, str] = {}

        def listing(folder: str) -> dict[str, str]:
            found = {}
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=lake.bucket, Prefix=lake.prefix + folder):
                for obj in page.get("Contents", []):
                    found[obj["Key"][len(lake.prefix):]] = obj["ETag"].strip('"')
            return found

        with ThreadPoolExecutor(max(1, min(lake.max_workers, len(folders) or 1))) as pool:
            for found in pool.map(listing, folders):
                etags.update(found)
        return {k: etags.get(k) for k in keys}

    def _extract(self, src: Source, key: str) -> pa.Array:
        """Distinct values of the indexed fields in one file, read with pyarrow (:func:`_read`).

        The path of files :meth:`_plain_keys` leaves out: S3 objects, other source versions,
        custom sources, drifted or misplaced files (``_read`` reconciles them or raises as a scan
        would).  Each field's :meth:`~slake_forensics.analysis.entities.Field.extract` runs on
        two frames: the scalar columns reduced to their distinct values (padded with nulls to one
        length) and the list columns as read.
        """
        lake = self.lake
        if isinstance(lake, LocalEngine):
            path, part = lake.root / key, lake._part(lake.root / key)
        else:
            assert isinstance(lake, S3Engine)
            lake._download([key])
            path, found = lake._cached(key), lake._partition(key)
            assert found is not None
            part = found
        fields = indexed_fields(src.map_name)
        columns = list(dict.fromkeys(f.path for f in fields))
        table = _read(path, part, src, None, columns)
        nested = [c for c in columns if pa.types.is_nested(table[c].type)]
        scalars = {c: pc.unique(table[c]) for c in columns if c not in nested}
        size = max((len(v) for v in scalars.values()), default=0)  # padded with nulls, which name no value
        frames = {
            False: pa.table({c: pa.concat_arrays([v, pa.nulls(size - len(v), v.type)]) for c, v in scalars.items()}),
            True: table.select(nested),
        }
        arrays = [values for frame in frames.values() for _, values in _values(fields, frame, src)]
        return pc.unique(pa.concat_arrays(arrays)) if arrays else pa.array([], pa.string())

    def _plain_keys(self, src: Source, keys: list[str]) -> list[str]:
        """Of ``keys`` (files of ``src``), those DuckDB reads as they are: files of a local lake
        that the engine's footer check (``LocalEngine._inspect``, cached per size and mtime, shared
        with its scans) finds plain (version 2, catalog types, no drift) and in their right source."""
        lake = self.lake
        if not isinstance(lake, LocalEngine) or src.version != SOURCE_VERSION or src.custom or not keys:
            return []
        with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
            found = list(pool.map(lambda k: lake._inspect(lake.root / k), keys))
        return [k for k, (plain, problem, _) in zip(keys, found) if plain and not problem]

    def _extract_plain(self, src: Source, keys: list[str], ids: dict[str, int], db: duckdb.DuckDBPyConnection | None = None) -> pa.Table | None:
        """``value, file_id`` pairs (distinct) of plain files of one source, read by DuckDB in one go.

        DuckDB reads every file of ``keys`` at once (C++, all cores) and returns the distinct
        ``(file, value)`` pairs of each scalar column (``GROUPING SETS``) and the distinct
        ``(file, element)`` pairs of each list field (one ``GROUPING SETS`` scan per list column,
        its fields' elements side by side); each field's
        :meth:`~slake_forensics.analysis.entities.Field.extract` then runs on those, so the
        values are those :meth:`_extract` finds file by file.  ``None`` when DuckDB cannot read
        them as one table (a column no file has): the caller reads them file by file.  ``db``: the
        database to query, through a cursor (:meth:`update` opens one for all sources: a database
        costs ~25 ms of CPU, as much as indexing a few files), else a new one.
        """
        lake = self.lake
        assert isinstance(lake, LocalEngine)
        fields = indexed_fields(src.map_name)
        nested = {f.path for f in fields if f.item is not None}
        scalars = list(dict.fromkeys(f.path for f in fields if f.path not in nested and not f.json))
        paths = {str(lake.root / k): k for k in keys}
        con = duckdb.connect() if db is None else db.cursor()
        try:
            con.execute("SET parquet_metadata_cache=true")  # footers parsed once for every query below
            union = not lake._same_schema(con, [lake.root / k for k in keys])
            rel = con.read_parquet(list(paths), union_by_name=union, hive_partitioning=False, filename=True)
            view = quote_identifier(f"files_{src.name}")  # unique in the update's database
            rel.create_view(f"files_{src.name}")
            frames: list[tuple[list[Field], pa.Table, pa.Array]] = []
            if scalars:
                cols = ", ".join(f"{_ref(c)} AS c{i}" for i, c in enumerate(scalars))
                sets = ", ".join(f"(filename, c{i})" for i in range(len(scalars)))
                picked = ", ".join(f"c{i}" for i in range(len(scalars)))
                got = con.sql(f"SELECT filename, {picked} FROM (SELECT filename, {cols} FROM {view}) GROUP BY GROUPING SETS ({sets})")
                table = got.to_arrow_table()
                scalar_fields = [f for f in fields if f.path not in nested and not f.json]
                frames.append((scalar_fields, table.select(range(1, len(scalars) + 1)).rename_columns(scalars), table["filename"]))
            for path in dict.fromkeys(f.path for f in fields if f.path in nested):
                # the fields of one list column in one scan: their elements side by side (padded with nulls), distinct per field
                lists = [f for f in fields if f.path == path]
                cols = ", ".join(f"unnest({_elements_sql(f)}) AS e{i}" for i, f in enumerate(lists))
                sets = ", ".join(f"(filename, e{i})" for i in range(len(lists)))
                picked = ", ".join(f"e{i}" for i in range(len(lists)))
                table = con.sql(f"SELECT filename, {picked} FROM (SELECT filename, {cols} FROM {view}) GROUP BY GROUPING SETS ({sets})").to_arrow_table()
                for i, f in enumerate(lists):
                    found = table.filter(pc.is_valid(table[f"e{i}"]))  # a null element holds no value
                    elements = found[f"e{i}"].combine_chunks()
                    singletons = pa.ListArray.from_arrays(pa.array(np.arange(len(elements) + 1, dtype=np.int32)), elements)
                    frames.append(([f], pa.table({f.path: singletons}), found["filename"]))
            for f in fields:
                if f.json:
                    got = con.sql(_json_sql(f, view)).to_arrow_table()
                    frames.append(([f], pa.table({f.path: _json_texts(f, got)}), got["filename"]))
        except duckdb.Error:
            return None
        finally:
            con.close()
        pairs = []
        known = pa.array(list(paths), pa.string())
        known_ids = pa.array([ids[k] for k in paths.values()], pa.int32())
        for some, frame, names in frames:
            file_ids = known_ids.take(pc.index_in(names, value_set=known))
            for rows, values in _values(some, frame, src):
                pairs.append(pa.table({"value": values, "file_id": file_ids.take(pa.array(rows, pa.int64()))}, schema=_SCHEMA))
        if not pairs:
            return _SCHEMA.empty_table()
        return pa.concat_tables(pairs).group_by(["value", "file_id"], use_threads=False).aggregate([]).select(["value", "file_id"])

    # ---- build and use --------------------------------------------------------------------

    def update(
        self,
        sources: Iterable[str] | None = None,
        window: Window | None = None,
        accounts: list[str] | None = None,
        progress: bool = True,
        prune: bool = False,
    ) -> dict[str, int]:
        """Index the files of ``sources`` in ``window`` and ``accounts`` that are new or changed.

        Parameters
        ----------
        sources
            Source names (default: the eight sources and the lake's custom sources).
        window, accounts
            Only files whose partition lies there (default every file).
        progress
            Show a ``tqdm`` progress bar over the files indexed.
        prune
            Also drop the entries of files no longer in the lake (of the sources updated).

        Returns
        -------
        dict
            ``files`` (in scope), ``indexed`` (read now), ``dropped`` (entries removed).
        """
        state = self._load()
        names = list(sources) if sources is not None else [*SOURCES, *(s.name for s in self.lake.custom_sources())]
        srcs = [find_source(n) for n in names]
        scope = {src.name: self._keys(src, window, accounts) for src in srcs}
        stamps = self._stamps([k for keys in scope.values() for k in keys])
        self._scope = (scope, stamps)
        known = state.known()
        todo = [(src, k) for src in srcs for k in scope[src.name] if stamps[k] is not None and known.get(k, (None, 0))[0] != stamps[k]]
        stale = {known[k][1] for _, k in todo if k in known}
        if prune:
            present = {k for src in srcs for k in self._keys(src, None, None)}
            stale |= {fid for k, (_, fid) in known.items() if k not in present and _source_of(state, fid) in scope}
        if not todo and not stale and self.exists:
            self.last_update = {"files": len(stamps), "indexed": 0, "dropped": 0}
            return self.last_update
        next_id = (max(state.files["file_id"].to_pylist()) + 1) if state.files.num_rows else 0
        ids = {k: next_id + i for i, (_, k) in enumerate(todo)}
        bar = tqdm(total=len(todo), desc="indexing", unit="file", disable=not progress or not todo)
        pairs: dict[str, list[pa.Table]] = {}
        single: list[tuple[Source, str]] = []

        lake = self.lake
        db = duckdb.connect()

        def batch(src: Source) -> tuple[list[str], pa.Table | None]:
            plain = self._plain_keys(src, [k for s, k in todo if s is src])
            found = self._extract_plain(src, plain, ids, db) if plain else None
            if found is not None:
                bar.update(len(plain))
            return plain, found

        def cost(src: Source) -> int:
            """Its files' bytes (a local file's stamp starts with its size), each file counted as
            0.7 MB more: measured per source, a file's fixed cost (footer check, opening) is about
            that of reading 0.7 MB of it (Security Hub's 240 small files cost as much as VPC flow's 145 MB)."""
            return sum(int(str(stamps[k]).split(":")[0]) + _FILE_COST for s, k in todo if s is src and isinstance(lake, LocalEngine))

        # two sources at a time, the costliest first (the last to finish is a cheap one): one's Python
        # (footer checks, extraction) runs while DuckDB reads another's files; sources with no new file cost nothing
        order = sorted((src for src in srcs if any(s is src for s, _ in todo)), key=cost, reverse=True)
        try:
            with ThreadPoolExecutor(2) as pool:
                found_by = dict(zip((src.name for src in order), pool.map(batch, order)))
        finally:
            db.close()
        batches = [found_by.get(src.name, ([], None)) for src in srcs]
        for src, (plain, found) in zip(srcs, batches):
            if found is not None:  # else DuckDB could not read them as one table: file by file
                pairs.setdefault(src.name, []).append(found)
            done = set(plain) if found is not None else set()
            single += [(src, k) for s, k in todo if s is src and k not in done]
        with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:

            def one(item: tuple[Source, str]) -> pa.Array:
                try:
                    return self._extract(*item)
                finally:
                    bar.update()

            for (src, k), arr in zip(single, pool.map(one, single)):
                file_ids = pa.array([ids[k]] * len(arr), pa.int32())
                pairs.setdefault(src.name, []).append(pa.table({"value": arr, "file_id": file_ids}, schema=_SCHEMA))
        bar.close()
        changed = {src.name for src, _ in todo} | {_source_of(state, fid) for fid in stale}
        keep_files = pc.invert(pc.is_in(state.files["file_id"], pa.array(sorted(stale), pa.int32())))
        added = pa.table(
            {
                "file_id": pa.array([ids[k] for _, k in todo], pa.int32()),
                "source": [src.name for src, _ in todo],
                "key": [k for _, k in todo],
                "stamp": [stamps[k] for _, k in todo],
            },
            schema=_FILES_SCHEMA,
        )
        files = pa.concat_tables([state.files.filter(keep_files), added])
        values = dict(state.values)
        for name in changed:
            old = values.get(name, _SCHEMA.empty_table())
            old = old.filter(pc.invert(pc.is_in(old["file_id"], pa.array(sorted(stale), pa.int32()))))
            values[name] = pa.concat_tables([old, *pairs.get(name, [])]).sort_by([("value", "ascending"), ("file_id", "ascending")])
        self._save(_State(files, values), changed)
        self.last_update = {"files": len(stamps), "indexed": len(todo), "dropped": len(stale) - sum(1 for _, k in todo if k in known)}
        return self.last_update

    def files_for(self, source: str, values: Iterable[str], keys: list[str]) -> list[str] | None:
        """Of ``keys`` (files of ``source``), those that may hold one of ``values``.

        A key the index does not hold with its current stamp is kept (it is scanned); call
        :meth:`update` first so that only new files are read once.

        Parameters
        ----------
        source
            A source name.
        values
            Pivot values (any entity type).
        keys
            Candidate files (keys below the lake root), e.g. those of a pivot's window.

        Returns
        -------
        list of str or None
            The keys to scan, in the order of ``keys``; ``None`` when the index cannot narrow
            (a value it never records).
        """
        return self._lookup(source, values, keys, self._stamps(keys))

    def _lookup(self, source: str, values: Iterable[str], keys: list[str], stamps: dict[str, str | None]) -> list[str] | None:
        src = find_source(source)
        wanted = lookup_values(src.map_name, values)
        if wanted is None:
            return None
        state = self._load()
        table = state.values.get(src.name, _SCHEMA.empty_table())
        hits = set(pc.unique(table.filter(pc.is_in(table["value"], pa.array(wanted, pa.string())))["file_id"]).to_pylist())
        known = state.known()
        return [k for k in keys if k not in known or stamps[k] is None or known[k][0] != stamps[k] or known[k][1] in hits]

    def narrow(
        self, sources: list[str], window: Window, accounts: list[str] | None, values: list[str], progress: bool = True
    ) -> dict[str, tuple[list[str], int]]:
        """Bring the index up to date for a pivot's scope, then the files of each source it must read.

        Parameters
        ----------
        sources
            Source names.
        window, accounts
            The pivot's scope.
        values
            The pivot's values (all entity types).
        progress
            Show a progress bar over files read to update the index.

        Returns
        -------
        dict
            ``{source: (keys to read, files in scope)}``; a source the index cannot narrow is left out.

        Examples
        --------
        >>> import tempfile
        >>> import slake_forensics as sf
        >>> from slake_forensics.core.timewindow import Window
        >>> lake = sf.Lake.sample()
        >>> index = EntityIndex(lake, tempfile.mkdtemp())
        >>> found = index.narrow(["waf"], Window.of("2026-05-14T00:00Z", "2026-05-15T00:00Z"), None, ["203.0.113.250"], progress=False)
        >>> found["waf"][0], found["waf"][1] > 0
        ([], True)
        """
        self.update(sources, window, accounts, progress)
        scope, stamps = self._scope
        out = {}
        for name in sources:
            only = self._lookup(name, values, scope[name], stamps)
            if only is not None:
                out[name] = (only, len(scope[name]))
        return out

    def size_bytes(self) -> int:
        """Bytes the index takes on disk.

        Returns
        -------
        int
        """
        return sum(p.stat().st_size for p in self.path.glob("*") if p.is_file()) if self.path.is_dir() else 0


def _ref(path: str) -> str:
    return ".".join(quote_identifier(p) for p in path.split("."))


def _elements_sql(f: Field) -> str:
    """DuckDB SQL of the elements of list field ``f`` that may hold its values: those whose
    ``type_field`` is one of its ``types``, each reduced to the struct fields its ``item`` and
    ``type_field`` name (a list of strings as it is).  The struct reads back as the catalog's element
    type with the other fields null, and :meth:`~slake_forensics.analysis.entities.Field.extract`
    applies its own filter again: this only makes the distinct elements fewer."""
    tree: dict[str, Any] = {}
    for dotted in filter(None, (f.item, f.type_field if f.types else "")):
        node = tree
        for name in dotted.split("."):
            node = node.setdefault(name, {})
    if not tree:
        return _ref(f.path)

    def render(node: dict[str, Any], ref: str) -> str:
        items = (f"{literal(name)}: {render(sub, f'{ref}.{quote_identifier(name)}') if sub else f'{ref}.{quote_identifier(name)}'}"
                 for name, sub in node.items())
        return "{" + ", ".join(items) + "}"

    kind = "x." + _ref(f.type_field)
    cond = f" if {kind} IN ({', '.join(literal(t) if isinstance(t, str) else str(int(t)) for t in f.types)})" if f.types else ""
    return f"[{render(tree, 'x')} for x in {_ref(f.path)}{cond}]"


#: What DuckDB's JSON reader accepts and ``json.loads`` does not (a comma before ``]``/``}``; ``nan``,
#: ``inf`` in any case), as a regular expression; a text matching it (even inside a string) is parsed
#: by Python.
_LENIENT = r"(?i),\s*[\]}]|[:,\[]\s*[-+]?(nan|inf)"


def _json_sql(f: Field, view: str = "files") -> str:
    """DuckDB SQL of the distinct ``(filename, text, v0, v1, …)`` of JSON field ``f`` over ``view`` (quoted).

    Texts that cannot hold one of its keys (:func:`_may_hold`) are left out.  Where DuckDB's JSON
    reader provably reads a text as Python's ``json.loads`` does, ``text`` is null and ``v<i>`` are
    the string values of the keys: a valid JSON object without ``\\u`` escapes nor what DuckDB
    accepts and Python does not (:data:`_LENIENT`) where each key is spelled once (so it is not
    duplicated: DuckDB reads the first, Python the last) and holds a string.
    Any other text is returned as it is, for :meth:`~slake_forensics.analysis.entities.Field.extract`.
    """
    text = _ref(f.path)
    spelled = [literal(f'"{k}"') for k in f.json]
    may = " OR ".join([f"contains({text}, '\\u')", *(f"contains({text}, {q})" for q in spelled)])
    once = " AND ".join(f"length({text}) - length(replace({text}, {q}, '')) = length({q})" for q in spelled)
    typed = " AND ".join(f"json_type({text}, {literal('$.' + k)}) = 'VARCHAR'" for k in f.json)
    simple = (
        f"CASE WHEN NOT contains({text}, '\\u') AND NOT regexp_matches({text}, {literal(_LENIENT)}) AND {once} "
        f"AND json_valid({text}) THEN json_type({text}) = 'OBJECT' AND {typed} ELSE false END"
    )
    values = ", ".join(f"CASE WHEN simple THEN json_extract_string(t, {literal('$.' + k)}) END AS v{i}" for i, k in enumerate(f.json))
    return (
        f"SELECT DISTINCT filename, CASE WHEN simple THEN NULL ELSE t END AS text, {values} "
        f"FROM (SELECT filename, {text} AS t, {simple} AS simple FROM {view} WHERE {may})"
    )


def _json_texts(f: Field, got: pa.Table) -> pa.Array:
    """The texts of a :func:`_json_sql` result: each as returned, or rebuilt from its key values as
    the JSON object of those keys alone (whose extraction gives the same values)."""
    texts = got["text"].to_pylist()
    keys = [got[f"v{i}"].to_pylist() for i in range(len(f.json))]
    return pa.array(
        [t if t is not None else json.dumps(dict(zip(f.json, vs))) for t, *vs in zip(texts, *keys)], pa.string()
    )


def _values(fields: list[Field], table: pa.Table, src: Source) -> list[tuple[np.ndarray, pa.Array]]:
    """``(row positions, values as strings)`` of each field of ``fields`` whose column ``table`` has
    (columns named by dotted path), by :meth:`~slake_forensics.analysis.entities.Field.extract`.

    A JSON field runs on its column with the texts that cannot hold one of its keys nulled
    (:func:`_may_hold`; they would give null), so only texts that may hold its keys are parsed."""
    present = [f for f in fields if f.path in table.column_names]
    frame = ocsf.flatten(table.select(list(dict.fromkeys(f.path for f in present if not f.json))))
    out = []
    for f in present:
        if f.json:
            texts = _may_hold(table[f.path].combine_chunks(), set(f.json))
            rows, values = f.extract(ocsf.flatten(pa.table({f.path: texts})), src)
        else:
            rows, values = f.extract(frame, src)
        out.append((rows, values.cast(pa.string())))
    return out


def _may_hold(texts: pa.Array, keys: set[str]) -> pa.Array:
    """``texts`` (JSON) with those that cannot hold a top-level key in ``keys`` nulled (nor any ``\\u`` escape that could spell one)."""
    hold = pc.match_substring(texts, "\\u")
    for key in sorted(keys):
        hold = pc.or_(hold, pc.match_substring(texts, f'"{key}"'))
    return pc.if_else(pc.fill_null(hold, False), texts, pa.nulls(len(texts), texts.type))


def _source_of(state: _State, file_id: int) -> str:
    rows = state.files.filter(pc.equal(state.files["file_id"], file_id))
    return str(rows["source"][0]) if rows.num_rows else ""


def _write(table: pa.Table, path: Path) -> None:
    partial = path.with_name(path.name + f".part{os.getpid()}")
    pq.write_table(table, partial, compression="zstd", row_group_size=1 << 20)
    partial.replace(path)


#: The index last built or opened in this process, per lake location.
_OPEN: dict[str, EntityIndex] = {}


def index_of(lake: Engine, index_dir: str | os.PathLike[str] | None = None) -> EntityIndex | None:
    """The entity index of ``lake`` when one has been built (see :func:`build`), else ``None``.

    Without ``index_dir``: the index last built or opened for this lake's location in this
    process (whatever its folder), else the one in :func:`default_index_dir`.

    Parameters
    ----------
    lake
        Any lake (Athena lakes have none).
    index_dir
        The indexes' folder.

    Returns
    -------
    EntityIndex or None

    Examples
    --------
    >>> import tempfile
    >>> import slake_forensics as sf
    >>> index_of(sf.Lake.sample(), tempfile.mkdtemp()) is None
    True
    """
    if not isinstance(lake, (LocalEngine, S3Engine)):
        return None
    index = _OPEN.get(lake.location) if index_dir is None else None
    if index is None or not index.exists:
        index = EntityIndex(lake, index_dir)
        if not index.exists:
            return None
    index.lake = lake  # the same lake location; this object's listing is the current one
    _OPEN[lake.location] = index
    return index


def build(lake: Engine, index_dir: str | os.PathLike[str] | None = None, progress: bool = True) -> EntityIndex:
    """Build or bring up to date the entity index of a local or S3 lake; later pivots use it.

    Only files that are new or changed since the last build are read; entries of files no longer
    in the lake are dropped.

    Parameters
    ----------
    lake
        A local or S3 lake.
    index_dir
        The indexes' folder (default :func:`default_index_dir`).
    progress
        Show a progress bar over the files read.

    Returns
    -------
    EntityIndex
        ``attrs``-like figures in its ``last_update`` (``files``, ``indexed``, ``dropped``).

    Examples
    --------
    >>> import tempfile
    >>> import slake_forensics as sf
    >>> index = build(sf.Lake.sample(), tempfile.mkdtemp(), progress=False)
    >>> index.last_update["indexed"] == index.last_update["files"] > 0
    True
    """
    index = EntityIndex(lake, index_dir)
    index.update(progress=progress, prune=True)
    _OPEN[lake.location] = index
    return index
