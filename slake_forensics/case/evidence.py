"""Evidence: frames exported as Parquet with a manifest of their provenance, and read back with their dtypes.

``evidence/<name>.parquet`` carries, in its schema metadata under ``slake_forensics``, each
column's pandas dtype and the query provenance; ``evidence/<name>.manifest.json`` and the
``export`` log entry carry the manifest (the file's SHA-256 and size, rows, columns, provenance).
"""
from __future__ import annotations

import contextlib
import json
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from slake_forensics.case.encoding import _dumps, _file_sha256, _now, _pretty, _utc_iso, jsonable
from slake_forensics.case.errors import CaseInputError, CorruptCaseError, EvidenceExistsError
from slake_forensics.case.log import FORMAT_VERSION, _append_locked, _atomic_write, _locked, _read_log, _staged
from slake_forensics.core.version import __version__

EVIDENCE_FORMAT = "slake-forensics-evidence"
_PARQUET_KEY = b"slake_forensics"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _check_name(name: str) -> str:
    """An evidence name: 1-100 of ``A-Z a-z 0-9 . _ -``, starting with a letter or digit."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise CaseInputError(
            f"Bad evidence name {name!r}: use 1-100 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit (no '/', '\\' or '..' path parts), e.g. 'ct_leaked_key_2026-03-02'."
        )
    if name.lower().endswith((".parquet", ".json")):
        raise CaseInputError(f"Give the evidence name without an extension: {name.rsplit('.', 1)[0]!r}.")
    return name


def _exports(entries: Iterable[dict[str, Any] | None]) -> list[dict[str, Any]]:
    """The readable ``export`` entries of a log (their payloads are the manifests), in log order."""
    return [e for e in entries if e and e.get("kind") == "export" and isinstance(e.get("payload"), dict)]


# ---- provenance ------------------------------------------------------------------------------


def _window(value: Any) -> dict[str, str] | None:
    """A load window from ``attrs['window']`` (a ``(start, end)`` pair or ``"[start, end)"`` text)."""
    if isinstance(value, tuple | list) and len(value) == 2:
        return {"start": jsonable(value[0]), "end": jsonable(value[1])}
    if isinstance(value, str):
        m = re.fullmatch(r"\[(.+), (.+)\)", value)
        if m:
            return {"start": _utc_iso(pd.Timestamp(m[1])), "end": _utc_iso(pd.Timestamp(m[2]))}
    return None


def _provenance(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's query provenance from a frame's ``attrs``; ``attrs`` keeps the other attrs
    (input ``files``, ``columns``, ``elapsed_s``, Athena ``workgroup`` …) as JSON."""
    ids = attrs.get("query_execution_ids", attrs.get("query_execution_id"))
    lifted = {"sql", "translated_sql", "params", "engine", "lake", "source", "window", "accounts", "regions",
              "query_execution_id", "query_execution_ids", "data_scanned_bytes"}
    return {
        "sql": attrs.get("sql"),
        "translated_sql": attrs.get("translated_sql"),
        "params": jsonable(attrs.get("params")),
        "engine": attrs.get("engine"),
        "lake": attrs.get("lake"),
        "source": attrs.get("source"),
        "window": _window(attrs.get("window")),
        "accounts": jsonable(attrs.get("accounts")),
        "regions": jsonable(attrs.get("regions")),
        "athena_query_ids": [] if ids is None else jsonable([ids] if isinstance(ids, str) else list(ids)),
        "data_scanned_bytes": jsonable(attrs.get("data_scanned_bytes")),
        "attrs": jsonable({k: v for k, v in attrs.items() if k not in lifted}),
    }


def _event_span(df: pd.DataFrame) -> dict[str, str | None] | None:
    """First and last value (UTC) of ``time_dt``, else of a datetime ``time`` column; ``None`` if neither."""
    for col in ("time_dt", "time"):
        if col in df.columns and (isinstance(df[col].dtype, pd.DatetimeTZDtype)
                                  or (isinstance(df[col].dtype, pd.ArrowDtype)
                                      and pa.types.is_timestamp(df[col].dtype.pyarrow_dtype))):
            s = df[col].dropna()
            return {"first": jsonable(s.min()) if len(s) else None, "last": jsonable(s.max()) if len(s) else None}
    return None


