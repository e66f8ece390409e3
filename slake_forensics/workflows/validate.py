"""Check that a folder is a well-formed Security Lake (source version 2): layout, schemas, vocabularies.

Useful on generated lakes (tests, training) and on copies of real lakes before an
investigation relies on them.  ``validate_lake(root)`` returns a list of problems;
an empty list means every check passed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from slake_forensics.core.catalog import SOURCES, Source, vocabulary
from slake_forensics.core.layout import parse_key

MAX_PROBLEMS_PER_CHECK = 5


def validate_lake(root: Path | str) -> list[str]:
    """Validate every Parquet file below ``root/aws``; return problems as readable strings.

    Checks: each file sits at a native source-version-2 key; its Arrow schema equals the
    catalog schema (names, nesting, types); ``accountid``/``region`` equal the key's
    partition values and ``time_dt`` falls on the key's ``eventDay``; ``time`` equals
    ``time_dt`` in epoch milliseconds; OCSF classification columns follow OCSF 1.1.0
    (class in the source's classes, ``type_uid = class_uid * 100 + activity_id``, captions
    match ids); and per-source rules (CloudTrail ``status`` Success/Failure agreeing with
    ``api.response.error``; VPC accept/reject vocabulary; Route 53 hostnames end in a dot).
    """
    root = Path(root)
    if not (root / "aws").is_dir():
        return [f"{root} has no aws/ folder: not a Security Lake layout"]
    problems: list[str] = []
    by_source: dict[str, list[Path]] = {}
    for path in sorted((root / "aws").rglob("*.parquet")):
        part = parse_key(path.relative_to(root).as_posix())
        if part is None:
            problems.append(f"{path.relative_to(root)}: not at a source-version-2 key aws/<SOURCE>/2.0/region=…/accountId=…/eventDay=…/")
            continue
        found = _check_file(root, path, part.source, part.region, part.account, part.day)
        problems += found
        if not any("schema differs" in p or "unreadable" in p for p in found):  # vocabulary checks need the schema
            by_source.setdefault(part.source.name, []).append(path)
    for name, files in by_source.items():
        table = pa.concat_tables(pq.read_table(f) for f in files)
        problems += [f"{name}: {p}" for p in _check_vocabulary(SOURCES[name], table)]
    if not by_source and not problems:
        problems.append(f"{root / 'aws'} holds no Parquet files")
    return problems


def _check_file(root: Path, path: Path, source: Source, region: str, account: str, day: str) -> list[str]:
    rel = path.relative_to(root)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        return [f"{rel}: unreadable Parquet ({exc})"]
    out = []
    if not table.schema.equals(source.schema):
        diff = _schema_diff(source.schema, table.schema)
        out.append(f"{rel}: schema differs from the {source.suffix} Glue schema: {diff}")
        return out
    if table.num_rows == 0:
        return [f"{rel}: empty file"]
    if pc.any(pc.not_equal(table["accountid"], account)).as_py():
        out.append(f"{rel}: accountid column differs from accountId={account} in the key")
    if pc.any(pc.not_equal(table["region"], region)).as_py():
        out.append(f"{rel}: region column differs from region={region} in the key")
    days = pc.strftime(table["time_dt"], format="%Y%m%d")
    if pc.any(pc.not_equal(days, day)).as_py():
        out.append(f"{rel}: time_dt outside eventDay={day}")
    ms = pc.cast(table["time_dt"], pa.int64())
    if pc.any(pc.not_equal(ms, table["time"])).as_py():
        out.append(f"{rel}: time (epoch ms) differs from time_dt")
    return out


def _schema_diff(expected: pa.Schema, actual: pa.Schema) -> str:
    parts = []
    for f in expected:
        if f.name not in actual.names:
            parts.append(f"missing {f.name}")
        elif not actual.field(f.name).type.equals(f.type):
            parts.append(f"{f.name} is {actual.field(f.name).type}, expected {f.type}")
        elif actual.field(f.name).nullable != f.nullable:
            parts.append(f"{f.name} nullable={actual.field(f.name).nullable}, expected {f.nullable}")
    parts += [f"extra {n}" for n in actual.names if n not in expected.names]
    if not parts and actual.names != expected.names:
        parts.append("column order differs")
    return "; ".join(parts[:MAX_PROBLEMS_PER_CHECK]) or "metadata differs"


def _bad(mask: np.ndarray, what: str, table: pa.Table) -> list[str]:
    n = int(mask.sum())
    return [f"{n} row(s) where {what}"] if n else []


def _check_vocabulary(source: Source, table: pa.Table) -> list[str]:
    voc = vocabulary()
    cls = table["class_uid"].to_numpy()
    act = table["activity_id"].to_numpy()
    out = _bad(~np.isin(cls, source.classes), f"class_uid not in {source.classes}", table)
    out += _bad(table["type_uid"].to_numpy() != cls.astype("int64") * 100 + act, "type_uid != class_uid*100+activity_id", table)
    names = table["class_name"].to_numpy(zero_copy_only=False)
    acts = table["activity_name"].to_numpy(zero_copy_only=False)
    sev_ids = table["severity_id"].to_numpy()
    sevs = table["severity"].to_numpy(zero_copy_only=False)
    cat = table["category_uid"].to_numpy()
    for cu in np.unique(cls):
        if int(cu) not in voc:
            continue
        c, m = voc[int(cu)], cls == cu
        out += _bad(m & (names != c["name"]), f"class_name is not {c['name']!r} for class {cu}", table)
        out += _bad(m & (cat != c["category_uid"]), f"category_uid is not {c['category_uid']} for class {cu}", table)
        expected_act = np.array([c["activity_id"].get(int(a)) for a in act[m]], dtype=object)
        out += _bad(expected_act != acts[m], f"activity_name does not match activity_id (class {cu})", table)
        expected_sev = np.array([c["severity_id"].get(int(s)) for s in sev_ids[m]], dtype=object)
        out += _bad(expected_sev != sevs[m], f"severity does not match severity_id (class {cu})", table)
    if source.name in ("cloud_trail_mgmt", "s3_data", "lambda_execution"):
        status = table["status"].to_numpy(zero_copy_only=False)
        err = pc.is_valid(pc.struct_field(table["api"], ["response", "error"])).to_numpy(zero_copy_only=False)
        other_ok = (cls == 3002) & (status == "Other")  # Authentication without a ConsoleLogin result (role assumption)
        out += _bad(~np.isin(status, ["Success", "Failure"]) & ~other_ok, "status is not Success/Failure", table)
        api_rows = cls == 6003
        out += _bad(api_rows & ((status == "Failure") != err), "status Failure does not match api.response.error", table)
    if source.name == "vpc_flow":
        action = table["action"].to_numpy(zero_copy_only=False)
        disp = table["disposition"].to_numpy(zero_copy_only=False)
        out += _bad((act == 5) & ((action != "Denied") | (disp != "Blocked")), "Refuse rows are not Denied/Blocked", table)
        out += _bad((act == 6) & ((action != "Allowed") | (disp != "Allowed")), "Traffic rows are not Allowed/Allowed", table)
    if source.name == "route53":
        host = pc.struct_field(table["query"], ["hostname"])
        out += _bad(~pc.ends_with(pc.fill_null(host, "."), ".").to_numpy(zero_copy_only=False), "query.hostname lacks the trailing dot", table)
    return out
