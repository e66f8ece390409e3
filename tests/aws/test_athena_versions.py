"""AthenaLake over source version 1 beside version 2, and hunts over custom-source tables.

Glue runs in moto (server mode): version-1 and custom tables carry their Glue columns, as Security
Lake's crawler and ``CreateCustomLogSource`` leave them.  Athena runs no SQL in moto, so the tests
check what is sent (query text and execution parameters, values always bound) and how results and
provenance come back; the version-1 projection itself is checked by running it (translated to
DuckDB) over AWS's own v1 files and comparing with the local engine's rows.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from aws_fixtures import OUTPUT, REGION, Moto, executions

from slake_forensics.analysis import hunts
from slake_forensics.core import ocsf
from slake_forensics.core.catalog import SOURCES, V1_SOURCES, glue_columns
from slake_forensics.core.timewindow import Window
from slake_forensics.core.layout import Partition
from slake_forensics.core.versions import to_v2, with_partitions
from slake_forensics.engines.athena import SkippedTableWarning, v1_projection
from slake_forensics.lake import AthenaLake, Lake
from slake_forensics.sql.translate import translate

DB = "amazon_security_lake_glue_db_us_east_1"
CT2 = "amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0"
CT1 = "amazon_security_lake_table_us_east_1_cloud_trail_mgmt_1_0"
VPC2 = "amazon_security_lake_table_us_east_1_vpc_flow_2_0"
FIREWALL = "amazon_security_lake_table_us_east_1_ext_onprem_fw_1_0"
AZURE = "amazon_security_lake_table_us_east_1_ext_azure_flows_1_0"
OKTA = "amazon_security_lake_table_us_east_1_ext_okta_1_0"
WINDOW = ("2026-02-27T12:00:00Z", "2026-03-02T00:00:00Z")  # crosses the upgrade on 2026-03-01
FIXTURES = Path(__file__).parents[1] / "fixtures"
V1_FILES = [("cloud_trail_mgmt", p) for p in sorted((FIXTURES / "aws_authored_v1_cloudtrail").rglob("*.parquet"))] + [
    (name.lower(), p) for name in ("ROUTE53", "VPC_FLOW", "SH_FINDINGS")
    for p in sorted((FIXTURES / "aws_authored_v1" / name).glob("*.parquet"))]
PARTITIONS = [{"Name": "region", "Type": "string"}, {"Name": "accountid", "Type": "string"},
              {"Name": "eventday", "Type": "string"}]


def glue_table(name: str, columns: list[dict[str, str]], partitions: list[dict[str, str]] | None = None) -> None:
    """Create table ``name`` in :data:`DB` with Glue ``columns`` (``[{"Name", "Type"}]``)."""
    boto3.client("glue", region_name=REGION).create_table(DatabaseName=DB, TableInput={
        "Name": name, "StorageDescriptor": {"Columns": columns}, "PartitionKeys": partitions or []})


def catalog_columns(suffix: str, drop: tuple[str, ...] = ()) -> list[dict[str, str]]:
    return [{"Name": c["name"], "Type": c["type"]} for c in glue_columns(suffix) if c["name"] not in drop]


@pytest.fixture
def upgraded(session: boto3.Session) -> AthenaLake:
    """Security Lake's own database: CloudTrail in version 2 and, kept for retention, version 1 (AWS's
    v1 tables have ``region``/``accountid``/``eventday`` as partition keys and no ``asl_version``)."""
    boto3.client("glue", region_name=REGION).create_database(DatabaseInput={"Name": DB})
    glue_table(CT2, catalog_columns("cloud_trail_mgmt_2_0"))
    glue_table(CT1, catalog_columns("cloud_trail_mgmt_1_0", ("accountid", "region", "asl_version")), PARTITIONS)
    lake = Lake.athena(REGION, s3_output=OUTPUT, boto3_session=session)
    assert isinstance(lake, AthenaLake)
    lake.poll_seconds = 0.01
    return lake


def test_load_reads_the_v1_table_in_v2_names_beside_v2(aws: Moto, upgraded: AthenaLake):
    arn = "arn:aws:iam::111122223333:user/alice"
    aws.queue_athena_result(
        [("time_dt", "timestamp"), ("actor.user.uid", "varchar"), ("class_uid", "integer"), ("metadata.version", "varchar")],
        [["2026-03-01 09:00:00.000", arn, "6003", "1.1.0"], ["2026-02-28 08:00:00.000", arn, "6003", "1.0.0-rc.2"]],
    )
    df = upgraded.load("cloud_trail_mgmt", *WINDOW, accounts=["111122223333"],
                       columns=["time_dt", "actor.user.uid", "class_uid", "metadata.version"])
    [run] = executions()
    sent, params = run["Query"], run["ExecutionParameters"]
    sqlglot.parse_one(sent, read="trino")  # one statement Athena's parser reads
    assert sent.count("?") == len(params)
    assert params == ["'20260227'", "'20260301'", "'2026-02-27T12:00:00.000Z'", "'2026-03-02T00:00:00.000Z'",
                      "'111122223333'"]
    v2_branch, v1_branch = sent.split(" UNION ALL ")
    assert f'FROM "{DB}"."{CT2}"' in v2_branch
    assert f'FROM "{DB}"."{CT1}" WHERE "eventday" >= ? AND "eventday" <= ?) AS "{CT2}"\nWHERE ' in v1_branch
    # the renaming of versions.V1_TO_V2: v1 uuid is the ARN (v2 uid), v1 uid the principal id (v2 uid_alt)
    assert re.search(r'"actor"\."user"\."uid", "actor"\."user"\."uuid", CAST\(ROW\("actor"\."user"\."account_uid"\)',
                     v1_branch)
    assert 'row("type" varchar, "name" varchar, "uid_alt" varchar, "uid" varchar, "account" row("uid" varchar)' in v1_branch
    assert "CAST(from_unixtime(\"time\" / 1e3, 'UTC') AS timestamp) AS \"time_dt\"" in v1_branch
    assert 'CASE WHEN "class_uid" = 3005 THEN 6003 ELSE "class_uid" END AS "class_uid"' in v1_branch
    assert 'CASE WHEN "class_uid" = 3005 THEN CAST("type_uid" AS bigint) + 299800 ELSE CAST("type_uid" AS bigint) END' in v1_branch
    assert "COALESCE(CAST(NULL AS varchar), '1.0') AS \"asl_version\"" in v1_branch  # not in AWS's v1 table: the key's version
    assert "111122223333" not in sent and "2026" not in sent  # values travel bound

    assert df["metadata.version"].tolist() == ["1.0.0-rc.2", "1.1.0"]  # sorted by time_dt, across the upgrade
    assert df["actor.user.uid"].tolist() == [arn, arn]
    assert df.attrs["tables_read"] == {"cloud_trail_mgmt": [
        {"table": CT2, "version": "2.0"},
        {"table": CT1, "version": "1.0", "columns_from": "glue", "eventdays": ["20260227", "20260301"]},
    ]}
    plan = upgraded.explain("cloud_trail_mgmt", *WINDOW, accounts=["111122223333"],
                            columns=["time_dt", "actor.user.uid", "class_uid", "metadata.version"])
    assert (plan.sql, plan.params) == (sent, params)


def test_pivot_reads_v1_rows_with_the_day_bounds_bound_before_its_values(aws: Moto, upgraded: AthenaLake):
    aws.queue_athena_result([("time_dt", "timestamp")], [])
    tl = upgraded.pivot(principal="arn:aws:iam::111122223333:user/alice", start=WINDOW[0], end=WINDOW[1],
                        sources=["cloud_trail_mgmt"], progress=False)
    [run] = executions()
    sent, params = run["Query"], run["ExecutionParameters"]
    assert sent.count("?") == len(params) and f'"{CT1}" WHERE "eventday" >= ? AND "eventday" <= ?' in sent
    assert params[:3] == ["'20260227'", "'20260301'", "'2026-02-27T12:00:00.000Z'"]
    assert "'arn:aws:iam::111122223333:user/alice'" in params and "alice" not in sent
    assert tl.attrs["rows"] == {"cloud_trail_mgmt": 0}
    assert [t["table"] for t in tl.attrs["tables_read"]["cloud_trail_mgmt"]] == [CT2, CT1]
    assert tl.attrs["queries"]["cloud_trail_mgmt"] != sent  # the pivot's own SQL; Athena got the union


def test_sql_inserts_day_bounds_at_their_placeholder_and_reads_as_written_without_a_window(aws, upgraded):
    text = ("SELECT s.x, count(*) AS n FROM (SELECT ? AS x) AS s, amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0 "
            "WHERE api.operation <> '?' AND time_dt >= from_iso8601_timestamp(?) -- ?\nGROUP BY 1")
    aws.queue_athena_result([("x", "varchar"), ("n", "bigint")], [])
    aws.queue_athena_result([("x", "varchar"), ("n", "bigint")], [])
    df = upgraded.sql(text, ["a", pd.Timestamp("2026-02-28T00:00:00Z")], start="2026-02-28T00:00Z", end="2026-03-01T00:00Z")
    plain = upgraded.sql(text, ["a", pd.Timestamp("2026-02-28T00:00:00Z")])
    first, second = executions()
    assert first["ExecutionParameters"] == ["'a'", "'20260228'", "'20260228'", "'2026-02-28T00:00:00.000Z'"]
    assert first["Query"].replace("'?'", "").replace("-- ?", "").count("?") == 4 and f'AS "{CT2}" WHERE api.operation' in first["Query"]
    assert df.attrs["sql"] == text and df.attrs["translated_sql"] == first["Query"]
    assert set(df.attrs["tables_read"]) == {"cloud_trail_mgmt"}
    assert second["Query"] == text and second["ExecutionParameters"] == ["'a'", "'2026-02-28T00:00:00.000Z'"]
    assert "tables_read" not in plain.attrs


def _in(value: Any, typ: pa.DataType) -> Any:
    """``value`` with only the fields ``typ`` has (the local engine keeps v1 fields without a v2 place)."""
    if value is None:
        return None
    if pa.types.is_struct(typ):
        return {f.name: _in(value.get(f.name), f.type) for f in typ}
    if pa.types.is_list(typ):
        return [_in(v, typ.value_type) for v in value]
    if pa.types.is_timestamp(typ):  # DuckDB gives naive UTC, pyarrow zoned UTC
        return pd.Timestamp(value).tz_localize(None)
    return value


@pytest.mark.parametrize("name,path", V1_FILES, ids=[f"{n}-{p.stem}" for n, p in V1_FILES])
def test_the_v1_projection_gives_the_local_engines_rows(name: str, path: Path):
    """The SELECT list Athena gets, run (translated to DuckDB) over one of AWS's v1 files, equals the
    rows the local engine makes of that file (``versions.to_v2`` then the v2 catalog types)."""
    table = pq.read_table(path)
    v1, v2 = V1_SOURCES[name], SOURCES[name]
    items, nulled = v1_projection(v2, table.schema)
    assert nulled == []
    con = duckdb.connect()
    con.register("v1file", table)
    query = translate(f"SELECT {', '.join(items)} FROM v1file", now=None, resolve_table=lambda _: "v1file")
    got = con.sql(query).to_arrow_table()
    expected = ocsf.conform(to_v2(with_partitions(table, Partition(v1, "us-east-1", "112233445566", "20230317")), v1), v2)
    assert got.column_names == v2.schema.names
    for field in v2.schema:
        have = [_in(v, field.type) for v in got[field.name].to_pylist()]
        want = [_in(v, field.type) for v in expected[field.name].to_pylist()]
        if field.name in ("accountid", "region"):  # from the key on the local engine, partition keys on Athena
            continue
        assert have == want, field.name
    assert got["class_uid"].to_pylist()[0] in v2.classes + (2001,) and got["time_dt"].null_count == 0  # v1 Security Finding stays


@pytest.fixture
def mixed(session: boto3.Session) -> AthenaLake:
    """VPC Flow v2 and three custom sources: an on-premises firewall whose Glue columns cast to VPC
    Flow's, another cloud's flows whose ``src_endpoint`` is a string (cannot), and Okta (another class,
    but Glue does not say so: its rows are filtered by ``class_uid``)."""
    boto3.client("glue", region_name=REGION).create_database(DatabaseInput={"Name": DB})
    glue_table(VPC2, catalog_columns("vpc_flow_2_0"))
    glue_table(FIREWALL, [
        {"Name": "time", "Type": "int"},  # narrower than the catalog's bigint: widened
        {"Name": "time_dt", "Type": "timestamp"},
        {"Name": "class_uid", "Type": "int"},
        {"Name": "src_endpoint", "Type": "struct<ip:string,port:int,hostname:string>"},
        {"Name": "connection_info", "Type": "struct<direction:string>"},
        {"Name": "traffic", "Type": "struct<bytes:int,packets:int>"},
    ], PARTITIONS)
    glue_table(AZURE, [{"Name": "time_dt", "Type": "timestamp"}, {"Name": "class_uid", "Type": "int"},
                       {"Name": "src_endpoint", "Type": "string"}], PARTITIONS)
    glue_table(OKTA, [{"Name": "time_dt", "Type": "timestamp"}, {"Name": "class_uid", "Type": "int"}], PARTITIONS)
    lake = Lake.athena(REGION, s3_output=OUTPUT, boto3_session=session)
    assert isinstance(lake, AthenaLake)
    lake.poll_seconds = 0.01
    return lake


def test_hunts_read_custom_tables_of_their_class_cast_to_the_catalog_columns(aws: Moto, mixed: AthenaLake):
    with pytest.warns(SkippedTableWarning, match=rf"{AZURE} .*column src_endpoint \(string in Glue\) cannot be cast"):
        relation = mixed.class_relation("vpc_flow")
    assert executions() == []  # only Glue is asked
    assert relation.startswith('(SELECT "') and f'FROM "{DB}"."{VPC2}" UNION ALL SELECT ' in relation
    assert f'FROM "{DB}"."{FIREWALL}" WHERE "class_uid" IN (4001)' in relation and AZURE not in relation
    assert f'FROM "{DB}"."{OKTA}" WHERE "class_uid" IN (4001)' in relation  # its rows of another class are filtered out
    assert 'CAST("time" AS bigint) AS "time"' in relation
    assert 'CAST(ROW("src_endpoint"."port", CAST(NULL AS varchar), "src_endpoint"."ip", CAST(NULL AS array(varchar)),' in relation
    assert 'CAST(ROW(CAST("traffic"."packets" AS bigint), CAST("traffic"."bytes" AS bigint)) AS row("packets" bigint, ' \
        '"bytes" bigint)) AS "traffic"' in relation
    assert 'CAST(NULL AS varchar) AS "action"' in relation and '"time_dt" AS "time_dt"' in relation
    assert "hostname" not in relation  # a field the catalog source does not have is left out
    sqlglot.parse_one(f"SELECT * FROM {relation}", read="trino")

    hunt = hunts.get("vpc_inbound_scan")
    window = Window.of("2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z")
    text, params = hunt.compile(mixed, window, hunt.resolve({}))  # the same relation: no second warning
    assert relation in text
    aws.queue_athena_result([("n", "bigint")], [])
    df = mixed.sql(text, params, start=window.start, end=window.end)
    [run] = executions()
    assert run["Query"] == text and run["Query"].count("?") == len(run["ExecutionParameters"])  # no v1 table here
    assert df.attrs["custom_tables"] == [{"source": "vpc_flow", "read": [OKTA, FIREWALL], "skipped": {
        AZURE: "column src_endpoint (string in Glue) cannot be cast to the vpc_flow type"}}]

    assert mixed.class_relation("s3_data") == mixed.table_name("s3_data")  # its class is cloud_trail_mgmt's


def test_a_hunt_over_the_upgrade_reads_v1_rows_of_its_window(aws: Moto, upgraded: AthenaLake):
    hunt = hunts.get("cloudtrail_tampering")
    window = Window.of("2026-02-28T00:00:00Z", "2026-03-02T00:00:00Z")
    text, params = hunt.compile(upgraded, window, hunt.resolve({}))
    aws.queue_athena_result([("time_dt", "timestamp")], [])
    df = upgraded.sql(text, params, start=window.start, end=window.end)
    [run] = executions()
    sent, sent_params = run["Query"], run["ExecutionParameters"]
    assert sent.count(f'FROM "{DB}"."{CT1}" WHERE "eventday" >= ? AND "eventday" <= ?') == text.count(CT2) >= 1
    assert len(sent_params) == len(params) + 2 * text.count(CT2)
    assert sent_params.count("'20260228'") == text.count(CT2) and sent_params.count("'20260301'") == text.count(CT2)
    sqlglot.parse_one(sent, read="trino")
    assert df.attrs["tables_read"]["cloud_trail_mgmt"][1]["table"] == CT1


def test_a_v2_table_lacking_a_catalog_column_gives_it_as_a_typed_null_in_the_union(aws: Moto, session: boto3.Session):
    boto3.client("glue", region_name=REGION).create_database(DatabaseInput={"Name": DB})
    glue_table(CT2, catalog_columns("cloud_trail_mgmt_2_0", ("unmapped",)))
    glue_table(CT1, catalog_columns("cloud_trail_mgmt_1_0", ("accountid", "region", "asl_version")), PARTITIONS)
    lake = Lake.athena(REGION, s3_output=OUTPUT, boto3_session=session)
    plan = lake.explain("cloud_trail_mgmt", *WINDOW, columns=["time_dt", "unmapped"])
    v2_branch, v1_branch = plan.sql.split(" UNION ALL ")
    assert 'CAST(NULL AS map(varchar, varchar)) AS "unmapped"' in v2_branch and '"unmapped" AS "unmapped"' in v1_branch
    assert executions() == []


def test_a_v1_table_without_an_eventday_partition_is_bounded_on_its_time(aws: Moto, session: boto3.Session):
    boto3.client("glue", region_name=REGION).create_database(DatabaseInput={"Name": DB})
    glue_table(CT2, catalog_columns("cloud_trail_mgmt_2_0"))
    glue_table(CT1, catalog_columns("cloud_trail_mgmt_1_0"))  # accountid and region as columns, no eventday
    lake = Lake.athena(REGION, s3_output=OUTPUT, boto3_session=session)
    plan = lake.explain("cloud_trail_mgmt", *WINDOW, columns=["time_dt"])
    assert f'FROM "{DB}"."{CT1}" WHERE "time" >= ? AND "time" < ?) AS "{CT2}"' in plan.sql
    assert plan.params[:2] == [str(int(pd.Timestamp(t).value // 1_000_000)) for t in WINDOW]
    assert plan.sql.count("?") == len(plan.params) == 4