# ---- Parquet with dtypes -----------------------------------------------------------------------


def _to_table(df: pd.DataFrame, name: str, provenance: dict[str, Any]) -> pa.Table:
    """``df`` as an Arrow table whose metadata records each column's pandas dtype and the provenance."""
    plain = df.copy(deep=False)
    plain.attrs = {}
    try:
        with warnings.catch_warnings():  # pyarrow reads tz-aware numpy columns through the deprecated Series.values
            warnings.filterwarnings("ignore", message="(Series|DatetimeIndex).values returning an ndarray that drops timezone")
            table = pa.Table.from_pandas(plain, preserve_index=None)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise CaseInputError(f"Cannot write {name!r} as Parquet: {exc}. Convert mixed-type object columns "
                             "(e.g. with .astype(str)) and export again.") from None
    levels = [] if isinstance(df.index, pd.RangeIndex) else [df.index.get_level_values(i).dtype
                                                             for i in range(df.index.nlevels)]
    spec = {
        "columns": {str(c): {"arrow": isinstance(t, pd.ArrowDtype), "dtype": str(t)} for c, t in df.dtypes.items()},
        "index": [{"arrow": isinstance(t, pd.ArrowDtype), "dtype": str(t)} for t in levels],
        "provenance": provenance,
    }
    return table.replace_schema_metadata({**(table.schema.metadata or {}), _PARQUET_KEY: _dumps(spec)})


def _check_columns(df: pd.DataFrame, name: str) -> None:
    """Refuse a frame whose column names Parquet cannot keep: not unique strings (nor a MultiIndex)."""
    if isinstance(df.columns, pd.MultiIndex):
        raise CaseInputError(f"Cannot export {name!r}: its columns are a MultiIndex, which Parquet evidence does not "
                             "keep exactly. Flatten them first, e.g. df.columns = ['_'.join(map(str, c)) for c in "
                             "df.columns], and export again.")
    odd = [c for c in df.columns if not isinstance(c, str)]
    if odd:
        raise CaseInputError(f"Cannot export {name!r}: column names must be text, and {odd[:3]!r} are not "
                             "(Parquet would read them back as text). Rename them, e.g. "
                             "df.columns = df.columns.map(str), and export again.")
    dup = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dup:
        raise CaseInputError(f"Cannot export {name!r}: duplicate column names {dup[:3]!r}. Rename or drop the "
                             "duplicates (df.loc[:, ~df.columns.duplicated()]) and export again.")


