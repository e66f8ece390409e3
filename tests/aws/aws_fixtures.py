"""Helpers for the AWS engine tests: the moto handle, a Security Lake bucket name, a small CloudTrail table,
Athena's recorded executions and result files."""
from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pyarrow as pa
import requests

from slake_forensics.core.catalog import source
from slake_forensics.engines.s3 import S3Engine
from slake_forensics.lake import Lake
from slake_forensics.sample.writer import build_table, list_of_structs

REGION = "us-east-1"
ACCOUNTS = ("111122223333", "444455556666")
REGIONS = ("us-east-1", "eu-west-1")
DAYS = ("2026-03-01", "2026-03-02", "2026-03-03")
HOSTILE = (
    "' OR '1'='1",
    "'; DROP TABLE x; --",
    'a"b\'c',
    "back\\slash\\' \\",
    "line1\nline2\r\n\tend",
    "ünïcødé ☃ 日本語 🦆",
    "x" * 400,
)


#: The bucket and prefix Athena writes query results to in the tests.
RESULTS = "athena-results-test"
OUTPUT = f"s3://{RESULTS}/queries/"


@dataclass(frozen=True)
class Moto:
    """The running moto server."""

    endpoint: str

    def queue_athena_result(self, columns: list[tuple[str, str]], rows: list[list[str | None]]) -> None:
        """Queue one canned Athena result (header row + ``rows``) for the next query execution."""
        header = {"Data": [{"VarCharValue": name} for name, _ in columns]}
        data = [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows]
        body = {
            "region": REGION,
            "results": [
                {
                    "rows": [header, *data],
                    "column_info": [
                        {"Name": name, "Label": name, "Type": typ, "Nullable": "UNKNOWN", "CaseSensitive": True}
                        for name, typ in columns
                    ],
                }
            ],
        }
        requests.post(f"{self.endpoint}/moto-api/static/athena/query-results", json=body, timeout=10).raise_for_status()

    def reset(self) -> None:
        """Forget every resource (buckets, executions, queued results)."""
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()


def lake_bucket(region: str = REGION) -> str:
    """A bucket name shaped like Security Lake's: ``aws-security-data-lake-<region>-<30 lowercase alnum>``."""
    alphabet = string.ascii_lowercase + string.digits
    return f"aws-security-data-lake-{region}-" + "".join(secrets.choice(alphabet) for _ in range(30))


def s3_copy_of(root: Path, tmp_path: Path) -> tuple[S3Engine, Lake]:
    """``(S3 lake, local lake)`` over the same files: every Parquet file below ``root`` uploaded to a new
    bucket of the moto server under its key, the S3 lake's download cache in ``tmp_path``."""
    bucket = lake_bucket()
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=bucket)
    for path in sorted(root.rglob("*.parquet")):
        s3.upload_file(str(path), bucket, path.relative_to(root).as_posix())
    remote = Lake.s3(f"s3://{bucket}", REGION)
    assert isinstance(remote, S3Engine)
    remote.cache_dir = tmp_path / "cache"
    return remote, Lake.local(str(root))


