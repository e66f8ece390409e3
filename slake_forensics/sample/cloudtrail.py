"""CloudTrail records → Security Lake v2 OCSF rows, vectorized, for management and data events.

:func:`ct_columns` takes one array per raw CloudTrail field (one value per event) and
returns the flat dotted columns of ``cloud_trail_mgmt_2_0`` / ``s3_data_2_0`` /
``lambda_execution_2_0`` as Security Lake fills them (OCSF 1.1.0: API Activity 6003,
Authentication 3002, Account Change 3001).  :func:`cloudtrail_table` does the same for a
short list of event dicts (what stories write) and returns a finished table.

Input columns of :func:`ct_columns` (``ev`` keys; arrays of length ``n``, ``None`` = absent):

========================  ==============================================================
``time``                  int64 epoch ms (``eventTime``)                        required
``event_source``          ``ec2.amazonaws.com``                                 required
``event_name``            ``DescribeInstances``                                 required
``region``                ``awsRegion``                                         required
``recipient_account``     ``recipientAccountId`` (also the ``accountid`` partition) required
``source``                ``sourceIPAddress``: an IP, or a service domain such as
                          ``s3.amazonaws.com`` / ``AWS Internal``                required
``user_agent``            ``userAgent``
``user_type``             ``userIdentity.type``: IAMUser, AssumedRole, AWSService, Root,
                          SAMLUser, Unknown
``user_arn`` ``principal_id`` ``user_name`` ``account_id`` ``access_key``
                          ``userIdentity.arn/principalId/userName/accountId/accessKeyId``
``session_issuer``        ``sessionContext.sessionIssuer.arn``
``session_created``       ``sessionContext.attributes.creationDate``: epoch ms (NaN = absent)
``mfa``                   ``sessionContext.attributes.mfaAuthenticated`` (bool or None)
``invoked_by``            ``userIdentity.invokedBy`` (``cloudformation.amazonaws.com``)
``idp``                   ``userIdentity.identityProvider`` (SAMLUser)
``error_code`` ``error_message``  ``errorCode`` / ``errorMessage``
``request`` ``response``  ``requestParameters`` / ``responseElements`` as JSON strings
``event_type``            default ``AwsConsoleSignIn`` for sign-in events, else ``AwsApiCall``
``event_id``              ``eventID`` (UUID); default drawn from ``rng``
``request_id``            ``requestID``; default drawn (S3: 16 upper-case chars, else UUID)
``read_only``             bool; default from the eventName verb (Get/List/Describe/Head/…)
``data_event``            bool (``eventCategory`` Data, ``managementEvent`` false); default False
``event_version``         default ``1.09`` (management) / ``1.10`` (data)
``tls_version`` ``host``  ``tlsDetails``; default TLSv1.3/1.2 and ``<svc>.<region>.amazonaws.com``
``vpc_endpoint``          ``vpcEndpointId`` → ``src_endpoint.uid``
``shared_event_id``       ``sharedEventID`` (→ ``unmapped``); default a UUID on AWSService events
``target_uid`` ``target_name`` ``target_uid_alt`` ``policy_uid``
                          Account Change: the affected user/role and the attached policy ARN
========================  ==============================================================

``additional``: ``{name: array}`` of ``additionalEventData`` fields, written to ``unmapped``
as ``additionalEventData.<name>``; ``resources``: a list of slots
``{"uid": arr, "type": arr|str, "account": arr}`` (``None`` uid = no resource in that slot).
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from slake_forensics.core.catalog import SOURCES
from slake_forensics.sample.common import const, observables, ocsf_class_columns, partition_columns, pick
from slake_forensics.sample.org import Principal
from slake_forensics.sample.writer import build_table, list_of_structs

#: Role assumption: Authentication Logon whose ``user`` is the assumed role (``roleArn``/``roleSessionName``).
ASSUME_EVENTS = ("AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity")
#: eventNames that Security Lake maps to Authentication (3002), with their activity_id (1 Logon; CheckMfa 99 Other).
AUTH_ACTIVITY = {"ConsoleLogin": 1, "CheckMfa": 99, **dict.fromkeys(ASSUME_EVENTS, 1),
                 **dict.fromkeys(("ExternalIdPDirectoryLogin", "UserAuthentication", "CredentialChallenge",
                                  "CredentialVerification"), 1)}
#: ``additionalEventData`` keys an Authentication mapping consumes (they do not reappear in ``unmapped``).
AUTH_CONSUMED_ADDITIONAL = ("LoginTo", "MFAUsed")
#: eventNames mapped to Account Change (3001) with their activity_id (UpdateAccessKey: by status).
ACCOUNT_CHANGE = {
    "CreateUser": 1, "CreateRole": 1, "CreateAccessKey": 1, "CreateLoginProfile": 1, "CreateServiceLinkedRole": 1,
    "UpdateAccessKey": 2, "EnableMFADevice": 10, "DeactivateMFADevice": 11,
    "ChangePassword": 3, "UpdateLoginProfile": 4,
    "DeleteUser": 6, "DeleteRole": 6, "DeleteAccessKey": 6, "DeleteLoginProfile": 6,
    "AttachUserPolicy": 7, "AttachRolePolicy": 7, "PutUserPolicy": 7, "PutRolePolicy": 7, "AttachGroupPolicy": 7,
    "DetachUserPolicy": 8, "DetachRolePolicy": 8, "DeleteUserPolicy": 8, "DeleteRolePolicy": 8,
    "AddUserToGroup": 99, "RemoveUserFromGroup": 99, "UpdateAssumeRolePolicy": 99, "TagUser": 99, "TagRole": 99,
}
#: API Activity activity_id by the leading verb of eventName (the OCSF community mapping).
VERB_ACTIVITY = {
    **dict.fromkeys(("Create", "Run", "Generate"), 1),
    **dict.fromkeys(("Get", "List", "Describe", "Search", "Lookup", "Head"), 2),
    **dict.fromkeys(("Update", "Put", "Modify", "Add", "Remove", "Start", "Stop", "Attach", "Detach", "Associate",
                     "Tag", "Untag", "Enable", "Disable", "Register", "Set", "Deactivate"), 3),
    **dict.fromkeys(("Delete", "Terminate"), 4),
}
READ_VERBS = ("Get", "List", "Describe", "Search", "Lookup", "Head", "Query", "Scan", "Select", "Batch", "Decrypt",
              "Check", "Filter", "Assume")
GLOBAL_SERVICES = ("iam.amazonaws.com", "sts.amazonaws.com", "organizations.amazonaws.com", "route53.amazonaws.com",
                   "signin.amazonaws.com", "ce.amazonaws.com", "budgets.amazonaws.com", "cloudfront.amazonaws.com")
CIPHERS = {"TLSv1.3": "TLS_AES_128_GCM_SHA256", "TLSv1.2": "ECDHE-RSA-AES128-GCM-SHA256"}
_UPPER = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", dtype="S1")
_HEX_PAIRS = np.array([[c for c in f"{i:02x}"] for i in range(256)], dtype="S1")


def random_strings(rng: np.random.Generator, n: int, length: int, alphabet: np.ndarray = _UPPER) -> np.ndarray:
    """``n`` random strings of ``length`` characters from ``alphabet`` (an ``S1`` array), as ``U`` array."""
    raw = alphabet[rng.integers(0, len(alphabet), size=(n, length))]
    return np.ascontiguousarray(raw).view(f"S{length}").ravel().astype(f"U{length}")


def amz_id_2(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` S3 extended request ids (``x-amz-id-2``): 76 base64 characters (base64 of 57 random bytes)."""
    return np.frombuffer(base64.b64encode(rng.bytes(57 * n)), dtype="S76").astype("U76")


