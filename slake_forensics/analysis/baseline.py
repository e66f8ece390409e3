"""Baselines: what is new for a principal, which APIs are rare, which hours are unusually heavy.

:func:`new_for_principal` and :func:`rare_apis` push their windows and the principal down
into one aggregating SQL query whose ``time_dt`` predicates are the partition predicates of the
source-version-2 tables (they have no ``eventday`` column), so Athena scans only the days involved and only aggregates come back.  :func:`volume_spikes`
works on a frame you already loaded (e.g. S3 data events with a bytes column).

"Network" is a cheap stand-in for the ASN, which the lake does not record: the /24 of an
IPv4 address, the /48 of an IPv6 address.  Source "IPs" that are not addresses (CloudTrail
writes service names such as ``s3.amazonaws.com`` there) have no network.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from slake_forensics.core.timewindow import TimeLike, Window, to_utc

if TYPE_CHECKING:
    from slake_forensics.engines.base import Engine

#: The CloudTrail-shaped sources :func:`new_for_principal` reads by default.
API_SOURCES = ("cloud_trail_mgmt", "s3_data")
#: The ``kind`` values of :func:`new_for_principal`, in the order they are looked for.
KINDS = ("ip", "network", "user_agent", "api", "region", "account")
_PRINCIPAL_MATCH = (
    "(actor.user.uid = ? OR actor.user.uid_alt = ? OR actor.user.name = ? OR actor.user.credential_uid = ?)"
)


def new_for_principal(
    lake: Engine,
    principal: str,
    start: TimeLike,
    end: TimeLike,
    baseline_days: float = 7,
    baseline: tuple[TimeLike, TimeLike] | None = None,
    sources: Sequence[str] = API_SOURCES,
) -> pd.DataFrame:
    """What ``principal`` did in ``[start, end)`` that it never did in its baseline period.

    ``principal`` matches ``actor.user.uid``, ``actor.user.uid_alt``, ``actor.user.name`` or
    ``actor.user.credential_uid`` (an access key id) exactly.  The baseline is
    ``[start - baseline_days, start)`` unless ``baseline=(start, end)`` gives another window
    (it may not overlap the investigated window).  ``sources`` are CloudTrail-shaped sources.

    Returns one row per new value: ``kind`` (one of ``ip, network, user_agent, api, region,
    account``; ``api`` values are ``service:Operation`` such as ``iam:CreateUser``),
    ``value``, ``first_seen`` (UTC, in the window) and ``events`` (events in the window with
    that value), ordered by ``first_seen``, then kind and value.

    Parameters
    ----------
    lake
        The lake to query (one aggregating query).
    principal
        An ARN, principal id, user name or access key id.
    start, end
        The investigated window ``[start, end)``.
    baseline_days
        Length of the baseline just before ``start``.
    baseline
        Another baseline window ``(start, end)``.
    sources
        CloudTrail-shaped sources.

    Returns
    -------
    pandas.DataFrame
        Columns ``kind, value, first_seen, events``; ``attrs`` hold ``principal``, ``window``,
        ``baseline``, ``sources`` and ``sql``.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> new = sf.new_for_principal(lake, "arn:aws:iam::432505343723:user/svc-buildkite-deploy",
    ...                            "2026-05-21T03:00Z", "2026-05-21T05:00Z", baseline_days=2, sources=["cloud_trail_mgmt"])
    >>> new["kind"].value_counts().sort_index().to_dict()
    {'api': 13, 'ip': 2, 'network': 2, 'user_agent': 1}
    >>> new.loc[new["kind"] == "api", "value"].tolist()[-3:]
    ['iam:CreateUser', 'iam:CreateAccessKey', 'iam:AttachUserPolicy']
    """
    window = Window.of(start, end)
    base = Window.of(*baseline) if baseline is not None else Window(window.start - pd.Timedelta(days=baseline_days), window.start)
    if base.start < window.end and window.start < base.end:
        raise ValueError(f"The baseline {base} overlaps the window {window}; give a baseline outside it.")
    span = Window(min(base.start, window.start), max(base.end, window.end))
    per_source = []
    params: list[object] = []
    for name in sources:
        per_source.append(
            f"""SELECT src_endpoint.ip AS ip, http_request.user_agent AS user_agent,
       api.service.name AS service, api.operation AS operation, region, accountid,
       time_dt >= from_iso8601_timestamp(?) AND time_dt < from_iso8601_timestamp(?) AS in_window,
       time_dt
FROM {lake.table_name(name)}
WHERE (time_dt >= from_iso8601_timestamp(?) AND time_dt < from_iso8601_timestamp(?)
       OR time_dt >= from_iso8601_timestamp(?) AND time_dt < from_iso8601_timestamp(?))
  AND {_PRINCIPAL_MATCH}"""
        )
        params += [window.start, window.end]
        params += [base.start, base.end, window.start, window.end, *[principal] * 4]
    sql = f"""SELECT ip, user_agent, service, operation, region, accountid, in_window,
       min(time_dt) AS first_seen, count(*) AS events
