"""The evidence rules of ``investigate()``: the two playbooks, containment and related findings.

Two playbooks, one per kind of finding (see :mod:`slake_forensics.workflows.investigation` for
what each looks for): :func:`key_incident` for a finding on an access key, :func:`instance_incident`
for a finding on an instance.  Each returns the incident's tagged events (the attacker's, and the
responders' containment actions on the scope), its scope and the data it read;
:func:`related_findings` finds the threat findings about it.  The operations each rule matches are
data: ``data/investigation.yaml``, read once at import and checked.
"""
from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from slake_forensics.analysis.baseline import API_SOURCES
from slake_forensics.analysis.normalize import as_timeline, empty_timeline, normalize, projection
from slake_forensics.core.timewindow import Window
from slake_forensics.sql.build import scope_predicate
from slake_forensics.workflows import _data
from slake_forensics.workflows.containment import SCOPE_COLUMNS as _PLAN_SCOPE
from slake_forensics.workflows.triage import findings

if TYPE_CHECKING:
    from slake_forensics.lake import Lake

_RULES = _data.load("investigation.yaml")
#: Scope kinds of what the attacker created (the values of ``persistence_operations``).
PERSISTENCE_KINDS = ("created_user", "created_key", "created_login_profile", "attached_policy")
#: Scope kinds of the buckets the attacker exposed (the values of ``bucket_exposure_operations``).
EXPOSURE_KINDS = ("bucket_policy_changed", "public_access_block_removed")
#: Destination ports of ordinary outbound traffic (not counted as command-and-control).
WEB_PORTS = frozenset(node.number(0, 65535) for node in _RULES["web_ports"].items())
#: CloudTrail operations a responder uses to contain or eradicate; matched to the scope by request fields.
CONTAINMENT_OPERATIONS: tuple[str, ...] = _RULES["containment_operations"].texts()
#: The attacker's calls that create persistence -> the scope kind of what they created.
PERSISTENCE_OPERATIONS: dict[str, str] = _RULES["persistence_operations"].text_map(values=PERSISTENCE_KINDS)
#: The attacker's calls that expose a bucket -> the bucket's scope kind.
BUCKET_EXPOSURE_OPERATIONS: dict[str, str] = _RULES["bucket_exposure_operations"].text_map(values=EXPOSURE_KINDS)
#: The columns of an incident's scope: those :func:`slake_forensics.workflows.containment.plan` reads.
SCOPE_COLUMNS = list(_PLAN_SCOPE)


# ---- the two playbooks ---------------------------------------------------------------------


@dataclass
class Context:
    """One investigation: the lake, its window and baseline window, the finding's account."""

    lake: Lake
    window: Window
    base: Window
    account: str
    progress: bool

    def pivot(self, window: Window | None = None, **entities: Any) -> pd.DataFrame:
        w = window or self.window
        return self.lake.pivot(start=w.start, end=w.end, progress=self.progress, **entities)

    def rows(self, timeline: pd.DataFrame) -> pd.DataFrame:
        """Full CloudTrail/S3 rows behind API timeline rows, with ``source, ip, key, op, ok`` and ``ref``."""
        return _api_rows(self.lake, timeline)


