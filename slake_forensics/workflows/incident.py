"""Detection and analysis from one finding: triage, then the incident's scope, told by the evidence.

:func:`findings` lists the lake's findings for triage (one row per finding, updates folded).
:func:`investigate` starts from one of them and follows the evidence the way a responder does:

* **A finding on an access key** (GuardDuty ``AwsIamAccessKey`` resource): the key's usual
  source IPs come from a baseline period; calls with the key from other addresses are the
  attacker's.  Identities, keys, console passwords and policies those calls created are
  persistence, and every use of a created key is the attacker's too.  Buckets whose policy or
  public access the attacker changed, and every S3 object read, are the data at risk.
* **A finding on an instance** (``AwsEc2Instance``): outbound flows to public destinations the
  instance never reached in its baseline, sustained (≥ ``min_flows``) and not on web ports, are
  its command-and-control or mining-pool traffic; names it resolved to those addresses, and
  names it resolved for the first time in the hour before, are the attacker's lookups.  The
  instance-role session (its session name is the instance id) used from addresses the instance
  never used is stolen credentials.

Both then look for **containment**: another principal, after the first malicious event,
deactivating or deleting the attacker's keys and users, re-blocking public access or
restoring the policy of an affected bucket, denying older sessions of the instance role, or
isolating the instance (the isolation group's creation included).  Stopping or terminating an
instance is routine operations work (autoscaling, schedules) and destroys memory evidence, so
neither counts as containment.  **Detection** is the first
threat-detector finding about any of the incident's entities at or after the first malicious
event.  Nothing here reads an answer key; every value comes from the lake.
"""
from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from slake_forensics.case import normalize_ioc
from slake_forensics.analysis.normalize import as_timeline, empty_timeline, is_failure, normalize, projection
from slake_forensics.core.timewindow import TimeLike, Window

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from slake_forensics.case import Case
    from slake_forensics.lake import Lake

#: Finding products that detect threats (as opposed to posture checks and vulnerability scans).
THREAT_PRODUCTS = ("GuardDuty", "Macie", "Detective")
API_SOURCES = ("cloud_trail_mgmt", "s3_data")
WEB_PORTS = frozenset({53, 80, 123, 443})
#: CloudTrail operations a responder uses to contain or eradicate; matched to the scope by request fields.
CONTAINMENT_OPERATIONS = (
    "UpdateAccessKey", "DeleteAccessKey", "DeleteUser", "DeleteLoginProfile", "DetachUserPolicy",
    "DetachRolePolicy", "PutRolePolicy", "PutUserPolicy", "PutPublicAccessBlock", "PutBucketPolicy",
    "DeleteBucketPolicy", "ModifyInstanceAttribute",
    "DisassociateIamInstanceProfile", "CreateSecurityGroup",
)
PERSISTENCE_OPERATIONS = {"CreateUser": "created_user", "CreateAccessKey": "created_key",
                          "CreateLoginProfile": "created_login_profile", "AttachUserPolicy": "attached_policy",
                          "AttachRolePolicy": "attached_policy", "PutUserPolicy": "attached_policy"}
BUCKET_EXPOSURE_OPERATIONS = {"PutBucketPolicy": "bucket_policy_changed", "PutBucketAcl": "bucket_policy_changed",
                              "DeletePublicAccessBlock": "public_access_block_removed",
                              "PutPublicAccessBlock": "public_access_block_removed"}
#: Security Hub's ``Resources[].Id`` of a GuardDuty access-key finding: ``AWS::IAM::AccessKey:<key id>``.
ACCESS_KEY_PREFIX = "AWS::IAM::AccessKey:"
#: Response playbooks (``readiness.PLAYBOOKS``) whose logs an incident of each kind relies on.
PLAYBOOKS = {"access_key": ("IRP-CredCompromise", "IRP-DataAccess"), "instance": ("EC2-CryptoMining", "IRP-CredCompromise")}
SCOPE_COLUMNS = ["kind", "value", "account", "region", "owner", "first_seen", "last_seen", "evidence_uid", "detail"]
#: Case IOC type of each scope kind recorded as an indicator.
IOC_TYPES = {"attacker_ip": "ip", "compromised_key": "access_key", "created_key": "access_key",
             "domain": "domain", "instance": "instance"}


