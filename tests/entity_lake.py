"""A small lake with all eight sources whose entity fields draw from shared pools.

Every entity type appears in every field :mod:`slake_forensics.analysis.entities` documents for it, so
pivots hit several sources at once; a few hostile strings sit in the pools as well.  Values are
written through the sample writer in the real layout.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from slake_forensics.core.catalog import source
from slake_forensics.sample.writer import build_table, list_of_structs, write_source

DAY0 = pd.Timestamp("2024-05-01T00:00:00Z")
DAYS = 3
NOW = DAY0 + pd.Timedelta(days=DAYS)
ACCOUNTS = ("123456789012", "210987654321")
REGIONS = ("us-east-1", "eu-west-1")
HOSTILE = ("' OR '1'='1", "x'); DROP TABLE t; --", "back\\slash")
IPS = ("198.51.100.7", "203.0.113.9", "10.9.0.1", "10.9.0.2", "192.0.2.44", HOSTILE[0])
KEYS = ("AKIAEXAMPLE0000001", "AKIAEXAMPLE0000002", "ASIAEXAMPLE0000003", HOSTILE[1])
ARNS = ("arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/svc-backup",
        "arn:aws:sts::210987654321:assumed-role/Admin/bob")
ROLES = ("arn:aws:iam::210987654321:role/Admin", "arn:aws:iam::123456789012:role/ec2-app")
BUCKETS = ("acme-finance", "acme-logs", "acme-public", HOSTILE[2])
INSTANCES = ("i-0aaa1111", "i-0bbb2222", "i-0ccc3333")
DOMAINS = ("pool.minexmr.example.", "api.acme.example.", "evil.example.net.")
AGENTS = ("aws-cli/2.15.0", "Boto3/1.34.1", "python-requests/2.31")
N = 240


def _times(rng: np.random.Generator, n: int) -> np.ndarray:
    ms = np.sort(rng.integers(0, DAYS * 86_400_000, n))
    return DAY0.value // 1_000_000 + ms


def _pick(rng: np.random.Generator, pool: tuple, n: int, null: float = 0.0) -> np.ndarray:
    out = np.array(pool, dtype=object)[rng.integers(0, len(pool), n)]
    out[rng.random(n) < null] = None
    return out


def _offsets(rng: np.random.Generator, n: int, most: int) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(rng.integers(0, most + 1, n))])


def _strings(offsets: np.ndarray, values: np.ndarray) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values, pa.string()))


def _common(rng: np.random.Generator, n: int, class_uid: int, name: str) -> dict:
    t = _times(rng, n)
    return {
        "time": t, "time_dt": t, "accountid": _pick(rng, ACCOUNTS, n), "region": _pick(rng, REGIONS, n),
        "class_uid": np.full(n, class_uid, np.int32), "class_name": np.full(n, f"class {class_uid}"),
        "category_uid": np.full(n, class_uid // 1000, np.int32), "category_name": np.full(n, "c"),
        "activity_id": np.ones(n, np.int32), "activity_name": np.full(n, "Activity"),
        "type_uid": np.full(n, class_uid * 100 + 1), "type_name": np.full(n, "t"),
        "severity_id": np.ones(n, np.int32), "severity": np.full(n, "Informational"),
        "metadata.product.name": np.full(n, name), "metadata.version": np.full(n, "1.1.0"),
    }


def _observables(rng: np.random.Generator, src: str, n: int) -> pa.ListArray:
    off = _offsets(rng, n, 2)
    m = int(off[-1])
    kind = rng.integers(0, 3, m)
    ip, host = _pick(rng, IPS, m), _pick(rng, DOMAINS, m)
    value = np.where(kind == 0, ip, np.where(kind == 1, host, "someone"))
    fields = {"name": np.where(kind == 0, "src_endpoint.ip", np.where(kind == 1, "query.hostname", "actor.user.name")),
              "value": value, "type_id": np.array([2, 1, 4], np.int32)[kind]}
    return list_of_structs(off, fields, source(src).schema.field("observables").type)


def _cloudtrail(rng: np.random.Generator, name: str) -> pa.Table:
    n = N
    cols = _common(rng, n, 6003, "CloudTrail")
    ip = _pick(rng, IPS, n, null=0.15)
    data = []
    for i in range(n):
        k = i % 6
        doc = {} if k else None
        if k in (1, 2):
            doc.update(bucketName=str(rng.choice(BUCKETS)), key=f"reports/{i % 4}.csv")
        if k == 3:
            doc.update(accessKeyId=str(rng.choice(KEYS)), status="Inactive")
        if k == 4:
            doc.update(instanceId=str(rng.choice(INSTANCES)))
        data.append(None if doc is None else "not json {" if k == 5 else json.dumps(doc))
    off = _offsets(rng, n, 3)
    m = int(off[-1])
    rtype = _pick(rng, ("AWS::S3::Bucket", "AWS::S3::Object", "AWS::EC2::Instance", "AWS::IAM::Role"), m)
    bucket = _pick(rng, BUCKETS, m)
    ruid = np.where(rtype == "AWS::S3::Bucket", np.char.add("arn:aws:s3:::", bucket.astype(str)),
                    np.where(rtype == "AWS::S3::Object", np.char.add(np.char.add("arn:aws:s3:::", bucket.astype(str)), "/k.txt"),
                             np.where(rtype == "AWS::EC2::Instance", _pick(rng, INSTANCES, m), _pick(rng, ROLES, m)))).astype(object)
    cols.update({
        "metadata.uid": [f"{name}-{i:05d}" for i in range(n)],
        "api.operation": _pick(rng, ("GetObject", "UpdateAccessKey", "RunInstances", "ListBuckets", "CreateUser"), n),
        "api.service.name": np.full(n, "s3.amazonaws.com"),
        "api.request.data": data,
        "actor.user.uid": _pick(rng, ARNS, n, null=0.05),
        "actor.user.uid_alt": _pick(rng, ("AIDAALICE", "AIDABACKUP", "AROAADMIN:bob"), n),
        "actor.user.name": _pick(rng, ("alice", "svc-backup", "bob"), n),
        "actor.user.credential_uid": _pick(rng, KEYS, n, null=0.1),
        "actor.user.account.uid": _pick(rng, ACCOUNTS, n),
        "actor.session.issuer": _pick(rng, ROLES, n, null=0.5),
        "user.uid": _pick(rng, ARNS, n, null=0.8), "user.name": _pick(rng, ("alice", "eve-backdoor"), n, null=0.8),
        "src_endpoint.ip": ip,
        "src_endpoint.domain": np.where(pd.isna(ip), _pick(rng, ("ec2.amazonaws.com", "lambda.amazonaws.com"), n), None),
        "http_request.user_agent": _pick(rng, AGENTS, n),
        "status": _pick(rng, ("Success", "Failure"), n),
        "unmapped": pa.array([[("additionalEventData.bytesTransferredOut", str(100 * i))] for i in range(n)], pa.map_(pa.string(), pa.string())),
        "resources": list_of_structs(off, {"uid": ruid, "type": rtype, "owner.account.uid": _pick(rng, ACCOUNTS, m)},
                                     source(name).schema.field("resources").type),
        "observables": _observables(rng, name, n),
    })
    return build_table(source(name), cols, n)


def _vpc(rng: np.random.Generator) -> pa.Table:
    n = N
    cols = _common(rng, n, 4001, "Amazon VPC")
    off = _offsets(rng, n, 1)
    cols.update({
        "src_endpoint.ip": _pick(rng, IPS, n), "src_endpoint.port": rng.integers(1024, 1030, n).astype(np.int32),
        "dst_endpoint.ip": _pick(rng, IPS, n), "dst_endpoint.port": rng.choice(np.array([22, 443], np.int32), n),
        "src_endpoint.instance_uid": _pick(rng, INSTANCES, n, null=0.4), "dst_endpoint.instance_uid": _pick(rng, INSTANCES, n, null=0.6),
        "src_endpoint.intermediate_ips": _strings(off, _pick(rng, IPS, int(off[-1]))),
        "cloud.account.uid": cols["accountid"],
        "traffic.bytes": rng.integers(40, 10_000, n), "traffic.packets": rng.integers(1, 20, n),
        "action": _pick(rng, ("Allowed", "Denied"), n), "connection_info.direction": _pick(rng, ("Inbound", "Outbound"), n),
    })
    return build_table(source("vpc_flow"), cols, n)


def _route53(rng: np.random.Generator) -> pa.Table:
    n = N
    cols = _common(rng, n, 4003, "Route 53")
    off = _offsets(rng, n, 2)
    m = int(off[-1])
    cols.update({
        "query.hostname": _pick(rng, DOMAINS, n), "query.type": _pick(rng, ("A", "TXT"), n),
        "src_endpoint.ip": _pick(rng, IPS, n), "src_endpoint.instance_uid": _pick(rng, INSTANCES, n, null=0.3),
        "rcode": _pick(rng, ("NOERROR", "NXDOMAIN"), n), "cloud.account.uid": cols["accountid"],
        "answers": list_of_structs(off, {"rdata": _pick(rng, IPS, m), "type": _pick(rng, ("A", "CNAME"), m)},
                                   source("route53").schema.field("answers").type),
        "observables": _observables(rng, "route53", n),
    })
    return build_table(source("route53"), cols, n)


def _findings(rng: np.random.Generator) -> pa.Table:
    n = 60
    cols = _common(rng, n, 2004, "GuardDuty")
    off = _offsets(rng, n, 2)
    m = int(off[-1])
    rtype = _pick(rng, ("AwsIamAccessKey", "AwsS3Bucket", "AwsEc2Instance", "AwsIamRole"), m)
    ruid = np.where(rtype == "AwsIamAccessKey", _pick(rng, KEYS, m),
                    np.where(rtype == "AwsS3Bucket", np.char.add("arn:aws:s3:::", _pick(rng, BUCKETS, m).astype(str)),
                             np.where(rtype == "AwsEc2Instance", _pick(rng, INSTANCES, m), _pick(rng, ROLES, m)))).astype(object)
    eoff = _offsets(rng, n, 2)
    e = int(eoff[-1])
    toff = _offsets(rng, n, 2)
    cols.update({
        "finding_info.uid": [f"finding-{i % 40:03d}" for i in range(n)],
        "finding_info.title": _pick(rng, ("Credentials used from a malicious IP", "Crypto mining"), n),
        "finding_info.types": _strings(toff, _pick(rng, ("UnauthorizedAccess:IAMUser/X", "CryptoCurrency:EC2/Y"), int(toff[-1]))),
        "status": _pick(rng, ("New", "Resolved"), n), "cloud.account.uid": cols["accountid"],
        "resources": list_of_structs(off, {"uid": ruid, "type": rtype, "owner.account.uid": _pick(rng, ACCOUNTS, m)},
                                     source("sh_findings").schema.field("resources").type),
        "evidences": list_of_structs(eoff, {"src_endpoint.ip": _pick(rng, IPS, e, null=0.2), "dst_endpoint.ip": _pick(rng, IPS, e, null=0.5),
                                            "query.hostname": _pick(rng, DOMAINS, e, null=0.5)},
                                     source("sh_findings").schema.field("evidences").type),
        "observables": _observables(rng, "sh_findings", n),
    })
    return build_table(source("sh_findings"), cols, n)


def _eks(rng: np.random.Generator) -> pa.Table:
    n = N
    cols = _common(rng, n, 6003, "EKS")
    off = _offsets(rng, n, 1)
    roff = _offsets(rng, n, 1)
    r = int(roff[-1])
    cols.update({
        "actor.user.name": _pick(rng, ("alice", "system:node:x", "bob"), n), "actor.user.uid": _pick(rng, ARNS, n),
        "actor.session.issuer": _pick(rng, ROLES, n, null=0.5), "actor.session.credential_uid": _pick(rng, KEYS, n, null=0.5),
        "src_endpoint.ip": _pick(rng, IPS, n), "src_endpoint.intermediate_ips": _strings(off, _pick(rng, IPS, int(off[-1]))),
        "api.operation": _pick(rng, ("get", "create", "delete"), n), "http_request.url.path": _pick(rng, ("/api/v1/pods", "/api/v1/secrets"), n),
        "http_request.user_agent": _pick(rng, AGENTS, n), "api.request.uid": [f"eks-{i:05d}" for i in range(n)],
        "api.response.code": rng.choice(np.array([200, 403], np.int32), n), "cloud.account.uid": cols["accountid"],
        "resources": list_of_structs(roff, {"name": _pick(rng, ("web", "db"), r), "namespace": _pick(rng, ("default", "prod"), r), "type": np.full(r, "pods")},
                                     source("eks_audit").schema.field("resources").type),
    })
    return build_table(source("eks_audit"), cols, n)


def _waf(rng: np.random.Generator) -> pa.Table:
    n = N
    cols = _common(rng, n, 4002, "WAF")
    off = _offsets(rng, n, 1)
    cols.update({
        "src_endpoint.ip": _pick(rng, IPS, n), "http_request.x_forwarded_for": _strings(off, _pick(rng, IPS, int(off[-1]))),
        "http_request.url.hostname": np.array([d.rstrip(".") for d in _pick(rng, DOMAINS, n)], dtype=object),
        "http_request.url.path": _pick(rng, ("/login", "/admin"), n), "http_request.http_method": _pick(rng, ("GET", "POST"), n),
        "http_request.user_agent": _pick(rng, AGENTS, n), "http_request.uid": [f"waf-{i:05d}" for i in range(n)],
        "action": _pick(rng, ("ALLOW", "BLOCK"), n), "disposition": _pick(rng, ("Allowed", "Blocked"), n),
        "firewall_rule.uid": _pick(rng, ("rule-1", "rule-2"), n),
    })
    return build_table(source("waf"), cols, n)


def build_entity_lake(root: Path, seed: int = 11) -> None:
    """Write the lake below ``root``."""
    rng = np.random.default_rng(seed)
    tables = {name: _cloudtrail(rng, name) for name in ("cloud_trail_mgmt", "s3_data", "lambda_execution")}
    tables.update(vpc_flow=_vpc(rng), route53=_route53(rng), sh_findings=_findings(rng), eks_audit=_eks(rng), waf=_waf(rng))
    for name, table in tables.items():
        write_source(table, root, source(name), rng)


# ---- an independent, row-by-row statement of where entities live (the tests' expectation) ----

def _json_get(text, key):
    try:
        doc = json.loads(text)
    except (TypeError, ValueError):
        return None
    v = doc.get(key) if isinstance(doc, dict) else None
    return v if isinstance(v, str) else None


def _items(lst, field=None, types=None, type_field="type"):
    out = []
    for x in lst if lst is not None and not (isinstance(lst, float)) else []:
        if x is None:
            continue
        if types is not None and x.get(type_field) not in types:
            continue
        v = x
        for f in (field.split(".") if field else []):
            v = None if v is None else v.get(f)
        out.append(v)
    return out


def _seq(v):
    return [] if v is None else list(v)


def _s3(v):
    return v[len("arn:aws:s3:::"):] if isinstance(v, str) and v.startswith("arn:aws:s3:::") else v


def _obs(row, tid):
    return [o["value"] for o in _items(row.get("observables")) if o.get("type_id") == tid]


def _ct(row):
    data = row.get("api.request.data")
    bucket, key = _json_get(data, "bucketName"), _json_get(data, "key")
    res = row.get("resources")
    return {
        "ip": [row.get("src_endpoint.ip"), *_obs(row, 2)],
        "principal": [row.get("actor.user.uid"), row.get("actor.user.uid_alt"), row.get("actor.user.name"), row.get("actor.session.issuer"),
                      row.get("user.uid"), row.get("user.uid_alt"), row.get("user.name")],
        "access_key": [row.get("actor.user.credential_uid"), _json_get(data, "accessKeyId")],
        "account": [row.get("accountid"), row.get("actor.user.account.uid"), *_items(res, "owner.account.uid")],
        "bucket": [bucket, *map(_s3, _items(res, "uid", {"AWS::S3::Bucket"}))],
        "object": [f"{bucket}/{key}" if bucket and key else None, *map(_s3, _items(res, "uid", {"AWS::S3::Object"}))],
        "instance": [_json_get(data, "instanceId"), *_items(res, "uid", {"AWS::EC2::Instance"})],
        "domain": [row.get("src_endpoint.domain")],
        "user_agent": [row.get("http_request.user_agent")],
    }


def _row_entities(src: str, row: dict) -> dict[str, list]:
    if src in ("cloud_trail_mgmt", "s3_data", "lambda_execution"):
        return _ct(row)
    if src == "vpc_flow":
        return {"ip": [row.get("src_endpoint.ip"), row.get("dst_endpoint.ip"), *_seq(row.get("src_endpoint.intermediate_ips")),
                       *_seq(row.get("dst_endpoint.intermediate_ips")), *_obs(row, 2)],
                "account": [row.get("accountid"), row.get("cloud.account.uid")],
                "instance": [row.get("src_endpoint.instance_uid"), row.get("dst_endpoint.instance_uid")]}
    if src == "route53":
        return {"ip": [row.get("src_endpoint.ip"), *_items(row.get("answers"), "rdata", {"A", "AAAA"}), *_obs(row, 2)],
                "account": [row.get("accountid"), row.get("cloud.account.uid")],
                "instance": [row.get("src_endpoint.instance_uid"), row.get("dst_endpoint.instance_uid")],
                "domain": [row.get("query.hostname"), *_obs(row, 1)]}
    if src == "sh_findings":
        res, ev = row.get("resources"), row.get("evidences")
        return {"ip": [*_items(ev, "src_endpoint.ip"), *_items(ev, "dst_endpoint.ip"), *_obs(row, 2)],
                "principal": [*_items(res, "uid", {"AwsIamUser", "AwsIamRole"}), *_obs(row, 4)],
                "access_key": _items(res, "uid", {"AwsIamAccessKey"}),
                "account": [row.get("accountid"), row.get("cloud.account.uid"), *_items(res, "owner.account.uid")],
                "bucket": list(map(_s3, _items(res, "uid", {"AwsS3Bucket"}))),
                "instance": _items(res, "uid", {"AwsEc2Instance"}),
                "domain": [*_items(ev, "query.hostname"), *_obs(row, 1)]}
    if src == "eks_audit":
        return {"ip": [row.get("src_endpoint.ip"), *_seq(row.get("src_endpoint.intermediate_ips")), *_obs(row, 2)],
                "principal": [row.get("actor.user.uid"), row.get("actor.user.name"), row.get("actor.session.issuer")],
                "access_key": [row.get("actor.session.credential_uid")],
                "account": [row.get("accountid"), row.get("cloud.account.uid")],
                "user_agent": [row.get("http_request.user_agent")]}
    return {"ip": [row.get("src_endpoint.ip"), *_seq(row.get("http_request.x_forwarded_for")), *_obs(row, 2)],
            "account": [row.get("accountid")],
            "domain": [row.get("http_request.url.hostname")],
            "user_agent": [row.get("http_request.user_agent")]}


def row_entities(df: pd.DataFrame, src: str) -> list[dict[str, set]]:
    """Per row of a loaded frame, ``{entity_type: set of values}`` (row loop over Python objects)."""
    def py(v):
        if isinstance(v, float) and np.isnan(v):
            return None
        return None if v is pd.NA or v is pd.NaT else v
    rows = [{k: py(v) for k, v in r.items()} for r in df.astype(object).to_dict("records")]
    return [{t: {v for v in vals if v not in (None, "")} for t, vals in _row_entities(src, r).items()} for r in rows]
