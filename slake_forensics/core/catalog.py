"""The eight Amazon Security Lake source-version-2 sources and their tables.

Everything the toolkit knows about where a source lives (S3 prefix, Glue database
and table per region), which OCSF 1.1.0 classes it holds, and the exact Arrow
schema of its table.  Schemas come from ``schemas/glue_v2.json``, AWS's published
Glue table definitions (Hive type strings), converted here to Arrow types:
``time`` is int64 epoch milliseconds, every ``timestamp`` is ``timestamp[ms, UTC]``.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pyarrow as pa

from slake_forensics.core.errors import BadConfigError, UnknownSourceError

SOURCE_VERSION = "2.0"
PARTITION_COLUMNS = ("accountid", "region", "asl_version")
TIMESTAMP_TYPE = pa.timestamp("ms", tz="UTC")


@dataclass(frozen=True)
class Source:
    """One Security Lake source (version 2).

    ``name`` is the short, lower-case name used throughout the toolkit
    (``cloud_trail_mgmt``); ``source_name`` is the API / S3 spelling
    (``CLOUD_TRAIL_MGMT``).
    """

    name: str
    source_name: str
    title: str
    classes: tuple[int, ...]

    @property
    def suffix(self) -> str:
        """Glue table suffix, e.g. ``cloud_trail_mgmt_2_0``."""
        return f"{self.name}_{SOURCE_VERSION.replace('.', '_')}"

    @property
    def prefix(self) -> str:
        """S3 key prefix below the lake bucket, e.g. ``aws/CLOUD_TRAIL_MGMT/2.0/``."""
        return f"aws/{self.source_name}/{SOURCE_VERSION}/"

    def table(self, region: str) -> str:
        """Glue table name in ``region``: ``amazon_security_lake_table_<region_>_<suffix>``."""
        return f"amazon_security_lake_table_{_region_id(region)}_{self.suffix}"

    def qualified_table(self, region: str) -> str:
        """``<database>.<table>`` for ``region``."""
        return f"{database(region)}.{self.table(region)}"

    @property
    def schema(self) -> pa.Schema:
        """The table's exact Arrow schema (every nested field), partition columns included."""
        return arrow_schema(self.suffix)


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("cloud_trail_mgmt", "CLOUD_TRAIL_MGMT", "CloudTrail management events", (6003, 3002, 3001)),
        Source("s3_data", "S3_DATA", "CloudTrail S3 data events", (6003,)),
        Source("lambda_execution", "LAMBDA_EXECUTION", "CloudTrail Lambda data events", (6003,)),
        Source("vpc_flow", "VPC_FLOW", "VPC Flow Logs", (4001,)),
        Source("route53", "ROUTE53", "Route 53 Resolver query logs", (4003,)),
        Source("sh_findings", "SH_FINDINGS", "Security Hub findings", (2002, 2003, 2004)),
        Source("eks_audit", "EKS_AUDIT", "EKS audit logs", (6003,)),
        Source("waf", "WAF", "AWS WAFv2 logs", (4002,)),
    )
}


def _region_id(region: str) -> str:
    return region.replace("-", "_")


def database(region: str) -> str:
    """Glue database of the lake in ``region``: ``amazon_security_lake_glue_db_<region_>``."""
    return f"amazon_security_lake_glue_db_{_region_id(region)}"


