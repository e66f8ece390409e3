"""Background CloudTrail management events: every principal's API calls, sign-ins and service activity.

Each person, CI/CD user and workload role calls the APIs of its service families at the
times its habits give (:func:`~slake_forensics.sample.common.habit_times`), from its IPs
with its user agents, failing at its error rate with the service's real AccessDenied /
throttling codes.  People sign in to the console (SSO people through ``Federate`` →
``AssumeRoleWithSAML`` → ``ConsoleLogin``; IAM users with or without MFA, ``CheckMfa`` before the
sign-in of those with it, a few failed attempts naming no ARN); admins make occasional routine IAM changes (in the ``iam`` family mix); AWS
services assume roles and act through their service-linked roles from ``<service>.amazonaws.com``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from slake_forensics.core.catalog import SOURCES
from slake_forensics.sample.apis import SERVICE_APIS, SERVICE_LINKED_CALLS, Api, fill_template, resource_pools
from slake_forensics.sample.cloudtrail import ct_columns, principal_identity
from slake_forensics.sample.common import NULL, MS_PER_HOUR, habit_times, hex_ids, pick
from slake_forensics.sample.org import Org, Principal
from slake_forensics.sample.writer import build_table

#: Share of a principal's habitual calls that are management events, by persona.
MGMT_SHARE = {"engineer": 0.85, "sre": 0.9, "admin": 0.9, "security": 0.9, "finance": 0.8, "data": 0.6,
              "cicd": 0.45, "app": 0.35, "service": 1.0, "root": 1.0}
#: Relative weight of a family in a principal's mix (default 1); everyone also calls sts.
FAMILY_WEIGHT = {"kms": 2.5, "sts": 0.35, "s3": 1.2}
#: Calibrates habitual volume so scale 1 gives ~90k management events in 14 days with the default org.
VOLUME = 1.6
HUMANS = ("engineer", "sre", "admin", "security", "finance", "data")
SIGN_IN_KEYS = ("time", "event_source", "event_name", "region", "recipient_account", "source", "user_agent", "user_type",
                "user_arn", "principal_id", "user_name", "account_id", "access_key", "session_issuer", "idp", "event_type", "request",
                "response", "error_message", "login_to", "mfa_used")
LOGIN_TO = "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_{r}_{h}"


def background(org: Org, rng: np.random.Generator, scale: float = 1.0) -> pa.Table:
    """Management events of the whole org over the period, in the exact ``cloud_trail_mgmt`` schema."""
    pools = resource_pools(org)
    parts = [_habitual(org, rng, scale, pools), _sign_ins(org, rng, scale), _service_activity(org, rng, scale, pools)]
    return pa.concat_tables([build_table(SOURCES["cloud_trail_mgmt"], cols, n) for cols, n in parts])


def global_region(org: Org) -> str:
    """Region CloudTrail records global services (IAM, Organizations, …) in: us-east-1 when the lake has it."""
    return "us-east-1" if "us-east-1" in org.regions else org.regions[0]


def _home_weighted(regions: Sequence[str], rng: np.random.Generator, n: int) -> np.ndarray:
    regs = np.asarray(regions, dtype=object)
    w = np.where(np.arange(len(regs)) == 0, 4.0, 1.0)
    return regs[rng.choice(len(regs), n, p=w / w.sum())]


def _api_fields(apis: Mapping[str, Api], fam: np.ndarray, api: np.ndarray, accounts: np.ndarray, regions: np.ndarray,
                pools: Mapping[str, Mapping[str, list[str]]], rng: np.random.Generator) -> dict[str, Any]:
    """Request/response JSON, resources and Account Change targets, filled per (family, API) group.

    Returns Arrow string arrays (``request``, ``response``, ``res_uid``, ``res_type``, ``target_uid``,
    ``target_name``) and a bool array ``read_only``, one value per event.
    """
    n = len(fam)
    enc = pc.dictionary_encode(pc.binary_join_element_wise(pa.array(fam, pa.string()), pa.array(api, pa.string()), ":"))
    codes = enc.indices.to_numpy()
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(enc.dictionary) + 1))
    chunks: dict[str, list[pa.Array]] = {k: [] for k in ("request", "response", "res_uid", "res_type", "target_uid", "target_name")}
    read_only = np.zeros(n, bool)
    for c, key in enumerate(enc.dictionary.to_pylist()):
        idx = order[bounds[c]:bounds[c + 1]]
        k = len(idx)
        a = apis[key]
        f, name = key.split(":", 1)
        acc, reg = accounts[idx], regions[idx]
        req, vals = fill_template(a.request, acc, reg, pools, rng)
        chunks["request"].append(req)
        read_only[idx] = a.read_only
        chunks["response"].append(fill_template(a.response, acc, reg, pools, rng, overrides=vals)[0])
        chunks["res_uid"].append(fill_template(a.resource[1] if a.resource else None, acc, reg, pools, rng, overrides=vals)[0])
        chunks["res_type"].append(pa.array(np.full(k, a.resource[0] if a.resource else None, dtype=object), pa.string()))
        if a.target:
            suffix = "-v2" if name == "CreateRole" else ""
            target = fill_template(f"<{a.target}>{suffix}", acc, reg, pools, rng, overrides=vals)[0]
            kind = "user" if a.target == "user" else "role"
            chunks["target_name"].append(target)
            chunks["target_uid"].append(pc.binary_join_element_wise("arn:aws:iam::", pa.array(acc, pa.string()), f":{kind}/", target, ""))
        else:
            chunks["target_name"].append(pa.nulls(k, pa.string()))
            chunks["target_uid"].append(pa.nulls(k, pa.string()))
    inverse = pa.array(np.argsort(order, kind="stable"), pa.int64())
    out: dict[str, Any] = {k: pa.concat_arrays(v).take(inverse) if v else pa.nulls(n, pa.string()) for k, v in chunks.items()}
    out["read_only"] = read_only
    return out


def _errors(fam: np.ndarray, api: np.ndarray, arns: pa.Array, rate: np.ndarray,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """errorCode/errorMessage per event: AccessDenied-style (75%) or throttling at each principal's rate."""
    n = len(fam)
    code = np.full(n, None, dtype=object)
    msg = np.full(n, None, dtype=object)
    fail = rng.random(n) < rate
    denied = rng.random(n) < 0.75
    for f in sorted(set(fam[fail].tolist())):
        svc = SERVICE_APIS[f]
        m = fail & (fam == f)
        d, th = m & denied, m & ~denied
        code[d], code[th] = svc.denied, svc.throttled
        action = np.char.add(f"{svc.prefix}:", api[d].astype(str))
        text = np.char.add(np.char.add(np.char.add(np.char.add("User: ", np.asarray(arns.take(pa.array(np.flatnonzero(d))).to_numpy(zero_copy_only=False)).astype(str)), " is not authorized to perform: "), action),
                           np.char.add(np.char.add(" because no identity-based policy allows the ", action), " action"))
        if svc.denied == "Client.UnauthorizedOperation":
            text = np.char.add("You are not authorized to perform this operation. ", text)
        msg[d] = text.astype(object)
        msg[th] = "Rate exceeded"
    return code, msg


