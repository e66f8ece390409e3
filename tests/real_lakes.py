"""Lakes as AWS writes them, for the local and S3 engine tests: AWS's own v1 files in their real key
layout, a v2 EKS-like file written from the facts (no partition columns, NOT NULL fields, lists
whose element is named ``array``), and a custom source."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


FIXTURES = Path(__file__).parent / "fixtures"
V1_ACCOUNT, V1_REGION = "111122223333", "us-east-1"

#: ``(v1 source name, file)`` of every AWS-authored v1 Parquet file bundled with the tests.
V1_FILES: list[tuple[str, Path]] = [
    ("CLOUD_TRAIL_MGMT", p) for p in sorted((FIXTURES / "aws_authored_v1_cloudtrail").glob("*/*.parquet"))
] + [(p.parent.name, p) for p in sorted((FIXTURES / "aws_authored_v1").glob("*/*.parquet"))]


def v1_key(source_name: str, table: pa.Table, name: str, account: str = V1_ACCOUNT, region: str = V1_REGION) -> str:
    """The real v1 key of a file holding ``table`` (its event day from the first ``time``)."""
    day = pd.Timestamp(pc.min(table["time"]).as_py(), unit="ms", tz="UTC").strftime("%Y%m%d")
    return f"aws/{source_name}/1.0/region={region}/accountId={account}/eventDay={day}/{name}"


def place_v1(root: Path, source_name: str, path: Path) -> Path:
    """Copy AWS's v1 file ``path`` unchanged into its v1 key below ``root``; returns the new path."""
    dest = root / v1_key(source_name, pq.read_table(path), path.name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, dest)
    return dest


def write_v1(root: Path, source_name: str, table: pa.Table, name: str) -> Path:
    """Write ``table`` (a v1 file's table, perhaps edited) at its v1 key below ``root``."""
    dest = root / v1_key(source_name, table, name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, dest, compression="gzip")
    return dest


def set_leaf(table: pa.Table, path: str, values: list) -> pa.Table:
    """``table`` with the (dotted) leaf ``path`` replaced by ``values`` (the struct rebuilt around it)."""
    head, *rest = path.split(".")

    def rebuilt(arr: pa.Array, names: list[str]) -> pa.Array:
        if not names:
            return pa.array(values, arr.type)
        children = arr.flatten()
        fields = list(arr.type)
        out = [rebuilt(c, names[1:]) if f.name == names[0] else c for f, c in zip(fields, children)]
        return pa.StructArray.from_arrays(out, fields=fields)

    i = table.schema.get_field_index(head)
    column = rebuilt(table.column(head).combine_chunks(), rest)
    return table.set_column(i, table.schema.field(i).with_type(column.type), column)


def eks_like_table(times_ms: list[int]) -> pa.Table:
    """An EKS audit v2 table as AWS's 1.1.0 sample is shaped: no ``accountid``/``region``/``asl_version``,
    NOT NULL product/version fields, ``actor.user.groups`` a list of single-field structs whose element is
    named ``array`` (as the legacy 2-level lists are read).  The second row is an anonymous request."""
    n = len(times_ms)
    group = pa.struct([pa.field("name", pa.string(), nullable=False)])
    groups = pa.list_(pa.field("array", group, nullable=False))
    user = pa.struct([pa.field("name", pa.string()), pa.field("uid", pa.string()), pa.field("groups", groups)])
    product = pa.struct([pa.field("name", pa.string(), nullable=False), pa.field("vendor_name", pa.string(), nullable=False),
                         pa.field("version", pa.string(), nullable=False)])
    schema = pa.schema([
        pa.field("metadata", pa.struct([pa.field("product", product, nullable=False), pa.field("version", pa.string(), nullable=False)]), nullable=False),
        pa.field("time", pa.int64(), nullable=False),
        pa.field("time_dt", pa.timestamp("ms", tz="UTC")),
        pa.field("actor", pa.struct([pa.field("user", user)])),
        pa.field("src_endpoint", pa.struct([pa.field("ip", pa.string())])),
        pa.field("api", pa.struct([pa.field("operation", pa.string()), pa.field("request", pa.struct([pa.field("uid", pa.string())])),
                                   pa.field("response", pa.struct([pa.field("code", pa.int32())]))])),
        pa.field("http_request", pa.struct([pa.field("url", pa.struct([pa.field("path", pa.string())])), pa.field("user_agent", pa.string())])),
        pa.field("class_uid", pa.int32(), nullable=False),
        pa.field("activity_id", pa.int32(), nullable=False),
        pa.field("severity_id", pa.int32(), nullable=False),
        pa.field("type_uid", pa.int64(), nullable=False),
        pa.field("cloud", pa.struct([pa.field("provider", pa.string(), nullable=False)]), nullable=False),
    ])
    users: list[dict[str, Any]] = [{"name": f"user-{i}", "uid": f"uid-{i}", "groups": [{"name": "system:authenticated"}]} for i in range(n)]
    users[1 % n] = {"name": "system:anonymous", "uid": None, "groups": [{"name": "system:unauthenticated"}]}
    rows = {
        "metadata": [{"product": {"name": "Amazon EKS", "vendor_name": "AWS", "version": "1.0"}, "version": "1.1.0"}] * n,
        "time": times_ms,
        "time_dt": times_ms,
        "actor": [{"user": u} for u in users],
        "src_endpoint": [{"ip": f"12.000.22.{i}"} for i in range(n)],  # leading zeros, as in anonymised data
        "api": [{"operation": "get", "request": {"uid": f"req-{i}"}, "response": {"code": 200}} for i in range(n)],
        "http_request": [{"url": {"path": f"/api/v1/namespaces/default/pods/p{i}"}, "user_agent": "kubectl/v1.29"} for i in range(n)],
        "class_uid": [6003] * n,
        "activity_id": [2] * n,
        "severity_id": [1] * n,
        "type_uid": [600302] * n,
        "cloud": [{"provider": "AWS"}] * n,
    }
    arrays = []
    for f in schema:
        values = rows[f.name]
        if pa.types.is_timestamp(f.type):
            arrays.append(pa.array(values, pa.int64()).cast(f.type))
        else:
            arrays.append(pa.array(values, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def custom_auth_table(times_ms: list[int], principal: str, ip: str) -> pa.Table:
    """A custom source's rows (OCSF Authentication 3002, as an importer writes them): ``principal`` signing in from ``ip``."""
    n = len(times_ms)
    return pa.table({
        "time": pa.array(times_ms, pa.int64()),
        "time_dt": pa.array(times_ms, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
        "class_uid": pa.array([3002] * n, pa.int32()),
        "activity_id": pa.array([1] * n, pa.int32()),
        "status": ["Success"] * n,
        "actor": [{"user": {"uid": principal, "name": principal.rsplit("/", 1)[-1]}}] * n,
        "src_endpoint": [{"ip": ip}] * n,
        "metadata": [{"version": "1.1.0", "product": {"name": "Okta", "vendor_name": "Okta"}}] * n,
    })


def day_of(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y%m%d")
