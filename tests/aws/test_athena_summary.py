"""The per-day entity summary of an Athena lake (moto server, real awswrangler/boto3 calls).

Glue and S3 run in moto: the source tables' locations point at a moto bucket laid out like the lake,
so the cost estimate comes from a real ``ListObjectsV2`` listing.  moto runs no SQL: the tests check
what is sent (statement texts and execution parameters; values always bound), and serve the summary
query's rows as the result CSV Athena would write, so the narrowed pivot queries can be checked.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
import sqlglot
from aws_fixtures import ACCOUNTS, HOSTILE, OUTPUT, REGION, RESULTS, executions

from slake_forensics.analysis.entity_summary import EntitySummary, SummaryUnusedWarning
from slake_forensics.core.catalog import glue_columns
from slake_forensics.core.errors import BadArgumentError
from slake_forensics.core.timewindow import Window
from slake_forensics.lake import AthenaLake, Lake

DB = "amazon_security_lake_glue_db_us_east_1"
CT2 = "amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0"
CT1 = "amazon_security_lake_table_us_east_1_cloud_trail_mgmt_1_0"
VPC2 = "amazon_security_lake_table_us_east_1_vpc_flow_2_0"
IR, TABLE = "ir", "ents"
WHERE = "s3://ir-athena-work/entity-summary/"
IP = "203.0.113.7"
DAY = pd.Timedelta(days=1)


@pytest.fixture
def lake(session: boto3.Session, s3_lake_bucket: str) -> AthenaLake:
    """CloudTrail and VPC flow tables whose Glue locations are the moto lake bucket's prefixes (VPC flow's is empty)."""
    glue = boto3.client("glue", region_name=REGION)
    for name in (DB, IR):
        glue.create_database(DatabaseInput={"Name": name})
    for table, prefix in ((CT2, "aws/CLOUD_TRAIL_MGMT/2.0/"), (VPC2, "aws/VPC_FLOW/2.0/")):
        glue.create_table(DatabaseName=DB, TableInput={
            "Name": table, "StorageDescriptor": {"Columns": [], "Location": f"s3://{s3_lake_bucket}/{prefix}"}})
    lake = Lake.athena(REGION, s3_output=OUTPUT, boto3_session=session)
    assert isinstance(lake, AthenaLake)
    lake.poll_seconds = 0.01
    return lake


def _query(query_id: str) -> str:
    return str(boto3.client("athena", region_name=REGION).get_query_execution(QueryExecutionId=query_id)
               ["QueryExecution"]["Query"])


@pytest.fixture
def served(session: boto3.Session) -> list[list[str]]:
    """Rows the summary query returns (``source, accountid, region, eventday``), written as Athena's result
    CSV; every other query gets an empty result.  Bytes scanned: 10 for the summary query, 1000 for others."""
    rows: list[list[str]] = []

    def write(parsed: dict[str, Any], **_: Any) -> None:
        query_id = parsed["QueryExecutionId"]
        body = b""
        if _query(query_id).startswith(f'SELECT DISTINCT "source", "accountid", "region", "eventday" FROM "{IR}"'):
            lines = [["source", "accountid", "region", "eventday"], *rows]
            body = "".join(",".join(f'"{v}"' for v in line) + "\n" for line in lines).encode()
        boto3.client("s3", region_name=REGION).put_object(Bucket=RESULTS, Key=f"queries/{query_id}.csv", Body=body)

    def scanned(parsed: dict[str, Any], **_: Any) -> None:
        execution = parsed["QueryExecution"]
        if execution["Status"]["State"] == "SUCCEEDED":
            summary_query = execution["Query"].startswith(f'SELECT DISTINCT "source", "accountid", "region", "eventday" FROM "{IR}"')
            execution["Statistics"]["DataScannedInBytes"] = 10 if summary_query else 1000

    session.events.register_first("after-call.athena.StartQueryExecution", write)
    session.events.register("after-call.athena.GetQueryExecution", scanned)
    return rows


def _summary(start: str = "2026-03-01", end: str = "2026-03-04") -> EntitySummary:
    return EntitySummary(IR, TABLE, pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC"),
                         ("cloud_trail_mgmt", "vpc_flow"), ("ip", "principal", "access_key", "bucket", "instance", "domain"))


def _by_source(ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    runs = {run["QueryExecutionId"]: run for run in executions()}
    return {name: runs[query_id] for name, query_id in ids.items()}


def test_the_estimate_lists_the_windows_day_partitions_and_runs_nothing(aws, lake, local_lake_root: Path, capsys):
    est = lake.build_entity_summary("2026-03-01T06:00Z", "2026-03-03T00:00Z", location=WHERE, database=IR, table=TABLE)
    days = ("eventDay=20260301", "eventDay=20260302")  # widened to whole days: 1 and 2 March
    files = [p for p in local_lake_root.rglob("*.parquet") if p.parent.name in days]
    assert len(files) >= 8 and len({p.parent for p in files}) == 8  # 2 regions x 2 accounts x 2 days
    ct = est.set_index("source").loc["cloud_trail_mgmt"]
    assert (ct["partitions"], ct["files"], ct["bytes"]) == (8, len(files), sum(p.stat().st_size for p in files))
    assert ct["tables"] == [CT2]
    vpc = est.set_index("source").loc["vpc_flow"]
    assert (vpc["partitions"], vpc["files"], vpc["bytes"]) == (0, 0, 0)  # its prefix holds no object
    assert list(est["source"]) == ["cloud_trail_mgmt", "vpc_flow"]  # the sources with a table
    assert est.attrs["bytes"] == sum(p.stat().st_size for p in files) and est.attrs["confirmed"] is False
    assert "pass confirm=True" in capsys.readouterr().out
    assert executions() == []  # no Athena query without confirm
    assert boto3.client("glue", region_name=REGION).get_tables(DatabaseName=IR)["TableList"] == []
    assert lake.entity_summary is None


@pytest.mark.parametrize("kwargs", [{"table": 'x"; DROP TABLE y; --'}, {"database": "IR-db"},
                                    {"location": "s3://ir-athena-work/x' OR '1'='1/"}, {"location": "/tmp/x"}])
def test_names_and_location_are_checked_before_anything_runs(aws, lake, kwargs):
    args = {"location": WHERE, "database": IR, "table": TABLE, **kwargs}
    with pytest.raises(BadArgumentError):
        lake.build_entity_summary("2026-03-01T00:00Z", "2026-03-02T00:00Z", confirm=True, **args)
    assert executions() == []


@pytest.fixture
def ctas_in_glue(session: boto3.Session) -> None:
    """The Glue table Athena's ``CREATE TABLE … AS`` leaves (moto runs no SQL)."""

    def create(parsed: dict[str, Any], **_: Any) -> None:
        if _query(parsed["QueryExecutionId"]).startswith("CREATE TABLE"):
            boto3.client("glue", region_name=REGION).create_table(DatabaseName=IR, TableInput={
                "Name": TABLE, "StorageDescriptor": {"Columns": [], "Location": WHERE},
                "Parameters": {"classification": "parquet"}})

    session.events.register("after-call.athena.StartQueryExecution", create)


