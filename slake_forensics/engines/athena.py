"""The Athena engine: queries the Security Lake Glue tables through awswrangler.

Result retrieval
----------------
Queries run with awswrangler's plain (non-CTAS, non-UNLOAD) path:
``wr.athena.start_query_execution`` → ``wr.athena.wait_query`` → the result Athena
writes.  CTAS would need ``CREATE TABLE`` in a Glue database and UNLOAD write access to
an S3 prefix; a Lake Formation subscriber of Security Lake usually has neither, while
every Athena user can read the results of their own queries.  The result is read:

* from the CSV Athena writes to the workgroup's (or ``s3_output``) result location,
  parsed with ``pyarrow.csv`` so that quoted empty strings stay ``""`` and only Athena's
  unquoted empty fields become null (awswrangler's own CSV reader would also turn ``""``
  and ``"NaN"`` into nulls);
* through ``GetQueryResults`` pagination when the workgroup uses Athena-managed query
  results (no S3 location; slower, 1,000 rows per call).

Lists and maps cannot cross CSV intact, so :func:`~slake_forensics.sql.build.load_query`
selects them as JSON text and :meth:`AthenaLake.load` decodes them back into Arrow lists
and maps of the schema's type.  ``sql()`` returns array/map/row columns as Athena's text
rendering: wrap them in ``json_format(CAST(x AS JSON))`` to get JSON.

Parameters always travel as ``ExecutionParameters`` (awswrangler ``paramstyle="qmark"``,
which passes the list to ``StartQueryExecution`` unchanged and does no quoting of its
own: :func:`~slake_forensics.sql.build.parameter` makes each value one SQL literal).
awswrangler's result cache is disabled explicitly: it matches on the SQL text only and
would return one parameter set's result for another.

Cost
----
``load`` scans only the selected columns of the window's partitions.  ``sources()``
asks Glue (``GetTables``), which is free and scans nothing.
"""
from __future__ import annotations

import csv
import io
import logging
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

import awswrangler as wr
import boto3
import botocore.exceptions
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from slake_forensics.core.catalog import SOURCES, Source, database as default_database, source as find_source, table_regex
from slake_forensics.core.errors import AwsConfigError, QueryError
from slake_forensics.core.scope import id_list
from slake_forensics.engines.base import Engine, Explanation
from slake_forensics.sql.build import (
    check_region,
    decode_json_column,
    leaves,
    literal,
    load_query,
    parameter,
    quote_identifier,
    resolve_columns,
    timestamp_text,
)
from slake_forensics.core.timewindow import TimeLike, Window

_log = logging.getLogger(__name__)

HOW_TO_CONFIGURE = (
    "Configure AWS access one of these ways: set AWS_PROFILE to a profile from `aws configure` / "
    "`aws configure sso` (then `aws sso login`), or set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
    "(and AWS_SESSION_TOKEN); set the region with AWS_DEFAULT_REGION or SLAKE_REGION; or pass "
    "boto3_session=boto3.Session(profile_name=..., region_name=...)."
)
_AUTH_CODES = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "AccessDeniedException",
    "AccessDenied",
}
_NOT_FOUND = re.compile(r"TABLE_NOT_FOUND|SCHEMA_NOT_FOUND|COLUMN_NOT_FOUND|does not exist|cannot be resolved", re.I)

_ARROW_TYPES: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "float": pa.float32(),
    "double": pa.float64(),
    "date": pa.date32(),
}


def aws_session(region: str | None, boto3_session: boto3.Session | None) -> boto3.Session:
    """Return a boto3 session with a region and credentials, or raise :class:`AwsConfigError`.

    ``region`` wins; without it the session's region, then boto3's lookup (``AWS_REGION``,
    ``AWS_DEFAULT_REGION``, the profile) decides.  A given ``boto3_session`` without a region
    gets ``region`` set on it; one set to a different region is an error (its clients would
    talk to the wrong region).  Credentials are only resolved, not verified against AWS
    (no network call).
    """
    try:
        session = boto3_session or boto3.Session(region_name=region)
    except botocore.exceptions.ProfileNotFound as exc:
        raise AwsConfigError(f"{exc}. {HOW_TO_CONFIGURE}") from None
    if boto3_session is not None and region and boto3_session.region_name != region:
        if boto3_session.region_name:
            raise AwsConfigError(
                f"region={region!r} but boto3_session is for {boto3_session.region_name!r}; "
                "pass a session for the lake's region or leave region out."
            )
        boto3_session._session.set_config_variable("region", region)
    name = region or session.region_name
    if not name:
        raise AwsConfigError(f"No AWS region is configured. {HOW_TO_CONFIGURE}")
    check_region(name)
    try:
        credentials = session.get_credentials()
    except botocore.exceptions.BotoCoreError as exc:
        raise AwsConfigError(f"AWS credentials could not be loaded: {exc}. {HOW_TO_CONFIGURE}") from None
    if credentials is None:
        raise AwsConfigError(f"No AWS credentials found. {HOW_TO_CONFIGURE}")
    return session


