"""AthenaLake through awswrangler's real calls against a moto server.

What moto emulates: StartQueryExecution (it records the query text and the
ExecutionParameters, returned by GetQueryExecution), GetQueryExecution, GetQueryResults,
workgroups, Glue tables, S3.  What it cannot: it runs no SQL; results are canned (queued
through ``/moto-api/static/athena/query-results``) and its CSV writer does not escape
quotes, so :func:`athena_csv` rewrites the result object the way Athena writes it
(RFC 4180, every value quoted, nulls as empty unquoted fields) right after the query
starts; it never fails a query, so failures are injected into GetQueryExecution's parsed
response; statistics are zeros.
"""
from __future__ import annotations

import json
import random
from typing import Any

import boto3
import pandas as pd
import pyarrow as pa
import pytest
import sqlglot
from aws_fixtures import ACCOUNTS, HOSTILE, OUTPUT, REGION, Moto, athena_csv, executions
from sqlglot import exp

from slake_forensics.core.catalog import source
from slake_forensics.core.errors import AwsConfigError, QueryError
from slake_forensics.lake import Lake
from slake_forensics.sql.build import MAX_PARAMETER_LENGTH, leaves

DATABASE = "amazon_security_lake_glue_db_us_east_1"
ATHENA_TYPES = {"string": "varchar", "int32": "integer", "int64": "bigint", "bool": "boolean"}


@pytest.fixture
def lake(session: boto3.Session) -> Lake:
    lake = Lake.athena(REGION, s3_output=OUTPUT, boto3_session=session)
    lake.poll_seconds = 0.01
    return lake


def render(value: Any, typ: pa.DataType) -> str | None:
    """One value as Athena's result text: JSON (json_format) for lists and maps, else its CSV text."""
    if value is None:
        return None
    if pa.types.is_list(typ) or pa.types.is_map(typ):
        return json.dumps(_jsonable(value, typ), separators=(",", ":"), ensure_ascii=False)
    if pa.types.is_boolean(typ):
        return "true" if value else "false"
    if pa.types.is_timestamp(typ):
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return str(value)