def cloudtrail_table(seed: int = 7, per_partition: int = 12) -> pa.Table:
    """A small CloudTrail table over :data:`DAYS`, :data:`ACCOUNTS` and :data:`REGIONS`.

    Lists, maps, nested structs and hostile strings are filled so every conversion path
    is exercised; ``time`` values include exact day boundaries.
    """
    rng = np.random.default_rng(seed)
    src = source("cloud_trail_mgmt")
    times, accts, regs = [], [], []
    for day in DAYS:
        base = int(pd.Timestamp(day, tz="UTC").value // 1_000_000)
        for acct in ACCOUNTS:
            for reg in REGIONS:
                offsets = np.sort(rng.integers(0, 86_400_000, per_partition))
                offsets[0] = 0  # an event exactly at midnight
                times.extend(base + offsets)
                accts.extend([acct] * per_partition)
                regs.extend([reg] * per_partition)
    n = len(times)
    time = np.asarray(times, dtype="int64")
    names = [HOSTILE[i % len(HOSTILE)] if i % 5 == 0 else f"user{i % 7}" for i in range(n)]
    counts = rng.integers(0, 3, n)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype("int32")
    m = int(offsets[-1])
    schema = src.schema
    resources = list_of_structs(
        offsets,
        {"uid": [f"arn:aws:s3:::bucket-{j}" for j in range(m)], "type": ["AWS::S3::Bucket"] * m},
        schema.field("resources").type,
    )
    unmapped = pa.array(
        [None if i % 4 == 0 else [("requestParameters.key", names[i]), ("k2", str(i))] for i in range(n)],
        schema.field("unmapped").type,
    )
    columns = {
        "time": time,
        "time_dt": time,
        "metadata.uid": [f"evt-{i:05d}" for i in range(n)],
        "metadata.product.name": ["CloudTrail"] * n,
        "metadata.version": ["1.1.0"] * n,
        "metadata.profiles": [["cloud", "datetime"] if i % 3 else [] for i in range(n)],
        "cloud.region": regs,
        "cloud.provider": ["AWS"] * n,
        "api.operation": ["GetObject" if i % 2 else "AssumeRole" for i in range(n)],
        "api.service.name": ["s3.amazonaws.com"] * n,
        "actor.user.name": names,
        "actor.user.uid": [None if i % 6 == 0 else f"AIDA{i:08d}" for i in range(n)],
        "src_endpoint.ip": [f"10.0.{i % 256}.{(i * 7) % 256}" for i in range(n)],
        "resources": resources,
        "unmapped": unmapped,
        "is_mfa": [None if i % 3 == 0 else bool(i % 2) for i in range(n)],
        "actor.session.created_time_dt": time - 3_600_000,
        "actor.session.is_mfa": [None if i % 3 == 0 else bool(i % 2) for i in range(n)],
        "class_name": ["API Activity"] * n,
        "category_name": ["Audit Activity"] * n,
        "severity": ["Informational"] * n,
        "activity_name": ["Other"] * n,
        "type_name": ["API Activity: Other"] * n,
        "class_uid": np.full(n, 6003, dtype="int32"),
        "category_uid": np.full(n, 6, dtype="int32"),
        "severity_id": np.ones(n, dtype="int32"),
        "activity_id": np.full(n, 99, dtype="int32"),
        "type_uid": np.full(n, 600399, dtype="int64"),
        "accountid": accts,
        "region": regs,
        "asl_version": ["2.0"] * n,
    }
    return build_table(src, columns, n)




def executions() -> list[dict[str, Any]]:
    """Every query execution moto recorded, oldest first (QueryExecution dicts)."""
    client = boto3.client("athena", region_name=REGION)
    found = [client.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in client.list_query_executions()["QueryExecutionIds"]]
    return sorted(found, key=lambda e: e["Status"]["SubmissionDateTime"])


def athena_csv(session: boto3.Session, columns: list[str], rows: list[list[str | None]]) -> None:
    """After the next StartQueryExecution, write its result CSV as Athena does.

    moto's CSV writer does not escape quotes; this rewrites the result object the way Athena
    writes it (RFC 4180, every value quoted, nulls as empty unquoted fields).
    """

    def cell(v: str | None) -> str:
        return "" if v is None else '"' + v.replace('"', '""') + '"'

    body = "".join(",".join(cell(v) for v in row) + "\n" for row in [columns, *rows])

    def rewrite(parsed: dict[str, Any], **_: Any) -> None:
        key = f"queries/{parsed['QueryExecutionId']}.csv"
        boto3.client("s3", region_name=REGION).put_object(Bucket=RESULTS, Key=key, Body=body.encode())

    session.events.register_first("after-call.athena.StartQueryExecution", rewrite)
