"""Story: a production EC2 instance mines Monero, and its role credentials are used from outside AWS.

Timeline (all seed-dependent; starts after a baseline of at least three days and in the first half of
the period, so it does not share its first day with the S3 story, which starts in the second half):

1. ``t0``: the instance resolves ``raw.githubusercontent.com.`` and the miner's download host and
   fetches the installer (VPC flow, 443).
2. ``t0 + 5–15 min``: the miner resolves its pools (``pool.supportxmr.com.`` …) every few minutes and
   holds Stratum connections to them (one flow record per 60 s window and direction, ACCEPT),
   failing over to a second pool half-way.
3. ``t0 + 2–6 h``: the instance-role session key (ASIA…) is used from a hosting-provider IP:
   GetCallerIdentity, ListBuckets, DescribeInstances, DescribeRegions, ListRoles (denied),
   RunInstances of large instances in another region (denied).
4. GuardDuty: ``CryptoCurrency:EC2/BitcoinTool.B!DNS`` and ``CryptoCurrency:EC2/BitcoinTool.B``
   15–60 min after the first pool traffic, ``UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS``
   15–45 min after the first outside call; updates (same finding id, higher count) every few hours.
5. Containment 4–30 h after the last detection: a responder isolates the instance with a new security group
   (``CreateSecurityGroup``, ``ModifyInstanceAttribute``), revokes the role's older sessions
   (``PutRolePolicy`` AWSRevokeOlderSessions) and snapshots the volume; mining stops, and the
   attacker's later calls with the stolen key are denied.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from slake_forensics.sample.cloudtrail import cloudtrail_table
from slake_forensics.sample.common import MS_PER_DAY, MS_PER_HOUR, observables, ocsf_class_columns, partition_columns
from slake_forensics.sample.findings import findings_table, guardduty_finding_uid
from slake_forensics.sample.generate import StoryResult
from slake_forensics.sample.org import HOSTING_NETS, Instance, Org
from slake_forensics.sample.sources import route53 as r53
from slake_forensics.sample.sources import vpc_flow
from slake_forensics.sample.sources.vpc_flow import Flows, IpPool
from slake_forensics.sample.writer import build_table, list_of_structs

MIN = 60_000
#: mining pools: (hostname, Stratum port, first two octets of its addresses)
POOLS = (("pool.supportxmr.com.", 3333, "94.130."), ("xmr-eu1.nanopool.org.", 14444, "51.68."),
         ("gulf.moneroocean.stream.", 4444, "141.94."), ("xmr.pool.minergate.com.", 45700, "88.99."),
         ("pool.hashvault.pro.", 5555, "37.187."))
DOWNLOADS = (("download.c3pool.org.", "172.67."), ("raw.githubusercontent.com.", "185.199."))
ATTACKER_UA = ("aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1014-generic exe/x86_64.ubuntu.22 prompt/off command/{cmd}",
               "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.5.0-1014-generic md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69")


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()


def _ip(rng: np.random.Generator, prefix: str) -> str:
    parts = prefix.rstrip(".").split(".")
    return ".".join(parts + [str(int(rng.integers(1, 255))) for _ in range(4 - len(parts))])


def _dns_rows(org: Org, inst: Instance, times: np.ndarray, hosts: list[str], answers: list[str], rng: np.random.Generator) -> pa.Table:
    """Route 53 rows: ``inst`` resolving ``hosts[k]`` to ``answers[k]`` at ``times[k]``.

    Mining pools are on AWS's managed threat list, so the account's DNS Firewall rule group alerts on them
    (the answer is still returned).
    """
    n = len(times)
    rslvr, rni = r53.resolver_endpoint(inst.vpc_id)
    cols = ocsf_class_columns(4003, np.full(n, 6), 1)
    pool = [h in {p[0] for p in POOLS} for h in hosts]
    cols.update(r53.fixed_columns(n))
    cols.update(r53.firewall_columns([r53.firewall_rule_group(inst.account.id) if m else None for m in pool],
                                     ["ALERT" if m else None for m in pool]))
    cols.update({
        "cloud.account.uid": [inst.account.id] * n, "cloud.region": [inst.region] * n,
        "src_endpoint.vpc_uid": [inst.vpc_id] * n, "src_endpoint.ip": [inst.private_ip] * n,
        "src_endpoint.port": rng.integers(32768, 61000, n).astype("int32"), "src_endpoint.instance_uid": [inst.id] * n,
        "time": times, "time_dt": times, "query.hostname": hosts, "query.type": ["A"] * n, "query.class": ["IN"] * n,
        "answers": list_of_structs(np.arange(n + 1), {"type": ["A"] * n, "rdata": answers, "class": ["IN"] * n},
                                   r53.SOURCE.schema.field("answers").type),
        "dst_endpoint.instance_uid": [rslvr] * n, "dst_endpoint.interface_uid": [rni] * n,
        "rcode_id": np.zeros(n, dtype="int32"), "rcode": ["NoError"] * n,
        "observables": observables(np.arange(0, 2 * n + 1, 2), ["query.hostname", "src_endpoint.ip"] * n,
                                   [v for h in hosts for v in (h, inst.private_ip)], np.tile([1, 2], n), r53.SOURCE.schema.field("observables").type),
    })
    cols.update(partition_columns([inst.account.id] * n, [inst.region] * n))
    return build_table(r53.SOURCE, cols, n)


def inject(org: Org, rng: np.random.Generator) -> StoryResult:
    """Add the cryptomining incident to ``org``'s lake; return its rows per source and its answer key."""
    prod = org.account("production")
    candidates = [i for i in org.instances if i.account is prod and i.purpose in ("web", "worker")] or \
        [i for i in org.instances if i.purpose != "bastion"]
    inst = candidates[int(rng.integers(0, len(candidates)))]
    idx = org.instances.index(inst)
    role = next(p for p in org.principals if p.kind == "AssumedRole" and p.session_issuer == inst.role_arn and p.name.endswith(inst.id))
    stolen_key = role.access_keys[int(rng.integers(0, len(role.access_keys)))]
    start_ms = int(org.start.value // 1_000_000)
    # after a baseline of >= 3 days and before the second half, where the S3 story starts
    first_day = min(max(3, org.days // 4), org.days - 2)
    day = int(rng.integers(first_day, max(first_day + 1, min(org.days // 2, org.days - 1))))
    t0 = start_ms + day * MS_PER_DAY + int(rng.integers(1 * MS_PER_HOUR, 20 * MS_PER_HOUR)) + int(rng.integers(0, 60_000))
    pools = [POOLS[k] for k in rng.choice(len(POOLS), 2, replace=False)]
    pool_ips = [_ip(rng, p[2]) for p in pools]
    dl_ips = [_ip(rng, d[1]) for d in DOWNLOADS]
    attacker_ip = _ip(rng, str(rng.choice(HOSTING_NETS)))
    t_exfil = t0 + int(rng.integers(2 * MS_PER_HOUR, 6 * MS_PER_HOUR))

    # detections and containment (computed first: they bound the mining)
    t_mine = t0 + int(rng.integers(5 * MIN, 15 * MIN))
    t_det_dns = t_mine + int(rng.integers(15 * MIN, 60 * MIN))
    t_det_ip = t_mine + int(rng.integers(20 * MIN, 60 * MIN))
    t_det_cred = t_exfil + int(rng.integers(15 * MIN, 45 * MIN))
    detection = min(t_det_dns, t_det_ip)
    t_contain = max(detection, t_det_cred) + int(rng.integers(4 * MS_PER_HOUR, 30 * MS_PER_HOUR))  # triage waits for office hours
    end_ms = start_ms + org.days * MS_PER_DAY - MIN
    t_contain = min(t_contain, end_ms - 30 * MIN)
    t_switch = t_mine + (t_contain - t_mine) // 2

    # --- Route 53: download hosts, then the pools every few minutes while mining
    dns_t = [t0, t0 + 1_800]
    dns_h = [DOWNLOADS[1][0], DOWNLOADS[0][0]]
    dns_a = [dl_ips[1], dl_ips[0]]
    for k, (lo, hi) in enumerate(((t_mine, t_switch), (t_switch, t_contain))):
        gaps = rng.integers(3 * MIN, 25 * MIN, int((hi - lo) // (3 * MIN)) + 2)
        ts = lo + np.concatenate([[0], np.cumsum(gaps)])
        ts = ts[ts < hi]
        dns_t += ts.tolist()
        dns_h += [pools[k][0]] * len(ts)
        dns_a += [pool_ips[k]] * len(ts)
    dns_times = np.array(dns_t, dtype="int64")
    route53 = _dns_rows(org, inst, dns_times, dns_h, dns_a, rng)
    first_pool_query = int(dns_times[2])

    # --- VPC flow: installer download and Stratum sessions, one record per 60 s window and direction
    ip_pool = IpPool()
    ip_pool.add([i.private_ip for i in org.instances])
    ext0 = ip_pool.add(dl_ips + pool_ips)
    dl = vpc_flow.connections(rng, np.array([t0 + 900, t0 + 2_400]), np.array([idx, idx]), np.array([idx, idx]),
                              np.array([ext0 + 1, ext0]), rng.integers(32768, 61000, 2), np.array([443, 443]), 6, 2,
                              11 if inst.public_ip else 4, np.array([900, 1_400]), np.array([1_850_000, 6_400_000]))
    windows = []
    for k, (lo, hi) in enumerate(((t_mine + 2_000, t_switch), (t_switch + 4_000, t_contain))):
        ts = np.arange(lo, hi, MIN, dtype="int64")
        m = len(ts)
        sport = np.full(m, int(rng.integers(32768, 61000)))
        # reconnects every few hours: new source port, SYN/FIN flags
        recon = np.zeros(m, dtype=bool)
        recon[0] = True
        recon[rng.integers(0, m, max(1, m // 240))] = True
        sport = sport + np.cumsum(recon) * 7
        up = rng.integers(900, 4_500, m)
        down = rng.integers(1_500, 9_000, m)
        req_flags, resp_flags = np.where(recon, 2, 0), np.where(recon, 18, 0)
        windows.append(Flows(
            t=np.concatenate([ts, ts + rng.integers(5, 900, m)]), owner=np.full(2 * m, idx),
            src=np.concatenate([np.full(m, idx), np.full(m, ext0 + 2 + k)]), dst=np.concatenate([np.full(m, ext0 + 2 + k), np.full(m, idx)]),
            sport=np.concatenate([sport, np.full(m, pools[k][1])]), dport=np.concatenate([np.full(m, pools[k][1]), sport]),
            proto=np.full(2 * m, 6), direction=np.concatenate([np.full(m, 2), np.full(m, 1)]), accept=np.ones(2 * m, dtype=bool),
            bytes=np.concatenate([up, down]), packets=np.concatenate([np.maximum(3, up // 120), np.maximum(3, down // 400)]),
            flags=np.concatenate([req_flags, resp_flags]),
            boundary=np.concatenate([np.full(m, 11 if inst.public_ip else 4), np.full(m, 99)]),
            duration=np.full(2 * m, 59_000)))
    flows = Flows.concat([dl, *windows])
    vpc = vpc_flow.flows_table(org, flows, ip_pool.values())
    mining = np.isin(flows.dst, [ext0 + 2, ext0 + 3]) | np.isin(flows.src, [ext0 + 2, ext0 + 3])
    bytes_to_pools = int(flows.bytes[mining & (flows.direction == 2)].sum())
    first_flow = windows[0]
    first_flow_t, first_flow_sport = int(first_flow.t[0]), int(first_flow.sport[0])

    # --- CloudTrail: the stolen session key from outside AWS, then the responder
    created = t_exfil - int(rng.integers(30 * MIN, 3 * MS_PER_HOUR))
    other_region = next((r for r in org.regions if r != inst.region), "us-west-2")
    calls: list[tuple[str, str, str, Any, str | None, str | None]] = [("sts.amazonaws.com", "GetCallerIdentity", inst.region, None, None, None),
             ("s3.amazonaws.com", "ListBuckets", inst.region, None, None, None),
             ("ec2.amazonaws.com", "DescribeRegions", inst.region, None, None, None),
             ("ec2.amazonaws.com", "DescribeInstances", inst.region, {"instancesSet": {}, "filterSet": {}}, None, None),
             ("ec2.amazonaws.com", "DescribeInstances", other_region, {"instancesSet": {}, "filterSet": {}}, None, None),
             ("iam.amazonaws.com", "ListRoles", "us-east-1", None, "AccessDenied",
              f"User: {role.arn} is not authorized to perform: iam:ListRoles on resource: arn:aws:iam::{inst.account.id}:role/ because no identity-based policy allows the iam:ListRoles action"),
             ("iam.amazonaws.com", "ListAttachedRolePolicies", "us-east-1", {"roleName": inst.role_name}, "AccessDenied",
              f"User: {role.arn} is not authorized to perform: iam:ListAttachedRolePolicies on resource: role {inst.role_name} because no identity-based policy allows the iam:ListAttachedRolePolicies action"),
             ("ec2.amazonaws.com", "DescribeInstanceTypeOfferings", other_region, None, None, None)]
    for itype in ("c5.4xlarge", "c5.9xlarge", "g4dn.12xlarge"):
        calls.append(("ec2.amazonaws.com", "RunInstances", other_region,
                      {"instancesSet": {"items": [{"imageId": "ami-0c7217cdde317cfec", "minCount": 1, "maxCount": 10}]}, "instanceType": itype},
                      "Client.UnauthorizedOperation", "You are not authorized to perform this operation. User: " + role.arn +
                      " is not authorized to perform: ec2:RunInstances on resource: arn:aws:ec2:" + other_region + ":" + inst.account.id +
                      ":instance/* because no identity-based policy allows the ec2:RunInstances action. Encoded authorization failure message: " +
                      hashlib.sha256(itype.encode()).hexdigest()))
    gaps = np.cumsum(rng.integers(4_000, 140_000, len(calls)))
    events = []
    for (svc, name, region, req, err, msg), dt in zip(calls, gaps):
        cmd = {"GetCallerIdentity": "sts.get-caller-identity", "ListBuckets": "s3api.list-buckets"}.get(name, "ec2." + name.lower())
        events.append({"time": int(t_exfil + dt), "event_source": svc, "event_name": name, "region": region, "source": attacker_ip,
                       "principal": role, "access_key": stolen_key, "session_created": created, "mfa": False,
                       "user_agent": ATTACKER_UA[0].format(cmd=cmd) if name in ("GetCallerIdentity", "ListBuckets") else ATTACKER_UA[1],
                       "request": req, "error_code": err, "error_message": msg, "recipient_account": inst.account.id})
    last_attacker_call = int(events[-1]["time"])

    responder = next(p for p in org.principals if p.persona == "security")
    ir_role = f"{org.company}-incident-response"
    ir_key = "ASIA" + hashlib.sha256(f"{org.seed}|ir".encode()).hexdigest()[:16].upper()
    ir = {"user_type": "AssumedRole", "user_arn": f"arn:aws:sts::{inst.account.id}:assumed-role/{ir_role}/{responder.name}",
          "principal_id": f"AROA{hashlib.sha256(ir_role.encode()).hexdigest()[:17].upper()}:{responder.name}",
          "account_id": inst.account.id, "access_key": ir_key, "session_issuer": f"arn:aws:iam::{inst.account.id}:role/{ir_role}",
          "session_created": t_contain - 10 * MIN, "mfa": True, "source": responder.ips[0], "user_agent": responder.user_agents[0]}
    sg = "sg-" + hashlib.sha256(f"{org.seed}|sg".encode()).hexdigest()[:17]
    vol = "vol-" + hashlib.sha256(f"{inst.id}|vol".encode()).hexdigest()[:17]
    revoke = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": ["*"], "Resource": ["*"],
              "Condition": {"DateLessThan": {"aws:TokenIssueTime": _iso(t_contain + 4 * MIN).replace("+00:00", "Z")}}}]}
    containment = [
        (t_contain, "ec2.amazonaws.com", "CreateSecurityGroup", {"groupName": f"isolation-{inst.id}", "groupDescription": "IR isolation, no rules",
                                                                  "vpcId": inst.vpc_id}, {"_return": True, "groupId": sg}),
        (t_contain + 50_000, "ec2.amazonaws.com", "RevokeSecurityGroupEgress", {"groupId": sg, "ipPermissions": {"items": [{"ipProtocol": "-1",
                                                                                 "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}, {"_return": True}),
        (t_contain + 95_000, "ec2.amazonaws.com", "ModifyInstanceAttribute", {"instanceId": inst.id, "groupSet": {"items": [{"groupId": sg}]}}, {"_return": True}),
        (t_contain + 4 * MIN, "iam.amazonaws.com", "PutRolePolicy", {"roleName": inst.role_name, "policyName": "AWSRevokeOlderSessions",
                                                                     "policyDocument": json.dumps(revoke)}, None),
        (t_contain + 7 * MIN, "ec2.amazonaws.com", "CreateSnapshot", {"volumeId": vol, "description": f"IR evidence {inst.id}"},
         {"snapshotId": "snap-" + hashlib.sha256(vol.encode()).hexdigest()[:17], "volumeId": vol, "status": "pending"}),
    ]
    for t, svc, name, req, resp in containment:
        events.append({**ir, "time": int(t), "event_source": svc, "event_name": name,
                       "region": "us-east-1" if svc == "iam.amazonaws.com" else inst.region, "request": req, "response": resp,
                       "recipient_account": inst.account.id})
    denied_after = []
    for k, name in enumerate(("GetCallerIdentity", "ListBuckets")):
        t = int(t_contain + int(rng.integers(20 * MIN, 90 * MIN)) + k * 40_000)
        denied_after.append(t)
        events.append({"time": t, "event_source": "sts.amazonaws.com" if k == 0 else "s3.amazonaws.com", "event_name": name,
                       "region": inst.region, "source": attacker_ip, "principal": role, "access_key": stolen_key, "session_created": created,
                       "mfa": False, "user_agent": ATTACKER_UA[0].format(cmd="sts.get-caller-identity" if k == 0 else "s3api.list-buckets"),
                       "error_code": "AccessDenied", "recipient_account": inst.account.id,
                       "error_message": f"User: {role.arn} is not authorized to perform: {'sts:GetCallerIdentity' if k == 0 else 's3:ListAllMyBuckets'} "
                                        f"with an explicit deny in an identity-based policy"})
    trail = cloudtrail_table(events, "cloud_trail_mgmt")
    trail_uids = trail.column("metadata").combine_chunks().field("uid").to_pylist()

    # --- GuardDuty findings
    inst_arn = f"arn:aws:ec2:{inst.region}:{inst.account.id}:instance/{inst.id}"
    inst_res = {"type": "AwsEc2Instance", "uid": inst_arn, "data": {"AwsEc2Instance": {
        "Type": "m5.xlarge" if inst.purpose == "worker" else "c5.large", "ImageId": "ami-0a3c3a20c09d6f377",
        "IpV4Addresses": [ip for ip in (inst.private_ip, inst.public_ip) if ip], "IamInstanceProfileArn":
        f"arn:aws:iam::{inst.account.id}:instance-profile/{inst.role_name}", "VpcId": inst.vpc_id, "SubnetId": inst.subnet_id,
        "NetworkInterfaces": [{"NetworkInterfaceId": inst.eni_id}], "LaunchedAt": _iso(start_ms - 20 * MS_PER_DAY)}}}
    key_res = {"type": "AwsIamAccessKey", "uid": stolen_key, "data": {"AwsIamAccessKey": {
        "PrincipalId": role.principal_id, "PrincipalName": inst.role_name, "PrincipalType": "AssumedRole", "Status": "Active"}}}
    specs = [
        ("CryptoCurrency:EC2/BitcoinTool.B!DNS", t_det_dns, "High",
         f"The EC2 instance {inst.id} is querying a domain name that is associated with Bitcoin-related activity.",
         f"EC2 instance {inst.id} is querying domain name {pools[0][0].rstrip('.')} that is associated with Bitcoin-related activity.",
         [inst_res], [{"domain": pools[0][0], "protocol": "UDP", "direction": "Outbound"}], first_pool_query),
        ("CryptoCurrency:EC2/BitcoinTool.B", t_det_ip, "High",
         f"The EC2 instance {inst.id} is communicating with an IP address associated with Bitcoin-related activity.",
         f"EC2 instance {inst.id} is communicating outbound with IP address {pool_ips[0]} on port {pools[0][1]} which is associated with Bitcoin-related activity.",
         [inst_res], [{"dst_ip": pool_ips[0], "dst_port": pools[0][1], "protocol": "TCP", "direction": "Outbound"}], first_flow_t),
        ("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", t_det_cred, "High",
         f"Credentials for the EC2 instance role {inst.role_name} were used from an external IP address.",
         f"Credentials created exclusively for an EC2 instance using instance role {inst.role_name} have been used from external IP address {attacker_ip}.",
         [key_res, inst_res], [{"src_ip": attacker_ip, "api_operation": "DescribeInstances", "api_service": "ec2.amazonaws.com",
                                "src_country": "Netherlands"}], int(events[0]["time"])),
    ]
    fdicts, finding_uids = [], []
    for ftype, t_first, sev, title, desc, res, evid, seen in specs:
        fid = hashlib.sha256(f"{org.seed}|{ftype}|{inst.id}".encode()).hexdigest()[:32]
        uid = guardduty_finding_uid(inst.account.id, inst.region, fid)
        finding_uids.append((ftype, uid, t_first))
        updates = [t_first] + list(range(t_first + 6 * MS_PER_HOUR, t_contain + 2 * MS_PER_HOUR, 6 * MS_PER_HOUR))
        for k, tu in enumerate(updates):
            last_seen = min(tu - 10 * MIN, t_contain) if k else seen
            fdicts.append({"time": tu, "account": inst.account.id, "region": inst.region, "type": ftype, "title": title, "desc": desc,
                           "severity": sev, "resources": res, "evidences": evid, "uid": uid, "created": t_first,
                           "first_seen": seen, "last_seen": max(seen, last_seen), "count": 1 + k * int(rng.integers(20, 90)),
                           "activity": "Create" if k == 0 else "Update", "status": "New"})
    findings = findings_table(fdicts)

    first_flow_match = {"src_endpoint.ip": inst.private_ip, "src_endpoint.port": first_flow_sport,
                        "dst_endpoint.ip": pool_ips[0], "dst_endpoint.port": pools[0][1]}
    ct_key = [(e, u) for e, u in zip(events, trail_uids)]

    def ct_event(name: str, *, source: str | None = None, nth: int = 0) -> dict:
        hits = [(e, u) for e, u in ct_key if e["event_name"] == name and (source is None or e["source"] == source)]
        e, u = hits[nth]
        what = name if e.get("error_code") is None else f"{name} ({e['error_code']})"
        return {"source": "cloud_trail_mgmt", "time": _iso(e["time"]), "what": what,
                "match": {"metadata.uid": u, "api.operation": name, "actor.user.credential_uid": e["access_key"], "src_endpoint.ip": e["source"]}}

    key_events = [
        {"source": "route53", "time": _iso(int(dns_t[0])), "what": f"instance resolves {DOWNLOADS[1][0]} (installer)",
         "match": {"src_endpoint.ip": inst.private_ip, "query.hostname": DOWNLOADS[1][0]}},
        {"source": "route53", "time": _iso(first_pool_query), "what": f"first query for mining pool {pools[0][0]}",
         "match": {"src_endpoint.ip": inst.private_ip, "query.hostname": pools[0][0]}},
        {"source": "vpc_flow", "time": _iso(first_flow_t), "what": f"first Stratum flow to {pool_ips[0]}:{pools[0][1]}", "match": first_flow_match},
        ct_event("GetCallerIdentity", source=attacker_ip),
        ct_event("RunInstances"),
        *[{"source": "sh_findings", "time": _iso(t), "what": f"GuardDuty {ft}",
           "match": {"finding_info.uid": u, "activity_name": "Create"}} for ft, u, t in finding_uids],
        ct_event("ModifyInstanceAttribute"),
        ct_event("PutRolePolicy"),
        ct_event("GetCallerIdentity", source=attacker_ip, nth=1),
    ]
    outside_calls = sum(1 for e in events if e["source"] == attacker_ip)
    answer = {
        "story": "ec2_cryptomining",
        "title": f"Cryptominer on {inst.id} ({inst.purpose}, {inst.account.name}) and its role credentials used from {attacker_ip}",
        "summary": (f"On {_iso(t0)[:10]} the {inst.purpose} instance {inst.id} in {inst.account.name} ({inst.region}) downloaded a Monero miner "
                    f"and mined to {pools[0][0].rstrip('.')} and later {pools[1][0].rstrip('.')} for about {(t_contain - t_mine) / MS_PER_HOUR:.0f} hours. "
                    f"Its instance-role session key {stolen_key} was stolen and used from the hosting-provider address {attacker_ip} for "
                    f"discovery (GetCallerIdentity, ListBuckets, DescribeInstances) and denied RunInstances of large instances in {other_region}. "
                    f"GuardDuty raised BitcoinTool.B!DNS, BitcoinTool.B and InstanceCredentialExfiltration.OutsideAWS; the responder isolated the "
                    f"instance with security group {sg}, revoked the role's older sessions and snapshotted {vol}."),
        "accounts": [inst.account.id], "regions": sorted({inst.region, other_region}),
        "principals": [role.arn], "access_keys": [stolen_key],
        "ips": [attacker_ip, *pool_ips], "domains": [p[0] for p in pools] + [DOWNLOADS[0][0]],
        "buckets": [], "instances": [inst.id], "user_agents": sorted({e["user_agent"] for e in events if e["source"] == attacker_ip}),
        "persistence": [],
        "key_events": key_events,
        "first_malicious": _iso(int(dns_t[0])), "last_malicious": _iso(max(last_attacker_call, *denied_after, int(flows.t.max()))),
        "detection": _iso(min(t for _, _, t in finding_uids)),
        "containment": _iso(t_contain),
        "metrics": {"mining_flows": int(mining.sum()), "bytes_to_pools": bytes_to_pools, "mining_hours": round((t_contain - t_mine) / MS_PER_HOUR, 1),
                    "pool_dns_queries": int(len(dns_t) - 2), "outside_api_calls": outside_calls,
                    "outside_api_calls_denied": sum(1 for e in events if e["source"] == attacker_ip and e.get("error_code"))},
    }
    return StoryResult(tables={"route53": route53, "vpc_flow": vpc, "cloud_trail_mgmt": trail, "sh_findings": findings}, answer=answer)
