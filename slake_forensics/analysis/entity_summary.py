"""The per-day entity summary of an Athena lake: which partitions hold each entity value.

Athena prunes partitions, not files, so the entity index of local and S3 lakes
(:mod:`slake_forensics.analysis.entity_index`) has no use there.  Instead, once per lake and with
an explicit cost estimate first, :func:`build` writes a small Glue table at the analyst's S3
location: one row per distinct ``(entity_type, value, source, accountid, region, eventday)``,
from the entity fields of :data:`~slake_forensics.analysis.entities.ENTITY_FIELDS` (their
:meth:`~slake_forensics.analysis.entities.Field.athena_values_sql`, the SQL twin of the
extraction the local index uses; no second list of fields).  Later pivots on that lake
(:func:`narrow`, called by :func:`~slake_forensics.analysis.pivot.pivot`) ask the summary first
and read, per source, only the ``(accountid, region, day)`` partitions holding a pivot value; the
days of the window the summary does not cover are read unnarrowed.

The summary is not partitioned: it is small (a few MB for the bench's 11M events), Athena bills at
least 10 MB per query so pruning it would save nothing, and an unpartitioned table avoids Athena's
limit of 100 partitions written per ``INSERT`` (a window of more than 100 days would fail).  Its
coverage (days, sources, the fingerprint of the entity fields) is kept in the Glue table's
parameters, written once every ``INSERT`` succeeded, so a later session attaches it with
:func:`attach` and a summary of other field definitions is not used.

Nothing a user gives is formatted into SQL: window bounds and pivot values are bound
parameters; the database and table names are checked against Glue's rules and quoted, the
location checked as an ``s3://`` URI and written as one quoted literal.
"""
from __future__ import annotations

import hashlib
import logging
import re
import warnings
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pandas as pd

from slake_forensics.analysis.entities import ENTITY_FIELDS, fields_for
from slake_forensics.core.catalog import SOURCES, source as find_source
from slake_forensics.core.errors import BadArgumentError, QueryError, QueryInterrupted
from slake_forensics.core.timewindow import TimeLike, Window
from slake_forensics.engines.athena import AthenaEngine
from slake_forensics.sql.build import literal, quote_identifier, timestamp_text

_log = logging.getLogger(__name__)

#: The summary table's columns, in order (all ``varchar``).
SUMMARY_COLUMNS = ("entity_type", "value", "source", "accountid", "region", "eventday")

_NAME_RE = re.compile(r"[a-z0-9_]{1,255}")
_LOCATION_RE = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/(?:[A-Za-z0-9!_.*()=-]+/)*")
_DAY = pd.Timedelta(days=1)
_FORMAT = "1"


class SummaryUnusedWarning(UserWarning):
    """The lake's entity summary could not be read: the pivot ran unnarrowed."""


@dataclass(frozen=True)
class EntitySummary:
    """An entity summary table and what it covers.

    Attributes
    ----------
    database, table
        Where it is in Glue.
    start, end
        The whole UTC days it covers, ``[start, end)``.
    sources
        The sources it holds.
    types
        The entity types it holds.
    """

    database: str
    table: str
    start: pd.Timestamp
    end: pd.Timestamp
    sources: tuple[str, ...]
    types: tuple[str, ...]

    @property
    def relation(self) -> str:
        """The quoted ``"database"."table"``."""
        return f"{quote_identifier(self.database)}.{quote_identifier(self.table)}"

    def parameters(self, lake: AthenaEngine) -> dict[str, str]:
        """The Glue table parameters that record it (see :func:`attach`).

        Parameters
        ----------
        lake
            The lake it summarizes (its region and database are recorded).

        Returns
        -------
        dict of str to str
            ``slake_entity_summary`` (format), ``slake_lake``, ``slake_start``, ``slake_end``,
            ``slake_sources``, ``slake_types`` and ``slake_fields`` (:func:`fingerprint`).

        Examples
        --------
        >>> import boto3
        >>> lake = AthenaEngine("us-east-1", boto3_session=boto3.Session(aws_access_key_id="x", aws_secret_access_key="y"))
        >>> s = EntitySummary("ir", "ents", pd.Timestamp("2026-03-01", tz="UTC"), pd.Timestamp("2026-03-02", tz="UTC"), ("waf",), ("ip",))
        >>> s.parameters(lake)["slake_lake"], s.parameters(lake)["slake_end"]
        ('us-east-1/amazon_security_lake_glue_db_us_east_1', '2026-03-02T00:00:00+00:00')
        """
        return {"slake_entity_summary": _FORMAT, "slake_lake": _lake_key(lake),
                "slake_start": self.start.isoformat(), "slake_end": self.end.isoformat(),
                "slake_sources": ",".join(self.sources), "slake_types": ",".join(self.types),
                "slake_fields": fingerprint(self.types)}


