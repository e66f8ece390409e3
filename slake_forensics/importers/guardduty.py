"""GuardDuty findings → ``sh_findings`` (OCSF 1.1.0 Detection Finding 2004) as Security Lake v2 holds them.

Security Lake receives GuardDuty findings through Security Hub (ASFF) and maps them with the community mapping
(``ocsf/examples`` AWS v1.1.0 Security Hub, Detection Finding). This kind reads what GuardDuty itself exports and
gives the rows that mapping gives, so that native and Security Hub imports of one finding look alike:

* ``aws guardduty get-findings`` output ``{"Findings": [...]}``, a JSON array of findings, one finding per line
  (NDJSON, as the S3 export writes them) or a single finding; PascalCase (API/CLI) and camelCase (EventBridge,
  S3 export) keys are both read;
* EventBridge events ``{"detail-type": "GuardDuty Finding", "detail": {...}}``;
* GuardDuty findings in ASFF (``ProductArn`` naming ``guardduty``, e.g. ``aws securityhub get-findings`` output or
  ``Security Hub Findings - Imported`` events) go through the :mod:`~slake_forensics.importers.securityhub` mapper.

The native finding is mapped directly: ``finding_info`` (``uid`` is the finding ``Arn``, as Security Hub's ASFF
``Id``; ``types`` the ASFF form of ``Type`` first, then ``Type`` itself), severity from GuardDuty's numeric scale,
``resources[]`` in Security Hub's form (``AwsIamAccessKey`` ``AWS::IAM::AccessKey:<key id>``, ``AwsEc2Instance``
instance ARN, ``AwsS3Bucket`` bucket ARN, ...; ``data`` the GuardDuty resource details as given),
``evidences[]`` from ``Service.Action`` with ``api``, ``src_endpoint``, ``dst_endpoint``, ``query`` and
``connection_info`` directly under each evidence (OCSF 1.1.0), and every raw field not consumed in ``unmapped``
under its dotted path.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from slake_forensics.importers import securityhub as sh
from slake_forensics.importers.readers import read_json
from slake_forensics.importers.record import Mapped, RejectRecord
from slake_forensics.sample.findings import asff_type

KIND = "guardduty"
SUMMARY = ("GuardDuty findings (get-findings output, JSON array, NDJSON / S3 export, EventBridge events; "
           "GuardDuty findings in ASFF too) → sh_findings")

#: GuardDuty's numeric severity → OCSF severity_id and name (GuardDuty: Low 1.0-3.9, Medium 4.0-6.9,
#: High 7.0-8.9, Critical 9.0-10.0). Values outside 1.0-10.0 map to Unknown (0); the number stays in ``unmapped``.
SEVERITY_LEVELS = ((9.0, 5, "Critical"), (7.0, 4, "High"), (4.0, 3, "Medium"), (1.0, 2, "Low"))
#: GuardDuty ``Resource.<details>`` → (ASFF resource type, field holding the resource's uid)
RESOURCE_DETAILS = {
    "EksClusterDetails": ("AwsEksCluster", "Arn"), "EcsClusterDetails": ("AwsEcsCluster", "Arn"),
    "LambdaDetails": ("AwsLambdaFunction", "FunctionArn"), "RdsDbInstanceDetails": ("AwsRdsDbInstance", "DbInstanceArn"),
    "ContainerDetails": ("Container", "Id"),
}
_DIRECTION = {"INBOUND": (1, "Inbound"), "OUTBOUND": (2, "Outbound")}
_ACTIONS_WITH_REMOTE_IP = ("AwsApiCallAction", "KubernetesApiCallAction", "RdsLoginAttemptAction")
_Q6 = Decimal("0.000001")


def read(path: Path) -> Iterator[tuple[str, dict[str, Any] | RejectRecord]]:
    """Yield ``(origin, finding or event)`` from ``path``; ``{"Findings": [...]}`` is split into its findings.

    Parameters
    ----------
    path : Path
        Plain or gzip JSON: ``{"Findings": [...]}``, an array, NDJSON or one object (see
        :func:`~slake_forensics.importers.readers.read_json`).

    Returns
    -------
    Iterator[tuple[str, dict | RejectRecord]]
        One unit per finding (origin ``<file>:<line>/Findings[<i>]`` inside a ``Findings`` list), so one bad
        finding is rejected alone.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "f.json"; _ = p.write_text('{"Findings": [{"Id": "a"}, {"Id": "b"}]}')
    >>> [(o.rsplit("/", 1)[-1], r) for o, r in read(p)]
    [('Findings[0]', {'Id': 'a'}), ('Findings[1]', {'Id': 'b'})]
    """
    for origin, raw in read_json(path):
        items = None
        if isinstance(raw, dict):
            items = raw.get("Findings")
            if items is None and isinstance(raw.get("detail"), dict):
                items = raw["detail"].get("findings")
        if not isinstance(items, list):
            yield origin, raw
            continue
        for i, item in enumerate(items):
            if isinstance(item, dict):
                yield f"{origin}/Findings[{i}]", item
            else:
                err = RejectRecord(f"Findings[{i}] is not a finding object: {str(item)[:80]!r}")
                err.raw = json.dumps(item)  # type: ignore[attr-defined]
                yield f"{origin}/Findings[{i}]", err


READER = read


def map_record(raw: dict[str, Any], options: Mapping[str, str]) -> list[Mapped]:
    """Map one GuardDuty finding (native or ASFF), event or ``{"Findings": [...]}`` to ``sh_findings`` rows.

    Parameters
    ----------
    raw : dict
        A native GuardDuty finding (PascalCase or camelCase keys), an EventBridge ``GuardDuty Finding`` event,
        a GuardDuty finding in ASFF, or a ``{"Findings": [...]}`` / ``detail.findings`` wrapper of those.
    options : Mapping[str, str]
        ``account`` / ``region``: fallbacks for a native finding without ``AccountId`` / ``Region``.

    Returns
    -------
    list[Mapped]
        One row per finding.

    Raises
    ------
    RejectRecord
        For anything that is not a GuardDuty finding (an ASFF finding of another product included), or a finding
        lacking a required field.

    Examples
    --------
    >>> f = {"Id": "f1", "Arn": "arn:aws:guardduty:us-east-1:111122223333:detector/d1/finding/f1",
    ...      "AccountId": "111122223333", "Region": "us-east-1", "Type": "Recon:IAMUser/UserPermissions",
    ...      "Severity": 5, "CreatedAt": "2024-05-01T10:00:00Z", "UpdatedAt": "2024-05-01T11:00:00Z",
    ...      "Resource": {"AccessKeyDetails": {"AccessKeyId": "AKIAEXAMPLE"}}}
    >>> [m] = map_record(f, {})
    >>> (m.row["class_uid"], m.row["activity_name"], m.row["severity"], m.row["resources"][0]["uid"])
    (2004, 'Update', 'Medium', 'AWS::IAM::AccessKey:AKIAEXAMPLE')
    """
    items = raw.get("Findings")
    if items is None and isinstance(raw.get("detail"), dict):
        items = raw["detail"].get("findings")
    if items is not None:
        if not isinstance(items, list) or not all(isinstance(f, dict) for f in items):
            raise RejectRecord("Findings / detail.findings must be a list of finding objects")
        return [m for f in items for m in map_record(f, options)]
    if "detail-type" in raw or ("detail" in raw and "source" in raw):
        kind, detail = raw.get("detail-type"), raw.get("detail")
        if kind != "GuardDuty Finding" or not isinstance(detail, dict):
            raise RejectRecord(f"EventBridge event of type {kind!r} is not a GuardDuty finding "
                               "(expected detail-type 'GuardDuty Finding' with the finding in 'detail')")
        raw = detail
    if "ProductArn" in raw or raw.get("SchemaVersion") == "2018-10-08":
        product = str(raw.get("ProductArn") or "")
        if "guardduty" not in product.lower():
            raise RejectRecord(f"an ASFF finding of {raw.get('ProductName') or product or 'an unnamed product'}, "
                               "not GuardDuty: import it with the 'securityhub' kind")
        return [sh.map_finding(raw)]
    return [map_finding(raw, options)]


class _Finding:
    """Case-tolerant access to a native finding (``Service`` or ``service``), remembering the paths consumed."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.used: set[str] = set()

    def get(self, path: str, *, consume: bool = True) -> Any:
        cur: Any = self.raw
        actual = []
        for part in path.split("."):
            key = _key(cur, part)
            if key is None:
                return None
            actual.append(key)
            cur = cur[key]
        if consume:
            self.used.add(".".join(actual))
        return cur