def test_confirm_creates_the_table_and_inserts_each_source_with_bound_bounds(aws, session, lake, served, ctas_in_glue):
    built = lake.build_entity_summary("2026-03-01T06:00Z", "2026-03-03T00:00Z", location=WHERE, database=IR,
                                      table=TABLE, confirm=True)
    create, *inserts = executions()
    assert create["Query"] == (
        f'CREATE TABLE "{IR}"."{TABLE}"\n'
        f"WITH (format = 'PARQUET', write_compression = 'ZSTD', external_location = '{WHERE}')\n"
        'AS SELECT CAST(NULL AS varchar) AS "entity_type", CAST(NULL AS varchar) AS "value", CAST(NULL AS varchar) '
        'AS "source", CAST(NULL AS varchar) AS "accountid", CAST(NULL AS varchar) AS "region", '
        'CAST(NULL AS varchar) AS "eventday"\nWITH NO DATA'
    )
    assert not create.get("ExecutionParameters")
    assert [_table_of(run["Query"]) for run in inserts] == [CT2, VPC2]
    for run in inserts:
        sent = run["Query"]
        sqlglot.parse_one(sent, read="trino")
        assert sent.startswith(f'INSERT INTO "{IR}"."{TABLE}"\nSELECT DISTINCT "e"."entity_type", "u"."value", ')
        assert 'CROSS JOIN UNNEST("e"."vals") AS "u"("value")' in sent
        assert sent.endswith('WHERE "time_dt" >= from_iso8601_timestamp(?) AND "time_dt" < from_iso8601_timestamp(?)')
        assert run["ExecutionParameters"] == ["'2026-03-01T00:00:00.000Z'", "'2026-03-03T00:00:00.000Z'"]
        assert "2026" not in sent
    ct_sql = inserts[0]["Query"]
    # the pivot's entity fields, one array per entity type, prefixes stripped as Field.extract strips them
    assert "ARRAY['ip', 'principal', 'access_key', 'bucket', 'instance', 'domain']" in ct_sql
    assert """IF(starts_with(CAST(x."uid" AS varchar), 'arn:aws:s3:::'), substr(CAST(x."uid" AS varchar), 14)""" in ct_sql
    assert """json_extract_scalar("api"."request"."data", '$.bucketName')""" in ct_sql
    assert "ARRAY['ip', 'instance']" in inserts[1]["Query"]  # VPC flow holds ip and instance fields
    assert list(built["query_execution_id"]) == [run["QueryExecutionId"] for run in inserts]
    assert list(built["data_scanned_bytes"]) == [1000, 1000] and built.attrs["data_scanned_bytes"] == 2000

    params = boto3.client("glue", region_name=REGION).get_table(DatabaseName=IR, Name=TABLE)["Table"]["Parameters"]
    assert params["slake_start"] == "2026-03-01T00:00:00+00:00" and params["slake_end"] == "2026-03-03T00:00:00+00:00"
    assert params["slake_sources"] == "cloud_trail_mgmt,vpc_flow"
    assert lake.entity_summary.start == pd.Timestamp("2026-03-01", tz="UTC")
    again = Lake.athena(REGION, s3_output=OUTPUT, boto3_session=session).use_entity_summary(IR, TABLE)  # a later session
    assert again == lake.entity_summary


