"""CloudTrail importer: one raw CloudTrail record → one Security Lake v2 (OCSF 1.1.0) row.

Management events go to ``cloud_trail_mgmt``, S3 data events to ``s3_data`` and Lambda ``Invoke`` data events to
``lambda_execution``. Classes follow Security Lake (see ``real_lake_facts.md`` §3): Authentication 3002 for sign-ins
and role assumption, Account Change 3001 for IAM identity changes, API Activity 6003 for everything else.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from slake_forensics.core.catalog import vocabulary
from slake_forensics.sample.cloudtrail import ACCOUNT_CHANGE, VERB_ACTIVITY
from slake_forensics.importers.record import Mapped, RejectRecord

KIND = "cloudtrail"
SUMMARY = "AWS CloudTrail records (S3 delivery, CloudTrail Lake NDJSON, Logstash/Elastic JSON) → OCSF 1.1.0"
READER = "json"

#: Role assumption: Authentication Logon whose ``user`` is the assumed role (facts §3).
ASSUME_EVENTS = frozenset(("AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"))
#: eventNames Security Lake maps to Authentication (3002) with their activity_id (CheckMfa: 99 Other).
AUTH_ACTIVITY = {"ConsoleLogin": 1, "CheckMfa": 99, **dict.fromkeys(ASSUME_EVENTS, 1),
                 **dict.fromkeys(("ExternalIdPDirectoryLogin", "UserAuthentication", "CredentialChallenge",
                                  "CredentialVerification"), 1)}

_VOC = vocabulary()

#: Raw top-level keys the mapping consumes; every other key lands in ``unmapped``.
_CONSUMED = frozenset((
    "eventTime", "eventName", "eventSource", "eventVersion", "eventID", "eventType", "eventCategory", "awsRegion",
    "sourceIPAddress", "userAgent", "requestID", "requestParameters", "responseElements", "errorCode",
    "errorMessage", "vpcEndpointId", "resources", "apiVersion", "@timestamp",
))
_TOP_CONSUMED = _CONSUMED | {"userIdentity", "additionalEventData"}
_IDENTITY_CONSUMED = frozenset(("type", "arn", "principalId", "accountId", "accessKeyId", "userName", "invokedBy",
                                "sessionContext", "identityProvider"))
_AED_CONSUMED = frozenset(("LoginTo", "MFAUsed"))


def _class_info(class_uid: int, activity_id: int) -> dict[str, Any]:
    c = _VOC[class_uid]
    return {
        "class_uid": class_uid, "class_name": c["name"], "category_uid": c["category_uid"],
        "category_name": c["category_name"], "activity_id": activity_id,
        "activity_name": c["activity_id"][activity_id], "type_uid": class_uid * 100 + activity_id,
        "type_name": f"{c['name']}: {c['activity_id'][activity_id]}", "severity_id": 1,
        "severity": c["severity_id"][1], "metadata.version": "1.1.0",
    }


_CLASS_CACHE: dict[tuple[int, int], dict[str, Any]] = {}


def _classification(name: str, request: Any) -> dict[str, Any]:
    if name in AUTH_ACTIVITY:
        key = (3002, AUTH_ACTIVITY[name])
    elif name in ACCOUNT_CHANGE:
        act = ACCOUNT_CHANGE[name]
        if name == "UpdateAccessKey" and isinstance(request, dict) and request.get("status") == "Inactive":
            act = 5
        key = (3001, act)
    else:
        i = 1
        while i < len(name) and not name[i].isupper():
            i += 1
        key = (6003, VERB_ACTIVITY.get(name[:i], 99))
    info = _CLASS_CACHE.get(key)
    if info is None:
        info = _CLASS_CACHE[key] = _class_info(*key)
    return info


def _dumps(value: Any) -> str:
    """Compact JSON text as orjson writes it; integers beyond 64 bits (which orjson refuses) through ``json``."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        dot = prefix + "."
        for k, v in value.items():
            if isinstance(v, str):  # most leaves: no call
                out[dot + k] = v
            elif isinstance(v, dict):
                _flatten(dot + k, v, out)
            elif v is not None:
                out[dot + k] = _dumps(v)
    elif value is not None:
        out[prefix] = value if isinstance(value, str) else _dumps(value)


def _epoch_ms(text: Any, what: str) -> int:
    if not isinstance(text, str):
        raise RejectRecord(f"{what} is {text!r}, not an ISO 8601 text; give each record its eventTime")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise RejectRecord(f"{what} {text!r} is not an ISO 8601 time such as 2024-05-01T12:00:00Z") from None
    if when.tzinfo is None:  # CloudTrail Lake exports: "2024-05-01 12:00:00.000", UTC without a zone
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def _json(value: Any) -> str | None:
    return None if value is None else _dumps(value)


