"""Containment plans: the AWS calls that contain, eradicate and recover from what the evidence found.

:func:`plan` turns an investigation's scope (one row per key, user, role, instance, bucket, IP…)
into an ordered :class:`ContainmentPlan`.  Each action carries the AWS CLI command, the equivalent
boto3 call and a machine form ``(service, method, kwargs)``; :meth:`ContainmentPlan.to_cli` and
:meth:`ContainmentPlan.to_boto3` render the whole plan as a script for review, and
:meth:`ContainmentPlan.execute` runs it, but only when called with ``confirm=True``.
The playbooks (which derivation each scope kind gets, the actions' order and phases, and the
small tables the calls use) are data: ``data/containment.yaml``, read once at import and checked.

Every value in a scope comes from logs an attacker can write to (user names, bucket names, key
ids), so values are only ever quoted: :func:`shlex.quote` in shell text, :func:`repr` in Python
text, and control characters escaped wherever a value lands in a comment.  Manual-review rows
(anything that needs an analyst's decision, and every unknown kind) are never executed: scripts
show them as comments and :meth:`ContainmentPlan.execute` reports them as skipped.
"""
from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

import boto3
import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

from slake_forensics.core.errors import SlakeError
from slake_forensics.core.timewindow import TimeLike, to_utc
from slake_forensics.engines.athena import botocore_config
from slake_forensics.workflows import _data

SCOPE_COLUMNS = ("kind", "value", "account", "region", "owner", "first_seen", "last_seen", "evidence_uid", "detail")
ACTION_COLUMNS = (
    "step", "phase", "action", "target", "account", "region", "manual", "why", "note",
    "cli", "boto3", "service", "method", "kwargs",
)
RESULT_COLUMNS = ("step", "phase", "action", "target", "account", "region", "status", "message", "request_id", "time")
REVOKE_POLICY_NAME = "AWSRevokeOlderSessions"
DENY_IPS_POLICY_NAME = "SlakeDenyAttackerIps"
DNS_FIREWALL_LIST_PLACEHOLDER = "<dns-firewall-block-list-id>"
PHASES = ("containment", "eradication", "recovery")
_ACCOUNT = re.compile(r"\d{12}")

Call = tuple[str, str, dict[str, Any]]
SessionFactory = Callable[[str], boto3.session.Session]


class ContainmentError(SlakeError):
    """Base class of the containment plan's errors."""


class ContainmentInputError(ContainmentError, ValueError):
    """The scope frame does not follow the contract (missing columns, bad account id, a time too early)."""


class NotConfirmedError(ContainmentError, PermissionError):
    """:meth:`ContainmentPlan.execute` was called without ``confirm=True``."""


class WrongAccountError(ContainmentError, RuntimeError):
    """The credentials for an account's actions belong to another account."""


@dataclass
class _Item:
    """One distinct thing of the scope: its rows merged (earliest first)."""

    kind: str
    value: str
    account: str
    region: str
    owner: str | None
    first_seen: pd.Timestamp
    last_seen: pd.Timestamp
    evidence: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    rows: int = 0


@dataclass(frozen=True)
class _Context:
    cutoff: str
    groups: str | Mapping[str, str] | None
    session_roles: dict[tuple[str, str], str]  # (account, session key id) -> role name