def _table_of(sql: str) -> str:
    return next(t for t in (CT2, VPC2) if f'"{t}"' in sql)


def test_a_pivot_reads_only_the_partitions_the_summary_names_and_skips_a_source_with_none(aws, lake, served):
    lake.entity_summary = _summary()
    served.append(["cloud_trail_mgmt", ACCOUNTS[0], "us-east-1", "20260302"])
    tl = lake.pivot(ip=IP, start="2026-03-01T00:00Z", end="2026-03-03T12:00Z", progress=False,
                    sources=["cloud_trail_mgmt", "vpc_flow"])
    first, *rest = executions()
    assert first["Query"] == (
        f'SELECT DISTINCT "source", "accountid", "region", "eventday" FROM "{IR}"."{TABLE}"\n'
        'WHERE "eventday" >= ? AND "eventday" <= ? AND "source" IN (?, ?)\n'
        '  AND (("entity_type" = ? AND "value" IN (?)))'
    )
    assert first["ExecutionParameters"] == ["'20260301'", "'20260303'", "'cloud_trail_mgmt'", "'vpc_flow'", "'ip'", f"'{IP}'"]
    [ct] = rest  # VPC flow: no partition holds the IP and the summary covers the window: not queried
    assert ct["Query"] == tl.attrs["queries"]["cloud_trail_mgmt"]
    assert ct["Query"].endswith(
        '\n  AND (("time_dt" >= from_iso8601_timestamp(?) AND "time_dt" < from_iso8601_timestamp(?) '
        'AND (("accountid" = ? AND "region" IN (?)))))'
    )
    assert ct["ExecutionParameters"][-4:] == ["'2026-03-02T00:00:00.000Z'", "'2026-03-03T00:00:00.000Z'",
                                              f"'{ACCOUNTS[0]}'", "'us-east-1'"]
    assert ct["Query"].count("?") == len(ct["ExecutionParameters"]) and IP not in ct["Query"]
    info = tl.attrs["entity_summary"]
    assert info["partitions"] == {"cloud_trail_mgmt": [(ACCOUNTS[0], "us-east-1", "20260302")], "vpc_flow": []}
    assert info["skipped"] == ["vpc_flow"] and info["uncovered"] == []
    assert info["query_execution_id"] == first["QueryExecutionId"] and info["data_scanned_bytes"] == 10
    assert tl.attrs["rows"] == {"cloud_trail_mgmt": 0, "vpc_flow": 0}
    assert tl.attrs["data_scanned_bytes_per_source"] == {"cloud_trail_mgmt": 1000}
    assert tl.attrs["data_scanned_bytes"] == 1010  # the summary query and the one narrowed query


