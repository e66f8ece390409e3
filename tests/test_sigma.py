"""Sigma rules compiled to Athena SQL give the same events as an independent pandas evaluation of the rule."""
from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

import slake_forensics as sf
from slake_forensics.analysis import sigma

FIXTURES = Path(__file__).parent / "fixtures" / "sigma"
START = "2026-05-11T00:00:00Z"
MATCHING = ["eq_event_name", "contains_startswith_endswith", "wildcards_all", "re_cidr", "exists_null_cased",
            "one_of_all_of", "json_unmapped_mfa", "compare_region_account", "hostile", "status_json_text_fieldref"]


@pytest.fixture(scope="module")
def lake() -> sf.Lake:
    return sf.Lake.sample()


@pytest.fixture(scope="module")
def frame(lake: sf.Lake) -> pd.DataFrame:
    return lake.load("cloud_trail_mgmt", START, lake.clock())


# ---- an independent evaluator: raw CloudTrail field → value of one loaded row ----------------

def _json(text, path):
    if text is None or pd.isna(text):
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    if obj is None or isinstance(obj, dict | list):
        return None
    return json.dumps(obj) if isinstance(obj, bool) else str(obj)


def _get(row: pd.Series, field: str):
    def col(name):
        v = row[name]
        return None if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)) else v

    unmapped = dict(row["unmapped"]) if row["unmapped"] is not None else {}
    simple = {"eventName": "api.operation", "eventSource": "api.service.name", "userAgent": "http_request.user_agent",
              "awsRegion": "cloud.region", "errorCode": "api.response.error", "errorMessage": "api.response.message",
              "userIdentity.type": "actor.user.type", "userIdentity.arn": "actor.user.uid",
              "userIdentity.userName": "actor.user.name", "status": "status",
              "requestParameters": "api.request.data", "responseElements": "api.response.data"}
    if field in simple:
        return col(simple[field])
    if field == "sourceIPAddress":
        return col("src_endpoint.ip") or col("src_endpoint.domain")
    if field == "eventTime":
        return row["time_dt"].strftime("%Y-%m-%dT%H:%M:%SZ")
    if field == "eventType":
        return col("metadata.event_code") or unmapped.get("eventType")
    if field == "userIdentity.sessionContext.attributes.mfaAuthenticated":
        v = col("actor.session.is_mfa")
        return None if v is None else str(bool(v)).lower()
    if field == "additionalEventData.MFAUsed":
        v = col("is_mfa")
        return unmapped.get(field) or (None if v is None else ("Yes" if v else "No"))
    if field.startswith("requestParameters."):
        return _json(col("api.request.data"), field[len("requestParameters."):])
    if field.startswith("responseElements."):
        return _json(col("api.response.data"), field[len("responseElements."):])
    return unmapped.get(field)


def _like(value: str, pattern: str) -> bool:
    return re.fullmatch(fnmatch.translate(pattern).replace("(?s:", "(?s:", 1), value, re.DOTALL) is not None \
        if "[" not in pattern else value == pattern


def _ipv4(text):
    if text is None or not re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", text):
        return None
    a, b, c, d = (int(x) for x in text.split("."))
    return ((a * 256 + b) * 256 + c) * 256 + d


def _leaf(value, mods: list[str], expected) -> bool:
    import ipaddress

    if "exists" in mods:
        return (value is not None) == bool(expected)
    if expected is None:
        return value is None
    if value is None:
        return False
    if "cidr" in mods:
        net = ipaddress.ip_network(expected)
        n = _ipv4(value)
        return n is not None and int(net.network_address) <= n <= int(net.broadcast_address)
    if "re" in mods:
        return re.search(expected, value, re.IGNORECASE if "i" in mods else 0) is not None
    for op, fn in (("gte", lambda a, b: a >= b), ("gt", lambda a, b: a > b), ("lte", lambda a, b: a <= b), ("lt", lambda a, b: a < b)):
        if op in mods:
            try:
                return fn(float(value), float(expected))
            except ValueError:
                return False
    pattern = str(expected).lower() if isinstance(expected, bool) else str(expected)
    if "contains" in mods:
        pattern = f"*{pattern}*"
    elif "startswith" in mods:
        pattern = f"{pattern}*"
    elif "endswith" in mods:
        pattern = f"*{pattern}"
    if "cased" not in mods:
        value, pattern = value.lower(), pattern.lower()
    return _like(value, pattern)