def _verb(name: str) -> str:
    m = re.match(r"[A-Z][a-z]+", name)
    return m.group(0) if m else ""


def classify(event_name: str) -> tuple[int, int]:
    """``(class_uid, activity_id)`` of one eventName (UpdateAccessKey gives 2 Enable; see :func:`ct_columns`)."""
    if event_name in AUTH_ACTIVITY:
        return 3002, AUTH_ACTIVITY[event_name]
    if event_name in ACCOUNT_CHANGE:
        return 3001, ACCOUNT_CHANGE[event_name]
    return 6003, VERB_ACTIVITY.get(_verb(event_name), 99)


def is_read_only(event_name: str) -> bool:
    """CloudTrail's ``readOnly`` for an eventName, judged by its verb."""
    return _verb(event_name) in READ_VERBS or event_name == "GetCallerIdentity"


def _obj(values: Any, n: int) -> np.ndarray:
    """An object array of length ``n`` from a scalar, list, NumPy or Arrow array."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)
    if values is None or isinstance(values, (str, bool, int, float)):
        return np.full(n, values, dtype=object)
    out = np.asarray(values, dtype=object)
    if out.shape != (n,):
        raise ValueError(f"expected {n} values, got shape {out.shape}")
    return out


def _str(values: Any, n: int) -> pa.Array:
    """A string Arrow array (nulls kept) from anything :func:`_obj` accepts, without a Python loop for Arrow input."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(pa.string())
    if values is None or isinstance(values, str):
        return pa.array(np.full(n, values, dtype=object), pa.string())
    return pa.array(_obj(values, n), pa.string(), from_pandas=True)