def plan(
    scope: pd.DataFrame,
    *,
    isolation_security_group: str | Mapping[str, str] | None = None,
    now: TimeLike | None = None,
) -> ContainmentPlan:
    """Derive the containment, eradication and recovery actions for ``scope``.

    Parameters
    ----------
    scope
        The columns of :data:`SCOPE_COLUMNS`, one row per item found in the evidence (an
        :class:`~slake_forensics.workflows.investigation.Incident`'s ``scope``); repeated items are
        merged.  Each kind gets the playbook ``data/containment.yaml`` names for it; an unknown kind
        gets a manual-review row.
    isolation_security_group
        The group id isolated instances get (one for all, or a mapping instance id -> group id);
        without one, isolation is a manual-review row.
    now
        The cut-off of role-session revocation (default: the current time): sessions issued before
        it are denied, so it must not precede any role's last misuse.

    Returns
    -------
    ContainmentPlan
        Its ``actions`` frame has one row per action, in run order: containment, then eradication
        (login profiles, policies, keys, then users), then recovery; columns
        :data:`ACTION_COLUMNS` (see :class:`ContainmentPlan`).

    Raises
    ------
    ContainmentInputError
        When the scope breaks its contract (missing columns, a bad account id, ``now`` before a
        role's last misuse).

    Examples
    --------
    >>> import pandas as pd
    >>> import slake_forensics as sf
    >>> row = ("compromised_key", "AKIAEXAMPLE000000001", "111122223333", "us-east-1", "ci-deploy",
    ...        pd.Timestamp("2026-03-05T09:12Z"), pd.Timestamp("2026-03-05T11:40Z"), "evt-1", None)
    >>> scope = pd.DataFrame([row], columns=sf.containment.SCOPE_COLUMNS)
    >>> p = sf.containment.plan(scope, now="2026-03-06T00:00Z")
    >>> p.actions[["step", "phase", "action", "manual"]]
       step        phase                 action  manual
    0     1  containment  deactivate access key   False
    1     2     recovery      rotate access key    True
    >>> p.actions.loc[0, "cli"]
    'aws iam update-access-key --user-name=ci-deploy --access-key-id=AKIAEXAMPLE000000001 --status=Inactive'
    """
    cutoff = (pd.Timestamp.now(tz="UTC") if now is None else to_utc(now, what="now")).ceil("s")
    items = _items(scope)
    late = [i for i in items if i.kind == "role_session" and pd.notna(i.last_seen) and i.last_seen > cutoff]
    if late:
        raise ContainmentInputError(
            f"now ({_ts(cutoff)}) is before the last misuse of role {late[0].value!r} ({_ts(late[0].last_seen)}), "
            "so revoking sessions issued before now could miss it; pass a later now= (default: the current time)."
        )
    ctx = _Context(
        cutoff=_ts(cutoff),
        groups=isolation_security_group,
        session_roles={(i.account, d): i.value for i in items if i.kind == "role_session" for d in i.details},
    )
    rows = [row for item in items for row in _DERIVE.get(item.kind, _unknown)(item, ctx)]
    rows += _deny_ips([i for i in items if i.kind == "attacker_ip"])
    return ContainmentPlan(_frame(rows), cutoff)