def _lake_key(lake: AthenaEngine) -> str:
    return f"{lake.region}/{lake.database}"


def fingerprint(types: tuple[str, ...]) -> str:
    """A short hash of the entity field definitions of ``types`` (all sources).

    Examples
    --------
    >>> len(fingerprint(("ip",))), fingerprint(("ip",)) == fingerprint(("ip", "domain"))
    (16, False)
    """
    text = repr([(s, [(t, ENTITY_FIELDS[s].get(t, ())) for t in types]) for s in sorted(ENTITY_FIELDS)]) + _FORMAT
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_name(name: str, what: str) -> str:
    """``name`` if it is a valid Glue/Athena database or table name (lower case, digits, ``_``), else raise.

    Examples
    --------
    >>> check_name("ir_summary", "table")
    'ir_summary'
    >>> check_name('x"; DROP', "table")
    Traceback (most recent call last):
    ...
    slake_forensics.core.errors.BadArgumentError: table 'x"; DROP' is not a Glue name: use lower-case letters, digits and _ (at most 255).
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise BadArgumentError(f"{what} {name!r:.80} is not a Glue name: use lower-case letters, digits and _ (at most 255).")
    return name


def check_location(location: str) -> str:
    """``location`` as an ``s3://bucket/prefix/`` URI ending in ``/``, or raise.

    Examples
    --------
    >>> check_location("s3://ir-athena-work/entity-summary")
    's3://ir-athena-work/entity-summary/'
    >>> check_location("s3://b/x' OR 1=1")
    Traceback (most recent call last):
    ...
    slake_forensics.core.errors.BadArgumentError: location "s3://b/x' OR 1=1/" is not an s3://bucket/prefix/ URI (letters, digits and !_.*()=- in the prefix).
    """
    text = location if isinstance(location, str) and location.endswith("/") else f"{location}/"
    if not _LOCATION_RE.fullmatch(text):
        raise BadArgumentError(f"location {text!r:.200} is not an s3://bucket/prefix/ URI (letters, digits and "
                               "!_.*()=- in the prefix).")
    return text


def whole_days(window: Window) -> Window:
    """``window`` widened to whole UTC days.

    Examples
    --------
    >>> w = whole_days(Window.of("2026-03-01T12:00Z", "2026-03-03T00:00Z"))
    >>> str(w)
    '[2026-03-01T00:00:00+00:00, 2026-03-03T00:00:00+00:00)'
    """
    end = window.end.normalize()
    return Window(window.start.normalize(), end if end == window.end else end + _DAY)


# -- building ---------------------------------------------------------------------------------------


def create_sql(summary: EntitySummary, location: str) -> str:
    """The ``CREATE TABLE … AS … WITH NO DATA`` of the (empty) summary table at ``location``.

    Examples
    --------
    >>> s = EntitySummary("ir", "ents", pd.Timestamp("2026-03-01", tz="UTC"), pd.Timestamp("2026-03-02", tz="UTC"), ("waf",), ("ip",))
    >>> print(create_sql(s, "s3://ir-work/ents/").splitlines()[0])
    CREATE TABLE "ir"."ents"
    """
    columns = ", ".join(f"CAST(NULL AS varchar) AS {quote_identifier(c)}" for c in SUMMARY_COLUMNS)
    return (f"CREATE TABLE {summary.relation}\n"
            f"WITH (format = 'PARQUET', write_compression = 'ZSTD', external_location = {literal(check_location(location))})\n"
            f"AS SELECT {columns}\nWITH NO DATA")


def insert_sql(lake: AthenaEngine, summary: EntitySummary, source: str) -> tuple[str, list[Any]] | None:
    """The ``INSERT INTO`` of one source's rows of the summary, and its bound window; ``None`` without fields.

    Each entity type's values are the concatenation of its fields'
    :meth:`~slake_forensics.analysis.entities.Field.athena_values_sql` arrays, unnested with the
    row's ``accountid``, ``region`` and day of ``time_dt`` (``YYYYMMDD``), distinct.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.athena("us-east-1")  # doctest: +SKIP
    >>> s = EntitySummary("ir", "ents", pd.Timestamp("2026-03-01", tz="UTC"), pd.Timestamp("2026-03-02", tz="UTC"), ("waf",), ("ip",))
    >>> sql, params = insert_sql(lake, s, "waf")  # doctest: +SKIP
    >>> params  # doctest: +SKIP
    ['2026-03-01T00:00:00.000Z', '2026-03-02T00:00:00.000Z']
    """
    typed = [(t, fields_for(source, t)) for t in summary.types]
    typed = [(t, fields) for t, fields in typed if fields]
    if not typed:
        return None
    names = ", ".join(literal(t) for t, _ in typed)
    arrays = ", ".join(
        fields[0].athena_values_sql() if len(fields) == 1 else "concat(" + ", ".join(f.athena_values_sql() for f in fields) + ")"
        for _, fields in typed
    )
    sql = (
        f"INSERT INTO {summary.relation}\n"
        f'SELECT DISTINCT "e"."entity_type", "u"."value", {literal(find_source(source).name)} AS "source", '
        f'"accountid", "region", date_format("time_dt", \'%Y%m%d\') AS "eventday"\n'
        f"FROM {lake.table_name(source)}\n"
        f'CROSS JOIN UNNEST(ARRAY[{names}], ARRAY[{arrays}]) AS "e"("entity_type", "vals")\n'
        f'CROSS JOIN UNNEST("e"."vals") AS "u"("value")\n'
        'WHERE "time_dt" >= from_iso8601_timestamp(?) AND "time_dt" < from_iso8601_timestamp(?)'
    )
    return sql, [timestamp_text(summary.start), timestamp_text(summary.end)]


def estimate(lake: AthenaEngine, window: Window, sources: list[str]) -> pd.DataFrame:
    """What building the summary over ``window`` would scan at most: the S3 bytes of the window's partitions.

    An upper bound: Athena reads only the projected columns (the entity fields, ``accountid``,
    ``region``, ``time_dt``) of these Parquet files.  Only Glue and S3 listings are asked
    (:meth:`~slake_forensics.engines.athena.AthenaEngine.window_objects`).

    Parameters
    ----------
    lake
        The Athena lake.
    window
        The days to count.
    sources
        Source names.

    Returns
    -------
    pandas.DataFrame
        One row per source: ``source, tables, partitions, files, bytes`` (``bytes`` is ``None``
        when Glue did not give a table's location); ``attrs["bytes"]`` the known total,
        ``attrs["unknown"]`` the sources without a figure.

    Examples
    --------
    >>> est = estimate(lake, Window.of("2026-11-01T00:00Z", "2026-12-01T00:00Z"), ["vpc_flow"])  # doctest: +SKIP
    >>> est.attrs["bytes"]  # doctest: +SKIP
    94038465
    """
    rows = []
    for name in sources:
        found = lake.window_objects(name, window)
        known = [t["bytes"] for t in found]
        rows.append({"source": name, "tables": [t["table"] for t in found],
                     "partitions": sum(t["partitions"] for t in found), "files": sum(t["files"] for t in found),
                     "bytes": None if None in known else sum(known)})
    df = pd.DataFrame(rows, columns=["source", "tables", "partitions", "files", "bytes"])
    df["bytes"] = df["bytes"].astype("Int64")
    df.attrs = {"window": (window.start, window.end), "bytes": int(df["bytes"].sum()),
                "unknown": [r["source"] for r in rows if r["bytes"] is None]}
    return df


def build(
    lake: AthenaEngine,
    start: TimeLike,
    end: TimeLike,
    *,
    location: str,
    database: str,
    table: str,
    types: tuple[str, ...],
    sources: list[str] | None = None,
    confirm: bool = False,
    timeout: float | None = None,
) -> pd.DataFrame:
    """Estimate, and with ``confirm`` build, the entity summary of ``lake`` over the whole days of ``[start, end)``.

    :meth:`slake_forensics.lake.Lake.build_entity_summary` documents it; ``types`` are the entity
    types to record (the pivot's entities).

    Parameters
    ----------
    lake
        The Athena lake.
    start, end
        The window, widened to whole UTC days.
    location, database, table
        Where the summary is written (checked: :func:`check_location`, :func:`check_name`).
    types
        Entity types to record.
    sources
        Sources to summarize (default every catalog source with a table).
    confirm
        Run the build; otherwise only print and return the estimate.
    timeout
        Seconds per statement.

    Returns
    -------
    pandas.DataFrame
        The :func:`estimate` (``source, tables, partitions, files, bytes``), with ``confirm``
        also ``query_execution_id, data_scanned_bytes`` per source.

    Examples
    --------
    >>> est = build(lake, "2026-11-01T00:00Z", "2026-12-01T00:00Z", location="s3://ir-work/ents/", database="ir",
    ...             table="ents", types=("ip",))  # doctest: +SKIP
    """
    check_name(database, "database")
    check_name(table, "table")
    location = check_location(location)
    window = whole_days(Window.of(start, end))
    present = set(lake.source_tables())
    names = [s for s in (SOURCES if sources is None else [find_source(n).name for n in sources])
             if s in present and any(fields_for(s, t) for t in types)]
    summary = EntitySummary(database, table, window.start, window.end, tuple(names), tuple(types))
    est = estimate(lake, window, names)
    unknown = (f" (and {', '.join(est.attrs['unknown'])}, whose S3 objects could not be counted: no location in "
               "Glue, or no partition folders below it)") if est.attrs["unknown"] else ""
    print(f"Building the entity summary {database}.{table} over {window} would scan at most "
          f"{est.attrs['bytes'] / 1e6:,.1f} MB in {int(est['files'].sum())} files of {len(names)} sources{unknown}."
          + ("" if confirm else " Nothing was run: pass confirm=True to build it."))
    est.attrs.update(table=f"{database}.{table}", location=location, confirmed=bool(confirm))
    if not confirm:
        return est
    est.attrs["create"] = lake.run_statement(create_sql(summary, location), timeout=timeout)
    runs: dict[str, dict[str, Any]] = {}
    for name in names:
        built = insert_sql(lake, summary, name)
        if built is not None:
            runs[name] = lake.run_statement(*built, start=window.start, end=window.end, timeout=timeout)
    est["query_execution_id"] = [runs[n]["query_execution_id"] if n in runs else None for n in est["source"]]
    est["data_scanned_bytes"] = pd.array([runs[n]["data_scanned_bytes"] if n in runs else None for n in est["source"]],
                                         dtype="Int64")
    est.attrs["inserts"] = runs
    est.attrs["data_scanned_bytes"] = sum(r["data_scanned_bytes"] for r in runs.values())
    lake.set_table_parameters(database, table, summary.parameters(lake))
    lake.entity_summary = summary
    return est


def attach(lake: AthenaEngine, database: str, table: str) -> EntitySummary:
    """The summary ``database.table`` built for ``lake`` (read from its Glue parameters), set as the lake's.

    Parameters
    ----------
    lake
        The Athena lake.
    database, table
        Where the summary is.

    Returns
    -------
    EntitySummary
        What it covers.

    Raises
    ------
    BadArgumentError
        When the table is not a complete summary of this lake, or was built from other entity
        field definitions (build a new one then).

    Examples
    --------
    >>> attach(lake, "ir", "ents").sources  # doctest: +SKIP
    ('cloud_trail_mgmt', 's3_data', 'lambda_execution', 'vpc_flow', 'route53', 'sh_findings', 'eks_audit', 'waf')
    """
    params = lake.table_parameters(check_name(database, "database"), check_name(table, "table"))
    if params.get("slake_entity_summary") != _FORMAT or params.get("slake_lake") != _lake_key(lake):
        raise BadArgumentError(f"{database}.{table} is not a complete entity summary of {_lake_key(lake)} "
                               "(build it with lake.build_entity_summary(..., confirm=True)).")
    types = tuple(t for t in params["slake_types"].split(",") if t)
    if params.get("slake_fields") != fingerprint(types):
        raise BadArgumentError(f"{database}.{table} was built from other entity field definitions than this "
                               "version's; build a new summary.")
    summary = EntitySummary(database, table, pd.Timestamp(params["slake_start"]), pd.Timestamp(params["slake_end"]),
                            tuple(s for s in params["slake_sources"].split(",") if s), types)
    lake.entity_summary = summary
    return summary


# -- pivots -----------------------------------------------------------------------------------------


def lookup_values(source: str, entity_type: str, values: list[str]) -> list[str]:
    """The summary values a pivot value can stand for: each value and what the fields' extraction makes of it.

    A pivot predicate matches a field's stored value ``v`` or ``<prefix>v``; the summary holds the
    extracted value (prefixes stripped in turn, as
    :meth:`~slake_forensics.analysis.entities.Field.extract` does).

    Examples
    --------
    >>> lookup_values("s3_data", "bucket", ["arn:aws:s3:::b1", "b2"])
    ['arn:aws:s3:::b1', 'b2', 'b1']
    """
    out = list(values)
    for fld in fields_for(source, entity_type):
        for stored in fld.stored(values):
            for prefix in fld.prefixes:
                stored = stored[len(prefix):] if stored.startswith(prefix) else stored
            out.append(stored)
    return list(dict.fromkeys(out))


@dataclass
class Narrowing:
    """What the summary said for one pivot.

    Attributes
    ----------
    predicates
        Per source the summary holds: the conjunct (and its values) that keeps the source's query
        to the partitions named and the uncovered days; ``None``: the source needs no query.
    info
        The pivot's ``attrs["entity_summary"]``: ``table``, ``covered``, ``uncovered``,
        ``partitions`` (per source), ``skipped``, and the summary query's ``query_execution_id``,
        ``sql``, ``params`` and ``data_scanned_bytes``.
    """

    predicates: dict[str, tuple[str, list[Any]] | None]
    info: dict[str, Any]


def _range(lo: pd.Timestamp, hi: pd.Timestamp) -> tuple[str, list[Any]]:
    return ('"time_dt" >= from_iso8601_timestamp(?) AND "time_dt" < from_iso8601_timestamp(?)',
            [timestamp_text(lo), timestamp_text(hi)])


def partition_predicate(
    covered: Window | None, partitions: list[tuple[str, str, str]], uncovered: list[Window],
) -> tuple[str, list[Any]] | None:
    """The predicate that keeps one source's query to ``partitions`` and the ``uncovered`` windows.

    ``partitions`` are ``(accountid, region, YYYYMMDD)`` in ``covered`` (the part of the pivot's
    window the summary covers); consecutive days holding the same ``(accountid, region)`` pairs share one
    ``time_dt`` range.  ``None`` when there is nothing to read.

    Examples
    --------
    >>> covered = Window.of("2026-03-01T00:00Z", "2026-03-04T00:00Z")
    >>> sql, params = partition_predicate(covered, [("111122223333", "us-east-1", "20260302")],
    ...                                   [Window.of("2026-03-04T00:00Z", "2026-03-05T00:00Z")])
    >>> sql.count("?") == len(params), params[:3]
    (True, ['2026-03-02T00:00:00.000Z', '2026-03-03T00:00:00.000Z', '111122223333'])
    >>> partition_predicate(covered, [], []) is None
    True
    """
    by_day: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for account, region, day in partitions:
        by_day[day].add((account, region))
    runs: list[tuple[pd.Timestamp, pd.Timestamp, frozenset[tuple[str, str]]]] = []
    for day in sorted(by_day):
        lo = pd.Timestamp(day, tz="UTC")
        pairs = frozenset(by_day[day])
        if runs and runs[-1][1] == lo and runs[-1][2] == pairs:
            runs[-1] = (runs[-1][0], lo + _DAY, pairs)
        else:
            runs.append((lo, lo + _DAY, pairs))
    terms: list[str] = []
    params: list[Any] = []
    for lo, hi, pairs in runs:
        assert covered is not None
        text, values = _range(max(lo, covered.start), min(hi, covered.end))
        regions: dict[str, list[str]] = defaultdict(list)
        for account, region in sorted(pairs):
            regions[account].append(region)
        ors = [f'("accountid" = ? AND "region" IN ({", ".join("?" for _ in regs)}))' for regs in regions.values()]
        terms.append(f"({text} AND ({' OR '.join(ors)}))")
        params += values + [v for account, regs in regions.items() for v in (account, *regs)]
    for part in uncovered:
        text, values = _range(part.start, part.end)
        terms.append(f"({text})")
        params += values
    if not terms:
        return None
    return "(" + "\n    OR ".join(terms) + ")", params


def narrow(
    lake: AthenaEngine, window: Window, given: dict[str, list[str]], accounts: list[str] | None, names: list[str],
) -> Narrowing | None:
    """Ask the lake's summary which partitions of ``window`` hold the pivot's values; ``None`` when it cannot say.

    One query on the summary (values, types, days, sources and accounts bound) gives
    ``(source, accountid, region, eventday)``; each source the summary holds gets the predicate of
    :func:`partition_predicate` (the days the summary does not cover read unnarrowed), or ``None``
    (no query) when no partition holds a value and the summary covers the whole window.  Sources
    the summary does not hold (custom sources, ones added later) are left as they are.

    Parameters
    ----------
    lake
        The Athena lake (its ``entity_summary``).
    window
        The pivot's window.
    given
        Entity types to values (the pivot's).
    accounts
        The pivot's accounts, or ``None``.
    names
        The sources the pivot queries.

    Returns
    -------
    Narrowing or None
        ``None`` when the lake has no summary, it covers no part of the window or holds none
        of the sources or not every given entity type, a value is one the summary cannot
        record (``""``, ``"-"``), or the summary query failed (a :class:`SummaryUnusedWarning`
        says why; an interrupt is raised).

    Examples
    --------
    >>> found = narrow(lake, Window.of("2026-11-01T00:00Z", "2026-12-01T00:00Z"), {"ip": ["45.77.204.32"]},
    ...                None, ["vpc_flow", "waf"])  # doctest: +SKIP
    >>> found.info["skipped"]  # doctest: +SKIP
    ['waf']
    """
    summary: EntitySummary | None = getattr(lake, "entity_summary", None)
    if summary is None:
        return None
    covered_start, covered_end = max(window.start, summary.start), min(window.end, summary.end)
    held = [n for n in names if n in summary.sources]
    if covered_start >= covered_end or not held or any(t not in summary.types for t in given):
        return None
    lookups = {(n, t): lookup_values(n, t, v) for n in held for t, v in given.items()}
    if any(v in ("", "-") for values in lookups.values() for v in values):
        _log.info("A pivot value the summary does not record ('' or '-'): the pivot is not narrowed.")
        return None
    covered = Window(covered_start, covered_end)
    uncovered = [w for w in (Window(window.start, covered.start), Window(covered.end, window.end)) if w.start < w.end]
    days = covered.days()
    by_type: dict[str, list[str]] = {t: list(dict.fromkeys(v for (_, t2), vs in lookups.items() if t2 == t for v in vs))
                                     for t in given}
    ors = [f'("entity_type" = ? AND "value" IN ({", ".join("?" for _ in vs)}))' for vs in by_type.values()]
    params: list[Any] = [days[0], days[-1], *held]
    params += [v for t, vs in by_type.items() for v in (t, *vs)]
    sql = (f'SELECT DISTINCT "source", "accountid", "region", "eventday" FROM {summary.relation}\n'
           f'WHERE "eventday" >= ? AND "eventday" <= ? AND "source" IN ({", ".join("?" for _ in held)})\n'
           f"  AND ({' OR '.join(ors)})")
    if accounts is not None:
        sql += f'\n  AND "accountid" IN ({", ".join("?" for _ in accounts)})'
        params += accounts
    try:
        found = lake.sql(sql, params)
    except QueryInterrupted:
        raise
    except QueryError as exc:  # the summary only narrows: without it the pivot reads everything, as before
        warnings.warn(f"The entity summary {summary.database}.{summary.table} could not be read ({exc}); the pivot "
                      "reads its sources unnarrowed. lake.entity_summary = None stops using it.",
                      SummaryUnusedWarning, stacklevel=3)
        return None
    partitions: dict[str, list[tuple[str, str, str]]] = {n: [] for n in held}
    for source, account, region, day in found[["source", "accountid", "region", "eventday"]].itertuples(index=False):
        partitions[str(source)].append((str(account), str(region), str(day)))
    predicates = {n: partition_predicate(covered, sorted(partitions[n]), uncovered) for n in held}
    info = {
        "table": f"{summary.database}.{summary.table}",
        "covered": (covered.start, covered.end),
        "uncovered": [(w.start, w.end) for w in uncovered],
        "partitions": {n: sorted(p) for n, p in partitions.items()},
        "skipped": [n for n, p in predicates.items() if p is None],
        "query_execution_id": found.attrs.get("query_execution_id"),
        "sql": sql,
        "params": found.attrs.get("params"),
        "data_scanned_bytes": int(found.attrs.get("data_scanned_bytes", 0)),
    }
    return Narrowing(predicates, info)