def _arrow(values: Any, n: int) -> pa.Array:
    """Per-row values as an Arrow array (strings unless the input is numeric or boolean)."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return pa.array(values)
    return _str(values, n)


def _ragged(n: int, slots: Sequence[Mapping[str, Any]], key: str) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """Flatten per-row optional slots into ``(offsets, {field: Arrow values})`` for a list column.

    Each slot maps field names to per-row arrays or scalars (every slot has the same fields);
    rows whose ``key`` field is null have no element from that slot.  Elements keep slot
    order within a row.
    """
    k = len(slots)
    if k == 0:
        return np.zeros(n + 1, dtype="int64"), {}
    valid = np.stack([pc.is_valid(_arrow(slot[key], n)).to_numpy(zero_copy_only=False) for slot in slots]) if n else np.zeros((k, 0), bool)
    sel = pa.array((np.arange(n)[:, None] + np.arange(k)[None, :] * n).ravel()[valid.T.ravel()], pa.int64())
    offsets = np.concatenate([[0], np.cumsum(valid.sum(axis=0))]).astype("int64")
    out = {}
    for f in slots[0]:
        parts = []
        for slot in slots:
            v = slot[f]
            if v is None:
                parts.append(pa.nulls(n, pa.string()))
            elif isinstance(v, str):
                parts.append(pick([v], np.zeros(n, dtype="int32")))
            elif isinstance(v, int):
                parts.append(pa.array(np.full(n, v, dtype="int64")))
            else:
                parts.append(_arrow(v, n))
        out[f] = pa.concat_arrays(parts).take(sel)
    return offsets, out


def _map(n: int, entries: Sequence[tuple[str, Any]]) -> pa.MapArray:
    """A ``map<string,string>`` column: ``entries`` are (key, per-row values); null values are left out."""
    offsets, cols = _ragged(n, [{"k": v, "name": name} for name, v in entries], "k")
    keys = cols.get("name", pa.array([], pa.string()))
    vals = cols.get("k", pa.array([], pa.string()))
    return pa.MapArray.from_arrays(pa.array(offsets, pa.int32()), keys, vals)


def fast_uuids(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random version-4 UUID strings from ``rng`` (byte-table formatting, for millions of rows)."""
    b = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    hx = _HEX_PAIRS[b].reshape(n, 32)
    out = np.full((n, 36), b"-", dtype="S1")
    for src, dst in ((slice(0, 8), slice(0, 8)), (slice(8, 12), slice(9, 13)), (slice(12, 16), slice(14, 18)),
                     (slice(16, 20), slice(19, 23)), (slice(20, 32), slice(24, 36))):
        out[:, dst] = hx[:, src]
    return pa.array(np.ascontiguousarray(out).view("S36").ravel(), pa.binary(36)).cast(pa.string())


def _group(values: pa.Array, pattern: str) -> pa.Array:
    """Per row the named group ``v`` of ``pattern`` in ``values`` (null where it does not match)."""
    return pc.struct_field(pc.extract_regex(values, pattern), "v")


def _choose(mask: np.ndarray, yes: str, no: str) -> pa.Array:
    """Per row ``yes`` where ``mask`` else ``no``, as an Arrow string array."""
    return pick([no, yes], np.asarray(mask, dtype=bool).astype("int32"))