@dataclass(frozen=True, eq=False)
class ContainmentPlan:
    """An ordered containment plan; nothing in it runs until :meth:`execute` is called with ``confirm=True``.

    A plan built from a filtered copy of ``actions`` (``ContainmentPlan(p.actions[keep], p.cutoff)``)
    runs only those rows.

    Attributes
    ----------
    actions : pandas.DataFrame
        The columns of :data:`ACTION_COLUMNS`: ``step`` (1-based run order), ``phase``
        (containment, eradication or recovery), ``action``, ``target``, ``account``, ``region``,
        ``manual`` (True: needs an analyst's decision, never executed), ``why`` (the evidence: kind,
        first → last seen, event uid), ``note``, ``cli`` and ``boto3`` (the call as text; for manual
        rows a suggested command to run by hand, or empty) and the machine form ``service``,
        ``method``, ``kwargs``.
    cutoff : pandas.Timestamp
        The time before which role sessions are revoked.

    Examples
    --------
    >>> import pandas as pd
    >>> import slake_forensics as sf
    >>> row = ("attacker_ip", "203.0.113.7", "111122223333", "us-east-1", None,
    ...        pd.Timestamp("2026-03-05T09:12Z"), pd.NaT, "evt-1", None)
    >>> scope = pd.DataFrame([row], columns=sf.containment.SCOPE_COLUMNS)
    >>> p = sf.containment.plan(scope, now="2026-03-06T00:00Z")
    >>> list(p.actions["action"]), bool(p.actions["manual"].all())
    (['deny attacker IPs', 'verify attacker IP silent'], True)
    """

    actions: pd.DataFrame
    cutoff: pd.Timestamp

    def to_cli(self, profiles: Mapping[str, str] | None = None) -> str:
        """The plan as a bash script (``set -euo pipefail``) that refuses to run without ``--confirm``.

        Each account's commands use the AWS CLI profile ``$PROFILE_<account>``, checked against the
        account with ``sts get-caller-identity`` first.  Manual-review rows appear as comments only.

        Parameters
        ----------
        profiles
            Account -> AWS CLI profile name; an account missing here takes its profile from the
            environment variable ``PROFILE_<account>``.

        Returns
        -------
        str
            The script's text.

        Examples
        --------
        >>> import pandas as pd
        >>> import slake_forensics as sf
        >>> row = ("created_user", "backup-svc", "111122223333", "us-east-1", None,
        ...        pd.Timestamp("2026-03-05T10:01Z"), pd.Timestamp("2026-03-05T10:01Z"), "evt-2", None)
        >>> scope = pd.DataFrame([row], columns=sf.containment.SCOPE_COLUMNS)
        >>> script = sf.containment.plan(scope).to_cli({"111122223333": "ir-admin"})
        >>> script.splitlines()[-1]
        'aws --profile "$PROFILE_111122223333" --region us-east-1 iam delete-user --user-name=backup-svc'
        """
        lines = [
            "#!/usr/bin/env bash",
            f"# Containment plan from slake-forensics: {self._summary()}",
            "# Review every command, then run: bash <this file> --confirm",
            "set -euo pipefail",
            'if [[ "${1:-}" != "--confirm" ]]; then',
            '  echo "Refusing to run: review this plan, then run it again with --confirm." >&2',
            "  exit 2",
            "fi",
            "",
            "check_account() {  # profile, account, region: stop if the profile's credentials are another account's",
            "  local got",
            '  got="$(aws --profile "$1" --region "$3" sts get-caller-identity --query Account --output text)"',
            '  if [[ "$got" != "$2" ]]; then echo "profile $1 is account $got, not $2; stopping." >&2; exit 1; fi',
            "}",
            "",
        ]
        for account, region in self._accounts().items():
            var = f"PROFILE_{account}"
            if profiles and account in profiles:
                lines.append(f"{var}={shlex.quote(profiles[account])}")
            else:
                lines.append(f'{var}="${{{var}:?export {var}=<AWS CLI profile of account {account}>}}"')
            lines.append(f'check_account "${var}" {account} {shlex.quote(region)}')
        for a in self.actions.itertuples(index=False):
            lines += ["", *self._comments(a)]
            if isinstance(a.service, str):
                prefix = f'aws --profile "$PROFILE_{a.account}" --region {shlex.quote(a.region)}'
                cmd = _cli((a.service, a.method, a.kwargs), prefix)
                lines.append(_comment("# suggested: " + cmd) if a.manual else cmd)
        return "\n".join(lines) + "\n"

    def to_boto3(self, profiles: Mapping[str, str | None] | None = None) -> str:
        """The plan as a Python script over boto3 that stops unless its ``CONFIRM`` is set to True.

        Each account's credentials are checked with ``sts get_caller_identity`` before its first
        call.  Manual-review rows appear as comments only.

        Parameters
        ----------
        profiles
            Account -> AWS profile name (the script's ``PROFILES``); an account missing here uses
            boto3's default credential chain.

        Returns
        -------
        str
            The script's text.

        Examples
        --------
        >>> import pandas as pd
        >>> import slake_forensics as sf
        >>> row = ("created_login_profile", "backup-svc", "111122223333", "us-east-1", None,
        ...        pd.Timestamp("2026-03-05T10:03Z"), pd.NaT, "evt-4", None)
        >>> scope = pd.DataFrame([row], columns=sf.containment.SCOPE_COLUMNS)
        >>> script = sf.containment.plan(scope).to_boto3({"111122223333": "ir-admin"})
        >>> script.splitlines()[-1]
        "client('111122223333', 'us-east-1', 'iam').delete_login_profile(UserName='backup-svc')"
        >>> compile(script, "plan.py", "exec") is not None
        True
        """
        chosen = {a: (profiles or {}).get(a) for a in self._accounts()}
        lines = [
            f'"""Containment plan from slake-forensics: {self._summary()}',
            "",
            "Review every call, then set CONFIRM = True and run this.",
            '"""',
            "import boto3",
            "",
            "CONFIRM = False",
            f"PROFILES = {chosen!r}  # AWS profile per account; None: the default credential chain",
            "_sessions = {}",
            "",
            "",
            "def client(account, region, service):",
            '    """A boto3 client in account/region; stops if the credentials are another account\'s."""',
            "    if account not in _sessions:",
            "        session = boto3.Session(profile_name=PROFILES[account])",
            "        got = session.client('sts', region_name=region).get_caller_identity()['Account']",
            "        if got != account:",
            "            raise SystemExit(f'profile {PROFILES[account]!r} is account {got}, not {account}')",
            "        _sessions[account] = session",
            "    return _sessions[account].client(service, region_name=region)",
            "",
            "",
            "if not CONFIRM:",
            "    raise SystemExit('Review every call below, then set CONFIRM = True to run them.')",
        ]
        for a in self.actions.itertuples(index=False):
            lines += ["", *self._comments(a)]
            if isinstance(a.service, str):
                call = _boto3((a.service, a.method, a.kwargs), f"client({a.account!r}, {a.region!r}, {a.service!r})")
                lines.append(_comment("# suggested: " + call) if a.manual else call)
        return "\n".join(lines) + "\n"

    def _repr_html_(self) -> str:
        """An HTML summary and table of the actions (every value escaped) for notebooks."""
        cols = ["step", "phase", "action", "target", "account", "region", "manual", "why", "note", "cli"]
        head = escape(f"Containment plan: {self._summary()} Nothing runs until execute(confirm=True).")
        return f"<p>{head}</p>" + self.actions[cols].to_html(index=False, escape=True)

    def execute(self, *, confirm: bool = False, session_factory: SessionFactory | None = None) -> pd.DataFrame:
        """Run the plan's calls in order; refuses unless ``confirm`` is True.

        Each account's credentials must belong to that account, which is checked with
        ``sts get_caller_identity`` before its first call.  A failing call does not stop the run;
        manual-review rows are skipped.

        Parameters
        ----------
        confirm
            Must be True to run anything.
        session_factory
            ``session_factory(account)`` returns the boto3 session for an account's actions (default:
            ``boto3.Session()`` for every account).

        Returns
        -------
        pandas.DataFrame
            One row per action with the columns of :data:`RESULT_COLUMNS`: ``step, phase, action,
            target, account, region``, ``status`` (``ok``, ``error`` or ``skipped`` for manual
            review), ``message`` (the outcome or error), ``request_id`` (AWS's request id, empty when
            none) and ``time`` (when it finished, UTC).

        Raises
        ------
        NotConfirmedError
            When ``confirm`` is not True.

        Examples
        --------
        >>> import pandas as pd
        >>> import slake_forensics as sf
        >>> row = ("attacker_ip", "203.0.113.7", "111122223333", "us-east-1", None,
        ...        pd.Timestamp("2026-03-05T09:12Z"), pd.NaT, "evt-1", None)
        >>> scope = pd.DataFrame([row], columns=sf.containment.SCOPE_COLUMNS)
        >>> p = sf.containment.plan(scope, now="2026-03-06T00:00Z")
        >>> p.execute()
        Traceback (most recent call last):
        ...
        slake_forensics.workflows.containment.NotConfirmedError: execute() would make 0 changes in AWS account(s) (none). Review plan.actions (or plan.to_cli()), then call plan.execute(confirm=True).
        >>> list(p.execute(confirm=True)["status"])  # manual rows only: nothing is called
        ['skipped', 'skipped']
        """
        if confirm is not True:
            runnable = self.actions[~self.actions["manual"]]
            raise NotConfirmedError(
                f"execute() would make {len(runnable)} changes in AWS account(s) "
                f"{', '.join(sorted(set(runnable['account']))) or '(none)'}. "
                "Review plan.actions (or plan.to_cli()), then call plan.execute(confirm=True)."
            )
        clients = _Clients(session_factory or (lambda account: boto3.Session()))
        rows = []
        for a in self.actions.itertuples(index=False):
            if a.manual:
                status, message, request_id = "skipped", f"manual review: {a.note}", ""
            else:
                status, message, request_id = clients.run(a.account, a.region, (a.service, a.method, a.kwargs))
            rows.append({"step": a.step, "phase": a.phase, "action": a.action, "target": a.target, "account": a.account,
                         "region": a.region, "status": status, "message": message, "request_id": request_id,
                         "time": pd.Timestamp.now(tz="UTC")})
        return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))

    def _summary(self) -> str:
        manual = int(self.actions["manual"].sum())
        return (f"{len(self.actions)} actions ({manual} manual review, shown as comments only); "
                f"role sessions issued before {_ts(self.cutoff)} are revoked.")

    def _accounts(self) -> dict[str, str]:
        """Accounts with calls to run -> the region of their first call (used for the identity check)."""
        first = self.actions[~self.actions["manual"]].drop_duplicates("account")
        return dict(zip(first["account"], first["region"], strict=True))

    @staticmethod
    def _comments(a: Any) -> list[str]:
        """The comment lines (shell and Python alike) heading action row ``a``."""
        label = f"MANUAL REVIEW: {a.action}" if a.manual else a.action
        lines = [f"# {a.step}. {a.phase}: {label} · {a.target} ({a.account}, {a.region})", f"# why: {a.why}"]
        lines += [f"# note: {a.note}"] if a.note else []
        return [_comment(line) for line in lines]


