"""Pivot: every event about one or several entities, across all sources, as one timeline.

:func:`pivot` runs one pushed-down query per source that has a field for one of the given
entity types (see :mod:`slake_forensics.analysis.entities`): ``SELECT <timeline projection> FROM
<source table> WHERE time_dt >= ? AND time_dt < ? [AND accountid IN (…)] AND (<entity
predicates>)``.  Values travel only as bound parameters.  Results are normalized timeline rows
(:mod:`slake_forensics.analysis.normalize`).  :func:`fetch_rows` goes from timeline rows back to the
full events.
"""
from __future__ import annotations

import operator
import time
import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
from tqdm.auto import tqdm

from slake_forensics.core.catalog import SOURCES, source as find_source
from slake_forensics.core.errors import BadArgumentError, NoPartitionsError
from slake_forensics.analysis.entities import fields_for
from slake_forensics.analysis import entity_summary as _summary
from slake_forensics.analysis.entity_index import index_of
from slake_forensics.core.scope import id_list
from slake_forensics.sql.build import scope_predicate
from slake_forensics.analysis.normalize import as_timeline, empty_timeline, normalize, projection
from slake_forensics.core.timewindow import TimeLike, Window
from slake_forensics.engines.athena import AthenaEngine

if TYPE_CHECKING:
    from slake_forensics.engines.base import Engine

#: Entity keyword arguments of :func:`pivot`, in the order predicates are written.
PIVOT_ENTITIES = ("ip", "principal", "access_key", "bucket", "instance", "domain")

#: What an entity argument of :func:`pivot` takes: one value, several, or ``None`` (not given).
Values = str | Iterable[str] | None


def entity_values(name: str, values: str | Iterable[str]) -> list[str]:
    """One entity argument of :func:`pivot` as a list of distinct strings.

    A domain is matched with and without its trailing dot (Route 53 writes ``example.com.``,
    WAF ``example.com``).

    Parameters
    ----------
    name
        The entity type (for messages, and ``domain`` for the trailing dot).
    values
        A string or several.

    Returns
    -------
    list of str
        In first-seen order.

    Raises
    ------
    BadArgumentError
        (a ``TypeError`` and ``ValueError``) for a mapping, a value that is not a string, a blank
        value or an empty list.

    Examples
    --------
    >>> entity_values("ip", ["103.75.108.118", "95.216.237.73", "103.75.108.118"])
    ['103.75.108.118', '95.216.237.73']
    >>> entity_values("domain", "pool.supportxmr.com.")
    ['pool.supportxmr.com', 'pool.supportxmr.com.']
    """
    if isinstance(values, Mapping | bytes) or not isinstance(values, str | Iterable):
        raise BadArgumentError(f"{name} must be a string or a list of strings (e.g. {name}=['{_EXAMPLE[name]}']), "
                               f"not {type(values).__name__}.")
    items = [values] if isinstance(values, str) else list(values)
    for v in items:
        if not isinstance(v, str):
            raise BadArgumentError(f"{name} values must be strings such as '{_EXAMPLE[name]}', "
                                   f"not {type(v).__name__} ({v!r:.60}).")
        if not v.strip():
            raise BadArgumentError(f"A blank {name} value was given; pass real values such as '{_EXAMPLE[name]}'.")
    if not items:
        raise BadArgumentError(f"Empty {name} list: pass None to leave it out, or at least one value.")
    if name == "domain":
        items = [f for v in items for f in (v.rstrip("."), v.rstrip(".") + ".") if v.rstrip(".")] or items
    return list(dict.fromkeys(items))


#: An example value of each entity, for error messages.
_EXAMPLE = {"ip": "203.0.113.7", "principal": "arn:aws:iam::123456789012:user/alice",
            "access_key": "AKIAIOSFODNN7EXAMPLE", "bucket": "my-bucket", "instance": "i-0123456789abcdef0",
            "domain": "example.com"}


