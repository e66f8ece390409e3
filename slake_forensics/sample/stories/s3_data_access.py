"""Story: a CI/CD user's leaked access key used to open and drain a sensitive S3 bucket (IRP-DataAccess).

Timeline (all seed-dependent, in the second half of the period so the first days are a baseline):

1. Reconnaissance from a hosting-provider IP with the CI user's long-lived ``AKIA`` key and an
   unusual user agent: ``GetCallerIdentity``, ``ListBuckets``, IAM enumeration with AccessDenied
   bursts, bucket policy/ACL reads, mixed with calls the CI user normally makes.
2. Weakening of the sensitive bucket: ``DeletePublicAccessBlock`` and a ``PutBucketPolicy``
   granting an outside account read access.
3. Exfiltration: ``ListObjects`` then hundreds to thousands of ``GetObject`` over one to two
   hours from two hosting IPs (``s3_data``), many GB in ``bytesTransferredOut``.
4. Persistence: ``CreateUser`` of a plausible service user, ``CreateAccessKey`` and
   ``AttachUserPolicy`` for it; the new key is tried once.
5. Detection: GuardDuty ``Discovery:S3/MaliciousIPCaller``, ``Policy:S3/BucketBlockPublicAccessDisabled``,
   ``Exfiltration:S3/AnomalousBehavior`` and a Macie ``SensitiveData:S3Object/Personal`` finding.
6. Containment 6–30 h after detection by an incident-response SSO session: keys deactivated,
   persistence deleted, bucket policy and Block Public Access restored; then the attacker's
   failed retries (``InvalidClientTokenId`` / ``AccessDenied``).
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from slake_forensics.sample.cloudtrail import amz_id_2, cloudtrail_table, random_strings
from slake_forensics.sample.common import MS_PER_DAY, MS_PER_HOUR, hex_ids, uuids
from slake_forensics.sample.findings import findings_table
from slake_forensics.sample.generate import StoryResult
from slake_forensics.sample.org import HOSTING_NETS, KeyRotation, Org, Principal
from slake_forensics.sample.sources.cloud_trail_mgmt import global_region
from slake_forensics.sample.sources.s3_data import bucket_table

MIN = 60_000
RECON_UA = "aws-cli/1.{m}.{p} Python/3.11.{py} Linux/6.{k}.0-kali{b}-amd64 botocore/1.{bm}.{p}"
EXFIL_UA = "Boto3/1.{bm}.{p} md/Botocore#1.{bm}.{p} ua/2.0 os/linux#6.{k}.0-kali{b}-amd64 md/arch#x86_64 lang/python#3.11.{py} md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.{bm}.{p}"
PERSISTENCE_NAMES = ("svc-backup-monitor", "aws-support-audit", "ci-artifact-replicator", "svc-s3-inventory", "datadog-integration-ro")


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()


def _ip(rng: np.random.Generator, used: set[str]) -> str:
    while True:
        net = str(rng.choice(HOSTING_NETS))
        ip = net + ".".join(str(int(x)) for x in rng.integers(1, 255, 4 - net.count(".")))
        if ip not in used:
            used.add(ip)
            return ip


def inject(org: Org, rng: np.random.Generator) -> StoryResult:
    """The story's CloudTrail, S3 data-event and finding rows, and its answer key (see ``ANSWER_KEY.md``)."""
    prod = org.account("production")
    candidates = [p for p in org.principals_by(persona="cicd") if "s3" in p.services and p.account.id == prod.id] or \
        [p for p in org.principals_by(persona="cicd") if "s3" in p.services]
    ci: Principal = candidates[int(rng.integers(0, len(candidates)))]
    acct = ci.account.id
    leaked = ci.access_keys[0]
    names, owners, regions = bucket_table(org)
    bucket = org.sensitive_buckets[0]
    b_region = str(regions[list(names).index(bucket)])
    b_owner = str(owners[list(names).index(bucket)])
    host = f"{bucket}.s3.{b_region}.amazonaws.com"
    gregion = global_region(org)
    used_ips = {ip for p in org.principals for ip in p.ips}
    ip1, ip2 = _ip(rng, used_ips), _ip(rng, used_ips)
    v = dict(m=int(rng.integers(18, 30)), p=int(rng.integers(10, 80)), py=int(rng.integers(2, 9)), k=int(rng.integers(3, 7)),
             b=int(rng.integers(1, 4)), bm=int(rng.integers(27, 34)))
    recon_ua, exfil_ua = RECON_UA.format(**v), EXFIL_UA.format(**v)
    outside = str(int(rng.integers(10**11, 10**12)))
    new_user = str(rng.choice(PERSISTENCE_NAMES))
    new_user_id = "AIDA" + random_strings(rng, 1, 17)[0]
    new_key = "AKIA" + random_strings(rng, 1, 16, np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", dtype="S1"))[0]
    start_ms = int(org.start.value // 1_000_000)
    day = int(rng.integers(org.days // 2, max(org.days // 2 + 1, org.days - 3)))
    t0 = start_ms + day * MS_PER_DAY + int(rng.uniform(1, 20) * MS_PER_HOUR)

    ids = iter(uuids(rng, 10_000).to_pylist())
    mgmt: list[dict[str, Any]] = []
    data: list[dict[str, Any]] = []
    attacker = {"principal": ci, "access_key": leaked}

    def ct(t: int, svc: str, name: str, *, ip: str = ip1, ua: str = recon_ua, region: str = gregion, **kw: Any) -> dict:
        e = {**attacker, "time": int(t), "event_source": f"{svc}.amazonaws.com", "event_name": name, "region": region,
             "recipient_account": acct, "source": ip, "user_agent": ua, "event_id": next(ids), **kw}
        mgmt.append(e)
        return e

    def denied(action: str) -> dict:
        return {"error_code": "AccessDenied", "error_message": f"User: {ci.arn} is not authorized to perform: {action} because no identity-based policy allows the {action} action"}

    bucket_req = {"bucketName": bucket, "Host": host}
    bucket_res = [{"uid": f"arn:aws:s3:::{bucket}", "type": "AWS::S3::Bucket", "account": b_owner}]
    # 1) reconnaissance, with ordinary-looking CI calls mixed in
    key_events: list[tuple[str, str, dict]] = []
    e = ct(t0, "sts", "GetCallerIdentity")
    key_events.append(("cloud_trail_mgmt", "GetCallerIdentity from a hosting-provider IP with the CI user's key", e))
    e = ct(t0 + 40_000, "s3", "ListBuckets", region=b_region, request={"Host": f"s3.{b_region}.amazonaws.com"})
    key_events.append(("cloud_trail_mgmt", "ListBuckets", e))
    t = t0 + 95_000
    for name, svc, action in (("ListUsers", "iam", "iam:ListUsers"), ("GetAccountAuthorizationDetails", "iam", "iam:GetAccountAuthorizationDetails"),
                              ("ListRoles", "iam", "iam:ListRoles"), ("ListPolicies", "iam", "iam:ListPolicies")):
        e = ct(t, svc, name, **denied(action))
        if name == "GetAccountAuthorizationDetails":
            key_events.append(("cloud_trail_mgmt", "IAM enumeration denied", e))
        t += int(rng.integers(2_000, 9_000))
    ct(t + 20_000, "iam", "GetUser", request={"userName": ci.name})
    ct(t + 35_000, "iam", "ListAttachedUserPolicies", request={"userName": ci.name})
    ct(t + 50_000, "ecr", "GetAuthorizationToken", region=b_region, request={})
    ct(t + 70_000, "cloudformation", "DescribeStacks", region=b_region, request={"stackName": f"{org.company}-prod-app"})
    for other in [b for b in org.buckets[acct] if b != bucket][:4]:
        t += int(rng.integers(4_000, 20_000))
        ct(t, "s3", "GetBucketPolicy", region=b_region, request={"bucketName": other, "Host": f"{other}.s3.{b_region}.amazonaws.com", "policy": ""},
           resources=[{"uid": f"arn:aws:s3:::{other}", "type": "AWS::S3::Bucket", "account": acct}], **denied("s3:GetBucketPolicy"))
    t += 3 * MIN
    ct(t, "ec2", "DescribeInstances", region=b_region, request={"instancesSet": {}, "filterSet": {}},
       error_code="Client.UnauthorizedOperation", error_message="You are not authorized to perform this operation.")
    ct(t + 30_000, "secretsmanager", "ListSecrets", region=b_region, request={}, error_code="AccessDeniedException",
       error_message=f"User: {ci.arn} is not authorized to perform: secretsmanager:ListSecrets because no identity-based policy allows the secretsmanager:ListSecrets action")
    t += 2 * MIN
    e = ct(t, "s3", "GetBucketPolicy", region=b_region, request={**bucket_req, "policy": ""}, resources=bucket_res)
    key_events.append(("cloud_trail_mgmt", "GetBucketPolicy on the sensitive bucket", e))
    ct(t + 20_000, "s3", "GetBucketAcl", region=b_region, request={**bucket_req, "acl": ""}, resources=bucket_res)
    ct(t + 45_000, "s3", "GetBucketPublicAccessBlock", region=b_region, request={**bucket_req, "publicAccessBlock": ""}, resources=bucket_res)

    # 2) listing, then weakening the bucket's protection
    t += 3 * MIN
    list_t = t
    for page in range(int(rng.integers(3, 7))):
        data.append({**attacker, "time": int(t + page * 4_000), "event_source": "s3.amazonaws.com", "event_name": "ListObjects",
                     "region": b_region, "recipient_account": b_owner, "source": ip1, "user_agent": exfil_ua, "event_id": next(ids),
                     "request": {**bucket_req, "list-type": "2", "prefix": "exports/", "encoding-type": "url",
                                 **({"continuation-token": hex_ids(rng, 1, 24)[0]} if page else {})},
                     "additional": {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0,
                                    "AuthenticationMethod": "AuthHeader", "x-amz-id-2": amz_id_2(rng, 1)[0],
                                    "bytesTransferredOut": int(rng.integers(90_000, 140_000))},
                     "resources": bucket_res})
    key_events.append(("s3_data", "ListObjects on the sensitive bucket", data[0]))
    t += 4 * MIN
    e = ct(t, "s3", "DeletePublicAccessBlock", region=b_region, request={**bucket_req, "publicAccessBlock": ""}, resources=bucket_res)
    key_events.append(("cloud_trail_mgmt", "DeletePublicAccessBlock on the sensitive bucket", e))
    pab_t = t
    evil_policy = {"Version": "2012-10-17", "Statement": [{"Sid": "ReplicationAccess", "Effect": "Allow",
                   "Principal": {"AWS": f"arn:aws:iam::{outside}:root"}, "Action": ["s3:GetObject", "s3:ListBucket"],
                   "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}
    t += int(rng.integers(60_000, 150_000))
    e = ct(t, "s3", "PutBucketPolicy", region=b_region, request={"bucketPolicy": evil_policy, **bucket_req, "policy": ""}, resources=bucket_res)
    key_events.append(("cloud_trail_mgmt", "PutBucketPolicy granting an outside account", e))

    # 3) bulk download from two hosting IPs
    t += int(rng.integers(3, 8)) * MIN
    exfil_start = t
    n_obj = int(rng.integers(600, 2500))
    duration = int(rng.uniform(60, 120) * MIN)
    times = np.sort(t + rng.integers(0, duration, n_obj))
    first_obj = int(rng.integers(0, 3000))
    year = pd.Timestamp(t, unit="ms", tz="UTC").year
    sizes = np.exp(np.log(9e6) + rng.normal(0, 0.7, n_obj)).astype("int64")
    x_ids = amz_id_2(rng, n_obj)
    which_ip = rng.random(n_obj) < 0.5
    for j in range(n_obj):
        key = f"exports/{year}/customers_{first_obj + j:06d}.csv.gz"
        data.append({**attacker, "time": int(times[j]), "event_source": "s3.amazonaws.com", "event_name": "GetObject",
                     "region": b_region, "recipient_account": b_owner, "source": ip1 if which_ip[j] else ip2, "user_agent": exfil_ua,
                     "event_id": next(ids), "request": {**bucket_req, "key": key},
                     "additional": {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0,
                                    "AuthenticationMethod": "AuthHeader", "x-amz-id-2": x_ids[j], "bytesTransferredOut": int(sizes[j])},
                     "resources": [{"uid": f"arn:aws:s3:::{bucket}/{key}", "type": "AWS::S3::Object", "account": None}, *bucket_res]})
    gets = [d for d in data if d["event_name"] == "GetObject"]
    key_events.append(("s3_data", "first bulk GetObject", gets[0]))
    key_events.append(("s3_data", "last bulk GetObject", gets[-1]))

    # 4) persistence during the download
    t = exfil_start + int(rng.uniform(0.3, 0.7) * duration)
    e = ct(t, "iam", "CreateUser", ip=ip2, request={"userName": new_user, "path": "/"},
           response={"user": {"path": "/", "userName": new_user, "userId": new_user_id, "arn": f"arn:aws:iam::{acct}:user/{new_user}",
                              "createDate": pd.Timestamp(t, unit="ms", tz="UTC").strftime("%b %d, %Y, %I:%M:%S %p")}})
    key_events.append(("cloud_trail_mgmt", "CreateUser (persistence)", e))
    e = ct(t + 25_000, "iam", "CreateAccessKey", ip=ip2, request={"userName": new_user},
           response={"accessKey": {"userName": new_user, "accessKeyId": new_key, "status": "Active"}}, target_uid_alt=new_user_id)
    key_events.append(("cloud_trail_mgmt", "CreateAccessKey for the new user", e))
    e = ct(t + 50_000, "iam", "AttachUserPolicy", ip=ip2, request={"userName": new_user, "policyArn": "arn:aws:iam::aws:policy/AmazonS3FullAccess"})
    key_events.append(("cloud_trail_mgmt", "AttachUserPolicy AmazonS3FullAccess", e))
    new_arn = f"arn:aws:iam::{acct}:user/{new_user}"
    as_new = {"principal": None, "user_type": "IAMUser", "user_arn": new_arn, "principal_id": new_user_id, "user_name": new_user,
              "account_id": acct, "access_key": new_key}
    e = {**as_new, "time": t + 4 * MIN, "event_source": "sts.amazonaws.com", "event_name": "GetCallerIdentity", "region": gregion,
         "recipient_account": acct, "source": ip2, "user_agent": recon_ua, "event_id": next(ids)}
    mgmt.append(e)
    key_events.append(("cloud_trail_mgmt", "the created key is used", e))

    # 5) findings 15–90 minutes after the activity they describe
    key_res = {"type": "AwsIamAccessKey", "uid": leaked, "data": {"AwsIamAccessKey": {"PrincipalId": ci.principal_id,
               "PrincipalName": ci.name, "PrincipalType": "IAMUser", "Status": "Active"}}}
    bucket_f = {"type": "AwsS3Bucket", "uid": f"arn:aws:s3:::{bucket}", "data": {"AwsS3Bucket": {"Name": bucket, "OwnerAccountId": b_owner}}}
    lag = lambda: int(rng.uniform(15, 90) * MIN)  # noqa: E731
    findings: list[dict[str, Any]] = [
        {"time": t0 + 40_000 + lag(), "account": acct, "region": b_region, "type": "Discovery:S3/MaliciousIPCaller", "severity": "High",
         "title": f"The S3 API ListBuckets was invoked from a known malicious IP address {ip1}.",
         "desc": f"An API was used to access a bucket from a known malicious IP address {ip1}.",
         "resources": [key_res, bucket_f], "evidences": [{"src_ip": ip1, "api_operation": "ListBuckets", "api_service": "s3.amazonaws.com"}]},
        {"time": pab_t + lag(), "account": acct, "region": b_region, "type": "Policy:S3/BucketBlockPublicAccessDisabled", "severity": "Medium",
         "title": f"Amazon S3 Block Public Access was disabled for S3 bucket {bucket}.",
         "desc": f"Amazon S3 Block Public Access was disabled for S3 bucket {bucket} by {ci.name} calling DeletePublicAccessBlock.",
         "resources": [key_res, bucket_f], "evidences": [{"src_ip": ip1, "api_operation": "DeletePublicAccessBlock", "api_service": "s3.amazonaws.com"}]},
        {"time": exfil_start + lag(), "account": acct, "region": b_region, "type": "Exfiltration:S3/AnomalousBehavior", "severity": "High",
         "title": f"Anomalous API requests were made to read data from S3 bucket {bucket}.",
         "desc": f"An IAM entity invoked an S3 API in a suspicious way: {ci.name} made an unusual number of GetObject calls.",
         "resources": [key_res, bucket_f], "evidences": [{"src_ip": ip2, "api_operation": "GetObject", "api_service": "s3.amazonaws.com"}]},
        {"time": exfil_start + int(rng.uniform(3, 6) * MS_PER_HOUR), "account": acct, "region": b_region, "product": "Macie",
         "type": "SensitiveData:S3Object/Personal", "severity": "High",
         "title": f"The S3 object contains personal information: exports/{year}/customers_{first_obj:06d}.csv.gz",
         "desc": f"The object contains personal information such as full names, mailing addresses and phone numbers in bucket {bucket}.",
         "resources": [bucket_f]},
    ]
    detection = min(f["time"] for f in findings)
    ftable = findings_table(findings)

    # 6) containment by the incident-response SSO session, then the attacker's retries
    sec = org.principals_by(persona="security")
    responder = sec[int(rng.integers(0, len(sec)))]
    ir_role = f"AWSReservedSSO_IncidentResponse_{hex_ids(rng, 1, 16)[0]}"
    session = f"{responder.name}@{org.domain}"
    ir = {"user_type": "AssumedRole", "user_arn": f"arn:aws:sts::{acct}:assumed-role/{ir_role}/{session}",
          "principal_id": f"AROA{random_strings(rng, 1, 17)[0]}:{session}", "account_id": acct,
          "access_key": "ASIA" + random_strings(rng, 1, 16)[0], "session_issuer": f"arn:aws:iam::{acct}:role/aws-reserved/sso.amazonaws.com/{ir_role}",
          "mfa": False, "recipient_account": acct, "source": responder.ips[0], "user_agent": responder.user_agents[-1]}
    c0 = detection + int(rng.uniform(6, 30) * MS_PER_HOUR)
    ir["session_created"] = c0 - 10 * MIN
    restored = {"Version": "2012-10-17", "Statement": [{"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    # rotation first, as runbooks say: a new key for the CI user, then the leaked one deactivated;
    # the CI system's own calls switch to the new key (org.key_rotations, applied to background)
    rotated = "AKIA" + random_strings(np.random.default_rng([org.seed, 77]), 1, 16, np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", dtype="S1"))[0]
    mgmt.append({**ir, "time": c0 - 3 * MIN, "event_source": "iam.amazonaws.com", "event_name": "CreateAccessKey", "region": gregion,
                 "request": {"userName": ci.name}, "event_id": next(ids),
                 "response": {"accessKey": {"userName": ci.name, "accessKeyId": rotated, "status": "Active"}}})
    org.key_rotations.append(KeyRotation(leaked, rotated, c0))
    steps = [
        (0, "iam", "UpdateAccessKey", gregion, {"userName": ci.name, "accessKeyId": leaked, "status": "Inactive"}, "deactivate the leaked key"),
        (2, "iam", "UpdateAccessKey", gregion, {"userName": new_user, "accessKeyId": new_key, "status": "Inactive"}, "deactivate the created key"),
        (4, "iam", "ListAccessKeys", gregion, {"userName": new_user}, None),
        (6, "iam", "DetachUserPolicy", gregion, {"userName": new_user, "policyArn": "arn:aws:iam::aws:policy/AmazonS3FullAccess"}, None),
        (7, "iam", "DeleteAccessKey", gregion, {"userName": new_user, "accessKeyId": new_key}, "delete the created key"),
        (8, "iam", "DeleteUser", gregion, {"userName": new_user}, "delete the created user"),
        (15, "s3", "PutBucketPolicy", b_region, {"bucketPolicy": restored, **bucket_req, "policy": ""}, "restore the bucket policy"),
        (17, "s3", "PutPublicAccessBlock", b_region, {"publicAccessBlock": "", **bucket_req, "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}}, "re-enable Block Public Access"),
    ]
    containment_events = []
    for minute, svc, name, region, req, what in steps:
        e = {**ir, "time": c0 + minute * MIN + int(rng.integers(0, 40_000)), "event_source": f"{svc}.amazonaws.com", "event_name": name,
             "region": region, "request": req, "event_id": next(ids), **({"resources": bucket_res} if svc == "s3" else {})}
        mgmt.append(e)
        containment_events.append(e)
        if what:
            key_events.append(("cloud_trail_mgmt", f"containment: {what}", e))
    retries = []
    rt = c0 + int(rng.uniform(0.5, 6) * MS_PER_HOUR)
    for j in range(int(rng.integers(6, 16))):
        rt += int(rng.integers(20_000, 40 * MIN))
        ip = ip1 if j % 2 else ip2
        if j % 3 == 2:
            key = f"exports/{year}/customers_{first_obj + n_obj + j:06d}.csv.gz"
            e = {**attacker, "time": rt, "event_source": "s3.amazonaws.com", "event_name": "GetObject", "region": b_region,
                 "recipient_account": b_owner, "source": ip, "user_agent": exfil_ua, "event_id": next(ids),
                 "request": {**bucket_req, "key": key}, "error_code": "AccessDenied", "error_message": "Access Denied",
                 "additional": {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0,
                                "AuthenticationMethod": "AuthHeader", "x-amz-id-2": amz_id_2(rng, 1)[0], "bytesTransferredOut": 0},
                 "resources": [{"uid": f"arn:aws:s3:::{bucket}/{key}", "type": "AWS::S3::Object", "account": None}, *bucket_res]}
            data.append(e)
            retries.append(("s3_data", e))
        else:
            who = as_new if j % 4 == 0 else attacker
            e = {**who, "time": rt, "event_source": "sts.amazonaws.com", "event_name": "GetCallerIdentity", "region": gregion,
                 "recipient_account": acct, "source": ip, "user_agent": recon_ua, "event_id": next(ids),
                 "error_code": "InvalidClientTokenId", "error_message": "The security token included in the request is invalid."}
            mgmt.append(e)
            retries.append(("cloud_trail_mgmt", e))
    key_events.append((retries[0][0], "first failed retry after containment", retries[0][1]))

    mgmt.sort(key=lambda d: d["time"])
    data.sort(key=lambda d: d["time"])
    tables = {"cloud_trail_mgmt": cloudtrail_table(mgmt, "cloud_trail_mgmt"), "s3_data": cloudtrail_table(data, "s3_data"),
              "sh_findings": ftable}
    attacker_events = [d for d in mgmt + data if d.get("source") in (ip1, ip2)]
    answer = {
        "story": "s3_data_access",
        "title": f"Leaked CI/CD access key used to open and download the sensitive bucket {bucket}",
        "summary": (f"The long-lived access key {leaked} of the CI/CD user {ci.name} was used from hosting-provider IPs {ip1} and {ip2} "
                    f"with a Kali Linux AWS CLI/Boto3 user agent. After enumerating the account (with AccessDenied bursts) the actor deleted "
                    f"the Block Public Access configuration of {bucket}, granted account {outside} read access in its bucket policy, "
                    f"downloaded {n_obj} customer export objects ({int(sizes.sum()) / 1e9:.1f} GB) and created the IAM user {new_user} with "
                    f"access key {new_key} as persistence. GuardDuty and Macie raised findings; an incident responder deactivated the keys, "
                    f"removed the user and restored the bucket protections; later retries by the actor failed."),
        "accounts": sorted({acct, b_owner}), "regions": sorted({b_region, gregion}),
        "principals": [ci.arn, new_arn], "access_keys": [leaked, new_key], "ips": [ip1, ip2], "domains": [],
        "buckets": [bucket], "instances": [], "user_agents": [recon_ua, exfil_ua],
        "persistence": [{"type": "IAMUser", "value": new_user}, {"type": "AccessKey", "value": new_key}],
        "outside_accounts": [outside],
        "key_events": [{"source": src, "time": _iso(e["time"]), "what": what,
                        "match": {"metadata.uid": e["event_id"], "api.operation": e["event_name"],
                                  "actor.user.credential_uid": e.get("access_key"), "src_endpoint.ip": e["source"]}}
                       for src, what, e in key_events],
        "first_malicious": _iso(min(d["time"] for d in attacker_events)),
        "last_malicious": _iso(max(d["time"] for d in attacker_events)),
        "detection": _iso(detection),
        "containment": _iso(containment_events[0]["time"]),
        "metrics": {"objects_read": n_obj, "bytes_exfiltrated": int(sizes.sum()), "failed_retries_after_containment": len(retries),
                    "list_calls": sum(1 for d in data if d["event_name"] == "ListObjects" and d["time"] >= list_t)},
    }
    json.dumps(answer)  # the key must be JSON-serializable as written by generate()
    return StoryResult(tables, answer)
