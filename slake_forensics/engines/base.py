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
from typing import TYPE_CHECKING, Any

import pandas as pd

from slake_forensics.core.catalog import Source, database, source as find_source
from slake_forensics.core.timewindow import TimeLike, to_utc

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class Explanation:
    """What a load or query would do: the SQL, its bound parameters, and the files it would open.

    ``files`` is empty for engines that do not open files themselves (Athena).
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
        """The lake's current time (UTC): ``now`` if set, else the real time."""
        return self.now if self.now is not None else pd.Timestamp.now(tz="UTC")

    # ---- what every engine provides ------------------------------------------------------

    @abstractmethod
    def sources(self) -> pd.DataFrame:
        """One row per source present: ``source, table, classes, accounts, regions,
        first_event, last_event, rows`` (times UTC; accounts/regions as sorted lists)."""

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

        ``accounts`` / ``regions`` restrict partitions (``None`` = all); ``columns`` takes
        top-level or dotted names (``None`` = all).  Returns a flattened, Arrow-backed
        DataFrame whose ``attrs`` record source, window, accounts, regions, files and lake.
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
    ) -> pd.DataFrame:
        """Run Athena (Trino) SQL; ``params`` bind the ``?`` placeholders in order.

        ``start``/``end``/``accounts``/``regions`` are a *scope*: they limit which partitions an
        engine reads when it reads files itself (local: files opened; S3: files downloaded) and
        are ignored by Athena, where the query's own ``time_dt``/``accountid``/``region``
        predicates prune partitions.  The scope never replaces those predicates: keep them in
        the SQL so the answer is the same on every engine.  Returns a flattened, Arrow-backed
        DataFrame whose ``attrs`` hold ``sql``, ``translated_sql``, ``params``, ``engine``,
        ``lake`` and ``elapsed_s``.
        """

    @abstractmethod
    def explain(self, what: str, *args: Any, **kwargs: Any) -> Explanation:
        """Say what would run without running it.

        ``explain(source, start, end, accounts=None, regions=None, columns=None)`` for a load,
        ``explain(sql_text, params=None)`` for a query.  Returns an :class:`Explanation`.
        """

    def custom_sources(self) -> list[Source]:
        """The custom sources (``ext/<name>/``) this lake holds; none unless the engine discovers them."""
        return []

    def table_name(self, source: str) -> str:
        """Fully qualified, quoted Glue table of ``source`` for this lake's region.

        For example ``"amazon_security_lake_glue_db_us_east_1"."amazon_security_lake_table_us_east_1_vpc_flow_2_0"``;
        every engine accepts it in :meth:`sql`, so SQL built with it runs unchanged anywhere.
        """
        region = self.region or "us-east-1"
        return f'"{database(region)}"."{find_source(source).table(region)}"'
