"""Security Hub findings (ASFF) → ``sh_findings_2_0`` rows, as Security Lake fills them.

Two entry points:

* :func:`findings_table` takes a short list of finding dicts (what stories write) and returns
  a finished table;
* :func:`finding_columns` is the vectorized core (one array per field, one value per finding)
  used by the background generator and by :func:`findings_table`.

Class by product (OCSF-EX ``Security Hub/README.md``): Inspector → Vulnerability Finding 2002,
Security Hub CSPM controls → Compliance Finding 2003, GuardDuty and Macie → Detection Finding 2004.
``time``/``time_dt`` are the ASFF ``UpdatedAt``; activity Create (1) for the first emission of a
finding, Update (2) when it is re-emitted with the same ``finding_info.uid``.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from slake_forensics.core.catalog import SOURCES
from slake_forensics.sample.common import NULL, observables, ocsf_class_columns, partition_columns, ragged, string_map
from slake_forensics.sample.writer import build_table, list_of_structs

SCHEMA = SOURCES["sh_findings"].schema
ASFF_VERSION = "2018-10-08"
#: product name → (ASFF CompanyName, product ARN slug, default class_uid)
PRODUCTS = {
    "GuardDuty": ("Amazon", "guardduty", 2004),
    "Macie": ("Amazon", "macie", 2004),
    "Inspector": ("Amazon", "inspector", 2002),
    "Security Hub": ("AWS", "securityhub", 2003),
}
SEVERITY_IDS = {"Informational": 1, "Low": 2, "Medium": 3, "High": 4, "Critical": 5}
#: ASFF ``Severity.Normalized`` and GuardDuty's own ``Severity.Product`` per label
SEVERITY_NORMALIZED = {1: 0, 2: 20, 3: 40, 4: 70, 5: 90}
SEVERITY_PRODUCT = {1: "0.0", 2: "2.0", 3: "5.0", 4: "8.0", 5: "9.0"}
#: ASFF ``Types[]`` of findings whose product does not name a finding type
DEFAULT_TYPES = {"Inspector": "Software and Configuration Checks/Vulnerabilities/CVE",
                 "Security Hub": "Software and Configuration Checks/Industry and Regulatory Standards/AWS-Foundational-Security-Best-Practices"}
#: GuardDuty threat purpose → ASFF type namespace/category
THREAT_PURPOSE_ASFF = {
    "Backdoor": "TTPs/Command and Control", "Behavior": "Unusual Behaviors", "CryptoCurrency": "Effects/Resource Consumption",
    "CredentialAccess": "TTPs/Credential Access", "DefenseEvasion": "TTPs/Defense Evasion", "Discovery": "TTPs/Discovery",
    "Execution": "TTPs/Execution", "Exfiltration": "Effects/Data Exfiltration", "Impact": "Effects/Resource Consumption",
    "InitialAccess": "TTPs/Initial Access", "PenTest": "TTPs/Discovery", "Persistence": "TTPs/Persistence",
    "Policy": "Software and Configuration Checks/AWS Security Best Practices", "PrivilegeEscalation": "TTPs/Privilege Escalation",
    "Recon": "TTPs/Discovery", "Stealth": "TTPs/Defense Evasion", "Trojan": "TTPs/Command and Control",
    "UnauthorizedAccess": "TTPs/Initial Access",
}
ASFF_NAMESPACES = ("TTPs/", "Effects/", "Unusual Behaviors/", "Software and Configuration Checks/",
                   "Sensitive Data Identifications/", "Industry and Regulatory Standards/")
#: GuardDuty ``service.action.actionType`` by the resource part of the finding type (``!DNS`` types: DNS_REQUEST,
#: port probes: PORT_PROBE, everything else: NETWORK_CONNECTION)
ACTION_TYPES = {"IAMUser": "AWS_API_CALL", "S3": "AWS_API_CALL", "Kubernetes": "KUBERNETES_API_CALL"}


def asff_type(finding_type: str) -> str:
    """The ASFF ``Types[]`` entry for a GuardDuty/Macie finding type.

    ``Discovery:S3/MaliciousIPCaller`` → ``TTPs/Discovery/Discovery:S3-MaliciousIPCaller``; a value
    that already starts with an ASFF namespace (``TTPs/…``, ``Software and Configuration Checks/…``)
    is returned unchanged.
    """
    if finding_type.startswith(ASFF_NAMESPACES):
        return finding_type
    purpose = finding_type.split(":", 1)[0]
    return f"{THREAT_PURPOSE_ASFF.get(purpose, 'Unusual Behaviors')}/{finding_type.replace('/', '-')}"


def detector_id(account: str, region: str) -> str:
    """The (stable, made-up) 32-hex GuardDuty detector id of ``account`` in ``region``."""
    return hashlib.sha256(f"detector|{account}|{region}".encode()).hexdigest()[:32]


def detector_arn(account: str, region: str) -> str:
    """``arn:aws:guardduty:<region>:<account>:detector/<id>``: GuardDuty's ASFF ``GeneratorId``."""
    return f"arn:aws:guardduty:{region}:{account}:detector/{detector_id(account, region)}"


