"""The engine contract: what every engine (local Parquet, S3, Athena) provides.

An engine answers four calls (``sources``, ``load``, ``sql``, ``explain``) over one lake and
keeps the lake's clock.  The investigation helpers work on any :class:`Engine`; the analyst's
:class:`slake_forensics.lake.Lake` adds them as methods on top.  A new engine is one module in
this package with one subclass of :class:`Engine` (see docs/architecture.md).
"""
from __future__ import annotations

import html
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from slake_forensics.core.catalog import Source, database, source as find_source
from slake_forensics.core.timewindow import TimeLike, to_utc

@dataclass(frozen=True)
class Explanation:
    """What a load or query would do: the SQL, its bound parameters, and the files it would open.

    ``files`` is empty for engines that do not open files themselves (Athena).  ``str()`` of it
    is the SQL with the parameters, the translated SQL and the files as SQL comments.

    Parameters
    ----------
    sql
        The Athena SQL of the load or query.
    params
        The values of its ``?`` placeholders, in order.
    files
        The data files the engine would open.
    engine
        The engine that would run it (``duckdb``, ``pyarrow``, ``athena``…).
    translated_sql
        The SQL as the engine runs it, when it is not Athena SQL (the local DuckDB dialect).

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> plan = lake.explain("vpc_flow", "2026-05-14T20:00Z", "2026-05-14T21:00Z")
    >>> plan.engine, len(plan.files), plan.params
    ('pyarrow', 4, ["'2026-05-14T20:00:00.000Z'", "'2026-05-14T21:00:00.000Z'"])
    >>> str(plan).splitlines()[0]
    '-- engine: pyarrow'
    """

    sql: str
    params: list[Any] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    engine: str = ""
    translated_sql: str | None = None

    def __str__(self) -> str:
        lines = [f"-- engine: {self.engine}", self.sql.strip()]
        if self.params:
            lines.append(f"-- params: {self.params!r}")
        if self.translated_sql:
            lines += ["-- runs as:", self.translated_sql.strip()]
        lines.append(f"-- files to open: {len(self.files)}")
        lines += [f"--   {f}" for f in self.files]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(str(self))}</pre>"


