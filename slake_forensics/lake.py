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
from typing import TYPE_CHECKING, Any

import logging
import warnings

import pandas as pd

from slake_forensics.analysis import baseline as _baseline, graph as _graph, hunts as _hunts, pivot as _pivot, sigma as _sigma
from slake_forensics.core.config import CONFIG_ENV, LOCAL_FILE, USER_FILE, SampleFallbackWarning, aws_region, read_config
from slake_forensics.core.timewindow import TimeLike
from slake_forensics.engines.athena import AthenaEngine
from slake_forensics.engines.base import Engine, Explanation
from slake_forensics.engines.local import LocalEngine
from slake_forensics.engines.s3 import S3Engine

if TYPE_CHECKING:
    import boto3

_log = logging.getLogger(__name__)

__all__ = ["Lake", "LocalLake", "S3Lake", "AthenaLake", "Explanation"]


class Lake(Engine):
    """A Security Lake with the investigation helpers as methods.

    Build one with :meth:`sample`, :meth:`local`, :meth:`s3`, :meth:`athena`, :meth:`from_config`
    or :meth:`open`.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> sorted(lake.sources()["source"])[:3]
    ['cloud_trail_mgmt', 'eks_audit', 'lambda_execution']
    """

    # ---- investigation helpers: thin delegations to their modules --------------------------

    def hunt(self, name: str, start: TimeLike | None = None, end: TimeLike | None = None, **params: Any) -> pd.DataFrame:
        """Run one hunt (see :func:`slake_forensics.analysis.hunts.run`): its hits, one row per hit."""
        return _hunts.run(self, name, start, end, **params)

    def sigma(self, path: str, start: TimeLike | None = None, end: TimeLike | None = None, **kwargs: Any) -> pd.DataFrame:
        """Run one Sigma CloudTrail rule (see :func:`slake_forensics.analysis.sigma.run`): matching events, one row per event."""
        return _sigma.run(self, path, start, end, **kwargs)

    def run_hunts(self, stage: str | None = None, start: TimeLike | None = None, end: TimeLike | None = None) -> pd.DataFrame:
        """Run every hunt, or those of one NIST stage (see :func:`slake_forensics.analysis.hunts.run_all`):
        one summary row per hunt, hits per hunt in ``attrs["hits"]``."""
        return _hunts.run_all(self, stage, start, end)

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
        sorted by time (see :func:`slake_forensics.analysis.pivot.pivot`; queries and row counts in ``attrs``)."""
        return _pivot.pivot(
            self, ip=ip, principal=principal, access_key=access_key, bucket=bucket, instance=instance,
            domain=domain, account=account, start=start, end=end, sources=sources,
            limit_per_source=limit_per_source, progress=progress,
        )

    def fetch_rows(self, timeline_rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """The full events behind timeline rows: ``{source: flattened frame}`` (see
        :func:`slake_forensics.analysis.pivot.fetch_rows`)."""
        return _pivot.fetch_rows(self, timeline_rows)

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
        :class:`slake_forensics.analysis.graph.Graph` (see :func:`slake_forensics.analysis.graph.expand`)."""
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
        """What ``principal`` did in ``[start, end)`` and never in its baseline: ``kind, value, first_seen,
        events`` (see :func:`slake_forensics.analysis.baseline.new_for_principal`; ``sources`` default CloudTrail + S3 data)."""
        return _baseline.new_for_principal(self, principal, start, end, baseline_days=baseline_days, baseline=baseline,
                                 sources=_baseline.API_SOURCES if sources is None else sources)

    def rare_apis(
        self, start: TimeLike, end: TimeLike, max_principals: int = 2, sources: Sequence[str] = ("cloud_trail_mgmt",)
    ) -> pd.DataFrame:
        """API calls made by at most ``max_principals`` principals in ``[start, end)``, one row per API
        (see :func:`slake_forensics.analysis.baseline.rare_apis`)."""
        return _baseline.rare_apis(self, start, end, max_principals=max_principals, sources=sources)

    # ---- constructors --------------------------------------------------------------------

    @classmethod
    def local(cls, path: str, now: TimeLike | None = None) -> Lake:
        """A lake in a local folder holding the ``aws/<SOURCE_NAME>/2.0/…`` layout."""
        return LocalLake(path, now=now)

    @classmethod
    def sample(cls, now: TimeLike | None = None) -> Lake:
        """The bundled sample lake (generated on first use); its clock defaults to the end of its data."""
        from slake_forensics.sample.bundled import ensure_sample_lake, sample_now

        root = ensure_sample_lake()
        return LocalLake(root, now=sample_now(root) if now is None else now)

    @classmethod
    def s3(cls, bucket_uri: str, region: str, boto3_session: boto3.Session | None = None) -> Lake:
        """A lake read straight from its S3 bucket (``s3://aws-security-data-lake-…``)."""
        return S3Lake(bucket_uri, region, boto3_session=boto3_session)

    @classmethod
    def athena(
        cls,
        region: str | None,
        workgroup: str = "primary",
        database: str | None = None,
        s3_output: str | None = None,
        boto3_session: boto3.Session | None = None,
        tables: Mapping[str, str] | None = None,
    ) -> Lake:
        """A lake queried through Athena in ``region`` (``None``: the session's or boto3's region).

        ``database`` names the Glue database (default Security Lake's for ``region``; in a
        subscriber account, the database of your resource links).  Its tables are matched to
        sources by their link target or name, whatever the links are called; ``tables``
        (``{"cloud_trail_mgmt": "my_ct_link", "ext/<name>": …}``) names them explicitly.
        """
        return AthenaLake(
            region, workgroup=workgroup, database=database, s3_output=s3_output, boto3_session=boto3_session,
            tables=tables,
        )

    @classmethod
    def from_config(cls) -> Lake:
        """The lake the user's configuration file describes."""
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


