"""Route 53 Resolver query logs (JSON lines) → OCSF 1.1.0 DNS Activity 4003, as Security Lake v2 maps them."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from slake_forensics.importers.record import Mapped, RejectRecord

KIND = "route53"
SUMMARY = "Route 53 Resolver query logs (JSON lines, .gz or plain), DNS Firewall matches included"
READER = "json"

_RCODES = {"NOERROR": (0, "NoError"), "FORMERR": (1, "FormError"), "SERVFAIL": (2, "ServError"),
           "NXDOMAIN": (3, "NXDomain"), "NOTIMP": (4, "NotImp"), "REFUSED": (5, "Refused"), "YXDOMAIN": (6, "YXDomain"),
           "YXRRSET": (7, "YXRRSet"), "NXRRSET": (8, "NXRRSet"), "NOTAUTH": (9, "NotAuth"), "NOTZONE": (10, "NotZone")}
# DNS Firewall rule action -> (action_id, action, disposition)
_FIREWALL = {"ALERT": (1, "Allowed", "Alert"), "BLOCK": (2, "Denied", "Blocked"), "ALLOW": (1, "Allowed", "Allowed")}
_CONSUMED = {"version", "account_id", "region", "vpc_id", "query_timestamp", "query_name", "query_type", "query_class",
             "rcode", "answers", "srcaddr", "srcport", "transport", "srcids", "firewall_rule_action",
             "firewall_rule_group_id"}


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}", v, out)
    else:
        out[prefix] = "" if value is None else str(value)


def map_record(raw: dict[str, Any], options: Mapping[str, str]) -> Mapped:
    """Map one Resolver query log record to a ``route53`` row.

    Parameters
    ----------
    raw
        One query log record as delivered by Route 53 Resolver query logging.
    options
        ``account`` / ``region`` used only when the record lacks ``account_id`` / ``region``.

    Returns
    -------
    Mapped
        Source ``route53``, partitioned by the record's ``account_id`` and ``region``.

    Examples
    --------
    >>> map_record({"account_id": "123456789012", "region": "us-east-1", "query_timestamp": "2022-10-13T21:02:36Z",
    ...             "query_name": "example.com.", "rcode": "NOERROR"}, {}).source
    'route53'
    """
    ts = raw.get("query_timestamp")
    if not ts:
        raise RejectRecord("no 'query_timestamp': a Resolver query log record needs its time")
    try:
        ms = int(datetime.fromisoformat(str(ts)).timestamp() * 1000)
    except ValueError:
        raise RejectRecord(f"'query_timestamp' {ts!r} is not an ISO 8601 time") from None
    account = raw.get("account_id") or options.get("account")
    region = raw.get("region") or options.get("region")
    if not account or not region:
        raise RejectRecord("record has no account_id/region: pass --account and --region")
    rc = str(raw.get("rcode") or "")
    rcode_id, rcode = _RCODES.get(rc.upper(), (99, rc or "Other")) if rc else (None, None)
    srcids = raw.get("srcids") or {}
    port = raw.get("srcport")
    answers = [{"type": a.get("Type"), "rdata": a.get("Rdata"), "class": a.get("Class")} for a in raw.get("answers") or []]
    row: dict[str, Any] = {
        "metadata.product.name": "Route 53", "metadata.product.vendor_name": "AWS",
        "metadata.product.feature.name": "Resolver Query Logs", "metadata.product.version": str(raw.get("version", "")),
        "metadata.profiles": ["cloud", "security_control", "datetime"], "metadata.version": "1.1.0",
        "cloud.account.uid": str(account), "cloud.region": str(region), "cloud.provider": "AWS",
        "src_endpoint.vpc_uid": raw.get("vpc_id"), "src_endpoint.ip": raw.get("srcaddr"),
        "src_endpoint.port": int(port) if port not in (None, "", "-") else None,
        "src_endpoint.instance_uid": srcids.get("instance"),
        "dst_endpoint.instance_uid": srcids.get("resolver_endpoint"),
        "dst_endpoint.interface_uid": srcids.get("resolver_network_interface"),
        "time": ms, "time_dt": ms,
        "query.hostname": raw.get("query_name"), "query.type": raw.get("query_type"), "query.class": raw.get("query_class"),
        "answers": answers, "connection_info.protocol_name": raw.get("transport"),
        "connection_info.direction": "Unknown", "connection_info.direction_id": 0,
        "rcode_id": rcode_id, "rcode": rcode,
        "severity_id": 1, "severity": "Informational", "class_name": "DNS Activity", "class_uid": 4003,
        "category_name": "Network Activity", "category_uid": 4, "activity_id": 6, "activity_name": "Traffic",
        "type_uid": 400306, "type_name": "DNS Activity: Traffic",
    }
    fw = raw.get("firewall_rule_action")
    if fw:
        action_id, action, disposition = _FIREWALL.get(str(fw).upper(), (99, "Other", str(fw)))
        row.update({"action_id": action_id, "action": action, "disposition": disposition,
                    "firewall_rule.uid": raw.get("firewall_rule_group_id")})
    unmapped: dict[str, str] = {}
    for k, v in raw.items():
        if k not in _CONSUMED:
            _flatten(k, v, unmapped)
    for k, v in srcids.items():
        if k not in ("instance", "resolver_endpoint", "resolver_network_interface"):
            _flatten(f"srcids.{k}", v, unmapped)
    row["unmapped"] = unmapped
    obs = [("query.hostname", "Hostname", 1, raw.get("query_name")), ("src_endpoint.ip", "IP Address", 2, raw.get("srcaddr")),
           ("dst_endpoint.instance_uid", "Resource UID", 10, srcids.get("resolver_endpoint"))]
    obs += [("answers[].rdata", "IP Address", 2, a["rdata"]) for a in answers if a["type"] in ("A", "AAAA")]
    row["observables"] = [{"name": n, "type": t, "type_id": i, "value": str(v)} for n, t, i, v in obs if v]
    return Mapped("route53", str(account), str(region), row)
