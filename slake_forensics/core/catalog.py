"""The Amazon Security Lake sources (versions 1 and 2, and custom sources) and their tables.

Everything the toolkit knows about where a source lives (S3 prefix, Glue database
and table per region), which OCSF classes it holds, and the exact Arrow
schema of its table.  Version-2 schemas come from ``schemas/glue_v2.json``, AWS's published
Glue table definitions (Hive type strings); version-1 schemas from ``schemas/glue_v1.json``,
derived from the files AWS's own v1 transformer wrote.  Both are converted here to Arrow types:
``time`` is int64 epoch milliseconds, every ``timestamp`` is ``timestamp[ms, UTC]``.

:data:`SOURCES` holds the eight version-2 sources: the names an investigation uses, whose rows
include version-1 rows presented in version-2 names (:mod:`slake_forensics.core.versions`).
:data:`V1_SOURCES` holds the six version-1 sources (prefix ``aws/<SOURCE>/1.0/``, tables ending
``_1_0``); :func:`custom_source` describes a custom source under ``ext/<name>/``.
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
#: Source versions this toolkit reads: the current one and the one before it.
SOURCE_VERSIONS = ("1.0", "2.0")
PARTITION_COLUMNS = ("accountid", "region", "asl_version")
TIMESTAMP_TYPE = pa.timestamp("ms", tz="UTC")


@dataclass(frozen=True)
class Source:
    """One Security Lake source of one source version.

    ``name`` is the short, lower-case name used throughout the toolkit
    (``cloud_trail_mgmt``); ``source_name`` is the API / S3 spelling
    (``CLOUD_TRAIL_MGMT``); ``version`` the source version (``"2.0"``, ``"1.0"``).  A custom
    source (``custom=True``) lives under ``ext/<source_name>/[<version>/]``; its ``name`` is
    ``ext_<source_name>`` and ``like`` names the version-2 source whose schema, timeline and
    entity map it reuses (the one holding its OCSF class), ``""`` when none does.
    """

    name: str
    source_name: str
    title: str
    classes: tuple[int, ...]
    version: str = SOURCE_VERSION
    custom: bool = False
    like: str = ""

    @property
    def suffix(self) -> str:
        """Glue table suffix, e.g. ``cloud_trail_mgmt_2_0`` (a custom source: its ``name``)."""
        if self.custom:
            return self.name
        return f"{self.name}_{self.version.replace('.', '_')}"

    @property
    def prefix(self) -> str:
        """S3 key prefix below the lake bucket, e.g. ``aws/CLOUD_TRAIL_MGMT/2.0/`` or ``ext/okta/``."""
        if self.custom:
            return f"ext/{self.source_name}/" + (f"{self.version}/" if self.version else "")
        return f"aws/{self.source_name}/{self.version}/"

    @property
    def map_name(self) -> str:
        """The source whose timeline projection and entity map this one uses: its ``like`` source if custom, else its own name."""
        return self.like if self.custom else self.name

    @property
    def investigated_as(self) -> Source:
        """The source whose rows this one's rows join in an investigation: the version-2 source of
        the same name, the ``like`` source of a custom one, or itself."""
        if self.custom:
            return self
        return SOURCES.get(self.name, self)

    def table(self, region: str) -> str:
        """Glue table name in ``region``: ``amazon_security_lake_table_<region_>_<suffix>``."""
        return f"amazon_security_lake_table_{_region_id(region)}_{self.suffix}"

    def qualified_table(self, region: str) -> str:
        """``<database>.<table>`` for ``region``."""
        return f"{database(region)}.{self.table(region)}"

    @property
    def schema(self) -> pa.Schema:
        """The table's exact Arrow schema (every nested field), partition columns included.

        A custom source has the schema of its ``like`` source (files keep their extra columns);
        without one, just ``time``, ``time_dt``, ``class_uid`` and the partition columns."""
        if self.custom:
            return arrow_schema(SOURCES[self.like].suffix) if self.like else _custom_schema()
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


#: The six version-1 sources (no EKS or WAF in version 1); their rows join their version-2 namesake's.
V1_SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("cloud_trail_mgmt", "CLOUD_TRAIL_MGMT", "CloudTrail management events (v1)", (3005, 3002, 3001), "1.0"),
        Source("s3_data", "S3_DATA", "CloudTrail S3 data events (v1)", (3005,), "1.0"),
        Source("lambda_execution", "LAMBDA_EXECUTION", "CloudTrail Lambda data events (v1)", (3005,), "1.0"),
        Source("vpc_flow", "VPC_FLOW", "VPC Flow Logs (v1)", (4001,), "1.0"),
        Source("route53", "ROUTE53", "Route 53 Resolver query logs (v1)", (4003,), "1.0"),
        Source("sh_findings", "SH_FINDINGS", "Security Hub findings (v1)", (2001,), "1.0"),
    )
}


def versioned(source_name: str, version: str) -> Source | None:
    """The source with API name ``source_name`` (``CLOUD_TRAIL_MGMT``) in ``version``, or ``None``."""
    table = SOURCES if version == SOURCE_VERSION else V1_SOURCES if version == "1.0" else {}
    return next((s for s in table.values() if s.source_name == source_name), None)


def custom_source(name: str, classes: tuple[int, ...], version: str = "") -> Source:
    """The custom source stored under ``ext/<name>/[<version>/]`` holding OCSF ``classes``.

    Its table name is ``ext_<name>`` (lower case); it reuses the schema, timeline and entity map
    of the version-2 source that holds its first class (``like``).

    Examples
    --------
    >>> src = custom_source("okta_auth", (3002,))
    >>> src.name, src.like, src.prefix
    ('ext_okta_auth', 'cloud_trail_mgmt', 'ext/okta_auth/')
    """
    like = next((s.name for c in classes for s in SOURCES.values() if c in s.classes), "")
    src = Source(f"ext_{name.lower()}", name, f"Custom source {name}", tuple(classes), version, True, like)
    CUSTOM_SOURCES[src.name] = src
    return src


#: Custom sources met in the lakes opened so far (``ext_<name>`` → :class:`Source`), so that
#: :func:`source` resolves their names for the analysis helpers.
CUSTOM_SOURCES: dict[str, Source] = {}


@cache
def _custom_schema() -> pa.Schema:
    return pa.schema(
        [pa.field("time", pa.int64()), pa.field("time_dt", TIMESTAMP_TYPE), pa.field("class_uid", pa.int32())]
        + [pa.field(c, pa.string()) for c in PARTITION_COLUMNS]
    )


def _region_id(region: str) -> str:
    return region.replace("-", "_")


def database(region: str) -> str:
    """Glue database of the lake in ``region``: ``amazon_security_lake_glue_db_<region_>``."""
    return f"amazon_security_lake_glue_db_{_region_id(region)}"


def source(name: str) -> Source:
    """Return the :class:`Source` an investigation reads for a short name, API name or table name.

    Accepts ``cloud_trail_mgmt``, ``CLOUD_TRAIL_MGMT``, ``cloud_trail_mgmt_2_0``,
    ``cloud_trail_mgmt_1_0``, a full Glue table name for any region, or a custom source's
    ``ext_<name>``.  A version-1 name gives the version-2 source (whose rows include the
    version-1 rows); :func:`table_source` keeps the version.  Raises
    :class:`UnknownSourceError` listing the known sources otherwise.
    """
    key, _ = _table_key(name)
    if key in SOURCES:
        return SOURCES[key]
    if key in CUSTOM_SOURCES:
        return CUSTOM_SOURCES[key]
    known = [*SOURCES, *CUSTOM_SOURCES]
    close = difflib.get_close_matches(key, known, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownSourceError(
        f"Unknown Security Lake source {name!r}.{hint} Known sources: {', '.join(known)}."
    )


def table_source(name: str) -> Source:
    """Like :func:`source`, but a version-1 table name (``…_cloud_trail_mgmt_1_0``) gives the version-1 source.

    Examples
    --------
    >>> table_source("amazon_security_lake_table_us_east_1_route53_1_0").version
    '1.0'
    >>> table_source("route53").version
    '2.0'
    """
    key, version = _table_key(name)
    if version == "1_0" and key in V1_SOURCES:
        return V1_SOURCES[key]
    return source(name)


def _table_key(name: str) -> tuple[str, str]:
    """``(short name, version suffix or "")`` of a source or table name."""
    key = name.strip().strip('"').lower()
    key = re.sub(r"^.*amazon_security_lake_table_[a-z]{2}(?:_[a-z]+)+_\d_(?=[a-z])", "", key)
    m = re.search(r"_([12]_0)$", key)
    return (key[: m.start()], m[1]) if m and key[: m.start()] in SOURCES else (key, "")


def table_regex() -> re.Pattern[str]:
    """Pattern matching a Security Lake v2 Glue table name; groups ``region`` and ``suffix``."""
    suffixes = "|".join(s.suffix for s in SOURCES.values())
    return re.compile(rf"amazon_security_lake_table_(?P<region>[a-z]{{2}}(?:_[a-z]+)+_\d)_(?P<suffix>{suffixes})\b")


@cache
def _glue() -> dict:
    tables = {}
    for name in ("glue_v2.json", "glue_v1.json"):
        tables.update(json.loads(resources.files(__package__).joinpath(f"schemas/{name}").read_text())["tables"])
    return tables


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
