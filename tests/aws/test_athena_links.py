"""AthenaLake on lakes as subscribers see them: resource links of any name, overrides, v1 and custom tables.

Glue runs in moto (server mode, through awswrangler's and boto3's real calls): a resource link
is a table whose ``TargetTable`` names the lake account's table, as Glue's GetTables returns it.
Athena runs no SQL in moto, so the tests check what is sent (query text and execution
parameters) and how canned results come back.
"""
from __future__ import annotations

from pathlib import Path

import boto3
import pandas as pd
import pytest
from aws_fixtures import ACCOUNTS, HOSTILE, OUTPUT, REGION, Moto, athena_csv, executions

from slake_forensics.analysis import hunts
from slake_forensics.core.config import read_config
from slake_forensics.core.errors import BadConfigError, QueryError, UnknownSourceError
from slake_forensics.core.timewindow import Window
from slake_forensics.engines.athena import parse_table_name
from slake_forensics.lake import AthenaLake, Lake, lake_from_config

LINKS = "security_tooling_links"
LAKE_ACCOUNT = "999988887777"
HOME_DB = "amazon_security_lake_glue_db_us_east_1"
CT = "amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0"
WINDOW = ("2026-03-01T06:00:00Z", "2026-03-02T12:00:00Z")


def glue(database: str, tables: dict[str, str | None]) -> None:
    """Create ``database`` holding ``{name: link target name or None (a plain table)}``."""
    client = boto3.client("glue", region_name=REGION)
    client.create_database(DatabaseInput={"Name": database})
    for name, target in tables.items():
        table: dict = {"Name": name}
        if target is not None:
            parsed = parse_table_name(target)
            assert parsed is not None, target
            target_db = "amazon_security_lake_glue_db_" + parsed[2].replace("-", "_")
            table["TargetTable"] = {"CatalogId": LAKE_ACCOUNT, "DatabaseName": target_db, "Name": target}
        client.create_table(DatabaseName=database, TableInput=table)


def athena(session: boto3.Session, **kwargs) -> AthenaLake:
    lake = Lake.athena(REGION, s3_output=OUTPUT, boto3_session=session, **kwargs)
    assert isinstance(lake, AthenaLake)
    lake.poll_seconds = 0.01
    return lake


@pytest.fixture
def linked(session: boto3.Session) -> AthenaLake:
    """A subscriber's database of resource links named by the analyst, on a us-east-1 rollup lake."""
    glue(LINKS, {
        "ir_cloudtrail": CT,
        "flows": "amazon_security_lake_table_us_east_1_vpc_flow_2_0",
        "sysmon": "amazon_security_lake_table_us_east_1_ext_windows_sysmon_1_0",
        "analyst_scratch": None,
    })
    return athena(session, database=LINKS)


def test_resource_links_resolve_to_their_sources_whatever_their_names(aws, session, linked):
    assert linked.source_tables() == {"cloud_trail_mgmt": "ir_cloudtrail", "vpc_flow": "flows",
                                      "ext/windows_sysmon": "sysmon"}
    assert linked.table_name("CLOUD_TRAIL_MGMT") == f'"{LINKS}"."ir_cloudtrail"'
    assert linked.table_name("ext/windows-sysmon") == f'"{LINKS}"."sysmon"'
    with pytest.raises(UnknownSourceError, match=r"no table for the custom source ext/okta.*ext/windows_sysmon"):
        linked.table_name("ext/okta")

    hunt = hunts.get("cloudtrail_tampering")
    text, _ = hunt.compile(linked, Window.of(*WINDOW), hunt.resolve({}))
    assert f'"{LINKS}"."ir_cloudtrail"' in text and CT not in text

    # a rollup region's table holds several regions: the region column tells them apart
    aws.queue_athena_result([("time_dt", "timestamp")], [])
    athena_csv(session, ["time_dt"], [])
    linked.load("cloud_trail_mgmt", *WINDOW, regions=["eu-west-1", "us-east-1"], columns=["time_dt"])
    [run] = executions()
    assert f'FROM "{LINKS}"."ir_cloudtrail"' in run["Query"] and '"region" IN (?, ?)' in run["Query"]
    assert run["ExecutionParameters"][2:] == ["'eu-west-1'", "'us-east-1'"]
    assert run["QueryExecutionContext"]["Database"] == LINKS