class InvestigationError(LookupError):
    """The chosen finding cannot be followed (unknown id, or no resource this module can pivot on)."""


# ---- triage ----------------------------------------------------------------------------------

FINDINGS_SQL = """
SELECT finding_info.uid AS finding_uid,
       min(time_dt) AS first_seen,
       max(time_dt) AS last_seen,
       count(*) AS updates,
       arbitrary(metadata.product.name) AS product,
       arbitrary(finding_info.title) AS title,
       arbitrary(finding_info.types) AS types,
       max(severity_id) AS severity_id,
       arbitrary(accountid) AS account,
       arbitrary(region) AS region,
       arbitrary(COALESCE(transform(resources, r -> r.type),
                          CASE WHEN resource.uid IS NOT NULL THEN ARRAY[resource.type] END)) AS resource_types,
       arbitrary(COALESCE(transform(resources, r -> r.uid),
                          CASE WHEN resource.uid IS NOT NULL THEN ARRAY[resource.uid] END)) AS resource_uids,
       arbitrary(COALESCE(transform(resources, r -> r.data),
                          CASE WHEN resource.uid IS NOT NULL THEN ARRAY[resource.data] END)) AS resource_data
FROM {table}
WHERE time_dt >= from_iso8601_timestamp(?) AND time_dt < from_iso8601_timestamp(?)
GROUP BY finding_info.uid
"""
SEVERITY_NAMES = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal"}


def findings(lake: Lake, start: TimeLike, end: TimeLike) -> pd.DataFrame:
    """Findings first or last seen in ``[start, end)``, one row per finding, for triage.

    Returns columns ``finding_uid, first_seen, last_seen, updates, product, title, type``
    (the most specific part of the first ASFF type, e.g. ``Exfiltration:S3-AnomalousBehavior``),
    ``severity_id, severity, threat`` (True for :data:`THREAT_PRODUCTS`), ``account, region,
    access_keys, instances, buckets`` (lists of resource ids; access keys without Security Hub's
    ``AWS::IAM::AccessKey:`` prefix, instance and bucket ARNs shortened to ids) and
    ``resource_uids``; sorted threat findings first, then by severity (highest first) and first seen.
    """
    w = Window.of(start, end)
    sql = FINDINGS_SQL.format(table=lake.table_name("sh_findings"))
    df = lake.sql(sql, [w.start.isoformat(), w.end.isoformat()], start=w.start, end=w.end)
    if df.empty:
        return pd.DataFrame(columns=["finding_uid", "first_seen", "last_seen", "updates", "product", "title", "type",
                                     "severity_id", "severity", "threat", "account", "region", "access_keys",
                                     "instances", "buckets", "resource_uids"])
    df["type"] = df["types"].map(lambda ts: str(list(ts)[0]).rsplit("/", 1)[-1] if ts is not None and len(ts) else "")
    df["severity_id"] = df["severity_id"].astype("int64")
    df["severity"] = df["severity_id"].map(lambda s: SEVERITY_NAMES.get(int(s), str(s)))
    df["threat"] = df["product"].isin(THREAT_PRODUCTS)
    df["resource_data"] = df["resource_data"].map(_items)
    res = [list(zip(_items(t), _items(u))) for t, u in zip(df["resource_types"], df["resource_uids"])]
    df["access_keys"] = [[_key_id(u) for t, u in r if t == "AwsIamAccessKey"] for r in res]
    df["instances"] = [[_short(u) for t, u in r if t == "AwsEc2Instance"] for r in res]
    df["buckets"] = [[_short(u) for t, u in r if t == "AwsS3Bucket"] for r in res]
    df["resource_uids"] = [[u for _, u in r] for r in res]
    df = df.sort_values(["threat", "severity_id", "first_seen"], ascending=[False, False, True], ignore_index=True)
    return df[["finding_uid", "first_seen", "last_seen", "updates", "product", "title", "type", "severity_id",
               "severity", "threat", "account", "region", "access_keys", "instances", "buckets", "resource_uids",
               "resource_data"]]


