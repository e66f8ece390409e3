"""The analyst's entry point: a :class:`Lake` is a Security Lake you load from, query and investigate.

``Lake`` is an :class:`~slake_forensics.engines.base.Engine` (``sources/load/sql/explain``) plus
the investigation helpers as methods (``pivot``, ``hunt``, ``run_hunts``, ``expand``, …), each a
thin delegation to its module in :mod:`slake_forensics.analysis`.  The constructors
(``Lake.sample/local/s3/athena/from_config/open``) return the engine of that kind with these
methods: :class:`LocalLake`, :class:`S3Lake` and :class:`AthenaLake`.  Every engine returns pandas
DataFrames with nested OCSF fields flattened to dotted names (``actor.user.uid``), Arrow-backed
dtypes, UTC times, and provenance in ``df.attrs``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import logging
import warnings

import pandas as pd

from slake_forensics.analysis import baseline as _baseline, graph as _graph, hunts as _hunts, pivot as _pivot, sigma as _sigma
from slake_forensics.analysis import entity_index as _entity_index, entity_summary as _entity_summary
from slake_forensics.core.config import (
    CONFIG_ENV, LOCAL_FILE, USER_FILE, SampleFallbackWarning, aws_region, lake_reason, read_config,
)
from slake_forensics.core.errors import BadArgumentError
from slake_forensics.core.scope import column_list, id_list
from slake_forensics.core.timewindow import TimeLike, Window
from slake_forensics.engines.athena import AthenaEngine
from slake_forensics.engines.base import Engine, Explanation
from slake_forensics.engines.local import LocalEngine
from slake_forensics.engines.s3 import S3Engine

if TYPE_CHECKING:
    import boto3
    from sigma.rule import SigmaRule

    from slake_forensics.analysis.graph import Graph
    from slake_forensics.analysis.sigma import CompiledRule

_log = logging.getLogger(__name__)

__all__ = ["Lake", "LocalLake", "S3Lake", "AthenaLake", "Explanation"]

#: Clock of each bundled lake read in this process: the lake comes from a fixed seed, so its end never moves.
_SAMPLE_CLOCKS: dict[Path, pd.Timestamp] = {}


class Lake(Engine):
    """A Security Lake with the investigation helpers as methods.

    Build one with :meth:`sample`, :meth:`local`, :meth:`s3`, :meth:`athena`, :meth:`from_config`
    or :meth:`open`; each returns a :class:`LocalLake`, :class:`S3Lake` or :class:`AthenaLake`.
    ``sources``, ``load``, ``sql`` and ``explain`` are the engine's
    (:class:`~slake_forensics.engines.base.Engine`); the other methods delegate to
    :mod:`slake_forensics.analysis`.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> sorted(lake.sources()["source"])[:3]
    ['cloud_trail_mgmt', 'eks_audit', 'ext_onprem_firewall']
    >>> lake.clock()
    Timestamp('2026-05-24 23:59:59.999000+0000', tz='UTC')
    """

    #: Why this lake was opened (set by :meth:`open` and :func:`lake_from_config`), for notebooks to print.
    opened_because: str = "opened directly"

    # ---- argument validation at the edge ---------------------------------------------------

    def load(
        self,
        source: str,
        start: TimeLike,
        end: TimeLike,
        accounts: Iterable[str] | str | None = None,
        regions: Iterable[str] | str | None = None,
        columns: Iterable[str] | str | None = None,
        **options: Any,
    ) -> pd.DataFrame:
        """Events of ``source`` with ``start <= time_dt < end``, sorted by time (the engine's load, arguments checked).

        Parameters
        ----------
        source : str
            A source name (``vpc_flow``, ``cloud_trail_mgmt``…).
        start, end : time-like
            The window ``[start, end)`` on ``time_dt``: ISO-8601 text, ``datetime`` or ``Timestamp``.
        accounts, regions : str or list of str, optional
            Partitions to read (``None`` = all; an empty list is refused).
        columns : str or list of str, optional
            Column names to return (``None`` = all); an empty list is refused, a name given twice
            or also covered by a selected struct (``src_endpoint`` and ``src_endpoint.ip``) comes
            back once.
        **options
            The engine's own options, passed on (``on_error=`` of the local engine …).

        Returns
        -------
        pandas.DataFrame
            The source's columns flattened to dotted names, Arrow-backed, distinct; ``attrs``
            record source, window, accounts, regions, files and lake.

        Raises
        ------
        BadArgumentError
            For an empty or mistyped ``columns``, ``accounts`` or ``regions``.
        BadWindowError
            For a time that is not ISO 8601, or ``start`` not before ``end``.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> waf = lake.load("waf", "2026-05-21T00:00Z", "2026-05-21T01:00Z",
        ...                 columns=["time_dt", "src_endpoint", "src_endpoint.ip", "time_dt"])
        >>> len(waf), list(waf.columns)
        (80, ['time_dt', 'src_endpoint.svc_name', 'src_endpoint.uid', 'src_endpoint.ip', 'src_endpoint.location.country'])
        >>> lake.load("waf", "2026-05-21T00:00Z", "2026-05-21T01:00Z", columns=[])
        Traceback (most recent call last):
        ...
        slake_forensics.core.errors.BadArgumentError: columns=[] selects nothing: pass None for every column, or names such as ['time_dt', 'src_endpoint.ip'].
        """
        Window.of(start, end)  # refuse an ambiguous or reversed window before any engine work
        id_list(accounts, "accounts")
        id_list(regions, "regions")
        # The engine class after Lake in the MRO (LocalEngine, S3Engine, AthenaEngine) implements load.
        df = super().load(source, start, end, accounts, regions, column_list(columns), **options)  # type: ignore[safe-super]
        if df.columns.duplicated().any():  # overlapping selections (a struct and one of its fields)
            df = df.loc[:, ~df.columns.duplicated()]
        return df

    # ---- investigation helpers: thin delegations to their modules --------------------------

    def hunt(self, name: str, start: TimeLike | None = None, end: TimeLike | None = None, **params: Any) -> pd.DataFrame:
        """Run one hunt: its hits, one row per hit (see :func:`slake_forensics.analysis.hunts.run`).

        Parameters
        ----------
        name, start, end, **params
            As for :func:`slake_forensics.analysis.hunts.run` (this lake is its ``lake``): the
            hunt's name, the window (default the 14 days before :meth:`clock`) and parameter values.

        Returns
        -------
        pandas.DataFrame
            One row per hit; the columns are the hunt's own (see the module doc of
            :mod:`slake_forensics.analysis.hunts`).  ``attrs`` hold ``hunt``, ``window``, ``parameters``,
            ``sql`` and ``params``.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> hits = lake.hunt("s3_public_access_change", "2026-05-21T00:00Z", "2026-05-22T00:00Z")
        >>> list(hits["api.operation"])
        ['DeletePublicAccessBlock', 'PutBucketPolicy']
        >>> hits["bucket"].unique().tolist()
        ['wingtip-customer-exports-7cd9ef']
        """
        return _hunts.run(self, name, start, end, **params)

    def sigma(
        self,
        path: CompiledRule | str | Path | SigmaRule,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        **kwargs: Any,
    ) -> pd.DataFrame:
        """Run one Sigma CloudTrail rule: matching events, one row per event (see :func:`slake_forensics.analysis.sigma.run`).

        Parameters
        ----------
        path, start, end, **kwargs
            As ``rule``, ``start``, ``end`` and ``accounts``/``regions`` of
            :func:`slake_forensics.analysis.sigma.run` (this lake is its ``lake``).

        Returns
        -------
        pandas.DataFrame
            The matching ``cloud_trail_mgmt`` events with the table's scalar columns under their
            dotted names (``time_dt``, ``metadata.uid``, ``api.operation``, …), sorted by time.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> rule = '''
        ... title: Public access block deleted
        ... logsource: {product: aws, service: cloudtrail}
        ... detection:
        ...   selection: {eventName: DeletePublicAccessBlock}
        ...   condition: selection
        ... '''
        >>> hits = lake.sigma(rule, "2026-05-21T00:00Z", "2026-05-22T00:00Z")
        >>> hits[["api.operation", "src_endpoint.ip"]].values.tolist()
        [['DeletePublicAccessBlock', '103.75.108.118']]
        """
        return _sigma.run(self, path, start, end, **kwargs)

    def run_hunts(self, stage: str | None = None, start: TimeLike | None = None, end: TimeLike | None = None, *,
                  progress: bool = False) -> pd.DataFrame:
        """Run every hunt, or those of one NIST stage: one summary row per hunt (see :func:`slake_forensics.analysis.hunts.run_all`).

        Parameters
        ----------
        stage, start, end, progress
            As for :func:`slake_forensics.analysis.hunts.run_all` (this lake is its ``lake``).

        Returns
        -------
        pandas.DataFrame
            Columns ``name, title, stage, severity, techniques, hits, error``; the hits of each hunt
            that ran are in ``attrs["hits"]`` (``{name: frame}``).

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> summary = lake.run_hunts("post_incident", "2026-05-21T00:00Z", "2026-05-22T00:00Z")
        >>> summary[["name", "hits"]].values.tolist()
        [['persistence_not_removed', 1]]
        >>> sorted(summary.attrs["hits"])
        ['persistence_not_removed']
        """
        return _hunts.run_all(self, stage, start, end, progress=progress)

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
        use_summary: bool = True,
    ) -> pd.DataFrame:
        """Every event in ``[start, end)`` mentioning the given entities, as one normalized timeline.

        See :func:`slake_forensics.analysis.pivot.pivot` for the details.

        Parameters
        ----------
        ip, principal, access_key, bucket, instance, domain, account, start, end, sources, limit_per_source, progress, use_summary
            As for :func:`slake_forensics.analysis.pivot.pivot` (this lake is its ``lake``): entity
            values (events matching any are returned), accounts, the window ``[start, end)``, …

        Returns
        -------
        pandas.DataFrame
            The timeline columns (:data:`~slake_forensics.analysis.normalize.TIMELINE_COLUMNS`: ``time,
            source, class_name, activity, actor, src_ip, dst_ip, target, status, severity, summary,
            uid, account, region, ref``) sorted by time; queries and row counts in ``attrs``.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> tl = lake.pivot(access_key="AKIAYHYXCBKFKX3UQS3F", start="2026-05-21T03:30Z", end="2026-05-21T03:50Z",
        ...                 progress=False)
        >>> tl["source"].value_counts().to_dict()
        {'cloud_trail_mgmt': 21, 's3_data': 6}
        >>> tl["activity"].iloc[0]
        'GetCallerIdentity'
        """
        return _pivot.pivot(
            self, ip=ip, principal=principal, access_key=access_key, bucket=bucket, instance=instance,
            domain=domain, account=account, start=start, end=end, sources=sources,
            limit_per_source=limit_per_source, progress=progress, use_summary=use_summary,
        )

    def build_index(self, index_dir: str | Path | None = None, progress: bool = True) -> _entity_index.EntityIndex:
        """Build or update this lake's entity index; from then on pivots read only the files it names.

        Local and S3 lakes only (see :mod:`slake_forensics.analysis.entity_index` and
        docs/entity_index.md).  The index is kept outside the lake; only new or changed files are
        read, entries of removed files dropped.  Once built it is used automatically by
        :meth:`pivot`, :meth:`expand` and the workflows, which keep it up to date.

        Parameters
        ----------
        index_dir
            Folder of the indexes (default ``$SLAKE_INDEX_DIR`` or ``~/.cache/slake-forensics/index``).
        progress
            Show a progress bar over the files read.

        Returns
        -------
        slake_forensics.analysis.entity_index.EntityIndex
            Its ``last_update`` holds ``files``, ``indexed`` and ``dropped``.

        Examples
        --------
        >>> import tempfile
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> index = lake.build_index(tempfile.mkdtemp(), progress=False)
        >>> index.exists, index.last_update["indexed"] == index.last_update["files"] > 0
        (True, True)
        >>> lake.pivot(ip="94.130.27.54", start="2026-05-14T20:00Z", end="2026-05-14T21:00Z", progress=False).attrs["index"]["vpc_flow"]
        (1, 4)
        """
        return _entity_index.build(self, index_dir, progress=progress)

    def build_entity_summary(
        self,
        start: TimeLike,
        end: TimeLike,
        *,
        location: str,
        database: str,
        table: str = "slake_entity_summary",
        sources: Iterable[str] | None = None,
        confirm: bool = False,
        timeout: float | None = None,
    ) -> pd.DataFrame:
        """Athena: estimate, then (``confirm=True``) build the per-day entity summary that narrows pivots.

        The summary (:mod:`slake_forensics.analysis.entity_summary`, docs/entity_index.md) is a small
        Glue table ``database.table`` written at ``location``: one row per distinct ``(entity_type,
        value, source, accountid, region, eventday)`` of the pivot entities over the whole UTC days of
        ``[start, end)``.  Later :meth:`pivot` calls on this lake read only the partitions holding
        their values (``use_summary=False`` to compare without it).

        Without ``confirm`` nothing runs: the estimate is printed and returned.  It is the sum of the
        sizes of the S3 objects under each source table's partitions of those days (Glue ``GetTable``
        for the table's location, ``ListObjectsV2`` of its day folders; nothing read, no Athena
        query): an upper bound of what Athena scans, which reads only the entity columns and
        ``accountid``, ``region``, ``time_dt`` of those Parquet files.  With ``confirm`` one
        ``CREATE TABLE … WITH NO DATA`` and one ``INSERT INTO`` per source run (window bounds bound
        as parameters), then the summary's coverage is written to the Glue table's parameters.

        Parameters
        ----------
        start, end
            The window, widened to whole UTC days.
        location
            An empty ``s3://bucket/prefix/`` the summary's files are written to.
        database, table
            Glue database (it must exist; the lake's own is usually read-only) and the new table's name.
        sources
            Sources to summarize (default every source with a table).
        confirm
            Run the build (default: only estimate).
        timeout
            Seconds per statement (default the ``query_timeout`` setting).

        Returns
        -------
        pandas.DataFrame
            One row per source: ``source, tables, partitions, files, bytes`` (the estimate), and
            with ``confirm`` ``query_execution_id, data_scanned_bytes`` of its ``INSERT``;
            ``attrs`` ``bytes`` (estimated total), ``window``, ``table``, ``location``,
            ``confirmed`` and with ``confirm`` ``data_scanned_bytes`` (the build's total).

        Examples
        --------
        >>> import slake_forensics as sf
        >>> sf.Lake.sample().build_entity_summary("2026-05-14", "2026-05-15", location="s3://ir-work/ents/", database="ir")
        Traceback (most recent call last):
        ...
        slake_forensics.core.errors.BadArgumentError: build_entity_summary is for Athena lakes; a local or S3 lake has lake.build_index().
        >>> lake = sf.Lake.athena("us-east-1", workgroup="ir")  # doctest: +SKIP
        >>> est = lake.build_entity_summary("2026-11-01", "2026-12-01", location="s3://ir-work/ents/", database="ir")  # doctest: +SKIP
        Building the entity summary ir.slake_entity_summary over [2026-11-01T00:00:00+00:00, 2026-12-01T00:00:00+00:00) would scan at most 584.2 MB in 1170 files of 8 sources. Nothing was run: pass confirm=True to build it.
        >>> lake.build_entity_summary("2026-11-01", "2026-12-01", location="s3://ir-work/ents/", database="ir", confirm=True)  # doctest: +SKIP
        """
        if not isinstance(self, AthenaEngine):
            raise BadArgumentError("build_entity_summary is for Athena lakes; a local or S3 lake has lake.build_index().")
        return _entity_summary.build(
            self, start, end, location=location, database=database, table=table, types=_pivot.PIVOT_ENTITIES,
            sources=None if sources is None else list(sources), confirm=confirm, timeout=timeout,
        )

    def use_entity_summary(self, database: str, table: str = "slake_entity_summary") -> _entity_summary.EntitySummary:
        """Athena: let later pivots use the entity summary ``database.table`` built earlier for this lake.

        Its coverage is read from the Glue table's parameters; a table that is not a complete
        summary of this lake, or was built from other entity field definitions, is refused.

        Parameters
        ----------
        database, table
            Where :meth:`build_entity_summary` wrote it.

        Returns
        -------
        slake_forensics.analysis.entity_summary.EntitySummary
            Its days (``start``, ``end``), sources and entity types.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> summary = sf.Lake.athena("us-east-1").use_entity_summary("ir")  # doctest: +SKIP
        >>> summary.start, summary.end  # doctest: +SKIP
        (Timestamp('2026-11-01 00:00:00+0000', tz='UTC'), Timestamp('2026-12-01 00:00:00+0000', tz='UTC'))
        """
        if not isinstance(self, AthenaEngine):
            raise BadArgumentError("use_entity_summary is for Athena lakes; a local or S3 lake has lake.build_index().")
        return _entity_summary.attach(self, database, table)

    def fetch_rows(self, timeline_rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """The full events behind timeline rows (see :func:`slake_forensics.analysis.pivot.fetch_rows`).

        Parameters
        ----------
        timeline_rows
            As for :func:`slake_forensics.analysis.pivot.fetch_rows`: rows with ``source``, ``time``, ``uid``.

        Returns
        -------
        dict of str to pandas.DataFrame
            ``{source: flattened frame}`` with every column of the source, as :meth:`load` returns them.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> tl = lake.pivot(bucket="wingtip-customer-exports-7cd9ef", start="2026-05-21T03:44Z",
        ...                 end="2026-05-21T03:48Z", sources="cloud_trail_mgmt", progress=False)
        >>> full = lake.fetch_rows(tl)
        >>> full["cloud_trail_mgmt"]["api.operation"].tolist()
        ['DeletePublicAccessBlock', 'PutBucketPolicy']
        """
        return _pivot.fetch_rows(self, timeline_rows)

    def expand(
        self,
        seed: Mapping[str, str | Iterable[str]],
        start: TimeLike,
        end: TimeLike,
        hops: int = 2,
        max_nodes: int = 200,
        max_per_hop: int = 50,
        progress: bool = True,
    ) -> Graph:
        """The entity graph grown from ``seed`` by pivots (see :func:`slake_forensics.analysis.graph.expand`).

        Parameters
        ----------
        seed, start, end, hops, max_nodes, max_per_hop, progress
            As for :func:`slake_forensics.analysis.graph.expand` (this lake is its ``lake``).

        Returns
        -------
        slake_forensics.analysis.graph.Graph
            ``nodes`` (``id, type, value, hop, first_seen, last_seen, events``) and ``edges``
            (``src, dst, relation, events, first_seen, last_seen``).

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> g = lake.expand({"access_key": "AKIAYHYXCBKFKX3UQS3F"}, "2026-05-21T03:30Z", "2026-05-21T03:50Z",
        ...                 hops=1, max_per_hop=5, progress=False)
        >>> g.nodes["id"].tolist()[:3]
        ['access_key:AKIAYHYXCBKFKX3UQS3F', 'bucket:wingtip-customer-exports-7cd9ef', 'bucket:wingtip-production-backups-7ec437']
        >>> g.truncated
        True
        """
        return _graph.expand(self, seed, start, end, hops=hops, max_nodes=max_nodes, max_per_hop=max_per_hop, progress=progress)

    def new_for_principal(
        self,
        principal: str,
        start: TimeLike,
        end: TimeLike,
        baseline_days: float = 7,
        baseline: tuple[TimeLike, TimeLike] | None = None,
        sources: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """What ``principal`` did in ``[start, end)`` and never in its baseline (see :func:`slake_forensics.analysis.baseline.new_for_principal`).

        Parameters
        ----------
        principal, start, end, baseline_days, baseline, sources
            As for :func:`slake_forensics.analysis.baseline.new_for_principal` (this lake is its
            ``lake``), except that ``sources=None`` means CloudTrail management and S3 data events.

        Returns
        -------
        pandas.DataFrame
            Columns ``kind, value, first_seen, events``, one row per new value, ordered by ``first_seen``.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> new = lake.new_for_principal("AKIAYHYXCBKFKX3UQS3F", "2026-05-21T03:00Z", "2026-05-21T04:00Z")
        >>> new.loc[new["kind"] == "ip", "value"].tolist()
        ['103.75.108.118', '95.216.237.73']
        """
        return _baseline.new_for_principal(self, principal, start, end, baseline_days=baseline_days, baseline=baseline,
                                 sources=_baseline.API_SOURCES if sources is None else sources)

    def rare_apis(
        self, start: TimeLike, end: TimeLike, max_principals: int = 2, sources: Sequence[str] = ("cloud_trail_mgmt",)
    ) -> pd.DataFrame:
        """API calls made by at most ``max_principals`` principals in ``[start, end)`` (see :func:`slake_forensics.analysis.baseline.rare_apis`).

        Parameters
        ----------
        start, end, max_principals, sources
            As for :func:`slake_forensics.analysis.baseline.rare_apis` (this lake is its ``lake``).

        Returns
        -------
        pandas.DataFrame
            Columns ``api, principals, principal_list, events, first_seen, last_seen``, one row per rare API.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> rare = lake.rare_apis("2026-05-21T00:00Z", "2026-05-22T00:00Z", max_principals=1)
        >>> "iam:CreateUser" in set(rare["api"])
        True
        """
        return _baseline.rare_apis(self, start, end, max_principals=max_principals, sources=sources)

    # ---- constructors --------------------------------------------------------------------

    @classmethod
    def local(cls, path: str, now: TimeLike | None = None) -> Lake:
        """A lake in a local folder holding the ``aws/<SOURCE_NAME>/2.0/…`` layout.

        Parameters
        ----------
        path
            The folder (the one holding ``aws/``).
        now
            The lake's clock (``None``: real time).

        Returns
        -------
        LocalLake

        Examples
        --------
        >>> import slake_forensics as sf
        >>> folder = sf.Lake.sample().location
        >>> lake = sf.Lake.local(folder, now="2026-05-22T00:00Z")
        >>> type(lake).__name__, lake.clock()
        ('LocalLake', Timestamp('2026-05-22 00:00:00+0000', tz='UTC'))
        """
        return LocalLake(path, now=now)

    @classmethod
    def sample(cls, now: TimeLike | None = None) -> Lake:
        """The bundled sample lake (generated on first use); its clock defaults to the end of its data.

        Parameters
        ----------
        now
            The lake's clock (default: its latest event).

        Returns
        -------
        LocalLake
            Fourteen days (2026-05-11 to 2026-05-24) of eight sources and a custom one (an on-premises
            firewall under ``ext/``) with two incidents in them;
            ``sample_data/answers`` holds their answer keys.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> lake.now
        Timestamp('2026-05-24 23:59:59.999000+0000', tz='UTC')
        >>> int(lake.sources()["rows"].sum())
        564551
        """
        from slake_forensics.sample.bundled import ensure_sample_lake, sample_now

        root = ensure_sample_lake()
        if now is None:
            if root not in _SAMPLE_CLOCKS:
                _SAMPLE_CLOCKS[root] = sample_now(root)
            now = _SAMPLE_CLOCKS[root]
        return LocalLake(root, now=now)

    @classmethod
    def s3(
        cls,
        bucket_uri: str,
        region: str | None = None,
        boto3_session: boto3.Session | None = None,
        endpoint_url: str | None = None,
    ) -> Lake:
        """A lake read straight from its S3 bucket (``s3://aws-security-data-lake-…``).

        Nothing is read until the first call; credentials are resolved, not checked.

        Parameters
        ----------
        bucket_uri
            ``s3://<bucket>[/<prefix>]`` of the lake.
        region
            The lake's region (default: the session's, then boto3's lookup).
        boto3_session
            The session whose credentials to use.
        endpoint_url
            The S3 endpoint (a VPC endpoint, a proxy, a test server); default AWS's (or ``AWS_ENDPOINT_URL``).
            Every call has the configured timeouts and retries (docs/configuration.md).

        Returns
        -------
        S3Lake

        Examples
        --------
        >>> import boto3
        >>> import slake_forensics as sf
        >>> session = boto3.Session(aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="example",
        ...                         region_name="us-east-1")
        >>> lake = sf.Lake.s3("s3://aws-security-data-lake-us-east-1-abc123", boto3_session=session)
        >>> type(lake).__name__, lake.location, lake.region
        ('S3Lake', 's3://aws-security-data-lake-us-east-1-abc123', 'us-east-1')
        """
        return S3Lake(bucket_uri, region, boto3_session=boto3_session, endpoint_url=endpoint_url)

    @classmethod
    def athena(
        cls,
        region: str | None = None,
        workgroup: str = "primary",
        database: str | None = None,
        s3_output: str | None = None,
        boto3_session: boto3.Session | None = None,
        tables: Mapping[str, str] | None = None,
        endpoint_url: str | None = None,
    ) -> Lake:
        """A lake queried through Athena in ``region`` (``None``: the session's or boto3's region).

        ``database`` names the Glue database (default Security Lake's for ``region``; in a
        subscriber account, the database of your resource links).  Its tables are matched to
        sources by their link target or name, whatever the links are called; ``tables``
        (``{"cloud_trail_mgmt": "my_ct_link", "ext/<name>": …}``) names them explicitly.
        Nothing runs until the first call; credentials are resolved, not checked.

        Parameters
        ----------
        region
            The lake's region (default: the session's, then boto3's lookup).
        workgroup
            The Athena workgroup queries run in.
        database
            The Glue database (default: Security Lake's for ``region``).
        s3_output
            Where Athena writes results (default: the workgroup's setting).
        boto3_session
            The session whose credentials to use.
        tables
            Source (or ``ext/<name>``) to the Glue table that holds it, where matching by name fails.
        endpoint_url
            The endpoint of every AWS call (Athena, Glue, S3 results): a VPC endpoint, a proxy, a test
            server; default AWS's (or ``AWS_ENDPOINT_URL``).  Every call has the configured timeouts
            and retries (docs/configuration.md).

        Returns
        -------
        AthenaLake

        Examples
        --------
        >>> import boto3
        >>> import slake_forensics as sf
        >>> session = boto3.Session(aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="example",
        ...                         region_name="eu-west-1")
        >>> lake = sf.Lake.athena(boto3_session=session)
        >>> lake.location
        'athena://primary/amazon_security_lake_glue_db_eu_west_1'
        """
        return AthenaLake(
            region, workgroup=workgroup, database=database, s3_output=s3_output, boto3_session=boto3_session,
            tables=tables, endpoint_url=endpoint_url,
        )

    @classmethod
    def from_config(cls) -> Lake:
        """The lake the environment and the user's configuration file describe (see :func:`lake_from_config`).

        Returns
        -------
        Lake
            The bundled sample lake when nothing is configured.

        Examples
        --------
        >>> from unittest import mock
        >>> import slake_forensics as sf
        >>> folder = sf.Lake.sample().location
        >>> with mock.patch.dict("os.environ", {"SLAKE_LAKE": folder, "SLAKE_NOW": "2026-05-22T00:00Z"}):
        ...     lake = sf.Lake.from_config()
        >>> lake.location == folder, lake.clock()
        (True, Timestamp('2026-05-22 00:00:00+0000', tz='UTC'))
        """
        return lake_from_config()

    @classmethod
    def open(cls, location: str | None = None, now: TimeLike | None = None) -> Lake:
        """The lake a notebook's ``LAKE`` parameter names.

        ``None``: :meth:`from_config` (the bundled sample lake when nothing is configured), without
        its warning: a notebook prints ``lake.opened_because`` instead, one line.  A local folder:
        :meth:`local` with its clock at ``now``, by default at its latest event, so windows counted back from the clock land on the data of a copied or generated lake.

        Parameters
        ----------
        location
            A local lake folder, or ``None``.
        now
            The clock of a local lake (default: its latest event).

        Returns
        -------
        Lake

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.open(sf.Lake.sample().location)
        >>> lake.clock(), lake.opened_because == "LAKE = " + lake.location
        (Timestamp('2026-05-24 23:59:59.999000+0000', tz='UTC'), True)
        """
        if location is None:
            return lake_from_config(quiet=True)
        lake = cls.local(location)
        if now is None:
            last = lake.sources()["last_event"]
            now = last.max() if len(last) else None
        lake = cls.local(location, now=now)
        lake.opened_because = f"LAKE = {location}"
        return lake


class LocalLake(Lake, LocalEngine):
    """A lake in a local folder (DuckDB over its Parquet), with the investigation helpers.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> isinstance(sf.Lake.sample(), sf.lake.LocalLake)
    True
    """


class S3Lake(Lake, S3Engine):
    """A lake read from its S3 bucket, with the investigation helpers; build it with :meth:`Lake.s3`.

    Examples
    --------
    >>> import boto3
    >>> import slake_forensics as sf
    >>> creds = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "example"}
    >>> lake = sf.Lake.s3("s3://aws-security-data-lake-eu-west-1-abc123", boto3_session=boto3.Session(**creds, region_name="eu-west-1"))
    >>> isinstance(lake, sf.lake.S3Lake), lake.table_name("waf").split(".")[0]
    (True, '"amazon_security_lake_glue_db_eu_west_1"')
    """


class AthenaLake(Lake, AthenaEngine):
    """A lake queried through Athena, with the investigation helpers; build it with :meth:`Lake.athena`.

    Examples
    --------
    >>> import boto3
    >>> import slake_forensics as sf
    >>> creds = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "example"}
    >>> lake = sf.Lake.athena("us-east-1", workgroup="ir", boto3_session=boto3.Session(**creds))
    >>> isinstance(lake, sf.lake.AthenaLake), lake.workgroup
    (True, 'ir')
    """


def lake_from_config(quiet: bool = False) -> Lake:
    """Build the :class:`~slake_forensics.lake.Lake` the environment and config file choose.

    Returns ``Lake.sample()`` (with a logged message and a :class:`SampleFallbackWarning`, unless
    ``quiet``) when nothing sets a lake; ``Lake.local(path)``, ``Lake.s3(uri, region)`` or
    ``Lake.athena(region, workgroup, database, s3_output, tables)`` otherwise, with ``now`` applied
    when set.  Settings and their precedence: :mod:`slake_forensics.core.config`.

    The lake's ``opened_because`` says which setting chose it, or where ``slake.toml`` was looked
    for (:func:`~slake_forensics.core.config.lake_reason`).

    Parameters
    ----------
    quiet
        Neither log nor warn when falling back to the sample lake (the caller shows ``opened_because``).

    Returns
    -------
    Lake

    Raises
    ------
    BadConfigError
        For malformed settings.
    slake_forensics.core.errors.AwsConfigError
        From the engines, for missing AWS credentials or region.

    Examples
    --------
    >>> from unittest import mock
    >>> import slake_forensics as sf
    >>> from slake_forensics.lake import lake_from_config
    >>> with mock.patch.dict("os.environ", {"SLAKE_LAKE": sf.Lake.sample().location}):
    ...     lake = lake_from_config()
    >>> type(lake).__name__
    'LocalLake'
    """
    cfg = read_config()
    if cfg.kind == "sample":
        message = (
            "No lake configured; using the bundled sample lake. To use your own, set SLAKE_LAKE "
            "(a local folder, s3://<security-lake-bucket> or 'athena', with SLAKE_REGION and optionally "
            f"SLAKE_WORKGROUP, SLAKE_DATABASE, SLAKE_S3_OUTPUT) or write ./{LOCAL_FILE} or {USER_FILE} "
            f"(or point {CONFIG_ENV} at a file). See docs/configuration.md."
        )
        if "lake" not in cfg.origin and not quiet:
            _log.warning(message)
            warnings.warn(message, SampleFallbackWarning, stacklevel=2)
        lake = Lake.sample()
    elif cfg.kind in ("local", "s3"):
        assert cfg.target is not None  # read_config sets the folder or URI of local and S3 lakes
        lake = Lake.local(cfg.target) if cfg.kind == "local" else Lake.s3(cfg.target, cfg.region or aws_region())
    else:
        lake = Lake.athena(
            cfg.region or aws_region(), workgroup=cfg.workgroup, database=cfg.database, s3_output=cfg.s3_output,
            tables=cfg.tables,
        )
    if cfg.now is not None:
        lake.now = cfg.now
    lake.opened_because = lake_reason(cfg)
    _log.info("Lake %s from %s", lake.location, cfg.origin.get("lake", "default"))
    return lake
