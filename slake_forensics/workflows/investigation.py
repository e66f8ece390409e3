"""Investigation (NIST SP 800-61 detection and analysis): from one finding to the incident, told by the evidence.

:func:`investigate` starts from one finding of the triage list
(:func:`slake_forensics.workflows.triage.findings`) and follows the evidence the way a responder does:

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

The result is an :class:`Incident`; :func:`recovery_check` then asks whether containment holds,
and :func:`correlations` links its events across sources.  The rules (the operations matched, the
playbooks and IOC types of each kind) are data: ``data/investigation.yaml``, read once at import and
checked; the evidence is followed in :mod:`slake_forensics.workflows._evidence`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from slake_forensics.analysis.baseline import API_SOURCES
from slake_forensics.analysis.normalize import empty_timeline, is_failure
from slake_forensics.case import IOC_TYPES as CASE_IOC_TYPES, normalize_ioc
from slake_forensics.core.timewindow import TimeLike, Window
from slake_forensics.workflows import _data
from slake_forensics.workflows._evidence import (
    SCOPE_COLUMNS, Context, concat, instance_incident, is_public, key_incident, related_findings, tag, where,
)
from slake_forensics.workflows.readiness import PLAYBOOKS as READINESS_PLAYBOOKS
from slake_forensics.workflows.triage import InvestigationError, choose_finding

if TYPE_CHECKING:
    from slake_forensics.analysis.correlate import Direction
    from slake_forensics.case import Case
    from slake_forensics.lake import Lake

__all__ = ["Incident", "InvestigationError", "investigate", "recovery_check", "correlations", "case_folder",
           "focus_scope", "continue_case",
           "PLAYBOOKS", "IOC_TYPES", "SCOPE_COLUMNS"]

#: The kinds of incident :func:`investigate` follows: from a finding on an access key, or on an instance.
KINDS = ("access_key", "instance")
_RULES = _data.load("investigation.yaml")
#: Response playbooks (``readiness.PLAYBOOKS``) whose logs an incident of each kind relies on.
PLAYBOOKS: dict[str, tuple[str, ...]] = {
    kind: _RULES["playbooks"].fields(*KINDS)[kind].texts(READINESS_PLAYBOOKS) for kind in KINDS
}
#: Case IOC type of each scope kind recorded as an indicator.
IOC_TYPES: dict[str, str] = _RULES["ioc_types"].text_map(values=CASE_IOC_TYPES)


@dataclass
class Incident:
    """What :func:`investigate` found: the incident told by the evidence.

    Attributes
    ----------
    finding : pandas.Series
        The triage row followed (:func:`slake_forensics.workflows.triage.findings`).
    kind : str
        ``access_key`` or ``instance`` (:data:`KINDS`): what the finding named.
    window : Window
        The investigation window.
    events : pandas.DataFrame
        A normalized timeline (``time, source, class_name, activity, actor, src_ip, dst_ip,
        target, status, severity, summary, uid, account, region, ref``) plus ``role``
        (``malicious``, ``detection`` or ``containment``) and ``why``, sorted by time.
    scope : pandas.DataFrame
        :data:`SCOPE_COLUMNS`, one row per key, user, policy, bucket, instance, role session,
        domain or attacker IP (``kind, value, account, region, owner, first_seen, last_seen,
        evidence_uid, detail``): the input of :func:`slake_forensics.workflows.containment.plan`.
    data_access : pandas.DataFrame
        One row per bucket read: ``bucket, objects_read, bytes_out, first, last``.
    findings : pandas.DataFrame
        The related threat findings (triage rows), earliest first.
    notes : list of str
        What the investigation could not establish.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
    >>> inc = sf.investigate(lake, tri[tri["type"].str.startswith("Exfiltration:S3")].iloc[0])
    >>> inc.kind, inc.playbooks
    ('access_key', ('IRP-CredCompromise', 'IRP-DataAccess'))
    >>> inc.events["role"].value_counts().to_dict()
    {'malicious': 2100, 'containment': 7, 'detection': 1}
    >>> inc.data_access[["bucket", "objects_read"]]
                                bucket  objects_read
    0  wingtip-customer-exports-7cd9ef          2063
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
        """When the incident began, ended, was detected and was contained.

        Returns
        -------
        dict
            ``first_malicious``, ``last_malicious`` (the first and last malicious event),
            ``detection`` (the first related threat finding) and ``containment`` (the first
            containment action): UTC Timestamps, or None when the events show none.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
        >>> t = sf.investigate(lake, tri.iloc[0]).times()
        >>> {k: f"{v:%m-%d %H:%M}" for k, v in t.items()}
        {'first_malicious': '05-14 19:53', 'last_malicious': '05-15 22:01', 'detection': '05-14 20:36', 'containment': '05-15 21:00'}
        """
        def pick(role: str, how: str) -> pd.Timestamp | None:
            t = self.events.loc[self.events["role"] == role, "time"]
            return getattr(t, how)() if len(t) else None
        return {"first_malicious": pick("malicious", "min"), "last_malicious": pick("malicious", "max"),
                "detection": pick("detection", "min"), "containment": pick("containment", "min")}

    @property
    def playbooks(self) -> tuple[str, ...]:
        """Names of the response playbooks (``readiness.PLAYBOOKS``) this kind of incident follows.

        Returns
        -------
        tuple of str
            :data:`PLAYBOOKS` of the incident's kind.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
        >>> sf.investigate(lake, tri.iloc[0]).playbooks
        ('EC2-CryptoMining', 'IRP-CredCompromise')
        """
        return PLAYBOOKS[self.kind]

    def touched(self) -> pd.DataFrame:
        """Every resource the attacker's events touched.

        Returns
        -------
        pandas.DataFrame
            One row per ``source, target`` (calls without a resource, such as ``GetCallerIdentity``,
            share ``(account-level call)``) with ``events``, ``failed`` (events that failed),
            ``operations`` (distinct activities, comma-separated), ``first, last``; most events first.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
        >>> touched = sf.investigate(lake, tri.iloc[0]).touched()
        >>> touched[["source", "target", "events"]].head(2)
             source              target  events
        0  vpc_flow  88.99.49.102:45700     747
        1  vpc_flow   94.130.27.54:3333     747
        """
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
        """Scope values of one kind, in first-seen order.

        Parameters
        ----------
        kind
            A scope kind: ``attacker_ip``, ``compromised_key``, ``created_key``, ``created_user``,
            ``created_login_profile``, ``attached_policy``, ``bucket_policy_changed``,
            ``public_access_block_removed``, ``instance``, ``role_session`` or ``domain``.

        Returns
        -------
        list of str
            The values; empty when the scope has none of that kind.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
        >>> inc = sf.investigate(lake, tri.iloc[0])
        >>> inc.entities("attacker_ip"), inc.entities("instance")
        (['5.188.204.99', '88.99.49.102', '94.130.27.54'], ['i-c1a762c56d643463c'])
        """
        return self.scope.loc[self.scope["kind"] == kind, "value"].tolist()

    def summary(self) -> pd.DataFrame:
        """Who, what, when, from where and how much, as a two-column table.

        Returns
        -------
        pandas.DataFrame
            Columns ``question, answer``; questions ``finding``, ``who (compromised)``, ``what``
            (the most frequent malicious activities), ``persistence created``, ``when``,
            ``detected``, ``contained``, ``from where`` and, when data was read, ``how much data``.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
        >>> inc = sf.investigate(lake, tri[tri["type"].str.startswith("Exfiltration:S3")].iloc[0])
        >>> answers = inc.summary().set_index("question")["answer"]
        >>> answers["persistence created"]
        'user ci-artifact-replicator, key AKIAZCOTP2C3KGINSHYE'
        >>> answers["how much data"]
        'wingtip-customer-exports-7cd9ef: 2063 objects, 22.8 GB'
        """
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

        Bookmarks the detection and containment events and, of the malicious events, the first and
        last of each (source, activity) pair (export the whole set as evidence with
        ``case.export(incident.events, …)``); the tag is the event's ``role``, the note its ``why``.
        The scope's values of the kinds in :data:`IOC_TYPES` are recorded as IOCs.  Safe to run
        again: events already bookmarked with the same tag and IOCs already recorded are skipped.

        Parameters
        ----------
        case
            The case to write to.
        analyst_note
            Text added to every bookmark's note.

        Returns
        -------
        int
            The number of bookmarks written.

        Examples
        --------
        >>> import tempfile
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
        >>> inc = sf.investigate(lake, tri.iloc[0])
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     case = sf.Case.open(f"{folder}/case", analyst="doc")
        ...     print(inc.bookmark(case), inc.bookmark(case), len(case.iocs))
        20 0 8
        """
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
            seqs = case.bookmark(rows.drop(columns=["role", "why"]), note=note, tags=[role])
            written += len(seqs) if isinstance(seqs, list) else 1
        known = set(zip(case.iocs["type"], case.iocs["value"])) if len(case.iocs) else set()
        for r in self.scope.itertuples():
            if r.kind in IOC_TYPES and (IOC_TYPES[r.kind], normalize_ioc(IOC_TYPES[r.kind], r.value)) not in known:
                case.add_ioc(IOC_TYPES[r.kind], r.value, note=r.detail or r.kind)
        return written

    def principal(self) -> str | None:
        """The compromised identity to baseline.

        Returns
        -------
        str or None
            The compromised access key, else the instance-role session's ARN (its session name is the
            instance id, so it is stable across credential rotations); None when the incident used no
            API identity.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
        >>> sf.investigate(lake, tri.iloc[0]).principal()
        'arn:aws:sts::432505343723:assumed-role/wingtip-worker-prod-role/i-c1a762c56d643463c'
        """
        keys = self.entities("compromised_key")
        sessions = self.scope.loc[self.scope["kind"] == "role_session", "owner"].dropna().tolist()
        return (keys + sessions + [None])[0]

    def credentials(self) -> list[str]:
        """Access key ids the attacker used.

        Returns
        -------
        list of str
            The compromised keys, the keys the attacker created, then the stolen role-session keys.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
        >>> sf.investigate(lake, tri[tri["type"].str.startswith("Exfiltration:S3")].iloc[0]).credentials()
        ['AKIAYHYXCBKFKX3UQS3F', 'AKIAZCOTP2C3KGINSHYE']
        """
        sessions = self.scope.loc[self.scope["kind"] == "role_session", "detail"].dropna().tolist()
        return self.entities("compromised_key") + self.entities("created_key") + sessions


def case_folder(finding_uid: str, root: str | Path = "cases") -> Path:
    """A case folder for a finding.

    Parameters
    ----------
    finding_uid
        The finding's id (an ARN or any text).
    root
        The folder holding the cases.

    Returns
    -------
    pathlib.Path
        ``<root>/<the finding id's last path part, made file-safe>`` (at most 64 characters).

    Examples
    --------
    >>> from slake_forensics.workflows.investigation import case_folder
    >>> case_folder("arn:aws:guardduty:us-east-1:111122223333:detector/d1/finding/0a1b2c").as_posix()
    'cases/0a1b2c'
    """
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", str(finding_uid).rstrip("/").rsplit("/", 1)[-1]).strip("-.") or "case"
    return Path(root) / name[:64]


def focus_scope(incident: Incident) -> dict[str, Any]:
    """The scope of an incident as :meth:`slake_forensics.case.Case.set_focus` stores it.

    Parameters
    ----------
    incident
        An :func:`investigate` result.

    Returns
    -------
    dict
        ``start`` and ``end`` (the investigation window), ``accounts`` and ``entities`` (the
        scope's account ids and values, sorted, without duplicates).

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
    >>> scope = focus_scope(sf.investigate(lake, tri[tri["type"].str.startswith("Exfiltration:S3")].iloc[0]))
    >>> sorted(scope), "AKIAYHYXCBKFKX3UQS3F" in scope["entities"]
    (['accounts', 'end', 'entities', 'start'], True)
    """
    scope = incident.scope
    return {"start": incident.window.start, "end": incident.window.end,
            "accounts": sorted({str(a) for a in scope["account"].dropna()}),
            "entities": sorted({str(v) for v in scope["value"].dropna()})}


def continue_case(triage: pd.DataFrame, finding_id: str | None = None, case: str | Path | None = None,
                  cases_root: str | Path = "cases") -> tuple[pd.Series, Path]:
    """The finding and case folder a later stage (03, 04) continues with.

    The case: ``case`` if given; else, with ``finding_id``, :func:`case_folder` of it; else the
    case under ``cases_root`` whose log was written last and that has a focus (the one 02 just
    worked on).  The finding: ``finding_id`` if given (parameters override), else the case's
    focus (:attr:`slake_forensics.case.Case.focus`), else the triage list's first row.

    Parameters
    ----------
    triage
        A :func:`~slake_forensics.workflows.triage.findings` frame.
    finding_id, case
        The notebook's ``FINDING_ID`` and ``CASE`` parameters.
    cases_root
        The folder holding the cases.

    Returns
    -------
    tuple of (pandas.Series, pathlib.Path)
        The finding's triage row and the case folder (it may not exist yet).

    Raises
    ------
    InvestigationError
        As :func:`~slake_forensics.workflows.triage.choose_finding`.

    Examples
    --------
    >>> import tempfile
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
    >>> root = Path(tempfile.mkdtemp())
    >>> s3 = tri[tri["type"].str.startswith("Exfiltration:S3")].iloc[0]["finding_uid"]
    >>> _ = sf.Case.open(case_folder(s3, root)).set_focus(s3)
    >>> finding, folder = continue_case(tri, cases_root=root)
    >>> finding["type"], folder == case_folder(s3, root)
    ('Exfiltration:S3-AnomalousBehavior', True)
    >>> continue_case(tri, finding_id=tri["finding_uid"].iloc[0], cases_root=root)[0]["type"]
    'CryptoCurrency:EC2-BitcoinTool.B!DNS'
    """
    from slake_forensics.case import Case

    if case is not None:
        folder: Path | None = Path(case)
    elif finding_id is not None:
        folder = case_folder(finding_id, cases_root)
    else:
        logs = sorted(Path(cases_root).glob("*/log.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
        folder = next((p.parent for p in logs if Case.open(p.parent).focus is not None), None)
    focus = Case.open(folder).focus if folder is not None and (folder / "case.json").exists() else None
    if finding_id is None and focus is not None:
        finding_id = str(focus["finding_id"])
    finding = choose_finding(triage, finding_id)
    return finding, folder if folder is not None else case_folder(finding["finding_uid"], cases_root)


def correlations(lake: Lake, incident: Incident) -> pd.DataFrame:
    """Cross-source links of an incident, from :func:`slake_forensics.analysis.correlate.correlate`.

    Instance incidents: each attacker DNS answer and the instance's flows to that address within
    10 minutes after it (``answers.rdata`` → ``dst_endpoint.ip``, forward).  Access-key
    incidents: each related finding and the attacker's API calls on the same key within an hour
    either side (``on="access_key"``).

    Parameters
    ----------
    lake
        The lake the incident was investigated in.
    incident
        An :func:`investigate` result.

    Returns
    -------
    pandas.DataFrame
        The correlate frame: the left event's columns as ``left.*``, the right event's as
        ``right.*``, ``key`` (the shared value) and ``delta`` (right time − left time); only
        ``key, delta`` and no rows when there is nothing to pair.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> from slake_forensics.workflows.investigation import correlations
    >>> lake = sf.Lake.sample()
    >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
    >>> pairs = correlations(lake, sf.investigate(lake, tri.iloc[0]))
    >>> len(pairs), sorted(set(pairs["key"]))
    (1020, ['88.99.49.102', '94.130.27.54'])
    """
    from slake_forensics.analysis.correlate import correlate

    mal = incident.events[incident.events["role"] == "malicious"]
    direction: Direction
    if incident.kind == "instance":
        rows = lake.fetch_rows(mal[mal["source"].isin(["route53", "vpc_flow"])])
        left, right = rows.get("route53"), rows.get("vpc_flow")
        on: str | tuple[str, str] = ("answers.rdata", "dst_endpoint.ip")
        within, direction = "10min", "forward"
    else:
        found = incident.findings
        hits = [where(lake, "sh_findings", "finding_info.uid = ?", [u], Window(t, t + pd.Timedelta(milliseconds=1)))
                for u, t in zip(found["finding_uid"], found["first_seen"])]
        left = lake.fetch_rows(concat(empty_timeline(), *hits)).get("sh_findings")
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
    """Follow one finding to the whole incident.

    The investigation window is ``[first_seen - before, first_seen + after)``; baselines are the
    ``baseline_days`` before it.  A finding on an access key is followed along the key, one on
    an instance along its traffic, lookups and role session (see the module's doc).

    Parameters
    ----------
    lake
        The lake.
    finding
        A :func:`~slake_forensics.workflows.triage.findings` row, or its ``finding_uid`` (then
        ``triage`` is needed).
    triage
        The :func:`~slake_forensics.workflows.triage.findings` frame to look ``finding`` up in.
    before, after
        How far the window reaches before and after the finding's first sighting.
    baseline_days
        Length of the baseline period before the window (usual addresses and names).
    min_flows
        How many flows to one outside address and port make it sustained.
    min_severity
        Detection counts threat findings of this OCSF severity id (3 = Medium) or above;
        low-severity findings such as port probes are the internet's background noise.
    progress
        Show progress bars while reading the lake.

    Returns
    -------
    Incident
        Events, scope, data access and related findings (see :class:`Incident`).

    Raises
    ------
    InvestigationError
        When the finding uid is not in ``triage`` (or no ``triage`` is given with a uid), or the
        finding names neither an access key nor an instance.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
    >>> inc = sf.investigate(lake, tri.iloc[0])
    >>> inc.kind, sorted(set(inc.scope["kind"]))
    ('instance', ['attacker_ip', 'domain', 'instance', 'role_session'])
    >>> sf.investigate(lake, tri["finding_uid"].iloc[0], triage=tri).kind
    'instance'
    """
    if isinstance(finding, str):
        if triage is None:
            raise InvestigationError("Pass triage=findings(lake, start, end) with a finding uid, or pass the triage row.")
        finding = choose_finding(triage, finding)
    t0 = pd.Timestamp(finding["first_seen"])
    window = Window(t0 - pd.Timedelta(before), t0 + pd.Timedelta(after))
    base = Window(window.start - pd.Timedelta(days=baseline_days), window.start)
    ctx = Context(lake, window, base, str(finding["account"]), progress)
    if len(finding["access_keys"]):
        kind, events, scope, data = "access_key", *key_incident(ctx, list(finding["access_keys"]))
    elif len(finding["instances"]):
        kind, events, scope, data = "instance", *instance_incident(ctx, list(finding["instances"]), finding, min_flows)
    else:
        raise InvestigationError(
            f"Finding {finding['finding_uid']} names no access key or instance ({', '.join(finding['resource_uids']) or 'no resources'}); "
            "pivot on its resources by hand with lake.pivot(...).")
    related = related_findings(lake, window, scope, events, min_severity)
    if len(related):
        det = related.iloc[0]
        t = pd.Timestamp(det["first_seen"])
        rows = where(lake, "sh_findings", "finding_info.uid = ?", [det["finding_uid"]], Window(t, t + pd.Timedelta(milliseconds=1)))
        events = concat(events, tag(rows.head(1), "detection", f"first threat finding about the incident: {det['type']}"))
    notes = [] if len(related) else ["No threat finding names the incident's entities after its first malicious event."]
    return Incident(finding, kind, window, events.sort_values("time", ignore_index=True), scope, data, related, notes)


def recovery_check(lake: Lake, incident: Incident, end: TimeLike | None = None, *, progress: bool = False) -> pd.DataFrame:
    """Everything the incident's IOCs did after containment: the recovery check.

    Pivots on the attacker IPs (CloudTrail, S3 data events, VPC flows) and on the compromised,
    created and stolen session keys (calls from public addresses only: the instance's own
    workload keeps using its role from private ones) from the first containment action on; the
    containment actions themselves are left out.

    Parameters
    ----------
    lake
        The lake.
    incident
        An :func:`investigate` result.
    end
        End of the check (default: the end of the investigation window).
    progress
        Show progress bars while reading the lake.

    Returns
    -------
    pandas.DataFrame
        Timeline rows (``time, source, class_name, activity, actor, src_ip, dst_ip, target,
        status, severity, summary, uid, account, region, ref``) with ``outcome``: ``blocked`` (a
        failed call or a blocked flow, see :func:`~slake_forensics.analysis.normalize.is_failure`:
        containment holding) or ``allowed`` (anything else: containment is not holding), sorted by
        time; empty when there was no containment.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
    >>> after = sf.recovery_check(lake, sf.investigate(lake, tri.iloc[0]))
    >>> after["outcome"].value_counts().to_dict()
    {'blocked': 2}
    """
    contained = incident.times()["containment"]
    if contained is None:
        return empty_timeline().assign(outcome=pd.Series(dtype=object))
    stop = Window.of(contained, end if end is not None else incident.window.end)
    keys = incident.credentials()
    ips = incident.entities("attacker_ip")
    sources = [*API_SOURCES, "vpc_flow"]
    frames = []
    if ips:
        frames.append(lake.pivot(ip=ips, start=stop.start, end=stop.end, sources=sources, progress=progress))
    if keys:  # the keys' own workloads keep calling from private addresses; the attacker's calls come from outside
        by_key = lake.pivot(access_key=keys, start=stop.start, end=stop.end, sources=list(API_SOURCES), progress=progress)
        frames.append(by_key[by_key["src_ip"].map(is_public)])
    tl = concat(empty_timeline(), *frames).drop_duplicates(["source", "uid", "time"]).sort_values("time")
    ours = set(incident.events.loc[incident.events["role"] == "containment", "uid"].astype(object))
    tl = tl[~tl["uid"].astype(object).isin(ours)]
    return tl.assign(outcome=["blocked" if is_failure(x) else "allowed" for x in tl["status"]]).reset_index(drop=True)


def _fmt(t: pd.Timestamp | None) -> str:
    return "—" if t is None or pd.isna(t) else t.strftime("%Y-%m-%d %H:%M:%S UTC")


def _bytes(n: Any) -> str:
    v = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if v < 1024 or unit == "TB":
            return f"{v:,.1f} {unit}" if unit != "B" else f"{int(v)} B"
        v /= 1024
    return f"{v} B"