def _items(value: Iterable[Any] | None) -> list[Any]:
    """The elements of a list cell; ``[]`` for a missing one (None or pandas' NA)."""
    return [] if value is None or value is pd.NA else list(value)


def plot_findings(triage: pd.DataFrame, *, top: int = 12) -> Figure:
    """Two panels: findings per day by severity (stacked bars), and the ``top`` finding types by count."""
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    if triage.empty:
        ax1.set_title("No findings in the window")
        return fig
    day = triage["first_seen"].dt.floor("D").dt.tz_localize(None)
    per_day = pd.crosstab(day, triage["severity"])
    order = [s for s in SEVERITY_NAMES.values() if s in per_day.columns]
    colors = {"Informational": "#c7c7c7", "Low": "#9ecae1", "Medium": "#fdae6b", "High": "#e6550d", "Critical": "#a50f15"}
    per_day[order].plot.bar(stacked=True, ax=ax1, width=0.9, color=[colors.get(s, "#777777") for s in order])
    ax1.set_xticklabels([d.strftime("%m-%d") for d in per_day.index], rotation=90)
    ax1.set(title="Findings first seen per day, by severity", xlabel="", ylabel="findings")
    types = triage.assign(label=triage["product"] + ": " + triage["type"])["label"].value_counts().head(top)[::-1]
    types.plot.barh(ax=ax2, color="#6a51a3")
    ax2.set(title=f"Top {len(types)} finding types", xlabel="findings")
    fig.tight_layout()
    return fig


def choose_finding(triage: pd.DataFrame, finding_uid: str | None = None) -> pd.Series:
    """The triage row of ``finding_uid``, or by default the first row (the most severe threat finding).

    Raises :class:`InvestigationError` when the id is not in the triage frame."""
    if triage.empty:
        raise InvestigationError("There are no findings in this window: widen the window or check sh_findings is collected.")
    if finding_uid is None:
        return triage.iloc[0]
    hit = triage[triage["finding_uid"] == finding_uid]
    if hit.empty:
        raise InvestigationError(f"Finding {finding_uid!r} is not among the {len(triage)} findings of the window; "
                                 "copy its finding_uid from the triage table, or widen the window.")
    return hit.iloc[0]


def finding_picker(triage: pd.DataFrame, default: str | None = None, *, top: int = 25) -> Any:
    """An ipywidgets dropdown over the first ``top`` triage rows (plus ``default`` if further down);
    its ``value`` is a ``finding_uid``, initially ``default`` or the first row's.  Read
    ``picker.value`` in the next cell; headless runs keep the initial value."""
    import ipywidgets as widgets

    first = choose_finding(triage, default)
    rows = pd.concat([triage.head(top), first.to_frame().T]).drop_duplicates("finding_uid")
    options = [(f"{r.severity:<8} {pd.Timestamp(r.first_seen):%m-%d %H:%M} {r.product}: {r.type}", r.finding_uid)
               for r in rows.itertuples()]
    return widgets.Dropdown(options=options, value=first["finding_uid"], description="Finding",
                            layout=widgets.Layout(width="95%"))


# ---- the incident ----------------------------------------------------------------------------


