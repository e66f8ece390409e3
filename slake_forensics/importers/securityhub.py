"""Security Hub ASFF findings → ``sh_findings`` (OCSF 1.1.0 classes 2002/2003/2004) as Security Lake v2 maps them.

The class follows the community mapping (``ocsf/examples`` AWS v1.1.0 Security Hub): a finding with
``Vulnerabilities`` is a Vulnerability Finding 2002, one with ``Compliance`` a Compliance Finding 2003, any other
(GuardDuty, Macie, third-party threat detections) a Detection Finding 2004. Detection Finding carries the list
``resources[]`` and ``evidences[]`` (with ``api``/``src_endpoint``/``query``/``connection_info`` directly under each
evidence); Compliance and Vulnerability Finding carry the singular ``resource`` (OCSF 1.1.0).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from slake_forensics.importers.record import Mapped, RejectRecord

KIND = "securityhub"
SUMMARY = "Security Hub ASFF findings (get-findings export, list, single finding or EventBridge event)"
READER = "json"

SEVERITY = {"INFORMATIONAL": (1, "Informational"), "LOW": (2, "Low"), "MEDIUM": (3, "Medium"), "HIGH": (4, "High"),
            "CRITICAL": (5, "Critical")}
CLASSES = {2002: "Vulnerability Finding", 2003: "Compliance Finding", 2004: "Detection Finding"}
_GD = "aws/guardduty/service/"
_REQUIRED = ("Id", "AwsAccountId", "UpdatedAt", "CreatedAt", "ProductArn")


def epoch_ms(value: str, field: str) -> int:
    """Return ISO 8601 ``value`` as epoch milliseconds.

    Parameters
    ----------
    value : str
        Timestamp such as ``2023-09-19T15:05:22.487Z``.
    field : str
        Raw field name, for the error message.

    Returns
    -------
    int
        Milliseconds since the epoch (UTC).

    Examples
    --------
    >>> epoch_ms("1970-01-01T00:00:01.5Z", "UpdatedAt")
    1500
    """
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise RejectRecord(f"{field} is not an ISO 8601 timestamp: {value!r}") from exc
    if dt.tzinfo is None:
        raise RejectRecord(f"{field} has no time zone: {value!r}")
    return round(dt.timestamp() * 1000)


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Flatten nested JSON into ``{dotted.key: text}`` as Security Lake writes ``unmapped``.

    Lists get ``[]`` after their key; a list of scalars becomes its values joined by commas, a list of objects is
    kept as JSON text.

    Parameters
    ----------
    value : Any
        JSON value.
    prefix : str
        Dotted key of ``value``.

    Returns
    -------
    dict[str, str]
        One entry per leaf.

    Examples
    --------
    >>> flatten({"a": {"b": 1, "c": [True, "x"]}})
    {'a.b': '1', 'a.c[]': 'true,x'}
    """
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            out[f"{prefix}[]"] = ",".join(_text(v) for v in value)
        else:
            out[f"{prefix}[]"] = json.dumps(value, separators=(",", ":"), default=str)
    elif value is not None:
        out[prefix] = _text(value)
    return out


def _text(v: Any) -> str:
    return json.dumps(v) if isinstance(v, bool) else str(v)


