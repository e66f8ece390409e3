"""The fixture lake: a small Security Lake in the real S3 layout, built with the sample writer.

Three sources (CloudTrail management, VPC Flow, Route 53) over three UTC days, two accounts
and two regions, with nested structs, lists of structs, maps, JSON strings and a few hostile
strings in the data.  Tests compare engine results with pandas computations over ``load``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from slake_forensics.core.catalog import source
from slake_forensics.sample.writer import build_table, list_of_structs, write_source

ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")
DAY0 = pd.Timestamp("2024-03-01T00:00:00Z")
DAYS = 3
NOW = pd.Timestamp("2024-03-03T12:00:00Z")
HOSTILE = ("' OR '1'='1", "O'Brien", "x'; DROP TABLE t; --", "back\\slash", "line\nbreak", "ünï😀")


def _times(rng: np.random.Generator, n: int) -> np.ndarray:
    ms = np.sort(rng.integers(0, DAYS * 86_400_000, n))
    ms[:4] = [0, 86_400_000, 2 * 86_400_000, 86_400_000 - 1]  # day boundaries, exactly
    return DAY0.value // 1_000_000 + np.sort(ms)


def _common(rng: np.random.Generator, n: int, class_uid: int) -> dict:
    t = _times(rng, n)
    severity = rng.integers(1, 4, n)
    return {
        "time": t,
        "time_dt": t,
        "accountid": rng.choice(ACCOUNTS, n),
        "region": rng.choice(REGIONS, n),
        "class_uid": np.full(n, class_uid, dtype=np.int32),
        "class_name": np.full(n, f"class {class_uid}"),
        "category_uid": np.full(n, class_uid // 1000, dtype=np.int32),
        "category_name": np.full(n, f"category {class_uid // 1000}"),
        "activity_id": np.ones(n, dtype=np.int32),
        "activity_name": np.full(n, "Create"),
        "type_uid": np.full(n, class_uid * 100 + 1),
        "type_name": np.full(n, f"type {class_uid * 100 + 1}"),
        "severity_id": severity.astype(np.int32),
        "severity": np.array(["Unknown", "Informational", "Low", "Medium"])[severity],
        "metadata.product.name": np.full(n, "fixture"),
        "metadata.version": np.full(n, "1.1.0"),
    }


def _cloud_trail(rng: np.random.Generator, n: int) -> pa.Table:
    cols = _common(rng, n, 6003)
    ops = rng.choice(["GetObject", "ListBuckets", "AssumeRole", "CreateUser", "DeleteTrail"], n)
    errors = rng.choice(np.array([None, None, "AccessDenied", "Client.UnauthorizedOperation"], dtype=object), n)
    names = rng.choice(np.array(["alice", "bob", "carol", *HOSTILE], dtype=object), n)
    data = []
    for i in range(n):
        k = i % 5
        data.append(
            None if k == 0 else "not json {" if k == 1 else json.dumps({"bucketName": f"b{i % 3}", "key": {"n": i % 4}, "num": i % 7})
        )
    counts = rng.integers(0, 4, n)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    m = int(offsets[-1])
    res_type = source("cloud_trail_mgmt").schema.field("resources").type
    obs_type = source("cloud_trail_mgmt").schema.field("observables").type
    unmapped = [
        [("responseElements", f"resp{i % 3}"), ("requestID", f"req-{i}")] if i % 4 else ([] if i % 8 else None)
        for i in range(n)
    ]
    cols.update(
        {
            "api.operation": ops,
            "api.service.name": rng.choice(["s3.amazonaws.com", "iam.amazonaws.com", "sts.amazonaws.com"], n),
            "api.response.error": errors,
            "api.request.data": data,
            "actor.user.uid": [f"AIDA{v}" for v in rng.integers(0, 6, n)],
            "actor.user.name": names,
            "actor.user.type": rng.choice(["IAMUser", "AssumedRole"], n),
            "actor.session.created_time_dt": cols["time"] - 3_600_000,
            "actor.session.is_mfa": rng.random(n) < 0.3,
            "src_endpoint.ip": [f"10.0.{a}.{b}" for a, b in rng.integers(0, 3, (n, 2))],
            "http_request.user_agent": rng.choice(["aws-cli/2.0", "Boto3/1.34", "console.amazonaws.com"], n),
            "cloud.region": cols["region"],
            "status": rng.choice(["Success", "Failure"], n),
            "unmapped": pa.array(unmapped, pa.map_(pa.string(), pa.string())),
            "resources": list_of_structs(
                offsets,
                {"uid": [f"arn:aws:s3:::bucket-{j % 5}" for j in range(m)], "type": rng.choice(["AWS::S3::Bucket", "AWS::IAM::Role"], m)},
                res_type,
            ),
            "observables": list_of_structs(
                offsets,
                {"name": ["src_endpoint.ip"] * m, "value": [f"10.0.{j % 3}.{j % 2}" for j in range(m)], "type_id": np.full(m, 2, np.int32)},
                obs_type,
            ),
        }
    )
    return build_table(source("cloud_trail_mgmt"), cols, n)


def _vpc_flow(rng: np.random.Generator, n: int) -> pa.Table:
    cols = _common(rng, n, 4001)
    cols.update(
        {
            "src_endpoint.ip": [f"10.1.0.{v}" for v in rng.integers(0, 8, n)],
            "src_endpoint.port": rng.integers(1024, 1100, n).astype(np.int32),
            "dst_endpoint.ip": [f"203.0.113.{v}" for v in rng.integers(0, 5, n)],
            "dst_endpoint.port": rng.choice(np.array([22, 80, 443, 3389], dtype=np.int32), n),
            "traffic.bytes": rng.integers(40, 100_000, n),
            "traffic.packets": rng.integers(1, 100, n),
            "connection_info.direction": rng.choice(["Inbound", "Outbound"], n),
            "action": rng.choice(["Allowed", "Denied"], n),
            "start_time_dt": cols["time"] - 60_000,
            "end_time_dt": cols["time"],
        }
    )
    return build_table(source("vpc_flow"), cols, n)


def _route53(rng: np.random.Generator, n: int) -> pa.Table:
    cols = _common(rng, n, 4003)
    counts = rng.integers(0, 3, n)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    m = int(offsets[-1])
    cols.update(
        {
            "query.hostname": rng.choice(["example.com.", "evil.example.net.", "aws.amazon.com."], n),
            "query.type": rng.choice(["A", "AAAA", "TXT"], n),
            "query.class": np.full(n, "IN"),
            "src_endpoint.ip": [f"10.2.0.{v}" for v in rng.integers(0, 4, n)],
            "rcode": rng.choice(["NOERROR", "NXDOMAIN"], n),
            "answers": list_of_structs(
                offsets, {"rdata": [f"192.0.2.{j % 9}" for j in range(m)], "type": ["A"] * m}, source("route53").schema.field("answers").type
            ),
        }
    )
    return build_table(source("route53"), cols, n)


BUILDERS = {"cloud_trail_mgmt": (_cloud_trail, 900), "vpc_flow": (_vpc_flow, 700), "route53": (_route53, 300)}


def build_fixture_lake(root: Path, seed: int = 7) -> dict[str, pa.Table]:
    """Write the fixture lake below ``root``; return the table written per source name."""
    rng = np.random.default_rng(seed)
    tables = {}
    for name, (build, n) in BUILDERS.items():
        table = build(rng, n)
        write_source(table, root, source(name), rng)
        tables[name] = table
    return tables