class _Clients:
    """boto3 clients per account, region and service, each account's credentials checked once."""

    def __init__(self, factory: SessionFactory) -> None:
        self._factory = factory
        self._sessions: dict[str, boto3.session.Session] = {}
        self._config = botocore_config()  # connect/read timeouts and bounded retries, as every client of a lake
        self._clients: dict[tuple[str, str, str], Any] = {}

    def run(self, account: str, region: str, call: Call) -> tuple[str, str, str]:
        """Make one call; returns (status, message, request id) and never raises for AWS errors."""
        service, method, kwargs = call
        try:
            response = getattr(self._client(account, region, service), method)(**kwargs)
        except ClientError as exc:
            return "error", str(exc), exc.response.get("ResponseMetadata", {}).get("RequestId", "")
        except (BotoCoreError, WrongAccountError) as exc:
            return "error", str(exc), ""
        meta = response.get("ResponseMetadata", {})
        return "ok", f"{method} succeeded (HTTP {meta.get('HTTPStatusCode')})", meta.get("RequestId", "")

    def _client(self, account: str, region: str, service: str) -> Any:
        if account not in self._sessions:
            session = self._factory(account)
            got = session.client("sts", region_name=region, config=self._config).get_caller_identity()["Account"]
            if got != account:
                raise WrongAccountError(
                    f"the session for account {account} has credentials of account {got}; "
                    "give execute() a session_factory that returns a session in each plan account."
                )
            self._sessions[account] = session
        key = (account, region, service)
        if key not in self._clients:
            self._clients[key] = self._sessions[account].client(service, region_name=region, config=self._config)
        return self._clients[key]