FROM ({" UNION ALL ".join(per_source)}) AS activity
GROUP BY ip, user_agent, service, operation, region, accountid, in_window"""
    rows = _numpy_times(_query(lake, sql, params, span), ["first_seen"])
    rows["api"] = _api_name(rows["service"], rows["operation"])
    rows["network"] = _networks(rows["ip"])
    rows = rows.rename(columns={"accountid": "account"})
    found = []
    for kind in KINDS:
        part = rows[[kind, "in_window", "first_seen", "events"]].dropna(subset=[kind])
        part = part.astype({kind: str, "in_window": bool})
        seen_before = set(part.loc[~part["in_window"], kind])
        new = part[part["in_window"] & ~part[kind].isin(seen_before)]
        agg = new.groupby(kind).agg(first_seen=("first_seen", "min"), events=("events", "sum")).reset_index()
        found.append(agg.rename(columns={kind: "value"}).assign(kind=kind))
    out = pd.concat(found, ignore_index=True)[["kind", "value", "first_seen", "events"]]
    out["events"] = out["events"].astype("int64")
    out = out.sort_values(["first_seen", "kind", "value"], ignore_index=True)
    out.attrs = {"principal": principal, "window": (window.start, window.end), "baseline": (base.start, base.end),
                 "sources": list(sources), "sql": sql}
    return out


def rare_apis(
    lake: Engine,
    start: TimeLike,
    end: TimeLike,
    max_principals: int = 2,
    sources: Sequence[str] = ("cloud_trail_mgmt",),
) -> pd.DataFrame:
    """API calls made by at most ``max_principals`` distinct principals in ``[start, end)`` across the lake.

    A principal is ``actor.user.uid`` (``actor.user.name`` when the uid is null).  Returns one
    row per rare API: ``api`` (``service:Operation``), ``principals`` (distinct count),
    ``principal_list`` (sorted, ``", "``-joined), ``events``, ``first_seen``, ``last_seen``,
    ordered by ``principals``, then ``events``, then ``api``.

    Parameters
    ----------
    lake
        The lake to query (one aggregating query).
    start, end
        The window ``[start, end)``.
    max_principals
        An API is rare when at most this many distinct principals called it.
    sources
        CloudTrail-shaped sources.

    Returns
    -------
    pandas.DataFrame
        Columns ``api, principals, principal_list, events, first_seen, last_seen``.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> rare = sf.rare_apis(lake, "2026-05-21T00:00Z", "2026-05-22T00:00Z", max_principals=1)
    >>> row = rare.set_index("api").loc["iam:CreateUser"]
    >>> row["principal_list"], int(row["events"])
    ('arn:aws:iam::432505343723:user/svc-buildkite-deploy', 1)
    """
    window = Window.of(start, end)
    per_source = [
        f"""SELECT api.service.name AS service, api.operation AS operation,
       coalesce(actor.user.uid, actor.user.name) AS principal, time_dt
FROM {lake.table_name(name)}
WHERE time_dt >= from_iso8601_timestamp(?) AND time_dt < from_iso8601_timestamp(?)"""
        for name in sources
    ]
    params: list[object] = []
    for _ in sources:
        params += [window.start, window.end]
    sql = f"""SELECT service, operation, principal, count(*) AS events, min(time_dt) AS first_seen,
       max(time_dt) AS last_seen