@dataclass
class Incident:
    """What :func:`investigate` found.

    ``events`` is a normalized timeline (``time, source, activity, actor, src_ip, dst_ip, target,
    status, summary, uid, …``) plus ``role`` (``malicious``, ``detection`` or ``containment``)
    and ``why``; ``scope`` has :data:`SCOPE_COLUMNS` (one row per key, user, policy, bucket,
    instance, role session or attacker IP; the input of :func:`slake_forensics.workflows.containment.plan`);
    ``data_access`` one row per bucket read (``bucket, objects_read, bytes_out, first, last``);
    ``findings`` the related findings (triage rows).
    """

    finding: pd.Series
    kind: str
    window: Window
    events: pd.DataFrame
    scope: pd.DataFrame
    data_access: pd.DataFrame
    findings: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def times(self) -> dict[str, pd.Timestamp | None]:
        """``first_malicious, last_malicious, detection, containment`` (UTC or None)."""
        def pick(role: str, how: str) -> pd.Timestamp | None:
            t = self.events.loc[self.events["role"] == role, "time"]
            return getattr(t, how)() if len(t) else None
        return {"first_malicious": pick("malicious", "min"), "last_malicious": pick("malicious", "max"),
                "detection": pick("detection", "min"), "containment": pick("containment", "min")}

    @property
    def playbooks(self) -> tuple[str, ...]:
        """Names of the response playbooks (``readiness.PLAYBOOKS``) this kind of incident follows."""
        return PLAYBOOKS[self.kind]

    def touched(self) -> pd.DataFrame:
        """Every resource the attacker's events touched: one row per (``source, target``; calls
        without a resource, such as ``GetCallerIdentity``, share ``(account-level call)``) with
        ``events, failed, operations`` (distinct activities, comma-separated), ``first, last``;
        most events first."""
        mal = self.events[self.events["role"] == "malicious"]
        if mal.empty:
            return pd.DataFrame(columns=["source", "target", "events", "failed", "operations", "first", "last"])
        mal = mal.assign(failed=mal["status"].map(is_failure).astype(bool), activity=mal["activity"].astype(object),
                         target=mal["target"].astype(object).fillna("(account-level call)"))
        out = mal.groupby(["source", "target"], observed=True).agg(
            events=("uid", "size"), failed=("failed", "sum"), operations=("activity", lambda a: ", ".join(sorted(set(map(str, a))))),
            first=("time", "min"), last=("time", "max"))
        return out.reset_index().sort_values("events", ascending=False, ignore_index=True)

    def entities(self, kind: str) -> list[str]:
        """Scope values of one kind (e.g. ``attacker_ip``, ``compromised_key``), in first-seen order."""
        return self.scope.loc[self.scope["kind"] == kind, "value"].tolist()

    def summary(self) -> pd.DataFrame:
        """Who, what, when, from where and how much, as a two-column table (``question, answer``)."""
        t = self.times()
        who = self.entities("compromised_key") + self.entities("role_session") + self.entities("instance")
        created = [f"{k.split('_', 1)[1].replace('_', ' ')} {v}" for k, v in
                   self.scope[self.scope["kind"].str.startswith("created_")][["kind", "value"]].itertuples(index=False)]
        mal = self.events[self.events["role"] == "malicious"]
        what = mal.groupby(["source", "activity"], dropna=False).size().sort_values(ascending=False).head(8)
        rows = [("finding", f"{self.finding['product']}: {self.finding['type']} ({self.finding['severity']})"),
                ("who (compromised)", ", ".join(who) or "—"),
                ("what", "; ".join(f"{a} ×{n} ({s})" for (s, a), n in what.items()) or "—"),
                ("persistence created", ", ".join(created) or "none found"),
                ("when", f"{_fmt(t['first_malicious'])} → {_fmt(t['last_malicious'])}"),
                ("detected", _fmt(t["detection"])),
                ("contained", _fmt(t["containment"])),
                ("from where", ", ".join(self.entities("attacker_ip")) or "—")]
        if len(self.data_access):
            rows.append(("how much data", "; ".join(
                f"{r.bucket}: {r.objects_read} objects, {_bytes(r.bytes_out)}" for r in self.data_access.itertuples())))
        return pd.DataFrame(rows, columns=["question", "answer"])

    def bookmark(self, case: Case, *, analyst_note: str = "") -> int:
        """Bookmark the incident's events into ``case`` with the report's tags and record its IOCs.

        Bookmarks the detection and containment events and, of the malicious events, the first
        and last of each (source, activity) pair (export the whole set as evidence with
        ``case.export(incident.events, …)``).  Safe to run again: events already bookmarked
        with the same tag and IOCs already recorded are skipped.  Returns the number of
        bookmarks written."""
        ev = self.events
        mal = ev[ev["role"] == "malicious"].sort_values("time")
        keep = pd.concat([mal.groupby(["source", "activity"], dropna=False).head(1),
                          mal.groupby(["source", "activity"], dropna=False).tail(1), ev[ev["role"] != "malicious"]])
        keep = keep[~keep.index.duplicated()].sort_values("time")
        have = {(u, t) for u, tags in zip(case.bookmarks["uid"], case.bookmarks["tags"]) for t in tags}
        keep = keep[[(str(u), r) not in have for u, r in zip(keep["uid"], keep["role"])]]
        written = 0
        for (role, why), rows in keep.groupby(["role", "why"], sort=False):
            note = f"{why}. {analyst_note}".strip()
            written += len(case.bookmark(rows.drop(columns=["role", "why"]), note=note, tags=[role]))
        known = set(zip(case.iocs["type"], case.iocs["value"])) if len(case.iocs) else set()
        for r in self.scope.itertuples():
            if r.kind in IOC_TYPES and (IOC_TYPES[r.kind], normalize_ioc(IOC_TYPES[r.kind], r.value)) not in known:
                case.add_ioc(IOC_TYPES[r.kind], r.value, note=r.detail or r.kind)
        return written

    def principal(self) -> str | None:
        """The compromised identity to baseline: the compromised access key, else the instance-role
        session's ARN (its session name is the instance id, so it is stable across credential
        rotations); ``None`` when the incident used no API identity."""
        keys = self.entities("compromised_key")
        sessions = self.scope.loc[self.scope["kind"] == "role_session", "owner"].dropna().tolist()
        return (keys + sessions + [None])[0]

    def credentials(self) -> list[str]:
        """Access key ids the attacker used: compromised, created and stolen session keys."""
        sessions = self.scope.loc[self.scope["kind"] == "role_session", "detail"].dropna().tolist()
        return self.entities("compromised_key") + self.entities("created_key") + sessions