# --- deriving actions -------------------------------------------------------------------------

Derive = Callable[[_Item, _Context], list[dict[str, Any]]]
#: Derivation name (the values of ``playbooks`` in ``data/containment.yaml``) -> (derivation, actions it derives).
_PLAYBOOKS: dict[str, tuple[Derive, tuple[str, ...]]] = {}
_DENY_IPS = "deny attacker IPs"


def _playbook(name: str, *actions: str) -> Callable[[Derive], Derive]:
    """Register a derivation as playbook ``name`` of ``data/containment.yaml``, deriving ``actions``."""
    def register(derive: Derive) -> Derive:
        _PLAYBOOKS[name] = (derive, actions)
        return derive
    return register


def _items(scope: pd.DataFrame) -> list[_Item]:
    """The scope's rows checked and merged into distinct items, in order of first sighting."""
    missing = [c for c in SCOPE_COLUMNS if c not in scope.columns]
    if missing:
        raise ContainmentInputError(f"scope lacks column(s) {missing}; it needs {list(SCOPE_COLUMNS)}.")
    frame = scope.assign(
        first_seen=pd.to_datetime(scope["first_seen"], utc=True), last_seen=pd.to_datetime(scope["last_seen"], utc=True)
    ).sort_values("first_seen", kind="stable", na_position="last")
    items: dict[tuple, _Item] = {}
    for idx, r in zip(frame.index, frame.itertuples(index=False), strict=True):
        kind, value, account, region = (_text(r.kind), _text(r.value), _text(r.account), _text(r.region))
        if not (kind and value and region and account) or not _ACCOUNT.fullmatch(account):
            raise ContainmentInputError(
                f"scope row {idx!r} needs kind, value and region strings and a 12-digit account string; "
                f"got kind={kind!r}, value={value!r}, account={account!r}, region={region!r}."
            )
        owner = _text(r.owner)
        key = (kind, account, value, owner if kind == "attached_policy" else None,
               region if kind in _REGIONAL_KINDS or kind not in _DERIVE else None)
        item = items.setdefault(key, _Item(kind, value, account, region, owner, r.first_seen, r.last_seen))
        item.owner = item.owner or owner
        if pd.notna(r.last_seen) and (pd.isna(item.last_seen) or r.last_seen > item.last_seen):
            item.last_seen = r.last_seen
        for values, new in ((item.evidence, _text(r.evidence_uid)), (item.details, _text(r.detail))):
            if new and new not in values:
                values.append(new)
        item.rows += 1
    return list(items.values())


def _act(item: _Item, action: str, target: str, call: Call | None = None, *, manual: bool = False,
         note: str = "") -> dict[str, Any]:
    """One action row (before ordering) for ``item``; ``call`` is the machine form, or a suggestion if manual."""
    return {"phase": _PHASE[action], "action": action, "target": target, "account": item.account,
            "region": item.region, "manual": manual, "why": _why(item), "note": _comment(note), "call": call}