def _check_round_trip(df: pd.DataFrame, back: pd.DataFrame, name: str) -> None:
    """Raise :class:`CaseInputError` unless ``back`` (the written file read back) equals ``df``."""
    plain = df.copy(deep=False)
    plain.attrs = {}
    try:
        pd.testing.assert_frame_equal(back, plain, check_exact=True, check_freq=False, check_flags=False)
    except (AssertionError, TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CaseInputError(
            f"Cannot export {name!r}: the Parquet file would not read back equal to the frame ({first}). Nothing "
            "was exported; convert the column or index named there (e.g. .astype(str), .reset_index()) and "
            "export again."
        ) from None


def _from_table(table: pa.Table) -> pd.DataFrame:
    """A frame from a table written by :func:`_to_table`, with each column's recorded pandas dtype.

    Arrow-backed columns come back as the same :class:`pandas.ArrowDtype`; others are
    converted the default pandas way and cast to their recorded dtype when that differs.
    """
    spec = json.loads(table.schema.metadata[_PARQUET_KEY])
    df = table.to_pandas(types_mapper=pd.ArrowDtype)
    for name, info in spec["columns"].items():
        if not info["arrow"] and name in table.column_names:
            if info["dtype"] == "object":  # Python values as written (lists stay lists, None stays None)
                df[name] = pd.Series(table.column(name).to_pylist(), index=df.index, dtype=object)
                continue
            col = table.column(name).to_pandas()
            if str(col.dtype) != info["dtype"]:
                with contextlib.suppress(TypeError, ValueError):
                    col = col.astype(info["dtype"])
            df[name] = col.to_numpy() if isinstance(col.dtype, np.dtype) else col.array
    if spec["index"] and not all(info["arrow"] for info in spec["index"]):
        levels = []
        for i, info in enumerate(spec["index"]):
            level = df.index.get_level_values(i)
            if not info["arrow"]:
                with contextlib.suppress(TypeError, ValueError):
                    level = level.astype(info["dtype"])
            levels.append(level)
        df.index = levels[0] if len(levels) == 1 else pd.MultiIndex.from_arrays(levels, names=df.index.names)
    return df


# ---- export and read-back ----------------------------------------------------------------------


def _export(root: Path, case_id: str, analyst: str, df: pd.DataFrame, name: str, note: str) -> Path:
    """Write ``df`` as evidence ``name`` of the case folder ``root`` and log it (see :meth:`Case.export`)."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"export takes a DataFrame, not {type(df).__name__}.")
    _check_name(name)
    _check_columns(df, name)
    folder = root / "evidence"
    with _locked(root):
        taken = {p.name.removesuffix(".parquet").removesuffix(".manifest.json").lower() for p in folder.iterdir()}
        taken |= {str(e["payload"].get("name", "")).lower() for e in _exports(_read_log(root).entries)}
        if name.lower() in taken:
            free = next(f"{name}-{i}" for i in range(2, 10_000) if f"{name}-{i}".lower() not in taken)
            raise EvidenceExistsError(
                f"Evidence {name!r} already exists in {folder} and evidence is never overwritten; "
                f"export under another name, e.g. {free!r}."
            )
        provenance = _provenance(df.attrs)
        table = _to_table(df, name, provenance)
        target = folder / f"{name}.parquet"
        with _staged(target) as tmp:
            pq.write_table(table, tmp, compression="zstd")
            _check_round_trip(df, _from_table(pq.read_table(tmp)), name)
            digest, size = _file_sha256(tmp)
        manifest = jsonable({
            "format": EVIDENCE_FORMAT,
            "format_version": FORMAT_VERSION,
            "case_id": case_id,
            "name": name,
            "file": f"evidence/{name}.parquet",
            "sha256": digest,
            "size_bytes": size,
            "rows": len(df),
            "columns": [{"name": str(c), "dtype": str(t)} for c, t in df.dtypes.items()],
            "note": note,
            "analyst": analyst,
            "exported_at": _now(),
            "event_span": _event_span(df),
            "tool_version": __version__,
            "pandas_version": pd.__version__,
            "pyarrow_version": pa.__version__,
            **provenance,
        })
        manifest_path = folder / f"{name}.manifest.json"
        _atomic_write(manifest_path, _pretty(manifest))
        try:
            _append_locked(root, analyst, [("export", manifest)])
        except (CorruptCaseError, CaseInputError):  # not recorded, so not evidence: leave no unexplained files behind
            target.unlink()
            manifest_path.unlink()
            raise
    return target


def _read_evidence(root: Path, name: str, check: bool) -> pd.DataFrame:
    """Evidence ``name`` of the case folder ``root`` with its dtypes and manifest (see :meth:`Case.read_evidence`)."""
    _check_name(name)
    path = root / "evidence" / f"{name}.parquet"
    manifest = next((e["payload"] for e in reversed(_exports(_read_log(root).entries))
                     if e["payload"].get("name") == name), None)
    if manifest is None or not path.exists():
        raise CaseInputError(f"No evidence {name!r} in {root}; see case.exports for the names.")
    if check and _file_sha256(path)[0] != manifest["sha256"]:
        raise CorruptCaseError(f"{path} no longer matches the SHA-256 in its manifest; run case.verify().")
    df = _from_table(pq.read_table(path))
    df.attrs = manifest
    return df