def _key(d: Any, name: str) -> str | None:
    if not isinstance(d, Mapping):
        return None
    if name in d:
        return name
    camel = name[0].lower() + name[1:]
    return camel if camel in d else None


def _g(d: Any, path: str) -> Any:
    """``path`` (dotted, PascalCase) inside a plain sub-object, either key case; ``None`` when absent."""
    for part in path.split("."):
        key = _key(d, part)
        if key is None:
            return None
        d = d[key]
    return d


def severity(value: Any) -> tuple[int, str]:
    """OCSF ``(severity_id, severity)`` of a GuardDuty numeric severity.

    Parameters
    ----------
    value : Any
        GuardDuty ``Severity`` (1.0-10.0).

    Returns
    -------
    tuple[int, str]
        ``(2, "Low")`` for 1.0-3.9, ``(3, "Medium")`` for 4.0-6.9, ``(4, "High")`` for 7.0-8.9, ``(5, "Critical")``
        for 9.0-10.0, ``(0, "Unknown")`` outside GuardDuty's range.

    Raises
    ------
    RejectRecord
        When ``value`` is not a number.

    Examples
    --------
    >>> [severity(s)[1] for s in (2, 5.5, 8.9, 9, 0.5)]
    ['Low', 'Medium', 'High', 'Critical', 'Unknown']
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RejectRecord(f"Severity {value!r} is not GuardDuty's numeric severity (1.0-10.0)")
    if value <= 10.0:
        for floor, sid, name in SEVERITY_LEVELS:
            if value >= floor:
                return sid, name
    return 0, "Unknown"


def map_finding(raw: Mapping[str, Any], options: Mapping[str, str]) -> Mapped:
    """Map one native GuardDuty finding to one ``sh_findings`` row (flat dotted paths of the v2 schema).

    Parameters
    ----------
    raw : Mapping
        The finding as ``get-findings`` (PascalCase) or EventBridge / the S3 export (camelCase) give it.
    options : Mapping[str, str]
        ``account`` / ``region`` fallbacks.

    Returns
    -------
    Mapped
        The row for ``sh_findings`` in the finding's account and region.

    Examples
    --------
    >>> m = map_finding({"id": "f2", "accountId": "111122223333", "region": "eu-west-1", "type": "Backdoor:EC2/C&CActivity.B",
    ...                  "severity": 8, "createdAt": "2024-05-01T10:00:00Z", "updatedAt": "2024-05-01T10:00:00Z",
    ...                  "resource": {"instanceDetails": {"instanceId": "i-0abc"}}}, {})
    >>> (m.row["severity_id"], m.row["resources"][0]["uid"], m.row["finding_info.types"])
    (4, 'arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc', ['TTPs/Command and Control/Backdoor:EC2-C&CActivity.B', 'Backdoor:EC2/C&CActivity.B'])
    """
    f = _Finding(raw)
    missing = [k for k in ("Type", "Severity", "CreatedAt", "UpdatedAt") if f.get(k, consume=False) in (None, "")]
    if f.get("Arn", consume=False) in (None, "") and f.get("Id", consume=False) in (None, ""):
        missing.insert(0, "Id/Arn")
    if missing:
        raise RejectRecord(f"GuardDuty finding {f.get('Id', consume=False)!r} lacks required field(s) {missing}")
    account = str(f.get("AccountId") or options.get("account") or "")
    region = str(f.get("Region") or options.get("region") or "")
    if not account or not region:
        raise RejectRecord(f"GuardDuty finding {f.get('Id', consume=False)!r} names no AccountId/Region "
                           "(give --account/--region)")
    partition = str(f.get("Partition", consume=False) or "aws")
    ftype = f.get("Type")
    if not isinstance(ftype, str):
        raise RejectRecord(f"Type {ftype!r} is not a GuardDuty finding type such as 'Recon:IAMUser/UserPermissions'")
    sev_id, sev = severity(f.get("Severity", consume=False))
    created, updated = sh.epoch_ms(f.get("CreatedAt"), "CreatedAt"), sh.epoch_ms(f.get("UpdatedAt"), "UpdatedAt")
    activity_id, activity = (1, "Create") if created == updated else (2, "Update")
    fid, arn = f.get("Id"), f.get("Arn")
    uid = str(arn or fid)
    detector = uid.split("/finding/")[0] if "/finding/" in uid else None
    if detector is None and f.get("Service.DetectorId", consume=False):
        detector = f"arn:{partition}:guardduty:{region}:{account}:detector/{f.get('Service.DetectorId', consume=False)}"
    archived = f.get("Service.Archived")
    row: dict[str, Any] = {
        "class_uid": 2004, "class_name": "Detection Finding", "category_uid": 2, "category_name": "Findings",
        "activity_id": activity_id, "activity_name": activity, "type_uid": 200400 + activity_id,
        "type_name": f"Detection Finding: {activity}", "severity_id": sev_id, "severity": sev,
        "time": updated, "time_dt": updated,
        "metadata.version": "1.1.0", "metadata.profiles": ["cloud", "datetime"],
        "metadata.log_version": _text(f.get("SchemaVersion")), "metadata.product.name": "GuardDuty",
        "metadata.product.vendor_name": "Amazon",
        "metadata.product.uid": f"arn:{partition}:securityhub:{region}::product/aws/guardduty",
        "metadata.product.feature.uid": detector, "metadata.product.feature.name": _text(f.get("Service.FeatureName")),
        "cloud.account.uid": account, "cloud.region": region, "cloud.provider": "AWS",
        "finding_info.uid": uid, "finding_info.title": _text(f.get("Title")),
        "finding_info.desc": _text(f.get("Description")), "finding_info.types": [asff_type(ftype), ftype],
        "finding_info.created_time_dt": created, "finding_info.modified_time_dt": updated,
        "status": "Suppressed" if archived is True else "New",
    }
    if partition == "aws" and fid:
        row["finding_info.src_url"] = (f"https://{region}.console.aws.amazon.com/guardduty/home?region={region}"
                                       f"#/findings?macros=current&fId={fid}")
    for ocsf, gd in (("finding_info.first_seen_time_dt", "Service.EventFirstSeen"),
                     ("finding_info.last_seen_time_dt", "Service.EventLastSeen")):
        if f.get(gd, consume=False):
            row[ocsf] = sh.epoch_ms(f.get(gd), gd.rsplit(".", 1)[-1])
    resources = _resources(f, account, region, partition)
    evidences = _evidences(f)
    row["resources"] = resources or None
    row["evidences"] = evidences or None
    row["observables"] = _observables(evidences, resources) or None
    row["unmapped"] = {k: v for k, v in sh.flatten(raw).items()
                       if not any(k == u or k.startswith(u + ".") or k.startswith(u + "[]") for u in f.used)} or None
    return Mapped("sh_findings", account, region, {k: v for k, v in row.items() if v is not None})


def _text(v: Any) -> str | None:
    return None if v is None else str(v)


def _labels(tags: Any) -> list[str] | None:
    if isinstance(tags, list):
        out = [f"{_g(t, 'Key')}:{_g(t, 'Value')}" for t in tags if isinstance(t, Mapping) and _g(t, "Key") is not None]
        return out or None
    return None


def _resource(rtype: str, uid: str, region: str, partition: str, name: str, details: Any) -> dict[str, Any]:
    out = {"type": rtype, "uid": uid, "cloud_partition": partition, "region": region,
           "labels": _labels(_g(details, "Tags")),
           "data": json.dumps({name: details}, separators=(",", ":"), default=str)}
    return {k: v for k, v in out.items() if v is not None}


def _resources(f: _Finding, account: str, region: str, partition: str) -> list[dict[str, Any]]:
    """``Resource`` → Security Hub's resource list: access key, instance, buckets, clusters, functions, ..."""
    out: list[dict[str, Any]] = []
    key = f.get("Resource.AccessKeyDetails", consume=False)
    if isinstance(key, Mapping) and _g(key, "AccessKeyId"):
        f.get("Resource.AccessKeyDetails")
        out.append(_resource("AwsIamAccessKey", f"AWS::IAM::AccessKey:{_g(key, 'AccessKeyId')}", region, partition,
                             "AccessKeyDetails", key))
    inst = f.get("Resource.InstanceDetails", consume=False)
    if isinstance(inst, Mapping) and _g(inst, "InstanceId"):
        f.get("Resource.InstanceDetails")
        out.append(_resource("AwsEc2Instance", f"arn:{partition}:ec2:{region}:{account}:instance/{_g(inst, 'InstanceId')}",
                             region, partition, "InstanceDetails", inst))
    buckets = f.get("Resource.S3BucketDetails", consume=False)
    if isinstance(buckets, list) and buckets and all(isinstance(b, Mapping) and (_g(b, "Arn") or _g(b, "Name"))
                                                     for b in buckets):
        f.get("Resource.S3BucketDetails")
        for b in buckets:
            out.append(_resource("AwsS3Bucket", str(_g(b, "Arn") or f"arn:{partition}:s3:::{_g(b, 'Name')}"), region,
                                 partition, "S3BucketDetails", b))
    for name, (rtype, field) in RESOURCE_DETAILS.items():
        d = f.get(f"Resource.{name}", consume=False)
        if isinstance(d, Mapping) and _g(d, field):
            f.get(f"Resource.{name}")
            out.append(_resource(rtype, str(_g(d, field)), region, partition, name, d))
    return out