def _habitual(org: Org, rng: np.random.Generator, scale: float, pools: Mapping[str, Mapping[str, list[str]]]) -> tuple[dict, int]:
    """API calls of people, CI/CD users and workload roles, following their habits."""
    ts, pidxs, fams, apis, regs, consoles = [], [], [], [], [], []
    gregion = global_region(org)
    for i, p in enumerate(org.principals):
        if p.kind not in ("IAMUser", "AssumedRole") or p.daily_calls <= 0:
            continue
        t = habit_times(org, p, rng, scale * VOLUME * MGMT_SHARE.get(p.persona, 1.0))
        n = len(t)
        fam_pool = [f for f in p.services if f in SERVICE_APIS] + ["sts"]
        w = np.array([FAMILY_WEIGHT.get(f, 1.0) for f in fam_pool])
        fam = np.asarray(fam_pool, dtype=object)[rng.choice(len(fam_pool), n, p=w / w.sum())]
        api = np.empty(n, dtype=object)
        region = _home_weighted(p.regions or org.regions, rng, n)
        for f in fam_pool:
            m = fam == f
            svc = SERVICE_APIS[f]
            api[m] = np.array([a.name for a in svc.apis], dtype=object)[rng.choice(len(svc.apis), int(m.sum()), p=svc.weights())]
            if svc.is_global:
                region[m] = gregion
        ts.append(t)
        pidxs.append(np.full(n, i))
        fams.append(fam)
        apis.append(api)
        regs.append(region)
        consoles.append(rng.random(n) < 0.4 if p.persona in HUMANS else np.zeros(n, bool))
    t, pidx, fam, api, region, console = (np.concatenate(x) for x in (ts, pidxs, fams, apis, regs, consoles))
    n = len(t)
    P = org.principals
    accounts = np.array([p.account.id for p in P], dtype=object)[pidx]
    catalog = {f"{f}:{a.name}": a for f, s in SERVICE_APIS.items() for a in s.apis}
    fields = _api_fields(catalog, fam, api, accounts, region, pools, rng)
    ident = principal_identity(P, pidx, t, console, rng)
    rate = np.array([p.error_rate for p in P])[pidx]
    code, msg = _errors(fam, api, ident["user_arn"], rate, rng)
    failed = pa.array(code != None)  # noqa: E711 (element-wise on an object array)
    fields["response"] = pc.if_else(failed, pa.nulls(n, pa.string()), fields["response"])
    # where the call came from: people and CI runners from their IPs, workloads from the VPC
    nuas = np.array([len(p.user_agents) for p in P])[pidx]
    ua_pick = np.where(console, 0, np.where(nuas > 1, 1, 0))
    cicd = np.array([p.persona == "cicd" for p in P])[pidx]
    ua_pick = np.where(cicd, (rng.random(n) * nuas).astype("int64"), ua_pick)
    source = pick_per_principal(P, "ips", pidx, (rng.random(n) * np.array([len(p.ips) for p in P])[pidx]).astype("int64"))
    ua = pick_per_principal(P, "user_agents", pidx, ua_pick)
    app = np.array([p.persona == "app" for p in P])[pidx]
    vpce = {a.id: f"vpce-0{hex_ids(rng, 1, 16)[0]}" for a in org.accounts}
    ev = {"time": t, "event_source": _event_sources(fam), "event_name": api, "region": region, "recipient_account": accounts, "source": source, "user_agent": ua,
          "request": fields["request"], "response": fields["response"], "error_code": code, "error_message": msg,
          "read_only": fields["read_only"], "target_uid": fields["target_uid"], "target_name": fields["target_name"],
          "vpc_endpoint": pc.if_else(pa.array(app), pick([vpce[a.id] for a in org.accounts], _account_index(org, accounts)), None),
          **ident}
    return ct_columns(ev, rng, resources=[{"uid": fields["res_uid"], "type": fields["res_type"], "account": accounts}])