def test_standard_names_in_sql_run_through_the_link_with_values_bound(aws, session, linked):
    value = HOSTILE[0]
    text = (
        "WITH recent AS (SELECT 1 AS x)\n"
        "SELECT amazon_security_lake_table_eu_west_1_cloud_trail_mgmt_2_0.api.operation AS op, f.action\n"
        'FROM awsdatacatalog."amazon_security_lake_glue_db_eu_west_1".amazon_security_lake_table_eu_west_1_cloud_trail_mgmt_2_0\n'
        "JOIN amazon_security_lake_table_us_east_1_vpc_flow_2_0 AS f ON f.accountid = accountid\n"
        "CROSS JOIN recent\n"
        "WHERE actor.user.uid = ? AND api.operation <> 'amazon_security_lake_table_us_east_1_route53_2_0'"
        " -- amazon_security_lake_table_us_east_1_waf_2_0"
    )
    aws.queue_athena_result([("op", "varchar"), ("action", "varchar")], [["GetObject", "Allowed"]])
    df = linked.sql(text, [value])
    [run] = executions()
    sent = run["Query"]
    assert sent == (
        "WITH recent AS (SELECT 1 AS x)\n"
        "SELECT amazon_security_lake_table_eu_west_1_cloud_trail_mgmt_2_0.api.operation AS op, f.action\n"
        f'FROM awsdatacatalog."{LINKS}"."ir_cloudtrail" AS "amazon_security_lake_table_eu_west_1_cloud_trail_mgmt_2_0"\n'
        f'JOIN "{LINKS}"."flows" AS f ON f.accountid = accountid\n'
        "CROSS JOIN recent\n"
        "WHERE actor.user.uid = ? AND api.operation <> 'amazon_security_lake_table_us_east_1_route53_2_0'"
        " -- amazon_security_lake_table_us_east_1_waf_2_0"
    )
    assert run["ExecutionParameters"] == ["'" + value.replace("'", "''") + "'"] and value not in sent
    assert df.attrs["sql"] == text and df.attrs["translated_sql"] == sent
    assert df["op"].tolist() == ["GetObject"]
    assert linked.explain(text, params=[value]).sql == sent
    assert executions() == [run]  # explain ran nothing


def test_tables_override_in_code_wins_and_is_checked(aws, session):
    glue(LINKS, {"ir_cloudtrail": CT, "ct_copy": None, "flows": "amazon_security_lake_table_us_east_1_vpc_flow_2_0"})
    lake = athena(session, database=LINKS, tables={"cloud_trail_mgmt": "ct_copy"})
    assert lake.table_name("cloud_trail_mgmt") == f'"{LINKS}"."ct_copy"'
    assert lake.table_name("vpc_flow") == f'"{LINKS}"."flows"'  # the others are still discovered

    with pytest.raises(BadConfigError, match=r"tables=: Unknown Security Lake source 'cloudtrail'.*Known sources.*ext/<name>"):
        athena(session, database=LINKS, tables={"cloudtrail": "ir_cloudtrail"})
    with pytest.raises(BadConfigError, match=r"'ir cloudtrail' for cloud_trail_mgmt is not a Glue table name"):
        athena(session, database=LINKS, tables={"cloud_trail_mgmt": "ir cloudtrail"})

    missing = athena(session, database=LINKS, tables={"cloud_trail_mgmt": "nope"})
    with pytest.raises(BadConfigError) as info:
        missing.table_name("cloud_trail_mgmt")
    message = str(info.value)
    assert "has no table 'nope'" in message and LINKS in message
    assert "ir_cloudtrail (cloud_trail_mgmt 2.0)" in message and "Pass tables={'cloud_trail_mgmt': '<one of those>'}" in message

    crossed = athena(session, database=LINKS, tables={"cloud_trail_mgmt": "flows"})
    with pytest.raises(BadConfigError, match=r"'flows' holds vpc_flow .*not cloud_trail_mgmt"):
        crossed.load("cloud_trail_mgmt", *WINDOW)
    assert executions() == []


