"""Column-wise CloudTrail mapping: a batch of raw records in DuckDB → flat Arrow columns, as :func:`map_record` maps.

DuckDB parses the batch once and extracts every field the mapping reads (one ``json_extract`` with the list of
paths); the branches of :func:`~slake_forensics.importers.cloudtrail.map_record` run as Arrow compute over the
columns; classes come from the same Python tables (one call per distinct eventName); ``unmapped`` is built by the
same Python walk (:func:`~slake_forensics.importers.cloudtrail.unmapped_of`) over what DuckDB left after dropping the
consumed keys. Records the columns cannot map as the per-record mapper would (no eventName, a time that is not a plain
ISO 8601 text, a field of an unexpected JSON type, a partition that is not a folder name, a non-object element) are
mapped one at a time by :func:`map_record` itself, so they keep its rejects and their reasons.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from slake_forensics.core.catalog import SOURCES
from slake_forensics.importers.cloudtrail import (
    _CONSUMED, _IDENTITY_CONSUMED, ASSUME_EVENTS, _classification, _dumps, _epoch_ms, map_record, unmapped_of,
)
from slake_forensics.importers.record import Mapped, RejectRecord, unforeseen

#: (name, JSON path) of every raw field the mapping reads.
PATHS = (
    ("name", "$.eventName"), ("etime", "$.eventTime"), ("ts", '$."@timestamp"'), ("source", "$.eventSource"),
    ("req", "$.requestParameters"), ("resp", "$.responseElements"), ("ident", "$.userIdentity"),
    ("aed", "$.additionalEventData"), ("error", "$.errorCode"), ("category", "$.eventCategory"),
    ("region", "$.awsRegion"), ("recipient", "$.recipientAccountId"), ("ident_account", "$.userIdentity.accountId"),
    ("version", "$.eventVersion"), ("event_id", "$.eventID"), ("event_type", "$.eventType"),
    ("api_version", "$.apiVersion"), ("request_id", "$.requestID"), ("error_message", "$.errorMessage"),
    ("agent", "$.userAgent"), ("src", "$.sourceIPAddress"), ("vpce", "$.vpcEndpointId"),
    ("arn", "$.userIdentity.arn"), ("user_name", "$.userIdentity.userName"), ("utype", "$.userIdentity.type"),
    ("principal", "$.userIdentity.principalId"), ("key_id", "$.userIdentity.accessKeyId"),
    ("invoked_by", "$.userIdentity.invokedBy"), ("ctx", "$.userIdentity.sessionContext"),
    ("issuer", "$.userIdentity.sessionContext.sessionIssuer"),
    ("issuer_arn", "$.userIdentity.sessionContext.sessionIssuer.arn"),
    ("attrs", "$.userIdentity.sessionContext.attributes"),
    ("created", "$.userIdentity.sessionContext.attributes.creationDate"),
    ("mfa", "$.userIdentity.sessionContext.attributes.mfaAuthenticated"),
    ("web", "$.userIdentity.sessionContext.webIdFederationData"),
    ("fed", "$.userIdentity.sessionContext.webIdFederationData.federatedProvider"),
    ("idp", "$.userIdentity.identityProvider"), ("login", "$.responseElements.ConsoleLogin"),
    ("role_arn", "$.requestParameters.roleArn"), ("session_name", "$.requestParameters.roleSessionName"),
    ("req_user", "$.requestParameters.userName"), ("req_role", "$.requestParameters.roleName"),
    ("policy", "$.requestParameters.policyArn"), ("key_status", "$.requestParameters.status"),
    ("resp_user", "$.responseElements.user"), ("resp_role", "$.responseElements.role"),
    ("ru_arn", "$.responseElements.user.arn"), ("ru_user_id", "$.responseElements.user.userId"),
    ("ru_role_id", "$.responseElements.user.roleId"), ("rr_arn", "$.responseElements.role.arn"),
    ("rr_user_id", "$.responseElements.role.userId"), ("rr_role_id", "$.responseElements.role.roleId"),
    ("login_to", "$.additionalEventData.LoginTo"), ("mfa_used", "$.additionalEventData.MFAUsed"),
    ("resources", "$.resources"),
)
#: Fields the mapping copies into text columns: any other JSON type goes to the per-record mapper.
TEXTS = ("name", "source", "error", "category", "region", "recipient", "ident_account", "version", "event_id",
         "event_type", "api_version", "request_id", "error_message", "agent", "src", "vpce", "arn", "user_name",
         "utype", "principal", "key_id", "invoked_by", "issuer_arn", "fed", "idp", "role_arn", "session_name",
         "req_user", "req_role", "policy", "ru_arn", "ru_user_id", "ru_role_id", "rr_arn", "rr_user_id", "rr_role_id",
         "login_to")
#: Fields whose Python truthiness the mapping tests (``x or y``, ``if x``).
TRUTHY = ("error", "category", "region", "recipient", "ident_account", "created", "fed", "idp", "req_user",
          "resp_user", "ru_user_id", "rr_user_id", "user_name", "src")
#: Raw JSON text wanted for these (api.request.data / api.response.data).
RAW = ("req", "resp")

#: Merge patch dropping what the mapping consumes, so Python only walks the rest for ``unmapped``.
_PATCH = orjson.dumps({
    **dict.fromkeys(sorted(_CONSUMED)),
    "userIdentity": {**dict.fromkeys(sorted(_IDENTITY_CONSUMED - {"sessionContext"})),
                     "sessionContext": {"attributes": None, "sessionIssuer": {"arn": None}}},
}).decode()

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


@dataclass
class Chunk:
    """What :func:`map_chunk` made of one batch of records.

    ``table`` holds the mapped rows in input order (see :func:`flat_from_rows` for its columns); ``rejects`` lists
    ``(index in the batch, reason, raw record)``.
    """

    records: int
    table: pa.Table
    rejects: list[tuple[int, str, Any]]


def _sql() -> str:
    paths = "[" + ", ".join("'" + p.replace("'", "''") + "'" for _, p in PATHS) + "]"
    k = [name for name, _ in PATHS].index("resources") + 1
    res = f"CASE WHEN tl[{k}] = 'ARRAY' AND sl[{k}] <> '[]' THEN [{{" + ", ".join(
        f"'{n}': e->>'{p}'" for n, p in (("uid", "ARN"), ("type", "type"), ("acct", "accountId"))) + ", 'odd': " + \
        " OR ".join(f"coalesce(json_type(e, '{p}') NOT IN ('VARCHAR', 'NULL'), false)" for p in ("ARN", "type", "accountId")) \
        + f"}} FOR e IN from_json(sl[{k}], '[\"JSON\"]') IF json_type(e) = 'OBJECT'] END"
    split = ", ".join(f"tl[{n}] AS t_{name}, sl[{n}] AS v_{name}" for n, (name, _) in enumerate(PATHS, start=1))
    # one parse per record for the types, one for the texts, one for what is left for unmapped
    return (f"WITH r AS (SELECT row_number() OVER () - 1 AS i, json AS j FROM read_json_objects(?, format='array', "
            f"maximum_object_size=33554432)), x AS (SELECT i, j, CASE WHEN starts_with(ltrim(j::VARCHAR), '{{') THEN 'OBJECT' ELSE 'OTHER' END AS t_record, json_type(j, {paths}) AS tl, "
            f"json_extract_string(j, {paths}) AS sl FROM r) "
            f"SELECT i, t_record, {split}, {res} AS res, CASE WHEN t_record = 'OBJECT' THEN "
            f"json_merge_patch(j, '{_PATCH}')::VARCHAR END AS rest FROM x")


SQL = _sql()


def connect(threads: int = 1) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection for :func:`map_chunk`.

    Parameters
    ----------
    threads : int
        DuckDB worker threads (one per process when files are mapped in parallel processes).

    Returns
    -------
    duckdb.DuckDBPyConnection
        With no access to anything but the files it is given.

    Examples
    --------
    >>> connect().sql("SELECT 1").fetchall()
    [(1,)]
    """
    con = duckdb.connect(config={"threads": threads, "memory_limit": "256MB"})
    return con