def pick_per_principal(principals: Sequence[Principal], attr: str, pidx: np.ndarray, which: np.ndarray) -> pa.Array:
    """Per event ``getattr(principals[pidx], attr)[which]`` (a list attribute such as ``ips``), as Arrow strings."""
    pools = [getattr(p, attr) or [None] for p in principals]
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in pools])])[:-1]
    return pick([v for x in pools for v in x], offsets[pidx] + which)


def _account_index(org: Org, accounts: np.ndarray) -> np.ndarray:
    """Index into ``org.accounts`` of each account id."""
    ids = np.array([a.id for a in org.accounts], dtype=object)
    order = np.argsort(ids)
    return order[np.searchsorted(ids[order], accounts)]


def _event_sources(fam: np.ndarray) -> np.ndarray:
    """``eventSource`` per event from its service family."""
    out = np.empty(len(fam), dtype=object)
    for f in sorted(set(fam.tolist())):
        out[fam == f] = SERVICE_APIS[f].event_source
    return out


def _sign_ins(org: Org, rng: np.random.Generator, scale: float) -> tuple[dict, int]:
    """Console sign-ins of people: SSO chains (Federate, AssumeRoleWithSAML, ConsoleLogin) and IAM-user logins."""
    start = int(org.start.value // 1_000_000)
    gregion = global_region(org)
    rows: dict[str, list[np.ndarray]] = {}

    def add(**cols: np.ndarray) -> None:
        k = len(cols["time"])
        for key in SIGN_IN_KEYS:
            v = cols.get(key)
            rows.setdefault(key, []).append(np.asarray(v, dtype="int64") if key == "time" else
                                            np.full(k, None, dtype=object) if v is None else np.asarray(v, dtype=object))

    days = np.arange(org.days)
    weekday = ((org.start.day_of_week + days) % 7) < 5
    for p in org.principals:
        if p.persona not in HUMANS:
            continue
        prob = np.where(weekday, min(0.9, 0.75 * scale ** 0.25), p.weekend_activity)
        d = days[rng.random(org.days) < prob]
        k = len(d)
        if k == 0:
            continue
        t = start + d * 86_400_000 + ((p.work_hours[0] + rng.normal(0.4, 0.5, k) - p.tz_offset_h) * MS_PER_HOUR).astype("int64")
        ip = np.asarray(p.ips, dtype=object)[rng.integers(0, len(p.ips), k)]
        ua = np.full(k, p.user_agents[0], dtype=object)
        login_to = np.array([LOGIN_TO.format(r=gregion, h=h) for h in hex_ids(rng, k, 12)], dtype=object)
        base = {"user_agent": ua, "source": ip, "recipient_account": np.full(k, p.account.id, dtype=object)}
        if p.kind == "AssumedRole" and p.session_issuer:  # IAM Identity Center: portal federation, SAML, then the console
            sso_region = np.full(k, org.regions[0], dtype=object)
            add(time=t, event_source=np.full(k, "sso.amazonaws.com"), event_name=np.full(k, "Federate"), region=sso_region,
                user_type=np.full(k, "Unknown"), principal_id=np.full(k, f"{p.account.id}:{p.name}@{org.domain}"),
                user_name=np.full(k, f"{p.name}@{org.domain}"), event_type=np.full(k, "AwsServiceEvent"),
                request=np.full(k, f'{{"roleName":"{p.session_issuer.rsplit("/", 1)[-1]}","accountId":"{p.account.id}"}}'),
                **base)
            role = p.session_issuer.rsplit("/", 1)[-1]
            saml = f"arn:aws:iam::{p.account.id}:saml-provider/AWSSSO_{hex_ids(rng, 1, 16)[0]}_DO_NOT_DELETE"
            add(time=t + 900, event_source=np.full(k, "sts.amazonaws.com"), event_name=np.full(k, "AssumeRoleWithSAML"),
                region=np.full(k, gregion), user_type=np.full(k, "SAMLUser"),
                principal_id=np.full(k, f"{saml.split('/')[-1]}:{p.name}@{org.domain}"), user_name=np.full(k, f"{p.name}@{org.domain}"),
                idp=np.full(k, saml), event_type=np.full(k, "AwsApiCall"),
                request=np.full(k, f'{{"sAMLAssertionID":"_{hex_ids(rng, 1, 32)[0]}","roleSessionName":"{p.name}@{org.domain}",'
                                   f'"roleArn":"arn:aws:iam::{p.account.id}:role/aws-reserved/sso.amazonaws.com/{role}",'
                                   f'"principalArn":"{saml}","durationSeconds":43200}}'),
                **base)
            add(time=t + 2400, event_source=np.full(k, "signin.amazonaws.com"), event_name=np.full(k, "ConsoleLogin"),
                region=np.full(k, gregion), user_type=np.full(k, "AssumedRole"), user_arn=np.full(k, p.arn),
                principal_id=np.full(k, p.principal_id), account_id=np.full(k, p.account.id), session_issuer=np.full(k, p.session_issuer),
                event_type=np.full(k, "AwsConsoleSignIn"), response=np.full(k, '{"ConsoleLogin":"Success"}'),
                login_to=login_to, mfa_used=np.full(k, "No"), **base)
        else:
            failed = rng.random(k) < 0.05
            f = int(failed.sum())
            mfa = "Yes" if p.uses_mfa else "No"
            # a failed sign-in's userIdentity names no ARN and an empty accessKeyId
            add(time=t[failed] - 40_000, event_source=np.full(f, "signin.amazonaws.com"), event_name=np.full(f, "ConsoleLogin"),
                region=np.full(f, gregion), user_type=np.full(f, "IAMUser"), access_key=np.full(f, ""),
                principal_id=np.full(f, p.principal_id), user_name=np.full(f, p.name), account_id=np.full(f, p.account.id),
                event_type=np.full(f, "AwsConsoleSignIn"), response=np.full(f, '{"ConsoleLogin":"Failure"}'),
                error_message=np.full(f, "Failed authentication"), login_to=login_to[failed], mfa_used=np.full(f, mfa),
                **{k2: v[failed] for k2, v in base.items()})
            if p.uses_mfa:  # the second factor is checked just before the sign-in completes
                add(time=t - 9_000, event_source=np.full(k, "signin.amazonaws.com"), event_name=np.full(k, "CheckMfa"),
                    region=np.full(k, gregion), user_type=np.full(k, "IAMUser"), user_arn=np.full(k, p.arn),
                    principal_id=np.full(k, p.principal_id), user_name=np.full(k, p.name), account_id=np.full(k, p.account.id),
                    event_type=np.full(k, "AwsConsoleSignIn"), response=np.full(k, '{"CheckMfa":"Success"}'), **base)
            add(time=t, event_source=np.full(k, "signin.amazonaws.com"), event_name=np.full(k, "ConsoleLogin"),
                region=np.full(k, gregion), user_type=np.full(k, "IAMUser"), user_arn=np.full(k, p.arn),
                principal_id=np.full(k, p.principal_id), user_name=np.full(k, p.name), account_id=np.full(k, p.account.id),
                event_type=np.full(k, "AwsConsoleSignIn"), response=np.full(k, '{"ConsoleLogin":"Success"}'),
                error_message=np.full(k, None), login_to=login_to, mfa_used=np.full(k, mfa),
                **base)
    cols = {k: np.concatenate(v) for k, v in rows.items()}
    login_to, mfa_used = cols.pop("login_to"), cols.pop("mfa_used")
    cols["session_created"] = np.where(cols["user_type"] == "AssumedRole", cols["time"] - 1500, np.nan)
    cols["mfa"] = np.where(cols["user_type"] == "AssumedRole", False, NULL)
    has_login = login_to != None  # noqa: E711 (element-wise on an object array)
    return ct_columns(cols, rng, additional={"LoginTo": login_to, "MobileVersion": np.where(has_login, "No", NULL),
                                             "MFAUsed": mfa_used})


def _service_activity(org: Org, rng: np.random.Generator, scale: float,
                      pools: Mapping[str, Mapping[str, list[str]]]) -> tuple[dict, int]:
    """AWS services in each account: ``sts:AssumeRole`` as AWSService, and calls through their service-linked roles."""
    parts: list[dict[str, np.ndarray]] = []
    gregion = global_region(org)
    catalog = {f"{f}:{a.name}": a for f, s in SERVICE_APIS.items() for a in s.apis}
    for p in org.principals:
        if p.kind != "AWSService" or p.name not in SERVICE_LINKED_CALLS:
            continue
        t = habit_times(org, p, rng, scale)
        n = len(t)
        role_path, session, calls = SERVICE_LINKED_CALLS[p.name]
        acct = p.account.id
        region = _home_weighted(p.regions or org.regions, rng, n)
        slr = (rng.random(n) < 0.6) & bool(calls)
        # 1) the service assumes a role (its service-linked role, or a role it serves: function / instance roles)
        a = ~slr
        k = int(a.sum())
        if p.name == "lambda.amazonaws.com":
            fns = np.asarray(pools["function"][acct], dtype=object)
            sess = fns[rng.integers(0, len(fns), k)]
            role = np.char.add(sess.astype(str), "-role").astype(object)
        elif p.name == "ec2.amazonaws.com":
            sess = np.asarray(pools["instance"][acct], dtype=object)[rng.integers(0, len(pools["instance"][acct]), k)]
            inst_role = {i.id: i.role_name for i in org.instances}
            role = np.array([inst_role.get(s, f"{org.company}-{org.accounts[0].role}-instance-role") for s in sess], dtype=object)
        else:
            sess = np.full(k, session, dtype=object)
            role = np.full(k, role_path.format(company=org.company), dtype=object)
        role_arn = np.char.add(f"arn:aws:iam::{acct}:role/", role.astype(str)).astype(object)
        req = np.char.add(np.char.add(np.char.add(np.char.add('{"roleArn":"', role_arn.astype(str)), '","roleSessionName":"'),
                                      sess.astype(str)), '"}').astype(object)
        parts.append({"time": t[a], "event_source": np.full(k, "sts.amazonaws.com", dtype=object), "event_name": np.full(k, "AssumeRole", dtype=object),
                      "region": region[a], "request": req, "response": np.full(k, None, dtype=object),
                      "user_type": np.full(k, "AWSService", dtype=object), "invoked_by": np.full(k, p.name, dtype=object),
                      "res_uid": role_arn, "res_type": np.full(k, "AWS::IAM::Role", dtype=object),
                      "user_arn": np.full(k, None, dtype=object), "principal_id": np.full(k, None, dtype=object),
                      "account_id": np.full(k, None, dtype=object), "session_issuer": np.full(k, None, dtype=object),
                      "source": np.full(k, p.name, dtype=object), "read_only": np.ones(k, bool),
                      "recipient_account": np.full(k, acct, dtype=object)})
        # 2) calls made through the service-linked role, invoked by the service
        k = int(slr.sum())
        if k:
            w = np.array([x for _, _, x in calls])
            pick = rng.choice(len(calls), k, p=w / w.sum())
            fam = np.array([f for f, _, _ in calls], dtype=object)[pick]
            api = np.array([nm for _, nm, _ in calls], dtype=object)[pick]
            reg = region[slr].copy()
            glob = np.isin(fam, [f for f, s in SERVICE_APIS.items() if s.is_global])
            reg[glob] = gregion
            accounts = np.full(k, acct, dtype=object)
            fields = {k: np.asarray(v.to_numpy(zero_copy_only=False), dtype=object) if isinstance(v, pa.Array) else v
                      for k, v in _api_fields(catalog, fam, api, accounts, reg, pools, rng).items()}
            rname = role_path.format(company=org.company)
            short = rname.rsplit("/", 1)[-1]
            # a service without a role of its own (EC2 using KMS for EBS) calls as itself: userIdentity type AWSService
            as_role = np.full(k, bool(rname))
            parts.append({"time": t[slr], "event_source": np.array([SERVICE_APIS[f].event_source for f in fam], dtype=object),
                          "event_name": api, "region": reg, "request": fields["request"], "response": fields["response"],
                          "user_type": np.where(as_role, "AssumedRole", "AWSService").astype(object),
                          "invoked_by": np.full(k, p.name, dtype=object),
                          "res_uid": fields["res_uid"], "res_type": fields["res_type"],
                          "user_arn": np.where(as_role, f"arn:aws:sts::{acct}:assumed-role/{short}/{session}", NULL),
                          "principal_id": np.where(as_role, f"AROA{hex_ids(rng, 1, 17)[0].upper()}:{session}", NULL),
                          "account_id": np.where(as_role, accounts, NULL),
                          "session_issuer": np.where(as_role, f"arn:aws:iam::{acct}:role/{rname}", NULL),
                          "source": np.full(k, p.name, dtype=object), "read_only": fields["read_only"],
                          "recipient_account": accounts})
    cols = {k: np.concatenate([pt[k] for pt in parts]) for k in parts[0]}
    n = len(cols["time"])
    res_uid, res_type = cols.pop("res_uid"), cols.pop("res_type")
    rec = cols["recipient_account"]
    cols.update(user_agent=cols["source"], mfa=np.where(cols["user_type"] == "AssumedRole", False, NULL),
                session_created=np.where(cols["user_type"] == "AssumedRole", cols["time"] - rng.integers(60_000, 3_000_000, n), np.nan))
    return ct_columns(cols, rng, resources=[{"uid": res_uid, "type": res_type, "account": rec}])