def key_incident(ctx: Context, keys: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(events, scope, data access)`` of a finding on the access keys ``keys``."""
    base = ctx.rows(ctx.pivot(ctx.base, access_key=keys, sources=list(API_SOURCES)))
    usual = set(base.loc[base["key"].isin(keys), "ip"]) if len(base) else set()
    rows = ctx.rows(ctx.pivot(access_key=keys, sources=list(API_SOURCES)))
    bad = rows[rows["key"].isin(keys) & ~rows["ip"].isin(usual) & rows["ip"].map(_is_ip)]
    scope = _persistence(bad)
    created_keys = scope.loc[scope["kind"] == "created_key", "value"].tolist()
    if created_keys:
        more = ctx.rows(ctx.pivot(access_key=created_keys, sources=list(API_SOURCES)))
        bad = pd.concat([bad, more[more["key"].isin(created_keys)]]).drop_duplicates("ref")
        scope = _persistence(bad)
    bad = bad.sort_values("time_dt")
    malicious = tag(_timeline_of(bad), "malicious", "the attacker's call")
    scope = concat(pd.DataFrame([_scope_row("compromised_key", k, bad[bad["key"] == k], owner=_owner(bad, k)) for k in keys
                                  if (bad["key"] == k).any()], columns=SCOPE_COLUMNS), scope,
                    _bucket_exposure(bad), _ip_rows(bad))
    data = _data_access(bad)
    containment = _containment(ctx, scope, bad)
    return concat(malicious, containment), scope.reset_index(drop=True), data


def instance_incident(ctx: Context, instances: list[str], finding: pd.Series,
                      min_flows: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(events, scope, data access)`` of a finding on ``instances`` (the first one is followed)."""
    inst = instances[0]
    # network: sustained new outbound destinations off the web ports
    base = ctx.pivot(Window(ctx.base.start, pd.Timestamp(finding["first_seen"]) - pd.Timedelta(hours=6)),
                     instance=inst, sources=["vpc_flow"])
    tl = ctx.pivot(instance=inst, sources=["vpc_flow", "route53"])
    seen = set(_outbound(base, inst)["dest"])
    flows = _outbound(tl, inst)
    new = flows[~flows["dest"].isin(seen) & flows["dst_ip"].map(is_public) & ~flows["port"].isin(WEB_PORTS)]
    counts = new.groupby("dest").size()  # per address *and* port: replies to scanners go to ever-changing ports
    sustained = set(counts[counts >= min_flows].index)
    bad_flows = new[new["dest"].isin(sustained)]
    c2 = set(bad_flows["dst_ip"].astype(object))
    events = [tag(bad_flows.drop(columns=["dest", "port"]), "malicious", "sustained flow to a new outside address")]
    # DNS: names resolving to those addresses, and names first resolved in the hour before the first flow
    dns_tl = tl[(tl["source"] == "route53") & (tl["actor"].astype(object) == inst)]
    dns = ctx.lake.fetch_rows(dns_tl).get("route53", pd.DataFrame())
    domains: set[str] = set()
    if len(dns) and c2:
        to_c2 = [bool(_rdata(a) & c2) for a in dns["answers"].tolist()]
        domains = set(dns.loc[to_c2, "query.hostname"].astype(object))
        first_flow = bad_flows["time"].min()
        base_dns = ctx.pivot(ctx.base, instance=inst, sources=["route53"])
        known = set(base_dns["target"].astype(object)) | set(dns_tl.loc[dns_tl["time"] < first_flow - pd.Timedelta(hours=1), "target"].astype(object))
        staging = dns_tl[(dns_tl["time"] >= first_flow - pd.Timedelta(hours=1)) & (dns_tl["time"] <= first_flow)
                         & ~dns_tl["target"].astype(object).isin(known)]
        domains |= set(staging["target"].astype(object))
        events.append(tag(dns_tl[dns_tl["target"].astype(object).isin(domains)], "malicious",
                           "lookup of a pool/C2 name or a name first resolved just before the outside traffic"))
    # credentials: the instance-role session (session name = instance id) used from addresses it never used
    sessions = _instance_session_rows(ctx, inst, ctx.window)
    base_sessions = _instance_session_rows(ctx, inst, ctx.base)
    usual = set(base_sessions["ip"]) if len(base_sessions) else set()
    stolen = sessions[~sessions["ip"].isin(usual) & sessions["ip"].map(is_public)] if len(sessions) else sessions
    if len(stolen):
        events.append(tag(_timeline_of(stolen), "malicious", "instance-role credentials used from outside the instance"))
    scope_rows = [_scope_row("instance", inst, None, account=ctx.account, region=str(finding["region"]),
                             detail=str(finding["type"]))]
    for (role, key), g in (stolen.groupby(["role", "key"]) if len(stolen) else []):
        scope_rows.append(_scope_row("role_session", role, g, detail=key, owner=str(g["actor.user.uid"].iloc[0])))
    scope = concat(pd.DataFrame(scope_rows, columns=SCOPE_COLUMNS),
                    pd.DataFrame([_scope_row("domain", d, None, account=ctx.account, region=str(finding["region"]),
                                             detail="resolved by the instance") for d in sorted(domains)], columns=SCOPE_COLUMNS),
                    _ip_rows(stolen),
                    pd.DataFrame([_scope_row("attacker_ip", ip, None, account=ctx.account, region=str(finding["region"]),
                                             detail="pool/C2 destination") for ip in sorted(c2)], columns=SCOPE_COLUMNS))
    malicious = concat(*events)
    containment = _containment(ctx, scope, stolen if len(stolen) else None, first=malicious["time"].min() if len(malicious) else None)
    return concat(malicious, containment), scope.reset_index(drop=True), pd.DataFrame(
        columns=["bucket", "objects_read", "bytes_out", "first", "last"])


# ---- evidence helpers ------------------------------------------------------------------------


def _api_rows(lake: Lake, timeline: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for src, df in lake.fetch_rows(timeline[timeline["source"].isin(API_SOURCES)]).items():
        if len(df):
            frames.append(df.assign(source=src))
    if not frames:
        return pd.DataFrame(columns=["source", "time_dt", "ip", "key", "op", "ok", "ref", "metadata.uid"])
    df = pd.concat(frames, ignore_index=True)
    df["ip"] = df["src_endpoint.ip"].astype(object)
    df["key"] = df["actor.user.credential_uid"].astype(object)
    df["op"] = df["api.operation"].astype(object)
    df["ok"] = df["api.response.error"].isna()
    df["ref"] = df["source"] + ":" + df["metadata.uid"].astype(str)
    return df


def _instance_session_rows(ctx: Context, inst: str, w: Window) -> pd.DataFrame:
    """CloudTrail calls made with an instance-role session of ``inst`` in ``w``, with ``role`` (the role name)."""
    tl = where(ctx.lake, "cloud_trail_mgmt", "accountid = ? AND actor.user.type = ? AND actor.user.uid LIKE ?",
                [ctx.account, "AssumedRole", f"%/{inst}"], w)
    if tl.empty:
        return pd.DataFrame(columns=["source", "time_dt", "ip", "key", "op", "ok", "ref", "role"])
    rows = _api_rows(ctx.lake, tl)
    rows["role"] = rows["actor.user.uid"].astype(str).str.split("/").str[-2]
    return rows


def _outbound(tl: pd.DataFrame, inst: str) -> pd.DataFrame:
    df = tl[(tl["source"] == "vpc_flow") & (tl["actor"].astype(object) == inst)]
    return df.assign(dest=df["target"].astype(object),
                     port=pd.to_numeric(df["target"].astype(object).str.rsplit(":", n=1).str[-1], errors="coerce"))


def _persistence(bad: pd.DataFrame) -> pd.DataFrame:
    """Identities, keys, console passwords and policies the attacker's successful calls created."""
    rows = []
    for _, r in bad[bad["op"].isin(PERSISTENCE_OPERATIONS) & bad["ok"]].iterrows():
        req, resp, kind = _json(r["api.request.data"]), _json(r["api.response.data"]), PERSISTENCE_OPERATIONS[r["op"]]
        one = bad[bad["ref"] == r["ref"]]
        if kind == "created_user":
            rows.append(_scope_row(kind, req.get("userName"), one))
        elif kind == "created_key":
            key = (resp.get("accessKey") or {}).get("accessKeyId")
            rows.append(_scope_row(kind, key, one, owner=req.get("userName") or (resp.get("accessKey") or {}).get("userName")))
        elif kind == "created_login_profile":
            rows.append(_scope_row(kind, req.get("userName"), one))
        else:
            target = f"user/{req['userName']}" if req.get("userName") else f"role/{req.get('roleName')}"
            rows.append(_scope_row(kind, req.get("policyArn") or req.get("policyName"), one, owner=target, detail=r["op"]))
    df = pd.DataFrame([r for r in rows if r["value"]], columns=SCOPE_COLUMNS)
    return df.drop_duplicates(["kind", "value", "owner"])


def _bucket_exposure(bad: pd.DataFrame) -> pd.DataFrame:
    rows = [_scope_row(BUCKET_EXPOSURE_OPERATIONS[r["op"]], _json(r["api.request.data"]).get("bucketName"),
                       bad[bad["ref"] == r["ref"]], detail=r["op"])
            for _, r in bad[bad["op"].isin(BUCKET_EXPOSURE_OPERATIONS) & bad["ok"]].iterrows()]
    return pd.DataFrame([r for r in rows if r["value"]], columns=SCOPE_COLUMNS).drop_duplicates(["kind", "value"])


def _ip_rows(bad: pd.DataFrame) -> pd.DataFrame:
    if bad is None or bad.empty:
        return pd.DataFrame(columns=SCOPE_COLUMNS)
    return pd.DataFrame([_scope_row("attacker_ip", ip, g, detail=f"{len(g)} calls") for ip, g in bad.groupby("ip", sort=False)],
                        columns=SCOPE_COLUMNS).sort_values("first_seen")


def _data_access(bad: pd.DataFrame) -> pd.DataFrame:
    gets = bad[(bad["source"] == "s3_data") & (bad["op"] == "GetObject") & bad["ok"]]
    if gets.empty:
        return pd.DataFrame(columns=["bucket", "objects_read", "bytes_out", "first", "last"])
    gets = gets.assign(bucket=gets["api.request.data"].map(lambda t: _json(t).get("bucketName")),
                       bytes_out=gets["unmapped"].map(_bytes_out), time_dt=gets["time_dt"].astype("datetime64[ms, UTC]"))
    return (gets.groupby("bucket").agg(objects_read=("ref", "size"), bytes_out=("bytes_out", "sum"),
                                       first=("time_dt", "min"), last=("time_dt", "max"))
            .reset_index().sort_values("bytes_out", ascending=False, ignore_index=True))


def _containment(ctx: Context, scope: pd.DataFrame, bad: pd.DataFrame | None,
                 first: pd.Timestamp | None = None) -> pd.DataFrame:
    """Responder actions on the scope after the first malicious event, as tagged timeline rows."""
    start = first if first is not None else (bad["time_dt"].min() if bad is not None and len(bad) else ctx.window.start)
    w = Window(start, ctx.window.end)
    marks = ", ".join("?" for _ in CONTAINMENT_OPERATIONS)
    tl = where(ctx.lake, "cloud_trail_mgmt", f"accountid = ? AND api.operation IN ({marks}) AND api.response.error IS NULL",
                [ctx.account, *CONTAINMENT_OPERATIONS], w)
    if tl.empty:
        return tag(empty_timeline(), "containment", "")
    rows = _api_rows(ctx.lake, tl)
    attacker_keys = set(bad["key"]) if bad is not None and len(bad) else set()
    rows = rows[~rows["key"].isin(attacker_keys)]
    sets = {k: set(scope.loc[scope["kind"] == k, "value"]) for k in scope["kind"].unique()}
    keys = sets.get("compromised_key", set()) | sets.get("created_key", set())
    users = sets.get("created_user", set())
    buckets = sets.get("bucket_policy_changed", set()) | sets.get("public_access_block_removed", set())
    instances, roles = sets.get("instance", set()), sets.get("role_session", set())
    picked, isolation_groups = [], set()
    for _, r in rows.sort_values("time_dt").iterrows():
        req, op = _json(r["api.request.data"]), r["op"]
        why = None
        if op == "UpdateAccessKey" and req.get("accessKeyId") in keys and req.get("status") == "Inactive":
            why = "access key deactivated"
        elif op == "DeleteAccessKey" and req.get("accessKeyId") in keys:
            why = "access key deleted"
        elif op in {"DeleteUser", "DeleteLoginProfile", "DetachUserPolicy", "PutUserPolicy"} and req.get("userName") in users:
            why = f"attacker-created user {op}"
        elif op in {"PutPublicAccessBlock", "PutBucketPolicy", "DeleteBucketPolicy"} and req.get("bucketName") in buckets:
            why = f"bucket access restored ({op})"
        elif op in {"PutRolePolicy", "DetachRolePolicy"} and req.get("roleName") in roles and "Deny" in str(req.get("policyDocument", "Deny")):
            why = "role sessions revoked or role restricted"
        elif op in {"ModifyInstanceAttribute", "DisassociateIamInstanceProfile"} \
                and instances & _instance_ids(req) and (op != "ModifyInstanceAttribute" or req.get("groupSet")):
            why = f"instance isolated ({op})"
            isolation_groups |= {g.get("groupId") for g in (req.get("groupSet") or {}).get("items", [])}
        if why:
            picked.append((r, why))
    for _, r in rows[rows["op"] == "CreateSecurityGroup"].iterrows():
        if (_json(r["api.response.data"]).get("groupId")) in isolation_groups:
            picked.append((r, "isolation security group created"))
    if not picked:
        return tag(empty_timeline(), "containment", "")
    return concat(*[tag(_timeline_of(pd.DataFrame([r])), "containment", why) for r, why in picked])


def related_findings(lake: Lake, window: Window, scope: pd.DataFrame, events: pd.DataFrame,
                     min_severity: int) -> pd.DataFrame:
    """Threat findings of ``min_severity`` or above naming one of the incident's entities, first
    seen at or after its first malicious event, earliest first."""
    mal = events.loc[events["role"] == "malicious", "time"]
    if mal.empty:
        return findings(lake, window.start, window.end).iloc[0:0]
    tri = findings(lake, mal.min(), window.end)
    names = {str(v) for v in scope["value"] if v}
    if tri.empty or not names:
        return tri.iloc[0:0]
    text = tri["title"].astype(str) + " " + tri["resource_uids"].map(" ".join) + " " + tri["resource_data"].map(
        lambda d: " ".join(str(x) for x in d if x))
    hit = text.map(lambda s: any(n in s for n in names))
    return tri[hit & tri["threat"] & (tri["severity_id"] >= min_severity) & (tri["first_seen"] >= mal.min())].sort_values("first_seen", ignore_index=True)


# ---- small pieces ------------------------------------------------------------------------------


def where(lake: Lake, source: str, condition: str, params: Sequence[Any], w: Window) -> pd.DataFrame:
    """Timeline rows of ``source`` in ``w`` meeting ``condition`` (Athena SQL with ``?`` bound to ``params``)."""
    scope, bound = scope_predicate(w)
    sql = f"SELECT {projection(source)} FROM {lake.table_name(source)} WHERE {' AND '.join(scope)} AND ({condition})"
    return as_timeline(lake.sql(sql, [*bound, *params], start=w.start, end=w.end))


def _timeline_of(rows: pd.DataFrame) -> pd.DataFrame:
    """Timeline rows for full CloudTrail/S3 rows (keeps their order)."""
    if rows.empty:
        return empty_timeline()
    parts = [normalize(g.drop(columns=[c for c in ("source", "ip", "key", "op", "ok", "ref", "role") if c in g]), src)
             for src, g in rows.groupby("source", sort=False)]
    return pd.concat(parts, ignore_index=True).sort_values("time", ignore_index=True)


def tag(tl: pd.DataFrame, role: str, why: str) -> pd.DataFrame:
    """Timeline rows with their ``role`` in the incident and ``why``."""
    return tl.assign(role=role, why=why)


def concat(*frames: pd.DataFrame | None) -> pd.DataFrame:
    """The rows of ``frames`` (None and column-less frames skipped); the first frame's columns when all are empty."""
    kept = [f for f in frames if f is not None and len(f.columns)]
    non_empty = [f for f in kept if len(f)]
    return pd.concat(non_empty, ignore_index=True) if non_empty else (kept[0].iloc[0:0] if kept else pd.DataFrame())


def _scope_row(kind: str, value: Any, rows: pd.DataFrame | None, *, owner: str | None = None, detail: str | None = None,
               account: str | None = None, region: str | None = None) -> dict[str, Any]:
    """One scope row (:data:`SCOPE_COLUMNS`); account, region, times and evidence default to those of ``rows``."""
    row = {"kind": kind, "value": None if value is None else str(value), "account": account, "region": region,
           "owner": owner, "first_seen": pd.NaT, "last_seen": pd.NaT, "evidence_uid": None, "detail": detail}
    if rows is not None and len(rows):
        row |= {"account": account or str(rows["accountid"].iloc[0]), "region": region or str(rows["region"].iloc[0]),
                "first_seen": rows["time_dt"].min(), "last_seen": rows["time_dt"].max(),
                "evidence_uid": str(rows["metadata.uid"].iloc[0])}
    return row


def _owner(rows: pd.DataFrame, key: str) -> str | None:
    """The IAM user name owning ``key``, from its calls' ``actor.user.name`` (None for role sessions)."""
    mine = rows[(rows["key"] == key) & (rows["actor.user.type"].astype(object) == "IAMUser")]
    return str(mine["actor.user.name"].iloc[0]) if len(mine) else None


def _rdata(answers: Any) -> set[str]:
    """The ``rdata`` values of a Route 53 ``answers`` list (None or empty: no values)."""
    return {str(a["rdata"]) for a in (answers if answers is not None else []) if a is not None and a.get("rdata")}


def _instance_ids(req: dict[str, Any]) -> set[str]:
    ids = {req.get("instanceId")} | {i.get("instanceId") for i in (req.get("instancesSet") or {}).get("items", [])}
    return {i for i in ids if i}


def _json(text: Any) -> dict[str, Any]:
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _bytes_out(unmapped: Any) -> int:
    try:
        return int(dict(unmapped if unmapped is not None else {}).get("additionalEventData.bytesTransferredOut") or 0)
    except (TypeError, ValueError):
        return 0


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(str(value))
        return True
    except ValueError:
        return False


def is_public(value: Any) -> bool:
    """Whether ``value`` is a globally routable IP address."""
    try:
        return ipaddress.ip_address(str(value)).is_global
    except ValueError:
        return False
