"""GuardDuty (native findings → sh_findings) and OCSF (any class → ext/<name>) importers.

Fixtures: ``fixtures/guardduty`` and ``fixtures/ocsf_ext`` (written for this project, see their PROVENANCE.md) and the
OCSF community Security Hub pair in ``fixtures/findings``.
"""
from __future__ import annotations

import gzip
import json
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import slake_forensics as sf
from slake_forensics.core.catalog import SOURCES
from slake_forensics.importers import guardduty as gd
from slake_forensics.importers import ocsf
from slake_forensics.importers import securityhub as sh
from slake_forensics.importers.pipeline import MANIFEST, REJECTS, import_logs
from slake_forensics.importers.record import RejectRecord
from slake_forensics.sample.writer import build_table
from slake_forensics.tooling.cli import main

FIX = Path(__file__).parent / "fixtures"
GD = FIX / "guardduty"
EXT = FIX / "ocsf_ext"
ACCT = "111122223333"
KEY = "AKIA2EXAMPLEKEY00001"


def _findings() -> list[dict[str, Any]]:
    return json.loads((GD / "get-findings.json").read_text())["Findings"]


def _read(folder: Path) -> pa.Table:
    """Every Parquet file below ``folder`` as one table (files read one by one: no partition inference)."""
    return pa.concat_tables([pq.ParquetFile(f).read() for f in sorted(folder.rglob("*.parquet"))], promote_options="default")