def _endpoint(ip_details: Any, port: Any = None) -> dict[str, Any] | None:
    """GuardDuty ``RemoteIpDetails`` / ``LocalIpDetails`` (+ port) → an OCSF endpoint (``ip``, ``port``, ``location``)."""
    ip = _g(ip_details, "IpAddressV4") or _g(ip_details, "IpAddressV6")
    if not ip and port is None:
        return None
    ep: dict[str, Any] = {"ip": str(ip)} if ip else {}
    if isinstance(port, int) and not isinstance(port, bool):
        ep["port"] = port
    loc: dict[str, Any] = {"country": _g(ip_details, "Country.CountryName"), "city": _g(ip_details, "City.CityName")}
    lon, lat = _g(ip_details, "GeoLocation.Lon"), _g(ip_details, "GeoLocation.Lat")
    if isinstance(lon, (int, float)) and isinstance(lat, (int, float)):
        loc["coordinates"] = [Decimal(str(lon)).quantize(_Q6), Decimal(str(lat)).quantize(_Q6)]
    loc = {k: v for k, v in loc.items() if v is not None}
    if loc:
        ep["location"] = loc
    return ep


def _consume_ip(f: _Finding, base: str) -> None:
    """Mark the parts of ``<base>`` an endpoint holds as consumed (organization and country code stay unmapped)."""
    for part in ("IpAddressV4", "IpAddressV6", "Country.CountryName", "City.CityName", "GeoLocation"):
        f.get(f"{base}.{part}")


