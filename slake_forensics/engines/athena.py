"""The Athena engine: queries the Security Lake Glue tables through awswrangler.

Result retrieval
----------------
Queries run with awswrangler's plain (non-CTAS, non-UNLOAD) path:
``wr.athena.start_query_execution`` → ``GetQueryExecution`` polls → the result Athena
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

Which tables
------------
The lake's Glue database (Security Lake's own, or a subscriber's database of Lake Formation
resource links named whatever the analyst chose) is listed once with Glue ``GetTables``.
A table stands for a source by its ``TargetTable`` when it is a resource link (the target's
name, ``amazon_security_lake_table_<region>_<source>_<version>``, tells the source), else by
its own name; that covers source version 2 and 1 tables and custom sources
(``…_ext_<name>_<version>``).  A table named for another region is another lake's and is
skipped unless a resource link points at it.  ``tables={source: table}`` (or
``SLAKE_TABLES`` / ``[tables]`` in ``slake.toml``) overrides the choice.  Every query the
toolkit builds (``load``, ``table_name()`` and so pivots and hunts) reads the resolved
table, and ``sql()`` rewrites Security Lake's standard table names of any region to it, so
SQL written for Security Lake runs unchanged through a resource link.

When a source also has a version-1 table, ``load`` and every ``sql()`` given a window (pivots,
hunts) read its version-2 table as a ``UNION ALL`` with the v1 rows in v2 names
(:func:`v1_projection`, from :data:`~slake_forensics.core.versions.V1_TO_V2`), pruned to the
window's ``eventday`` partitions; hunts also read the custom-source tables of their class
(:meth:`AthenaEngine.class_relation`).  ``docs/source_versions.md`` shows the SQL.

Bounds
------
Every AWS client of the lake's session (awswrangler's and the toolkit's own) gets botocore
connect and read timeouts and ``standard`` retries of a bounded number of attempts
(:class:`~slake_forensics.core.config.Limits`), so a silent or unreachable endpoint fails
within about 30 s with :class:`~slake_forensics.core.errors.AwsEndpointError` naming it.  A
query that runs past its ``timeout`` or is interrupted (Ctrl-C, a notebook's interrupt) is
stopped with ``StopQueryExecution``; the error names its query execution id.

Concurrency
-----------
:meth:`AthenaEngine.sql_concurrently` (what a pivot uses: one query per source) runs up to
:attr:`AthenaEngine.max_concurrent_queries` queries at once in a thread pool.  A boto3 session is
not thread-safe, its clients are: one thread at a time starts a query through awswrangler and
makes that query's clients (a lock), and everything else (polls, results, stops) goes through
those clients.  Provenance (query id, bytes scanned, SQL, parameters) is per call, carried by
the frame that call returned, never by the lake.  A Ctrl-C, a timeout or a failure of one query
stops every query of the batch still running (``StopQueryExecution`` each) and starts none of
those still waiting.

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
import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import awswrangler as wr
import boto3
import botocore.config
import botocore.exceptions
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import TokenType

from slake_forensics.core.catalog import (
    SOURCE_VERSION,
    SOURCES,
    V1_SOURCES,
    Source,
    database as default_database,
    hive_to_arrow,
    source as find_source,
)
from slake_forensics.core.config import RAISE_LIMIT, Limits, check_tables, query_limits, read_limits, source_key
from slake_forensics.core.errors import (
    AwsConfigError,
    AwsEndpointError,
    BadConfigError,
    QueryError,
    QueryInterrupted,
    QueryTimeout,
    TooManyRowsError,
    UnknownSourceError,
)
from slake_forensics.core.scope import id_list
from slake_forensics.core.versions import Reclass, origin_tree, reclass_steps, v2_origins
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
_TABLE_NAME_RE = re.compile(
    r"amazon_security_lake_table_(?P<region>[a-z]{2}(?:_[a-z]+)+_\d)_(?:"
    rf"(?P<source>{'|'.join(SOURCES)})_(?P<major>\d+)_(?P<minor>\d+)"
    r"|ext_(?P<ext>[a-z0-9_-]+?)(?:_(?P<ext_major>\d+)_(?P<ext_minor>\d+))?)"
)
_SECURITY_LAKE_DB_RE = re.compile(r"amazon_security_lake_glue_db_[a-z]{2}(?:_[a-z]+)+_\d")

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


@dataclass(frozen=True)
class LakeTable:
    """One table of the lake's Glue database that holds a Security Lake source.

    Attributes
    ----------
    source
        The source's key: a catalog short name (``cloud_trail_mgmt``) or ``ext/<name>`` for
        a custom source.
    version
        The source version its name carries (``"2.0"``, ``"1.0"``); ``None`` for a custom
        source table named without one.
    name
        The table's name in the database: what SQL reads (a resource link's own name).
    target
        The Security Lake table it stands for: a resource link's ``TargetTable`` name, else
        ``name``.
    region
        The region in ``target`` (a rollup region's table holds several regions' rows).
    """

    source: str
    version: str | None
    name: str
    target: str
    region: str

    @property
    def is_link(self) -> bool:
        """Whether the table is a resource link to another table."""
        return self.name != self.target

    @property
    def label(self) -> str:
        """The name, with the link target for a resource link (``ir_ct (→ amazon_security_lake_table_…)``)."""
        return f"{self.name} (→ {self.target})" if self.is_link else self.name

    @property
    def held(self) -> str:
        """Source and version, e.g. ``cloud_trail_mgmt 2.0`` (``ext/<name>`` alone without a version)."""
        return f"{self.source} {self.version}" if self.version else self.source


def parse_table_name(name: str) -> tuple[str, str | None, str] | None:
    """``(source, version, region)`` a Security Lake Glue table name stands for, else ``None``.

    Parameters
    ----------
    name
        A table name such as ``amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0``
        (any region, version 1 or 2) or ``amazon_security_lake_table_us_east_1_ext_sysmon_1_0``
        (a custom source).

    Returns
    -------
    tuple or None
        The source key (:func:`~slake_forensics.core.config.source_key`), the version
        (``"2.0"``; ``None`` for a custom source table without one) and the region
        (``us-east-1``); ``None`` for any other name.

    Examples
    --------
    >>> parse_table_name("amazon_security_lake_table_eu_west_1_vpc_flow_1_0")
    ('vpc_flow', '1.0', 'eu-west-1')
    >>> parse_table_name("amazon_security_lake_table_us_east_1_ext_win_sysmon_2_0")
    ('ext/win_sysmon', '2.0', 'us-east-1')
    """
    m = _TABLE_NAME_RE.fullmatch(name.lower())
    if m is None:
        return None
    region = m["region"].replace("_", "-")
    if m["source"]:
        return m["source"], f"{m['major']}.{m['minor']}", region
    version = f"{m['ext_major']}.{m['ext_minor']}" if m["ext_major"] else None
    return f"ext/{m['ext']}", version, region


@dataclass(frozen=True)
class _Catalog:
    """What one Glue listing of the database found."""

    names: frozenset[str]  # every table of the database
    tables: tuple[LakeTable, ...]  # those that hold a Security Lake source, in :func:`_order`
    listed: bool  # False when Glue could not be listed (standard names are assumed then)


def botocore_config(limits: Limits | None = None) -> botocore.config.Config:
    """The botocore ``Config`` every client of the toolkit gets: connect and read timeouts, bounded retries.

    Parameters
    ----------
    limits
        The bounds to apply (default: :func:`~slake_forensics.core.config.read_limits`).

    Returns
    -------
    botocore.config.Config
        ``connect_timeout``, ``read_timeout`` and ``retries`` (``standard`` mode, ``max_attempts``).

    Examples
    --------
    >>> config = botocore_config(Limits(aws_connect_timeout=2, aws_read_timeout=4, aws_max_attempts=2))
    >>> config.connect_timeout, config.read_timeout, config.retries
    (2, 4, {'mode': 'standard', 'total_max_attempts': 2})
    """
    limits = read_limits() if limits is None else limits
    return botocore.config.Config(
        connect_timeout=limits.aws_connect_timeout,
        read_timeout=limits.aws_read_timeout,
        retries={"mode": "standard", "total_max_attempts": limits.aws_max_attempts},  # first call included
    )


class BoundedSession(boto3.Session):
    """A boto3 session whose every client gets :func:`botocore_config` (and ``endpoint_url`` when given).

    It shares the wrapped session's botocore session (credentials, profile, region), so clients
    that awswrangler creates from it are bounded too.  A ``config`` passed to :meth:`client`
    keeps its other options; the timeouts and retries are the toolkit's.

    Parameters
    ----------
    base
        The session to wrap.
    endpoint_url
        An endpoint for every service (a proxy, a VPC endpoint, a test server); ``None``: AWS's.
    limits
        The bounds (default: read from the configuration when the session is made).

    Examples
    --------
    >>> base = boto3.Session(aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="x", region_name="us-east-1")
    >>> session = BoundedSession(base, limits=Limits(aws_read_timeout=7))
    >>> session.client("athena").meta.config.read_timeout, session.region_name
    (7, 'us-east-1')
    """

    def __init__(self, base: boto3.Session, endpoint_url: str | None = None, limits: Limits | None = None) -> None:
        # the wrapped session's state as it is: boto3.Session.__init__ on its botocore session would
        # register boto3's handlers a second time (and fail injecting upload_file)
        self.__dict__.update(base.__dict__)
        self.endpoint_url = endpoint_url
        self.limits = read_limits() if limits is None else limits
        self.config = botocore_config(self.limits)

    def client(self, *args: Any, **kwargs: Any) -> Any:
        given = kwargs.get("config")
        kwargs["config"] = given.merge(self.config) if given is not None else self.config
        if kwargs.get("endpoint_url") is None and self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        return super().client(*args, **kwargs)


def bounded(session: boto3.Session, endpoint_url: str | None = None) -> BoundedSession:
    """``session`` as a :class:`BoundedSession` (itself when it already is one and no other endpoint is asked).

    Examples
    --------
    >>> s = bounded(boto3.Session(region_name="us-east-1"), "http://127.0.0.1:5000")
    >>> bounded(s) is s, s.endpoint_url
    (True, 'http://127.0.0.1:5000')
    """
    if isinstance(session, BoundedSession) and (endpoint_url is None or endpoint_url == session.endpoint_url):
        return session
    return BoundedSession(session, endpoint_url)


def aws_session(
    region: str | None, boto3_session: boto3.Session | None, endpoint_url: str | None = None
) -> BoundedSession:
    """Return a boto3 session with a region and credentials, or raise :class:`AwsConfigError`.

    ``region`` wins; without it the session's region, then boto3's lookup (``AWS_REGION``,
    ``AWS_DEFAULT_REGION``, the profile) decides.  A given ``boto3_session`` without a region
    gets ``region`` set on it; one set to a different region is an error (its clients would
    talk to the wrong region).  Credentials are only resolved, not verified against AWS
    (no network call).  The session is a :class:`BoundedSession`: its clients have the
    configured timeouts and retries, and talk to ``endpoint_url`` when given (``http(s)://…``).
    """
    if endpoint_url is not None and not re.match(r"^https?://[^/\s]+", endpoint_url):
        raise BadConfigError(f"endpoint_url={endpoint_url!r} is not a URL; pass e.g. https://vpce-….athena.us-east-1.vpce.amazonaws.com.")
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
    return bounded(session, endpoint_url)


def aws_error(exc: Exception) -> AwsConfigError | AwsEndpointError | None:
    """The :class:`AwsConfigError` for a botocore credentials/region/auth failure, the
    :class:`AwsEndpointError` for an endpoint that cannot be reached or does not answer, else ``None``."""
    if isinstance(exc, botocore.exceptions.ConnectionError | botocore.exceptions.HTTPClientError):
        endpoint = getattr(exc, "kwargs", {}).get("endpoint_url") or "the AWS endpoint"
        limits = read_limits()
        return AwsEndpointError(
            f"No answer from {endpoint} ({exc}); gave up after {limits.aws_max_attempts} attempt(s) of at most "
            f"{limits.aws_connect_timeout:g} s to connect and {limits.aws_read_timeout:g} s to read. Check the network "
            "(VPN, firewall, security groups of a VPC endpoint), the endpoint_url (or AWS_ENDPOINT_URL) and region "
            "of the lake, and a proxy (HTTPS_PROXY / NO_PROXY). The timeouts are SLAKE_AWS_CONNECT_TIMEOUT, "
            "SLAKE_AWS_READ_TIMEOUT and SLAKE_AWS_MAX_ATTEMPTS (docs/configuration.md)."
        )
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
    database of resource links in a subscriber account).  ``workgroup`` and ``s3_output``
    choose where Athena runs and writes results (``s3_output`` may be omitted when the
    workgroup sets a location or uses managed results).  ``tables`` maps sources
    (``cloud_trail_mgmt``, ``ext/<name>``) to the tables of ``database`` to read them from,
    overriding discovery (see the module docstring); it is checked against Glue on first
    use.  See the module docstring for how results come back.

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
    #: Queries :meth:`sql_concurrently` runs at once (Athena's default quota is 20-25 active DML queries).
    max_concurrent_queries: int = 8
    #: The per-day entity summary pivots narrow their queries with
    #: (:class:`~slake_forensics.analysis.entity_summary.EntitySummary`, set by ``build_entity_summary``
    #: or ``use_entity_summary``); ``None``: none.
    entity_summary: Any = None

    def __init__(
        self,
        region: str | None = None,
        workgroup: str = "primary",
        database: str | None = None,
        s3_output: str | None = None,
        boto3_session: boto3.Session | None = None,
        now: TimeLike | None = None,
        tables: Mapping[str, str] | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.tables = check_tables(tables or {}, "tables=")
        self.session = aws_session(region, boto3_session, endpoint_url)
        self.region = check_region(self.session.region_name)
        self.workgroup = workgroup
        self.database = database or default_database(self.region)
        self.s3_output = s3_output
        self._session_lock = threading.RLock()  # boto3 sessions are not thread-safe (their clients are)
        self._listing: _Catalog | None = None
        super().__init__(f"athena://{workgroup}/{self.database}", now=now)

    def __repr__(self) -> str:
        return f"AthenaLake(region={self.region!r}, workgroup={self.workgroup!r}, database={self.database!r})"

    # -- catalog -----------------------------------------------------------------------------------
    def _glue_tables(self) -> list[dict[str, Any]]:
        """Glue ``GetTables`` of the lake's database (a missing database lists as empty)."""
        try:
            with self._session_lock:
                return list(wr.catalog.get_tables(database=self.database, boto3_session=self.session))
        except Exception as exc:  # botocore errors and awswrangler's wrappers alike
            raise aws_error(exc) or QueryError(
                f"Cannot list the tables of Glue database {self.database!r} in {self.region}: {exc}"
            ) from None

    def table_names(self) -> list[str]:
        """Names of every table in the lake's Glue database (Glue ``GetTables``; no Athena cost)."""
        return sorted(t["Name"] for t in self._glue_tables())

    def _catalog(self, refresh: bool = False) -> _Catalog:
        """The database's Security Lake tables (listed once; again with ``refresh``), overrides checked.

        When Glue cannot be listed for another reason than credentials, the toolkit falls back to
        Security Lake's standard names (logged): the query then says what is missing.
        """
        if self._listing is not None and not refresh:
            return self._listing
        try:
            raw = self._glue_tables()
        except QueryError as exc:
            _log.warning("%s Using Security Lake's standard table names.", exc)
            self._listing = _Catalog(frozenset(), (), listed=False)
            return self._listing
        found = []
        for table in raw:
            target = (table.get("TargetTable") or {}).get("Name")
            parsed = (parse_table_name(target) if target else None) or parse_table_name(table["Name"])
            if parsed is None or (not target and parsed[2] != self.region):
                continue  # not a lake table, or another region's lake table that no link points at
            found.append(LakeTable(parsed[0], parsed[1], table["Name"], target or table["Name"], parsed[2]))
        listing = _Catalog(frozenset(t["Name"] for t in raw), tuple(sorted(found, key=self._order)), listed=True)
        self._check_override(listing)
        self._listing = listing
        return listing

    def _order(self, table: LakeTable) -> tuple[Any, ...]:
        """Catalog sources first in catalog order, newer versions first, then custom sources by name."""
        position = list(SOURCES).index(table.source) if table.source in SOURCES else len(SOURCES)
        version = tuple(-int(part) for part in (table.version or "0.0").split("."))
        return position, table.source, version, table.region != self.region, table.name

    def _check_override(self, listing: _Catalog) -> None:
        """Raise :class:`BadConfigError` for a ``tables`` entry naming no table, or another source's table."""
        by_name = {t.name: t for t in listing.tables}
        for key, name in self.tables.items():
            if name not in listing.names:
                shown = ", ".join(f"{t.name} ({t.held})" for t in listing.tables)
                raise BadConfigError(
                    f"tables={{{key!r}: {name!r}}}: Glue database {self.database!r} in {self.region} has no table "
                    f"{name!r}. Its Security Lake tables: {shown or '(none)'}; all tables: "
                    f"{', '.join(sorted(listing.names)) or '(none)'}. Pass tables={{{key!r}: '<one of those>'}} "
                    "(SLAKE_TABLES or [tables] in slake.toml), or database= naming the database that holds it."
                )
            other = by_name.get(name)
            if other is not None and other.source != key:
                raise BadConfigError(
                    f"tables={{{key!r}: {name!r}}}: {name!r} holds {other.source} (it stands for {other.target}), "
                    f"not {key}. Name {key}'s table instead."
                )

    def _lookup(self, source: str, version: str | None) -> str | None:
        """The table of ``database`` that holds ``source`` at ``version`` (``None``: any), or ``None``.

        The ``tables`` override wins for the version the toolkit reads (2.0; any version of a
        custom source).  Otherwise the one discovered table, preferring the lake's region among
        resource links; several left raise :class:`BadConfigError` naming them.
        """
        listing = self._catalog()
        custom = source.startswith("ext/")
        if source in self.tables and (custom or version == SOURCE_VERSION):
            return self.tables[source]
        found = [t for t in listing.tables if t.source == source and (version is None or t.version == version)]
        if len(found) > 1:
            found = [t for t in found if t.region == self.region] or found
        if len(found) > 1:
            raise BadConfigError(
                f"Glue database {self.database!r} holds several tables for {found[0].held}: "
                f"{', '.join(t.label for t in found)}. "
                f"Choose one with tables={{{source!r}: {found[0].name!r}}} (or SLAKE_TABLES / [tables] in slake.toml)."
            )
        return found[0].name if found else None

    def source_tables(self) -> dict[str, str]:
        """``{source: table}`` the toolkit's queries read: the v2 table of each catalog source and each
        custom source's table, from the ``tables`` override or discovered (Glue ``GetTables``, once).

        Raises :class:`BadConfigError` for an override naming no table of the database, or when
        several tables could hold one source (pass ``tables=`` to choose)."""
        keys = dict.fromkeys([*self.tables, *(t.source for t in self._catalog().tables)])
        resolved = {key: self._lookup(key, None if key.startswith("ext/") else SOURCE_VERSION) for key in keys}
        return {key: name for key, name in resolved.items() if name is not None}

    def _table(self, source: str | Source) -> str:
        """Name of the table in ``database`` that the toolkit's SQL reads for ``source`` (v2, or custom)."""
        key = source.name if isinstance(source, Source) else source_key(source)
        if key.startswith("ext/"):
            name = self._lookup(key, None)
            if name is None:
                custom = sorted({t.source for t in self._catalog().tables if t.source.startswith("ext/")})
                raise UnknownSourceError(
                    f"Glue database {self.database!r} has no table for the custom source {key}. Custom sources there: "
                    f"{', '.join(custom) or '(none)'}; or pass tables={{{key!r}: '<its table>'}}."
                )
            return name
        name = self._lookup(key, SOURCE_VERSION)
        if name is not None:
            return name
        older = [t for t in self._catalog().tables if t.source == key]
        if older:
            raise QueryError(
                f"Glue database {self.database!r} holds {key} only as source version "
                f"{', '.join(sorted({t.version or '?' for t in older}))} ({', '.join(t.name for t in older)}); the "
                f"toolkit's queries read source version {SOURCE_VERSION}. Query those tables with lake.sql(), or pass "
                f"tables={{{key!r}: '<its version {SOURCE_VERSION} table>'}}."
            )
        return find_source(key).table(self.region)

    def table_name(self, source: str) -> str:
        """Fully qualified, quoted table the toolkit reads for ``source`` in this lake's database.

        ``source`` is a catalog source name (any spelling) or ``ext/<name>``; the table is the
        ``tables`` override, else the discovered table (a resource link of any name), else
        Security Lake's standard name.  Raises :class:`QueryError` when the source has only
        older-version tables and :class:`BadConfigError` when several tables could hold it.
        """
        return f"{quote_identifier(self.database)}.{quote_identifier(self._table(source))}"

    def present_sources(self) -> list[LakeTable]:
        """The database's Security Lake tables (v2, v1 and custom sources), re-listed from Glue.

        Catalog sources come first in catalog order (newer versions first), then custom sources.
        Only Glue is asked (``GetTables``, free).
        """
        return list(self._catalog(refresh=True).tables)

    def sources(self) -> pd.DataFrame:
        """One row per Security Lake table of the database: ``source, version, table, classes,
        accounts, regions, first_event, last_event, rows``.

        ``source`` is the catalog name or ``ext/<name>``, ``version`` the source version the
        table's (or its link target's) name carries, ``table`` the name in the database (a
        resource link's own name); ``classes`` are the catalog's OCSF classes of version 2
        sources (empty for older versions and custom sources).

        Cost: Glue ``GetTables`` (free) finds the tables; then one Athena query (a
        ``UNION ALL`` of one aggregate per table) reads only ``accountid``, ``region`` and
        ``time_dt`` (``time`` and the ``eventday`` partition of version 1 and custom-source
        tables) of the last :attr:`sources_days` days before the lake clock (so the figures
        describe that span, recorded in ``df.attrs["window"]``).  Set ``sources_days = None``
        to aggregate whole tables, which scans those columns of the entire history.
        """
        present = self.present_sources()
        keys = [t.source if t.version == SOURCE_VERSION and t.source in SOURCES else f"{t.source} {t.name}"
                for t in present]
        rows = pd.DataFrame(
            {"source": [t.source for t in present], "version": [t.version for t in present],
             "table": [t.name for t in present],
             "classes": [list(SOURCES[t.source].classes) if k == t.source else [] for k, t in zip(keys, present)],
             "key": keys}
        )
        if not present:
            return rows.drop(columns="key").assign(
                accounts=[], regions=[], first_event=pd.NaT, last_event=pd.NaT, rows=0
            )
        params: list[str] = []
        window = None
        if self.sources_days is not None:
            end = self.clock()
            window = Window.of(end - pd.Timedelta(days=self.sources_days), end)
        parts = []
        for key, t in zip(keys, present):
            table = f"{quote_identifier(self.database)}.{quote_identifier(t.name)}"
            params.append(parameter(key))
            first, last, where, bounds = _time_aggregates(key == t.source, window)
            parts.append(
                "SELECT ? AS source,"
                " array_join(array_sort(array_agg(DISTINCT accountid)), ',') AS accounts,"
                " array_join(array_sort(array_agg(DISTINCT region)), ',') AS regions,"
                f" {first} AS first_event, {last} AS last_event, count(*) AS rows FROM {table}{where}"
            )
            params += bounds
        stats = self._query_frame("\nUNION ALL\n".join(parts), params)
        provenance = dict(stats.attrs)
        merged = rows.merge(stats.astype({"source": object}).rename(columns={"source": "key"}), on="key", how="left")
        merged = merged.drop(columns="key")
        for col in ("accounts", "regions"):
            merged[col] = [sorted(v.split(",")) if isinstance(v, str) and v else [] for v in merged[col]]
        merged["rows"] = merged["rows"].fillna(0).astype("int64")
        merged.attrs.update(provenance, window=None if window is None else str(window))
        return merged

    def _rewrite(self, text: str) -> str:
        """``text`` with Security Lake's standard table names replaced by the tables that hold them here.

        A ``amazon_security_lake_table_<region>_<source>_<version>`` reference (any region,
        quoting or catalog; unqualified or qualified by a Security Lake database or this lake's
        database) that is not itself a table of the database becomes
        ``"<database>"."<table>"`` of the same source and version, aliased to the written name
        when it had no alias so qualified columns still resolve.  Anything else, string
        literals and ``?`` placeholders included, is left exactly as written.
        """
        if "amazon_security_lake_table_" not in text.lower():
            return text
        try:
            trees = [t for t in sqlglot.parse(text, read="trino") if t is not None]
        except sqlglot.errors.SqlglotError:
            return text  # Athena will say what is wrong with it
        edits: list[tuple[int, int, str]] = []
        for tree in trees:
            ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
            for ref in tree.find_all(exp.Table):
                edit = self._rewrite_table(ref, ctes)
                if edit is not None:
                    edits.append(edit)
        for start, end, replacement in sorted(edits, reverse=True):
            text = text[:start] + replacement + text[end + 1 :]
        return text

    def _rewrite_table(self, ref: exp.Table, ctes: set[str]) -> tuple[int, int, str] | None:
        """``(start, end, replacement)`` for one table reference, or ``None`` to leave it."""
        if not isinstance(ref.this, exp.Identifier) or "start" not in ref.this.meta:
            return None
        written, db = ref.name.lower(), ref.args.get("db")
        dbname = db.name.lower() if isinstance(db, exp.Identifier) else None
        if dbname is None and written in ctes:
            return None
        parsed = parse_table_name(written)
        ours = dbname is None or dbname == self.database.lower()
        if parsed is None or not (ours or _SECURITY_LAKE_DB_RE.fullmatch(dbname or "")):
            return None
        if ours and written in {n.lower() for n in self._catalog().names}:
            return None  # the table exists under the name written
        name = self._lookup(parsed[0], parsed[1])
        if name is None:
            return None
        first = db if isinstance(db, exp.Identifier) and "start" in db.meta else ref.this
        replacement = f"{quote_identifier(self.database)}.{quote_identifier(name)}"
        if not ref.alias:
            replacement += f" AS {quote_identifier(ref.name)}"
        return first.meta["start"], ref.this.meta["end"], replacement

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
        timeout: float | None = None,
        max_rows: int | None = None,
    ) -> pd.DataFrame:
        """Run Athena SQL as written (unqualified tables resolve in the lake's database).

        ``timeout`` (seconds) and ``max_rows`` default to the ``query_timeout`` and ``max_rows``
        settings (:func:`~slake_forensics.core.config.read_limits`).  A query still running at its
        timeout, or interrupted (Ctrl-C), is stopped with ``StopQueryExecution`` and raises
        :class:`QueryTimeout` / :class:`QueryInterrupted` naming its query execution id; a result of
        more than ``max_rows`` rows raises :class:`TooManyRowsError` (never truncated).

        The scope arguments (``start``, ``end``, ``accounts``, ``regions``) are accepted for
        symmetry with the file-reading engines: on Athena the query's own
        ``time_dt``/``accountid``/``region`` predicates prune partitions.  With ``start`` and
        ``end`` (as pivots and hunts pass them), a version-2 table whose source also has a
        version-1 table in the database is read as a ``UNION ALL`` of both, v1 rows in v2 names
        and pruned to the window's ``eventday`` partitions (``df.attrs["tables_read"]``
        names the tables and versions read); without them the SQL reads what it names.

        ``params`` fill the ``?`` placeholders in order, as Athena execution parameters
        (see :func:`~slake_forensics.sql.build.parameter` for the accepted types).  Security
        Lake's standard table names (any region) are rewritten to the tables that hold those
        sources in this lake's database (e.g. resource links); then ``df.attrs["sql"]`` is
        ``text`` and ``df.attrs["translated_sql"]`` what Athena ran.  Returns an
        Arrow-backed DataFrame typed from Athena's result metadata (timestamps tz-aware
        UTC); provenance in ``df.attrs``.  Raises :class:`QueryError` when Athena fails.
        """
        timeout, max_rows = query_limits(timeout, max_rows)
        window = Window.of(start, end) if start is not None and end is not None else None
        sent, values, read = self._with_older_versions(self._rewrite(text), [parameter(v) for v in params or []], window)
        df = self._query_frame(sent, values, timeout, max_rows, written=text)
        self._provenance(df, text, read)
        return df

    def sql_concurrently(
        self,
        queries: Mapping[str, tuple[str, Sequence[Any]]],
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        timeout: float | None = None,
        max_rows: int | None = None,
    ) -> dict[str, pd.DataFrame]:
        """Run several queries at once: ``{key: frame}``, each frame with its own provenance.

        Up to :attr:`max_concurrent_queries` run at a time (a thread pool).  Each query is run
        as :meth:`sql` runs it (table names rewritten, values bound as execution parameters,
        ``timeout`` and ``max_rows`` per query, defaults from the settings; with ``start`` and
        ``end``, version-1 tables beside version-2 ones are read too) and its frame's
        ``attrs`` carry its own ``query_execution_id``, ``data_scanned_bytes``, ``sql`` and
        ``params``.  When one query fails or times out, or the caller is interrupted (Ctrl-C),
        every query still running is stopped with ``StopQueryExecution``, none still waiting
        starts, and the error (naming the query ids) is raised.

        Parameters
        ----------
        queries
            ``{key: (sql, params)}``: Athena SQL with ``?`` placeholders and their values.
        start, end
            The window, as for :meth:`sql` (pivots and hunts pass it).
        timeout, max_rows
            As for :meth:`sql`, per query.

        Returns
        -------
        dict of str to pandas.DataFrame
            ``{key: frame}`` in the order of ``queries``; each frame as :meth:`sql` returns it.

        Examples
        --------
        >>> import boto3
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.athena("us-east-1", boto3_session=boto3.Session(aws_access_key_id="x", aws_secret_access_key="y"))
        >>> frames = lake.sql_concurrently({"ct": ("SELECT 1", []), "waf": ("SELECT 2", [])})  # doctest: +SKIP
        >>> {key: df.attrs["query_execution_id"] for key, df in frames.items()}  # doctest: +SKIP
        {'ct': '6f0e…', 'waf': '91ab…'}
        """
        timeout, max_rows = query_limits(timeout, max_rows)
        window = Window.of(start, end) if start is not None and end is not None else None
        prepared = {key: (*self._with_older_versions(self._rewrite(text), [parameter(v) for v in params or []], window), text)
                    for key, (text, params) in queries.items()}  # bad values refused before anything starts
        if not prepared:
            return {}
        cancel = threading.Event()
        pool = ThreadPoolExecutor(max_workers=max(1, min(self.max_concurrent_queries, len(prepared))),
                                  thread_name_prefix="slake-athena")
        futures: dict[Future[pd.DataFrame], str] = {
            pool.submit(self._query_frame, sent, values, timeout, max_rows, cancel, text): key
            for key, (sent, values, _, text) in prepared.items()
        }
        try:
            pending: set[Future[pd.DataFrame]] = set(futures)
            while pending:  # short waits: the main thread sees a Ctrl-C between them
                done, pending = wait(futures, timeout=0.2, return_when=FIRST_EXCEPTION)
                if any(f.exception() is not None for f in done):
                    break
            failed = [f for f in futures if f in done and f.exception() is not None]
            if failed:
                error = failed[0].exception()
                assert error is not None
                stopped = self._cancel(pool, futures, cancel, skip=failed[0])
                raise type(error)(f"{error}{stopped}") from None
        except KeyboardInterrupt:
            stopped = self._cancel(pool, futures, cancel)
            raise QueryInterrupted(f"The concurrent Athena queries were interrupted.{stopped}") from None
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        frames = {key: future.result() for future, key in futures.items()}
        for key, frame in frames.items():
            self._provenance(frame, prepared[key][3], prepared[key][2])
        return frames

    def _cancel(
        self, pool: ThreadPoolExecutor, futures: Mapping[Future[pd.DataFrame], str], cancel: threading.Event,
        skip: Future[pd.DataFrame] | None = None,
    ) -> str:
        """Stop every query of a batch (its workers stop their own), wait for them; what happened, for the message."""
        cancel.set()
        pool.shutdown(wait=False, cancel_futures=True)
        wait(futures)
        notes = [f"{key}: {f.exception()}" for f, key in futures.items()
                 if f is not skip and not f.cancelled() and f.exception() is not None]
        return (" Other queries of the batch: " + " ".join(notes)) if notes else ""

    def _query_frame(
        self,
        sql: str,
        execution_params: list[str],
        timeout: float | None = None,
        max_rows: int | None = None,
        cancel: threading.Event | None = None,
        written: str | None = None,
    ) -> pd.DataFrame:
        """Run ``sql`` with already-quoted execution parameters; the result typed from Athena's metadata.

        ``written``: the SQL as the caller wrote it, when ``sql`` is its rewrite (``attrs["sql"]``
        is then ``written`` and ``attrs["translated_sql"]`` what ran).
        """
        names, columns, types, provenance = self._execute(sql, execution_params, timeout, max_rows, cancel)
        arrays = [_cast_athena(col, types.get(name, "varchar")) for name, col in zip(names, columns)]
        df = pa.Table.from_arrays(arrays, names=names).to_pandas(types_mapper=pd.ArrowDtype, ignore_metadata=True)
        df.attrs.update(provenance)
        if written is not None and written != sql:
            df.attrs.update(sql=written, translated_sql=sql)
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
            table=self._table(src),
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
        sql, params, read = self._with_older_versions(sql, params, window)
        names, raw, _, provenance = self._execute(sql, params, read_limits().query_timeout)
        by_name = dict(zip(names, raw))
        types = dict(leaves(src))
        table = pa.Table.from_arrays([_cast_leaf(by_name[p], types[p]) for p in fetch], names=fetch)
        if table.num_rows:  # the local engine's order: stable by time_dt
            table = table.take(pc.sort_indices(table["time_dt"], sort_keys=[("time_dt", "ascending")]))
        df = table.select(wanted).to_pandas(types_mapper=pd.ArrowDtype, ignore_metadata=True)
        df.attrs.update(
            provenance,
            source=src.name,
            window=(window.start, window.end),
            accounts=accts,
            regions=regs,
            columns=None if columns is None else ([columns] if isinstance(columns, str) else list(columns)),
            files=[],
        )
        self._provenance(df, sql, read)
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
        return Explanation(sql=self._rewrite(what), params=params, engine="athena")

    def _explain_load(
        self,
        source: str,
        start: TimeLike,
        end: TimeLike,
        accounts: Iterable[str] | str | None = None,
        regions: Iterable[str] | str | None = None,
        columns: Iterable[str] | str | None = None,
    ) -> Explanation:
        _, window, *_, sql, params = self._load_sql(source, start, end, accounts, regions, columns)
        sql, params, _ = self._with_older_versions(sql, params, window)
        return Explanation(sql=sql, params=params, engine="athena")

    # -- execution ---------------------------------------------------------------------------------
    def _execute(
        self,
        sql: str,
        params: list[str],
        timeout: float | None = None,
        max_rows: int | None = None,
        cancel: threading.Event | None = None,
    ) -> tuple[list[str], list[pa.Array], dict[str, str], dict[str, Any]]:
        """Run ``sql``: ``(column names, string columns, {name: athena type}, provenance)``.

        ``timeout`` (seconds) and ``max_rows``: ``None`` for no limit.  ``cancel``: set by
        :meth:`sql_concurrently` to stop this query (or not start it).  The provenance (query id,
        bytes scanned, SQL, parameters …) is this run's: it is returned, never kept on the lake,
        so concurrent calls cannot mix them up.
        """
        started = time.monotonic()
        query_id, clients = self._start(sql, params, cancel)
        info = self._wait(query_id, started, timeout, clients, cancel)
        stats = info.get("Statistics", {})
        provenance = {
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
        _log.info("Athena query %s succeeded: %d bytes scanned", query_id, provenance["data_scanned_bytes"])
        try:
            types = _column_types(clients.athena, query_id)
            output = info.get("ResultConfiguration", {}).get("OutputLocation")
            if output:
                names, columns = self._read_csv(output, types, clients.s3)
            else:
                names, columns = self._read_api(query_id, clients.athena)
        except Exception as exc:
            raise aws_error(exc) or QueryError(f"Reading the result of Athena query {query_id} failed: {exc}") from None
        rows = len(columns[0]) if columns else 0
        if max_rows is not None and rows > max_rows:
            raise TooManyRowsError(
                f"Athena query {query_id} returned {rows} rows, more than max_rows={max_rows}. Add a LIMIT or an "
                f"aggregate, narrow the window, or raise the limit: sql(..., max_rows=…) or {RAISE_LIMIT['max_rows']}."
            )
        return names, columns, types, provenance

    def _start(self, sql: str, params: list[str], cancel: threading.Event | None = None) -> tuple[str, _Clients]:
        """``StartQueryExecution`` of ``sql``: its query id and the clients that follow it.

        The call runs on a worker thread while this one waits in short steps: a Ctrl-C that arrives
        while Athena is accepting the query lets the call finish (it is bounded by the client's
        timeouts), then stops the query it started and raises :class:`QueryInterrupted`, so no
        query is left running unseen.  The session is used under the lake's lock (the threads of
        :meth:`sql_concurrently` share it); a set ``cancel`` (its batch was interrupted) starts nothing.
        """
        outcome: dict[str, Any] = {}
        done = threading.Event()  # not Thread.join: on Python 3.11 a Ctrl-C inside join() marks the thread ended

        def start() -> None:
            try:
                with self._session_lock:
                    if cancel is not None and cancel.is_set():
                        outcome["error"] = QueryInterrupted("An Athena query was not started: its batch was interrupted.")
                        return
                    clients = _Clients(self.session.client("athena"), self.session.client("s3"))
                    outcome["id"] = wr.athena.start_query_execution(
                        sql=sql,
                        database=self.database,
                        s3_output=self.s3_output,
                        workgroup=self.workgroup,
                        params=params or None,
                        paramstyle="qmark",
                        athena_cache_settings={"max_cache_seconds": 0},
                        boto3_session=self.session,
                    )
                    outcome["clients"] = clients
            except Exception as exc:  # noqa: BLE001 - handed to the waiting thread, which raises it
                outcome["error"] = exc
            finally:
                done.set()

        threading.Thread(target=start, name=f"{threading.current_thread().name}-start", daemon=True).start()
        try:
            while not done.wait(0.05):
                pass
        except KeyboardInterrupt:
            done.wait()
            if "id" not in outcome:
                raise QueryInterrupted("The Athena query was interrupted before Athena accepted it; nothing runs.") from None
            stopped = self._stop(outcome["id"], outcome["clients"])
            raise QueryInterrupted(
                f"Athena query {outcome['id']} was interrupted while it was being started and {stopped}."
            ) from None
        if "error" in outcome:
            exc = outcome["error"]
            if isinstance(exc, QueryInterrupted):
                raise exc
            raise aws_error(exc) or QueryError(f"Athena did not accept the query: {exc}") from None
        return str(outcome["id"]), outcome["clients"]

    def _wait(
        self, query_id: str, started: float, timeout: float | None, clients: _Clients,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """Poll ``GetQueryExecution`` until the query ends; stop it (``StopQueryExecution``) on timeout, Ctrl-C or ``cancel``."""
        deadline = None if timeout is None else started + timeout
        try:
            while True:
                try:
                    info: dict[str, Any] = clients.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
                except Exception as exc:
                    raise aws_error(exc) or QueryError(f"Waiting for Athena query {query_id} failed: {exc}") from None
                state = info.get("Status", {}).get("State")
                if state == "SUCCEEDED":
                    return info
                if state in ("FAILED", "CANCELLED"):
                    raise QueryError(self._failure_message(query_id, info))
                if cancel is not None and cancel.is_set():
                    raise QueryInterrupted(f"Athena query {query_id} was interrupted and {self._stop(query_id, clients)}.")
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    stopped = self._stop(query_id, clients)
                    raise QueryTimeout(
                        f"Athena query {query_id} ran longer than its time limit of {timeout:g} s and {stopped}. "
                        f"Narrow the window or the query, or raise the limit: sql(..., timeout=<seconds>) or "
                        f"{RAISE_LIMIT['timeout']}."
                    )
                pause = self.poll_seconds if deadline is None else max(0.0, min(self.poll_seconds, deadline - now))
                if cancel is None:
                    time.sleep(pause)
                else:
                    cancel.wait(pause)
        except KeyboardInterrupt:
            stopped = self._stop(query_id, clients)
            raise QueryInterrupted(f"Athena query {query_id} was interrupted and {stopped}.") from None

    def _stop(self, query_id: str, clients: _Clients) -> str:
        """Send ``StopQueryExecution`` for ``query_id``; returns what happened, for the message."""
        try:
            clients.athena.stop_query_execution(QueryExecutionId=query_id)
        except Exception as exc:  # the stop is best effort: say why it failed
            return f"could not be stopped ({exc}); stop it in the Athena console or with `aws athena stop-query-execution`"
        return "was stopped (StopQueryExecution)"

    def _read_csv(self, output: str, types: dict[str, str], s3: Any) -> tuple[list[str], list[pa.Array]]:
        bucket, _, key = output.removeprefix("s3://").partition("/")
        buffer = io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
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

    def _read_api(self, query_id: str, client: Any) -> tuple[list[str], list[pa.Array]]:
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
                listing = self._catalog(refresh=True)
                shown = sorted(t.label for t in listing.tables) or sorted(listing.names)
                if listing.listed:
                    message += f" Tables in {self.database}: {', '.join(shown) or '(none)'}."
                else:
                    message += f" (Could not list the tables of {self.database}.)"
            except (BadConfigError, AwsConfigError):
                message += f" (Could not list the tables of {self.database}.)"
            message += " Nested fields are addressed with dots, e.g. actor.user.uid."
        return message

    # -- source version 1 and custom sources -------------------------------------------------------
    def _table_schema(self, table: LakeTable) -> pa.Schema | None:
        """The Glue columns (partition keys included) of ``table``; a resource link without columns
        is followed to its ``TargetTable``.  ``None`` when Glue does not give them (cached)."""
        cache: dict[str, pa.Schema | None] = self.__dict__.setdefault("_schemas", {})
        if table.name not in cache:
            glue = self.session.client("glue")
            try:
                got = glue.get_table(DatabaseName=self.database, Name=table.name)["Table"]
                target = got.get("TargetTable")
                if not got.get("StorageDescriptor", {}).get("Columns") and target:
                    where = {"CatalogId": target["CatalogId"]} if target.get("CatalogId") else {}
                    got = glue.get_table(**where, DatabaseName=target["DatabaseName"], Name=target["Name"])["Table"]
                columns = [*got.get("StorageDescriptor", {}).get("Columns", []), *got.get("PartitionKeys", [])]
            except Exception as exc:  # botocore and Lake Formation errors alike: say so where it is used
                _log.info("Glue columns of %s could not be read: %s", table.label, exc)
                columns = []
            cache[table.name] = _glue_schema(columns) if columns else None
        return cache[table.name]

    def _v1_branch(self, src: Source, table: LakeTable, window: Window) -> tuple[str, list[str], dict[str, Any]]:
        """``SELECT`` of ``table`` (``src``'s version-1 table) in ``src``'s version-2 columns, the values
        of its two placeholders, and its provenance.

        The select list is :func:`v1_projection` of the table's Glue columns (the catalog's v1
        schema when Glue does not give them).  Rows are limited to the window's ``eventday``
        partitions (``YYYYMMDD``), or, for a table without that partition key, to its ``time``
        (epoch milliseconds) in the window."""
        schema = self._table_schema(table)
        items, nulled = v1_projection(src, schema if schema is not None else V1_SOURCES[src.name].schema)
        relation = f"{quote_identifier(self.database)}.{quote_identifier(table.name)}"
        note: dict[str, Any] = {"table": table.name, "version": table.version,
                                "columns_from": "glue" if schema is not None else "catalog"}
        if schema is None or "eventday" in schema.names:
            days = window.days()
            where, values = '"eventday" >= ? AND "eventday" <= ?', [literal(days[0]), literal(days[-1])]
            note["eventdays"] = [days[0], days[-1]]
        else:
            where = '"time" >= ? AND "time" < ?'
            values = [parameter(-(-t.value // 1_000_000)) for t in (window.start, window.end)]  # up to the ms
        if nulled:
            note["null_columns"] = nulled
        return f"SELECT {', '.join(items)} FROM {relation} WHERE {where}", values, note

    def _with_older_versions(
        self, text: str, params: list[str], window: Window | None
    ) -> tuple[str, list[str], dict[str, list[dict[str, Any]]]]:
        """``text`` reading each version-2 table whose source also has a version-1 table as a
        ``UNION ALL`` of both (v1 rows in v2 names, pruned to the window's days), ``params`` with the
        v1 branch's bounds inserted at their placeholders, and ``{source: [tables read, with versions]}``.

        Without a window, or without version-1 tables, ``text`` and ``params`` are returned as they are.
        """
        if window is None:
            return text, params, {}
        listing = self._catalog()
        older = {t.source for t in listing.tables if t.version == "1.0" and t.source in V1_SOURCES}
        current = {name.lower(): key for key in sorted(older) if (name := self._lookup(key, SOURCE_VERSION))}
        if not current:
            return text, params, {}
        try:
            trees = [t for t in sqlglot.parse(text, read="trino") if t is not None]
            tokens = Dialect.get_or_raise("trino").tokenize(text)
        except sqlglot.errors.SqlglotError:
            return text, params, {}
        marks = [t.start for t in tokens if t.token_type == TokenType.PLACEHOLDER]
        edits: list[tuple[int, int, str, list[str]]] = []
        read: dict[str, list[dict[str, Any]]] = {}
        for tree in trees:
            ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
            for ref in tree.find_all(exp.Table):
                db = ref.args.get("db")
                dbname = db.name.lower() if isinstance(db, exp.Identifier) else None
                key = current.get(ref.name.lower())
                if key is None or "start" not in ref.this.meta or (dbname is None and ref.name.lower() in ctes) \
                        or dbname not in (None, self.database.lower()):
                    continue
                src = find_source(key)
                v1 = self._catalog_table(key, "1.0")
                branch, bounds, note = self._v1_branch(src, v1, window)
                columns = self._v2_columns(src, self._catalog_table(key, SOURCE_VERSION))
                relation = f"{quote_identifier(self.database)}.{quote_identifier(ref.name)}"
                union = f"(SELECT {columns} FROM {relation} UNION ALL {branch})"
                union += "" if ref.alias else f" AS {quote_identifier(ref.name)}"
                parts = [p for p in (ref.args.get("catalog"), db, ref.this) if isinstance(p, exp.Identifier) and "start" in p.meta]
                edits.append((parts[0].meta["start"], ref.this.meta["end"], union, bounds))
                read[src.name] = [{"table": ref.name, "version": SOURCE_VERSION}, note]
        params = list(params)
        for start, end, replacement, values in sorted(edits, key=lambda e: e[0], reverse=True):
            text = text[:start] + replacement + text[end + 1:]
            at = sum(1 for m in marks if m < start)
            params[at:at] = values
        return text, params, read

    def _v2_columns(self, src: Source, table: LakeTable) -> str:
        """The v2 branch's select list: ``src``'s top-level columns as the v2 table has them, a column
        its Glue columns lack as a typed ``NULL`` (an older table), so the union's columns line up."""
        schema = self._table_schema(table)
        return ", ".join(
            quote_identifier(f.name) if schema is None or f.name in schema.names
            else f"CAST(NULL AS {athena_type(f.type)}) AS {quote_identifier(f.name)}"
            for f in src.schema
        )

    def _catalog_table(self, source: str, version: str) -> LakeTable:
        """The :class:`LakeTable` :meth:`_lookup` chooses for ``source`` at ``version`` (it exists)."""
        name = self._lookup(source, version)
        return next(t for t in self._catalog().tables if t.name == name)

    def class_relation(self, source: str) -> str:
        """What a hunt reads for ``source``: its table, and the custom-source tables of its OCSF class.

        As on the other engines (:meth:`Engine.class_relation`), a ``UNION ALL`` over the catalog
        source's top-level columns.  Glue does not say which class a custom table holds, so each
        custom table joins with its rows of the classes ``source`` stands for (``class_uid IN (…)``,
        the classes whose first catalog source is ``source``, as a custom source's ``like``), its
        Glue columns cast to the catalog's (:func:`project`: missing columns as typed nulls).  A
        custom table whose columns cannot be read, that has no ``class_uid``, or with a column that
        cannot be cast is left out with a :class:`SkippedTableWarning` naming the column; what was
        read and skipped is in the ``attrs["custom_tables"]`` of the query's frame.  Only Glue is
        asked (``GetTable``, once per table).
        """
        own = find_source(source)
        classes = [c for c in own.classes if next(s.name for s in SOURCES.values() if c in s.classes) == own.name]
        customs = [t for t in self._catalog().tables if t.source.startswith("ext/")]
        if not customs or not classes:
            return self.table_name(source)
        columns = ", ".join(quote_identifier(c) for c in own.schema.names)
        parts = [f"SELECT {columns} FROM {self.table_name(own.name)}"]
        read, skipped = [], {}
        for t in customs:
            schema = self._table_schema(t)
            if schema is None or "class_uid" not in schema.names:
                skipped[t.name] = "its Glue columns could not be read" if schema is None else "it has no class_uid column"
                continue
            tree = origin_tree(schema)
            items, blocked = [], []
            for field in own.schema:
                expr, bad = project(field.type, tree.get(field.name))
                items.append(f"{expr} AS {quote_identifier(field.name)}")
                blocked += [f"{b} ({schema.field(b.split('.')[0].split('[')[0]).type} in Glue)" for b in bad]
            if blocked:
                skipped[t.name] = f"column {blocked[0]} cannot be cast to the {own.name} type"
                continue
            relation = f"{quote_identifier(self.database)}.{quote_identifier(t.name)}"
            wanted = ", ".join(str(c) for c in classes)
            parts.append(f'SELECT {", ".join(items)} FROM {relation} WHERE "class_uid" IN ({wanted})')
            read.append(t.name)
        relation = "(" + " UNION ALL ".join(parts) + ")" if read else self.table_name(source)
        notes: dict[str, dict[str, Any]] = self.__dict__.setdefault("_relations", {})
        if relation not in notes:  # said once per lake and relation
            for name, reason in skipped.items():
                warnings.warn(f"{name} (a custom source; it may hold {own.name}'s classes) is left out of the "
                              f"query: {reason}.", SkippedTableWarning, stacklevel=2)
        notes[relation] = {"source": own.name, "read": read, "skipped": skipped}
        return relation

    # -- what a window of a source's tables holds in S3, and statements -----------------------------
    def _table_location(self, table: LakeTable) -> str | None:
        """The S3 ``Location`` of ``table`` (a resource link followed to its target), or ``None``."""
        glue = self.session.client("glue")
        try:
            got = glue.get_table(DatabaseName=self.database, Name=table.name)["Table"]
            target = got.get("TargetTable")
            if not got.get("StorageDescriptor", {}).get("Location") and target:
                where = {"CatalogId": target["CatalogId"]} if target.get("CatalogId") else {}
                got = glue.get_table(**where, DatabaseName=target["DatabaseName"], Name=target["Name"])["Table"]
        except Exception as exc:  # botocore and Lake Formation errors alike: the estimate says so
            _log.info("Glue location of %s could not be read: %s", table.label, exc)
            return None
        location = got.get("StorageDescriptor", {}).get("Location")
        return str(location) if location else None

    def window_objects(self, source: str, window: Window) -> list[dict[str, Any]]:
        """What the S3 objects of ``source``'s tables under the window's day partitions add up to.

        For the source's version-2 table and its version-1 table (when the database has one), the
        table's S3 ``Location`` comes from Glue (``GetTable``, a resource link followed to its
        target) and the partition folders below it (``region=…/accountId=…/eventDay=…/``) from
        ``ListObjectsV2`` with a delimiter; the objects of each day folder of the window are
        listed and their sizes summed.  Nothing is read and Athena is not asked.

        Parameters
        ----------
        source
            A catalog source name.
        window
            The window whose UTC days are counted (whole days).

        Returns
        -------
        list of dict
            One per table: ``table``, ``location`` (``None`` when Glue does not give it: then
            ``bytes`` is ``None``), ``partitions`` (day folders of the window), ``files`` and ``bytes``
            (``None`` with a ``note`` too when the location holds objects but no partition folders).

        Examples
        --------
        >>> lake.window_objects("waf", Window.of("2026-11-01T00:00Z", "2026-11-02T00:00Z"))  # doctest: +SKIP
        [{'table': 'amazon_security_lake_table_us_east_1_waf_2_0', 'location': 's3://…/aws/WAF/2.0/', 'partitions': 2, 'files': 96, 'bytes': 1228800}]
        """
        key = find_source(source).name
        listed = {t.name: t for t in self._catalog().tables}
        names = [(v, name) for v in (SOURCE_VERSION, "1.0") if (name := self._lookup(key, v)) is not None]
        tables = [listed.get(name) or LakeTable(key, v, name, name, self.region) for v, name in names]  # an override
        s3 = self.session.client("s3")
        days = set(window.days())
        out: list[dict[str, Any]] = []
        for table in tables:
            location = self._table_location(table)
            entry: dict[str, Any] = {"table": table.name, "location": location, "partitions": 0, "files": 0, "bytes": None}
            out.append(entry)
            if location is None or not location.startswith("s3://"):
                continue
            bucket, _, base = location.removeprefix("s3://").partition("/")
            base = base if not base or base.endswith("/") else base + "/"
            try:
                folders = [base]
                for level in ("region=", "accountid=", "eventday="):
                    folders = [sub for f in folders for sub in _subfolders(s3, bucket, f)
                               if sub[len(f):].lower().startswith(level)]
                if not folders and s3.list_objects_v2(Bucket=bucket, Prefix=base, MaxKeys=1).get("KeyCount", 0):
                    entry["note"] = "no region=/accountId=/eventDay= folders below the location: no upper bound"
                    continue  # its bytes stay unknown rather than 0
                wanted = [d for d in folders if d.rstrip("/").rsplit("=", 1)[-1] in days]
                with ThreadPoolExecutor(max_workers=8, thread_name_prefix="slake-s3-list") as pool:
                    sizes = list(pool.map(lambda prefix: _object_sizes(s3, bucket, prefix), wanted))
            except Exception as exc:
                raise aws_error(exc) or QueryError(f"Listing {location} of {table.label} failed: {exc}") from None
            entry.update(partitions=len(wanted), files=sum(len(z) for z in sizes), bytes=sum(sum(z) for z in sizes))
        return out

    def table_parameters(self, database: str, table: str) -> dict[str, str]:
        """The Glue ``Parameters`` of ``database.table`` (``GetTable``; free).

        Parameters
        ----------
        database, table
            The Glue table.

        Returns
        -------
        dict of str to str

        Examples
        --------
        >>> lake.table_parameters("ir", "slake_entity_summary")["slake_start"]  # doctest: +SKIP
        '2026-11-01T00:00:00+00:00'
        """
        try:
            with self._session_lock:
                return dict(wr.catalog.get_table_parameters(database=database, table=table, boto3_session=self.session))
        except Exception as exc:
            raise aws_error(exc) or QueryError(f"Cannot read Glue table {database}.{table}: {exc}") from None

    def set_table_parameters(self, database: str, table: str, parameters: Mapping[str, str]) -> None:
        """Add or update Glue ``Parameters`` of ``database.table`` (``GetTable`` + ``UpdateTable``).

        Parameters
        ----------
        database, table
            The Glue table (it has ``Parameters``, as every table Athena creates).
        parameters
            The keys to set.

        Examples
        --------
        >>> lake.set_table_parameters("ir", "slake_entity_summary", {"note": "case 42"})  # doctest: +SKIP
        """
        try:
            with self._session_lock:
                wr.catalog.upsert_table_parameters(dict(parameters), database=database, table=table,
                                                   boto3_session=self.session)
        except Exception as exc:
            raise aws_error(exc) or QueryError(f"Cannot update Glue table {database}.{table}: {exc}") from None

    def run_statement(
        self, text: str, params: Sequence[Any] | None = None, *, start: TimeLike | None = None,
        end: TimeLike | None = None, timeout: float | None = None,
    ) -> dict[str, Any]:
        """Run a statement that returns no rows (``CREATE TABLE … AS``, ``INSERT INTO``): its provenance.

        As :meth:`sql` runs a query (standard table names rewritten, ``params`` bound as execution
        parameters, with ``start`` and ``end`` version-1 tables read beside version-2 ones, stopped
        at ``timeout`` or on Ctrl-C), but no result is read: Athena writes none for these.

        Returns
        -------
        dict
            ``sql``, ``params``, ``query_execution_id``, ``data_scanned_bytes``,
            ``engine_execution_ms``, ``elapsed_s`` (and ``tables_read`` when a v1 table was read).

        Examples
        --------
        >>> lake.run_statement('INSERT INTO "ir"."notes" SELECT ?', ["case 42"])["data_scanned_bytes"]  # doctest: +SKIP
        0
        """
        timeout, _ = query_limits(timeout, None)
        window = Window.of(start, end) if start is not None and end is not None else None
        sent, values, read = self._with_older_versions(self._rewrite(text), [parameter(v) for v in params or []], window)
        started = time.monotonic()
        query_id, clients = self._start(sent, values)
        stats = self._wait(query_id, started, timeout, clients).get("Statistics", {})
        out = {"sql": sent, "params": values, "query_execution_id": query_id,
               "data_scanned_bytes": int(stats.get("DataScannedInBytes", 0)),
               "engine_execution_ms": int(stats.get("EngineExecutionTimeInMillis", 0)),
               "elapsed_s": time.monotonic() - started}
        if read:
            out["tables_read"] = read
        _log.info("Athena statement %s succeeded: %d bytes scanned", query_id, out["data_scanned_bytes"])
        return out

    def _provenance(self, df: pd.DataFrame, text: str, read: dict[str, list[dict[str, Any]]]) -> None:
        """Record in ``df.attrs`` the version-1 tables read (``tables_read``) and the custom tables of
        class relations in ``text`` (``custom_tables``: read and skipped with the reason)."""
        if read:
            df.attrs["tables_read"] = read
        notes: dict[str, dict[str, Any]] = self.__dict__.get("_relations", {})
        used = [n for rel, n in notes.items() if rel in text and (n["read"] or n["skipped"])]
        if used:
            df.attrs["custom_tables"] = used


@dataclass(frozen=True)
class _Clients:
    """The Athena and S3 clients of one query (clients are thread-safe; the session they came from is not)."""

    athena: Any
    s3: Any


def _subfolders(s3: Any, bucket: str, prefix: str) -> list[str]:
    """The folder prefixes right below ``prefix`` (``ListObjectsV2`` with ``Delimiter="/"``)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
    return [c["Prefix"] for page in pages for c in page.get("CommonPrefixes", [])]


def _object_sizes(s3: Any, bucket: str, prefix: str) -> list[int]:
    """The sizes of every object below ``prefix``."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [int(o["Size"]) for page in pages for o in page.get("Contents", [])]


def _column_types(athena: Any, query_id: str) -> dict[str, str]:
    """``{column: Athena type}`` of a query's result (``GetQueryResults`` metadata, as awswrangler reads it)."""
    info = athena.get_query_results(QueryExecutionId=query_id, MaxResults=1)["ResultSet"]["ResultSetMetadata"]
    return {c["Name"]: f"{c['Type']}({c['Precision']},{c.get('Scale', 0)})" if c["Type"] == "decimal" else c["Type"]
            for c in info["ColumnInfo"]}


def _time_aggregates(has_time_dt: bool, window: Window | None) -> tuple[str, str, str, list[str]]:
    """``(first, last, where, params)`` of one :meth:`AthenaEngine.sources` aggregate.

    Version 2 tables are filtered and aggregated on ``time_dt``; version 1 and custom-source
    tables (no ``time_dt``) on ``time`` (epoch milliseconds), pruned by their ``eventday``
    partition (``YYYYMMDD`` text).
    """
    if has_time_dt:
        where = " WHERE time_dt >= from_iso8601_timestamp(?) AND time_dt < from_iso8601_timestamp(?)"
        bounds = [] if window is None else [literal(timestamp_text(window.start)), literal(timestamp_text(window.end))]
        return "min(time_dt)", "max(time_dt)", where if window else "", bounds
    first, last = (f'CAST(from_unixtime({f}("time") / 1e3, \'UTC\') AS timestamp)' for f in ("min", "max"))
    if window is None:
        return first, last, "", []
    where = ' WHERE eventday >= ? AND eventday <= ? AND "time" >= ? AND "time" < ?'
    days = window.days()
    start_ms, end_ms = (-(-t.value // 1_000_000) for t in (window.start, window.end))  # up to the ms, as time_dt's
    return first, last, where, [literal(days[0]), literal(days[-1]), parameter(start_ms), parameter(end_ms)]


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


# -- source version 1 and custom sources as rows of a version-2 source ------------------------------


class SkippedTableWarning(UserWarning):
    """A custom-source table left out of a query over its class: a Glue column cannot be cast to the catalog's."""


def athena_type(typ: pa.DataType) -> str:
    """The Athena (Trino) type name of an Arrow type, for ``CAST``.

    Examples
    --------
    >>> athena_type(pa.list_(pa.struct([("uid", pa.string()), ("n", pa.int32())])))
    'array(row("uid" varchar, "n" integer))'
    >>> athena_type(pa.map_(pa.string(), pa.string())), athena_type(pa.timestamp("ms", tz="UTC"))
    ('map(varchar, varchar)', 'timestamp')
    """
    if pa.types.is_struct(typ):
        return "row(" + ", ".join(f"{quote_identifier(f.name)} {athena_type(f.type)}" for f in typ) + ")"
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        return f"array({athena_type(typ.value_type)})"
    if pa.types.is_map(typ):
        return f"map({athena_type(typ.key_type)}, {athena_type(typ.item_type)})"
    if pa.types.is_timestamp(typ):
        return "timestamp"
    if pa.types.is_decimal(typ):
        return f"decimal({typ.precision}, {typ.scale})"
    names = {v: k for k, v in _ARROW_TYPES.items() if k not in ("int", "float")}
    names[pa.string()] = "varchar"
    if typ not in names:
        raise ValueError(f"No Athena type for {typ}")
    return names[typ]


def _castable(have: pa.DataType, want: pa.DataType) -> bool:
    """Whether a ``CAST`` of ``have`` to ``want`` keeps every value (or turns it into text)."""
    if have == want:
        return True
    nested = (pa.types.is_struct, pa.types.is_list, pa.types.is_map)
    if any(f(have) for f in nested) or any(f(want) for f in nested):
        if pa.types.is_list(have) and pa.types.is_list(want):
            return _castable(have.value_type, want.value_type)
        if pa.types.is_map(have) and pa.types.is_map(want):
            return _castable(have.key_type, want.key_type) and _castable(have.item_type, want.item_type)
        return False
    if pa.types.is_null(have):  # a Glue type the toolkit cannot read
        return False
    if pa.types.is_string(want):
        return True
    if pa.types.is_integer(have) and pa.types.is_integer(want):
        return have.bit_width <= want.bit_width
    if pa.types.is_decimal(want):  # a score as float in v1, decimal(3, 1) in v2
        return pa.types.is_integer(have) or pa.types.is_floating(have) or pa.types.is_decimal(have)
    return (pa.types.is_integer(have) or pa.types.is_floating(have)) and pa.types.is_floating(want) \
        and (pa.types.is_integer(have) or have.bit_width <= want.bit_width)


def _ref(base: str, path: str) -> str:
    return ".".join([base] * bool(base) + [quote_identifier(p) for p in path.split(".")])


def project(want: pa.DataType, node: Any, base: str = "", depth: int = 0) -> tuple[str, list[str]]:
    """An Athena expression of type ``want`` from ``node`` (a struct as a dict, an
    :class:`~slake_forensics.core.versions.Origin`, or ``None``: a typed ``NULL``), and the paths
    that block it (a type that cannot be cast; empty when the expression is good).

    ``base`` is the expression paths are relative to (a list element's lambda variable inside
    ``transform``); structs are built field by field (``CAST(ROW(…) AS row(…))``) so fields
    missing from ``node`` come out as typed nulls and extra ones are left out.

    Examples
    --------
    >>> from slake_forensics.core.versions import Origin
    >>> want = pa.struct([("uid", pa.string()), ("n", pa.int64())])
    >>> project(want, {"uid": Origin("actor.user.uuid", pa.string()), "n": Origin("x", pa.int32())})
    ('CAST(ROW("actor"."user"."uuid", CAST("x" AS bigint)) AS row("uid" varchar, "n" bigint))', [])
    >>> project(pa.int32(), Origin("name", pa.string()))
    ('CAST(NULL AS integer)', ['name'])
    """
    if node is None:
        return f"CAST(NULL AS {athena_type(want)})", []
    if isinstance(node, dict):
        if not pa.types.is_struct(want):
            return f"CAST(NULL AS {athena_type(want)})", [_first_path(node)]
        parts = [project(f.type, node.get(f.name), base, depth) for f in want]
        items = ", ".join(p[0] for p in parts)
        return f"CAST(ROW({items}) AS {athena_type(want)})", [b for p in parts for b in p[1]]
    ref = _ref(base, node.path)
    null = f"CAST(NULL AS {athena_type(want)})"
    if node.millis:
        if not pa.types.is_timestamp(want):
            return null, [node.path]
        return f"CAST(from_unixtime({ref} / 1e3, 'UTC') AS timestamp)", []
    if node.element is not None:
        if not pa.types.is_list(want):
            return null, [node.path]
        if node.as_list:
            inner, blocked = project(want.value_type, node.element, base, depth)
            return f"IF({ref} IS NULL, NULL, ARRAY[{inner}])", blocked
        var = f"x{depth + 1}"
        inner, blocked = project(want.value_type, node.element, var, depth + 1)
        return f"transform({ref}, {var} -> {inner})", [f"{node.path}[].{b}" for b in blocked]
    if node.type == want:
        return ref, []
    if node.type is None or not _castable(node.type, want):
        return null, [node.path]
    return f"CAST({ref} AS {athena_type(want)})", []


def _first_path(node: dict[str, Any]) -> str:
    """The v1 (or Glue) path of a struct node: its first field's path without that field's name."""
    child = next(iter(node.values()), None)
    if isinstance(child, dict):
        return _first_path(child).rsplit(".", 1)[0]
    return child.path.rsplit(".", 1)[0] if child is not None else "?"


def _glue_schema(columns: Iterable[dict[str, Any]]) -> pa.Schema:
    """Glue ``Columns`` (and ``PartitionKeys``) as an Arrow schema; a type the toolkit cannot read is ``null``."""
    fields = []
    for column in columns:
        try:
            typ = hive_to_arrow(str(column.get("Type", "")).lower())
        except ValueError:
            typ = pa.null()
        fields.append(pa.field(str(column["Name"]).lower(), typ))
    return pa.schema(fields)


_RECLASSED = ("class_uid", "category_uid", "category_name", "type_uid")


def _reclassed(column: str, expr: str, step: Reclass) -> str:
    """``expr`` (the v1 value of ``column``) renumbered by ``step`` on the rows of its class."""
    new = {
        "class_uid": str(step.new),
        "category_uid": str(step.category_uid),
        "category_name": literal(step.category_name),
        "type_uid": f"{expr} + {(step.new - step.old) * 100}",
    }[column]
    return f'CASE WHEN "class_uid" = {step.old} THEN {new} ELSE {expr} END'


def v1_projection(src: Source, schema: pa.Schema) -> tuple[list[str], list[str]]:
    """The ``SELECT`` items that present a version-1 table of ``src`` (Glue columns ``schema``) as
    ``src``'s version-2 top-level columns, and the v1 paths whose type cannot be cast (``NULL`` there).

    :func:`~slake_forensics.core.versions.v2_origins` applies the renaming of
    :data:`~slake_forensics.core.versions.V1_TO_V2` to the schema, :func:`project` casts each column
    to the v2 type, and the ``Reclass`` steps renumber v1 API Activity.  ``asl_version``, absent from
    AWS's v1 tables, is the version (``'1.0'``).  Fields without a v2 place are not selected.

    Examples
    --------
    >>> from slake_forensics.core.catalog import V1_SOURCES
    >>> items, nulled = v1_projection(SOURCES["cloud_trail_mgmt"], V1_SOURCES["cloud_trail_mgmt"].schema)
    >>> len(items) == len(SOURCES["cloud_trail_mgmt"].schema), nulled
    (True, [])
    >>> [i for i in items if i.endswith('"category_uid"')]
    ['CASE WHEN "class_uid" = 3005 THEN 6 ELSE "category_uid" END AS "category_uid"']
    """
    v1 = V1_SOURCES[src.name]
    tree = v2_origins(schema, v1)
    items, nulled = [], []
    for field in src.schema:
        expr, blocked = project(field.type, tree.get(field.name))
        nulled += blocked
        if field.name == "asl_version":
            expr = f"COALESCE({expr}, {literal(v1.version)})"
        for step in reclass_steps(v1) if field.name in _RECLASSED else []:
            expr = _reclassed(field.name, expr, step)
        items.append(f"{expr} AS {quote_identifier(field.name)}")
    return items, nulled