def test_consecutive_days_with_the_same_partitions_share_one_time_range(aws, lake, served):
    lake.entity_summary = _summary()
    served.extend([["cloud_trail_mgmt", a, r, d] for d in ("20260301", "20260302")
                   for a, r in ((ACCOUNTS[0], "us-east-1"), (ACCOUNTS[0], "eu-west-1"), (ACCOUNTS[1], "us-east-1"))])
    tl = lake.pivot(ip=IP, start="2026-03-01T06:00Z", end="2026-03-04T00:00Z", progress=False, sources="cloud_trail_mgmt")
    [run] = _by_source(tl.attrs["query_execution_ids"]).values()
    assert run["Query"].endswith(
        '(("time_dt" >= from_iso8601_timestamp(?) AND "time_dt" < from_iso8601_timestamp(?) '
        'AND (("accountid" = ? AND "region" IN (?, ?)) OR ("accountid" = ? AND "region" IN (?)))))'
    )
    assert run["ExecutionParameters"][-7:] == ["'2026-03-01T06:00:00.000Z'", "'2026-03-03T00:00:00.000Z'",
                                               f"'{ACCOUNTS[0]}'", "'eu-west-1'", "'us-east-1'", f"'{ACCOUNTS[1]}'",
                                               "'us-east-1'"]


def test_days_the_summary_does_not_cover_are_read_unnarrowed(aws, lake, served):
    lake.entity_summary = _summary(end="2026-03-03")
    served.append(["cloud_trail_mgmt", ACCOUNTS[1], "eu-west-1", "20260301"])
    tl = lake.pivot(ip=IP, start="2026-03-01T00:00Z", end="2026-03-05T00:00Z", progress=False,
                    sources=["cloud_trail_mgmt", "vpc_flow"])
    runs = _by_source(tl.attrs["query_execution_ids"])
    assert sorted(runs) == ["cloud_trail_mgmt", "vpc_flow"]  # VPC flow still read: 3 and 4 March are not covered
    after = ["'2026-03-03T00:00:00.000Z'", "'2026-03-05T00:00:00.000Z'"]
    assert runs["vpc_flow"]["Query"].endswith(
        '\n  AND (("time_dt" >= from_iso8601_timestamp(?) AND "time_dt" < from_iso8601_timestamp(?)))')
    assert runs["vpc_flow"]["ExecutionParameters"][-2:] == after
    assert runs["cloud_trail_mgmt"]["Query"].endswith(
        'AND (("accountid" = ? AND "region" IN (?))))\n    OR ("time_dt" >= from_iso8601_timestamp(?) '
        'AND "time_dt" < from_iso8601_timestamp(?)))')
    assert runs["cloud_trail_mgmt"]["ExecutionParameters"][-6:] == [
        "'2026-03-01T00:00:00.000Z'", "'2026-03-02T00:00:00.000Z'", f"'{ACCOUNTS[1]}'", "'eu-west-1'", *after]
    info = tl.attrs["entity_summary"]
    assert info["uncovered"] == [(pd.Timestamp("2026-03-03", tz="UTC"), pd.Timestamp("2026-03-05", tz="UTC"))]
    assert info["skipped"] == []