def _evidences(f: _Finding) -> list[dict[str, Any]]:
    """``Service.Action`` → evidences with api / src_endpoint / dst_endpoint / query / connection_info directly under each."""
    act = "Service.Action"
    out: list[dict[str, Any]] = []
    ev: dict[str, Any] = {}
    api = f.get(f"{act}.AwsApiCallAction.Api") or f.get(f"{act}.KubernetesApiCallAction.Verb")
    if api:
        ev["api"] = {"operation": str(api)}
        svc = f.get(f"{act}.AwsApiCallAction.ServiceName")
        if svc:
            ev["api"]["service"] = {"name": str(svc)}
        err = f.get(f"{act}.AwsApiCallAction.ErrorCode")
        if err:
            ev["api"]["response"] = {"error": str(err)}
        code = f.get(f"{act}.KubernetesApiCallAction.StatusCode", consume=False)
        if isinstance(code, int) and not isinstance(code, bool):
            f.get(f"{act}.KubernetesApiCallAction.StatusCode")
            ev["api"].setdefault("response", {})["code"] = code
    for kind in _ACTIONS_WITH_REMOTE_IP:
        src = _endpoint(f.get(f"{act}.{kind}.RemoteIpDetails", consume=False))
        if src:
            _consume_ip(f, f"{act}.{kind}.RemoteIpDetails")
            ev["src_endpoint"] = src
            break
    net = f.get(f"{act}.NetworkConnectionAction", consume=False)
    if isinstance(net, Mapping):
        base = f"{act}.NetworkConnectionAction"
        remote = _endpoint(_g(net, "RemoteIpDetails"), _g(net, "RemotePortDetails.Port"))
        local = _endpoint(_g(net, "LocalIpDetails"), _g(net, "LocalPortDetails.Port"))
        _consume_ip(f, f"{base}.RemoteIpDetails")
        for part in ("RemotePortDetails.Port", "LocalPortDetails.Port", "LocalIpDetails.IpAddressV4",
                     "LocalIpDetails.IpAddressV6", "Protocol", "ConnectionDirection"):
            f.get(f"{base}.{part}")
        direction = str(_g(net, "ConnectionDirection") or "").upper()
        did, dname = _DIRECTION.get(direction, (0, "Unknown"))
        conn: dict[str, Any] = {"direction_id": did, "direction": dname}
        if _g(net, "Protocol"):
            conn["protocol_name"] = str(_g(net, "Protocol"))
        ev["connection_info"] = conn
        src, dst = (local, remote) if direction == "OUTBOUND" else (remote, local)
        if src:
            ev["src_endpoint"] = src
        if dst:
            ev["dst_endpoint"] = dst
    dns = f.get(f"{act}.DnsRequestAction", consume=False)
    if isinstance(dns, Mapping):
        host = f.get(f"{act}.DnsRequestAction.Domain") or f.get(f"{act}.DnsRequestAction.DomainWithSuffix")
        if host:
            ev["query"] = {"hostname": str(host)}
        proto = f.get(f"{act}.DnsRequestAction.Protocol")
        if proto:
            ev.setdefault("connection_info", {})["protocol_name"] = str(proto)
    process = _process(f)
    if process:
        ev["actor"] = {"process": process}
    info = f.get("Service.AdditionalInfo.Value", consume=False)
    if info is not None:
        f.get("Service.AdditionalInfo.Value")
        ev["data"] = "" if info in ("{}", "") else info if isinstance(info, str) else json.dumps(info, default=str)
    if ev:
        out.append(ev)
    probes = f.get(f"{act}.PortProbeAction.PortProbeDetails", consume=False)  # kept whole in unmapped as well
    for p in probes if isinstance(probes, list) else []:
        remote = _endpoint(_g(p, "RemoteIpDetails"))
        local = _endpoint(_g(p, "LocalIpDetails"), _g(p, "LocalPortDetails.Port"))
        probe: dict[str, Any] = {"connection_info": {"direction_id": 1, "direction": "Inbound"}}
        if remote:
            probe["src_endpoint"] = remote
        if local:
            probe["dst_endpoint"] = local
        out.append(probe)
    return out


