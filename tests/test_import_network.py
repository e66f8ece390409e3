"""Network importers (VPC Flow, Route 53) against AWS's own v1 transformer output and the OCSF 1.1.0 samples."""
from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from slake_forensics.core import catalog
from slake_forensics.importers import eks, route53, vpcflow, waf
from slake_forensics.importers.record import RejectRecord
from slake_forensics.sample.writer import build_table

FIX = Path(__file__).parent / "fixtures" / "imp_network"

# v1 (OCSF 1.0.0-rc.2) names -> v2 names (real_lake_facts §2)
V1_TO_V2 = {"cloud.account_uid": "cloud.account.uid"}
# v1 -> v2 differences we knowingly keep: v2 is OCSF 1.1.0 and adds the datetime profile / *_dt columns
KNOWN = {"metadata.version", "metadata.profiles", "start_time", "end_time", "unmapped", "disposition_id"}


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "unmapped":
            out.update(_flat(v, f"{prefix}{k}."))
        elif v is not None:
            out[f"{prefix}{k}"] = v
    return out


def _builds(source: str, rows: list[dict[str, Any]]) -> None:
    keys = set().union(*rows)
    table = build_table(catalog.source(source), {k: [r.get(k) for r in rows] for k in keys}, len(rows))
    assert table.num_rows == len(rows)


@pytest.mark.parametrize("n", [0, 1])
def test_vpcflow_matches_aws_v1_transformer(n: int) -> None:
    [(origin, raw)] = list(vpcflow.read(FIX / f"vpc_flow-input{n}.json.parquet"))
    assert origin.endswith("#0")
    m = vpcflow.map_record(raw, {})
    golden = _flat(pq.read_table(FIX / f"example{n}.gz.parquet").to_pylist()[0])
    for k, v in golden.items():
        k2 = V1_TO_V2.get(k, k)
        if k in KNOWN:
            continue
        assert m.row.get(k2) == v, k
    # v1 kept unmapped as a list of pairs; v2 as a map, same content
    assert m.row["unmapped"] == dict(pq.read_table(FIX / f"example{n}.gz.parquet").to_pylist()[0]["unmapped"])
    assert m.row["metadata.version"] == "1.1.0" and "security_control" in m.row["metadata.profiles"]
    assert m.row["start_time_dt"] == golden["start_time"] and m.row["end_time_dt"] == golden["end_time"]
    assert (m.account, m.region) == (raw["account_id"], raw["region"])
    _builds("vpc_flow", [m.row])


def test_vpcflow_matches_ocsf_110_sample_from_text(tmp_path: Path) -> None:
    rec = next(csv.DictReader((FIX / "ocsf_vpcflow.raw").open()))
    log = tmp_path / "AWSLogs/123456789012/vpcflowlogs/us-east-1/2022/04/12/f.log.gz"
    log.parent.mkdir(parents=True)
    with gzip.open(log, "wt") as fh:
        fh.write(" ".join(k.replace("_", "-") for k in rec) + "\n" + " ".join(rec.values()) + "\n")
    [(origin, raw)] = list(vpcflow.read(log))
    assert origin == f"{log}:2"
    m = vpcflow.map_record(raw, {})
    want = json.loads((FIX / "ocsf_vpcflow.ocsf").read_text())
    for k, v in _flat(want).items():
        if k.endswith("_dt"):  # ISO text in the sample; we write epoch ms
            continue
        if k == "metadata.profiles":
            assert sorted(m.row[k]) == sorted(v)
            continue
        if k == "observables":
            assert sorted(map(sorted, (o.items() for o in m.row[k]))) == sorted(map(sorted, (o.items() for o in v)))
            continue
        if k == "dst_endpoint.interface_uid":  # the sample's raw and OCSF disagree on the ENI id's length
            assert m.row[k] == raw["interface_id"]
            continue
        assert m.row.get(k) == v, k
    assert m.row["unmapped"] == want["unmapped"]


def test_vpcflow_unknown_field_kept_wrong_count_rejected_nodata(tmp_path: Path) -> None:
    log = tmp_path / "flow.log"
    log.write_text(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
        "log-status ecs-cluster-name pkt-srcaddr traffic-path\n"
        "5 111122223333 eni-1 10.0.0.5 8.8.8.8 40000 53 17 1 70 1700000000 1700000060 ACCEPT OK prod 10.9.9.9 8\n"
        "5 111122223333 eni-1 - - - - - - - 1700000000 1700000060 - NODATA - - -\n"
        "5 111122223333 eni-1 10.0.0.5\n")
    out = list(vpcflow.read(log))
    assert isinstance(out[2][1], RejectRecord) and out[2][0] == f"{log}:4" and "fields" in str(out[2][1])
    ok = vpcflow.map_record(out[0][1], {"region": "eu-west-1"})
    assert ok.row["unmapped"]["ecs_cluster_name"] == "prod"  # unknown field: nothing lost
    assert ok.row["src_endpoint.ip"] == "10.9.9.9" and ok.row["src_endpoint.intermediate_ips"] == ["10.0.0.5"]
    assert (ok.row["connection_info.boundary_id"], ok.row["connection_info.boundary"]) == (11, "Internet Gateway")
    assert ok.region == "eu-west-1" and ok.account == "111122223333"
    nodata = vpcflow.map_record(out[1][1], {"region": "eu-west-1"})
    assert nodata.row["activity_id"] == 0 and nodata.row["src_endpoint.ip"] == "-"
    assert nodata.row["traffic.bytes"] is None and nodata.row["connection_info.boundary_id"] == 99
    _builds("vpc_flow", [ok.row, nodata.row])
    with pytest.raises(RejectRecord, match="start"):
        vpcflow.map_record({k: v for k, v in out[0][1].items() if k != "start"}, {"region": "eu-west-1"})
    with pytest.raises(RejectRecord, match="--region"):
        vpcflow.map_record(out[0][1], {})