def _index(value: Any) -> int:
    """``value`` as an integer, or -1 when it is not one."""
    try:
        return operator.index(value)
    except TypeError:
        return -1


def _source_names(sources: Iterable[str] | str) -> list[str]:
    """The catalog names of a pivot's ``sources`` argument (distinct, in order); refuses an empty or mistyped one."""
    if isinstance(sources, Mapping | bytes) or not isinstance(sources, str | Iterable):
        raise BadArgumentError(f"sources must be a source name or a list of them (e.g. ['cloud_trail_mgmt', "
                               f"'vpc_flow']), not {type(sources).__name__}.")
    items = [sources] if isinstance(sources, str) else list(sources)
    if not items:
        raise BadArgumentError(f"sources=[] selects no source: pass None for all of them, or names among "
                               f"{', '.join(SOURCES)}.")
    for s in items:
        if not isinstance(s, str):
            raise BadArgumentError(f"sources must be names such as 'vpc_flow', not {type(s).__name__} ({s!r:.60}).")
    return list(dict.fromkeys(find_source(s).name for s in items))


def build_query(
    lake: Engine,
    source: str,
    window: Window,
    entities: dict[str, list[str]],
    accounts: list[str] | None = None,
    limit: int | None = None,
    narrowing: tuple[str, list[Any]] | None = None,
) -> tuple[str, list[Any]] | None:
    """The Athena query of one source of a pivot and its parameters.

    The predicates of all fields of all given entity types are OR-ed.

    Parameters
    ----------
    lake
        The lake whose table names the query uses.
    source
        A source name.
    window
        ``[start, end)`` on ``time_dt``.
    entities
        Entity types to values (from :func:`entity_values`).
    accounts
        Adds ``accountid IN (…)``.
    limit
        Keeps the first rows by time.
    narrowing
        One more conjunct and its values (Athena: the partitions the entity summary names,
        :func:`~slake_forensics.analysis.entity_summary.partition_predicate`).

    Returns
    -------
    (str, list) or None
        The SQL (selecting :func:`~slake_forensics.analysis.normalize.projection`) and its bound
        values; ``None`` when the source has no field for any of the given entity types (and
        ``entities`` is not empty).

    Examples
    --------
    >>> import slake_forensics as sf
    >>> from slake_forensics.core.timewindow import Window
    >>> lake = sf.Lake.sample()
    >>> window = Window.of("2026-05-21T03:00Z", "2026-05-21T04:00Z")
    >>> sql, params = build_query(lake, "s3_data", window, {"bucket": ["wingtip-customer-exports-7cd9ef"]})
    >>> params[2:]
    ['wingtip-customer-exports-7cd9ef', 'wingtip-customer-exports-7cd9ef', 'arn:aws:s3:::wingtip-customer-exports-7cd9ef', 'AWS::S3::Bucket']
    >>> build_query(lake, "vpc_flow", window, {"bucket": ["wingtip-customer-exports-7cd9ef"]}) is None
    True
    """
    src = find_source(source)
    where, params = scope_predicate(window, accounts)
    ors: list[str] = []
    for etype, values in entities.items():
        for fld in fields_for(src.name, etype):
            text, p = fld.predicate(values)
            ors.append(text)
            params += p
    if entities and not ors:
        return None
    if ors:
        where.append("(" + "\n    OR ".join(ors) + ")")
    if narrowing is not None:
        where.append(narrowing[0])
        params += narrowing[1]
    sql = f"SELECT\n  {projection(src.name)}\nFROM {lake.table_name(src.name)}\nWHERE " + "\n  AND ".join(where)
    if limit is not None:
        sql += f'\nORDER BY "time_dt"\nLIMIT {operator.index(limit)}'
    return sql, params