FROM ({" UNION ALL ".join(per_source)}) AS calls
WHERE operation IS NOT NULL
GROUP BY service, operation, principal"""
    rows = _numpy_times(_query(lake, sql, params, window), ["first_seen", "last_seen"])
    rows["api"] = _api_name(rows["service"], rows["operation"]).astype(str)
    rows["principal"] = rows["principal"].astype("string")
    grouped = rows.groupby("api")
    out = pd.DataFrame(
        {
            "principals": grouped["principal"].nunique(),
            "principal_list": grouped["principal"].agg(lambda p: ", ".join(sorted(p.dropna().unique()))),
            "events": grouped["events"].sum().astype("int64"),
            "first_seen": grouped["first_seen"].min(),
            "last_seen": grouped["last_seen"].max(),
        }
    ).reset_index()
    out = out[out["principals"] <= max_principals]
    out = out.sort_values(["principals", "events", "api"], ignore_index=True)
    out.attrs = {"window": (window.start, window.end), "max_principals": max_principals, "sql": sql}
    return out


def volume_spikes(
    df: pd.DataFrame,
    by: str = "actor.user.uid",
    value: str | None = "bytes",
    freq: str = "1h",
    baseline: tuple[TimeLike, TimeLike] | None = None,
    threshold: float = 10.0,
    min_baseline_bins: int = 3,
    *,
    time: str = "time_dt",
) -> pd.DataFrame:
    """Hours (or ``freq`` bins) in which a ``by`` group moved far more ``value`` than it usually does.

    ``value`` is a numeric column summed per bin (``None`` counts events).  Each group's
    baseline is the **median of its active bins** (bins with at least one event) inside
    ``baseline=(start, end)``, or over the whole frame when ``baseline`` is ``None``; bins
    inside the baseline window are not scored.  ``ratio = total / baseline_median``; a bin
    is a ``spike`` when ``ratio >= threshold``.  ``z`` is the robust z-score
    ``(total - median) / (1.4826 * MAD)`` (NaN when the MAD is 0), for ranking.  Groups with
    fewer than ``min_baseline_bins`` active baseline bins have no baseline: NaN ratio, never a spike.

    Returns one row per scored (group, bin) with events: ``by`` column, ``time`` (bin start,
    UTC), ``total``, ``events``, ``baseline_median``, ``ratio``, ``z``, ``spike``; ordered by
    ``time`` then group.

    Parameters
    ----------
    df
        Events (e.g. ``Lake.load`` of ``s3_data``).
    by
        The column whose values are the groups.
    value
        A numeric column to sum per bin, or ``None`` to count events.
    freq
        The bin width (a pandas frequency).
    baseline
        The baseline window ``(start, end)``; ``None``: the whole frame.
    threshold
        The ``ratio`` at which a bin is a spike.
    min_baseline_bins
        Active baseline bins a group needs to have a baseline.
    time
        The time column.

    Returns
    -------
    pandas.DataFrame
        Columns ``<by>, time, total, events, baseline_median, ratio, z, spike``.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> reads = lake.load("s3_data", "2026-05-18T00:00Z", "2026-05-22T00:00Z", columns=["time_dt", "actor.user.uid"])
    >>> hours = sf.volume_spikes(reads, value=None, baseline=("2026-05-18T00:00Z", "2026-05-21T00:00Z"))
    >>> spikes = hours[hours["spike"]]
    >>> spikes["actor.user.uid"].unique().tolist(), spikes["time"].dt.hour.tolist(), spikes["events"].tolist()
    (['arn:aws:iam::432505343723:user/svc-buildkite-deploy'], [3, 4], [281, 1802])
    """
    if value is not None and value not in df.columns:
        numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]
        raise KeyError(f"No column {value!r} to sum; numeric columns are {numeric} (or value=None to count events).")
    times = pd.to_datetime(df[time], utc=True)
    work = pd.DataFrame(
        {
            by: df[by].to_numpy(dtype=object),
            "time": times.dt.floor(freq),
            "total": 1.0 if value is None else pd.to_numeric(df[value], errors="coerce").astype("float64").fillna(0.0),
        }
    )
    bins = work.groupby([by, "time"], dropna=False).agg(total=("total", "sum"), events=("total", "size")).reset_index()
    if baseline is not None:
        base = Window.of(*baseline)
        in_base = (bins["time"] >= base.start) & (bins["time"] < base.end)
    else:
        in_base = pd.Series(True, index=bins.index)
    stats = bins[in_base].groupby(by, dropna=False)["total"].agg(
        baseline_median="median",
        mad=lambda x: float(np.median(np.abs(x - np.median(x)))),
        baseline_bins="size",
    )
    scored = bins[~in_base] if baseline is not None else bins
    scored = scored.merge(stats, how="left", left_on=by, right_index=True)
    enough = scored["baseline_bins"].fillna(0) >= min_baseline_bins
    median = scored["baseline_median"].where(enough)
    with np.errstate(divide="ignore", invalid="ignore"):
        scored["ratio"] = scored["total"] / median
        mad = scored["mad"].where(enough & (scored["mad"] > 0))
        scored["z"] = (scored["total"] - median) / (1.4826 * mad)
    scored["baseline_median"] = median
    scored["spike"] = (scored["ratio"] >= threshold).fillna(False).astype(bool)
    out = scored[[by, "time", "total", "events", "baseline_median", "ratio", "z", "spike"]]
    out = out.sort_values(["time", by], ignore_index=True)
    out.attrs = {"by": by, "value": value, "freq": freq, "threshold": threshold,
                 "baseline": None if baseline is None else (to_utc(baseline[0]), to_utc(baseline[1]))}
    return out


def _query(lake: Engine, sql: str, params: list[object], window: Window) -> pd.DataFrame:
    """``lake.sql``, telling engines that fetch files per window (the S3 lake) which window the SQL reads."""
    return lake.sql(sql, params, start=window.start, end=window.end)


def _numpy_times(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``columns`` as ``datetime64[ms, UTC]``: pandas' groupby min/max warn on Arrow timestamps."""
    return df.astype({c: "datetime64[ms, UTC]" for c in columns})


def _api_name(service: pd.Series, operation: pd.Series) -> pd.Series:
    """``service:Operation`` with the service's first DNS label (``iam.amazonaws.com`` → ``iam``)."""
    svc = service.astype("string").str.split(".").str[0].fillna("?")
    return (svc + ":" + operation.astype("string")).astype("string")


def _networks(ips: pd.Series) -> pd.Series:
    """The /24 (IPv4) or /48 (IPv6) network of each address; ``<NA>`` for nulls and non-addresses."""
    uniques = ips.dropna().unique()
    nets = {ip: _network(str(ip)) for ip in uniques}
    return ips.map(nets).astype("string")


def _network(ip: str) -> str | None:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))