@pytest.mark.parametrize("n", [0, 1])
def test_route53_matches_aws_v1_transformer(n: int) -> None:
    with gzip.open(FIX / f"route53-inputs{n}.json.gz") as fh:
        raw = json.load(fh)
    m = route53.map_record(raw, {})
    golden = _flat(pq.read_table(FIX / f"example{n}.json.gz.parquet").to_pylist()[0])
    # v2 knowingly differs: activity is always Traffic (v1 derived it from the rcode, facts §2); the firewall rule
    # group is firewall_rule.uid (v1 left it in unmapped); disposition is the firewall action (Alert, not No Action)
    known = KNOWN | {"activity_id", "activity_name", "type_uid", "type_name", "disposition", "answers"}
    for k, v in golden.items():
        if k not in known:
            assert m.row.get(V1_TO_V2.get(k, k)) == v, k
    assert m.row["answers"] == golden["answers"]
    assert m.row["activity_id"] == 6 and m.row["firewall_rule.uid"] == raw["firewall_rule_group_id"]
    assert m.row["disposition"] == {"ALERT": "Alert", "BLOCK": "Blocked"}[raw["firewall_rule_action"]]
    assert m.row["unmapped"] == {"firewall_domain_list_id": raw["firewall_domain_list_id"]}
    _builds("route53", [m.row])


def test_route53_matches_ocsf_110_sample() -> None:
    raw = json.loads((FIX / "ocsf_route53.raw").read_text())
    m = route53.map_record(raw, {})
    want = json.loads((FIX / "ocsf_route53.ocsf").read_text())
    for k, v in _flat(want).items():
        if k.endswith("_dt"):
            continue
        if k == "observables":
            assert sorted(map(sorted, (o.items() for o in m.row[k]))) == sorted(map(sorted, (o.items() for o in v)))
            continue
        assert m.row.get(k) == v, k
    assert m.row["unmapped"] == want["unmapped"]


def test_route53_missing_time_rejected() -> None:
    raw = json.loads((FIX / "ocsf_route53.raw").read_text())
    del raw["query_timestamp"]
    with pytest.raises(RejectRecord, match="query_timestamp"):
        route53.map_record(raw, {})


def test_waf_matches_ocsf_110_sample() -> None:
    raw = json.loads((FIX / "ocsf_waf.raw").read_text())
    m = waf.map_record(raw, {})
    want = json.loads((FIX / "ocsf_waf.ocsf").read_text())
    for k, v in _flat(want).items():
        if k.endswith("_dt"):
            continue
        if k == "observables":
            assert sorted(map(sorted, (o.items() for o in m.row[k]))) == sorted(map(sorted, (o.items() for o in v)))
            continue
        assert m.row.get(k) == v, k
    assert m.row["unmapped"] == want["unmapped"]
    assert (m.account, m.region) == ("123456789012", "us-east-1")
    _builds("waf", [m.row])
    del raw["timestamp"]
    with pytest.raises(RejectRecord, match="timestamp"):
        waf.map_record(raw, {})


def test_eks_matches_ocsf_110_sample_and_cloudwatch_shape() -> None:
    raw = json.loads((FIX / "ocsf_eks.raw").read_text())
    want = json.loads((FIX / "ocsf_eks.ocsf").read_text())
    m = eks.map_record(raw, {"region": "us-east-1"})
    for k, v in _flat(want).items():
        if k.endswith("_dt"):
            continue
        if k == "cloud.account.uid":  # the community sample puts the caller's ARN here; v2 holds the account id
            assert m.row[k] == v.split(":")[4] == m.account
            continue
        if k == "resources":
            assert [{a: b for a, b in r.items() if b is not None} for r in m.row[k]] == v
            continue
        if k == "observables":
            assert sorted(map(sorted, (o.items() for o in m.row[k]))) == sorted(map(sorted, (o.items() for o in v)))
            continue
        assert m.row.get(k) == v, k
    assert m.row["unmapped"] == want["unmapped"]
    assert m.row["start_time_dt"] == 1631047050502 and m.row["time"] == want["time"]
    _builds("eks_audit", [m.row])
    wrapped = eks.map_record({"timestamp": 1631047050642, "message": json.dumps(raw)}, {"region": "us-east-1"})
    assert wrapped.row == m.row
    with pytest.raises(RejectRecord, match="--region"):
        eks.map_record(raw, {})
    del raw["stageTimestamp"], raw["requestReceivedTimestamp"]
    with pytest.raises(RejectRecord, match="time"):
        eks.map_record(raw, {"region": "us-east-1"})


def test_vpcflow_default_v2_format_takes_region_from_s3_path(tmp_path: Path) -> None:
    log = tmp_path / "AWSLogs/111122223333/vpcflowlogs/ap-south-1/2024/01/02/f.log"
    log.parent.mkdir(parents=True)
    log.write_text("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end "
                   "action log-status\n2 111122223333 eni-9 10.0.0.1 10.0.0.2 22 5000 6 3 180 1704153600 1704153660 "
                   "REJECT OK\n")
    [(_, raw)] = list(vpcflow.read(log))
    m = vpcflow.map_record(raw, {})
    assert (m.account, m.region) == ("111122223333", "ap-south-1") and m.row["time"] == 1704153600000
    assert m.row["connection_info.direction_id"] == 0 and m.row["src_endpoint.interface_uid"] == "eni-9"
    assert (m.row["activity_id"], m.row["action"], m.row["disposition"]) == (5, "Denied", "Blocked")
    assert m.row["unmapped"] == {"sublocation_id": "-", "sublocation_type": "-"}