def pivot(
    lake: Engine,
    *,
    ip: Values = None,
    principal: Values = None,
    access_key: Values = None,
    bucket: Values = None,
    instance: Values = None,
    domain: Values = None,
    account: Values = None,
    start: TimeLike,
    end: TimeLike,
    sources: Iterable[str] | str | None = None,
    limit_per_source: int | None = None,
    progress: bool = True,
    use_summary: bool = True,
) -> pd.DataFrame:
    """Every event in ``[start, end)`` that mentions one of the given entities, as one timeline.

    Each entity argument takes a string or a list of strings; events matching any value of any
    given entity are returned (the predicates are OR-ed).  ``account`` is a scope, not an
    entity: it restricts every query to those ``accountid`` partitions (alone, it returns every
    event of those accounts).  ``sources`` restricts the sources (default all eight, and the
    lake's custom sources of a class one of them holds); sources without a field for any given
    entity type are skipped.  ``limit_per_source`` keeps the first
    rows by time of each source.

    Returns a frame with :data:`~slake_forensics.analysis.normalize.TIMELINE_COLUMNS`, sorted by time
    (then source, uid).  ``attrs`` holds ``window``, ``entities``, ``accounts``, ``queries``
    and ``params`` (per source: the SQL and its bound values), ``rows`` (per source row count),
    ``truncated`` (sources that hit the limit), ``skipped`` (sources without a field),
    ``elapsed_s`` (per source) and ``index`` (per source, the files the entity index let the query
    read, out of the window's: ``(read, in window)``; empty without an index), and on Athena
    ``tables_read`` when a source's version-1 table was read beside its version-2 table (per
    source, the tables and versions).  Raises
    ``ValueError`` when no entity and no account is given.

    On Athena the sources' queries run concurrently (``AthenaEngine.sql_concurrently``) and
    ``attrs`` adds ``query_execution_ids`` (per source), ``data_scanned_bytes_per_source`` and
    ``data_scanned_bytes`` (their total).  When the lake has an entity summary
    (:mod:`slake_forensics.analysis.entity_summary`, ``lake.build_entity_summary``) covering part
    of the window and ``use_summary`` is true, one query on the summary first gives the
    ``(accountid, region, day)`` partitions holding the values; each source's query reads only
    those (and the days the summary does not cover), a source with none is not queried, and
    ``attrs["entity_summary"]`` holds the summary query's id and bytes, the partitions per source
    and the sources skipped; ``data_scanned_bytes`` then includes the summary query.  Pass
    ``use_summary=False`` to compare the bytes scanned without it.

    On a local or S3 lake with an entity index (:mod:`slake_forensics.analysis.entity_index`,
    ``lake.build_index()``), the index is first brought up to date for the window's files (only
    new or changed files are read) and each source's query reads only the files the index names;
    a source none of whose files can match is not queried.  The rows are the full scan's.

    Parameters
    ----------
    lake
        The lake to query.
    ip, principal, access_key, bucket, instance, domain
        Entity values (a string or several).
    account
        Accounts to restrict every query to.
    start, end
        The window ``[start, end)``.
    sources
        Sources to query (default all).
    limit_per_source
        Keep the first rows by time of each source.
    progress
        Show a progress bar over the sources.
    use_summary
        On Athena, narrow the queries with the lake's entity summary when it has one.

    Returns
    -------
    pandas.DataFrame
        Columns ``time, source, class_name, activity, actor, src_ip, dst_ip, target, status,
        severity, summary, uid, account, region, ref``, one row per event.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> from slake_forensics.analysis.pivot import pivot
    >>> lake = sf.Lake.sample()
    >>> tl = pivot(lake, domain="pool.supportxmr.com", ip="94.130.27.54", start="2026-05-14T20:00Z",
    ...            end="2026-05-14T20:10Z", progress=False)
    >>> tl[["source", "activity", "target"]].values.tolist()[:2]
    [['route53', 'Traffic', 'pool.supportxmr.com.'], ['vpc_flow', 'Traffic', '94.130.27.54:3333']]
    >>> {name: n for name, n in tl.attrs["rows"].items() if n}
    {'vpc_flow': 6, 'route53': 1}
    """
    window = Window.of(start, end)
    raw = {"ip": ip, "principal": principal, "access_key": access_key, "bucket": bucket, "instance": instance, "domain": domain}
    given = {name: entity_values(name, v) for name, v in raw.items() if v is not None}
    accounts = id_list(account, "account")
    if not given and accounts is None:
        raise BadArgumentError(f"pivot needs at least one entity ({', '.join(PIVOT_ENTITIES)}) or an account, "
                               "e.g. pivot(ip='203.0.113.7').")
    if limit_per_source is not None and (isinstance(limit_per_source, bool) or _index(limit_per_source) < 1):
        raise BadArgumentError(f"limit_per_source must be a positive integer or None, not {limit_per_source!r:.60}.")
    custom = [s.name for s in lake.custom_sources() if s.like]  # custom sources of a class a v2 source holds
    names = [*SOURCES, *custom] if sources is None else _source_names(sources)

    queries: dict[str, str] = {}
    params: dict[str, list[Any]] = {}
    rows: dict[str, int] = {}
    elapsed: dict[str, float] = {}
    skipped: list[str] = []
    truncated: list[str] = []
    narrowed: dict[str, tuple[int, int]] = {}
    tables: dict[str, Any] = {}  # Athena: the tables and source versions read, when a v1 table joined
    frames = []
    built_queries = {name: build_query(lake, name, window, given, accounts, limit_per_source) for name in names}
    summary = None  # Athena: the partitions the lake's entity summary names
    if isinstance(lake, AthenaEngine) and given and use_summary:
        summary = _summary.narrow(lake, window, given, accounts, [n for n, b in built_queries.items() if b is not None])
    unread: set[str] = set()
    if summary is not None:
        unread = {n for n, p in summary.predicates.items() if p is None}
        built_queries.update({n: build_query(lake, n, window, given, accounts, limit_per_source, narrowing=p)
                              for n, p in summary.predicates.items() if p is not None})
    index = index_of(lake) if given else None
    found: dict[str, tuple[list[str], int]] = {}
    if index is not None:
        wanted = [v for values in given.values() for v in values]
        found = index.narrow([n for n, b in built_queries.items() if b is not None], window, accounts, wanted, progress=progress)
    ran: dict[str, pd.DataFrame] = {}
    if isinstance(lake, AthenaEngine):  # Athena: the sources' queries run at once, each with its own provenance
        ran = lake.sql_concurrently({n: b for n, b in built_queries.items() if b is not None and n not in unread},
                                    start=window.start, end=window.end)
    bar = tqdm(names, desc="pivot", disable=not progress, leave=False)
    for name in bar:
        bar.set_postfix_str(name)
        built = built_queries[name]
        if built is None:
            skipped.append(name)
            continue
        sql, values = built
        queries[name], params[name] = sql, values
        t0 = time.perf_counter()
        only = found[name][0] if name in found else None
        if name in found:
            narrowed[name] = (len(only or ()), found[name][1])
        if (only is not None and not only) or name in unread:  # the index (summary) says nothing can match
            elapsed[name], rows[name] = time.perf_counter() - t0, 0
            continue
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="This lake has no .* data; the query sees an empty table")
            scope: dict[str, Any] = {"start": window.start, "end": window.end, "accounts": accounts}
            if only is not None:
                scope["only_files"] = only
            result = ran[name] if name in ran else lake.sql(sql, values, **scope)
        elapsed[name] = result.attrs["elapsed_s"] if name in ran else time.perf_counter() - t0
        tables.update(result.attrs.get("tables_read", {}))
        rows[name] = len(result)
        if limit_per_source is not None and len(result) >= limit_per_source:
            truncated.append(name)
        if len(result):
            frames.append(as_timeline(result))
    out = pd.concat(frames, ignore_index=True) if frames else empty_timeline()
    out = out.sort_values(["time", "source", "uid"], kind="stable", na_position="last").reset_index(drop=True)
    out.attrs = {
        "window": (window.start, window.end),
        "entities": given,
        "accounts": accounts,
        "queries": queries,
        "params": params,
        "rows": rows,
        "truncated": truncated,
        "skipped": skipped,
        "elapsed_s": elapsed,
        "index": narrowed,
    }
    if tables:
        out.attrs["tables_read"] = tables
    if ran or summary is not None:
        out.attrs.update(_athena_provenance(ran))
    if summary is not None:
        out.attrs["entity_summary"] = summary.info
        out.attrs["data_scanned_bytes"] += summary.info["data_scanned_bytes"]
    return out