def ct_columns(ev: Mapping[str, Any], rng: np.random.Generator, *, additional: Mapping[str, Any] | None = None,
               resources: Sequence[Mapping[str, Any]] = ()) -> tuple[dict[str, Any], int]:
    """Map CloudTrail fields (see the module docstring) to Security Lake v2 columns.

    Returns ``(columns, n)``: ``columns`` maps dotted paths of the CloudTrail v2 schema to
    per-event values, ready for :func:`~slake_forensics.sample.writer.build_table`.
    """
    t = np.asarray(ev["time"], dtype="int64")
    n = len(t)
    get = ev.get
    null = pa.scalar(None, pa.string())
    src_arr = _str(ev["event_source"], n)
    name_arr = _str(ev["event_name"], n)
    names_enc = pc.dictionary_encode(name_arr)
    uniq = names_enc.dictionary.to_pylist()
    codes = names_enc.indices.to_numpy(zero_copy_only=False)
    cls_u = np.array([classify(x)[0] for x in uniq], dtype="int64")
    act_u = np.array([classify(x)[1] for x in uniq], dtype="int64")
    ro_u = np.array([is_read_only(x) for x in uniq], dtype=bool)
    class_uid, activity = cls_u[codes], act_u[codes].copy()
    request = _str(get("request"), n)
    response = _str(get("response"), n)
    upd_key = pc.equal(name_arr, "UpdateAccessKey").to_numpy(zero_copy_only=False)
    inactive = pc.fill_null(pc.match_substring(request, '"status":"Inactive"'), False).to_numpy(zero_copy_only=False)
    activity[upd_key & inactive] = 5
    err_code = _str(get("error_code"), n)
    err_msg = _str(get("error_message"), n)
    failed = pc.is_valid(err_code).to_numpy(zero_copy_only=False)
    auth = class_uid == 3002
    acct_change = class_uid == 3001
    # Authentication status comes only from responseElements.ConsoleLogin (role assumption: Other)
    login = {v: pc.fill_null(pc.match_substring(response, f'"ConsoleLogin":"{v}"'), False).to_numpy(zero_copy_only=False)
             for v in ("Success", "Failure")}
    status = pick(["Success", "Failure", "Other"],
                  np.where(auth, np.where(login["Failure"], 1, np.where(login["Success"], 0, 2)), failed.astype("int64")))

    data_event = np.broadcast_to(np.asarray(get("data_event", False), dtype=bool), (n,))
    event_type = get("event_type")
    if event_type is None:
        event_type = _choose(auth, "AwsConsoleSignIn", "AwsApiCall")
    read_only = get("read_only")
    read_only = ro_u[codes] if read_only is None else np.broadcast_to(np.asarray(read_only, dtype=bool), (n,))
    region = _str(ev["region"], n)
    recipient = _str(ev["recipient_account"], n)
    source = _str(ev["source"], n)
    is_domain = pc.fill_null(pc.or_(pc.ends_with(source, ".amazonaws.com"), pc.equal(source, "AWS Internal")), False)
    ip = pc.if_else(is_domain, null, source)
    domain = pc.if_else(is_domain, source, null)
    user_type = _str(get("user_type"), n)
    service_caller = pc.or_(is_domain, pc.fill_null(pc.equal(user_type, "AWSService"), False))

    s3 = pc.equal(src_arr, "s3.amazonaws.com")
    request_id = get("request_id")
    if request_id is None:
        request_id = pc.if_else(s3, pa.array(random_strings(rng, n, 16), pa.string()), fast_uuids(rng, n))
    event_id = get("event_id")
    if event_id is None:
        event_id = fast_uuids(rng, n)
    version = get("event_version")
    if version is None:
        version = _choose(data_event, "1.10", "1.09")

    tls = get("tls_version")
    tls = _choose(rng.random(n) < 0.8, "TLSv1.3", "TLSv1.2") if tls is None else _str(tls, n)
    tls = pc.if_else(service_caller, null, tls)
    cipher = pc.if_else(pc.equal(tls, "TLSv1.3"), CIPHERS["TLSv1.3"], pc.if_else(pc.equal(tls, "TLSv1.2"), CIPHERS["TLSv1.2"], null))
    host = get("host")
    if host is None:
        is_global = pc.is_in(src_arr, pa.array(GLOBAL_SERVICES))
        svc = pc.replace_substring(src_arr, ".amazonaws.com", "")
        regional = pc.binary_join_element_wise(svc, region, "amazonaws.com", ".")
        host = pc.if_else(is_global, pc.replace_substring(src_arr, "signin.amazonaws.com", "signin.aws.amazon.com"), regional)
    host = pc.if_else(service_caller, null, _str(host, n))
    ua = _str(get("user_agent"), n)
    console = pc.fill_null(pc.starts_with(ua, "Mozilla/"), False)
    from_console = pc.and_(console, pc.fill_null(pc.equal(user_type, "AssumedRole"), False))

    additional = dict(additional or {})
    issuer = _str(get("session_issuer"), n)
    has_issuer = pc.is_valid(issuer)
    shared = get("shared_event_id")
    if shared is None:  # CloudTrail gives events of AWS services delivered to the account a shared id
        shared = pc.if_else(pc.fill_null(pc.equal(user_type, "AWSService"), False), fast_uuids(rng, n), null)
    entries: list[tuple[str, Any]] = [
        ("userIdentity.sessionContext.sessionIssuer.type", pc.if_else(has_issuer, "Role", null)),
        ("userIdentity.sessionContext.sessionIssuer.principalId",
         pc.if_else(has_issuer, _group(_str(get("principal_id"), n), r"^(?P<v>[^:]+)"), null)),
        ("userIdentity.sessionContext.sessionIssuer.accountId", _group(issuer, r"^arn:[^:]*:iam::(?P<v>[0-9]+):")),
        ("userIdentity.sessionContext.sessionIssuer.userName", _group(issuer, r"/(?P<v>[^/]+)$")),
        ("sharedEventID", _str(shared, n)),
        ("recipientAccountId", recipient),
        ("managementEvent", _choose(~data_event, "true", "false")),
        ("readOnly", _choose(read_only, "true", "false")),
        ("tlsDetails.tlsVersion", tls), ("tlsDetails.cipherSuite", cipher), ("tlsDetails.clientProvidedHostHeader", host),
        ("sessionCredentialFromConsole", pc.if_else(from_console, "true", null)),
    ]
    auth_a = pa.array(auth)
    entries += [(f"additionalEventData.{k}", pc.if_else(auth_a, null, _str(v, n)) if k in AUTH_CONSUMED_ADDITIONAL else v)
                for k, v in additional.items()]

    cols: dict[str, Any] = ocsf_class_columns(class_uid, activity, 1)
    created = get("session_created")
    if created is not None:
        c = np.asarray(created, dtype="float64")
        created = pa.array(np.where(np.isnan(c), 0, c).astype("int64"), pa.int64(), mask=np.isnan(c)).cast(pa.timestamp("ms", tz="UTC"))
    mfa = get("mfa")
    actor = {k: _str(get(k), n) for k in ("user_name", "user_arn", "principal_id", "account_id", "access_key", "session_issuer",
                                          "invoked_by", "idp", "vpc_endpoint")}
    cols.update({
        "metadata.product.version": _str(version, n), "metadata.product.name": pa.array(np.full(n, "CloudTrail", dtype=object), pa.string()),
        "metadata.product.vendor_name": const("AWS", n),
        "metadata.product.feature.name": _choose(data_event, "Data", "Management"),
        "metadata.event_code": _str(event_type, n), "metadata.uid": _str(event_id, n),
        "metadata.profiles": pa.ListArray.from_arrays(pa.array(np.arange(0, 2 * n + 1, 2), pa.int32()),
                                                      pick(["cloud", "datetime"], np.tile([0, 1], n))),
        "time": t, "time_dt": t, "cloud.region": region, "cloud.provider": const("AWS", n),
        "api.service.name": src_arr, "api.operation": name_arr,
        "api.request.uid": pc.if_else(pc.equal(name_arr, "ConsoleLogin"), "''", pc.if_else(pc.equal(src_arr, "signin.amazonaws.com"), null,
                                                                                            _str(request_id, n))),
        "api.request.data": request, "api.response.data": response, "api.response.error": err_code,
        "api.response.message": err_msg,
        "actor.user.type": user_type, "actor.user.name": actor["user_name"], "actor.user.uid": actor["user_arn"],
        "actor.user.uid_alt": actor["principal_id"], "actor.user.account.uid": actor["account_id"],
        "actor.user.credential_uid": actor["access_key"], "actor.session.issuer": actor["session_issuer"],
        "actor.session.is_mfa": pa.array(_obj(mfa, n), pa.bool_(), from_pandas=True) if not isinstance(mfa, pa.Array) else mfa,
        "actor.invoked_by": actor["invoked_by"], "actor.idp.name": actor["idp"],
        "http_request.user_agent": ua,
        "src_endpoint.ip": ip, "src_endpoint.domain": domain, "src_endpoint.uid": actor["vpc_endpoint"],
        "status": status, "unmapped": _map(n, entries),
    })
    if created is not None:
        cols["actor.session.created_time_dt"] = created
    # Authentication: login target, MFA, the signed-in identity (role assumption: the role and session name)
    change_a = pa.array(acct_change)
    assume = pc.and_(auth_a, pc.is_in(name_arr, pa.array(ASSUME_EVENTS)))
    sign_in = pc.and_(auth_a, pc.invert(assume))
    mfa_used = _str(additional.get("MFAUsed"), n)
    cols["dst_endpoint.svc_name"] = pc.if_else(auth_a, _str(additional.get("LoginTo"), n), null)
    cols["is_mfa"] = pc.if_else(auth_a, pc.equal(mfa_used, "Yes"), pa.scalar(None, pa.bool_()))
    # Account Change: the affected identity and policy; Authentication: who signed in
    assumed = {"user_arn": _group(request, r'"roleArn":"(?P<v>[^"]*)"'), "user_name": _group(request, r'"roleSessionName":"(?P<v>[^"]*)"'),
               "principal_id": null}
    for col, target, own in (("user.uid", "target_uid", "user_arn"), ("user.name", "target_name", "user_name"),
                             ("user.uid_alt", "target_uid_alt", "principal_id")):
        signed_in = actor[own] if own != "user_name" else null
        cols[col] = pc.if_else(change_a, _str(get(target), n), pc.if_else(assume, assumed[own], pc.if_else(sign_in, signed_in, null)))
    cols["policy.uid"] = pc.if_else(change_a, _str(get("policy_uid"), n), null)
    cols.update(partition_columns(recipient, region))

    if resources:
        offsets, res = _ragged(n, resources, "uid")
        typ = SOURCES["cloud_trail_mgmt"].schema.field("resources").type
        cols["resources"] = list_of_structs(offsets, {"uid": res["uid"], "type": res["type"], "owner.account.uid": res["account"]}, typ)
    obs_slots = [{"v": ip, "name": "src_endpoint.ip", "t": 2},
                 {"v": cols["actor.user.name"], "name": "actor.user.name", "t": 4},
                 {"v": cols["actor.user.uid"], "name": "actor.user.uid", "t": 10},
                 {"v": cols["user.uid"], "name": "user.uid", "t": 10}]
    offsets, ob = _ragged(n, obs_slots, "v")
    cols["observables"] = observables(offsets, ob.get("name", []), ob.get("v", []), np.asarray(ob.get("t", []), dtype="int64"),
                                      SOURCES["cloud_trail_mgmt"].schema.field("observables").type)
    return cols, n