def test_no_summary_query_when_the_window_is_outside_it_or_the_summary_is_switched_off(aws, lake, served):
    lake.entity_summary = _summary()
    outside = lake.pivot(ip=IP, start="2026-03-05T00:00Z", end="2026-03-06T00:00Z", progress=False, sources="vpc_flow")
    off = lake.pivot(ip=IP, start="2026-03-01T00:00Z", end="2026-03-02T00:00Z", progress=False, sources="vpc_flow", use_summary=False)
    runs = executions()
    assert len(runs) == 2 and all(f'"{IR}"."{TABLE}"' not in run["Query"] for run in runs)
    assert "entity_summary" not in outside.attrs and "entity_summary" not in off.attrs
    lake.entity_summary = None
    plain = lake.pivot(ip=IP, start="2026-03-01T00:00Z", end="2026-03-02T00:00Z", progress=False, sources="vpc_flow")
    assert plain.attrs["queries"] == off.attrs["queries"] and plain.attrs["params"] == off.attrs["params"]


def test_values_with_quotes_travel_only_as_parameters(aws, lake, served):
    lake.entity_summary = _summary()
    served.append(["cloud_trail_mgmt", ACCOUNTS[0], "us-east-1", "20260302"])
    hostile = [v for v in HOSTILE if len(v) < 100]
    tl = lake.pivot(principal=hostile, bucket="arn:aws:s3:::it's-a-bucket", start="2026-03-01T00:00Z", end="2026-03-03T00:00Z",
                    progress=False, sources="cloud_trail_mgmt")
    runs = executions()
    assert len(runs) == 2
    for run in runs:
        assert run["Query"].count("?") == len(run["ExecutionParameters"])
        assert all(v not in run["Query"] for v in [*hostile, "it's-a-bucket"])
    params = runs[0]["ExecutionParameters"]
    assert "'it''s-a-bucket'" in params and "'arn:aws:s3:::it''s-a-bucket'" in params  # the prefix stripped too
    assert "'''; DROP TABLE x; --'" in params
    assert tl.attrs["entity_summary"]["partitions"]["cloud_trail_mgmt"] == [(ACCOUNTS[0], "us-east-1", "20260302")]


def test_the_insert_of_a_source_with_a_version_1_table_reads_both(aws, session, lake, ctas_in_glue):
    """A v1 table beside the v2 one (kept for retention): its rows join the summary in v2 names, pruned to the days."""
    columns = [{"Name": c["name"], "Type": c["type"]} for c in glue_columns("cloud_trail_mgmt_1_0")
               if c["name"] not in ("accountid", "region", "asl_version")]
    partitions = [{"Name": n, "Type": "string"} for n in ("region", "accountid", "eventday")]
    boto3.client("glue", region_name=REGION).create_table(DatabaseName=DB, TableInput={
        "Name": CT1, "StorageDescriptor": {"Columns": columns}, "PartitionKeys": partitions})
    lake.present_sources()  # list the database again
    built = lake.build_entity_summary("2026-03-01T00:00Z", "2026-03-02T00:00Z", location=WHERE, database=IR,
                                      table=TABLE, sources=["cloud_trail_mgmt"], confirm=True)
    assert built.attrs["unknown"] == ["cloud_trail_mgmt"]  # the v1 table has no S3 location in Glue: no upper bound
    assert built["tables"].tolist() == [[CT2, CT1]]
    [insert] = [run for run in executions() if run["Query"].startswith("INSERT")]
    assert f'FROM "{DB}"."{CT1}" WHERE "eventday" >= ? AND "eventday" <= ?) AS "{CT2}"' in insert["Query"]
    assert insert["ExecutionParameters"] == ["'20260301'", "'20260301'", "'2026-03-01T00:00:00.000Z'",
                                             "'2026-03-02T00:00:00.000Z'"]
    assert insert["Query"].count("?") == 4