@_playbook("access_key", "find key owner", "revoke temporary key", "deactivate access key", "delete access key",
           "rotate access key")
def _keys(item: _Item, ctx: _Context) -> list[dict[str, Any]]:
    key, user = item.value, item.owner
    if key.startswith("ASIA"):
        role = ctx.session_roles.get((item.account, key))
        todo = (f"revoking the sessions of role {role} covers it" if role else
                "find the role or user that issued it (lake.pivot(access_key=...)) and revoke its sessions")
        return [_act(item, "revoke temporary key", key, manual=True,
                     note=f"temporary credentials cannot be deactivated; {todo}.")]
    if not user:
        return [_act(item, "find key owner", key, ("iam", "get_access_key_last_used", {"AccessKeyId": key}),
                     manual=True, note="the owner is unknown: UserName in this call's answer names it; "
                                       "then deactivate the key with update-access-key.")]
    target = f"{key} of {user}"
    rows = [_act(item, "deactivate access key", target,
                 ("iam", "update_access_key", {"UserName": user, "AccessKeyId": key, "Status": "Inactive"}))]
    delete = ("iam", "delete_access_key", {"UserName": user, "AccessKeyId": key})
    if item.kind == "created_key":
        return [*rows, _act(item, "delete access key", target, delete)]
    return [*rows, _act(item, "rotate access key", target, delete, manual=True,
                        note="give the owner's workloads a new key, then delete this deactivated one.")]


@_playbook("role_session", "revoke role sessions")
def _role_session(item: _Item, ctx: _Context) -> list[dict[str, Any]]:
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": ctx.cutoff}},
    }]}
    call = ("iam", "put_role_policy",
            {"RoleName": item.value, "PolicyName": REVOKE_POLICY_NAME, "PolicyDocument": json.dumps(policy)})
    return [_act(item, "revoke role sessions", item.value, call,
                 note=f"denies every session of the role issued before {ctx.cutoff}; sessions issued later "
                      "(an instance's next credentials) still work.")]


@_playbook("instance", "preserve instance evidence", "isolate instance", "rebuild instance")
def _instance(item: _Item, ctx: _Context) -> list[dict[str, Any]]:
    iid = item.value
    describe = ("ec2", "describe_instances", {"InstanceIds": [iid]})
    group = ctx.groups.get(iid) if isinstance(ctx.groups, Mapping) else ctx.groups
    rows = [_act(item, "preserve instance evidence", iid, describe, manual=True,
                 note="before isolating, snapshot every EBS volume this lists "
                      "(aws ec2 create-snapshot --volume-id <vol> --description <case>); capture memory if you can.")]
    if group:
        rows.append(_act(item, "isolate instance", iid,
                         ("ec2", "modify_instance_attribute", {"InstanceId": iid, "Groups": [group]}),
                         note="replaces all its security groups; connections already tracked may survive the change."))
    else:
        rows.append(_act(item, "isolate instance", iid, describe, manual=True,
                         note="no isolation group given: create one in the instance's VPC (VpcId here), revoke its "
                              "default egress rule, then plan(..., isolation_security_group='sg-...')."))
    rows.append(_act(item, "rebuild instance", iid, manual=True,
                     note="replace it from a known-good image; terminate it only after its evidence is preserved."))
    return rows


@_playbook("public_access_block", "block public access")
def _public_access_block(item: _Item, ctx: _Context) -> list[dict[str, Any]]:
    call = ("s3", "put_public_access_block", {"Bucket": item.value, "PublicAccessBlockConfiguration":
                                              dict(BLOCK_ALL_PUBLIC_ACCESS), "ExpectedBucketOwner": item.account})
    return [_act(item, "block public access", item.value, call)]


@_playbook("bucket_policy", "restore bucket policy")
def _bucket_policy(item: _Item, ctx: _Context) -> list[dict[str, Any]]:
    call = ("s3", "get_bucket_policy", {"Bucket": item.value, "ExpectedBucketOwner": item.account})
    return [_act(item, "restore bucket policy", item.value, call, manual=True,
                 note="the previous policy is not in the evidence: compare this one with the last reviewed version "
                      "and put that back (aws s3api put-bucket-policy --policy file://reviewed.json).")]


