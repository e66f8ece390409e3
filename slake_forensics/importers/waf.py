"""AWS WAF logs (JSON lines) → OCSF 1.1.0 HTTP Activity 4002, as Security Lake v2 maps them."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from slake_forensics.importers.unmapped import flatten_values
from slake_forensics.importers.record import Mapped, RejectRecord

KIND = "waf"
SUMMARY = "AWS WAF web ACL logs (JSON lines, .gz or plain)"
READER = "json"

_METHODS = {"CONNECT": 1, "DELETE": 2, "GET": 3, "HEAD": 4, "OPTIONS": 5, "POST": 6, "PUT": 7, "TRACE": 8}
# raw keys (flattened, lists as ``[]``) the mapping consumes; everything else goes to unmapped
_CONSUMED = {"timestamp", "formatVersion", "webaclId", "terminatingRuleId", "terminatingRuleType", "action",
             "terminatingRuleMatchDetails[].conditionType", "terminatingRuleMatchDetails[].location",
             "terminatingRuleMatchDetails[].matchedData[]", "httpSourceName", "httpSourceId",
             "rateBasedRuleList[].maxRateAllowed", "responseCodeSent", "httpRequest.clientIp", "httpRequest.country",
             "httpRequest.headers[].name", "httpRequest.headers[].value", "httpRequest.uri", "httpRequest.args",
             "httpRequest.httpVersion", "httpRequest.httpMethod", "httpRequest.requestId", "labels[].name"}


def map_record(raw: dict[str, Any], options: Mapping[str, str]) -> Mapped:
    """Map one WAF log record to a ``waf`` row.

    Parameters
    ----------
    raw
        One WAF log record (``timestamp`` epoch ms, ``webaclId`` ARN, ``httpRequest``, …).
    options
        ``account`` / ``region`` used when the web ACL ARN does not give them (``region`` is required for
        CloudFront web ACLs, whose ARN names ``global``).

    Returns
    -------
    Mapped
        Source ``waf``, partitioned by the web ACL's account and region.

    Examples
    --------
    >>> map_record(json.loads(line), {}).row["class_uid"]  # doctest: +SKIP
    4002
    """
    ts = raw.get("timestamp")
    if not isinstance(ts, int):
        raise RejectRecord("no integer 'timestamp' (epoch ms): a WAF log record needs its time")
    arn = str(raw.get("webaclId") or "").split(":")
    account = (arn[4] if len(arn) > 5 else "") or options.get("account")
    region = (arn[3] if len(arn) > 5 and arn[3] != "global" else "") or options.get("region")
    if not account or not region:
        raise RejectRecord("the webaclId ARN gives no account/region (CloudFront ACLs are 'global'): pass --region "
                           "(and --account)")
    req = raw.get("httpRequest") or {}
    headers = [{"name": h.get("name"), "value": h.get("value")} for h in req.get("headers") or []]
    hv = {str(h["name"]).lower(): h["value"] for h in headers}
    method = str(req.get("httpMethod") or "")
    activity_id = _METHODS.get(method.upper(), 99)
    activity = method.capitalize() if activity_id != 99 else "Other"
    action = str(raw.get("action") or "")
    allowed = action in ("ALLOW", "COUNT")
    details = (raw.get("terminatingRuleMatchDetails") or [{}])[0] if raw.get("terminatingRuleMatchDetails") else {}
    rates = raw.get("rateBasedRuleList") or []
    row: dict[str, Any] = {
        "metadata.product.name": "AWS WAF", "metadata.product.vendor_name": "AWS",
        "metadata.product.feature.uid": raw.get("webaclId"), "metadata.product.version": str(raw.get("formatVersion", "")),
        "metadata.profiles": ["cloud", "security_control", "datetime"], "metadata.version": "1.1.0",
        "metadata.labels": [lb.get("name") for lb in raw.get("labels") or []] or None,
        "cloud.provider": "AWS", "time": ts, "time_dt": ts,
        "src_endpoint.ip": req.get("clientIp"), "src_endpoint.location.country": req.get("country"),
        "src_endpoint.svc_name": raw.get("httpSourceName"), "src_endpoint.uid": raw.get("httpSourceId"),
        "http_request.args": req.get("args"), "http_request.http_headers": headers,
        "http_request.http_method": method or None, "http_request.uid": req.get("requestId"),
        "http_request.url.hostname": hv.get("host"), "http_request.url.path": req.get("uri"),
        "http_request.user_agent": hv.get("user-agent"), "http_request.version": req.get("httpVersion"),
        "http_request.referrer": hv.get("referer"),
        "http_request.x_forwarded_for": [v.strip() for v in hv["x-forwarded-for"].split(",")]
        if "x-forwarded-for" in hv else None,
        "http_status": raw.get("responseCodeSent"),
        "firewall_rule.uid": raw.get("terminatingRuleId"), "firewall_rule.type": raw.get("terminatingRuleType"),
        "firewall_rule.condition": details.get("conditionType"), "firewall_rule.match_location": details.get("location"),
        "firewall_rule.match_details": details.get("matchedData"),
        "firewall_rule.rate_limit": rates[0].get("maxRateAllowed") if rates else None,
        "action_id": 1 if allowed else 2, "action": "Allowed" if allowed else "Denied",
        "disposition_id": 1 if allowed else 2, "disposition": "Allowed" if allowed else "Blocked",
        "severity_id": 1, "severity": "Informational", "class_name": "HTTP Activity", "class_uid": 4002,
        "category_name": "Network Activity", "category_uid": 4, "activity_id": activity_id, "activity_name": activity,
        "type_uid": 400200 + activity_id, "type_name": f"HTTP Activity: {activity}",
    }
    flat: dict[str, list[str]] = {}
    flatten_values("", raw, flat)
    if details:  # only the first terminating match is mapped; the others stay in unmapped
        for extra in raw["terminatingRuleMatchDetails"][1:]:
            for k, v in extra.items():
                flat.setdefault(f"terminatingRuleMatchDetails[].{k}", []).append(json.dumps(v))
    row["unmapped"] = {k: v[0] if len(v) == 1 else json.dumps(v) for k, v in flat.items() if k not in _CONSUMED}
    obs = [("httpRequest.headers[].value", "Hostname", 1, hv.get("host")), ("src_endpoint.ip", "IP Address", 2,
           req.get("clientIp")), ("firewall_rule.uid", "Resource UID", 2, raw.get("terminatingRuleId")),
           ("src_endpoint.uid", "Resource UID", 2, raw.get("httpSourceId"))]
    row["observables"] = [{"name": n, "type": t, "type_id": i, "value": str(v)} for n, t, i, v in obs if v]
    return Mapped("waf", account, region, {k: v for k, v in row.items() if v is not None})