def _process(f: _Finding) -> dict[str, Any] | None:
    """GuardDuty Runtime Monitoring ``Service.RuntimeDetails.Process`` → ``actor.process`` (community mapping)."""
    base = "Service.RuntimeDetails.Process"
    p = f.get(base, consume=False)
    if not isinstance(p, Mapping):
        return None
    proc: dict[str, Any] = {}
    for ocsf, gd in (("name", "Name"), ("uid", "Uuid")):
        if _g(p, gd) is not None:
            proc[ocsf] = str(f.get(f"{base}.{gd}"))
    for ocsf, gd in (("pid", "Pid"), ("euid", "Euid")):
        v = _g(p, gd)
        if isinstance(v, int) and not isinstance(v, bool):
            proc[ocsf] = f.get(f"{base}.{gd}")
    if _g(p, "StartTime"):
        proc["created_time_dt"] = sh.epoch_ms(f.get(f"{base}.StartTime"), "StartTime")
    user = {k: str(f.get(f"{base}.{gd}")) for k, gd in (("name", "User"), ("uid", "UserId")) if _g(p, gd) is not None}
    if user:
        proc["user"] = user
    if _g(p, "ParentUuid"):
        proc["parent_process"] = {"uid": str(f.get(f"{base}.ParentUuid"))}
    file: dict[str, Any] = {}
    if _g(p, "ExecutablePath"):
        file["path"] = str(f.get(f"{base}.ExecutablePath"))
        file["name"] = file["path"].rsplit("/", 1)[-1]
    if _g(p, "ExecutableSha256"):
        file["hashes"] = [{"value": str(f.get(f"{base}.ExecutableSha256")), "algorithm_id": 3,
                           "algorithm": "SHA-256"}]
    if file:
        proc["file"] = file
    return proc or None


def _observables(evidences: list[dict[str, Any]], resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()

    def add(name: str, type_: str, type_id: int, value: Any) -> None:
        if value and (name, str(value)) not in seen:
            seen.add((name, str(value)))
            out.append({"name": name, "type": type_, "type_id": type_id, "value": str(value)})

    for ev in evidences:
        add("evidences[].src_endpoint.ip", "IP Address", 2, (ev.get("src_endpoint") or {}).get("ip"))
        add("evidences[].dst_endpoint.ip", "IP Address", 2, (ev.get("dst_endpoint") or {}).get("ip"))
        add("evidences[].query.hostname", "Hostname", 1, (ev.get("query") or {}).get("hostname"))
    for r in resources:
        add("resources[].uid", "Resource UID", 10, r.get("uid"))
    return out