@_playbook("created_user", "delete user")
def _created_user(item: _Item, ctx: _Context) -> list[dict[str, Any]]:
    return [_act(item, "delete user", item.value, ("iam", "delete_user", {"UserName": item.value}),
                 note="fails (DeleteConflict) while anything the evidence missed is attached: list it with "
                      "aws iam list-access-keys / list-user-policies / list-groups-for-user / list-mfa-devices.")]


@_playbook("login_profile", "delete login profile")
def _login_profile(item: _Item, ctx: _Context) -> list[dict[str, Any]]:
    return [_act(item, "delete login profile", item.value, ("iam", "delete_login_profile", {"UserName": item.value}))]


@_playbook("attached_policy", "detach policy", "find policy attachments")
def _attached_policy(item: _Item, ctx: _Context) -> list[dict[str, Any]]:
    arn, (entity, _, name) = item.value, (item.owner or "").partition("/")
    if entity in _DETACH and name:
        method, param = _DETACH[entity]
        call = ("iam", method, {param: name, "PolicyArn": arn})
        return [_act(item, "detach policy", f"{arn} from {item.owner}", call)]
    return [_act(item, "find policy attachments", arn, ("iam", "list_entities_for_policy", {"PolicyArn": arn}),
                 manual=True, note=f"owner {item.owner!r} is not user/<name> or role/<name>: find where it is "
                                   "attached and detach it there.")]


@_playbook("attacker_ip", "verify attacker IP silent")
def _attacker_ip(item: _Item, ctx: _Context) -> list[dict[str, Any]]:
    return [_act(item, "verify attacker IP silent", item.value, manual=True,
                 note="lake.pivot(ip=...) from the containment time on should show only failed calls.")]


@_playbook("domain", "block domain")
def _domain(item: _Item, ctx: _Context) -> list[dict[str, Any]]:
    call = ("route53resolver", "update_firewall_domains",
            {"FirewallDomainListId": DNS_FIREWALL_LIST_PLACEHOLDER, "Operation": "ADD", "Domains": [item.value.rstrip(".")]})
    return [_act(item, "block domain", item.value, call, manual=True,
                 note="add it to the block list of a Route 53 Resolver DNS Firewall rule group associated with the "
                      "instance's VPC (replace the list id); names an instance resolved may also be legitimate: review first.")]


@_playbook("unknown", "review unknown kind")
def _unknown(item: _Item, ctx: _Context) -> list[dict[str, Any]]:
    return [_act(item, "review unknown kind", item.value, manual=True,
                 note=f"kind {item.kind!r} has no known containment action: decide by hand.")]


def _deny_ips(ips: list[_Item]) -> list[dict[str, Any]]:
    """One optional, manual deny-by-source-IP policy per account with attacker IPs."""
    rows = []
    for account in dict.fromkeys(i.account for i in ips):
        mine = [i for i in ips if i.account == account]
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
            "Condition": {"IpAddress": {"aws:SourceIp": [i.value for i in mine]}},
        }]}
        call = ("iam", "create_policy", {"PolicyName": DENY_IPS_POLICY_NAME, "PolicyDocument": json.dumps(policy)})
        row = _act(mine[0], _DENY_IPS, f"{len(mine)} attacker IP(s)", call, manual=True,
                   note="optional: attach this policy to principals that must keep working, or use it as an SCP.")
        rows.append(row | {"why": _comment("; ".join(f"{i.value}: {_why(i)}" for i in mine))})
    return rows


def _tables() -> tuple[tuple[tuple[str, str], ...], dict[str, Derive], tuple[str, ...], dict[str, tuple[str, str]],
                       dict[str, str], dict[str, bool]]:
    """The playbook tables of ``data/containment.yaml``, checked against the derivations above."""
    table = _data.load("containment.yaml")
    order: list[tuple[str, str]] = []
    for node in table["actions"].items():
        phase, action = node.fields("action", "phase")["phase"].text(PHASES), node["action"].text()
        if order and PHASES.index(phase) < PHASES.index(order[-1][0]):
            node["phase"].fail(f"{phase!r} comes after {order[-1][0]!r}: "
                               f"list the actions phase by phase ({', '.join(PHASES)})")
        if action in {a for _, a in order}:
            node["action"].fail(f"repeats the action {action!r}")
        order.append((phase, action))
    derived = {a for _, actions in _PLAYBOOKS.values() for a in actions} | {_DENY_IPS}
    if missing := sorted(derived - {a for _, a in order}):
        table["actions"].fail(f"lacks the action(s) {missing} that containment.py derives")
    if unused := [a for _, a in order if a not in derived]:
        table["actions"].fail(f"lists action(s) {unused} that no playbook of containment.py derives")
    derive = {kind: _PLAYBOOKS[name][0] for kind, name in table["playbooks"].text_map(values=_PLAYBOOKS).items()}
    detach = {entity: (node.fields("method", "parameter")["method"].text(), node["parameter"].text())
              for entity, node in table["detach"].entries()}
    return (tuple(order), derive, table["regional_kinds"].texts(derive), detach, table["cli_services"].text_map(),
            {name: node.flag() for name, node in table["block_all_public_access"].entries()})