def case_folder(finding_uid: str, root: str | Path = "cases") -> Path:
    """A case folder for a finding: ``<root>/<the finding id's last path part, made file-safe>``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", str(finding_uid).rstrip("/").rsplit("/", 1)[-1]).strip("-.") or "case"
    return Path(root) / name[:64]


def correlations(lake: Lake, incident: Incident) -> pd.DataFrame:
    """Cross-source links of an incident, from :func:`slake_forensics.analysis.correlate.correlate`.

    Instance incidents: each attacker DNS answer and the instance's flows to that address within
    10 minutes after it (``answers.rdata`` → ``dst_endpoint.ip``, forward).  Access-key incidents: each related finding and
    the attacker's API calls on the same key within an hour either side (``on="access_key"``).
    Returns the correlate frame (``left.*``, ``right.*``, ``key``, ``delta``); empty when
    there is nothing to pair.
    """
    from slake_forensics.analysis.correlate import correlate

    mal = incident.events[incident.events["role"] == "malicious"]
    if incident.kind == "instance":
        rows = lake.fetch_rows(mal[mal["source"].isin(["route53", "vpc_flow"])])
        left, right, on, within, direction = (rows.get("route53"), rows.get("vpc_flow"), ("answers.rdata", "dst_endpoint.ip"),
                                              "10min", "forward")
    else:
        found = incident.findings
        hits = [_where(lake, "sh_findings", "finding_info.uid = ?", [u], Window(t, t + pd.Timedelta(milliseconds=1)))
                for u, t in zip(found["finding_uid"], found["first_seen"])]
        left = lake.fetch_rows(_concat(empty_timeline(), *hits)).get("sh_findings")
        right = lake.fetch_rows(mal[mal["source"] == "cloud_trail_mgmt"]).get("cloud_trail_mgmt")
        on, within, direction = "access_key", "1h", "both"
    if left is None or right is None or left.empty or right.empty:
        return pd.DataFrame(columns=["key", "delta"])
    return correlate(left, right, on=on, within=within, direction=direction)


def investigate(
    lake: Lake,
    finding: pd.Series | str,
    *,
    triage: pd.DataFrame | None = None,
    before: str | pd.Timedelta = "2D",
    after: str | pd.Timedelta = "3D",
    baseline_days: float = 7,
    min_flows: int = 10,
    min_severity: int = 3,
    progress: bool = False,
) -> Incident:
    """Follow one finding (a :func:`findings` row, or its ``finding_uid``) to the whole incident.

    The investigation window is ``[first_seen - before, first_seen + after)``; baselines are the
    ``baseline_days`` before it; ``min_flows`` is how many flows to one outside address and port
    make it sustained; detection counts threat findings of ``min_severity`` (OCSF id, 3 = Medium)
    or above -- low-severity findings such as port probes are the internet's background noise.
    Returns an :class:`Incident`.  Raises
    :class:`InvestigationError` when the finding has neither an access key nor an instance.
    """
    if isinstance(finding, str):
        if triage is None:
            raise InvestigationError("Pass triage=findings(lake, start, end) with a finding uid, or pass the triage row.")
        finding = choose_finding(triage, finding)
    t0 = pd.Timestamp(finding["first_seen"])
    window = Window(t0 - pd.Timedelta(before), t0 + pd.Timedelta(after))
    base = Window(window.start - pd.Timedelta(days=baseline_days), window.start)
    ctx = _Context(lake, window, base, str(finding["account"]), progress)
    if len(finding["access_keys"]):
        kind, events, scope, data = "access_key", *_key_incident(ctx, list(finding["access_keys"]))
    elif len(finding["instances"]):
        kind, events, scope, data = "instance", *_instance_incident(ctx, list(finding["instances"]), finding, min_flows)
    else:
        raise InvestigationError(
            f"Finding {finding['finding_uid']} names no access key or instance ({', '.join(finding['resource_uids']) or 'no resources'}); "
            "pivot on its resources by hand with lake.pivot(...).")
    related = _related_findings(lake, window, scope, events, min_severity)
    if len(related):
        det = related.iloc[0]
        t = pd.Timestamp(det["first_seen"])
        rows = _where(lake, "sh_findings", "finding_info.uid = ?", [det["finding_uid"]], Window(t, t + pd.Timedelta(milliseconds=1)))
        events = _concat(events, _tag(rows.head(1), "detection", f"first threat finding about the incident: {det['type']}"))
    notes = [] if len(related) else ["No threat finding names the incident's entities after its first malicious event."]
    return Incident(finding, kind, window, events.sort_values("time", ignore_index=True), scope, data, related, notes)


def recovery_check(lake: Lake, incident: Incident, end: TimeLike | None = None, *, progress: bool = False) -> pd.DataFrame:
    """Everything the incident's IOCs did after containment: the recovery check.

    Pivots on the attacker IPs (CloudTrail, S3 data events, VPC flows) and on the compromised,
    created and stolen session keys (calls from public addresses only: the instance's own
    workload keeps using its role from private ones) from the first containment action to
    ``end`` (default: the end of the investigation window).  Returns the timeline rows with
    ``outcome``: ``blocked`` (a failed call or a blocked flow, see
    :func:`~slake_forensics.analysis.normalize.is_failure`: containment holding) or ``allowed`` (anything
    else: containment is not holding), sorted by time; empty when there was no containment.
    """
    contained = incident.times()["containment"]
    if contained is None:
        return empty_timeline().assign(outcome=pd.Series(dtype=object))
    stop = Window.of(contained, end if end is not None else incident.window.end)
    keys = incident.entities("compromised_key") + incident.entities("created_key") + \
        incident.scope.loc[incident.scope["kind"] == "role_session", "detail"].dropna().tolist()
    ips = incident.entities("attacker_ip")
    sources = [*API_SOURCES, "vpc_flow"]
    frames = []
    if ips:
        frames.append(lake.pivot(ip=ips, start=stop.start, end=stop.end, sources=sources, progress=progress))
    if keys:  # the keys' own workloads keep calling from private addresses; the attacker's calls come from outside
        by_key = lake.pivot(access_key=keys, start=stop.start, end=stop.end, sources=list(API_SOURCES), progress=progress)
        frames.append(by_key[by_key["src_ip"].map(_is_public)])
    tl = _concat(empty_timeline(), *frames).drop_duplicates(["source", "uid", "time"]).sort_values("time")
    ours = set(incident.events.loc[incident.events["role"] == "containment", "uid"].astype(object))
    tl = tl[~tl["uid"].astype(object).isin(ours)]
    return tl.assign(outcome=["blocked" if is_failure(x) else "allowed" for x in tl["status"]]).reset_index(drop=True)


# ---- the two playbooks ---------------------------------------------------------------------


@dataclass
class _Context:
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


def _key_incident(ctx: _Context, keys: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
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
    malicious = _tag(_timeline_of(bad), "malicious", "the attacker's call")
    scope = _concat(pd.DataFrame([_scope_row("compromised_key", k, bad[bad["key"] == k], owner=_owner(bad, k)) for k in keys
                                  if (bad["key"] == k).any()], columns=SCOPE_COLUMNS), scope,
                    _bucket_exposure(bad), _ip_rows(bad))
    data = _data_access(bad)
    containment = _containment(ctx, scope, bad)
    return _concat(malicious, containment), scope.reset_index(drop=True), data


def _instance_incident(ctx: _Context, instances: list[str], finding: pd.Series,
                       min_flows: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    inst = instances[0]
    # network: sustained new outbound destinations off the web ports
    base = ctx.pivot(Window(ctx.base.start, pd.Timestamp(finding["first_seen"]) - pd.Timedelta(hours=6)),
                     instance=inst, sources=["vpc_flow"])
    tl = ctx.pivot(instance=inst, sources=["vpc_flow", "route53"])
    seen = set(_outbound(base, inst)["dest"])
    flows = _outbound(tl, inst)
    new = flows[~flows["dest"].isin(seen) & flows["dst_ip"].map(_is_public) & ~flows["port"].isin(WEB_PORTS)]
    counts = new.groupby("dest").size()  # per address *and* port: replies to scanners go to ever-changing ports
    sustained = set(counts[counts >= min_flows].index)
    bad_flows = new[new["dest"].isin(sustained)]
    c2 = set(bad_flows["dst_ip"].astype(object))
    events = [_tag(bad_flows.drop(columns=["dest", "port"]), "malicious", "sustained flow to a new outside address")]
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
        events.append(_tag(dns_tl[dns_tl["target"].astype(object).isin(domains)], "malicious",
                           "lookup of a pool/C2 name or a name first resolved just before the outside traffic"))
    # credentials: the instance-role session (session name = instance id) used from addresses it never used
    sessions = _instance_session_rows(ctx, inst, ctx.window)
    base_sessions = _instance_session_rows(ctx, inst, ctx.base)
    usual = set(base_sessions["ip"]) if len(base_sessions) else set()
    stolen = sessions[~sessions["ip"].isin(usual) & sessions["ip"].map(_is_public)] if len(sessions) else sessions
    if len(stolen):
        events.append(_tag(_timeline_of(stolen), "malicious", "instance-role credentials used from outside the instance"))
    scope_rows = [_scope_row("instance", inst, None, account=ctx.account, region=str(finding["region"]),
                             detail=str(finding["type"]))]
    for (role, key), g in (stolen.groupby(["role", "key"]) if len(stolen) else []):
        scope_rows.append(_scope_row("role_session", role, g, detail=key, owner=str(g["actor.user.uid"].iloc[0])))
    scope = _concat(pd.DataFrame(scope_rows, columns=SCOPE_COLUMNS),
                    pd.DataFrame([_scope_row("domain", d, None, account=ctx.account, region=str(finding["region"]),
                                             detail="resolved by the instance") for d in sorted(domains)], columns=SCOPE_COLUMNS),
                    _ip_rows(stolen),
                    pd.DataFrame([_scope_row("attacker_ip", ip, None, account=ctx.account, region=str(finding["region"]),
                                             detail="pool/C2 destination") for ip in sorted(c2)], columns=SCOPE_COLUMNS))
    malicious = _concat(*events)
    containment = _containment(ctx, scope, stolen if len(stolen) else None, first=malicious["time"].min() if len(malicious) else None)
    return _concat(malicious, containment), scope.reset_index(drop=True), pd.DataFrame(
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


def _instance_session_rows(ctx: _Context, inst: str, w: Window) -> pd.DataFrame:
    """CloudTrail calls made with an instance-role session of ``inst`` in ``w``, with ``role`` (the role name)."""
    tl = _where(ctx.lake, "cloud_trail_mgmt", "accountid = ? AND actor.user.type = ? AND actor.user.uid LIKE ?",
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


def _containment(ctx: _Context, scope: pd.DataFrame, bad: pd.DataFrame | None,
                 first: pd.Timestamp | None = None) -> pd.DataFrame:
    """Responder actions on the scope after the first malicious event, as tagged timeline rows."""
    start = first if first is not None else (bad["time_dt"].min() if bad is not None and len(bad) else ctx.window.start)
    w = Window(start, ctx.window.end)
    marks = ", ".join("?" for _ in CONTAINMENT_OPERATIONS)
    tl = _where(ctx.lake, "cloud_trail_mgmt", f"accountid = ? AND api.operation IN ({marks}) AND api.response.error IS NULL",
                [ctx.account, *CONTAINMENT_OPERATIONS], w)
    if tl.empty:
        return _tag(empty_timeline(), "containment", "")
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
        return _tag(empty_timeline(), "containment", "")
    return _concat(*[_tag(_timeline_of(pd.DataFrame([r])), "containment", why) for r, why in picked])


def _related_findings(lake: Lake, window: Window, scope: pd.DataFrame, events: pd.DataFrame,
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


def _where(lake: Lake, source: str, condition: str, params: Sequence[Any], w: Window) -> pd.DataFrame:
    """Timeline rows of ``source`` in ``w`` meeting ``condition`` (Athena SQL with ``?`` bound to ``params``)."""
    sql = (f"SELECT {projection(source)} FROM {lake.table_name(source)} WHERE time_dt >= from_iso8601_timestamp(?) "
           f"AND time_dt < from_iso8601_timestamp(?) AND ({condition})")
    return as_timeline(lake.sql(sql, [w.start.isoformat(), w.end.isoformat(), *params], start=w.start, end=w.end))


def _timeline_of(rows: pd.DataFrame) -> pd.DataFrame:
    """Timeline rows for full CloudTrail/S3 rows (keeps their order)."""
    if rows.empty:
        return empty_timeline()
    parts = [normalize(g.drop(columns=[c for c in ("source", "ip", "key", "op", "ok", "ref", "role") if c in g]), src)
             for src, g in rows.groupby("source", sort=False)]
    return pd.concat(parts, ignore_index=True).sort_values("time", ignore_index=True)


def _tag(tl: pd.DataFrame, role: str, why: str) -> pd.DataFrame:
    return tl.assign(role=role, why=why)


def _concat(*frames: pd.DataFrame) -> pd.DataFrame:
    frames = [f for f in frames if f is not None and len(f.columns)]
    non_empty = [f for f in frames if len(f)]
    return pd.concat(non_empty, ignore_index=True) if non_empty else (frames[0].iloc[0:0] if frames else pd.DataFrame())


def _scope_row(kind: str, value: Any, rows: pd.DataFrame | None, *, owner: str | None = None, detail: str | None = None,
               account: str | None = None, region: str | None = None) -> dict[str, Any]:
    have = rows is not None and len(rows) > 0
    return {"kind": kind, "value": None if value is None else str(value),
            "account": account or (str(rows["accountid"].iloc[0]) if have else None),
            "region": region or (str(rows["region"].iloc[0]) if have else None),
            "owner": owner, "first_seen": rows["time_dt"].min() if have else pd.NaT,
            "last_seen": rows["time_dt"].max() if have else pd.NaT,
            "evidence_uid": str(rows["metadata.uid"].iloc[0]) if have else None, "detail": detail}


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


def _is_public(value: Any) -> bool:
    try:
        return ipaddress.ip_address(str(value)).is_global
    except ValueError:
        return False


def _key_id(uid: Any) -> str:
    """An access key id from a finding resource uid (Security Hub writes ``AWS::IAM::AccessKey:<key id>``)."""
    s = str(uid)
    return s[len(ACCESS_KEY_PREFIX):] if s.startswith(ACCESS_KEY_PREFIX) else s


def _short(arn: Any) -> str:
    s = str(arn)
    return s.rsplit("/", 1)[-1] if s.startswith("arn:aws:ec2:") else s.rsplit(":", 1)[-1] if s.startswith("arn:aws:s3:") else s


def _fmt(t: pd.Timestamp | None) -> str:
    return "—" if t is None or pd.isna(t) else t.strftime("%Y-%m-%d %H:%M:%S UTC")


def _bytes(n: Any) -> str:
    v = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if v < 1024 or unit == "TB":
            return f"{v:,.1f} {unit}" if unit != "B" else f"{int(v)} B"
        v /= 1024
    return f"{v} B"