def _jsonable(value: Any, typ: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_list(typ):
        return [_jsonable(v, typ.value_type) for v in value]
    if pa.types.is_map(typ):  # Trino's CAST(map AS JSON) orders entries by key
        return {k: _jsonable(v, typ.item_type) for k, v in sorted(value)}
    if pa.types.is_struct(typ):
        return {f.name: _jsonable(value[f.name], f.type) for f in typ}
    if pa.types.is_timestamp(typ):
        return render(value, typ)
    return value


def canned_load(moto: Moto, session: boto3.Session, expected: pd.DataFrame, fetch: list[str], seed: int = 3) -> None:
    """Queue ``expected`` (the local engine's frame) as Athena's result of the load query, rows shuffled."""
    types = dict(leaves(source("cloud_trail_mgmt")))
    cols = {c: pa.array(expected[c].array).to_pylist() if c in expected else None for c in fetch}
    rows = [[render(cols[c][i], types[c]) for c in fetch] for i in range(len(expected))]
    random.Random(seed).shuffle(rows)
    athena_types = [
        "timestamp" if pa.types.is_timestamp(types[c]) else ATHENA_TYPES.get(str(types[c]), "varchar") for c in fetch
    ]
    moto.queue_athena_result(list(zip(fetch, athena_types)), rows)
    athena_csv(session, fetch, rows)


def sorted_maps(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every map cell's entries ordered by key (as they come back from Athena)."""
    out = df.copy()
    for c in df.columns:
        if isinstance(df[c].dtype, pd.ArrowDtype) and pa.types.is_map(df[c].dtype.pyarrow_dtype):
            typ = df[c].dtype.pyarrow_dtype
            values = [None if v is None else sorted(v) for v in pa.array(df[c].array).to_pylist()]
            out[c] = pd.Series(pd.arrays.ArrowExtensionArray(pa.array(values, typ)), index=df.index)
    out.attrs = df.attrs
    return out


def tie_order(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` stably sorted by ``time_dt`` then ``metadata.uid`` (a fixed order for rows with equal times)."""
    return df.sort_values(["time_dt", "metadata.uid"], kind="stable").reset_index(drop=True)


WINDOW = ("2026-03-01T06:00:00Z", "2026-03-02T12:00:00Z")


def test_load_sends_partition_predicates_and_values_as_parameters(aws, session, lake, local_lake_root):
    local = Lake.local(str(local_lake_root))
    expected = local.load("cloud_trail_mgmt", *WINDOW, accounts=[ACCOUNTS[0]], regions=["us-east-1", "eu-west-1"])
    canned_load(aws, session, expected, list(expected.columns))
    df = lake.load("cloud_trail_mgmt", *WINDOW, accounts=[ACCOUNTS[0]], regions=["us-east-1", "eu-west-1"])

    [run] = executions()
    sent = run["Query"]
    assert 'FROM "amazon_security_lake_glue_db_us_east_1"."amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0"' in sent
    assert '"time_dt" >= from_iso8601_timestamp(?)' in sent and '"time_dt" < from_iso8601_timestamp(?)' in sent
    assert '"accountid" IN (?)' in sent and '"region" IN (?, ?)' in sent
    assert '"actor"."user"."uid" AS "actor.user.uid"' in sent
    assert 'json_format(CAST("resources" AS JSON)) AS "resources"' in sent
    assert ACCOUNTS[0] not in sent and "2026" not in sent and "eu-west-1" not in sent
    assert run["ExecutionParameters"] == [
        "'2026-03-01T06:00:00.000Z'",
        "'2026-03-02T12:00:00.000Z'",
        f"'{ACCOUNTS[0]}'",
        "'us-east-1'",
        "'eu-west-1'",
    ]
    assert run["ResultConfiguration"]["OutputLocation"].startswith(OUTPUT)
    assert run["QueryExecutionContext"]["Database"] == DATABASE
    assert df.attrs["query_execution_id"] == run["QueryExecutionId"]
    assert df.attrs["sql"] == sent and df.attrs["params"] == run["ExecutionParameters"]
    assert df.attrs["data_scanned_bytes"] == 0 and df.attrs["engine_execution_ms"] == 0


def test_load_result_equals_the_local_frame(aws, session, lake, local_lake_root):
    local = Lake.local(str(local_lake_root))
    expected = local.load("cloud_trail_mgmt", *WINDOW)
    assert {"resources", "unmapped", "metadata.profiles", "actor.session.created_time_dt"} <= set(expected.columns)
    canned_load(aws, session, expected, list(expected.columns))
    got = lake.load("cloud_trail_mgmt", *WINDOW)
    assert got["time_dt"].is_monotonic_increasing
    # Athena returns rows in no particular order: rows with equal time_dt may be ordered differently
    pd.testing.assert_frame_equal(tie_order(got), tie_order(sorted_maps(expected)))
    assert got["time_dt"].dtype == pd.ArrowDtype(pa.timestamp("ms", tz="UTC"))
    assert got["actor.user.name"].isin(HOSTILE).any()  # quotes, newlines, backslashes survived the CSV


def test_load_with_columns_fetches_time_dt_for_ordering(aws, session, lake, local_lake_root):
    local = Lake.local(str(local_lake_root))
    columns = ["metadata.uid", "actor.user.name", "unmapped", "is_mfa"]
    expected = local.load("cloud_trail_mgmt", *WINDOW, columns=[*columns, "time_dt"])
    canned_load(aws, session, expected, list(expected.columns))
    got = lake.load("cloud_trail_mgmt", *WINDOW, columns=columns)
    assert list(got.columns) == columns
    want = sorted_maps(local.load("cloud_trail_mgmt", *WINDOW, columns=columns))
    pd.testing.assert_frame_equal(  # order of equal times is Athena's (see above), so compare by uid
        got.sort_values("metadata.uid").reset_index(drop=True), want.sort_values("metadata.uid").reset_index(drop=True)
    )
    assert len(got) == len(expected) > 0
    assert executions()[0]["Query"].count(' AS "') == 5  # four columns and time_dt to order by


def test_sql_passes_text_and_types_results(aws, lake):
    aws.queue_athena_result(
        [("name", "varchar"), ("n", "bigint"), ("first", "timestamp"), ("ok", "boolean")],
        [["alice", "3", "2026-03-01 10:00:00.250", "true"], [None, "1", None, "false"]],
    )
    text = 'SELECT name, count(*) AS n, min(time_dt) AS "first", bool_or(is_mfa) AS ok FROM t WHERE class_uid = ? GROUP BY 1'
    df = lake.sql(text, [6003])
    [run] = executions()
    assert run["Query"] == text and run["ExecutionParameters"] == ["6003"]
    assert df["name"].tolist()[0] == "alice" and pd.isna(df["name"].iloc[1])
    assert df["n"].dtype == pd.ArrowDtype(pa.int64())
    assert df["first"].iloc[0] == pd.Timestamp("2026-03-01T10:00:00.250Z")
    assert df["ok"].tolist() == [True, False]
    assert df.attrs["engine"] == "athena" and df.attrs["database"] == DATABASE


def test_managed_results_are_read_through_the_api(aws, session):
    boto3.client("athena", region_name=REGION).create_work_group(
        Name="managed", Configuration={"ManagedQueryResultsConfiguration": {"Enabled": True}}
    )
    lake = Lake.athena(REGION, workgroup="managed", boto3_session=session)
    lake.poll_seconds = 0.01
    aws.queue_athena_result([("s", "varchar")], [["a,\"b\"\n"], [""], [None]])
    df = lake.sql("SELECT s FROM t")
    assert "ResultConfiguration" not in executions()[0] or not executions()[0]["ResultConfiguration"]
    assert df["s"].tolist()[:2] == ['a,"b"\n', ""] and pd.isna(df["s"].iloc[2])  # "" and NULL stay apart


# ---- injection ---------------------------------------------------------------------------------

HOSTILE_VALUES = [*HOSTILE, "'", "''", "\\'", "?", "$1", "\u0000nul", "x" * (MAX_PARAMETER_LENGTH - 2 - 10) + "'" * 5]


def _one_literal(parameter: str) -> str:
    """The value of ``parameter`` if Athena's (Trino's) parser reads it as exactly one string literal."""
    tree = sqlglot.parse_one(f"SELECT {parameter}", read="trino")
    [item] = tree.expressions
    assert isinstance(item, exp.Literal) and item.is_string, parameter
    return item.this


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=range(len(HOSTILE_VALUES)))
def test_hostile_values_travel_only_as_parameters(aws, session, lake, value):
    aws.queue_athena_result([("time_dt", "timestamp")], [])
    athena_csv(session, ["time_dt"], [])
    lake.load("cloud_trail_mgmt", *WINDOW, accounts=[value], regions=[value], columns=["time_dt"])
    lake.sql("SELECT 1 AS x FROM t WHERE actor.user.name = ?", [value])
    load_run, sql_run = executions()
    for run in (load_run, sql_run):
        assert value not in run["Query"] or value == "?"
        assert "?" in run["Query"]
    assert load_run["ExecutionParameters"][2:] == [load_run["ExecutionParameters"][2]] * 2
    for parameter in (load_run["ExecutionParameters"][2], sql_run["ExecutionParameters"][0]):
        assert parameter == "'" + value.replace("'", "''") + "'"
        assert _one_literal(parameter) == value


def test_parameters_longer_than_athena_allows_are_refused_before_sending(aws, lake):
    with pytest.raises(ValueError, match="at most 1024"):
        lake.sql("SELECT 1 FROM t WHERE a = ?", ["x" * MAX_PARAMETER_LENGTH])
    with pytest.raises(ValueError, match="at most 1024"):
        lake.load("cloud_trail_mgmt", *WINDOW, accounts=["'" * 600])
    assert executions() == []


def test_explain_shows_sql_and_parameters_without_running(aws, lake):
    plan = lake.explain("cloud_trail_mgmt", *WINDOW, accounts=["' OR '1'='1"])
    assert '"accountid" IN (?)' in plan.sql and "OR '1'" not in plan.sql
    assert plan.params[-1] == "''' OR ''1''=''1'"
    assert lake.explain("SELECT 1 WHERE x = ?", params=["a'b"]).params == ["'a''b'"]
    assert executions() == []


# ---- failures ----------------------------------------------------------------------------------


def _fail_next_query(session: boto3.Session, reason: str) -> None:
    def fail(parsed: dict[str, Any], **_: Any) -> None:
        parsed["QueryExecution"]["Status"].update(State="FAILED", StateChangeReason=reason)

    session.events.register_first("after-call.athena.GetQueryExecution", fail)


def _glue_tables(names: list[str]) -> None:
    glue = boto3.client("glue", region_name=REGION)
    glue.create_database(DatabaseInput={"Name": DATABASE})
    for name in names:
        glue.create_table(DatabaseName=DATABASE, TableInput={"Name": name})


def test_failed_query_raises_query_error_with_reason_and_id(aws, session, lake):
    _fail_next_query(session, "SYNTAX_ERROR: line 1:8: mismatched input 'FORM'")
    with pytest.raises(QueryError, match=r"Athena query [0-9a-f-]{36} failed: SYNTAX_ERROR: line 1:8") as info:
        lake.sql("SELECT * FORM t")
    assert executions()[0]["QueryExecutionId"] in str(info.value)


def test_unknown_table_error_lists_the_known_tables(aws, session, lake):
    ct, vpc = source("cloud_trail_mgmt").table(REGION), source("vpc_flow").table(REGION)
    _glue_tables([ct, vpc, "unrelated_table"])
    _fail_next_query(session, "TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.x.nope' does not exist")
    with pytest.raises(QueryError, match="TABLE_NOT_FOUND") as info:
        lake.sql("SELECT * FROM nope")
    assert f"Tables in {DATABASE}: {ct}, {vpc}." in str(info.value)


def test_sources_lists_glue_tables_and_aggregates_once(aws, session, lake):
    ct, vpc = source("cloud_trail_mgmt").table(REGION), source("vpc_flow").table(REGION)
    _glue_tables([vpc, ct, "amazon_security_lake_table_eu_west_1_route53_2_0"])
    lake.now = pd.Timestamp("2026-03-04T00:00:00Z")
    aws.queue_athena_result(
        [("source", "varchar"), ("accounts", "varchar"), ("regions", "varchar"), ("first_event", "timestamp"),
         ("last_event", "timestamp"), ("rows", "bigint")],
        [["cloud_trail_mgmt", ",".join(ACCOUNTS), "eu-west-1,us-east-1", "2026-03-01 00:00:00.000",
          "2026-03-03 23:00:00.000", "72"], ["vpc_flow", "", "", None, None, "0"]],
    )
    df = lake.sources()
    assert df["source"].tolist() == ["cloud_trail_mgmt", "vpc_flow"]
    assert df["accounts"].tolist() == [list(ACCOUNTS), []]
    assert df["rows"].tolist() == [72, 0]
    [run] = executions()
    assert run["Query"].count("UNION ALL") == 1 and "time_dt >= from_iso8601_timestamp(?)" in run["Query"]
    window = ["'2026-02-25T00:00:00.000Z'", "'2026-03-04T00:00:00.000Z'"]
    assert run["ExecutionParameters"] == ["'cloud_trail_mgmt'", *window, "'vpc_flow'", *window]
    assert "cloud_trail_mgmt'" not in run["Query"]


# ---- configuration errors ----------------------------------------------------------------------


def test_missing_credentials(no_aws):
    with pytest.raises(AwsConfigError, match="No AWS credentials found.*AWS_PROFILE.*aws configure.*boto3_session="):
        Lake.athena(REGION)
    with pytest.raises(AwsConfigError, match="No AWS credentials found"):
        Lake.s3("s3://aws-security-data-lake-us-east-1-abc", REGION)


def test_missing_region(no_aws, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    from slake_forensics.lake import AthenaLake

    with pytest.raises(AwsConfigError, match="No AWS region is configured.*AWS_DEFAULT_REGION"):
        AthenaLake(None)


def test_session_for_another_region_is_refused(aws):
    with pytest.raises(AwsConfigError, match="boto3_session is for 'eu-west-1'"):
        Lake.athena(REGION, boto3_session=boto3.Session(region_name="eu-west-1"))


def test_rejected_credentials_become_aws_config_errors(aws, session, lake):
    def deny(**_: Any) -> None:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "ExpiredTokenException", "Message": "token expired"}}, "StartQueryExecution")

    session.events.register_first("before-call.athena.StartQueryExecution", deny)
    with pytest.raises(AwsConfigError, match="ExpiredTokenException.*AWS_PROFILE"):
        lake.sql("SELECT 1")