class Engine(ABC):
    """A Security Lake engine: sources to load from and Athena SQL to run.

    ``location`` says where the data is (folder, ``s3://`` URI or Athena database);
    ``now`` is the lake's clock: ``CURRENT_TIMESTAMP`` / ``now()`` / ``current_date`` resolve
    to it (``None`` means real time).  ``region`` is the lake's home region, or ``None`` when
    the lake is a rollup of several (then table names default to ``us-east-1``).

    Parameters
    ----------
    location
        Where the data is.
    now
        The lake's clock (``None``: real time); any time :func:`~slake_forensics.core.timewindow.to_utc` takes.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> from slake_forensics.engines.base import Engine
    >>> lake = sf.Lake.sample()
    >>> isinstance(lake, Engine), lake.region
    (True, None)
    """

    location: str
    now: pd.Timestamp | None
    region: str | None = None

    def __init__(self, location: str, now: TimeLike | None = None) -> None:
        self.location = location
        self.now = None if now is None else to_utc(now, what="now")

    def __repr__(self) -> str:
        clock = "real time" if self.now is None else self.now.isoformat()
        return f"{type(self).__name__}({self.location!r}, now={clock})"

    def clock(self) -> pd.Timestamp:
        """The lake's current time (UTC): ``now`` if set, else the real time.

        Returns
        -------
        pandas.Timestamp
            The end of the default windows of hunts, Sigma rules and notebooks.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> sf.Lake.sample(now="2026-05-22T00:00Z").clock()
        Timestamp('2026-05-22 00:00:00+0000', tz='UTC')
        """
        return self.now if self.now is not None else pd.Timestamp.now(tz="UTC")

    # ---- what every engine provides ------------------------------------------------------

    @abstractmethod
    def sources(self) -> pd.DataFrame:
        """One row per source present in the lake.

        Returns
        -------
        pandas.DataFrame
            Columns ``source, table, classes, accounts, regions, first_event, last_event, rows``
            (times UTC; accounts/regions as sorted lists); engines that read files add ``files``.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> src = lake.sources().set_index("source")
        >>> int(src.loc["waf", "rows"]), src.loc["waf", "regions"]
        (44904, ['eu-west-1', 'us-east-1'])
        """

    @abstractmethod
    def load(
        self,
        source: str,
        start: TimeLike,
        end: TimeLike,
        accounts: Iterable[str] | str | None = None,
        regions: Iterable[str] | str | None = None,
        columns: Iterable[str] | str | None = None,
    ) -> pd.DataFrame:
        """Events of ``source`` with ``start <= time_dt < end``, sorted by time.

        Parameters
        ----------
        source
            A source name (``vpc_flow``, ``cloud_trail_mgmt``…; see :data:`~slake_forensics.core.catalog.SOURCES`).
        start, end
            The window ``[start, end)`` on ``time_dt``.
        accounts, regions
            Partitions to read (``None`` = all).
        columns
            Top-level or dotted column names to return (``None`` = all).

        Returns
        -------
        pandas.DataFrame
            The source's columns flattened to dotted names (``time_dt``, ``src_endpoint.ip``…),
            Arrow-backed; ``attrs`` record source, window, accounts, regions, files and lake.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> waf = lake.load("waf", "2026-05-21T00:00Z", "2026-05-21T01:00Z", columns=["time_dt", "src_endpoint.ip", "action"])
        >>> len(waf), list(waf.columns), waf.attrs["source"]
        (80, ['time_dt', 'src_endpoint.ip', 'action'], 'waf')
        """

    @abstractmethod
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
        """Run Athena (Trino) SQL; ``params`` bind the ``?`` placeholders in order.

        ``start``/``end``/``accounts``/``regions`` are a *scope*: they limit which partitions an
        engine reads when it reads files itself (local: files opened; S3: files downloaded) and
        are ignored by Athena, where the query's own ``time_dt``/``accountid``/``region``
        predicates prune partitions.  The scope never replaces those predicates: keep them in
        the SQL so the answer is the same on every engine.

        Parameters
        ----------
        text
            One Athena (Trino) query; :meth:`table_name` gives table names that work on every engine.
        params
            Values of the ``?`` placeholders, in order.
        start, end, accounts, regions
            The scope: partitions an engine that reads files itself needs.
        timeout
            Seconds before the query is stopped with :class:`QueryTimeout` (Athena: ``StopQueryExecution``);
            default the ``query_timeout`` setting (1800 s). Ctrl-C stops it too (:class:`QueryInterrupted`).
        max_rows
            Most rows the result may hold, else :class:`TooManyRowsError` (never truncated); default the
            ``max_rows`` setting (5,000,000).

        Returns
        -------
        pandas.DataFrame
            The result with nested columns flattened, Arrow-backed; ``attrs`` hold ``sql``,
            ``translated_sql``, ``params``, ``engine``, ``lake`` and ``elapsed_s``.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> query = (f"SELECT count(*) AS n FROM {lake.table_name('waf')} "
        ...          "WHERE time_dt >= from_iso8601_timestamp(?) AND time_dt < from_iso8601_timestamp(?)")
        >>> int(lake.sql(query, ["2026-05-21T00:00:00Z", "2026-05-22T00:00:00Z"])["n"].iloc[0])
        3661
        """

    @abstractmethod
    def explain(self, what: str, *args: Any, **kwargs: Any) -> Explanation:
        """Say what would run without running it.

        Parameters
        ----------
        what
            A source name (then the arguments are those of :meth:`load`) or SQL text (then
            ``params``, as for :meth:`sql`).
        *args, **kwargs
            ``explain(source, start, end, accounts=None, regions=None, columns=None)`` for a load,
            ``explain(sql_text, params=None)`` for a query.

        Returns
        -------
        Explanation

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> plan = lake.explain(f"SELECT count(*) FROM {lake.table_name('waf')} WHERE time_dt >= from_iso8601_timestamp(?)",
        ...                     ["2026-05-24T00:00:00Z"])
        >>> plan.engine, len(plan.files)
        ('duckdb', 28)
        """

    def custom_sources(self) -> list[Source]:
        """The custom sources (``ext/<name>/``) this lake holds; none unless the engine discovers them.

        Returns
        -------
        list of slake_forensics.core.catalog.Source
            Catalog entries named ``ext/<name>``; pivots also query those of a class a v2 source holds.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> [(s.name, s.classes, s.like) for s in sf.Lake.sample().custom_sources()]
        [('ext_onprem_firewall', (4001,), 'vpc_flow')]
        """
        return []

    def class_relation(self, source: str) -> str:
        """What a query reads for ``source`` together with the lake's custom sources of its class.

        A custom source (``ext/<name>/``) whose OCSF class a catalog source holds (an on-premises
        firewall as Network Activity beside ``vpc_flow``) is read through that source's schema, so
        a query over the class reads both: ``(SELECT <columns> FROM <table> UNION ALL SELECT
        <columns> FROM <custom table> …)`` with the catalog source's top-level columns.  Without
        such custom sources this is :meth:`table_name`.  Hunts read their sources through it.

        Parameters
        ----------
        source
            A catalog source name.

        Returns
        -------
        str
            A table name or a parenthesised ``UNION ALL`` to use in ``FROM``.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> relation = lake.class_relation("vpc_flow")
        >>> relation.startswith("(SELECT"), "ext_onprem_firewall" in relation
        (True, True)
        >>> lake.class_relation("waf") == lake.table_name("waf")
        True
        """
        own = find_source(source)
        like = [c for c in self.custom_sources() if c.like == own.name]
        if not like:
            return self.table_name(source)
        columns = ", ".join(f'"{c}"' for c in own.schema.names)
        return "(" + " UNION ALL ".join(f"SELECT {columns} FROM {self.table_name(s.name)}" for s in [own, *like]) + ")"

    def table_name(self, source: str) -> str:
        """Fully qualified, quoted Glue table of ``source`` for this lake's region.

        Every engine accepts it in :meth:`sql`, so SQL built with it runs unchanged anywhere.

        Parameters
        ----------
        source
            A source name.

        Returns
        -------
        str
            ``"<database>"."<table>"``.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> sf.Lake.sample().table_name("vpc_flow")
        '"amazon_security_lake_glue_db_us_east_1"."amazon_security_lake_table_us_east_1_vpc_flow_2_0"'
        """
        region = self.region or "us-east-1"
        return f'"{database(region)}"."{find_source(source).table(region)}"'