def _rows(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [m.row for m in gd.map_record(raw, {})]


def _fits(value: Any, typ: pa.DataType, where: str) -> None:
    """Every key of a nested value names a field of the schema type (build_table would drop unknown keys silently)."""
    if isinstance(value, list):
        assert pa.types.is_list(typ), where
        for v in value:
            _fits(v, typ.value_type, where + "[]")
    elif isinstance(value, dict):
        if pa.types.is_map(typ):
            return
        assert pa.types.is_struct(typ), where
        names = {f.name: f.type for f in typ}
        for k, v in value.items():
            assert k in names, f"{where}.{k} is not in the sh_findings schema"
            _fits(v, names[k], f"{where}.{k}")


def _type_at(path: str) -> pa.DataType:
    schema = SOURCES["sh_findings"].schema
    typ: pa.DataType = schema.field(path.split(".")[0]).type
    for part in path.split(".")[1:]:
        typ = typ.field(part).type
    return typ


def _check_schema(row: dict[str, Any]) -> None:
    """The row names only fields of the v2 table (evidence fields directly under each evidence) and builds."""
    for k, v in row.items():
        _fits(v, _type_at(k), k)
    build_table(SOURCES["sh_findings"], {k: [v] for k, v in row.items()}, 1)


def _camel(value: Any) -> Any:
    """PascalCase keys → camelCase, as EventBridge and the S3 export write a GuardDuty finding."""
    if isinstance(value, dict):
        return {k[0].lower() + k[1:]: _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


# ---- GuardDuty: mapping -------------------------------------------------------------------------------------------

def test_native_finding_maps_like_security_hub_path() -> None:
    """The native finding behind the community sample gives the community sample's OCSF row."""
    [row] = _rows(json.loads((GD / "native-of-sechub-guardduty.json").read_text()))
    exp = json.loads((FIX / "findings" / "sechub-guardduty.ocsf").read_text())
    via_sh = sh.map_finding(json.loads((FIX / "findings" / "sechub-guardduty.raw").read_text())).row
    # by nature different: the log's own schema version, the native type kept after the ASFF one, and the resource
    # details (GuardDuty's own instead of Security Hub's Details); *_dt are ISO text in the community sample
    differ = ("metadata.log_version", "finding_info.types[]", "resources[]", "metadata.profiles[]")
    flat_exp = sh.flatten({k: v for k, v in exp.items() if k != "unmapped"})
    for key, value in flat_exp.items():
        if key.endswith("_dt") or key.startswith("metadata.extensions") or key in differ:
            continue
        got = sh.flatten({k: v for k, v in row.items() if k != "unmapped"})
        if key == "evidences[]":
            ev = json.loads(got[key])[0]
            ev["src_endpoint"]["location"]["coordinates"] = [float(c) for c in ev["src_endpoint"]["location"]["coordinates"]]
            want = json.loads(value)[0]
            want["src_endpoint"]["location"]["coordinates"] = [-100.822, 37.751]  # the sample prints -100.821999
            assert ev == want
            continue
        assert got.get(key) == value, key
    assert row["finding_info.types"][0] == exp["finding_info"]["types"][0]
    assert row["finding_info.types"][1] == "Stealth:IAMUser/CloudTrailLoggingDisabled"
    [res] = row["resources"]
    assert {k: res[k] for k in ("type", "uid", "cloud_partition", "region")} == \
        {k: exp["resources"][0][k] for k in ("type", "uid", "cloud_partition", "region")}
    for k in ("time", "finding_info.created_time_dt", "finding_info.first_seen_time_dt", "finding_info.last_seen_time_dt",
              "severity_id", "finding_info.uid", "metadata.product.uid", "metadata.product.feature.uid", "observables"):
        assert row[k] == via_sh[k], k
    # unmapped: what Security Hub keeps as ProductFields/Severity.Product stays under GuardDuty's own names
    assert row["unmapped"]["Service.Action.AwsApiCallAction.RemoteIpDetails.Organization.AsnOrg"] == "AMAZON-02"
    assert row["unmapped"]["Severity"] == "2" and row["unmapped"]["Service.Count"] == "1"
    consumed = ("Service.Action.AwsApiCallAction.Api", "Service.EventFirstSeen", "Title", "Resource.AccessKeyDetails.AccessKeyId",
                "Service.Action.AwsApiCallAction.RemoteIpDetails.IpAddressV4", "Service.AdditionalInfo.Value")
    assert not set(consumed) & set(row["unmapped"])
    _check_schema(row)


def test_get_findings_output() -> None:
    recon, mining, exfil = [r for f in _findings() for r in _rows(f)]
    assert [(r["severity_id"], r["severity"]) for r in (recon, mining, exfil)] == [(3, "Medium"), (4, "High"), (5, "Critical")]
    assert [r["activity_name"] for r in (recon, mining, exfil)] == ["Update", "Update", "Create"]
    assert recon["resources"][0]["uid"] == f"AWS::IAM::AccessKey:{KEY}"
    assert json.loads(recon["resources"][0]["data"])["AccessKeyDetails"]["UserName"] == "dev-ci"
    assert recon["evidences"] == [{"api": {"operation": "ListAttachedUserPolicies", "service": {"name": "iam.amazonaws.com"}},
                                   "src_endpoint": {"ip": "198.51.100.23", "location": {
                                       "country": "Netherlands", "city": "Amsterdam",
                                       "coordinates": [Decimal("4.897500"), Decimal("52.375900")]}}}]
    assert recon["finding_info.first_seen_time_dt"] == 1714557483000 and recon["time"] == 1714560062117
    assert recon["metadata.product.feature.name"] == "CloudTrail" and recon["status"] == "New"
    # outbound connection: the remote host is the destination
    [ev] = mining["evidences"]
    assert ev["src_endpoint"] == {"ip": "10.0.1.25", "port": 41822}
    assert ev["dst_endpoint"]["ip"] == "203.0.113.77" and ev["dst_endpoint"]["port"] == 3333
    assert ev["connection_info"] == {"direction_id": 2, "direction": "Outbound", "protocol_name": "TCP"}
    assert ev["data"] == '{"threatListName":"ProofPoint"}'
    [inst] = mining["resources"]
    assert (inst["type"], inst["uid"]) == ("AwsEc2Instance", f"arn:aws:ec2:us-east-1:{ACCT}:instance/i-0a1b2c3d4e5f67890")
    assert inst["labels"] == ["Name:batch-worker-1", "team:data"]
    assert json.loads(inst["data"])["InstanceDetails"]["NetworkInterfaces"][0]["SecurityGroups"][0]["GroupId"] == "sg-0123abcd"
    assert {"evidences[].dst_endpoint.ip", "evidences[].src_endpoint.ip"} <= {o["name"] for o in mining["observables"]}
    # bucket + key, archived finding, error code
    assert [(r["type"], r["uid"]) for r in exfil["resources"]] == [
        ("AwsIamAccessKey", f"AWS::IAM::AccessKey:{KEY}"), ("AwsS3Bucket", "arn:aws:s3:::example-data-lake-raw")]
    assert exfil["evidences"][0]["api"]["response"] == {"error": "AccessDenied"}
    assert exfil["status"] == "Suppressed" and exfil["unmapped"]["Severity"] == "9.2"
    for r in (recon, mining, exfil):
        assert r["class_uid"] == 2004 and r["metadata.product.name"] == "GuardDuty"
        assert r["finding_info.types"][0].startswith(("TTPs/", "Effects/", "Unusual Behaviors/"))
        _check_schema(r)


def test_camel_case_and_eventbridge_give_the_same_rows() -> None:
    for f in _findings():
        [pascal] = _rows(f)
        event = {"version": "0", "id": "e", "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
                 "account": ACCT, "region": "us-east-1", "time": f["UpdatedAt"], "resources": [], "detail": _camel(f)}
        [camel] = _rows(event)

        def same(row: dict[str, Any]) -> dict[str, Any]:
            out = {k: v for k, v in row.items() if k not in ("unmapped", "resources")}
            out["resources"] = [{k: v for k, v in r.items() if k != "data"} for r in row["resources"]]
            out["unmapped"] = {k.lower(): v for k, v in row["unmapped"].items()}
            return out

        assert same(camel) == same(pascal)


def test_eventbridge_runtime_dns_and_port_probe() -> None:
    dns, probe = [r for line in (GD / "eventbridge.ndjson").read_text().splitlines() for r in _rows(json.loads(line))]
    [ev] = dns["evidences"]
    assert ev["query"] == {"hostname": "xmr.pool.example.net"} and ev["connection_info"] == {"protocol_name": "UDP"}
    proc = ev["actor"]["process"]
    assert (proc["name"], proc["pid"], proc["file"]["path"], proc["user"]) == \
        ("xmrig", 2931, "/tmp/.x/xmrig", {"name": "ec2-user", "uid": "1000"})
    assert proc["file"]["hashes"][0]["algorithm"] == "SHA-256" and proc["created_time_dt"] == 1714723181000
    assert ev["data"] == ""
    assert dns["unmapped"]["service.action.dnsRequestAction.domainWithSuffix"] == "example.net"
    assert "service.runtimeDetails.process.lineage[]" in dns["unmapped"]
    assert {"name": "evidences[].query.hostname", "type": "Hostname", "type_id": 1,
            "value": "xmr.pool.example.net"} in dns["observables"]
    assert (probe["severity"], len(probe["evidences"])) == ("Low", 2)
    assert probe["evidences"][0] == {"connection_info": {"direction_id": 1, "direction": "Inbound"},
                                     "src_endpoint": {"ip": "192.0.2.200", "location": {"country": "Example"}},
                                     "dst_endpoint": {"ip": "10.20.3.44", "port": 22}}
    assert "service.action.portProbeAction.portProbeDetails[]" in probe["unmapped"]  # kept whole (organization, names)
    for r in (dns, probe):
        assert (r["cloud.account.uid"], r["cloud.region"]) == ("444455556666", "eu-west-1")
        _check_schema(r)


def test_asff_guardduty_goes_through_securityhub_mapper() -> None:
    asff = json.loads((FIX / "findings" / "sechub-guardduty.raw").read_text())
    assert _rows(asff) == [m.row for m in sh.map_record(asff, {})]
    assert _rows({"Findings": [asff]}) == _rows(asff)
    assert _rows({"detail-type": "Security Hub Findings - Imported", "source": "aws.securityhub",
                  "detail": {"findings": [asff]}}) == _rows(asff)
    inspector = json.loads((FIX / "findings" / "inspector.raw").read_text())
    with pytest.raises(RejectRecord, match="import it with the 'securityhub' kind"):
        gd.map_record(inspector, {})


@pytest.mark.parametrize(("raw", "reason"), [
    ({"foo": 1}, "lacks required field"),
    ({**_findings()[0], "Severity": "HIGH"}, "not GuardDuty's numeric severity"),
    ({k: v for k, v in _findings()[0].items() if k != "Type"}, r"lacks required field\(s\) \['Type'\]"),
    ({k: v for k, v in _findings()[0].items() if k not in ("Id", "Arn")}, "Id/Arn"),
    ({**_findings()[0], "UpdatedAt": "yesterday"}, "UpdatedAt is not an ISO 8601"),
    ({"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {}}, "not a GuardDuty finding"),
    ({"Findings": [1]}, "list of finding objects"),
])
def test_rejects_with_reason(raw: dict[str, Any], reason: str) -> None:
    with pytest.raises(RejectRecord, match=reason):
        gd.map_record(raw, {})


def test_severity_outside_range_is_unknown_and_kept() -> None:
    [row] = _rows({**_findings()[0], "Severity": 12})
    assert (row["severity_id"], row["severity"], row["unmapped"]["Severity"]) == (0, "Unknown", "12")


# ---- GuardDuty: through the pipeline into a lake ------------------------------------------------------------------

def _shapes(folder: Path) -> list[Path]:
    """The same three findings in every shape GuardDuty exports (one file per shape)."""
    fs = _findings()
    folder.mkdir(parents=True)
    files = {
        "export.json": json.dumps({"Findings": fs}, indent=2),
        "array.json": json.dumps(fs),
        "lines.ndjson": "\n".join(json.dumps(_camel(f)) for f in fs) + "\n",
        "events.ndjson": "\n".join(json.dumps({"detail-type": "GuardDuty Finding", "source": "aws.guardduty",
                                               "detail": _camel(f)}) for f in fs) + "\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    (folder / "lines.ndjson.gz").write_bytes(gzip.compress(files["lines.ndjson"].encode() + b"\n"))
    return sorted(folder.iterdir())


def test_every_shape_imports_the_same_findings(tmp_path: Path) -> None:
    for i, f in enumerate(_shapes(tmp_path / "in")):
        s = import_logs("guardduty", [f], tmp_path / f"lake{i}", progress=False, workers=1)
        assert (s.records_in, s.records_out, s.rejected, s.per_source) == (3, 3, 0, {"sh_findings": 3}), f.name
        t = _read(tmp_path / f"lake{i}")
        assert sorted(t.column("severity_id").to_pylist()) == [3, 4, 5], f.name
        assert t.schema.names == SOURCES["sh_findings"].schema.names
        evs = {r["finding_info"]["uid"][-4:]: r["evidences"] for r in t.to_pylist()}
        # directly under each evidence, as OCSF 1.1.0 and the v2 table have them
        assert evs["0a1b"][0]["api"]["operation"] == "ListAttachedUserPolicies"
        assert evs["0a1b"][0]["src_endpoint"]["ip"] == "198.51.100.23"
        assert evs["f809"][0]["dst_endpoint"]["port"] == 3333


def test_bad_input_goes_to_rejects_and_good_findings_stay(tmp_path: Path) -> None:
    fs = _findings()
    bad = tmp_path / "mixed.ndjson"
    bad.write_text("\n".join([
        json.dumps(fs[0]),
        json.dumps({**fs[1], "Severity": None}),
        json.dumps({"detail-type": "AWS API Call via CloudTrail", "source": "aws.iam", "detail": {}}),
        "{not json",
        json.dumps({"Findings": [fs[2], "x"]}),
        json.dumps({**fs[1], "AccountId": "../../escape"}),
    ]) + "\n")
    out = tmp_path / "lake"
    assert main(["import", "guardduty", str(bad), "--out", str(out), "--quiet"]) == 3
    man = [json.loads(x) for x in (out / MANIFEST).read_text().splitlines()]
    assert (man[0]["records_in"], man[0]["records_out"], man[0]["rejected"]) == (7, 2, 5)
    rej = [json.loads(x) for x in (out / REJECTS).read_text().splitlines()]
    reasons = {r["origin"].rsplit("/", 1)[-1].rsplit(":", 1)[-1]: r["reason"] for r in rej}
    assert "Severity" in reasons["2"] and "not a GuardDuty finding" in reasons["3"] and "not JSON" in reasons["4"]
    assert "not a finding object" in reasons["Findings[1]"] and "cannot be a partition folder" in reasons["6"]
    assert all(r["raw"] for r in rej)
    assert not (tmp_path / "escape").exists() and not list(tmp_path.glob("**/accountId=..*"))


def test_reimport_is_idempotent(tmp_path: Path) -> None:
    out = tmp_path / "lake"
    inputs = [GD / "get-findings.json", GD / "eventbridge.ndjson", GD / "native-of-sechub-guardduty.json"]
    first = import_logs("guardduty", inputs, out, progress=False)
    files = sorted(p.relative_to(out) for p in out.rglob("*.parquet"))
    assert (first.files, first.records_out, first.rejected) == (3, 6, 0)
    again = import_logs("guardduty", inputs, out, progress=False)
    assert (again.files, len(again.skipped), again.records_out) == (0, 3, 0)
    assert sorted(p.relative_to(out) for p in out.rglob("*.parquet")) == files
    # a fresh lake from the same input writes the same file names
    other = import_logs("guardduty", inputs, tmp_path / "other", progress=False)
    assert other.records_out == 6
    assert sorted(p.relative_to(tmp_path / "other") for p in (tmp_path / "other").rglob("*.parquet")) == files


def test_securityhub_evidences_survive_the_writer(tmp_path: Path) -> None:
    """Evidence fields the mapper writes (directly under each evidence, OCSF 1.1.0) reach the file: Arrow drops
    struct members the table lacks, so a table nesting them elsewhere would lose them without a word."""
    s = import_logs("securityhub", [FIX / "findings" / "sechub-guardduty.raw"], tmp_path / "lake", progress=False)
    assert s.records_out == 1
    [ev] = _read(tmp_path / "lake").column("evidences").to_pylist()[0]
    assert ev["api"]["operation"] == "DeleteTrail" and ev["src_endpoint"]["ip"] == "52.94.133.131"


# ---- GuardDuty: the imported findings drive triage and the investigation ------------------------------------------

def _ct(t: str, name: str, ip: str, key: str, user: str, source: str = "iam.amazonaws.com", n: int = 0,
        request: dict[str, Any] | None = None, response: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"eventVersion": "1.09", "eventTime": t, "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
            "sourceIPAddress": ip, "userAgent": "aws-cli/2.15.0", "requestParameters": request,
            "responseElements": response, "requestID": f"req-{n}", "eventID": f"00000000-0000-0000-0000-{n:012d}",
            "eventType": "AwsApiCall", "eventCategory": "Management", "managementEvent": True, "readOnly": False,
            "recipientAccountId": ACCT,
            "userIdentity": {"type": "IAMUser", "principalId": f"AIDA{user.upper()}", "arn": f"arn:aws:iam::{ACCT}:user/{user}",
                             "accountId": ACCT, "accessKeyId": key, "userName": user}}


def _incident_lake(tmp_path: Path) -> Path:
    new_key = "AKIA2EXAMPLEKEY00002"
    trail = [
        _ct("2024-04-25T09:00:00Z", "GetUser", "203.0.113.5", KEY, "dev-ci", n=1),  # baseline: the usual address
        _ct("2024-04-26T09:00:00Z", "ListRoles", "203.0.113.5", KEY, "dev-ci", n=2),
        _ct("2024-05-01T09:58:03Z", "ListAttachedUserPolicies", "198.51.100.23", KEY, "dev-ci", n=3,
            request={"userName": "dev-ci"}),
        _ct("2024-05-01T10:02:00Z", "CreateUser", "198.51.100.23", KEY, "dev-ci", n=4, request={"userName": "backup-admin"},
            response={"user": {"userName": "backup-admin", "arn": f"arn:aws:iam::{ACCT}:user/backup-admin"}}),
        _ct("2024-05-01T10:03:00Z", "CreateAccessKey", "198.51.100.23", KEY, "dev-ci", n=5,
            request={"userName": "backup-admin"},
            response={"accessKey": {"userName": "backup-admin", "accessKeyId": new_key, "status": "Active"}}),
        _ct("2024-05-01T10:30:00Z", "GetCallerIdentity", "198.51.100.23", new_key, "backup-admin",
            source="sts.amazonaws.com", n=6),
        _ct("2024-05-01T15:00:00Z", "UpdateAccessKey", "203.0.113.9", "AKIA2EXAMPLEADMIN001", "admin", n=7,
            request={"userName": "dev-ci", "accessKeyId": KEY, "status": "Inactive"}),
    ]
    src = tmp_path / "in"
    src.mkdir()
    (src / "trail.json").write_text(json.dumps({"Records": trail}))
    lake = tmp_path / "lake"
    assert import_logs("cloudtrail", [src / "trail.json"], lake, progress=False).records_out == len(trail)
    assert import_logs("guardduty", [GD / "get-findings.json"], lake, progress=False).records_out == 3
    return lake


def test_findings_and_investigate_read_imported_guardduty(tmp_path: Path) -> None:
    root = _incident_lake(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the lake has only CloudTrail and findings: other sources warn they are empty
        lake = sf.Lake.local(str(root))
        tri = sf.findings(lake, "2024-04-30T00:00Z", "2024-05-03T00:00Z")
        assert list(tri["severity"]) == ["Critical", "High", "Medium"] and tri["threat"].all()
        by_type = tri.set_index("type")
        assert by_type.loc["Exfiltration:S3-AnomalousBehavior", "access_keys"] == [KEY]
        assert by_type.loc["Exfiltration:S3-AnomalousBehavior", "buckets"] == ["example-data-lake-raw"]
        assert by_type.loc["CryptoCurrency:EC2-BitcoinTool.B", "instances"] == ["i-0a1b2c3d4e5f67890"]
        assert by_type.loc["Recon:IAMUser-UserPermissions", "product"] == "GuardDuty"
        recon = tri[tri["type"] == "Recon:IAMUser-UserPermissions"].iloc[0]
        inc = sf.investigate(lake, recon, before="1D", after="2D", baseline_days=7)
        scope = {(k, v) for k, v in zip(inc.scope["kind"], inc.scope["value"])}
        assert {("compromised_key", KEY), ("attacker_ip", "198.51.100.23"), ("created_user", "backup-admin"),
                ("created_key", "AKIA2EXAMPLEKEY00002")} <= scope
        assert ("attacker_ip", "203.0.113.5") not in scope
        assert "access key deactivated" in set(inc.events.loc[inc.events["role"] == "containment", "why"])
        sh_rows = lake.load("sh_findings", "2024-04-30T00:00Z", "2024-05-03T00:00Z")
        ents = sf.entities(sh_rows)
    assert KEY in set(ents.loc[ents["entity_type"] == "access_key", "value"])


# ---- OCSF of any class → ext/<name> --------------------------------------------------------------------------------

def _ext(out: Path, name: str) -> pd.DataFrame:
    files = sorted((out / "ext" / name).rglob("*.parquet"))
    return pd.concat([pq.read_table(f).to_pandas().assign(folder=str(f.parent.relative_to(out))) for f in files],
                     ignore_index=True)


def test_ocsf_firewall_and_azure_import(tmp_path: Path) -> None:
    out = tmp_path / "lake"
    fw = import_logs("ocsf", [EXT / "onprem-firewall.ndjson"], out, options={"name": "corp-fw"}, progress=False)
    assert (fw.records_out, fw.rejected, fw.per_source) == (3, 0, {"ext/corp-fw": 3})
    df = _ext(out, "corp-fw")
    # Security Lake's custom-source layout: an AWS region (default us-east-1), accountId external[_<id>]
    assert set(df["folder"]) == {"ext/corp-fw/region=us-east-1/accountId=external/eventDay=20240501",
                                 "ext/corp-fw/region=us-east-1/accountId=external/eventDay=20240502"}
    assert sorted(df["time"]) == [1714550700250, 1714557600000, 1714644000000]  # time added from time_dt (+02:00)
    first = df[df["time"] == 1714557600000].iloc[0]
    assert first["class_uid"] == 4001 and first["traffic"]["bytes_out"] == 88210
    assert dict(first["unmapped"]) == {"rule_name": "allow-outbound-any", "zone_from": "trust", "zone_to": "untrust"}
    assert first["metadata"]["product"]["name"] == "Example NGFW"
    closing = df[df["time"] == 1714550700250].iloc[0]
    assert closing["time_dt"] == "2024-05-01T10:05:00.250+02:00" and closing["observables"][0]["value"] == "203.0.113.77"

    az = import_logs("ocsf", [EXT / "azure-activity.json"], out, progress=False)
    assert az.per_source == {"ext/azure_activity_log": 2}  # no --name: from metadata.product.name
    df = _ext(out, "azure_activity_log")
    assert set(df["folder"]) == {"ext/azure_activity_log/region=us-east-1/accountId=external_0b1c2d3e-4f50-6172-8394-"
                                 "a5b6c7d8e9f0/eventDay=20240502"}
    assert set(df["cloud"].map(lambda c: c["region"])) == {"westeurope"}  # the other cloud's region stays in the row
    assert list(df.sort_values("time")["api"].map(lambda a: a["operation"])) == [
        "Microsoft.Authorization/roleAssignments/write", "Microsoft.Insights/diagnosticSettings/delete"]
    assert df.sort_values("time")["class_uid"].tolist() == [6003, 6003]
    import_logs("guardduty", [GD / "get-findings.json"], out, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lake = sf.Lake.local(str(out))  # ext/ sources beside Security Lake's own do not disturb it
        assert len(lake.load("sh_findings", "2024-05-01T00:00Z", "2024-05-03T00:00Z")) == 3
        assert len(lake.load("ext_azure_activity_log", "2024-05-01T00:00Z", "2024-05-03T00:00Z")) == 2
        assert len(lake.load("ext_corp-fw", "2024-05-01T00:00Z", "2024-05-03T00:00Z")) == 3


def test_ocsf_rejects_with_reasons(tmp_path: Path) -> None:
    out = tmp_path / "lake"
    s = import_logs("ocsf", [EXT / "bad.ndjson"], out, options={"name": "x"}, progress=False)
    assert (s.records_in, s.records_out, s.rejected) == (10, 2, 8)  # "../../etc" becomes accountId=external_etc
    reasons = [json.loads(x)["reason"] for x in (out / REJECTS).read_text().splitlines()]
    expected = ["no class_uid", "class_uid '4001' is not a non-negative integer", "looks like epoch seconds",
                "has no UTC offset", "no time", "no metadata.product.name",
                "cannot be stored in Parquet", "not JSON"]
    assert len(reasons) == len(expected)
    for got, want in zip(reasons, expected):
        assert want in got, (got, want)
    assert not (tmp_path / "etc").exists()
    assert "accountId=external_etc" in [p.name for p in (out / "ext" / "x" / "region=us-east-1").iterdir()]


def test_ocsf_rows_of_several_classes_and_types_keep_every_field(tmp_path: Path) -> None:
    """Fields only later rows have are kept, and rows whose field types differ are written apart, not dropped."""
    meta = {"product": {"name": "Mixed"}}
    recs = [{"class_uid": 4001, "time": 1714557600000 + i, "metadata": meta, "src_endpoint": {"ip": "10.0.0.1"}}
            for i in range(3)]
    recs += [{"class_uid": 6003, "time": 1714557601000, "metadata": meta, "api": {"operation": "Get"}},
             {"class_uid": 4001, "time": 1714557602000, "metadata": meta, "src_endpoint": {"ip": "10.0.0.2", "port": "https"}},
             {"class_uid": 4001, "time": 1714557603000, "metadata": meta, "src_endpoint": {"ip": "10.0.0.3", "port": 443}}]
    (tmp_path / "m.ndjson").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    s = import_logs("ocsf", [tmp_path / "m.ndjson"], tmp_path / "lake", progress=False)
    assert (s.records_out, s.rejected) == (6, 0)
    rows = [r for f in sorted((tmp_path / "lake" / "ext" / "mixed").rglob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert len(rows) == 6
    assert {r["api"]["operation"] for r in rows if r.get("api")} == {"Get"}
    ports = {r["src_endpoint"]["ip"]: r["src_endpoint"].get("port") for r in rows if r.get("src_endpoint")}
    assert ports["10.0.0.2"] == "https" and ports["10.0.0.3"] == 443


def test_ocsf_bad_name_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a custom source name"):
        import_logs("ocsf", [EXT / "azure-activity.json"], tmp_path / "lake", options={"name": "../up"}, progress=False)
    assert main(["import", "ocsf", str(EXT / "azure-activity.json"), "--out", str(tmp_path / "l2"), "--name", "a/b",
                 "--quiet"]) == 2
    assert not (tmp_path / "l2").exists() or not list((tmp_path / "l2").rglob("*.parquet"))


def test_ocsf_reimport_is_idempotent(tmp_path: Path) -> None:
    out = tmp_path / "lake"
    good = [EXT / "onprem-firewall.ndjson", EXT / "azure-activity.json"]
    import_logs("ocsf", good, out, progress=False)
    files = sorted(out.rglob("*.parquet"))
    again = import_logs("ocsf", [*good, EXT / "bad.ndjson"], out, progress=False)
    assert again.files == 1 and len(again.skipped) == 2  # only bad.ndjson is new
    assert set(files) < set(out.rglob("*.parquet"))
    third = import_logs("ocsf", [*good, EXT / "bad.ndjson"], out, progress=False)
    assert (third.files, len(third.skipped), third.records_out) == (0, 3, 0)


def test_ocsf_map_record_time_and_partitions() -> None:
    base = {"class_uid": 2004, "metadata": {"product": {"name": "Defender for Cloud"}}}
    m = ocsf.map_record({**base, "time": 1714557600000.0, "cloud": {"account": {"uid": 123}, "region": "eastus"},
                         "finding_info": {"uid": "f", "types": []}, "unmapped": {}, "enrichments": None}, {})
    assert (m.source, m.account, m.region) == ("ext/defender_for_cloud", "external_123", "us-east-1")
    assert m.row["time"] == 1714557600000 and isinstance(m.row["time"], int)
    assert "unmapped" not in m.row and "enrichments" not in m.row and m.row["finding_info"]["types"] == []
    m = ocsf.map_record({**base, "time_dt": "2024-05-01T10:00:00Z"}, {"account": "onprem", "region": "eu-west-1"})
    assert (m.account, m.region, m.row["time"]) == ("external_onprem", "eu-west-1", 1714557600000)
    with pytest.raises(ValueError, match="not an AWS region"):  # a data centre is not where Security Lake keeps it
        ocsf.map_record({**base, "time_dt": "2024-05-01T10:00:00Z"}, {"region": "dc1"})
    with pytest.raises(RejectRecord, match="micro- or nanoseconds"):
        ocsf.map_record({**base, "time": 1714557600000000}, {})
    with pytest.raises(RejectRecord, match="not integer epoch milliseconds"):
        ocsf.map_record({**base, "time": True}, {})