def _np(a: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(a.to_numpy(zero_copy_only=False))


_SUSPECT_NUMBER = r"[0-9][eE][-+]?[0-9]|[0-9]{16,}\.[0-9]|\\u|0\.0000|NaN|Infinity"


def map_chunk(con: duckdb.DuckDBPyConnection, text: str | bytes, options: Mapping[str, str],
              day: Callable[[Any], str], check: Callable[[str, str, str], None]) -> Chunk | None:
    """Map a batch of CloudTrail records column-wise.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        From :func:`connect`.
    text : str or bytes
        The records as JSON array elements separated by commas, without the enclosing brackets (bytes: UTF-8).
    options : Mapping[str, str]
        ``account`` / ``region`` fallbacks, as for :func:`~slake_forensics.importers.cloudtrail.map_record`.
    day : callable
        ``time`` (epoch ms) → ``YYYYMMDD``.
    check : callable
        ``check(source, account, region)`` raises :class:`RejectRecord` for a partition that is not a folder name.

    Returns
    -------
    Chunk or None
        ``None`` when ``text`` is not a comma-separated list of JSON values, or holds one DuckDB or orjson reads
        otherwise than Python's ``json`` (the caller then cuts elsewhere, and at last decodes one at a time).

    Examples
    --------
    >>> c = map_chunk(connect(), '{"eventTime": "2024-05-01T12:00:00Z", "eventName": "CreateUser", '
    ...               '"recipientAccountId": "111122223333", "awsRegion": "us-east-1"}, {"eventName": "X"}',
    ...               {}, lambda ms: "20240501", lambda *a: None)
    >>> c.records, c.table["class_uid"].to_pylist(), [r[1][:13] for r in c.rejects]
    (2, [3001], ['X: no eventTi'])
    """
    fd, tmp = tempfile.mkstemp(suffix=".json", prefix="slake-ct-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(b"[")
            f.write(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
            f.write(b"]")
        try:
            t = con.sql(SQL, params=[tmp]).to_arrow_table()
        except duckdb.Error:
            # a cut inside a string or an object (cut elsewhere), or input DuckDB reads otherwise than Python's
            # json (a number beyond a double such as 1e400): the caller decodes these elements one at a time
            return None
        try:
            table, odd = _map(t, options, day, check)
        except orjson.JSONDecodeError:  # a number orjson refuses (1e400 is infinity): decoded one at a time
            return None
        rejects: list[tuple[int, str, Any]] = []
        if odd.any():  # the per-record mapper on the records the columns cannot map, in input order
            idx = [int(i) for i in np.flatnonzero(odd)]
            try:
                raws = con.execute(RAW_SQL, [tmp, idx]).fetchall()
            except duckdb.Error:
                return None
            mapped: list[Mapped] = []
            at: list[int] = []
            raws_by_i: dict[int, Any] = {}
            for i, text_i in raws:
                try:
                    raw = orjson.loads(text_i)
                except orjson.JSONDecodeError:  # text orjson refuses (a lone surrogate): decoded one at a time
                    return None
                if not isinstance(raw, dict):
                    rejects.append((i, f"array element is not a JSON object: {str(raw)[:80]!r}", json.dumps(raw)))
                    continue
                raws_by_i[i] = raw
                try:
                    m = map_record(raw, options)
                    check(m.source, m.account, m.region)
                    day(m.row.get("time"))
                except RejectRecord as e:
                    rejects.append((i, str(e), raw))
                    continue
                except Exception as e:  # a hostile value the mapper did not foresee: that record only
                    rejects.append((i, str(unforeseen("cloudtrail", e)), raw))
                    continue
                mapped.append(m)
                at.append(i)
            keep, unfit = fitting_rows(mapped, day)
            if unfit:
                rejects += [(at[j], why, raws_by_i[at[j]]) for j, why in unfit]
                rejects.sort(key=lambda r: r[0])
                mapped, at = [mapped[j] for j in keep], [at[j] for j in keep]
            if mapped:
                both = pa.concat_tables([table.append_column("_i", pa.array(np.flatnonzero(~odd), pa.int64())),
                                         flat_from_rows(mapped, day).append_column("_i", pa.array(at, pa.int64()))])
                table = both.take(pc.sort_indices(both["_i"])).drop_columns(["_i"])
    finally:
        os.unlink(tmp)
    return Chunk(t.num_rows, table, rejects)


RAW_SQL = ("SELECT i, j FROM (SELECT row_number() OVER () - 1 AS i, json::VARCHAR AS j FROM read_json_objects(?, "
           "format='array', maximum_object_size=33554432)) WHERE list_contains(?, i) ORDER BY i")


_NUMBERS = ("BIGINT", "UBIGINT", "HUGEINT", "DOUBLE")


def _path_columns(t: pa.Table) -> dict[str, pa.Array]:
    """The query's columns in input order, plus ``b_<name>`` (Python truthiness) and ``j_<name>`` (JSON text) for
    the paths of :data:`TRUTHY` and :data:`RAW`."""
    i = t["i"].combine_chunks()
    if len(i) > 1 and not pc.all(pc.greater(i[1:], i[:-1])).as_py():
        t = t.take(pc.sort_indices(i))
    col = {k: c.chunk(0) if c.num_chunks == 1 else c.combine_chunks() for k in t.column_names for c in [t[k]]}
    for name in TRUTHY:
        typ, text = col[f"t_{name}"], col[f"v_{name}"]
        num = pc.fill_null(pc.is_in(typ, pa.array(_NUMBERS)), False)
        number = pc.cast(pc.if_else(num, text, "0"), pa.float64())
        col[f"b_{name}"] = pc.fill_null(pc.or_(
            pc.or_(pc.and_(pc.equal(typ, "VARCHAR"), pc.not_equal(text, "")),
                   pc.and_(pc.equal(typ, "BOOLEAN"), pc.equal(text, "true"))),
            pc.or_(pc.and_(num, pc.not_equal(number, 0.0)),
                   pc.or_(pc.and_(pc.equal(typ, "OBJECT"), pc.not_equal(text, "{}")),
                          pc.and_(pc.equal(typ, "ARRAY"), pc.not_equal(text, "[]"))))), False)
    for name in RAW:
        col[f"j_{name}"] = col[f"v_{name}"]
    return col


def _accessors(col: dict[str, pa.Array]) -> tuple[Callable[[str], np.ndarray], Callable[[str], pa.Array],
                                                  Callable[[str], np.ndarray], Callable[[str, str], np.ndarray]]:
    """``typ, val, truthy, eq`` over a batch's path columns: a path's JSON type (``t_<name>``, "" for absent), its text
    (``v_<name>``), its truth (``b_<name>``) and whether its text equals a constant."""
    def typ(name: str) -> np.ndarray:
        return _np(col[f"t_{name}"].fill_null(""))

    def val(name: str) -> pa.Array:
        return col[f"v_{name}"]

    def truthy(name: str) -> np.ndarray:
        return _np(col[f"b_{name}"])

    def eq(name: str, text: str) -> np.ndarray:
        return _np(pc.fill_null(pc.equal(val(name), text), False))

    return typ, val, truthy, eq


def _map(t: pa.Table, options: Mapping[str, str], day: Callable[[Any], str],
         check: Callable[[str, str, str], None]) -> tuple[pa.Table, np.ndarray]:
    n = t.num_rows
    col = _path_columns(t)
    typ, val, truthy, eq = _accessors(col)

    t_record = typ("record")
    odd = t_record != "OBJECT"
    name_ok = (typ("name") == "VARCHAR") & _np(pc.fill_null(pc.not_equal(val("name"), ""), False))
    odd |= ~name_ok
    ident_t = typ("ident")
    odd |= ~np.isin(ident_t, ("", "NULL", "OBJECT"))
    for f in TEXTS:
        odd |= ~np.isin(typ(f), ("", "NULL", "VARCHAR"))
    etime_t = typ("etime")
    use_ts = np.isin(etime_t, ("", "NULL"))
    when_t = np.where(use_ts, typ("ts"), etime_t)
    odd |= when_t != "VARCHAR"
    when = pc.if_else(pa.array(use_ts), val("ts"), val("etime"))
    ctx_obj = typ("ctx") == "OBJECT"
    attrs_obj = ctx_obj & (typ("attrs") == "OBJECT")
    created_set = attrs_obj & truthy("created")
    odd |= created_set & (typ("created") != "VARCHAR")
    res_col = col["res"]
    if res_col.null_count < n:
        flat_res = pc.list_flatten(res_col)
        if len(flat_res):
            odd_elem = _np(flat_res.field("odd"))
            if odd_elem.any():
                owner = _np(pc.list_parent_indices(res_col))
                odd[np.unique(owner[odd_elem])] = True

    # times, one Python call each (the same function as the per-record mapper, so the same ms and the same rejects)
    times = np.zeros(n, np.int64)
    created_ms = np.zeros(n, np.int64)
    when_list = when.to_pylist()
    created_list = val("created").to_pylist()
    for i in np.flatnonzero(~odd):
        try:
            times[i] = _epoch_ms(when_list[i], "eventTime")
            if created_set[i]:
                created_ms[i] = _epoch_ms(created_list[i], "sessionContext.attributes.creationDate")
        except RejectRecord:
            odd[i] = True

    # classes: one Python call per distinct (eventName, Inactive key) pair
    names = val("name")
    inactive = (eq("name", "UpdateAccessKey") & (typ("req") == "OBJECT") & (typ("key_status") == "VARCHAR")
                & eq("key_status", "Inactive"))
    keyed = pc.binary_join_element_wise(pc.fill_null(names, ""), pa.array(np.where(inactive, "I", "")), "\x00")
    enc = keyed.dictionary_encode()
    codes = _np(enc.indices)
    infos = []
    for k in enc.dictionary.to_pylist():
        nm, _, flag = k.partition("\x00")
        infos.append(_classification(nm, {"status": "Inactive"} if flag else None) if nm else _classification("X", None))
    class_cols = {k: pa.array([info[k] for info in infos], TYPES[k]).take(pa.array(codes)) for k in infos[0]}
    class_uid = _np(class_cols["class_uid"])
    auth = class_uid == 3002
    acct_change = class_uid == 3001

    # partitions
    category_data = eq("category", "Data")
    source = np.full(n, "cloud_trail_mgmt", dtype=object)
    source[category_data & eq("source", "s3.amazonaws.com")] = "s3_data"
    source[category_data & eq("source", "lambda.amazonaws.com") & eq("name", "Invoke")] = "lambda_execution"
    opt_region = options.get("region") or ""
    opt_account = options.get("account") or ""
    region = pc.if_else(pa.array(truthy("region")), val("region"), opt_region)
    account = pc.if_else(pa.array(truthy("recipient")), val("recipient"),
                         pc.if_else(pa.array(truthy("ident_account")), val("ident_account"), opt_account))
    src_arr = pa.array(source, pa.string())
    part = pc.binary_join_element_wise(src_arr, account, region, "|").dictionary_encode()
    bad_parts = []
    for k, p in enumerate(part.dictionary.to_pylist()):
        s, a, r = p.split("|")
        try:
            check(s, a, r)
        except RejectRecord:
            bad_parts.append(k)
    if bad_parts:
        odd |= np.isin(_np(part.indices), bad_parts)

    ok = np.flatnonzero(~odd)
    return _columns(col, ok, class_cols, times, created_ms, created_set, ctx_obj, attrs_obj, auth, acct_change,
                    source, account, region, day), odd


def _columns(col: dict[str, pa.Array], ok: np.ndarray, class_cols: dict[str, pa.Array], times: np.ndarray,
             created_ms: np.ndarray, created_set: np.ndarray, ctx_obj: np.ndarray, attrs_obj: np.ndarray,
             auth: np.ndarray, acct_change: np.ndarray, source: np.ndarray, account: pa.Array, region: pa.Array,
             day: Callable[[Any], str]) -> pa.Table:
    """The flat table of the rows ``ok`` (see :func:`map_record` for each branch)."""
    take = pa.array(ok)
    m = len(ok)
    if m < len(times):
        col = {k: v.take(take) for k, v in col.items()}
    times, created_ms, created_set = times[ok], created_ms[ok], created_set[ok]
    ctx_obj, attrs_obj, auth, acct_change = ctx_obj[ok], attrs_obj[ok], auth[ok], acct_change[ok]

    typ, val, truthy, eq = _accessors(col)

    def where(mask: np.ndarray, a: Any, b: Any) -> pa.Array:
        return pc.if_else(pa.array(mask, pa.bool_()), a, b)

    null = pa.nulls(m, pa.string())
    out: dict[str, Any] = {k: v.take(take) if m < len(source) else v for k, v in class_cols.items()}
    flags: dict[str, np.ndarray] = {}
    out["time"] = out["time_dt"] = pa.array(times, pa.int64())
    out["metadata.product.name"] = pa.array(["CloudTrail"] * m, pa.string())
    out["metadata.product.vendor_name"] = pa.array(["AWS"] * m, pa.string())
    out["metadata.product.version"] = val("version")
    out["metadata.product.feature.name"] = where(truthy("category"), val("category"), "Management, Data, and Insights")
    out["metadata.uid"] = val("event_id")
    out["metadata.event_code"] = val("event_type")
    out["metadata.profiles"] = pa.array([["cloud", "datetime"]] * m, TYPES["metadata.profiles"]) if m else \
        pa.array([], TYPES["metadata.profiles"])
    out["cloud.provider"] = pa.array(["AWS"] * m, pa.string())
    if m < len(source):
        region, account = region.take(take), account.take(take)
    out["cloud.region"] = region
    out["api.operation"] = val("name")
    out["api.service.name"] = val("source")
    out["api.version"] = val("api_version")
    has_request_id = typ("request_id") != ""
    out["api.request.uid"] = where(has_request_id, val("request_id"),
                                   where(eq("name", "ConsoleLogin"), "''", null))
    for key, name in (("api.request.data", "req"), ("api.response.data", "resp")):
        present = ~np.isin(typ(name), ("", "NULL"))
        text = where(present, col[f"j_{name}"], null)
        suspect = _np(pc.fill_null(pc.match_substring_regex(text, _SUSPECT_NUMBER), False))
        quote = typ(name) == "VARCHAR"  # a text: json_extract_string gave it without its quotes
        if suspect.any() or quote.any():  # numbers DuckDB and orjson print differently: orjson prints them
            redone = text.to_pylist()
            for i in np.flatnonzero(suspect | quote):
                redone[i] = _dumps(redone[i] if quote[i] else orjson.loads(redone[i]))
            text = pa.array(redone, pa.string())
        out[key] = text
    out["api.response.error"] = val("error")
    out["api.response.message"] = val("error_message")
    out["http_request.user_agent"] = val("agent")
    src = val("src")
    is_domain = (typ("src") == "VARCHAR") & (
        _np(pc.fill_null(pc.ends_with(src, ".amazonaws.com"), False)) | eq("src", "AWS Internal"))
    out["src_endpoint.domain"] = where(is_domain, src, null)
    out["src_endpoint.ip"] = where(is_domain, null, src)
    flags["src_endpoint.domain"], flags["src_endpoint.ip"] = is_domain, ~is_domain
    out["src_endpoint.uid"] = val("vpce")
    out["actor.user.type"] = val("utype")
    out["actor.user.uid"] = val("arn")
    out["actor.user.uid_alt"] = val("principal")
    out["actor.user.account.uid"] = val("ident_account")
    out["actor.user.credential_uid"] = val("key_id")
    out["actor.invoked_by"] = val("invoked_by")
    issuer_obj = ctx_obj & (typ("issuer") == "OBJECT")
    out["actor.session.issuer"] = where(issuer_obj, val("issuer_arn"), null)
    flags["actor.session.issuer"] = issuer_obj
    out["actor.session.created_time_dt"] = pa.array(np.where(created_set, created_ms, 0), pa.int64(),
                                                    mask=~created_set)
    flags["actor.session.created_time_dt"] = created_set
    mfa_set = attrs_obj & ~np.isin(typ("mfa"), ("", "NULL"))
    mfa = np.isin(typ("mfa"), ("VARCHAR", "BOOLEAN")) & eq("mfa", "true")
    out["actor.session.is_mfa"] = pa.array(mfa, pa.bool_(), mask=~mfa_set)
    flags["actor.session.is_mfa"] = mfa_set
    fed = ctx_obj & (typ("web") == "OBJECT") & truthy("fed")
    idp = truthy("idp")
    out["actor.idp.name"] = where(idp, val("idp"), where(fed, val("fed"), null))
    flags["actor.idp.name"] = fed | idp
    out["actor.user.name"] = val("user_name")

    # Authentication and Account Change: user, policy, status, destination, MFA
    req_obj, resp_obj, aed_obj = typ("req") == "OBJECT", typ("resp") == "OBJECT", typ("aed") == "OBJECT"
    assume = auth & np.isin(_np(val("name").fill_null("")), sorted(ASSUME_EVENTS)) & req_obj
    change = acct_change & req_obj
    created = np.where(truthy("resp_user"), typ("resp_user"), typ("resp_role"))
    created_obj = change & resp_obj & (created == "OBJECT")
    from_user = truthy("resp_user")
    c_arn = where(from_user, val("ru_arn"), val("rr_arn"))
    c_user_id = where(from_user, val("ru_user_id"), val("rr_user_id"))
    c_user_id_set = np.where(from_user, truthy("ru_user_id"), truthy("rr_user_id"))
    c_alt = where(c_user_id_set, c_user_id, where(from_user, val("ru_role_id"), val("rr_role_id")))
    out["user.uid"] = where(assume, val("role_arn"), where(auth, val("arn"), where(created_obj, c_arn, null)))
    out["user.name"] = where(assume, val("session_name"),
                             where(change, where(truthy("req_user"), val("req_user"), val("req_role")), null))
    out["user.uid_alt"] = where(auth & ~assume, val("principal"), where(created_obj, c_alt, null))
    flags["user.uid"] = auth | created_obj
    flags["user.name"] = assume | change
    flags["user.uid_alt"] = (auth & ~assume) | created_obj
    out["policy.uid"] = where(change, val("policy"), null)
    flags["policy.uid"] = change
    dst = auth & aed_obj
    out["dst_endpoint.svc_name"] = where(dst, val("login_to"), null)
    flags["dst_endpoint.svc_name"] = dst
    mfa_used_set = dst & ~np.isin(typ("mfa_used"), ("", "NULL"))
    out["is_mfa"] = pa.array((typ("mfa_used") == "VARCHAR") & eq("mfa_used", "Yes"), pa.bool_(), mask=~mfa_used_set)
    login = (resp_obj & (typ("login") == "VARCHAR")
             & (eq("login", "Success") | eq("login", "Failure")))
    status = np.where(truthy("error"), "Failure", "Success").astype(object)
    status[auth] = "Other"
    status[auth & login] = _np(val("login").fill_null(""))[auth & login]
    out["status"] = pa.array(status, pa.string())

    # unmapped: the per-record walk over what DuckDB left of each record
    rests = col["rest"].to_pylist()
    cls = _np(out["class_uid"])
    keys: list[str] = []
    values: list[str] = []
    offsets = np.zeros(m + 1, np.int32)
    for row, text in enumerate(rests):
        u = unmapped_of(orjson.loads(text), int(cls[row]))
        keys += u.keys()
        values += u.values()
        offsets[row + 1] = len(keys)
    out["unmapped"] = pa.MapArray.from_arrays(pa.array(offsets), pa.array(keys, pa.string()),
                                              pa.array(values, pa.string()), type=TYPES["unmapped"])
    out["resources"] = _resources(col["res"])
    out["observables"] = _observables(out, truthy("user_name"), m)
    out["accountid"] = account
    out["region"] = region
    for k in DOTTED:
        f = flags.get(k)
        out[f"?{k}"] = pa.array(np.ones(m, bool) if f is None else f, pa.bool_())
    out["_source"] = pa.array(source[ok], pa.string())
    out["_account"] = account
    out["_region"] = region
    days = times // 86_400_000
    uniq, inv = np.unique(days, return_inverse=True)
    out["_day"] = pa.array([day(int(d) * 86_400_000) for d in uniq], pa.string()).take(pa.array(inv.reshape(-1)))
    out["_day_ms"] = out["time"]
    return pa.Table.from_pydict({k: out[k] for k in FLAT_SCHEMA.names}, schema=FLAT_SCHEMA)


def _resources(res: pa.Array) -> pa.Array:
    typ = TYPES["resources"]
    elem = pc.list_flatten(res)
    inner = pa.StructArray.from_arrays(
        [elem.field("uid"),
         pa.StructArray.from_arrays([pa.StructArray.from_arrays([elem.field("acct")], ["uid"])], ["account"]),
         elem.field("type")], fields=list(typ.value_type))
    offsets = pc.fill_null(res.offsets, 0) if res.offsets.null_count else res.offsets
    return pa.ListArray.from_arrays(offsets, inner, type=typ, mask=res.is_null())


_OBS = (("src_endpoint.ip", "IP Address", 2), ("actor.user.name", "User Name", 4), ("user.name", "User Name", 4))


def _observables(out: dict[str, Any], user_name_set: np.ndarray, m: int) -> pa.Array:
    typ = TYPES["observables"]
    masks = []
    for key, _, _ in _OBS:
        if key == "actor.user.name":
            masks.append(user_name_set)
        else:
            masks.append(_np(pc.fill_null(pc.not_equal(out[key], ""), False)))
    mask = np.stack(masks, axis=1)
    idx = np.arange(3 * m).reshape(3, m).T[mask]
    names = pa.array([k for k, _, _ in _OBS for _ in range(m)], pa.string())
    values = pa.concat_arrays([out[k] for k, _, _ in _OBS])
    types = pa.array([t for _, t, _ in _OBS for _ in range(m)], pa.string())
    ids = pa.array([i for _, _, i in _OBS for _ in range(m)], pa.int32())
    inner = pa.StructArray.from_arrays([a.take(pa.array(idx, pa.int64())) for a in (names, values, types, ids)],
                                       fields=list(typ.value_type))
    counts = mask.sum(axis=1)
    offsets = np.zeros(m + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), inner, type=typ, mask=pa.array(counts == 0))