def test_the_pivots_accounts_narrow_the_summary_query_too(aws, lake, served):
    lake.entity_summary = _summary()
    tl = lake.pivot(instance="i-0123456789abcdef0", account=ACCOUNTS[1], start="2026-03-01T00:00Z",
                    end="2026-03-02T00:00Z", progress=False, sources=["cloud_trail_mgmt", "vpc_flow"])
    [run] = executions()  # no partition holds the instance: neither source is queried
    assert run["Query"].endswith('\n  AND "accountid" IN (?)')
    assert run["ExecutionParameters"] == ["'20260301'", "'20260301'", "'cloud_trail_mgmt'", "'vpc_flow'", "'instance'",
                                          "'i-0123456789abcdef0'", f"'{ACCOUNTS[1]}'"]
    assert tl.attrs["entity_summary"]["skipped"] == ["cloud_trail_mgmt", "vpc_flow"]
    assert tl.attrs["data_scanned_bytes"] == 10 and tl.attrs["query_execution_ids"] == {}


def test_a_summary_that_cannot_be_read_leaves_the_pivot_unnarrowed(aws, session, lake, served):
    lake.entity_summary = _summary()

    def fail_summary_query(parsed: dict[str, Any], **_: Any) -> None:
        execution = parsed["QueryExecution"]
        if execution["Query"].startswith('SELECT DISTINCT "source"'):
            execution["Status"].update(State="FAILED", StateChangeReason="TABLE_NOT_FOUND: ir.ents does not exist")

    session.events.register("after-call.athena.GetQueryExecution", fail_summary_query)
    with pytest.warns(SummaryUnusedWarning, match="could not be read.*unnarrowed"):
        tl = lake.pivot(ip=IP, start="2026-03-01T00:00Z", end="2026-03-02T00:00Z", progress=False, sources="vpc_flow")
    off = lake.pivot(ip=IP, start="2026-03-01T00:00Z", end="2026-03-02T00:00Z", progress=False, sources="vpc_flow",
                     use_summary=False)
    assert "entity_summary" not in tl.attrs and len(executions()) == 3  # summary query, then one unnarrowed query each
    assert (tl.attrs["queries"], tl.attrs["params"]) == (off.attrs["queries"], off.attrs["params"])


def test_a_location_without_partition_folders_has_no_estimate_rather_than_zero(aws, lake, s3_lake_bucket):
    boto3.client("s3", region_name=REGION).put_object(Bucket=s3_lake_bucket, Key="aws/VPC_FLOW/2.0/data/00001.parquet",
                                                      Body=b"x" * 100)
    [vpc] = lake.window_objects("vpc_flow", Window.of("2026-03-01T00:00Z", "2026-03-02T00:00Z"))
    assert vpc["bytes"] is None and "no region=/accountId=/eventDay= folders" in vpc["note"]
    est = lake.build_entity_summary("2026-03-01T00:00Z", "2026-03-02T00:00Z", location=WHERE, database=IR, table=TABLE)
    assert est.attrs["unknown"] == ["vpc_flow"] and pd.isna(est.set_index("source").loc["vpc_flow", "bytes"])
    assert executions() == []