def guardduty_finding_uid(account: str, region: str, finding_id: str) -> str:
    """GuardDuty's ASFF ``Id``: ``arn:aws:guardduty:<region>:<account>:detector/<det>/finding/<id>``."""
    return f"{detector_arn(account, region)}/finding/{finding_id}"


def _arr(values: Any, n: int) -> np.ndarray:
    """An object array of length ``n`` from a scalar, sequence or Arrow array."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)
    if values is None or np.isscalar(values):
        return np.full(n, values, dtype=object)
    out = np.asarray(values, dtype=object)
    if out.shape != (n,):
        raise ValueError(f"expected {n} values, got shape {out.shape}")
    return out


def _ts(values: Any, n: int) -> pa.Array:
    """``timestamp[ms, UTC]`` from epoch-ms values (NaN/None = null)."""
    v = np.asarray(pd.array(_arr(values, n), dtype="Int64").to_numpy(dtype="float64", na_value=np.nan))
    mask = np.isnan(v)
    return pa.array(np.where(mask, 0, v).astype("int64"), pa.int64(), mask=mask).cast(pa.timestamp("ms", tz="UTC"))


def _str_list(n: int, values: Any) -> pa.ListArray:
    """``list<string>`` column: a per-row ``pa.ListArray`` passes through; strings become one-element lists, nulls empty."""
    if isinstance(values, pa.ListArray):
        return values
    v = _arr(values, n)
    offsets, cols = ragged(n, [{"v": v}], "v")
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(cols.get("v", np.empty(0, dtype=object)), pa.string()))


def _list_type(path: str) -> pa.ListType:
    typ: pa.DataType = SCHEMA.field(path.split(".")[0]).type
    for part in path.split(".")[1:]:
        typ = (typ.value_type if pa.types.is_list(typ) else typ).field(part).type
    return typ


RESOURCE_FIELDS = ("type", "uid", "region", "account", "data", "criticality", "partition")
#: Evidence keys → paths inside one ``evidences[]`` element (OCSF 1.1.0: endpoints, api, query and
#: connection_info sit directly under the evidence; only the process belongs to its ``actor``).
EVIDENCE_FIELDS = {
    "src_ip": "src_endpoint.ip", "src_port": "src_endpoint.port", "src_country": "src_endpoint.location.country",
    "src_city": "src_endpoint.location.city", "api_operation": "api.operation", "api_service": "api.service.name",
    "api_error": "api.response.error", "domain": "query.hostname", "dst_ip": "dst_endpoint.ip",
    "dst_port": "dst_endpoint.port", "dst_country": "dst_endpoint.location.country", "protocol": "connection_info.protocol_name",
    "direction": "connection_info.direction", "process_name": "actor.process.name", "cmd_line": "actor.process.cmd_line",
    "data": "data",
}
PACKAGE_FIELDS = ("name", "version", "fixed_in_version", "package_manager", "architecture", "epoch", "release")
_DIRECTION_IDS = {"Inbound": 1, "Outbound": 2}


def finding_columns(f: Mapping[str, Any], n: int, *, resources: Sequence[Mapping[str, Any]] = (),
                    evidences: Sequence[Mapping[str, Any]] = (), packages: Sequence[Mapping[str, Any]] = (),
                    unmapped: Sequence[tuple[str, Any]] = ()) -> dict[str, Any]:
    """Vectorized core: per-finding arrays → the dotted columns of ``sh_findings_2_0``.

    ``f`` maps these keys to arrays of length ``n`` (or scalars):
    ``time`` (epoch ms, ASFF UpdatedAt; required), ``account``, ``region``, ``product`` (a key of
    :data:`PRODUCTS`), ``class_uid``, ``activity_id`` (1 Create, 2 Update), ``severity_id``, ``uid``,
    ``types`` (one ASFF type per row, or a ``pa.ListArray``), ``title``, ``desc``, ``created``,
    ``first_seen``, ``last_seen`` (epoch ms), ``status`` (``New``/``Notified``/``Resolved``/``Suppressed``),
    ``confidence``, ``src_url``, ``generator`` (ASFF GeneratorId → ``metadata.product.feature.uid``),
    ``remediation_desc``, ``remediation_url``; Compliance: ``control``, ``compliance_status``
    (PASSED/FAILED/WARNING/NOT_AVAILABLE), ``standard`` (one per row or ``pa.ListArray``),
    ``requirements`` (one per row or ``pa.ListArray``), ``status_detail``; Vulnerability (null ``cve`` =
    none): ``cve``, ``cvss_score``, ``cvss_vector``, ``cvss_version``, ``epss``, ``vuln_vendor``,
    ``fix_available``, ``exploit_available``, ``vuln_created``, ``vuln_modified``, ``vuln_desc``.

    ``resources``: slots of ``{type, uid, region, account, data (JSON string), criticality, partition}``
    (null ``uid`` = no resource in that slot); ``evidences``: slots keyed like :data:`EVIDENCE_FIELDS`
    plus a ``present`` array (null = no evidence in that slot); ``packages``: slots of
    :data:`PACKAGE_FIELDS` (null ``name`` = none) belonging to the row's vulnerability;
    ``unmapped``: ``(key, per-row string values)``.  Returns ``{dotted path: values}`` for
    :func:`~slake_forensics.sample.writer.build_table`.
    """
    g = f.get
    t = np.asarray(g("time"), dtype="int64")
    account, region = _arr(g("account"), n), _arr(g("region"), n)
    product = _arr(g("product", "GuardDuty"), n)
    class_uid = g("class_uid")
    if class_uid is None:
        class_uid = pd.Series(product).map({k: v[2] for k, v in PRODUCTS.items()}).to_numpy(dtype="int64")
    activity = np.broadcast_to(np.asarray(g("activity_id", 1), dtype="int64"), (n,))
    severity = np.broadcast_to(np.asarray(g("severity_id", 2), dtype="int64"), (n,))
    cols: dict[str, Any] = ocsf_class_columns(class_uid, activity, severity)
    slug = pd.Series(product).map({k: v[1] for k, v in PRODUCTS.items()}).to_numpy(dtype=object)
    vendor = pd.Series(product).map({k: v[0] for k, v in PRODUCTS.items()}).to_numpy(dtype=object)
    prod_arn = pc.binary_join_element_wise("arn:aws:securityhub:", pa.array(region, pa.string()), "::product/aws/",
                                           pa.array(slug, pa.string()), "")
    created = g("created", t)
    cols.update({
        "metadata.log_version": np.full(n, ASFF_VERSION, dtype=object),
        "metadata.product.name": product, "metadata.product.vendor_name": vendor, "metadata.product.uid": prod_arn,
        "metadata.product.feature.uid": _arr(g("generator"), n),
        "metadata.processed_time_dt": t + 1_000 + t % 4_000,
        "metadata.profiles": _str_list(n, pa.ListArray.from_arrays(pa.array(np.arange(0, 2 * n + 1, 2), pa.int32()),
                                                                   pa.array(np.tile(np.array(["cloud", "datetime"], dtype=object), n), pa.string()))),
        "time": t, "time_dt": t, "confidence_score": pa.array(_arr(g("confidence"), n), pa.int32(), from_pandas=True),
        "cloud.account.uid": account, "cloud.region": region, "cloud.provider": np.full(n, "AWS", dtype=object),
        "finding_info.uid": _arr(g("uid"), n), "finding_info.title": _arr(g("title"), n), "finding_info.desc": _arr(g("desc"), n),
        "finding_info.types": _str_list(n, g("types")), "finding_info.src_url": _arr(g("src_url"), n),
        "finding_info.created_time_dt": _ts(created, n), "finding_info.modified_time_dt": t,
        "finding_info.first_seen_time_dt": _ts(g("first_seen", created), n),
        "finding_info.last_seen_time_dt": _ts(g("last_seen", t), n),
        "status": _arr(g("status", "New"), n),
    })
    if g("remediation_desc") is not None or g("remediation_url") is not None:
        cols.update({"remediation.desc": _arr(g("remediation_desc"), n), "remediation.references": _str_list(n, g("remediation_url"))})
    if g("control") is not None:
        cols["compliance"] = _compliance(g, n)
    if g("cve") is not None:
        cols["vulnerabilities"] = _vulnerabilities(g, n, packages)
    classes = np.asarray(cols["class_uid"])
    detection = classes == 2004
    single_uid = np.full(n, None, dtype=object)
    if resources:  # Detection Finding: the list resources[]; Compliance and Vulnerability Finding: the first as `resource`
        single_uid = np.where(detection, NULL, _arr(resources[0].get("uid"), n))
        cols["resource"] = _single_resource(resources[0], single_uid, classes, n)
        resources = [{**s, "uid": np.where(detection, _arr(s.get("uid"), n), NULL)} for s in resources]
        offsets, r = ragged(n, [{k: s.get(k) for k in RESOURCE_FIELDS} for s in resources], "uid")
        listed = list_of_structs(offsets, {
            "type": r["type"], "uid": r["uid"], "region": r["region"], "data": r["data"], "criticality": r["criticality"],
            "cloud_partition": np.where(pd.notna(r["partition"]), r["partition"], "aws"), "owner.account.uid": r["account"]},
            _list_type("resources"))
        cols["resources"] = pc.if_else(pa.array(detection), listed, pa.nulls(n, listed.type))
    if evidences:
        offsets, e = ragged(n, [{"present": s["present"], **{k: s.get(k) for k in EVIDENCE_FIELDS}} for s in evidences], "present")
        fields = {path: e[k] for k, path in EVIDENCE_FIELDS.items() if pd.notna(e[k]).any()}
        for k in ("src_endpoint.port", "dst_endpoint.port"):
            if k in fields:
                fields[k] = pa.array(fields[k], pa.int32(), from_pandas=True)
        if "connection_info.direction" in fields:
            d = fields["connection_info.direction"]
            fields["connection_info.direction_id"] = pa.array(pd.Series(d).map(_DIRECTION_IDS).to_numpy(dtype=object), pa.int32(), from_pandas=True)
        listed = list_of_structs(offsets, fields, _list_type("evidences"))
        cols["evidences"] = pc.if_else(pa.array(detection), listed, pa.nulls(n, listed.type))
    cols["unmapped"] = string_map(n, list(unmapped))
    cols.update(partition_columns(account, region))
    cols["observables"] = _observables(n, single_uid, resources, evidences)
    return cols


def _compliance(g: Any, n: int) -> pa.StructArray:
    """The ``compliance`` struct, null on rows without a ``control``."""
    typ = SCHEMA.field("compliance").type
    has = pd.notna(_arr(g("control"), n))
    children = {"standards": _str_list(n, g("standard")), "requirements": _str_list(n, g("requirements")),
                "control": pa.array(_arr(g("control"), n), pa.string()), "status": pa.array(_arr(g("compliance_status"), n), pa.string()),
                "status_detail": pa.array(_arr(g("status_detail"), n), pa.string()), "status_code": pa.array(_arr(g("compliance_status"), n), pa.string())}
    return pa.StructArray.from_arrays([children[fl.name] for fl in typ], fields=list(typ), mask=pa.array(~has))


def _vulnerabilities(g: Any, n: int, packages: Sequence[Mapping[str, Any]]) -> pa.ListArray:
    """One ``vulnerabilities[]`` element per row that has a ``cve``, with its CVSS and packages."""
    cve = _arr(g("cve"), n)
    rows = np.flatnonzero(pd.notna(cve))
    m = len(rows)
    offsets = np.concatenate([[0], np.cumsum(pd.notna(cve))]).astype("int64")

    def sub(key: str, default: Any = None) -> np.ndarray:
        return _arr(g(key, default), n)[rows]

    score = np.asarray(pd.array(sub("cvss_score"), dtype="Float64").to_numpy(dtype="float64", na_value=np.nan)).round(1)
    cvss = pa.ListArray.from_arrays(pa.array(np.arange(m + 1), pa.int32()), pa.StructArray.from_arrays(
        [pa.array(score, pa.float64(), from_pandas=True).cast(pa.decimal128(3, 1)), pa.array(sub("cvss_vector"), pa.string()),
         pa.array(sub("cvss_version", "3.1"), pa.string())],
        fields=list(_list_type("vulnerabilities.cve.cvss").value_type)))
    p_off, p = ragged(n, [{k: s.get(k) for k in PACKAGE_FIELDS} for s in packages], "name") if packages else (np.zeros(n + 1, "int64"), {})
    pkg_counts = np.diff(p_off)[rows]
    pkg_offsets = np.concatenate([[0], np.cumsum(pkg_counts)]).astype("int64")
    pkg_fields = {k: v for k, v in p.items() if k != "epoch"}
    if "epoch" in p:
        pkg_fields["epoch"] = pa.array(p["epoch"], pa.int32(), from_pandas=True)
    pkgs = list_of_structs(pkg_offsets, pkg_fields, _list_type("vulnerabilities.affected_packages"))
    vendor = sub("vuln_vendor", "NVD")
    inner = {
        "cve.uid": sub("cve"), "cve.cvss": cvss, "cve.epss.score": sub("epss"),
        "cve.references": _str_list(m, pc.binary_join_element_wise("https://nvd.nist.gov/vuln/detail/", pa.array(sub("cve"), pa.string()), "")),
        "cve.created_time_dt": _ts(sub("vuln_created"), m), "cve.modified_time_dt": _ts(sub("vuln_modified"), m),
        "vendor_name": vendor, "affected_packages": pkgs,
        "is_fix_available": pa.array(sub("fix_available"), pa.bool_(), from_pandas=True),
        "is_exploit_available": pa.array(sub("exploit_available"), pa.bool_(), from_pandas=True),
        "remediation.desc": sub("vuln_desc"),
    }
    return list_of_structs(offsets, inner, _list_type("vulnerabilities"))


def _single_resource(first: Mapping[str, Any], uid: np.ndarray, classes: np.ndarray, n: int) -> pa.StructArray:
    """The ``resource`` struct of Compliance/Vulnerability rows (null where ``uid`` is; no criticality on 2002)."""
    typ = SCHEMA.field("resource").type
    part = _arr(first.get("partition"), n)
    values = {"type": _arr(first.get("type"), n), "uid": uid, "region": _arr(first.get("region"), n),
              "data": _arr(first.get("data"), n), "criticality": np.where(classes == 2002, NULL, _arr(first.get("criticality"), n)),
              "cloud_partition": np.where(pd.notna(part), part, "aws")}
    children = [pa.array(values[fl.name], fl.type, from_pandas=True) if fl.name in values else pa.nulls(n, fl.type) for fl in typ]
    return pa.StructArray.from_arrays(children, fields=list(typ), mask=pa.array(~pd.notna(uid)))


def _observables(n: int, single_uid: np.ndarray, resources: Sequence[Mapping[str, Any]],
                 evidences: Sequence[Mapping[str, Any]]) -> pa.ListArray:
    slots = [{"v": single_uid, "name": "resource.uid", "t": 10}]
    slots += [{"v": s.get("uid"), "name": "resources[].uid", "t": 10} for s in resources]
    for s in evidences:
        slots += [{"v": s.get("src_ip"), "name": "evidences[].src_endpoint.ip", "t": 2},
                  {"v": s.get("dst_ip"), "name": "evidences[].dst_endpoint.ip", "t": 2},
                  {"v": s.get("domain"), "name": "evidences[].query.hostname", "t": 1}]
    slots = [s for s in slots if s["v"] is not None]
    offsets, ob = ragged(n, slots, "v")
    return observables(offsets, ob.get("name", []), ob.get("v", []), np.asarray(ob.get("t", []), dtype="int64"),
                       SCHEMA.field("observables").type)


# ---------------------------------------------------------------------------------------------
# Stories: a short list of finding dicts → one table

def _ms(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    ts = pd.Timestamp(value)
    return int((ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")).value // 1_000_000)


def _json(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _default_uid(d: Mapping[str, Any], product: str, created: int) -> str:
    h = hashlib.sha256(json.dumps([d.get("account"), d.get("region"), d.get("type"), d.get("title"), created,
                                   [r.get("uid") for r in d.get("resources") or []]], default=str).encode()).hexdigest()
    account, region = d["account"], d["region"]
    if product == "GuardDuty":
        return guardduty_finding_uid(account, region, h[:32])
    if product == "Inspector":
        return f"arn:aws:inspector2:{region}:{account}:finding/{h[:32]}"
    if product == "Macie":
        return f"arn:aws:macie2:{region}:{account}:finding/{h[:32]}"
    control = (d.get("compliance") or {}).get("control", "finding")
    return f"arn:aws:securityhub:{region}:{account}:security-control/{control}/finding/{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def findings_table(findings: Sequence[Mapping[str, Any]]) -> pa.Table:
    """A ``sh_findings_2_0`` table (exact schema) with one row per finding dict, in list order.

    Keys of each dict (only ``time``, ``account``, ``region`` are required):

    * ``time``: ASFF ``UpdatedAt`` (epoch ms int, ISO string or Timestamp) → ``time``/``time_dt``/
      ``finding_info.modified_time_dt``;
    * ``account``, ``region``: where the finding lives (``cloud.*`` and the partition);
    * ``product``: ``"GuardDuty"`` (default), ``"Macie"``, ``"Inspector"``, ``"Security Hub"``;
    * ``class``: 2002/2003/2004; default from the product (Inspector 2002, Security Hub 2003, else 2004);
    * ``type``: a GuardDuty finding type (``Discovery:S3/MaliciousIPCaller``, converted by
      :func:`asff_type`) or an ASFF type (``TTPs/Discovery/Discovery:S3-MaliciousIPCaller``);
      ``types``: the whole ASFF ``Types[]`` list instead;
    * ``title``, ``desc``; ``severity``: label ``Informational``/``Low``/``Medium`` (default)/``High``/``Critical``;
    * ``resources``: list of ``{"type": "AwsEc2Instance", "uid": "…", "region", "account" (default the
      finding's), "data": dict (ASFF ``Details``, serialized) or JSON string, "criticality"}``;
    * ``evidences``: list of dicts with any of ``src_ip``, ``src_port``, ``src_country``, ``src_city``,
      ``api_operation``, ``api_service``, ``api_error``, ``domain`` (→ ``query.hostname``), ``dst_ip``,
      ``dst_port``, ``dst_country``, ``protocol`` (``TCP``/``UDP``), ``direction`` (``Inbound``/``Outbound``),
      ``process_name``, ``cmd_line``, ``data`` (dict or JSON string);
    * ``uid``: ASFF ``Id``; default a stable id in the product's format (GuardDuty
      ``arn:aws:guardduty:<region>:<account>:detector/<det>/finding/<32 hex>``, see :func:`guardduty_finding_uid`);
    * ``created`` (default ``time``), ``first_seen`` (default ``created``), ``last_seen`` (default ``time``);
    * ``activity``: ``"Create"``/``"Update"``; default Update when ``time`` is after ``created``;
    * ``status``: workflow status, default ``"New"``; ``confidence``: int → ``confidence_score``;
    * ``count``: GuardDuty ``service.count`` (default 1) → ``unmapped['ProductFields.aws/guardduty/service/count']``;
      ``action_type``: GuardDuty ``service.action.actionType`` (default from the type);
    * ``unmapped``: extra ``{key: value}`` ASFF leftovers;
    * ``compliance``: ``{"control": "S3.8", "status": "FAILED", "standards": [...], "requirements": [...],
      "status_detail": "…"}`` (Compliance findings);
    * ``vulnerability``: ``{"cve", "score", "vector", "version" ("3.1"), "epss", "vendor", "fix_available",
      "exploit_available", "created", "modified", "desc", "packages": [{name, version, fixed_in_version,
      package_manager, architecture, epoch, release}]}`` (Vulnerability findings);
    * ``remediation``: ``{"desc": "…", "url": "…"}``; ``src_url``; ``generator`` (ASFF GeneratorId; default
      the detector ARN for GuardDuty, ``AWSInspector``, ``aws-macie``, ``security-control/<control>``).

    ``finding_info.uid`` is the ASFF ``Id``, for answer keys.
    """
    n = len(findings)
    rows: list[dict[str, Any]] = []
    res_rows, ev_rows, pkg_rows, unm_rows = [], [], [], []
    for d in findings:
        product = d.get("product", "GuardDuty")
        t = _ms(d["time"])
        if t is None:
            raise ValueError(f"finding {d.get('uid') or d.get('title')!r} has no time")
        created = _ms(d.get("created")) if d.get("created") is not None else t
        assert created is not None
        ftype = d.get("type")
        comp = d.get("compliance") or {}
        vuln = d.get("vulnerability") or {}
        rem = d.get("remediation") or {}
        uid = d.get("uid") or _default_uid(d, product, created)
        generator = d.get("generator") or {"GuardDuty": detector_arn(d["account"], d["region"]), "Inspector": "AWSInspector",
                                           "Macie": "aws-macie"}.get(product, f"security-control/{comp.get('control', '')}")
        activity = {"Create": 1, "Update": 2, "Close": 3}[d.get("activity") or ("Update" if t > created else "Create")]
        src_url = d.get("src_url")
        if src_url is None and product == "GuardDuty":
            src_url = f"https://console.aws.amazon.com/guardduty/home?region={d['region']}#/findings?macros=current&fId={uid.rsplit('/', 1)[-1]}"
        sev = SEVERITY_IDS[d.get("severity", "Medium")]
        rows.append({
            "time": t, "account": d["account"], "region": d["region"], "product": product,
            "class_uid": d.get("class", PRODUCTS[product][2]), "activity_id": activity, "severity_id": sev, "uid": uid,
            "types": list(d.get("types") or [asff_type(ftype) if ftype else DEFAULT_TYPES.get(product)]), "title": d.get("title"), "desc": d.get("desc"),
            "created": created, "first_seen": _ms(d.get("first_seen")) or created, "last_seen": _ms(d.get("last_seen")) or t,
            "status": d.get("status", "New"), "confidence": d.get("confidence"), "src_url": src_url, "generator": generator,
            "remediation_desc": rem.get("desc"), "remediation_url": rem.get("url"),
            "control": comp.get("control"), "compliance_status": comp.get("status"), "standard": list(comp.get("standards") or []),
            "requirements": list(comp.get("requirements") or []), "status_detail": comp.get("status_detail"),
            "cve": vuln.get("cve"), "cvss_score": vuln.get("score"), "cvss_vector": vuln.get("vector"),
            "cvss_version": vuln.get("version", "3.1"), "epss": None if vuln.get("epss") is None else str(vuln["epss"]),
            "vuln_vendor": vuln.get("vendor", "NVD"), "fix_available": vuln.get("fix_available"),
            "exploit_available": vuln.get("exploit_available"), "vuln_created": _ms(vuln.get("created")),
            "vuln_modified": _ms(vuln.get("modified")), "vuln_desc": vuln.get("desc"),
        })
        res_rows.append([{**r, "account": r.get("account", d["account"]), "region": r.get("region", d["region"]),
                          "data": _json(r.get("data"))} for r in d.get("resources") or []])
        ev_rows.append([{**e, "present": True, "data": _json(e.get("data"))} for e in d.get("evidences") or []])
        pkg_rows.append(list(vuln.get("packages") or []))
        extra = {"RecordState": "ACTIVE", "Severity.Normalized": str(SEVERITY_NORMALIZED[sev]),
                 "ProductFields.aws/securityhub/ProductName": product,
                 "ProductFields.aws/securityhub/CompanyName": PRODUCTS[product][0]}
        if product == "GuardDuty":
            purpose_res = (ftype or "").split("/", 1)[0].split(":")[-1]
            action = d.get("action_type") or ("DNS_REQUEST" if (ftype or "").endswith("!DNS") else
                                              "PORT_PROBE" if "PortProbe" in (ftype or "") else
                                              ACTION_TYPES.get(purpose_res, "NETWORK_CONNECTION"))
            extra.update({"Severity.Product": SEVERITY_PRODUCT[sev], "ProductFields.aws/guardduty/service/count": str(d.get("count", 1)),
                          "ProductFields.aws/guardduty/service/archived": "false",
                          "ProductFields.aws/guardduty/service/action/actionType": action,
                          "ProductFields.aws/guardduty/service/serviceName": "guardduty"})
        extra.update({k: None if v is None else (v if isinstance(v, str) else _json(v) if isinstance(v, (dict, list)) else str(v))
                      for k, v in (d.get("unmapped") or {}).items()})
        unm_rows.append(extra)

    def column(key: str) -> Any:
        vals = [r[key] for r in rows]
        if key in ("types", "standard", "requirements", "remediation_url"):
            lists = [v if isinstance(v, list) else ([] if v is None else [v]) for v in vals]
            return pa.array(lists, pa.list_(pa.string()))
        return vals

    f = {k: column(k) for k in rows[0]} if rows else {}
    if f:
        f["time"] = np.array(f["time"], dtype="int64")
        for key in ("control", "cve", "remediation_desc", "remediation_url"):  # absent structs stay null
            if all(r[key] is None for r in rows):
                del f[key]
    else:
        f["time"] = np.empty(0, dtype="int64")
    resources = _slots(res_rows, RESOURCE_FIELDS, "uid")
    evidences = _slots(ev_rows, ("present", *EVIDENCE_FIELDS), "present")
    packages = _slots(pkg_rows, PACKAGE_FIELDS, "name")
    keys = sorted({k for u in unm_rows for k in u})
    unmapped = [(k, [u.get(k) for u in unm_rows]) for k in keys]
    cols = finding_columns(f, n, resources=resources, evidences=evidences, packages=packages, unmapped=unmapped)
    return build_table(SOURCES["sh_findings"], cols, n)


def _slots(per_row: Sequence[Sequence[Mapping[str, Any]]], fields: Sequence[str], key: str) -> list[dict[str, list]]:
    """Turn per-row lists of element dicts into slot dicts of per-row lists (``None`` where a row has fewer)."""
    width = max((len(x) for x in per_row), default=0)
    return [{f: [x[j].get(f) if j < len(x) else None for x in per_row] for f in fields} for j in range(width)]