def _athena_provenance(ran: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
    """The Athena attrs of a pivot: per source its query id and bytes scanned, and the total."""
    scanned = {name: int(df.attrs["data_scanned_bytes"]) for name, df in ran.items()}
    return {
        "query_execution_ids": {name: df.attrs["query_execution_id"] for name, df in ran.items()},
        "data_scanned_bytes_per_source": scanned,
        "data_scanned_bytes": sum(scanned.values()),
    }


def fetch_rows(lake: Engine, timeline_rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The full events behind timeline rows (from :func:`pivot` or :func:`~slake_forensics.analysis.normalize.normalize`).

    Needs the columns ``source``, ``time``, ``uid`` (and uses ``account`` to prune partitions).
    Per source and UTC day, the span from the day's first to last asked-for time is loaded
    with ``Lake.load`` (so at most one load per source and event day) and the events whose
    ``(uid, time)`` is asked for are kept.  Returns ``{source: flattened frame}`` in the
    shape of ``Lake.load`` (all columns, sorted by time), one entry per source present in
    ``timeline_rows`` (a frame without columns when nothing of it could be loaded); ``attrs``
    of each frame lists the ``windows`` loaded.

    Parameters
    ----------
    lake
        The lake the rows came from.
    timeline_rows
        Timeline rows (columns ``source``, ``time``, ``uid``; optionally ``account``).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``{source: flattened frame}`` with every column of the source.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> from slake_forensics.analysis.pivot import fetch_rows, pivot
    >>> lake = sf.Lake.sample()
    >>> tl = pivot(lake, ip="94.130.27.54", start="2026-05-14T20:07Z", end="2026-05-14T20:08Z", progress=False)
    >>> full = fetch_rows(lake, tl)
    >>> sorted(full), full["vpc_flow"][["dst_endpoint.port", "traffic.bytes"]].values.tolist()[:1]
    (['route53', 'vpc_flow'], [[3333, 4100]])
    """
    missing = {"source", "time", "uid"} - set(timeline_rows.columns)
    if missing:
        raise ValueError(f"timeline_rows lacks column(s) {sorted(missing)}; pass rows of a pivot or normalize() timeline.")
    out: dict[str, pd.DataFrame] = {}
    for name, group in timeline_rows.groupby("source", sort=True, observed=True):
        src = find_source(str(name))
        wanted = set(zip(group["uid"].astype(object), pd.to_datetime(group["time"], utc=True)))
        accounts = sorted(group["account"].dropna().astype(str).unique()) if "account" in group and group["account"].notna().all() else None
        frames, windows = [], []
        for lo, hi in _windows(pd.to_datetime(group["time"], utc=True)):
            try:
                df = lake.load(src.name, lo, hi, accounts=accounts)
            except NoPartitionsError:
                continue
            windows.append((lo, hi))
            norm = normalize(df, src.name)
            keep = [k in wanted for k in zip(norm["uid"].astype(object), norm["time"])]
            frames.append(df[keep])
        full = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        full.attrs = {"source": src.name, "windows": windows, "accounts": accounts, "lake": lake.location}
        out[src.name] = full
    return out


def _windows(times: pd.Series) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Half-open windows covering ``times``: one per UTC day, from its first to just after its last time."""
    ordered = times.dropna().sort_values()
    one_ms = pd.Timedelta(milliseconds=1)
    return [(g.iloc[0], g.iloc[-1] + one_ms) for _, g in ordered.groupby(ordered.dt.floor("D"), sort=True)]
