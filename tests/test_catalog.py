"""The source catalog: names, Glue tables, and Arrow schemas true to AWS's Glue definitions."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from slake_forensics.core import catalog
from slake_forensics.core.errors import BadWindowError, UnknownSourceError
from slake_forensics.core.layout import parse_key, select
from slake_forensics.core.timewindow import NaiveTimeWarning, Window, to_utc

GLUE_JSON = Path(catalog.__file__).with_name("schemas") / "glue_v2.json"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "glue_schemas_v2"
HIVE_TO_ARROW = {"string": pa.string(), "int": pa.int32(), "bigint": pa.int64(), "boolean": pa.bool_(),
                 "timestamp": pa.timestamp("ms", tz="UTC"), "decimal(3,1)": pa.decimal128(3, 1),
                 "decimal(9,6)": pa.decimal128(9, 6), "map<string,string>": pa.map_(pa.string(), pa.string())}


def _walk_aws_json(field: dict, arrow: pa.DataType, path: str) -> None:
    """Compare one field of AWS's nested JSON form (type + fields) with the Arrow type."""
    t = field["type"]
    if t == "struct":
        assert pa.types.is_struct(arrow), path
        assert [f["name"] for f in field["fields"]] == [f.name for f in arrow], path
        for f, a in zip(field["fields"], arrow):
            _walk_aws_json(f, a.type, f"{path}.{f['name']}")
    elif t == "array<struct>":
        assert pa.types.is_list(arrow) and pa.types.is_struct(arrow.value_type), path
        _walk_aws_json({"type": "struct", "fields": field["fields"]}, arrow.value_type, path + "[]")
    elif t.startswith("array<"):
        assert pa.types.is_list(arrow), path
        assert arrow.value_type == HIVE_TO_ARROW[t[6:-1]], path
    else:
        assert arrow == HIVE_TO_ARROW[t], f"{path}: {arrow} vs {t}"


def test_eight_sources_with_real_names():
    assert set(catalog.SOURCES) == {"cloud_trail_mgmt", "s3_data", "lambda_execution", "vpc_flow", "route53",
                                    "sh_findings", "eks_audit", "waf"}
    ct = catalog.SOURCES["cloud_trail_mgmt"]
    assert ct.prefix == "aws/CLOUD_TRAIL_MGMT/2.0/"
    assert ct.table("eu-west-1") == "amazon_security_lake_table_eu_west_1_cloud_trail_mgmt_2_0"
    assert catalog.database("ap-southeast-2") == "amazon_security_lake_glue_db_ap_southeast_2"
    assert ct.classes == (6003, 3002, 3001)
    assert catalog.SOURCES["sh_findings"].classes == (2002, 2003, 2004)


@pytest.mark.skipif(not SHARED.is_dir(), reason="AWS's original schema files are only on developer machines")
def test_committed_schemas_equal_aws_originals():
    for path in SHARED.glob("*.json"):
        aws = json.loads(path.read_text())
        src = catalog.source(aws["table_name"].split(".")[1])
        for col, arrow in zip(aws["columns"], src.schema):
            assert col["name"] == arrow.name
            _walk_aws_json(_as_ocsf(col) if src.name == "sh_findings" else col, arrow.type, col["name"])


def _as_ocsf(col: dict) -> dict:
    """AWS's evidences column with the evidence fields it nests under ``actor`` moved beside it (OCSF 1.1.0)."""
    if col["name"] != "evidences":
        return col
    actor = next(f for f in col["fields"] if f["name"] == "actor")
    process = [f for f in actor["fields"] if f["name"] == "process"]
    moved = [f for f in actor["fields"] if f["name"] != "process"]
    fields = [{**f, "fields": process} if f["name"] == "actor" else f for f in col["fields"]]
    return {**col, "fields": fields + moved}