def test_tables_override_from_config(aws, session, tmp_path, monkeypatch):
    glue(LINKS, {"ir_cloudtrail": CT, "ct_copy": None})
    (tmp_path / "slake.toml").write_text(
        f'lake = "athena"\nregion = "us-east-1"\ndatabase = "{LINKS}"\n\n[tables]\ncloud_trail_mgmt = "ct_copy"\n'
    )
    cfg = read_config({}, cwd=tmp_path, home=tmp_path)
    assert cfg.tables == {"cloud_trail_mgmt": "ct_copy"} and cfg.origin["tables"] == str(tmp_path / "slake.toml")
    env = {"SLAKE_TABLES": "CLOUD_TRAIL_MGMT=ir_cloudtrail, ext/windows-sysmon=sysmon"}
    cfg = read_config(env, cwd=tmp_path, home=tmp_path)
    assert cfg.tables == {"cloud_trail_mgmt": "ir_cloudtrail", "ext/windows_sysmon": "sysmon"}
    assert cfg.origin["tables"] == "SLAKE_TABLES"

    for var in ("SLAKE_LAKE", "SLAKE_REGION", "SLAKE_DATABASE", "SLAKE_TABLES", "SLAKE_CONFIG", "SLAKE_NOW"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    lake = lake_from_config()
    assert lake.tables == {"cloud_trail_mgmt": "ct_copy"}
    assert lake.table_name("cloud_trail_mgmt") == f'"{LINKS}"."ct_copy"'


@pytest.mark.parametrize(
    "env,message",
    [
        ({"SLAKE_TABLES": "cloud_trail_mgmt"}, r"SLAKE_TABLES: 'cloud_trail_mgmt' is not source=table; write e\.g\."),
        ({"SLAKE_TABLES": "vpc=flows"}, r"SLAKE_TABLES: Unknown Security Lake source 'vpc'.*ext/<name>"),
        ({"SLAKE_TABLES": "vpc_flow=a,VPC_FLOW=b"}, r"vpc_flow is given twice"),
        ({"SLAKE_TABLES": "vpc_flow=x\"; drop"}, r"is not a Glue table name"),
    ],
)
def test_bad_tables_settings(tmp_path: Path, env, message):
    with pytest.raises(BadConfigError, match=message):
        read_config(env, cwd=tmp_path, home=tmp_path)


def test_bad_tables_in_the_file(tmp_path: Path):
    (tmp_path / "slake.toml").write_text('[tables]\ncloud_trail_mgmt = 3\n')
    with pytest.raises(BadConfigError, match=r"tables\.cloud_trail_mgmt must be a string"):
        read_config({}, cwd=tmp_path, home=tmp_path)


def test_v1_and_custom_tables_are_discovered_with_their_versions(aws: Moto, session):
    v1_ct = "amazon_security_lake_table_us_east_1_cloud_trail_mgmt_1_0"
    v1_vpc = "amazon_security_lake_table_us_east_1_vpc_flow_1_0"
    ext = "amazon_security_lake_table_us_east_1_ext_windows_sysmon_1_0"
    glue(HOME_DB, {CT: None, v1_ct: None, v1_vpc: None, ext: None,
                   "amazon_security_lake_table_eu_west_1_route53_2_0": None, "notes": None})
    lake = athena(session)
    lake.now = pd.Timestamp("2026-03-04T00:00:00Z")
    aws.queue_athena_result(
        [("source", "varchar"), ("accounts", "varchar"), ("regions", "varchar"), ("first_event", "timestamp"),
         ("last_event", "timestamp"), ("rows", "bigint")],
        [[f"cloud_trail_mgmt {v1_ct}", ACCOUNTS[1], "us-east-1", "2026-02-26 00:00:00.000", "2026-02-27 00:00:00.000", "5"],
         ["cloud_trail_mgmt", ACCOUNTS[0], "us-east-1", "2026-03-01 00:00:00.000", "2026-03-03 00:00:00.000", "72"],
         [f"ext/windows_sysmon {ext}", "external", "us-east-1", None, None, "3"]],
    )
    df = lake.sources()
    assert df[["source", "version", "table"]].values.tolist() == [
        ["cloud_trail_mgmt", "2.0", CT], ["cloud_trail_mgmt", "1.0", v1_ct], ["vpc_flow", "1.0", v1_vpc],
        ["ext/windows_sysmon", "1.0", ext],
    ]
    assert df["rows"].tolist() == [72, 5, 0, 3] and df["accounts"].tolist() == [[ACCOUNTS[0]], [ACCOUNTS[1]], [], ["external"]]
    assert df["classes"].tolist()[1:] == [[], [], []] and 6003 in df["classes"].iloc[0]
    [run] = executions()
    sent = run["Query"]
    assert sent.count("UNION ALL") == 3 and 'eventday >= ? AND eventday <= ? AND "time" >= ? AND "time" < ?' in sent
    assert "CAST(from_unixtime(min(\"time\") / 1e3, 'UTC') AS timestamp)" in sent
    window = ["'2026-02-25T00:00:00.000Z'", "'2026-03-04T00:00:00.000Z'"]
    epoch_ms = [str(int(pd.Timestamp(t).timestamp() * 1000)) for t in ("2026-02-25T00:00Z", "2026-03-04T00:00Z")]
    v1_window = ["'20260225'", "'20260303'", *epoch_ms]
    assert run["ExecutionParameters"] == [
        "'cloud_trail_mgmt'", *window, f"'cloud_trail_mgmt {v1_ct}'", *v1_window,
        f"'vpc_flow {v1_vpc}'", *v1_window, f"'ext/windows_sysmon {ext}'", *v1_window,
    ]

    assert lake.table_name("ext/windows_sysmon") == f'"{HOME_DB}"."{ext}"'
    with pytest.raises(QueryError, match=r"holds vpc_flow only as source version 1\.0 .*lake\.sql"):
        lake.table_name("vpc_flow")
    text = f"SELECT count(*) AS n FROM {v1_vpc} WHERE eventday = ?"  # v1 tables run as written
    aws.queue_athena_result([("n", "bigint")], [["4"]])
    assert lake.sql(text, ["20260301"])["n"].tolist() == [4]
    assert executions()[-1]["Query"] == text and executions()[-1]["ExecutionParameters"] == ["'20260301'"]


def test_several_links_for_one_source(aws, session):
    glue(LINKS, {"ct_use1": CT, "ct_euw1": "amazon_security_lake_table_eu_west_1_cloud_trail_mgmt_2_0"})
    assert athena(session, database=LINKS).table_name("cloud_trail_mgmt") == f'"{LINKS}"."ct_use1"'  # the lake's region

    boto3.client("glue", region_name=REGION).create_table(
        DatabaseName=LINKS,
        TableInput={"Name": "ct_again", "TargetTable": {"CatalogId": LAKE_ACCOUNT, "DatabaseName": HOME_DB, "Name": CT}},
    )
    lake = athena(session, database=LINKS)
    with pytest.raises(BadConfigError, match=r"several tables for cloud_trail_mgmt 2\.0: ct_again \(→ .*ct_use1.*tables="):
        lake.table_name("cloud_trail_mgmt")
    assert athena(session, database=LINKS, tables={"cloud_trail_mgmt": "ct_again"}).table_name("cloud_trail_mgmt") == (
        f'"{LINKS}"."ct_again"'
    )


def test_unknown_table_error_lists_the_links(aws, session, linked):
    def fail(parsed, **_):
        parsed["QueryExecution"]["Status"].update(State="FAILED", StateChangeReason="TABLE_NOT_FOUND: Table 'x' does not exist")

    session.events.register_first("after-call.athena.GetQueryExecution", fail)
    with pytest.raises(QueryError, match=rf"Tables in {LINKS}: flows \(→ amazon_security_lake_table_us_east_1_vpc_flow_2_0\), "
                                         rf"ir_cloudtrail \(→ {CT}\), sysmon"):
        linked.sql("SELECT * FROM x")
