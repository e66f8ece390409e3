"""EKS / Kubernetes audit logs (JSON lines) → OCSF 1.1.0 API Activity 6003, as Security Lake v2 maps EKS audit."""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from slake_forensics.importers.unmapped import flatten_values
from slake_forensics.importers.record import Mapped, RejectRecord

KIND = "eks"
SUMMARY = "EKS / Kubernetes audit logs (JSON lines, or CloudWatch exports with the event in 'message'); needs --region"
READER = "json"

_VERBS = {"create": 1, "get": 2, "list": 2, "watch": 2, "update": 3, "patch": 3, "delete": 4, "deletecollection": 4}
_NAMES = {1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"}
_CONSUMED_TOP = {"apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user", "userAgent", "objectRef",
                 "responseStatus", "requestReceivedTimestamp", "stageTimestamp"}


def _ms(value: Any, what: str) -> int:
    try:
        return int(datetime.fromisoformat(str(value)).timestamp() * 1000)
    except ValueError:
        raise RejectRecord(f"{what} {value!r} is not an ISO 8601 time") from None


def map_record(raw: dict[str, Any], options: Mapping[str, str]) -> Mapped:
    """Map one Kubernetes audit event to an ``eks_audit`` row.

    Parameters
    ----------
    raw
        An ``audit.k8s.io/v1`` Event, or a CloudWatch Logs export record whose ``message`` is that event as text.
    options
        ``region`` (required: an audit event does not name it) and ``account`` (else taken from the IAM ARN the
        EKS authenticator put in ``user.extra.arn``).

    Returns
    -------
    Mapped
        Source ``eks_audit``.

    Examples
    --------
    >>> map_record(event, {"region": "us-east-1", "account": "123456789012"}).row["api.operation"]  # doctest: +SKIP
    'create'
    """
    if "verb" not in raw and isinstance(raw.get("message"), str):
        try:
            raw = json.loads(raw["message"])
        except json.JSONDecodeError:
            raise RejectRecord("'message' is not a JSON Kubernetes audit event") from None
    if "verb" not in raw:
        raise RejectRecord("not a Kubernetes audit event (no 'verb')")
    ts = raw.get("stageTimestamp") or raw.get("requestReceivedTimestamp")
    if not ts:
        raise RejectRecord("no 'stageTimestamp' or 'requestReceivedTimestamp': an audit event needs its time")
    time = _ms(ts, "stageTimestamp")
    user = raw.get("user") or {}
    extra = user.get("extra") or {}
    arn = (extra.get("arn") or [""])[0]
    account = options.get("account") or (arn.split(":")[4] if arn.count(":") >= 5 else "")
    region = options.get("region")
    if not account or not region:
        raise RejectRecord("a Kubernetes audit event names no AWS account/region: pass --region (and --account "
                           "unless the event carries an IAM ARN)")
    verb = str(raw["verb"])
    activity_id = _VERBS.get(verb, 99)
    ref = raw.get("objectRef") or {}
    status = raw.get("responseStatus") or {}
    code = status.get("code")
    ips = raw.get("sourceIPs") or []
    row: dict[str, Any] = {
        "metadata.product.name": "Amazon EKS", "metadata.product.vendor_name": "AWS",
        "metadata.product.feature.name": "Elastic Kubernetes Service",
        "metadata.product.version": raw.get("apiVersion"), "metadata.log_level": raw.get("level"),
        "metadata.profiles": ["cloud", "datetime"], "metadata.version": "1.1.0",
        "cloud.account.uid": account, "cloud.provider": "AWS",
        "actor.user.name": user.get("username"), "actor.user.uid": user.get("uid"), "actor.user.type_id": 0,
        "actor.user.groups": [{"name": g} for g in user.get("groups") or []],
        "actor.session.credential_uid": (extra.get("accessKeyId") or [None])[0],
        "actor.session.issuer": (extra.get("canonicalArn") or [None])[0],
        "actor.session.uid": (extra.get("sessionName") or [None])[0],
        "api.operation": verb, "api.request.uid": raw.get("auditID"), "api.version": ref.get("apiVersion"),
        "api.group.name": ref.get("apiGroup"), "api.response.code": code,
        "api.response.error": status.get("reason") if isinstance(code, int) and code >= 400 else None,
        "api.response.error_message": status.get("message") if isinstance(code, int) and code >= 400 else None,
        "http_request.url.path": raw.get("requestURI"), "http_request.user_agent": raw.get("userAgent"),
        "src_endpoint.ip": ips[0] if ips else None, "src_endpoint.intermediate_ips": ips[1:] or None,
        "message": raw.get("stage"), "time": time, "time_dt": time,
        "start_time_dt": _ms(raw["requestReceivedTimestamp"], "requestReceivedTimestamp")
        if raw.get("requestReceivedTimestamp") else None,
        "severity_id": 1, "severity": "Informational", "class_name": "API Activity", "class_uid": 6003,
        "category_name": "Application Activity", "category_uid": 6, "activity_id": activity_id,
        "activity_name": _NAMES[activity_id], "type_uid": 600300 + activity_id,
        "type_name": f"API Activity: {_NAMES[activity_id]}",
    }
    if ref.get("resource"):
        row["resources"] = [{"name": ref.get("name"), "type": ref.get("resource"), "namespace": ref.get("namespace"),
                             "uid": ref.get("uid"), "version": ref.get("resourceVersion")}]
    flat: dict[str, list[str]] = {}
    flatten_values("", {k: v for k, v in raw.items() if k not in _CONSUMED_TOP}, flat)
    leftover = {k: v for k, v in (user.get("extra") or {}).items() if k not in ("arn", "accessKeyId", "canonicalArn",
                                                                               "sessionName")}
    flatten_values("user.extra", leftover, flat)
    flatten_values("objectRef", {k: v for k, v in ref.items() if k not in ("resource", "name", "namespace", "uid",
                                                                     "resourceVersion", "apiVersion", "apiGroup")}, flat)
    flatten_values("responseStatus", {k: v for k, v in status.items() if k not in ("code", "reason", "message")}, flat)
    row["unmapped"] = {k: ",".join(v) for k, v in flat.items()}
    obs = [("actor.user.name", "User Name", 4, user.get("username")), ("src_endpoint.ip", "IP Address", 2,
           row["src_endpoint.ip"]), ("http_request.url.path", "URL String", 6, raw.get("requestURI"))]
    row["observables"] = [{"name": n, "type": t, "type_id": i, "value": str(v)} for n, t, i, v in obs if v]
    return Mapped("eks_audit", account, region, {k: v for k, v in row.items() if v is not None})
