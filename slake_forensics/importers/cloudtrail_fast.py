"""Column-wise CloudTrail mapping: a batch of decoded records → one flat Arrow table, as :func:`map_record` maps.

One Python pass over the batch's records appends each field :func:`~slake_forensics.importers.cloudtrail.map_record`
sets to a list per column (no row dict, no per-row Arrow conversion); classes come from the same Python tables (one
call per distinct eventName); ``unmapped`` is built by the same walk
(:func:`~slake_forensics.importers.cloudtrail.unmapped_of`); the lists become Arrow columns once per batch. A record
whose shape the columns do not take as the per-record mapper would (no eventName, a time that is not an ISO 8601
text, a number where CloudTrail writes text, a field of an unexpected JSON type, a partition that is not a folder
name) is left to :func:`map_record` itself (see :func:`map_batch`), so it keeps its rejects and their reasons.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from slake_forensics.core.catalog import SOURCES
from slake_forensics.importers.cloudtrail import (
    _TEXT_KEYS, ASSUME_EVENTS, _classification, _epoch_ms, _json, _texts, status_of, table_of, unmapped_of,
)
from slake_forensics.importers.record import Mapped, RejectRecord

#: Every key :func:`map_record` may set, in one flat table per batch (``?key``: whether a row set the key).
FLAT = ("class_uid", "class_name", "category_uid", "category_name", "activity_id", "activity_name", "type_uid",
        "type_name", "severity_id", "severity", "metadata.version", "time", "time_dt", "metadata.product.name",
        "metadata.product.vendor_name", "metadata.product.version", "metadata.product.feature.name", "metadata.uid",
        "metadata.event_code", "metadata.profiles", "cloud.provider", "cloud.region", "api.operation",
        "api.service.name", "api.version", "api.request.uid", "api.request.data", "api.response.data",
        "api.response.error", "api.response.message", "http_request.user_agent", "src_endpoint.domain",
        "src_endpoint.ip", "src_endpoint.uid", "actor.user.type", "actor.user.uid", "actor.user.uid_alt",
        "actor.user.account.uid", "actor.user.credential_uid", "actor.invoked_by", "actor.session.issuer",
        "actor.session.created_time_dt", "actor.session.is_mfa", "actor.idp.name", "actor.user.name", "user.uid",
        "user.name", "user.uid_alt", "dst_endpoint.svc_name", "is_mfa", "policy.uid", "status", "unmapped",
        "resources", "observables", "accountid", "region")
#: Partition key columns of a flat table.
KEYS = ("_source", "_account", "_region", "_day")


def _leaf_type(schema: pa.Schema, path: str) -> pa.DataType:
    head, *rest = path.split(".")
    typ = schema.field(head).type
    for part in rest:
        typ = typ.field(part).type
    return typ


_SCHEMA = SOURCES["cloud_trail_mgmt"].schema  # s3_data and lambda_execution share every leaf type used here
TYPES = {k: (pa.int64() if pa.types.is_timestamp(t) else t) for k in FLAT for t in [_leaf_type(_SCHEMA, k)]}
#: Keys under a struct: whether any row of a partition sets them decides if that struct is null (build_table).
DOTTED = tuple(k for k in FLAT if "." in k)
FLAT_SCHEMA = pa.schema([pa.field(k, TYPES[k]) for k in FLAT] + [pa.field(f"?{k}", pa.bool_()) for k in DOTTED]
                        + [pa.field(k, pa.string()) for k in KEYS] + [pa.field("_day_ms", pa.int64())])


def flat_from_rows(mapped: list[Mapped], day: Callable[[Any], str]) -> pa.Table:
    """The flat table of rows mapped one at a time (same columns and types as :func:`map_chunk` gives).

    Parameters
    ----------
    mapped : list of Mapped
        Rows of :func:`map_record`.
    day : callable
        ``time`` (epoch ms) → ``YYYYMMDD`` partition day.

    Returns
    -------
    pyarrow.Table
        Columns :data:`FLAT`, ``?<key>`` flags for the dotted keys, the partition keys ``_source``, ``_account``,
        ``_region``, ``_day`` and ``_day_ms``.

    Examples
    --------
    >>> from slake_forensics.importers.cloudtrail import map_record
    >>> m = map_record({"eventTime": "2024-05-01T12:00:00Z", "eventName": "CreateUser",
    ...                 "recipientAccountId": "111122223333", "awsRegion": "us-east-1"}, {})
    >>> t = flat_from_rows([m], lambda ms: "20240501")
    >>> t["class_uid"].to_pylist(), t["?user.uid"].to_pylist(), t["_day"].to_pylist()
    ([3001], [False], ['20240501'])
    """
    rows = [m.row for m in mapped]
    cols: dict[str, pa.Array] = {}
    for k in FLAT:
        values = [r.get(k) for r in rows]
        try:
            if k == "unmapped":
                cols[k] = pa.array([None if v is None else list(v.items()) for v in values], TYPES[k])
            else:
                cols[k] = pa.array(values, TYPES[k])
        except (ValueError, TypeError, pa.ArrowException) as e:
            raise ValueError(f"the mapper's rows do not fit the {mapped[0].source} schema (a mapper bug, please "
                             f"report it): {k}: {e}") from e
    for k in DOTTED:
        cols[f"?{k}"] = pa.array([k in r for r in rows], pa.bool_())
    cols["_source"] = pa.array([m.source for m in mapped], pa.string())
    cols["_account"] = pa.array([m.account for m in mapped], pa.string())
    cols["_region"] = pa.array([m.region for m in mapped], pa.string())
    cols["_day"] = pa.array([day(r.get("time")) for r in rows], pa.string())
    cols["_day_ms"] = pa.array([r.get("time") for r in rows], pa.int64())
    return pa.Table.from_pydict(cols, schema=FLAT_SCHEMA)


def fitting_rows(mapped: list[Mapped], day: Callable[[Any], str]) -> tuple[list[int], list[tuple[int, str]]]:
    """Which rows :func:`flat_from_rows` can store: ``(indices that fit, [(index, reason)] of those that do not)``.

    A hostile record can give a value of a type the schema has not (a list where text goes); the rows are tried
    together first and one at a time only when that fails.

    Parameters
    ----------
    mapped : list of Mapped
        Rows of :func:`map_record`.
    day : callable
        ``time`` (epoch ms) → ``YYYYMMDD`` partition day.

    Returns
    -------
    tuple of (list of int, list of (int, str))
        Indices of the rows that fit, in order; indices and reasons of the rows that do not.

    Examples
    --------
    >>> from slake_forensics.importers.cloudtrail import map_record
    >>> ok = map_record({"eventTime": "2024-05-01T12:00:00Z", "eventName": "CreateUser",
    ...                  "recipientAccountId": "111122223333", "awsRegion": "us-east-1"}, {})
    >>> bad = map_record({"eventTime": "2024-05-01T12:00:00Z", "eventName": "CreateUser", "errorCode": [1],
    ...                   "recipientAccountId": "111122223333", "awsRegion": "us-east-1"}, {})
    >>> keep, unfit = fitting_rows([ok, bad, ok], lambda ms: "20240501")
    >>> keep, [(i, why[:41]) for i, why in unfit]
    ([0, 2], [(1, 'a value does not fit the cloud_trail_mgmt')])
    """
    try:
        flat_from_rows(mapped, day)
        return list(range(len(mapped))), []
    except ValueError:
        pass
    keep: list[int] = []
    unfit: list[tuple[int, str]] = []
    for i, m in enumerate(mapped):
        try:
            flat_from_rows([m], day)
            keep.append(i)
        except ValueError as e:
            unfit.append((i, f"a value does not fit the {m.source} schema: {str(e).split('): ', 1)[-1]}"))
    return keep, unfit



#: Dotted keys :func:`map_record` sets on some rows only (the others it sets on every row).
_SOMETIMES = ("src_endpoint.domain", "src_endpoint.ip", "actor.session.issuer", "actor.session.created_time_dt",
              "actor.session.is_mfa", "actor.idp.name", "user.uid", "user.name", "user.uid_alt",
              "dst_endpoint.svc_name", "policy.uid")
_FEATURE = "Management, Data, and Insights"
_NO_REQUEST_ID = object()
#: ``_classification(name, None)`` by eventName (UpdateAccessKey, whose class depends on the request, excepted).
_CLASS_OF: dict[str, dict[str, Any]] = {}
_CLASS_KEYS = ("class_uid", "class_name", "category_uid", "category_name", "activity_id", "activity_name", "type_uid",
               "type_name", "severity_id", "severity", "metadata.version")


def _numbers(d: dict[str, Any]) -> bool:
    """Whether ``d`` holds a number (not a boolean) under a key CloudTrail writes as text."""
    for k in _TEXT_KEYS.intersection(d):
        if type(d[k]) in (int, float):
            return True
    return False


def _texts_ok(values: tuple[Any, ...]) -> bool:
    """Whether every value is a text or null (what the text columns hold)."""
    for v in values:
        if v is not None and type(v) is not str:
            return False
    return True


def map_batch(raws: list[dict[str, Any]], options: Mapping[str, str], day: Callable[[Any], str],
              check: Callable[[str, str, str], None]) -> tuple[pa.Table, list[int]]:
    """Map a batch of decoded CloudTrail records column-wise, as :func:`map_record` maps each.

    Parameters
    ----------
    raws : list of dict
        Records as ``orjson.loads`` gives them.
    options : Mapping[str, str]
        ``account`` / ``region`` fallbacks, as for :func:`~slake_forensics.importers.cloudtrail.map_record`.
    day : callable
        ``time`` (epoch ms) → ``YYYYMMDD``; raises :class:`RejectRecord` for a time no partition can name.
    check : callable
        ``check(source, account, region)`` raises :class:`RejectRecord` for a partition that is not a folder name.

    Returns
    -------
    tuple of (pyarrow.Table, list of int)
        The flat table (columns as :func:`flat_from_rows` gives them) of the records mapped here, in input order,
        and the indices, in order, of the records left to :func:`map_record` (whatever it makes of them: a row, or
        a reject and its reason).

    Examples
    --------
    >>> t, left = map_batch([{"eventTime": "2024-05-01T12:00:00Z", "eventName": "CreateUser",
    ...                       "recipientAccountId": "111122223333", "awsRegion": "us-east-1"},
    ...                      {"eventName": "X"}], {}, lambda ms: "20240501", lambda *a: None)
    >>> t["class_uid"].to_pylist(), t["_day"].to_pylist(), left
    ([3001], ['20240501'], [1])
    """
    opt_region = options.get("region") or ""
    opt_account = options.get("account") or ""
    left: list[int] = []
    parts: dict[tuple[str, str, str], bool] = {}
    infos: list[dict[str, Any]] = []
    info_code: dict[int, int] = {}
    codes: list[int] = []
    c: dict[str, list[Any]] = {k: [] for k in (
        "time", "metadata.product.version", "metadata.product.feature.name", "metadata.uid", "metadata.event_code",
        "region", "api.operation", "api.service.name", "api.version", "api.request.uid", "api.request.data",
        "api.response.data", "api.response.error", "api.response.message", "http_request.user_agent",
        "src_endpoint.domain", "src_endpoint.ip", "src_endpoint.uid", "actor.user.type", "actor.user.uid",
        "actor.user.uid_alt", "actor.user.account.uid", "actor.user.credential_uid", "actor.invoked_by",
        "actor.session.issuer", "actor.session.created_time_dt", "actor.session.is_mfa", "actor.idp.name",
        "actor.user.name", "user.uid", "user.name", "user.uid_alt", "dst_endpoint.svc_name", "is_mfa", "policy.uid",
        "status", "accountid", "_source", "_day")}
    flag: dict[str, list[bool]] = {k: [] for k in _SOMETIMES}
    u_keys: list[str] = []
    u_values: list[str] = []
    u_offsets = [0]
    res_uid: list[Any] = []
    res_type: list[Any] = []
    res_acct: list[Any] = []
    res_offsets = [0]
    res_valid: list[bool] = []
    obs_name: list[str] = []
    obs_value: list[str] = []
    obs_type: list[str] = []
    obs_id: list[int] = []
    obs_offsets = [0]
    cols = [c[k] for k in c]  # appended to in this order
    flags = [flag[k] for k in _SOMETIMES]
    for i, raw in enumerate(raws):
        ident = raw.get("userIdentity")
        if _numbers(raw) or isinstance(ident, dict) and _numbers(ident):
            raw = _texts(raw)  # numbers where CloudTrail writes text (Logstash exports): text, as map_record does
        get = raw.get
        name = get("eventName")
        when = get("eventTime")
        if when is None:
            when = get("@timestamp")
        ident = get("userIdentity") or {}
        if type(name) is not str or not name or type(when) is not str or not isinstance(ident, dict):
            left.append(i)
            continue
        iget = ident.get
        source, category, error, region, recipient = (get("eventSource"), get("eventCategory"), get("errorCode"),
                                                      get("awsRegion"), get("recipientAccountId"))
        version, event_id, event_type, api_version, message, agent, src, vpce = (
            get("eventVersion"), get("eventID"), get("eventType"), get("apiVersion"), get("errorMessage"),
            get("userAgent"), get("sourceIPAddress"), get("vpcEndpointId"))
        request_id = get("requestID", _NO_REQUEST_ID)
        if request_id is _NO_REQUEST_ID:
            request_id = "''" if name == "ConsoleLogin" else None
        user_type, user_arn, principal, ident_account, key_id, invoked_by, user_name, provider = (
            iget("type"), iget("arn"), iget("principalId"), iget("accountId"), iget("accessKeyId"),
            iget("invokedBy"), iget("userName"), iget("identityProvider"))
        if not _texts_ok((source, category, error, region, recipient, version, event_id, event_type, api_version,
                          message, agent, src, vpce, request_id, user_type, user_arn, principal, ident_account,
                          key_id, invoked_by, user_name, provider)):
            left.append(i)
            continue
        try:
            t = _epoch_ms(when, "eventTime")
            d = day(t)
        except Exception:  # noqa: BLE001 - map_record says why (a reject or an unforeseen value)
            left.append(i)
            continue
        table = table_of(category, source, name)
        region = region or opt_region or ""
        account = recipient or ident_account or opt_account or ""
        key = (table, account, region)
        fits = parts.get(key)
        if fits is None:
            try:
                check(table, account, region)
                fits = True
            except RejectRecord:
                fits = False
            parts[key] = fits
        if not fits:
            left.append(i)
            continue
        request = get("requestParameters")
        response = get("responseElements")
        aed = get("additionalEventData")
        info = _CLASS_OF.get(name)
        if info is None:
            info = _classification(name, request)
            if name != "UpdateAccessKey" and len(_CLASS_OF) < 100_000:  # its class depends on the request
                _CLASS_OF[name] = info
        class_uid = info["class_uid"]

        issuer = created_ms = session_mfa = idp = None
        issuer_set = created_set = session_mfa_set = idp_set = False
        ctx = iget("sessionContext")
        if isinstance(ctx, dict):
            iss = ctx.get("sessionIssuer")
            if isinstance(iss, dict):
                issuer, issuer_set = iss.get("arn"), True
            attrs = ctx.get("attributes")
            if isinstance(attrs, dict):
                created = attrs.get("creationDate")
                if created:
                    try:
                        created_ms = _epoch_ms(created, "sessionContext.attributes.creationDate")
                    except RejectRecord:
                        left.append(i)
                        continue
                    created_set = True
                mfa = attrs.get("mfaAuthenticated")
                if mfa is not None:
                    session_mfa, session_mfa_set = mfa == "true" or mfa is True, True
            web = ctx.get("webIdFederationData")
            if isinstance(web, dict) and web.get("federatedProvider"):
                idp, idp_set = web["federatedProvider"], True
        if provider:
            idp, idp_set = provider, True

        status = status_of(class_uid, error, response)
        user_uid = user_uid_alt = user_name2 = dst = policy = is_mfa = None
        user_uid_set = user_uid_alt_set = user_name2_set = dst_set = policy_set = False
        if class_uid == 3002:
            if name in ASSUME_EVENTS and isinstance(request, dict):
                user_uid, user_name2 = request.get("roleArn"), request.get("roleSessionName")
                user_uid_set = user_name2_set = True
            else:
                user_uid, user_uid_alt = user_arn, principal
                user_uid_set = user_uid_alt_set = True
            if isinstance(aed, dict):
                dst, dst_set = aed.get("LoginTo"), True
                if aed.get("MFAUsed") is not None:
                    is_mfa = aed["MFAUsed"] == "Yes"
        elif class_uid == 3001 and isinstance(request, dict):
            user_name2, user_name2_set = request.get("userName") or request.get("roleName"), True
            policy, policy_set = request.get("policyArn"), True
            made = response.get("user") or response.get("role") if isinstance(response, dict) else None
            if isinstance(made, dict):
                user_uid, user_uid_alt = made.get("arn"), made.get("userId") or made.get("roleId")
                user_uid_set = user_uid_alt_set = True
        if isinstance(src, str) and (src.endswith(".amazonaws.com") or src == "AWS Internal"):
            domain, ip, is_domain = src, None, True
        else:
            domain, ip, is_domain = None, src, False
        res = get("resources")
        resources = None
        if isinstance(res, list) and res:
            resources = [(r.get("ARN"), r.get("type"), r.get("accountId")) for r in res if isinstance(r, dict)]
            if not _texts_ok(tuple(v for r in resources for v in r)):
                left.append(i)
                continue
        if not _texts_ok((issuer, idp, user_uid, user_uid_alt, user_name2, dst, policy)):
            left.append(i)
            continue
        try:
            request_data, response_data = _json(request), _json(response)
        except Exception:  # noqa: BLE001 - map_record says why
            left.append(i)
            continue
        unmapped = unmapped_of(raw, class_uid)

        # every check passed: the row goes to the columns, in the order of ``c``
        code = info_code.get(id(info))
        if code is None:
            code = info_code[id(info)] = len(infos)
            infos.append(info)
        codes.append(code)
        for col, v in zip(cols, (t, version, category or _FEATURE, event_id, event_type, region, name, source,
                                 api_version, request_id, request_data, response_data, error, message, agent, domain,
                                 ip, vpce, user_type, user_arn, principal, ident_account, key_id, invoked_by, issuer,
                                 created_ms, session_mfa, idp, user_name, user_uid, user_name2, user_uid_alt, dst,
                                 is_mfa, policy, status, account, table, d)):
            col.append(v)
        for col, f in zip(flags, (is_domain, not is_domain,
                                  issuer_set, created_set, session_mfa_set, idp_set, user_uid_set, user_name2_set,
                                  user_uid_alt_set, dst_set, policy_set)):
            col.append(f)
        u_keys.extend(unmapped)
        u_values.extend(unmapped.values())
        u_offsets.append(len(u_keys))
        if resources is None:
            res_valid.append(False)
        else:
            res_valid.append(True)
            for uid, typ, acct in resources:
                res_uid.append(uid)
                res_type.append(typ)
                res_acct.append(acct)
        res_offsets.append(len(res_uid))
        if ip:
            obs_name.append("src_endpoint.ip")
            obs_value.append(ip)
            obs_type.append("IP Address")
            obs_id.append(2)
        if user_name:
            obs_name.append("actor.user.name")
            obs_value.append(user_name)
            obs_type.append("User Name")
            obs_id.append(4)
        if user_name2:
            obs_name.append("user.name")
            obs_value.append(user_name2)
            obs_type.append("User Name")
            obs_id.append(4)
        obs_offsets.append(len(obs_name))
    return _table(c, flag, codes, infos, (u_keys, u_values, u_offsets),
                  (res_uid, res_type, res_acct, res_offsets, res_valid),
                  (obs_name, obs_value, obs_type, obs_id, obs_offsets)), left


def _table(c: dict[str, list[Any]], flag: dict[str, list[bool]], codes: list[int], infos: list[dict[str, Any]],
           unmapped: tuple[list[str], list[str], list[int]], resources: tuple[list[Any], ...],
           observables: tuple[list[Any], ...]) -> pa.Table:
    """The flat table of the columns :func:`map_batch` gathered."""
    m = len(codes)
    out: dict[str, Any] = {}
    take = pa.array(codes, pa.int32())
    for k in _CLASS_KEYS:
        out[k] = pa.array([info[k] for info in infos], TYPES[k]).take(take)
    for k, values in c.items():
        if not k.startswith("_") and k not in ("region", "accountid"):
            out[k] = pa.array(values, TYPES[k])
    out["time_dt"] = out["time"]
    for k, v in (("metadata.product.name", "CloudTrail"), ("metadata.product.vendor_name", "AWS"),
                 ("cloud.provider", "AWS")):
        out[k] = pa.repeat(pa.scalar(v, pa.string()), m)
    out["metadata.profiles"] = pa.repeat(pa.scalar(["cloud", "datetime"], TYPES["metadata.profiles"]), m) if m \
        else pa.array([], TYPES["metadata.profiles"])  # repeat() of a list needs one row
    region = pa.array(c["region"], pa.string())
    account = pa.array(c["accountid"], pa.string())
    out["cloud.region"] = out["region"] = out["_region"] = region
    out["accountid"] = out["_account"] = account
    keys, values, offsets = unmapped
    out["unmapped"] = pa.MapArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(keys, pa.string()),
                                              pa.array(values, pa.string()), type=TYPES["unmapped"])
    uid, typ, acct, res_offsets, valid = resources
    rtype = TYPES["resources"]
    inner = pa.StructArray.from_arrays(
        [pa.array(uid, pa.string()),
         pa.StructArray.from_arrays([pa.StructArray.from_arrays([pa.array(acct, pa.string())], ["uid"])],
                                    ["account"]),
         pa.array(typ, pa.string())], fields=list(rtype.value_type))
    out["resources"] = pa.ListArray.from_arrays(pa.array(res_offsets, pa.int32()), inner, type=rtype,
                                                mask=pa.array([not v for v in valid], pa.bool_()))
    names, obs_values, types, ids, obs_offsets = observables
    otype = TYPES["observables"]
    inner = pa.StructArray.from_arrays([pa.array(names, pa.string()), pa.array(obs_values, pa.string()),
                                        pa.array(types, pa.string()), pa.array(ids, pa.int32())],
                                       fields=list(otype.value_type))
    counts = np.diff(np.asarray(obs_offsets))
    out["observables"] = pa.ListArray.from_arrays(pa.array(obs_offsets, pa.int32()), inner, type=otype,
                                                  mask=pa.array(counts == 0))
    for k in DOTTED:
        out[f"?{k}"] = pa.array(flag[k], pa.bool_()) if k in flag else pa.repeat(pa.scalar(True), m)
    out["_source"] = pa.array(c["_source"], pa.string())
    out["_day"] = pa.array(c["_day"], pa.string())
    out["_day_ms"] = out["time"]
    return pa.Table.from_pydict({k: out[k] for k in FLAT_SCHEMA.names}, schema=FLAT_SCHEMA)