def aws_error(exc: Exception) -> AwsConfigError | None:
    """The :class:`AwsConfigError` for a botocore credentials/region/auth failure, else ``None``."""
    if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return AwsConfigError(f"No usable AWS credentials ({exc}). {HOW_TO_CONFIGURE}")
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return AwsConfigError(f"No AWS region is configured. {HOW_TO_CONFIGURE}")
    if isinstance(exc, botocore.exceptions.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _AUTH_CODES:
            return AwsConfigError(f"AWS rejected the credentials or denied access ({code}: {exc}). {HOW_TO_CONFIGURE}")
    return None


class AthenaEngine(Engine):
    """A Security Lake queried through Amazon Athena in one region.

    ``region`` is the lake's (rollup) region: its Glue database is
    ``amazon_security_lake_glue_db_<region>`` unless ``database`` names another (e.g. a
    resource link in a subscriber account).  ``workgroup`` and ``s3_output`` choose where
    Athena runs and writes results (``s3_output`` may be omitted when the workgroup sets a
    location or uses managed results).  See the module docstring for how results come back.

    After every query ``df.attrs`` holds ``engine`` (``"athena"``), ``lake``, ``sql``,
    ``translated_sql`` (``None``: Athena runs the SQL as is), ``params`` (the execution
    parameters as sent), ``query_execution_id``, ``data_scanned_bytes``,
    ``engine_execution_ms``, ``elapsed_s``, ``workgroup`` and ``database``.
    """

    #: The lake's home region: always known here (taken from the boto3 session when not given).
    region: str
    #: Seconds between ``GetQueryExecution`` polls while a query runs.
    poll_seconds: float = 0.5
    #: Days before the lake clock that :meth:`sources` aggregates over (``None``: whole tables).
    sources_days: int | None = 7

    def __init__(
        self,
        region: str | None = None,
        workgroup: str = "primary",
        database: str | None = None,
        s3_output: str | None = None,
        boto3_session: boto3.Session | None = None,
        now: TimeLike | None = None,
    ) -> None:
        self.session = aws_session(region, boto3_session)
        self.region = check_region(self.session.region_name)
        self.workgroup = workgroup
        self.database = database or default_database(self.region)
        self.s3_output = s3_output
        self._last: dict[str, Any] = {}
        super().__init__(f"athena://{workgroup}/{self.database}", now=now)

    def __repr__(self) -> str:
        return f"AthenaLake(region={self.region!r}, workgroup={self.workgroup!r}, database={self.database!r})"

    # -- catalog -----------------------------------------------------------------------------------
    def table_names(self) -> list[str]:
        """Names of every table in the lake's Glue database (Glue ``GetTables``; no Athena cost)."""
        try:
            return sorted(t["Name"] for t in wr.catalog.get_tables(database=self.database, boto3_session=self.session))
        except Exception as exc:  # botocore errors and awswrangler's wrappers alike
            raise aws_error(exc) or QueryError(
                f"Cannot list the tables of Glue database {self.database!r} in {self.region}: {exc}"
            ) from None

    def present_sources(self) -> list[Source]:
        """Sources whose v2 table for this region exists in the database, in catalog order (Glue only)."""
        names = set(self.table_names())
        return [s for s in SOURCES.values() if s.table(self.region) in names]

    def sources(self) -> pd.DataFrame:
        """One row per source whose table exists: ``source, table, classes, accounts, regions,
        first_event, last_event, rows``.

        Cost: Glue ``GetTables`` (free) finds the tables; then one Athena query (a
        ``UNION ALL`` of one aggregate per table) reads only ``accountid``, ``region`` and
        ``time_dt`` of the last :attr:`sources_days` days before the lake clock (so the
        figures describe that span, recorded in ``df.attrs["window"]``).  Set
        ``sources_days = None`` to aggregate whole tables, which scans those three columns
        of the entire history.
        """
        present = self.present_sources()
        rows = pd.DataFrame(
            {"source": [s.name for s in present], "table": [s.table(self.region) for s in present],
             "classes": [list(s.classes) for s in present]}
        )
        if not present:
            return rows.assign(accounts=[], regions=[], first_event=pd.NaT, last_event=pd.NaT, rows=0)
        params: list[str] = []
        where = ""
        window = None
        if self.sources_days is not None:
            end = self.clock()
            window = Window.of(end - pd.Timedelta(days=self.sources_days), end)
            where = " WHERE time_dt >= from_iso8601_timestamp(?) AND time_dt < from_iso8601_timestamp(?)"
        parts = []
        for s in present:
            table = f"{quote_identifier(self.database)}.{quote_identifier(s.table(self.region))}"
            params.append(parameter(s.name))
            parts.append(
                "SELECT ? AS source,"
                " array_join(array_sort(array_agg(DISTINCT accountid)), ',') AS accounts,"
                " array_join(array_sort(array_agg(DISTINCT region)), ',') AS regions,"
                f" min(time_dt) AS first_event, max(time_dt) AS last_event, count(*) AS rows FROM {table}{where}"
            )
            if window is not None:
                params += [literal(timestamp_text(window.start)), literal(timestamp_text(window.end))]
        stats = self._query_frame("\nUNION ALL\n".join(parts), params)
        merged = rows.merge(stats.astype({"source": object}), on="source", how="left")
        for col in ("accounts", "regions"):
            merged[col] = [sorted(v.split(",")) if isinstance(v, str) and v else [] for v in merged[col]]
        merged["rows"] = merged["rows"].fillna(0).astype("int64")
        merged.attrs.update(self._last, window=None if window is None else str(window))
        return merged

    # -- queries -----------------------------------------------------------------------------------
    def sql(
        self,
        text: str,
        params: Sequence[Any] | None = None,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        accounts: Iterable[str] | str | None = None,
        regions: Iterable[str] | str | None = None,
    ) -> pd.DataFrame:
        """Run Athena SQL as written (unqualified tables resolve in the lake's database).

        The scope arguments (``start``, ``end``, ``accounts``, ``regions``) are accepted for
        symmetry with the file-reading engines and ignored: on Athena the query's own
        ``time_dt``/``accountid``/``region`` predicates prune partitions.

        ``params`` fill the ``?`` placeholders in order, as Athena execution parameters
        (see :func:`~slake_forensics.sql.build.parameter` for the accepted types).  Returns an
        Arrow-backed DataFrame typed from Athena's result metadata (timestamps tz-aware
        UTC); provenance in ``df.attrs``.  Raises :class:`QueryError` when Athena fails.
        """
        return self._query_frame(text, [parameter(v) for v in params or []])

    def _query_frame(self, sql: str, execution_params: list[str]) -> pd.DataFrame:
        """Run ``sql`` with already-quoted execution parameters; the result typed from Athena's metadata."""
        names, columns, types = self._execute(sql, execution_params)
        arrays = [_cast_athena(col, types.get(name, "varchar")) for name, col in zip(names, columns)]
        df = pa.Table.from_arrays(arrays, names=names).to_pandas(types_mapper=pd.ArrowDtype, ignore_metadata=True)
        df.attrs.update(self._last)
        return df

    def _load_sql(
        self,
        source: str | Source,
        start: TimeLike,
        end: TimeLike,
        accounts: Iterable[str] | str | None,
        regions: Iterable[str] | str | None,
        columns: Iterable[str] | str | None,
    ) -> tuple[Source, Window, list[str] | None, list[str] | None, list[str], list[str], str, list[str]]:
        """``(source, window, accounts, regions, wanted leaves, fetched leaves, sql, params)`` of a load."""
        src = source if isinstance(source, Source) else find_source(source)
        window = Window.of(start, end)
        accts, regs = id_list(accounts, "accounts"), id_list(regions, "regions")
        wanted = resolve_columns(src, columns)
        fetch = wanted if "time_dt" in wanted else [*wanted, "time_dt"]
        sql, params = load_query(
            src,
            region=self.region,
            window=window,
            accounts=accts,
            regions=regs,
            columns=fetch,
            database=self.database,
        )
        return src, window, accts, regs, wanted, fetch, sql, params

    def load(
        self,
        source: str,
        start: TimeLike,
        end: TimeLike,
        accounts: Iterable[str] | str | None = None,
        regions: Iterable[str] | str | None = None,
        columns: Iterable[str] | str | None = None,
    ) -> pd.DataFrame:
        """Load one source's events in ``[start, end)`` through Athena (query from :func:`load_query`).

        Returns the local engine's shape: dotted leaf columns in its order with
        :class:`pandas.ArrowDtype` of the schema's types (lists and maps as Arrow
        lists/maps), ``time_dt`` tz-aware UTC, rows sorted by ``time_dt`` (stable); ``df.attrs``
        holds source, window, accounts, regions, columns, files (``[]``: Athena reads
        them), lake and the query provenance (sql, params, query id, bytes scanned, engine time).
        """
        src, window, accts, regs, wanted, fetch, sql, params = self._load_sql(
            source, start, end, accounts, regions, columns
        )
        names, raw, _ = self._execute(sql, params)
        by_name = dict(zip(names, raw))
        types = dict(leaves(src))
        table = pa.Table.from_arrays([_cast_leaf(by_name[p], types[p]) for p in fetch], names=fetch)
        if table.num_rows:  # the local engine's order: stable by time_dt
            table = table.take(pc.sort_indices(table["time_dt"], sort_keys=[("time_dt", "ascending")]))
        df = table.select(wanted).to_pandas(types_mapper=pd.ArrowDtype, ignore_metadata=True)
        df.attrs.update(
            self._last,
            source=src.name,
            window=(window.start, window.end),
            accounts=accts,
            regions=regs,
            columns=None if columns is None else ([columns] if isinstance(columns, str) else list(columns)),
            files=[],
        )
        return df

    def explain(self, what: str, *args: Any, **kwargs: Any) -> Explanation:
        """What Athena would be sent, without running anything.

        ``explain(source, start, end, accounts=None, regions=None, columns=None)`` for a load,
        ``explain(sql_text, params=None)`` for a query.  Returns an
        :class:`~slake_forensics.lake.Explanation` with the SQL and the execution parameters
        exactly as they would be sent, and no files (Athena opens them itself).
        """
        if args or "start" in kwargs:
            return self._explain_load(what, *args, **kwargs)
        params = [parameter(v) for v in kwargs.get("params") or []]
        return Explanation(sql=what, params=params, engine="athena")

    def _explain_load(
        self,
        source: str,
        start: TimeLike,
        end: TimeLike,
        accounts: Iterable[str] | str | None = None,
        regions: Iterable[str] | str | None = None,
        columns: Iterable[str] | str | None = None,
    ) -> Explanation:
        *_, sql, params = self._load_sql(source, start, end, accounts, regions, columns)
        return Explanation(sql=sql, params=params, engine="athena")

    # -- execution ---------------------------------------------------------------------------------
    def _execute(self, sql: str, params: list[str]) -> tuple[list[str], list[pa.Array], dict[str, str]]:
        """Run ``sql`` and return ``(column names, string columns, {name: athena type})``.

        Sets ``self._last`` to the provenance of the run.
        """
        started = time.monotonic()
        try:
            query_id = wr.athena.start_query_execution(
                sql=sql,
                database=self.database,
                s3_output=self.s3_output,
                workgroup=self.workgroup,
                params=params or None,
                paramstyle="qmark",
                athena_cache_settings={"max_cache_seconds": 0},
                boto3_session=self.session,
            )
        except Exception as exc:
            raise aws_error(exc) or QueryError(f"Athena did not accept the query: {exc}") from None
        try:
            info = wr.athena.wait_query(
                query_execution_id=query_id, boto3_session=self.session, athena_query_wait_polling_delay=self.poll_seconds
            )
        except (wr.exceptions.QueryFailed, wr.exceptions.QueryCancelled):
            info = wr.athena.get_query_execution(query_execution_id=query_id, boto3_session=self.session)
            raise QueryError(self._failure_message(query_id, info)) from None
        except Exception as exc:
            raise aws_error(exc) or QueryError(f"Waiting for Athena query {query_id} failed: {exc}") from None
        stats = info.get("Statistics", {})
        self._last = {
            "engine": "athena",
            "lake": self.location,
            "sql": sql,
            "translated_sql": None,
            "params": list(params),
            "query_execution_id": query_id,
            "data_scanned_bytes": int(stats.get("DataScannedInBytes", 0)),
            "engine_execution_ms": int(stats.get("EngineExecutionTimeInMillis", 0)),
            "elapsed_s": time.monotonic() - started,
            "workgroup": self.workgroup,
            "database": self.database,
        }
        _log.info("Athena query %s succeeded: %d bytes scanned", query_id, self._last["data_scanned_bytes"])
        try:
            types = wr.athena.get_query_columns_types(query_execution_id=query_id, boto3_session=self.session)
            output = info.get("ResultConfiguration", {}).get("OutputLocation")
            if output:
                names, columns = self._read_csv(output, types)
            else:
                names, columns = self._read_api(query_id)
        except Exception as exc:
            raise aws_error(exc) or QueryError(f"Reading the result of Athena query {query_id} failed: {exc}") from None
        return names, columns, types

    def _read_csv(self, output: str, types: dict[str, str]) -> tuple[list[str], list[pa.Array]]:
        buffer = io.BytesIO()
        wr.s3.download(path=output, local_file=buffer, boto3_session=self.session)
        if not buffer.getvalue():
            return list(types), [pa.array([], pa.string()) for _ in types]
        header = next(csv.reader(io.StringIO(buffer.getvalue().split(b"\n", 1)[0].decode("utf-8"))))
        renamed = [f"c{i}" for i in range(len(header))]  # Athena allows duplicate output names
        buffer.seek(0)
        table = pa_csv.read_csv(
            buffer,
            read_options=pa_csv.ReadOptions(column_names=renamed, skip_rows=1),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={n: pa.string() for n in renamed},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
        return header, [table[n].combine_chunks() for n in renamed]

    def _read_api(self, query_id: str) -> tuple[list[str], list[pa.Array]]:
        client = self.session.client("athena")
        names: list[str] = []
        rows: list[list[str | None]] = []
        first = True
        for page in client.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
            result = page["ResultSet"]
            if not names:
                names = [c["Name"] for c in result["ResultSetMetadata"]["ColumnInfo"]]
            page_rows = result.get("Rows", [])
            if first:
                page_rows, first = page_rows[1:], False  # header row
            rows.extend([cell.get("VarCharValue") for cell in row["Data"]] for row in page_rows)
        return names, [pa.array([row[i] for row in rows], pa.string()) for i in range(len(names))]

    def _failure_message(self, query_id: str, info: dict[str, Any]) -> str:
        status = info.get("Status", {})
        reason = status.get("StateChangeReason") or status.get("AthenaError", {}).get("ErrorMessage") or "no reason given"
        message = f"Athena query {query_id} {status.get('State', 'FAILED').lower()}: {reason}"
        if _NOT_FOUND.search(reason):
            try:
                tables = [t for t in self.table_names() if table_regex().fullmatch(t)] or self.table_names()
                message += f" Tables in {self.database}: {', '.join(tables) or '(none)'}."
            except (QueryError, AwsConfigError):
                message += f" (Could not list the tables of {self.database}.)"
            message += " Nested fields are addressed with dots, e.g. actor.user.uid."
        return message


def _cast_leaf(column: pa.Array, typ: pa.DataType) -> pa.Array:
    """A string result column as the schema leaf type ``typ`` (lists/maps decoded from JSON)."""
    if pa.types.is_list(typ) or pa.types.is_map(typ):
        return decode_json_column(column.to_pylist(), typ)
    if pa.types.is_timestamp(typ):
        return _timestamps(column)
    return column.cast(typ)


def _cast_athena(column: pa.Array, athena_type: str) -> pa.Array:
    """A string result column as the Arrow type for Athena's ``athena_type``; unknown types stay strings."""
    t = athena_type.lower()
    if t in _ARROW_TYPES:
        return column.cast(_ARROW_TYPES[t])
    if t.startswith("timestamp"):
        return _timestamps(column)
    if t.startswith("decimal"):
        m = re.match(r"decimal\((\d+),\s*(\d+)\)", t)
        return column.cast(pa.decimal128(int(m[1]), int(m[2]))) if m else column
    return column


def _timestamps(column: pa.Array) -> pa.Array:
    """Athena's ``YYYY-MM-DD HH:MM:SS.fff[ UTC]`` texts as ``timestamp[ms, UTC]``."""
    text = pc.replace_substring_regex(column, r"(?: UTC|Z)$", "")
    try:
        return text.cast(pa.timestamp("ms")).cast(pa.timestamp("ms", tz="UTC"))
    except pa.ArrowInvalid:  # another zone or offset: let pandas read it
        values = pd.to_datetime(pd.Series(column.to_pylist(), dtype=object), utc=True, format="mixed")
        return pa.array(values, pa.timestamp("ms", tz="UTC"))