def test_arrow_schemas_follow_the_glue_types():
    tables = json.loads(GLUE_JSON.read_text())["tables"]
    assert set(tables) == {s.suffix for s in catalog.SOURCES.values()}
    for s in catalog.SOURCES.values():
        schema = s.schema
        assert schema.names[-4:] in (["accountid", "region", "asl_version", "observables"],
                                     ["region", "asl_version", "unmapped", "observables"])
        assert schema.field("time").type == pa.int64() and not schema.field("time").nullable
        assert schema.field("time_dt").type == pa.timestamp("ms", tz="UTC")
        assert schema.field("unmapped").type == pa.map_(pa.string(), pa.string())
        obs = schema.field("observables").type.value_type
        assert [f.name for f in obs] == ["name", "value", "type", "type_id"]
    # AWS's hand-curated Glue JSON nests the evidence endpoints under evidences[].actor; OCSF 1.1.0 (and the
    # files Security Hub writes) put them directly under each evidence, beside actor, and the catalog follows OCSF.
    evidence = catalog.SOURCES["sh_findings"].schema.field("evidences").type.value_type
    coords = evidence.field("src_endpoint").type.field("location").type.field("coordinates").type
    assert coords == pa.list_(pa.decimal128(9, 6))
    assert evidence.field("actor").type.names == ["process"]


def test_hive_parser_rejects_unknown_types():
    assert catalog.hive_to_arrow("struct<a:array<map<string,int>>,b:decimal(10,2)>") == pa.struct(
        [("a", pa.list_(pa.map_(pa.string(), pa.int32()))), ("b", pa.decimal128(10, 2))])
    with pytest.raises(ValueError, match="Unsupported Glue type"):
        catalog.hive_to_arrow("uniontype<int,string>")


@pytest.mark.parametrize("name", ["vpc_flow", "VPC_FLOW", "vpc_flow_2_0", "amazon_security_lake_table_us_east_1_vpc_flow_2_0",
                                  '"amazon_security_lake_table_eu_central_1_vpc_flow_2_0"'])
def test_source_lookup_accepts_every_spelling(name):
    assert catalog.source(name).name == "vpc_flow"


def test_unknown_source_lists_known_ones():
    with pytest.raises(UnknownSourceError, match="Did you mean cloud_trail_mgmt.*Known sources: cloud_trail_mgmt"):
        catalog.source("cloud_trail")


def test_vocabulary_from_ocsf():
    voc = catalog.vocabulary()
    assert voc[6003]["activity_id"][2] == "Read"
    assert voc[4001]["activity_id"][5] == "Refuse"
    assert voc[2004]["name"] == "Detection Finding" and voc[2004]["category_uid"] == 2


def test_window_days_and_errors():
    w = Window.of("2026-03-01T22:00:00Z", "2026-03-03T00:00:00Z")
    assert w.days() == ["20260301", "20260302"]
    with pytest.raises(BadWindowError, match="not before end"):
        Window.of("2026-03-03T00:00:00Z", "2026-03-01T00:00:00Z")
    with pytest.raises(BadWindowError, match="Cannot read start"):
        Window.of("yesterday-ish", "2026-03-01T00:00:00Z")


def test_naive_time_is_utc_with_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ts = to_utc("2031-05-05 10:00")
    assert ts == pd.Timestamp("2031-05-05 10:00", tz="UTC")
    assert any(issubclass(c.category, NaiveTimeWarning) for c in caught)
    assert to_utc(pd.Timestamp("2031-05-05 12:00", tz="Europe/Berlin")) == pd.Timestamp("2031-05-05 10:00", tz="UTC")


def test_layout_parses_and_prunes_keys():
    keys = [f"aws/VPC_FLOW/2.0/region={r}/accountId={a}/eventDay={d}/{'a' * 32}.zstd.parquet"
            for r in ("us-east-1", "eu-west-1") for a in ("111111111111", "222222222222") for d in ("20260301", "20260302")]
    keys += ["aws/VPC_FLOW/1.0/region=us-east-1/accountId=111111111111/eventDay=20260301/x.gz.parquet", "README.md"]
    p = parse_key(keys[0])
    assert (p.source.name, p.region, p.account, p.day) == ("vpc_flow", "us-east-1", "111111111111", "20260301")
    assert parse_key(keys[-2]) is None and parse_key("README.md") is None
    w = Window.of("2026-03-02T00:00:00Z", "2026-03-02T06:00:00Z")
    chosen = select(keys, catalog.SOURCES["vpc_flow"], w, accounts=["222222222222"], regions=["eu-west-1"])
    assert chosen == [k for k in keys[:8] if "eu-west-1" in k and "222222222222" in k and "20260302" in k]
    assert select(keys, catalog.SOURCES["route53"]) == []