# ---------------------------------------------------------------------------------------------
# Stories: a short list of event dicts → one table


def _ms(value: Any) -> int:
    if isinstance(value, (int, np.integer)):
        return int(value)
    return int(pd.Timestamp(value).tz_convert("UTC").value // 1_000_000) if pd.Timestamp(value).tzinfo else \
        int(pd.Timestamp(value, tz="UTC").value // 1_000_000)


def _det_uuid(*parts: object) -> str:
    h = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


def _json(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def identity_fields(p: Principal, access_key: str | None = None, session_created: int | None = None,
                    mfa: bool | None = None) -> dict[str, Any]:
    """The ``userIdentity`` event-dict keys of :func:`cloudtrail_table` for principal ``p``.

    ``access_key`` defaults to the principal's first key; AssumedRole sessions get
    ``session_issuer``, ``session_created`` and ``mfa`` (default ``p.uses_mfa``).
    """
    d: dict[str, Any] = {"user_type": p.kind, "user_arn": p.arn or None, "principal_id": p.principal_id or None,
                         "account_id": p.account.id, "access_key": access_key or (p.access_keys[0] if p.access_keys else None)}
    if p.kind == "IAMUser":
        d["user_name"] = p.name
    elif p.kind == "AssumedRole":
        d.update(session_issuer=p.session_issuer, session_created=session_created,
                 mfa=p.uses_mfa if mfa is None else mfa)
    elif p.kind == "AWSService":
        d.update(user_arn=None, principal_id=None, access_key=None, invoked_by=p.name)
    return d


STORY_KEYS = ("time", "event_source", "event_name", "region", "recipient_account", "source", "user_agent",
              "user_type", "user_arn", "principal_id", "user_name", "account_id", "access_key", "session_issuer",
              "session_created", "mfa", "invoked_by", "idp", "error_code", "error_message", "request", "response",
              "event_type", "event_id", "request_id", "read_only", "data_event", "event_version", "tls_version", "host",
              "vpc_endpoint", "target_uid", "target_name", "target_uid_alt", "policy_uid")


def cloudtrail_table(events: Sequence[Mapping[str, Any]], source_name: str) -> pa.Table:
    """A table in the exact schema of ``source_name`` holding one row per event dict.

    Each dict uses the :func:`ct_columns` input names (module docstring) with Python values:

    * required: ``time`` (epoch ms int, ISO string or Timestamp), ``event_source``, ``event_name``,
      ``region``, ``source`` (IP or ``*.amazonaws.com``); ``recipient_account`` defaults to ``account_id``;
    * identity: either ``principal`` (an :class:`~slake_forensics.sample.org.Principal`; fills
      ``user_type/user_arn/principal_id/user_name/account_id/access_key/session_*/mfa``, see
      :func:`identity_fields`) or those keys directly; explicit keys win over ``principal``;
    * ``user_agent``, ``error_code``, ``error_message``;
    * ``request`` / ``response``: dicts (serialized compactly) or JSON strings;
    * ``additional``: dict of ``additionalEventData`` (→ ``unmapped['additionalEventData.<k>']``);
    * ``resources``: list of ``{"uid": ARN, "type": "AWS::S3::Bucket", "account": "123…"}``;
    * Account Change target: ``target_uid/target_name/target_uid_alt/policy_uid``, defaulting from
      ``request`` (``userName``/``roleName``, ``policyArn``) and ``response`` (``user.userId``);
    * optional ``event_id`` (else a UUID derived from the event's content, so stable across runs),
      ``request_id``, ``event_type``, ``read_only``, ``data_event`` (default: True for
      ``s3_data``/``lambda_execution``), ``event_version``, ``tls_version``, ``host``, ``vpc_endpoint``.

    Rows keep the list order; ``metadata.uid`` is the event id, for answer keys.
    """
    src = SOURCES[source_name]
    rows: list[dict[str, Any]] = []
    adds: list[dict[str, Any]] = []
    res: list[list[Mapping[str, Any]]] = []
    for i, e in enumerate(events):
        r: dict[str, Any] = {}
        if e.get("principal") is not None:
            r.update(identity_fields(e["principal"]))
        r.update({k: e[k] for k in STORY_KEYS if k in e})
        r["time"] = _ms(e["time"])
        if r.get("session_created") is not None:
            r["session_created"] = _ms(r["session_created"])
        r.setdefault("recipient_account", r.get("account_id"))
        req, resp = e.get("request"), e.get("response")
        r["request"], r["response"] = _json(req), _json(resp)
        if isinstance(req, Mapping) and e["event_name"] in ACCOUNT_CHANGE:
            acct = r["recipient_account"]
            if req.get("userName"):
                r.setdefault("target_name", req["userName"])
                r.setdefault("target_uid", f"arn:aws:iam::{acct}:user/{req['userName']}")
            elif req.get("roleName"):
                r.setdefault("target_name", req["roleName"])
                r.setdefault("target_uid", f"arn:aws:iam::{acct}:role/{req['roleName']}")
            if req.get("policyArn"):
                r.setdefault("policy_uid", req["policyArn"])
            if isinstance(resp, Mapping) and isinstance(resp.get("user"), Mapping):
                r.setdefault("target_uid_alt", resp["user"].get("userId"))
        r.setdefault("data_event", source_name in ("s3_data", "lambda_execution"))
        r.setdefault("event_id", _det_uuid(source_name, i, r["time"], r["event_name"], r.get("source"), r["request"], r.get("access_key")))
        r.setdefault("request_id", _det_uuid("req", source_name, i, r["time"], r["event_name"], r.get("source")))
        r.setdefault("tls_version", "TLSv1.3")
        if r["event_source"] == "s3.amazonaws.com":
            r["request_id"] = r["request_id"].replace("-", "")[:16].upper()
        rows.append(r)
        adds.append({k: (v if v is None or isinstance(v, str) else _json(v) if isinstance(v, (dict, list)) else
                         str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (e.get("additional") or {}).items()})
        res.append(list(e.get("resources") or []))
    n = len(rows)
    ev: dict[str, Any] = {}
    for k in STORY_KEYS:
        if any(k in r for r in rows):
            vals: Any = [r.get(k) for r in rows]
            if k == "session_created":
                vals = np.array([np.nan if v is None else v for v in vals], dtype="float64")
            elif k in ("read_only", "data_event"):
                vals = np.array([bool(v) for v in vals])
            ev[k] = vals if k != "time" else np.array(vals, dtype="int64")
    add_keys = sorted({k for a in adds for k in a})
    additional = {k: [a.get(k) for a in adds] for k in add_keys}
    width = max((len(x) for x in res), default=0)
    slots = [{f: [x[j][f] if j < len(x) else None for x in res] for f in ("uid", "type", "account")} for j in range(width)]
    cols, n = ct_columns(ev, np.random.default_rng(0), additional=additional, resources=slots)
    return build_table(src, cols, n)


# ---------------------------------------------------------------------------------------------
# Background: identity columns of many events from principal indexes


def principal_identity(principals: Sequence[Principal], pidx: np.ndarray, t: np.ndarray, console: np.ndarray,
                       rng: np.random.Generator) -> dict[str, Any]:
    """``userIdentity`` input columns of :func:`ct_columns` for events of ``principals[pidx]``.

    ``console`` marks events made from the web console (IAM users then report their
    console MFA; SSO and instance-role sessions report ``mfaAuthenticated`` false).  Access
    keys are drawn from each principal's keys; AssumedRole sessions start 1–55 minutes
    before the event.  Returns a dict of per-event arrays.
    """
    n = len(pidx)
    null = pa.scalar(None, pa.string())
    col = lambda f: pick([f(p) for p in principals], pidx)  # noqa: E731 (one value per principal, not per event)
    kind_np = np.array([p.kind for p in principals])[pidx]
    assumed, iam, service = kind_np == "AssumedRole", kind_np == "IAMUser", kind_np == "AWSService"
    key_pool: list[str | None] = []
    for p in principals:  # a principal without keys holds one null slot
        key_pool.extend(p.access_keys or [None])
    key_off = np.concatenate([[0], np.cumsum([max(len(p.access_keys), 1) for p in principals])])[:-1]
    nkeys = np.array([max(len(p.access_keys), 1) for p in principals])[pidx]
    keys = pick(key_pool, key_off[pidx] + (rng.random(n) * nkeys).astype("int64"))
    uses_mfa = np.array([p.uses_mfa for p in principals], dtype=bool)[pidx]
    created = np.where(assumed, t - rng.integers(60_000, 55 * 60_000, n), np.nan)
    not_service = pa.array(~service)
    return {
        "user_type": col(lambda p: p.kind), "user_arn": pc.if_else(not_service, col(lambda p: p.arn or None), null),
        "principal_id": pc.if_else(not_service, col(lambda p: p.principal_id or None), null),
        "user_name": pc.if_else(pa.array(iam), col(lambda p: p.name), null),
        "account_id": pc.if_else(not_service, col(lambda p: p.account.id), null),
        "access_key": pc.if_else(pa.array(service | (iam & console)), null, keys),
        "session_issuer": pc.if_else(pa.array(assumed), col(lambda p: p.session_issuer), null),
        "session_created": created,
        "mfa": pa.array(np.where(assumed, False, console & uses_mfa), pa.bool_(), mask=~(assumed | iam)),
        "invoked_by": pc.if_else(pa.array(service), col(lambda p: p.name), null),
    }