def findings_of(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the ASFF findings in ``raw``: one finding, ``{"Findings": [...]}`` or an EventBridge event.

    Parameters
    ----------
    raw : Mapping
        One top-level JSON element from the reader.

    Returns
    -------
    list[dict]
        The findings.

    Examples
    --------
    >>> findings_of({"detail": {"findings": [{"Id": "x", "SchemaVersion": "2018-10-08"}]}})
    [{'Id': 'x', 'SchemaVersion': '2018-10-08'}]
    """
    if "Findings" in raw:
        items = raw["Findings"]
    elif isinstance(raw.get("detail"), dict) and "findings" in raw["detail"]:
        items = raw["detail"]["findings"]
    elif "SchemaVersion" in raw or "ProductArn" in raw:
        return [dict(raw)]
    else:
        raise RejectRecord("not an ASFF finding: expected a finding (SchemaVersion, ProductArn, Id, ...), "
                           f'{{"Findings": [...]}} or an EventBridge event with detail.findings; got keys {sorted(raw)[:8]}')
    if not isinstance(items, list) or not all(isinstance(f, dict) for f in items):
        raise RejectRecord("Findings / detail.findings must be a list of ASFF finding objects")
    return items


def map_record(raw: dict[str, Any], options: Mapping[str, str]) -> list[Mapped]:
    """Map one JSON element holding ASFF findings to ``sh_findings`` rows.

    Parameters
    ----------
    raw : dict
        An ASFF finding, ``{"Findings": [...]}`` or an EventBridge ``Security Hub Findings - Imported`` event.
    options : Mapping[str, str]
        Unused (partitions come from each finding's ``AwsAccountId`` and ``Region``).

    Returns
    -------
    list[Mapped]
        One row per finding.

    Examples
    --------
    >>> m = map_record({"Findings": []}, {})
    >>> m
    []
    """
    return [map_finding(f) for f in findings_of(raw)]


def map_finding(f: Mapping[str, Any]) -> Mapped:
    """Map one ASFF finding to one ``sh_findings`` row (flat dotted paths of the v2 schema).

    Parameters
    ----------
    f : Mapping
        ASFF finding.

    Returns
    -------
    Mapped
        The row for ``sh_findings`` in the finding's account and region.

    Examples
    --------
    >>> f = {"SchemaVersion": "2018-10-08", "Id": "i", "ProductArn": "p", "AwsAccountId": "111122223333",
    ...      "Region": "us-east-1", "CreatedAt": "2024-01-01T00:00:00Z", "UpdatedAt": "2024-01-01T00:00:00Z",
    ...      "Severity": {"Label": "HIGH"}, "Title": "t", "Description": "d", "Types": ["TTPs/x"]}
    >>> m = map_finding(f)
    >>> (m.row["class_uid"], m.row["type_uid"], m.row["severity"])
    (2004, 200401, 'High')
    """
    missing = [k for k in _REQUIRED if not f.get(k)]
    if missing:
        raise RejectRecord(f"ASFF finding {f.get('Id', '?')!r} lacks required field(s) {missing}")
    used: set[str] = set()

    def get(path: str) -> Any:
        cur: Any = f
        for part in path.split("."):
            if not isinstance(cur, Mapping) or part not in cur:
                return None
            cur = cur[part]
        used.add(path)
        return cur

    pf = f.get("ProductFields") or {}

    def pfield(key: str) -> Any:
        if key in pf:
            used.add(f"ProductFields.{key}")
            return pf[key]
        return None

    class_uid = 2002 if f.get("Vulnerabilities") else 2003 if f.get("Compliance") else 2004
    created, updated = epoch_ms(get("CreatedAt"), "CreatedAt"), epoch_ms(get("UpdatedAt"), "UpdatedAt")
    activity_id, activity = (1, "Create") if created == updated else (2, "Update")
    label = str(get("Severity.Label") or "").upper()
    severity_id, severity = SEVERITY.get(label, (0, "Unknown"))
    account, region = str(get("AwsAccountId")), str(get("Region") or _region_of(f["ProductArn"]))
    row: dict[str, Any] = {
        "class_uid": class_uid, "class_name": CLASSES[class_uid], "category_uid": 2, "category_name": "Findings",
        "activity_id": activity_id, "activity_name": activity, "type_uid": class_uid * 100 + activity_id,
        "type_name": f"{CLASSES[class_uid]}: {activity}", "severity_id": severity_id, "severity": severity,
        "time": updated, "time_dt": updated,
        "metadata.version": "1.1.0", "metadata.profiles": ["cloud", "datetime"],
        "metadata.log_version": get("SchemaVersion"), "metadata.product.name": get("ProductName"),
        "metadata.product.uid": get("ProductArn"), "metadata.product.vendor_name": get("CompanyName"),
        "metadata.product.feature.uid": get("GeneratorId"),
        "metadata.product.feature.name": pfield(f"{_GD}featureName"),
        "metadata.product.version": pfield("aws/inspector/ProductVersion"),
        "cloud.account.uid": account, "cloud.region": region, "cloud.provider": "AWS",
        "finding_info.uid": get("Id"), "finding_info.title": get("Title"), "finding_info.desc": get("Description"),
        "finding_info.src_url": get("SourceUrl"), "finding_info.types": get("Types"),
        "finding_info.created_time_dt": created, "finding_info.modified_time_dt": updated,
        "message": get("Note.Text"), "confidence_score": get("Confidence"),
    }
    for ocsf, asff in (("metadata.processed_time_dt", "ProcessedAt"), ("finding_info.first_seen_time_dt",
                       "FirstObservedAt"), ("finding_info.last_seen_time_dt", "LastObservedAt")):
        if f.get(asff):
            row[ocsf] = epoch_ms(get(asff), asff)
    if f.get("RelatedFindings"):
        row["finding_info.related_events"] = [{"product_uid": r.get("ProductArn"), "uid": r.get("Id")}
                                              for r in get("RelatedFindings")]
    status = get("Workflow.Status")
    row["status"] = status.title() if isinstance(status, str) else None
    if f.get("Remediation") and class_uid != 2002:  # Vulnerability Finding keeps it in vulnerabilities[].remediation
        row["remediation.desc"] = get("Remediation.Recommendation.Text")
        url = get("Remediation.Recommendation.Url")
        row["remediation.references"] = [url] if url else None

    resources = [_resource(r, get("Criticality"), pfield("ResourceOwnerAccount")) for r in f.get("Resources") or []]
    used.add("Resources")
    observables: list[dict[str, Any]] = []
    if class_uid == 2004:
        row["resources"] = resources or None
        observables += [{"name": "resources[].uid", "type": "Resource UID", "type_id": 10, "value": r["uid"]}
                        for r in resources if r.get("uid")]
        evidence = _evidence(pfield)
        if evidence:
            row["evidences"] = [evidence]
            ip = (evidence.get("src_endpoint") or {}).get("ip")
            if ip:
                observables.insert(0, {"name": "evidences[].src_endpoint.ip", "type": "IP Address", "type_id": 2,
                                       "value": ip})
    else:
        if resources:
            first = dict(resources[0])
            first.pop("owner", None)
            if class_uid == 2002:
                first.pop("criticality", None)
            for k, v in first.items():
                row[f"resource.{k}"] = v
            if first.get("uid"):
                observables.append({"name": "resource.uid", "type": "Resource UID", "type_id": 10,
                                    "value": first["uid"]})
            if len(resources) > 1:  # OCSF 1.1.0 holds one resource here; keep the others rather than drop them
                used.discard("Resources")
                f = {**f, "Resources": f["Resources"][1:]}
    if class_uid == 2003:
        _compliance(get, row)
    if class_uid == 2002:
        row["vulnerabilities"] = [_vulnerability(v, get) for v in get("Vulnerabilities")]
    row["observables"] = observables or None
    row["unmapped"] = {k: v for k, v in flatten(f).items()
                       if not any(k == u or k.startswith(u + ".") or k.startswith(u + "[]") for u in used)} or None
    return Mapped("sh_findings", account, region, {k: v for k, v in row.items() if v is not None})


def _region_of(arn: str) -> str:
    parts = arn.split(":")
    if len(parts) < 4 or not parts[3]:
        raise RejectRecord(f"finding has no Region and its ProductArn {arn!r} names none")
    return parts[3]


def _resource(r: Mapping[str, Any], criticality: Any, owner: Any) -> dict[str, Any]:
    tags = r.get("Tags") or {}
    out = {"type": r.get("Type"), "uid": r.get("Id"), "cloud_partition": r.get("Partition"), "region": r.get("Region"),
           "labels": [f"{k}:{v}" for k, v in tags.items()] or None,
           "data": json.dumps(r["Details"], separators=(",", ":")) if r.get("Details") else None,
           "criticality": str(criticality) if criticality is not None else None,
           "owner": {"account": {"uid": str(owner)}} if owner else None}
    return {k: v for k, v in out.items() if v is not None}


def _evidence(pfield: Any) -> dict[str, Any]:
    """GuardDuty's ``ProductFields`` → one evidence with api/src_endpoint/query/connection_info directly under it."""
    act = f"{_GD}action/"
    ev: dict[str, Any] = {}
    api = pfield(f"{act}awsApiCallAction/api") or pfield(f"{act}kubernetesApiCallAction/verb")
    if api:
        ev["api"] = {"operation": api}
        svc = pfield(f"{act}awsApiCallAction/serviceName")
        if svc:
            ev["api"]["service"] = {"name": svc}
        err = pfield(f"{act}awsApiCallAction/errorCode")
        if err:
            ev["api"]["response"] = {"error": err}
    for kind in ("awsApiCallAction", "kubernetesApiCallAction", "networkConnectionAction", "portProbeAction"):
        base = f"{act}{kind}/remoteIpDetails/"
        ip = pfield(f"{base}ipAddressV4")
        if ip:
            src: dict[str, Any] = {"ip": ip}
            loc = {"country": pfield(f"{base}country/countryName"), "city": pfield(f"{base}city/cityName")}
            lon, lat = pfield(f"{base}geoLocation/lon"), pfield(f"{base}geoLocation/lat")
            if lon is not None and lat is not None:
                loc["coordinates"] = [Decimal(str(lon)), Decimal(str(lat))]
            loc = {k: v for k, v in loc.items() if v is not None}
            if loc:
                src["location"] = loc
            ev["src_endpoint"] = src
            break
    host = pfield(f"{act}dnsRequestAction/domainWithSuffix") or pfield(f"{act}dnsRequestAction/domain")
    if host:
        ev["query"] = {"hostname": host}
    proto = pfield(f"{act}dnsRequestAction/protocol")
    if proto:
        ev["connection_info"] = {"protocol_name": proto}
    info = pfield(f"{_GD}additionalInfo/value")
    if info is not None:
        ev["data"] = "" if info in ("{}", "") else str(info)
    return ev


def _compliance(get: Any, row: dict[str, Any]) -> None:
    row["compliance.control"] = get("Compliance.SecurityControlId")
    row["compliance.status"] = get("Compliance.Status")
    row["compliance.requirements"] = get("Compliance.RelatedRequirements")
    reasons = get("Compliance.StatusReasons") or []
    row["compliance.status_detail"] = "; ".join(r["Description"] for r in reasons if r.get("Description")) or None
    row["compliance.status_code"] = ",".join(r["ReasonCode"] for r in reasons if r.get("ReasonCode")) or None
    standards = get("Compliance.AssociatedStandards") or []
    row["compliance.standards"] = [s["StandardsId"] for s in standards if s.get("StandardsId")] or None


def _vulnerability(v: Mapping[str, Any], get: Any) -> dict[str, Any]:
    vendor = v.get("Vendor") or {}
    cve: dict[str, Any] = {
        "uid": v.get("Id"),
        "cvss": [{"base_score": Decimal(str(c["BaseScore"])) if c.get("BaseScore") is not None else None,
                  "vector_string": c.get("BaseVector"), "version": c.get("Version")} for c in v.get("Cvss") or []]
        or None,
        "epss": {"score": str(v["EpssScore"])} if v.get("EpssScore") is not None else None,
        "references": [vendor["Url"]] if vendor.get("Url") else None,
        "created_time_dt": epoch_ms(vendor["VendorCreatedAt"], "VendorCreatedAt") if vendor.get("VendorCreatedAt")
        else None,
        "modified_time_dt": epoch_ms(vendor["VendorUpdatedAt"], "VendorUpdatedAt") if vendor.get("VendorUpdatedAt")
        else None,
    }
    packages = [{"architecture": p.get("Architecture"), "epoch": int(p["Epoch"]) if p.get("Epoch") else None,
                 "path": p.get("FilePath"), "fixed_in_version": p.get("FixedInVersion"),
                 "package_manager": p.get("PackageManager"), "name": p.get("Name"), "release": p.get("Release"),
                 "version": p.get("Version"),
                 "remediation": {"desc": p["Remediation"]} if p.get("Remediation") else None}
                for p in v.get("VulnerablePackages") or []]
    code = v.get("CodeVulnerabilities") or []
    out = {
        "cve": {k: x for k, x in cve.items() if x is not None},
        "references": v.get("ReferenceUrls"), "related_vulnerabilities": v.get("RelatedVulnerabilities"),
        "vendor_name": vendor.get("Name"),
        "affected_packages": [{k: x for k, x in p.items() if x is not None} for p in packages] or None,
        "affected_code": [{"file": {"uid": c.get("SourceArn"), "path": (c.get("FilePath") or {}).get("FilePath"),
                                    "name": (c.get("FilePath") or {}).get("FileName")},
                           "start_line": (c.get("FilePath") or {}).get("StartLine"),
                           "end_line": (c.get("FilePath") or {}).get("EndLine")} for c in code] or None,
        "cwe": {"uid": ",".join(code[0]["Cwes"])} if code and code[0].get("Cwes") else None,
        "is_fix_available": {"YES": True, "NO": False}.get(str(v.get("FixAvailable", "")).upper()),
        "is_exploit_available": {"YES": True, "NO": False}.get(str(v.get("ExploitAvailable", "")).upper()),
        "remediation": {"desc": get("Remediation.Recommendation.Text"),
                        "references": [u] if (u := get("Remediation.Recommendation.Url")) else None}
        if get("Remediation") else None,
    }
    return {k: x for k, x in out.items() if x is not None}
