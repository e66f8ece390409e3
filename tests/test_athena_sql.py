"""Athena SQL on a local lake: each construct's result equals a pandas computation over ``load``."""
from __future__ import annotations

import json
import re

import pandas as pd
import pyarrow as pa
import pytest
from fixture_lake import DAY0, DAYS, NOW

from slake_forensics.sql.translate import referenced_tables, translate
from slake_forensics.core.errors import QueryError, UnknownColumnError, UnknownSourceError
from slake_forensics.lake import Lake

T = "amazon_security_lake_glue_db_us_east_1.amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0"
END = DAY0 + pd.Timedelta(days=DAYS)


def py(series: pd.Series) -> list:
    """Python values of a column (None for nulls, lists/tuples for Arrow lists/maps)."""
    return pa.array(series).to_pylist()


def by_time(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("time_dt", kind="stable").reset_index(drop=True)


@pytest.mark.parametrize(
    "name",
    [
        T,
        '"amazon_security_lake_glue_db_us_east_1"."amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0"',
        '"awsdatacatalog"."amazon_security_lake_glue_db_eu_west_1"."amazon_security_lake_table_eu_west_1_cloud_trail_mgmt_2_0"',
        'AwsDataCatalog.amazon_security_lake_glue_db_ap_southeast_2."AMAZON_SECURITY_LAKE_TABLE_AP_SOUTHEAST_2_CLOUD_TRAIL_MGMT_2_0"',
        "amazon_security_lake_table_us_west_2_cloud_trail_mgmt_2_0",
        "cloud_trail_mgmt",
    ],
)
def test_any_region_and_quoting_maps_to_the_source(lake: Lake, ct: pd.DataFrame, name: str) -> None:
    df = lake.sql(f"SELECT count(*) AS n, count(DISTINCT region) AS r FROM {name}")
    assert df["n"].iloc[0] == len(ct)
    assert df["r"].iloc[0] == ct["region"].nunique()


def test_struct_dot_access_and_table_qualifier(lake: Lake, ct: pd.DataFrame) -> None:
    df = lake.sql(
        "SELECT time_dt, actor.user.uid, api.response.error, src_endpoint.ip AS ip, "
        "amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0.api.operation AS op "
        f"FROM {T} WHERE api.response.error = 'AccessDenied' ORDER BY time_dt"
    )
    exp = by_time(ct[ct["api.response.error"] == "AccessDenied"])
    assert py(df["uid"]) == py(exp["actor.user.uid"])
    assert py(df["ip"]) == py(exp["src_endpoint.ip"])
    assert py(df["op"]) == py(exp["api.operation"])
    assert py(df["time_dt"]) == py(exp["time_dt"])


def test_aws_published_seven_day_query(lake: Lake, ct: pd.DataFrame) -> None:
    df = lake.sql(
        """SELECT time_dt, api.service.name, api.operation, api.response.error, api.response.message,
               api.response.data, cloud.region, actor.user.uid, src_endpoint.ip, http_request.user_agent
        FROM "amazon_security_lake_glue_db_us_east_1"."amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0"
        WHERE time_dt BETWEEN CURRENT_TIMESTAMP - INTERVAL '7' DAY AND CURRENT_TIMESTAMP
        AND api.response.error in ('Client.UnauthorizedOperation', 'Client.InvalidPermission.NotFound',
            'Client.OperationNotPermitted', 'AccessDenied')
        ORDER BY time desc
        LIMIT 25"""
    )
    recent = ct[(ct["time_dt"] >= NOW - pd.Timedelta(days=7)) & (ct["time_dt"] <= NOW)]
    exp = recent[recent["api.response.error"].isin(["Client.UnauthorizedOperation", "AccessDenied"])]
    exp = exp.sort_values("time", ascending=False).head(25)
    assert len(df) == 25
    assert py(df["time_dt"]) == py(exp["time_dt"])
    assert py(df["uid"]) == py(exp["actor.user.uid"])


def test_now_and_current_date_use_the_lake_clock(lake: Lake, ct: pd.DataFrame) -> None:
    df = lake.sql(
        "SELECT now() AS a, current_timestamp AS b, CURRENT_TIMESTAMP AS c, current_date AS d, "
        f"count(*) AS n FROM {T} WHERE time_dt > now() - INTERVAL '36' HOUR AND time_dt < current_date"
    )
    assert df["a"].iloc[0] == df["b"].iloc[0] == df["c"].iloc[0] == NOW
    assert pd.Timestamp(df["d"].iloc[0]) == pd.Timestamp(NOW.date())
    exp = ct[(ct["time_dt"] > NOW - pd.Timedelta(hours=36)) & (ct["time_dt"] < NOW.normalize())]
    assert df["n"].iloc[0] == len(exp) > 0


def test_timestamp_literals_are_utc(lake: Lake, ct: pd.DataFrame) -> None:
    df = lake.sql(
        f"SELECT count(*) AS n FROM {T} WHERE time_dt >= TIMESTAMP '2024-03-02 00:00:00.000' "
        "AND time_dt < TIMESTAMP '2024-03-02 06:00:00.000'"
    )
    lo, hi = pd.Timestamp("2024-03-02T00:00Z"), pd.Timestamp("2024-03-02T06:00Z")
    assert df["n"].iloc[0] == ((ct["time_dt"] >= lo) & (ct["time_dt"] < hi)).sum() > 0


def test_unnest_single_alias_keeps_the_row(lake: Lake, ct: pd.DataFrame) -> None:
    df = lake.sql(f"SELECT r.uid AS uid, count(*) AS n FROM {T} CROSS JOIN UNNEST(resources) AS t(r) GROUP BY r.uid")
    exploded = [r["uid"] for rs in py(ct["resources"]) for r in (rs or [])]
    assert dict(zip(py(df["uid"]), py(df["n"]))) == pd.Series(exploded).value_counts().to_dict()


def test_unnest_row_fields_as_columns_and_comma_join(lake: Lake, ct: pd.DataFrame) -> None:
    df = lake.sql(f"SELECT type, count(*) AS n FROM {T}, UNNEST(resources) AS u(uid, owner, type) GROUP BY type")
    exploded = [r["type"] for rs in py(ct["resources"]) for r in (rs or [])]
    assert dict(zip(py(df["type"]), py(df["n"]))) == pd.Series(exploded).value_counts().to_dict()


def test_unnest_two_arrays_zips(lake: Lake, ct: pd.DataFrame) -> None:
    df = lake.sql(f"SELECT count(*) AS n FROM {T} CROSS JOIN UNNEST(resources, observables) AS u(r, o)")
    assert df["n"].iloc[0] == sum(max(len(a or []), len(b or [])) for a, b in zip(py(ct["resources"]), py(ct["observables"])))


def test_any_match_lambda(lake: Lake, ct: pd.DataFrame) -> None:
    df = lake.sql(f"SELECT count(*) AS n FROM {T} WHERE any_match(resources, r -> r.type = 'AWS::IAM::Role')")
    exp = sum(any(r["type"] == "AWS::IAM::Role" for r in rs) for rs in py(ct["resources"]) if rs)
    assert df["n"].iloc[0] == exp > 0
    df = lake.sql(f"SELECT count(*) AS n FROM {T} WHERE all_match(resources, r -> r.type = 'AWS::IAM::Role')")
    assert df["n"].iloc[0] == sum(all(r["type"] == "AWS::IAM::Role" for r in rs) for rs in py(ct["resources"]) if rs is not None)


def _scalar(text: str | None, key: str) -> str | None:
    try:
        value = json.loads(text)[key]
    except (TypeError, ValueError, KeyError):
        return None
    return None if isinstance(value, dict | list) or value is None else str(value)


def test_json_extract_scalar_like_trino(lake: Lake, ct: pd.DataFrame) -> None:
    df = lake.sql(
        "SELECT json_extract_scalar(api.request.data, '$.bucketName') AS b, "
        "json_extract_scalar(api.request.data, '$.key') AS k, json_extract_scalar(api.request.data, '$.num') AS num, "
        "json_extract_scalar(json_extract(api.request.data, '$.key'), '$.n') AS n "
        f"FROM {T} ORDER BY time_dt"
    )
    data = py(by_time(ct)["api.request.data"])
    assert py(df["b"]) == [_scalar(d, "bucketName") for d in data]
    assert py(df["k"]) == [None] * len(data)  # an object is not a scalar
    assert py(df["num"]) == [_scalar(d, "num") for d in data]
    assert py(df["n"]) == [None if _scalar(d, "bucketName") is None else str(json.loads(d)["key"]["n"]) for d in data]


def test_cardinality_of_arrays_and_maps(lake: Lake, ct: pd.DataFrame) -> None:
    df = lake.sql(f"SELECT cardinality(resources) AS nr, cardinality(unmapped) AS nm FROM {T} ORDER BY time_dt")
    exp = by_time(ct)
    assert py(df["nr"]) == [None if v is None else len(v) for v in py(exp["resources"])]
    assert py(df["nm"]) == [None if v is None else len(v) for v in py(exp["unmapped"])]


def test_map_subscript_and_element_at(lake: Lake, ct: pd.DataFrame) -> None:
    df = lake.sql(
        "SELECT unmapped['responseElements'] AS resp, element_at(unmapped, 'requestID') AS req, "
        "element_at(resources, 1).uid AS first, resources[1].type AS first_type, element_at(resources, -1).uid AS last "
        f"FROM {T} ORDER BY time_dt"
    )
    exp = by_time(ct)
    maps = [dict(m) if m is not None else {} for m in py(exp["unmapped"])]
    res = py(exp["resources"])
    assert py(df["resp"]) == [m.get("responseElements") for m in maps]
    assert py(df["req"]) == [m.get("requestID") for m in maps]
    assert py(df["first"]) == [rs[0]["uid"] if rs else None for rs in res]
    assert py(df["first_type"]) == [rs[0]["type"] if rs else None for rs in res]
    assert py(df["last"]) == [rs[-1]["uid"] if rs else None for rs in res]


def test_string_functions(lake: Lake, ct: pd.DataFrame) -> None:
    df = lake.sql(
        "SELECT split_part(src_endpoint.ip, '.', 3) AS octet, lower(http_request.user_agent) AS ua, "
        "regexp_like(api.operation, '^(Create|Delete)') AS destructive, CAST(severity_id AS varchar) AS sev "
        f"FROM {T} ORDER BY time_dt"
    )
    exp = by_time(ct)
    assert py(df["octet"]) == [ip.split(".")[2] for ip in py(exp["src_endpoint.ip"])]
    assert py(df["ua"]) == [u.lower() for u in py(exp["http_request.user_agent"])]
    assert py(df["destructive"]) == [bool(re.search("^(Create|Delete)", o)) for o in py(exp["api.operation"])]
    assert py(df["sev"]) == [str(s) for s in py(exp["severity_id"])]
    n = lake.sql(f"SELECT count(*) AS n FROM {T} WHERE lower(http_request.user_agent) LIKE '%boto3%'")["n"].iloc[0]
    assert n == exp["http_request.user_agent"].str.lower().str.contains("boto3").sum() > 0


def test_date_format_and_from_unixtime(lake: Lake, ct: pd.DataFrame) -> None:
    df = lake.sql(
        "SELECT date_format(time_dt, '%Y-%m-%d %H:%i:%s') AS s, from_unixtime(time / 1000) AS sec, "
        f"from_unixtime(time / 1000.0) AS exact FROM {T} ORDER BY time_dt"
    )
    exp = by_time(ct)
    assert py(df["s"]) == [t.strftime("%Y-%m-%d %H:%M:%S") for t in exp["time_dt"]]
    assert [pd.Timestamp(v) for v in py(df["sec"])] == [t.floor("s") for t in exp["time_dt"]]  # bigint / int is integer division
    assert [pd.Timestamp(v) for v in py(df["exact"])] == list(exp["time_dt"])
    days = lake.sql(f"SELECT date_format(time_dt, '%Y%m%d') AS day, count(*) AS n FROM {T} GROUP BY 1 ORDER BY 1")
    assert dict(zip(py(days["day"]), py(days["n"]))) == exp["time_dt"].dt.strftime("%Y%m%d").value_counts().to_dict()


def test_group_by_having_arbitrary_approx_distinct(lake: Lake, ct: pd.DataFrame) -> None:
    df = lake.sql(
        "SELECT actor.user.uid AS uid, arbitrary(actor.user.type) AS kind, approx_distinct(src_endpoint.ip) AS ips, "
        f"count(*) AS n FROM {T} GROUP BY actor.user.uid HAVING count(*) > 140 ORDER BY n DESC"
    )
    groups = ct.groupby(ct["actor.user.uid"].astype(str))
    sizes = groups.size()
    exp = sizes[sizes > 140].sort_values(ascending=False)
    assert py(df["uid"]) == list(exp.index) and py(df["n"]) == list(exp.values)
    for uid, kind, ips in zip(py(df["uid"]), py(df["kind"]), py(df["ips"])):
        group = groups.get_group(uid)
        assert kind in set(group["actor.user.type"])
        assert abs(ips - group["src_endpoint.ip"].nunique()) <= 1


def test_eventday_partition_column(lake: Lake, ct: pd.DataFrame) -> None:
    df = lake.sql(f"SELECT eventday, count(*) AS n FROM {T} WHERE eventday BETWEEN ? AND ? GROUP BY eventday", ["20240302", "20240303"])
    days = ct["time_dt"].dt.strftime("%Y%m%d")
    exp = days[days >= "20240302"].value_counts().to_dict()
    assert dict(zip(py(df["eventday"]), py(df["n"]))) == exp
    assert "eventday" not in lake.sql(f"SELECT * FROM {T} LIMIT 1").columns


def test_other_sources_reserved_words(lake: Lake) -> None:
    r53 = lake.load("route53", DAY0, END)
    df = lake.sql(
        "SELECT query.hostname AS host, query.class AS cls, count(*) AS n "
        'FROM "amazon_security_lake_glue_db_eu_west_1"."amazon_security_lake_table_eu_west_1_route53_2_0" GROUP BY 1, 2'
    )
    assert dict(zip(py(df["host"]), py(df["n"]))) == r53["query.hostname"].value_counts().to_dict()
    assert set(py(df["cls"])) == {"IN"}


def test_struct_results_are_flattened_and_attrs(lake: Lake) -> None:
    df = lake.sql(f"SELECT actor, time_dt FROM {T} WHERE actor.user.name = ? LIMIT 3", ["alice"])
    assert "actor.user.uid" in df.columns and "actor.session.created_time_dt" in df.columns
    assert str(df["actor.session.created_time_dt"].dtype.pyarrow_dtype) == "timestamp[ms, tz=UTC]"
    assert set(py(df["actor.user.name"])) == {"alice"}
    assert df.attrs["sql"].startswith("SELECT actor")
    assert df.attrs["params"] == ["alice"] and df.attrs["engine"] == "duckdb" and df.attrs["lake"] == lake.location
    assert "slake_cloud_trail_mgmt" in df.attrs["translated_sql"] and df.attrs["elapsed_s"] >= 0


def test_unknown_table_lists_known(lake: Lake) -> None:
    with pytest.raises(UnknownSourceError, match="amazon_security_lake_glue_db_us_east_1") as info:
        lake.sql("SELECT * FROM amazon_security_lake_glue_db_us_east_1.cloudtrail_events")
    for suffix in ("cloud_trail_mgmt_2_0", "vpc_flow_2_0", "sh_findings_2_0", "waf_2_0"):
        assert suffix in str(info.value)


def test_unknown_column_suggests_closest(lake: Lake) -> None:
    with pytest.raises(UnknownColumnError, match=r"actor\.user\.uid"):
        lake.sql(f"SELECT actor.user.uidd FROM {T}")
    with pytest.raises(UnknownColumnError, match="src_endpoint"):
        lake.sql(f"SELECT src_endpiont.ip FROM {T}")


def test_other_errors_carry_engine_message_and_translation(lake: Lake) -> None:
    with pytest.raises(QueryError, match="Translated SQL") as info:
        lake.sql(f"SELECT CAST(actor.user.name AS integer) FROM {T}")
    assert "slake_cloud_trail_mgmt" in str(info.value)
    with pytest.raises(QueryError, match="parse"):
        lake.sql("SELEC * FROM cloud_trail_mgmt")
    with pytest.raises(QueryError, match="one SQL statement"):
        lake.sql("SELECT 1; SELECT 2")
    with pytest.raises(QueryError, match="Only queries"):
        lake.sql("DROP TABLE cloud_trail_mgmt")


def test_translate_keeps_placeholders_and_resolves_clock_and_tables() -> None:
    seen: list[str] = []
    out = translate(
        "WITH x AS (SELECT * FROM db.tbl WHERE a = ? AND t > now()) SELECT * FROM x WHERE b = ? AND c = current_date",
        now=pd.Timestamp("2024-01-02T03:04:05.678Z"),
        resolve_table=lambda name: seen.append(name) or "view_a",
    )
    assert seen == ["db.tbl"]
    assert out.count("?") == 2 and out.index("a = ?") < out.index("b = ?")
    assert "2024-01-02 03:04:05.678" in out and "2024-01-02" in out and "CURRENT_TIMESTAMP" not in out.upper()
    assert "CURRENT_TIMESTAMP" in translate("SELECT now()", now=None, resolve_table=str).upper()
    assert referenced_tables('WITH x AS (SELECT 1) SELECT * FROM x JOIN "c"."d"."e" ON TRUE JOIN f ON TRUE') == ["c.d.e", "f"]