# (phase, action) in the order a plan runs them; kind -> derivation; kinds merged per region; how to
# detach a policy per owner entity; CLI names of services; the configuration that blocks public access.
_ORDER, _DERIVE, _REGIONAL_KINDS, _DETACH, _CLI_SERVICE, BLOCK_ALL_PUBLIC_ACCESS = _tables()
_RANK = {action: i for i, (_, action) in enumerate(_ORDER)}
_PHASE = dict((action, phase) for phase, action in _ORDER)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The ordered, deduplicated actions frame (columns :data:`ACTION_COLUMNS`) from action rows."""
    merged: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = (row["action"], row["account"], row["target"], json.dumps(row["call"], sort_keys=True))
        if key in merged:  # the same call for two items (a key both compromised and created): one row, both reasons
            if row["why"] not in merged[key]["why"]:
                merged[key]["why"] += "; " + row["why"]
        else:
            merged[key] = dict(row)
    ordered = sorted(merged.values(), key=lambda r: (_RANK[r["action"]], r["account"], r["target"]))
    out = []
    for step, row in enumerate(ordered, 1):
        call = row.pop("call")
        row |= {"step": step, "cli": _cli(call) if call else "", "boto3": _boto3(call) if call else "",
                "service": call[0] if call else None, "method": call[1] if call else None,
                "kwargs": call[2] if call else None}
        out.append(row)
    frame = pd.DataFrame(out, columns=list(ACTION_COLUMNS), dtype=object)  # object keeps None and the kwargs dicts
    return frame.astype({"step": "int64", "manual": "bool"})


# --- text -------------------------------------------------------------------------------------

def _cli(call: Call, prefix: str = "aws") -> str:
    """The AWS CLI command for ``call``, every argument shell-quoted.

    Values are attached as ``--name=value`` so one starting with ``-`` cannot pass for an option;
    structures (and lists of more than one value) are given as JSON, which the CLI accepts.
    """
    service, method, kwargs = call
    args = [_CLI_SERVICE.get(service, service), method.replace("_", "-")]
    for name, value in kwargs.items():
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
            value = value[0]
        text = value if isinstance(value, str) else json.dumps(value)
        args.append(f"--{re.sub(r'(?<!^)(?=[A-Z])', '-', name).lower()}={text}")
    return " ".join([prefix, *map(shlex.quote, args)])


def _boto3(call: Call, receiver: str | None = None) -> str:
    """The boto3 call for ``call`` on ``receiver`` (default: a client named after the service), values as repr()."""
    service, method, kwargs = call
    return f"{receiver or service}.{method}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def _why(item: _Item) -> str:
    """One line citing the evidence of ``item``: kind, detail, when seen (if known), rows, event uid."""
    detail = f" ({', '.join(item.details)})" if item.details else ""
    more = f" (+{len(item.evidence) - 1} more)" if len(item.evidence) > 1 else ""
    evidence = f"evidence {item.evidence[0]}{more}" if item.evidence else "no event uid"
    return _comment(f"{item.kind}{detail}{_seen(item)} in {item.rows} scope row(s), {evidence}")


def _seen(item: _Item) -> str:
    """`` seen first → last``, `` seen first`` when both are one time or one is unknown, ``""`` when both are.

    Instances and domains come from events that give no first and last use, so no ``? → ?``.
    """
    known = [t for t in (item.first_seen, item.last_seen) if pd.notna(t)]
    if not known:
        return ""
    if len(known) == 1 or known[0] == known[1]:
        return f" seen {_ts(known[0])}"
    return f" seen {_ts(known[0])} → {_ts(known[1])}"


def _comment(text: str) -> str:
    """``text`` on one line: newlines and other unprintable characters escaped (safe in # comments)."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def _ts(value: pd.Timestamp) -> str:
    return "?" if pd.isna(value) else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: Any) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)