def _selection(row: pd.Series, sel) -> bool:
    if isinstance(sel, list):
        return any(_selection(row, s) for s in sel)
    result = True
    for key, expected in sel.items():
        field, *mods = key.split("|")
        values = expected if isinstance(expected, list) else [expected]
        if "fieldref" in mods:
            mine = _get(row, field)
            hits = [mine is not None and (other := _get(row, v)) is not None and mine.lower() == other.lower()
                    for v in values]
        else:
            hits = [_leaf(_get(row, field), mods, v) for v in values]
        result = result and (all(hits) if "all" in mods else any(hits))
    return result


def _condition(row: pd.Series, detection: dict) -> bool:
    names = {k: v for k, v in detection.items() if k != "condition"}
    text = detection["condition"]

    def group(match):
        quant, pat = match[1], match[2]
        keys = [k for k in names if fnmatch.fnmatch(k, pat)]
        return "(" + (" or " if quant == "1" else " and ").join(keys) + ")"

    text = re.sub(r"\b(1|all) of (\S+)", group, text)
    env = {k: _selection(row, v) for k, v in names.items()}
    return bool(eval(text, {"__builtins__": {}}, env))  # noqa: S307 - fixture conditions use and/or/not only


def _expected(frame: pd.DataFrame, name: str) -> set[str]:
    rule = yaml.safe_load((FIXTURES / f"{name}.yml").read_text())
    return {row["metadata.uid"] for _, row in frame.iterrows() if _condition(row, rule["detection"])}


@pytest.mark.parametrize("name", MATCHING)
def test_rule_hits_equal_pandas_evaluation(lake: sf.Lake, frame: pd.DataFrame, name: str) -> None:
    hits = sigma.run(lake, FIXTURES / f"{name}.yml", START, lake.clock())
    assert set(hits["metadata.uid"]) == _expected(frame, name)
    assert hits["metadata.uid"].is_unique


def test_values_are_bound_not_formatted() -> None:
    rule = sigma.compile(FIXTURES / "hostile.yml")
    assert "DROP" not in rule.condition.upper() and "1=1" not in rule.condition
    assert "x'; drop table cloud_trail_mgmt; --" in rule.params
    assert rule.condition.count("?") == len(rule.params)


@pytest.mark.parametrize(("name", "field", "modifier"), [("bad_field", "userIdentity.favouriteColour", None),
                                                         ("bad_cidr6", None, "cidr"), ("bad_expand", None, "expand")])
def test_uncompilable_rule_names_what_blocks_it(name: str, field: str | None, modifier: str | None) -> None:
    with pytest.raises(sigma.SigmaCompileError) as err:
        sigma.compile(FIXTURES / f"{name}.yml")
    assert err.value.field == field and err.value.modifier == modifier
    assert (field or modifier) in str(err.value)


def test_compile_dir_reports_failures() -> None:
    rules, failures = sigma.compile_dir(FIXTURES)
    assert sorted(Path(p).stem for p in failures["path"]) == ["bad_cidr6", "bad_expand", "bad_field"]
    assert {Path(r.path).stem for r in rules} >= set(MATCHING)


def test_as_hunt_rows_has_the_hunt_list_columns() -> None:
    rows = sigma.as_hunt_rows([sigma.compile(FIXTURES / "eq_event_name.yml")])
    assert list(rows.columns) == list(sf.hunts.list().columns)
    assert rows.loc[0, "techniques"] == ["T1078.004"]


def test_lake_sigma_delegates(lake: sf.Lake) -> None:
    hits = lake.sigma(str(FIXTURES / "eq_event_name.yml"), START, lake.clock(), accounts=["432505343723"])
    assert len(hits) > 0 and set(hits["accountid"]) == {"432505343723"}
    assert set(hits["api.operation"]) == {"ConsoleLogin"}