def unmapped_of(raw: dict[str, Any], class_uid: int) -> dict[str, str]:
    """The ``unmapped`` map of a raw CloudTrail record: every leaf the mapping does not consume, as Security Lake
    writes them (dotted keys; texts as they are, other values as compact JSON; nulls left out).

    Keys the mapping consumes may already be missing from ``raw`` (the column-wise path drops them in SQL first).

    Parameters
    ----------
    raw : dict
        One raw CloudTrail record (or that record without keys the mapping consumes).
    class_uid : int
        The record's OCSF class: ``additionalEventData.LoginTo`` / ``MFAUsed`` are consumed only by Authentication.

    Returns
    -------
    dict[str, str]
        In Security Lake's order: session issuer, web identity federation, other session context, other identity
        keys, ``additionalEventData``, then top-level keys.

    Examples
    --------
    >>> unmapped_of({"eventName": "GetObject", "readOnly": True, "tlsDetails": {"tlsVersion": "TLSv1.3"},
    ...              "userIdentity": {"arn": "a", "onBehalfOf": {"userId": "u"}}}, 6003)
    {'userIdentity.onBehalfOf.userId': 'u', 'readOnly': 'true', 'tlsDetails.tlsVersion': 'TLSv1.3'}
    """
    unmapped: dict[str, str] = {}
    ident = raw.get("userIdentity") or {}
    ctx = ident.get("sessionContext")
    if isinstance(ctx, dict):
        issuer = ctx.get("sessionIssuer")
        if isinstance(issuer, dict):
            for k, v in issuer.items():
                if k != "arn":
                    _flatten(f"userIdentity.sessionContext.sessionIssuer.{k}", v, unmapped)
        web = ctx.get("webIdFederationData")
        if isinstance(web, dict) and web.get("federatedProvider"):
            web = {k: v for k, v in web.items() if k != "federatedProvider"}
        if web is not None:
            _flatten("userIdentity.sessionContext.webIdFederationData", web, unmapped)
        for k, v in ctx.items():
            if k not in ("sessionIssuer", "attributes", "webIdFederationData"):
                _flatten(f"userIdentity.sessionContext.{k}", v, unmapped)
    for k, v in ident.items():
        if k not in _IDENTITY_CONSUMED:
            _flatten(f"userIdentity.{k}", v, unmapped)
    aed = raw.get("additionalEventData")
    if isinstance(aed, dict):
        for k, v in aed.items():
            if class_uid != 3002 or k not in _AED_CONSUMED:
                _flatten(f"additionalEventData.{k}", v, unmapped)
    for k, v in raw.items():
        if k not in _TOP_CONSUMED:
            if isinstance(v, str):  # most unmapped top-level keys are plain texts: no call, no f-string
                unmapped[k] = v
            elif isinstance(v, dict):
                _flatten(k, v, unmapped)
            elif v is not None:
                unmapped[k] = _dumps(v)
    return unmapped


#: Keys of a record and of its ``userIdentity`` that CloudTrail writes as text (a number there is turned into text).
_TEXT_KEYS = frozenset((
    "eventVersion", "eventSource", "eventName", "awsRegion", "sourceIPAddress", "userAgent", "errorCode",
    "errorMessage", "requestID", "eventID", "eventType", "apiVersion", "recipientAccountId", "sharedEventID",
    "vpcEndpointId", "vpcEndpointAccountId", "eventCategory", "type", "principalId", "arn", "accountId", "accessKeyId",
    "userName", "invokedBy", "identityProvider", "credentialId",
))
_ACCOUNT_KEYS = frozenset(("recipientAccountId", "accountId", "vpcEndpointAccountId"))


