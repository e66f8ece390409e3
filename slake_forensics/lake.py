"""The public entry point: a :class:`Lake` is a Security Lake you load from and query.

Engines subclass :class:`Lake`: :class:`~slake_forensics.engines.local.LocalLake` (Parquet in a
local folder, DuckDB for SQL), and the S3 and Athena lakes.  Every engine returns pandas
DataFrames with nested OCSF fields flattened to dotted names (``actor.user.uid``),
Arrow-backed dtypes, UTC times, and provenance in ``df.attrs``.
"""
from __future__ import annotations

import html
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from .timewindow import TimeLike, to_utc

if TYPE_CHECKING:
    import boto3


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


class Lake(ABC):
    """A Security Lake: sources to load from and Athena SQL to run.

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

    def table_name(self, source: str) -> str:
        """Fully qualified, quoted Glue table of ``source`` for this lake's region.

        For example ``"amazon_security_lake_glue_db_us_east_1"."amazon_security_lake_table_us_east_1_vpc_flow_2_0"``;
        every engine accepts it in :meth:`sql`, so SQL built with it runs unchanged anywhere.
        """
        from .catalog import database, source as find_source

        region = self.region or "us-east-1"
        return f'"{database(region)}"."{find_source(source).table(region)}"'

    # ---- investigation helpers: thin delegations to their modules --------------------------

    def hunt(self, name: str, start: TimeLike | None = None, end: TimeLike | None = None, **params: Any) -> pd.DataFrame:
        """Run one hunt (see :func:`slake_forensics.hunts.run`): its hits, one row per hit."""
        from . import hunts

        return hunts.run(self, name, start, end, **params)

    def sigma(self, path: str, start: TimeLike | None = None, end: TimeLike | None = None, **kwargs: Any) -> pd.DataFrame:
        """Run one Sigma CloudTrail rule (see :func:`slake_forensics.sigma.run`): matching events, one row per event."""
        from . import sigma

        return sigma.run(self, path, start, end, **kwargs)

    def run_hunts(self, stage: str | None = None, start: TimeLike | None = None, end: TimeLike | None = None) -> pd.DataFrame:
        """Run every hunt, or those of one NIST stage (see :func:`slake_forensics.hunts.run_all`):
        one summary row per hunt, hits per hunt in ``attrs["hits"]``."""
        from . import hunts

        return hunts.run_all(self, stage, start, end)

    def pivot(
        self,
        *,
        ip: str | Iterable[str] | None = None,
        principal: str | Iterable[str] | None = None,
        access_key: str | Iterable[str] | None = None,
        bucket: str | Iterable[str] | None = None,
        instance: str | Iterable[str] | None = None,
        domain: str | Iterable[str] | None = None,
        account: str | Iterable[str] | None = None,
        start: TimeLike,
        end: TimeLike,
        sources: Iterable[str] | str | None = None,
        limit_per_source: int | None = None,
        progress: bool = True,
    ) -> pd.DataFrame:
        """Every event in ``[start, end)`` mentioning the given entities, as one normalized timeline
        sorted by time (see :func:`slake_forensics.pivot.pivot`; queries and row counts in ``attrs``)."""
        from .pivot import pivot

        return pivot(
            self, ip=ip, principal=principal, access_key=access_key, bucket=bucket, instance=instance,
            domain=domain, account=account, start=start, end=end, sources=sources,
            limit_per_source=limit_per_source, progress=progress,
        )

    def fetch_rows(self, timeline_rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """The full events behind timeline rows: ``{source: flattened frame}`` (see
        :func:`slake_forensics.pivot.fetch_rows`)."""
        from .pivot import fetch_rows

        return fetch_rows(self, timeline_rows)

    def expand(
        self,
        seed: dict[str, str],
        start: TimeLike,
        end: TimeLike,
        hops: int = 2,
        max_nodes: int = 200,
        max_per_hop: int = 50,
        progress: bool = True,
    ) -> Any:
        """The entity graph grown from ``seed`` (e.g. ``{"ip": "…"}``) by pivots: a
        :class:`slake_forensics.graph.Graph` (see :func:`slake_forensics.graph.expand`)."""
        from .graph import expand

        return expand(self, seed, start, end, hops=hops, max_nodes=max_nodes, max_per_hop=max_per_hop, progress=progress)

    def new_for_principal(
        self,
        principal: str,
        start: TimeLike,
        end: TimeLike,
        baseline_days: float = 7,
        baseline: tuple[TimeLike, TimeLike] | None = None,
        sources: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """What ``principal`` did in ``[start, end)`` and never in its baseline: ``kind, value, first_seen,
        events`` (see :func:`slake_forensics.baseline.new_for_principal`; ``sources`` default CloudTrail + S3 data)."""
        from .baseline import API_SOURCES, new_for_principal

        return new_for_principal(self, principal, start, end, baseline_days=baseline_days, baseline=baseline,
                                 sources=API_SOURCES if sources is None else sources)

    def rare_apis(
        self, start: TimeLike, end: TimeLike, max_principals: int = 2, sources: Sequence[str] = ("cloud_trail_mgmt",)
    ) -> pd.DataFrame:
        """API calls made by at most ``max_principals`` principals in ``[start, end)``, one row per API
        (see :func:`slake_forensics.baseline.rare_apis`)."""
        from .baseline import rare_apis

        return rare_apis(self, start, end, max_principals=max_principals, sources=sources)

    # ---- constructors --------------------------------------------------------------------

    @classmethod
    def local(cls, path: str, now: TimeLike | None = None) -> Lake:
        """A lake in a local folder holding the ``aws/<SOURCE_NAME>/2.0/…`` layout."""
        from .engines.local import LocalLake

        return LocalLake(path, now=now)

    @classmethod
    def sample(cls, now: TimeLike | None = None) -> Lake:
        """The bundled sample lake (generated on first use); its clock defaults to the end of its data."""
        from .engines.local import LocalLake
        from .sample.bundled import ensure_sample_lake, sample_now

        root = ensure_sample_lake()
        return LocalLake(root, now=sample_now(root) if now is None else now)

    @classmethod
    def s3(cls, bucket_uri: str, region: str, boto3_session: boto3.Session | None = None) -> Lake:
        """A lake read straight from its S3 bucket (``s3://aws-security-data-lake-…``)."""
        from .engines.s3 import S3Lake

        return S3Lake(bucket_uri, region, boto3_session=boto3_session)

    @classmethod
    def athena(
        cls,
        region: str,
        workgroup: str = "primary",
        database: str | None = None,
        s3_output: str | None = None,
        boto3_session: boto3.Session | None = None,
    ) -> Lake:
        """A lake queried through Athena in ``region``."""
        from .engines.athena import AthenaLake

        return AthenaLake(
            region, workgroup=workgroup, database=database, s3_output=s3_output, boto3_session=boto3_session
        )

    @classmethod
    def from_config(cls) -> Lake:
        """The lake the user's configuration file describes."""
        from .config import lake_from_config

        return lake_from_config()

    @classmethod
    def open(cls, location: str | None = None, now: TimeLike | None = None) -> Lake:
        """The lake a notebook's ``LAKE`` parameter names.

        ``None``: :meth:`from_config` (the bundled sample lake when nothing is configured).  A
        local folder: :meth:`local` with its clock at ``now``, by default at its latest event, so
        windows counted back from the clock land on the data of a copied or generated lake.
        """
        if location is None:
            return cls.from_config()
        lake = cls.local(location)
        if now is None:
            last = lake.sources()["last_event"]
            now = last.max() if len(last) else None
        return cls.local(location, now=now)


def id_list(values: Iterable[str] | str | int | None, what: str) -> list[str] | None:
    """Normalise an ``accounts`` / ``regions`` argument to a list of strings (``None`` stays ``None``).

    A single string is one value; integers are account ids and are zero-padded to 12 digits.
    """
    if values is None:
        return None
    if isinstance(values, str | int):
        values = [values]
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, str | int):
            raise TypeError(f"{what} must be strings, not {type(v).__name__} ({v!r}).")
        out.append(f"{v:012d}" if isinstance(v, int) else v)
    return out