def source(name: str) -> Source:
    """Return the :class:`Source` for a short name, API name or table name.

    Accepts ``cloud_trail_mgmt``, ``CLOUD_TRAIL_MGMT``, ``cloud_trail_mgmt_2_0`` or a full
    Glue table name for any region.  Raises :class:`UnknownSourceError` listing the
    known sources otherwise.
    """
    key = name.strip().strip('"').lower()
    key = re.sub(r"^.*amazon_security_lake_table_[a-z]{2}(?:_[a-z]+)+_\d_(?=[a-z])", "", key)
    key = re.sub(r"_2_0$", "", key)
    if key in SOURCES:
        return SOURCES[key]
    close = difflib.get_close_matches(key, SOURCES, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownSourceError(
        f"Unknown Security Lake source {name!r}.{hint} Known sources: {', '.join(SOURCES)}."
    )


def table_regex() -> re.Pattern[str]:
    """Pattern matching a Security Lake v2 Glue table name; groups ``region`` and ``suffix``."""
    suffixes = "|".join(s.suffix for s in SOURCES.values())
    return re.compile(rf"amazon_security_lake_table_(?P<region>[a-z]{{2}}(?:_[a-z]+)+_\d)_(?P<suffix>{suffixes})\b")


@cache
def _glue() -> dict:
    text = resources.files(__package__).joinpath("schemas/glue_v2.json").read_text()
    return json.loads(text)["tables"]


@cache
def vocabulary() -> dict:
    """OCSF 1.1.0 enumerations for the classes Security Lake writes.

    Returns ``{class_uid: {"name", "category_uid", "category_name", "activity_id": {id: caption},
    "status_id", "severity_id", "disposition_id", "action_id"}}`` with int keys.
    """
    text = resources.files(__package__).joinpath("schemas/ocsf_1_1_0_vocab.json").read_text()
    raw = json.loads(text)["classes"]
    return {
        int(uid): {k: ({int(i): c for i, c in v.items()} if isinstance(v, dict) else v) for k, v in cls.items()}
        for uid, cls in raw.items()
    }


def glue_columns(suffix: str) -> list[dict]:
    """The Glue column list of a table: ``[{"name", "type" (Hive string), "required", "description"}]``."""
    return _glue()[suffix]["columns"]


@cache
def arrow_schema(suffix: str) -> pa.Schema:
    """Arrow schema of the table with Glue suffix ``suffix`` (e.g. ``vpc_flow_2_0``)."""
    return pa.schema(
        [pa.field(c["name"], hive_to_arrow(c["type"]), nullable=not c["required"]) for c in glue_columns(suffix)]
    )


_PRIMITIVES = {
    "string": pa.string(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "boolean": pa.bool_(),
    "double": pa.float64(),
    "float": pa.float32(),
    "timestamp": TIMESTAMP_TYPE,
}


def hive_to_arrow(type_string: str) -> pa.DataType:
    """Convert a Hive/Glue type string (``struct<a:string,b:array<int>>``) to an Arrow type."""
    parsed, rest = _parse(type_string.replace(" ", ""))
    if rest:
        raise ValueError(f"Trailing text {rest!r} in type {type_string!r}")
    return parsed


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _parse(t: str) -> tuple[pa.DataType, str]:
    for head in ("struct<", "array<", "map<"):
        if t.startswith(head):
            depth, end = 0, len(t)
            for i, ch in enumerate(t):
                depth += ch == "<"
                depth -= ch == ">"
                if depth == 0 and ch == ">":
                    end = i
                    break
            inner, rest = t[len(head) : end], t[end + 1 :]
            if head == "array<":
                return pa.list_(_parse_whole(inner)), rest
            if head == "map<":
                key, value = _split_top(inner)
                return pa.map_(_parse_whole(key), _parse_whole(value)), rest
            fields = []
            for part in _split_top(inner):
                fname, ftype = part.split(":", 1)
                fields.append(pa.field(fname, _parse_whole(ftype)))
            return pa.struct(fields), rest
    m = re.match(r"decimal\((\d+),(\d+)\)", t)
    if m:
        return pa.decimal128(int(m[1]), int(m[2])), t[m.end() :]
    m = re.match(r"[a-z]+", t)
    if not m or m[0] not in _PRIMITIVES:
        raise ValueError(f"Unsupported Glue type {t!r}")
    return _PRIMITIVES[m[0]], t[m.end() :]


def _parse_whole(t: str) -> pa.DataType:
    parsed, rest = _parse(t)
    if rest:
        raise ValueError(f"Trailing text {rest!r} in type {t!r}")
    return parsed


REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d$")


def check_region(region: str) -> str:
    """Return ``region`` if it looks like an AWS region name (``us-east-1``), else raise :class:`BadConfigError`.

    The region becomes part of the Glue database and table identifiers, so it is checked
    rather than quoted.
    """
    if not isinstance(region, str) or not REGION_RE.fullmatch(region):
        raise BadConfigError(
            f"{region!r} is not an AWS region name such as 'us-east-1'. Pass region=, set SLAKE_REGION "
            "or AWS_DEFAULT_REGION."
        )
    return region