def _texts(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with numbers where CloudTrail writes text (:data:`_TEXT_KEYS`) turned back into text.

    Logstash/Elastic exports may hold ``"eventVersion": 1.08`` or ``"recipientAccountId": 12345678901``; a number
    becomes its JSON text, and an account id its 12 digits (a number has lost the leading zeros). The record is
    returned as is when it has none (the usual case), else a copy.

    Examples
    --------
    >>> _texts({"eventVersion": 1.08, "recipientAccountId": 12345678901, "readOnly": True})
    {'eventVersion': '1.08', 'recipientAccountId': '012345678901', 'readOnly': True}
    """
    def fixed(d: dict[str, Any]) -> dict[str, Any]:
        numbers = [k for k, v in d.items() if k in _TEXT_KEYS and isinstance(v, int | float) and not isinstance(v, bool)]
        if not numbers:
            return d
        d = dict(d)
        for k in numbers:
            v = d[k]
            d[k] = f"{v:012d}" if k in _ACCOUNT_KEYS and isinstance(v, int) and 0 <= v < 10**12 else orjson.dumps(v).decode()
        return d

    out = fixed(raw)
    ident = out.get("userIdentity")
    if isinstance(ident, dict) and (new := fixed(ident)) is not ident:
        out = {**out, "userIdentity": new}
    return out


def status_of(class_uid: int, error: Any, response: Any) -> str:
    """The OCSF ``status`` of a CloudTrail event, as Security Lake sets it.

    An authentication event (class 3002) takes ``responseElements.ConsoleLogin`` when that says ``Success`` or
    ``Failure`` and is ``Other`` otherwise; any other event fails when it has an ``errorCode``.

    Parameters
    ----------
    class_uid : int
        The event's OCSF class.
    error, response
        The record's ``errorCode`` and ``responseElements``.

    Returns
    -------
    str
        ``"Success"``, ``"Failure"`` or ``"Other"``.

    Examples
    --------
    >>> status_of(3005, "AccessDenied", None), status_of(3002, None, {"ConsoleLogin": "Failure"})
    ('Failure', 'Failure')
    >>> status_of(3002, None, None)
    'Other'
    """
    if class_uid == 3002:
        login = response.get("ConsoleLogin") if isinstance(response, dict) else None
        return login if login in ("Success", "Failure") else "Other"
    return "Failure" if error else "Success"


def table_of(category: Any, source: Any, name: Any) -> str:
    """The Security Lake table of a CloudTrail event: S3 and Lambda-invoke data events have their own.

    Parameters
    ----------
    category, source, name
        The record's ``eventCategory``, ``eventSource`` and ``eventName``.

    Returns
    -------
    str
        ``"s3_data"``, ``"lambda_execution"`` or ``"cloud_trail_mgmt"``.

    Examples
    --------
    >>> table_of("Data", "s3.amazonaws.com", "GetObject"), table_of(None, "iam.amazonaws.com", "CreateUser")
    ('s3_data', 'cloud_trail_mgmt')
    >>> table_of("Data", "lambda.amazonaws.com", "Invoke")
    'lambda_execution'
    """
    if category == "Data":
        if source == "s3.amazonaws.com":
            return "s3_data"
        if source == "lambda.amazonaws.com" and name == "Invoke":
            return "lambda_execution"
    return "cloud_trail_mgmt"


def map_record(raw: dict[str, Any], options: Mapping[str, str]) -> Mapped:
    """Map one raw CloudTrail record to a Security Lake v2 row.

    Parameters
    ----------
    raw : dict
        One CloudTrail record as CloudTrail writes it (``eventTime``, ``eventName``, ``userIdentity``, ...).
        Logstash/Elastic records without ``eventTime`` may carry ``@timestamp`` instead.
    options : Mapping[str, str]
        ``account`` / ``region`` are fallbacks for the partition when the record carries neither.

    Returns
    -------
    Mapped
        The row for ``cloud_trail_mgmt``, ``s3_data`` or ``lambda_execution``.

    Raises
    ------
    RejectRecord
        If the record has no eventName or no event time.

    Examples
    --------
    >>> m = map_record({"eventTime": "2024-05-01T12:00:00Z", "eventName": "CreateUser",
    ...                 "eventSource": "iam.amazonaws.com", "awsRegion": "us-east-1",
    ...                 "recipientAccountId": "111122223333"}, {})
    >>> (m.source, m.row["class_uid"], m.row["activity_id"])
    ('cloud_trail_mgmt', 3001, 1)
    """
    raw = _texts(raw)
    name = raw.get("eventName")
    if not isinstance(name, str) or not name:
        raise RejectRecord("no eventName: this does not look like a CloudTrail record")
    when = raw.get("eventTime")
    if when is None:
        when = raw.get("@timestamp")
        if when is None:
            raise RejectRecord(f"{name}: no eventTime (nor @timestamp); cannot place the record in time")
    t = _epoch_ms(when, "eventTime")
    source = raw.get("eventSource")
    request = raw.get("requestParameters")
    response = raw.get("responseElements")
    ident = raw.get("userIdentity") or {}
    aed = raw.get("additionalEventData")
    error = raw.get("errorCode")
    category = raw.get("eventCategory")
    table = table_of(category, source, name)
    row: dict[str, Any] = dict(_classification(name, request))
    class_uid = row["class_uid"]
    region = raw.get("awsRegion") or options.get("region") or ""
    account = raw.get("recipientAccountId") or ident.get("accountId") or options.get("account") or ""

    row["time"] = row["time_dt"] = t
    row["metadata.product.name"] = "CloudTrail"
    row["metadata.product.vendor_name"] = "AWS"
    row["metadata.product.version"] = raw.get("eventVersion")
    row["metadata.product.feature.name"] = category or "Management, Data, and Insights"
    row["metadata.uid"] = raw.get("eventID")
    row["metadata.event_code"] = raw.get("eventType")
    row["metadata.profiles"] = ["cloud", "datetime"]
    row["cloud.provider"] = "AWS"
    row["cloud.region"] = region
    row["api.operation"] = name
    row["api.service.name"] = source
    row["api.version"] = raw.get("apiVersion")
    row["api.request.uid"] = raw.get("requestID", "''" if name == "ConsoleLogin" else None)
    row["api.request.data"] = _json(request)
    row["api.response.data"] = _json(response)
    row["api.response.error"] = error
    row["api.response.message"] = raw.get("errorMessage")
    row["http_request.user_agent"] = raw.get("userAgent")
    src = raw.get("sourceIPAddress")
    if isinstance(src, str) and (src.endswith(".amazonaws.com") or src == "AWS Internal"):
        row["src_endpoint.domain"] = src
    else:
        row["src_endpoint.ip"] = src
    row["src_endpoint.uid"] = raw.get("vpcEndpointId")

    user_arn = ident.get("arn")
    user_name = ident.get("userName")
    row["actor.user.type"] = ident.get("type")
    row["actor.user.uid"] = user_arn
    row["actor.user.uid_alt"] = ident.get("principalId")
    row["actor.user.account.uid"] = ident.get("accountId")
    row["actor.user.credential_uid"] = ident.get("accessKeyId")
    row["actor.invoked_by"] = ident.get("invokedBy")
    ctx = ident.get("sessionContext")
    if isinstance(ctx, dict):
        issuer = ctx.get("sessionIssuer")
        if isinstance(issuer, dict):
            row["actor.session.issuer"] = issuer.get("arn")
        attrs = ctx.get("attributes")
        if isinstance(attrs, dict):
            created = attrs.get("creationDate")
            if created:
                row["actor.session.created_time_dt"] = _epoch_ms(created, "sessionContext.attributes.creationDate")
            mfa = attrs.get("mfaAuthenticated")
            if mfa is not None:
                row["actor.session.is_mfa"] = mfa == "true" or mfa is True
        web = ctx.get("webIdFederationData")
        if isinstance(web, dict) and web.get("federatedProvider"):
            row["actor.idp.name"] = web["federatedProvider"]
    row["actor.user.name"] = user_name
    if ident.get("identityProvider"):
        row["actor.idp.name"] = ident["identityProvider"]

    status = status_of(class_uid, error, response)
    if class_uid == 3002:
        if name in ASSUME_EVENTS and isinstance(request, dict):
            row["user.uid"] = request.get("roleArn")
            row["user.name"] = request.get("roleSessionName")
        else:
            row["user.uid"] = user_arn
            row["user.uid_alt"] = ident.get("principalId")
        if isinstance(aed, dict):
            row["dst_endpoint.svc_name"] = aed.get("LoginTo")
            if aed.get("MFAUsed") is not None:
                row["is_mfa"] = aed["MFAUsed"] == "Yes"
    elif class_uid == 3001 and isinstance(request, dict):
        row["user.name"] = request.get("userName") or request.get("roleName")
        row["policy.uid"] = request.get("policyArn")
        created = response.get("user") or response.get("role") if isinstance(response, dict) else None
        if isinstance(created, dict):
            row["user.uid"] = created.get("arn")
            row["user.uid_alt"] = created.get("userId") or created.get("roleId")
    row["status"] = status

    row["unmapped"] = unmapped_of(raw, class_uid)

    res = raw.get("resources")
    if isinstance(res, list) and res:
        row["resources"] = [{"uid": r.get("ARN"), "type": r.get("type"),
                             "owner": {"account": {"uid": r.get("accountId")}}} for r in res if isinstance(r, dict)]
    obs = []
    if row.get("src_endpoint.ip"):
        obs.append({"name": "src_endpoint.ip", "value": row["src_endpoint.ip"], "type": "IP Address", "type_id": 2})
    if user_name:
        obs.append({"name": "actor.user.name", "value": user_name, "type": "User Name", "type_id": 4})
    if row.get("user.name"):
        obs.append({"name": "user.name", "value": row["user.name"], "type": "User Name", "type_id": 4})
    if obs:
        row["observables"] = obs
    row["accountid"] = account
    row["region"] = region
    return Mapped(table, account, region, row)