class LocalLake(Lake, LocalEngine):
    """A lake in a local folder (DuckDB over its Parquet), with the investigation helpers."""


class S3Lake(Lake, S3Engine):
    """A lake read from its S3 bucket, with the investigation helpers."""


class AthenaLake(Lake, AthenaEngine):
    """A lake queried through Athena, with the investigation helpers."""


def lake_from_config() -> Lake:
    """Build the :class:`~slake_forensics.lake.Lake` the environment and config file choose.

    Returns ``Lake.sample()`` (with a logged message and a :class:`SampleFallbackWarning`)
    when nothing sets a lake; ``Lake.local(path)``, ``Lake.s3(uri, region)`` or
    ``Lake.athena(region, workgroup, database, s3_output, tables)`` otherwise, with ``now`` applied
    when set.  Raises :class:`BadConfigError` for malformed settings, and
    :class:`~slake_forensics.core.errors.AwsConfigError` (from the engines) for missing AWS
    credentials or region.
    """
    cfg = read_config()
    if cfg.kind == "sample":
        message = (
            "No lake configured; using the bundled sample lake. To use your own, set SLAKE_LAKE "
            "(a local folder, s3://<security-lake-bucket> or 'athena', with SLAKE_REGION and optionally "
            f"SLAKE_WORKGROUP, SLAKE_DATABASE, SLAKE_S3_OUTPUT) or write ./{LOCAL_FILE} or {USER_FILE} "
            f"(or point {CONFIG_ENV} at a file). See docs/configuration.md."
        )
        if "lake" not in cfg.origin:
            _log.warning(message)
            warnings.warn(message, SampleFallbackWarning, stacklevel=2)
        lake = Lake.sample()
    elif cfg.kind == "local":
        lake = Lake.local(cfg.target)
    elif cfg.kind == "s3":
        lake = Lake.s3(cfg.target, cfg.region or aws_region())
    else:
        lake = Lake.athena(
            cfg.region or aws_region(), workgroup=cfg.workgroup, database=cfg.database, s3_output=cfg.s3_output,
            tables=cfg.tables,
        )
    if cfg.now is not None:
        lake.now = cfg.now
    _log.info("Lake %s from %s", lake.location, cfg.origin.get("lake", "default"))
    return lake
