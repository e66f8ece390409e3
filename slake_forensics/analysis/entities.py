"""Where each kind of entity lives in each source: one map for extraction and for pivots.

:data:`ENTITY_FIELDS` says, per source and entity type, which OCSF fields hold values of that
type.  The same :class:`Field` objects give

* the vectorized extraction behind :func:`entities` (over a flattened frame from ``Lake.load``),
* the Athena SQL predicate behind :func:`slake_forensics.analysis.pivot.pivot` (``?`` placeholders only;
  values and type filters are bound parameters).

Entity types (:data:`ENTITY_TYPES`):

``ip``
    ``src_endpoint.ip``, ``dst_endpoint.ip``, ``intermediate_ips``, WAF ``x_forwarded_for``,
    Route 53 A/AAAA answers, finding evidences' endpoints, observables of type IP Address.
``principal``
    ``actor.user.uid`` (ARN), ``actor.user.uid_alt`` (principal id), ``actor.user.name``,
    ``actor.session.issuer`` (role ARN); in CloudTrail also ``user.uid`` / ``user.uid_alt`` /
    ``user.name``, the identity an Account Change event acts on (CreateUser, CreateAccessKey …);
    finding resources of type AwsIamUser/AwsIamRole; observables of type User Name.
``access_key``
    ``actor.user.credential_uid`` (CloudTrail), ``actor.session.credential_uid`` (EKS), the
    ``accessKeyId`` of a CloudTrail request (UpdateAccessKey, DeleteAccessKey …), finding
    resources of type AwsIamAccessKey (Security Hub's ``AWS::IAM::AccessKey:`` prefix stripped).
``account``
    ``accountid``, ``actor.user.account.uid``, ``cloud.account.uid``, resource owners.
``bucket`` / ``object``
    ``$.bucketName`` / ``$.bucketName`` + ``/`` + ``$.key`` of ``api.request.data``; resources of
    type ``AWS::S3::Bucket`` / ``AWS::S3::Object`` (``arn:aws:s3:::`` stripped); finding resources
    of type AwsS3Bucket.
``instance``
    ``instance_uid`` of endpoints; CloudTrail resources of type ``AWS::EC2::Instance`` and
    request ``$.instanceId``; finding resources of type AwsEc2Instance.
``domain``
    ``query.hostname`` (Route 53 form, trailing dot), ``src_endpoint.domain`` (AWS service
    callers), ``http_request.url.hostname``, evidences' query hostname, observables of type Hostname.
``user_agent``
    ``http_request.user_agent``.

Values are compared exactly, except that a field may store values with a known prefix
(``arn:aws:s3:::``, ``AWS::IAM::AccessKey:``); extraction strips it and predicates match both forms.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from slake_forensics.core.catalog import Source, source as find_source
from slake_forensics.sql.build import literal, quote_identifier
from slake_forensics.analysis.normalize import Json, STRING, TIME, column_array, expressions
from slake_forensics.core.ocsf import type_at

#: Every entity type, in the order :func:`entities` sorts them.
ENTITY_TYPES: tuple[str, ...] = ("ip", "principal", "access_key", "account", "bucket", "object", "instance", "domain", "user_agent")

#: OCSF observable ``type_id`` values used here.
OBSERVABLE_IP, OBSERVABLE_HOSTNAME, OBSERVABLE_USER_NAME = 2, 1, 4


def _ref(path: str) -> str:
    return ".".join(quote_identifier(p) for p in path.split("."))


@dataclass(frozen=True)
class Field:
    """One place an entity's values are stored.

    ``path`` is a column (dotted leaf).  When ``item`` is not ``None`` the column is a list and
    the values are its elements (``item == ""``: a list of strings) or a dotted field of its
    struct elements; ``type_field`` / ``types`` keep only elements whose ``type_field`` is one
    of ``types``.  ``json`` names keys of a JSON-text column whose scalar values, joined with
    ``/``, are the value.  Stored values may carry one of ``prefixes`` before the entity value.

    Parameters
    ----------
    path
        The column.
    item
        ``None`` for a scalar column; for a list column ``""`` (list of strings) or the dotted
        field of its struct elements.
    type_field, types
        Keep only list elements whose ``type_field`` is one of ``types`` (empty: all).
    json
        Keys of a JSON-text column whose values, joined with ``/``, are the value.
    prefixes
        Prefixes stored values may carry (``arn:aws:s3:::``).

    Examples
    --------
    >>> bucket = Field("resources", "uid", "type", ("AWS::S3::Bucket",), prefixes=("arn:aws:s3:::",))
    >>> bucket.name
    "resources[type in ['AWS::S3::Bucket']].uid"
    >>> print(bucket.predicate(["wingtip-customer-exports-7cd9ef"])[0])
    any_match("resources", x -> x."uid" IN (?, ?) AND x."type" IN (?))
    """

    path: str
    item: str | None = None
    type_field: str = ""
    types: tuple[str | int, ...] = ()
    json: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """A readable name of the field: ``src_endpoint.ip``, ``resources[].uid``, ``api.request.data$.bucketName``.

        Examples
        --------
        >>> Field("api.request.data", json=("bucketName", "key")).name
        'api.request.data$.bucketName+key'
        """
        if self.json:
            return f"{self.path}$." + "+".join(self.json)
        if self.item is not None:
            inner = f".{self.item}" if self.item else ""
            cond = f"[{self.type_field} in {list(self.types)}]" if self.types else "[]"
            return f"{self.path}{cond}{inner}"
        return self.path

    # ---- SQL ----------------------------------------------------------------------------

    def stored(self, values: list[str]) -> list[str]:
        """The values as they may appear in the field (each bare and with each prefix).

        Parameters
        ----------
        values
            Entity values.

        Returns
        -------
        list of str

        Examples
        --------
        >>> Field("resources", "uid", prefixes=("arn:aws:s3:::",)).stored(["b1"])
        ['b1', 'arn:aws:s3:::b1']
        """
        return [p + v for v in values for p in ("", *self.prefixes)]

    def predicate(self, values: list[str]) -> tuple[str, list[str | int]]:
        """Athena SQL that is true when the field holds one of ``values``, with its parameters in order.

        Parameters
        ----------
        values
            Entity values (bound as parameters, never written into the SQL).

        Returns
        -------
        (str, list)
            The predicate with ``?`` placeholders and their values.

        Examples
        --------
        >>> sql, params = Field("api.request.data", json=("bucketName",)).predicate(["b1"])
        >>> print(sql)
        json_extract_scalar("api"."request"."data", '$.bucketName') IN (?)
        >>> params
        ['b1']
        """
        stored = self.stored(values)
        marks = ", ".join("?" for _ in stored)
        if self.json:
            parts = [f"json_extract_scalar({_ref(self.path)}, '$.{k}')" for k in self.json]
            expr = parts[0] if len(parts) == 1 else "(" + " || '/' || ".join(parts) + ")"
            return f"{expr} IN ({marks})", list(stored)
        if self.item is None:
            return f"{_ref(self.path)} IN ({marks})", list(stored)
        elem = "x" + "".join(f".{quote_identifier(p)}" for p in self.item.split(".") if p)
        cond = f"{elem} IN ({marks})"
        params: list[str | int] = list(stored)
        if self.types:
            kind = "x" + "".join(f".{quote_identifier(p)}" for p in self.type_field.split("."))
            cond += f" AND {kind} IN ({', '.join('?' for _ in self.types)})"
            params += list(self.types)
        return f"any_match({_ref(self.path)}, x -> {cond})", params

    def athena_values_sql(self) -> str:
        """An Athena (Trino) expression of type ``array(varchar)``: the values the field holds in one row.

        The SQL twin of :meth:`extract`, for building the per-day entity summary on Athena
        (:mod:`slake_forensics.analysis.entity_summary`): a scalar column gives a one-element array,
        a list column its elements (of the struct elements whose ``type_field`` is one of
        ``types``), a JSON text column the scalar values of ``json`` keys joined with ``/``; each
        of ``prefixes`` is stripped in turn and nulls, ``""`` and ``"-"`` are dropped, as
        :meth:`extract` does.  Only the field's own definition (column paths, types, keys,
        prefixes: constants of this module) is written into the SQL; no value from a user.

        Returns
        -------
        str
            The expression (never null: an empty array when the field holds nothing).

        Examples
        --------
        >>> print(Field("src_endpoint.ip").athena_values_sql())
        filter(ARRAY[CAST("src_endpoint"."ip" AS varchar)], v -> v IS NOT NULL AND v NOT IN ('', '-'))
        >>> sql = Field("resources", "uid", "type", ("AWS::S3::Bucket",), prefixes=("arn:aws:s3:::",)).athena_values_sql()
        >>> "IN ('AWS::S3::Bucket')" in sql, 'substr(CAST(x."uid" AS varchar), 14)' in sql
        (True, True)
        >>> print(Field("api.request.data", json=("bucketName", "key")).athena_values_sql().split(", v ->")[0])
        filter(ARRAY[json_extract_scalar("api"."request"."data", '$.bucketName') || '/' || json_extract_scalar("api"."request"."data", '$.key')]
        """
        if self.json:
            parts = [f"json_extract_scalar({_ref(self.path)}, {literal('$.' + k)})" for k in self.json]
            values = "ARRAY[" + f" || {literal('/')} || ".join(parts) + "]"
        elif self.item is None:
            values = f"ARRAY[CAST({_ref(self.path)} AS varchar)]"
        else:
            lists = f"COALESCE({_ref(self.path)}, ARRAY[])"
            if self.types:
                kind = "x" + "".join(f".{quote_identifier(p)}" for p in self.type_field.split("."))
                wanted = ", ".join(str(t) if isinstance(t, int) else literal(t) for t in self.types)
                lists = f"filter({lists}, x -> {kind} IN ({wanted}))"
            elem = "CAST(x" + "".join(f".{quote_identifier(p)}" for p in self.item.split(".") if p) + " AS varchar)"
            for prefix in self.prefixes:
                elem = f"IF(starts_with({elem}, {literal(prefix)}), substr({elem}, {len(prefix) + 1}), {elem})"
            values = f"transform({lists}, x -> {elem})"
            return f"filter({values}, v -> v IS NOT NULL AND v NOT IN ('', '-'))"
        for prefix in self.prefixes:  # scalar and JSON values: strip inside the one-element array
            values = f"transform({values}, v -> IF(starts_with(v, {literal(prefix)}), substr(v, {len(prefix) + 1}), v))"
        return f"filter({values}, v -> v IS NOT NULL AND v NOT IN ('', '-'))"

    # ---- extraction ----------------------------------------------------------------------

    def extract(self, df: pd.DataFrame, src: Source) -> tuple[np.ndarray, pa.Array]:
        """``(row positions, values)`` of every non-empty value the field holds in ``df`` (prefixes stripped).

        Parameters
        ----------
        df
            A flattened frame of ``src`` (``Lake.load``).
        src
            Its source.

        Returns
        -------
        (numpy.ndarray, pyarrow.Array)
            Row positions (a row appears once per value it holds) and the values as strings.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> from slake_forensics.core.catalog import source
        >>> dns = sf.Lake.sample().load("route53", "2026-05-14T20:07Z", "2026-05-14T20:08Z")
        >>> rows, values = Field("answers", "rdata", "type", ("A", "AAAA")).extract(dns, source("route53"))
        >>> rows[:1].tolist(), values[:1].to_pylist()
        ([0], ['94.130.27.54'])
        """
        if self.json:
            arrays = [Json(self.path, k).arrow(df, src) for k in self.json]
            values = arrays[0] if len(arrays) == 1 else pc.binary_join_element_wise(*arrays, "/", null_handling="emit_null")
            rows = np.arange(len(df))
        elif self.item is None:
            values = column_array(df, self.path, type_at(src.schema, self.path)).cast(pa.string())
            rows = np.arange(len(df))
        else:
            lists = column_array(df, self.path, type_at(src.schema, self.path))
            flat = pc.list_flatten(lists)
            rows = pc.list_parent_indices(lists).to_numpy()
            values = flat
            for name in filter(None, self.item.split(".")):
                values = pc.struct_field(values, name)
            values = values.cast(pa.string())
            if self.types:
                kind = flat
                for name in self.type_field.split("."):
                    kind = pc.struct_field(kind, name)
                keep = pc.fill_null(pc.is_in(kind, pa.array(self.types, kind.type)), False).to_numpy(zero_copy_only=False)
                rows, values = rows[keep], values.filter(pa.array(keep))
        for prefix in self.prefixes:
            starts = pc.fill_null(pc.starts_with(values, prefix), False)
            values = pc.if_else(starts, pc.utf8_slice_codeunits(values, len(prefix)), values)
        # "" and "-" (VPC Flow's no-value, e.g. the addresses of a NODATA record) name no entity
        keep = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, pa.array(["", "-"])))).to_numpy(zero_copy_only=False)
        return rows[keep], values.filter(pa.array(keep))


def _observables(type_id: int) -> Field:
    return Field("observables", "value", "type_id", (type_id,))


_S3_ARN = ("arn:aws:s3:::",)
#: Security Hub writes a GuardDuty access-key resource as ``AWS::IAM::AccessKey:<key id>``.
_ACCESS_KEY_ID = ("AWS::IAM::AccessKey:",)

_CLOUDTRAIL: dict[str, tuple[Field, ...]] = {
    "ip": (Field("src_endpoint.ip"), _observables(OBSERVABLE_IP)),
    "principal": (
        Field("actor.user.uid"), Field("actor.user.uid_alt"), Field("actor.user.name"), Field("actor.session.issuer"),
        Field("user.uid"), Field("user.uid_alt"), Field("user.name"),
    ),
    "access_key": (Field("actor.user.credential_uid"), Field("api.request.data", json=("accessKeyId",))),
    "account": (Field("accountid"), Field("actor.user.account.uid"), Field("resources", "owner.account.uid")),
    "bucket": (
        Field("api.request.data", json=("bucketName",)),
        Field("resources", "uid", "type", ("AWS::S3::Bucket",), prefixes=_S3_ARN),
    ),
    "object": (
        Field("api.request.data", json=("bucketName", "key")),
        Field("resources", "uid", "type", ("AWS::S3::Object",), prefixes=_S3_ARN),
    ),
    "instance": (
        Field("api.request.data", json=("instanceId",)),
        Field("resources", "uid", "type", ("AWS::EC2::Instance",)),
    ),
    "domain": (Field("src_endpoint.domain"),),
    "user_agent": (Field("http_request.user_agent"),),
}

#: Per source and entity type, the fields holding values of that type.
ENTITY_FIELDS: dict[str, dict[str, tuple[Field, ...]]] = {
    "cloud_trail_mgmt": _CLOUDTRAIL,
    "s3_data": _CLOUDTRAIL,
    "lambda_execution": _CLOUDTRAIL,
    "vpc_flow": {
        "ip": (
            Field("src_endpoint.ip"), Field("dst_endpoint.ip"),
            Field("src_endpoint.intermediate_ips", ""), Field("dst_endpoint.intermediate_ips", ""),
            _observables(OBSERVABLE_IP),
        ),
        "account": (Field("accountid"), Field("cloud.account.uid")),
        "instance": (Field("src_endpoint.instance_uid"), Field("dst_endpoint.instance_uid")),
    },
    "route53": {
        "ip": (Field("src_endpoint.ip"), Field("answers", "rdata", "type", ("A", "AAAA")), _observables(OBSERVABLE_IP)),
        "account": (Field("accountid"), Field("cloud.account.uid")),
        "instance": (Field("src_endpoint.instance_uid"), Field("dst_endpoint.instance_uid")),
        "domain": (Field("query.hostname"), _observables(OBSERVABLE_HOSTNAME)),
    },
    "sh_findings": {
        "ip": (
            Field("evidences", "src_endpoint.ip"), Field("evidences", "dst_endpoint.ip"),
            _observables(OBSERVABLE_IP),
        ),
        "principal": (Field("resources", "uid", "type", ("AwsIamUser", "AwsIamRole")), _observables(OBSERVABLE_USER_NAME)),
        "access_key": (Field("resources", "uid", "type", ("AwsIamAccessKey",), prefixes=_ACCESS_KEY_ID),),
        "account": (Field("accountid"), Field("cloud.account.uid"), Field("resources", "owner.account.uid")),
        "bucket": (Field("resources", "uid", "type", ("AwsS3Bucket",), prefixes=_S3_ARN),),
        "instance": (Field("resources", "uid", "type", ("AwsEc2Instance",)),),
        "domain": (Field("evidences", "query.hostname"), _observables(OBSERVABLE_HOSTNAME)),
    },
    "eks_audit": {
        "ip": (Field("src_endpoint.ip"), Field("src_endpoint.intermediate_ips", ""), _observables(OBSERVABLE_IP)),
        "principal": (Field("actor.user.uid"), Field("actor.user.name"), Field("actor.session.issuer")),
        "access_key": (Field("actor.session.credential_uid"),),
        "account": (Field("accountid"), Field("cloud.account.uid")),
        "user_agent": (Field("http_request.user_agent"),),
    },
    "waf": {
        "ip": (Field("src_endpoint.ip"), Field("http_request.x_forwarded_for", ""), _observables(OBSERVABLE_IP)),
        "account": (Field("accountid"),),
        "domain": (Field("http_request.url.hostname"),),
        "user_agent": (Field("http_request.user_agent"),),
    },
}

#: The columns of :func:`entities`.
ENTITY_COLUMNS = ("entity_type", "value", "source", "event_uid", "time", "field")


def fields_for(source: str, entity_type: str) -> tuple[Field, ...]:
    """The fields of ``source`` holding ``entity_type`` values (empty when the source has none).

    Parameters
    ----------
    source
        A source name.
    entity_type
        One of :data:`ENTITY_TYPES`; another raises ``ValueError``.

    Returns
    -------
    tuple of Field
        In :data:`ENTITY_FIELDS` order.

    Examples
    --------
    >>> [f.name for f in fields_for("route53", "ip")]
    ['src_endpoint.ip', "answers[type in ['A', 'AAAA']].rdata", 'observables[type_id in [2]].value']
    >>> fields_for("waf", "principal")
    ()
    """
    if entity_type not in ENTITY_TYPES:
        raise ValueError(f"Unknown entity type {entity_type!r}; known: {', '.join(ENTITY_TYPES)}.")
    return ENTITY_FIELDS.get(find_source(source).map_name, {}).get(entity_type, ())


def entities(df: pd.DataFrame, source: str | None = None, types: tuple[str, ...] | list[str] | None = None) -> pd.DataFrame:
    """Every entity value in a flattened frame of one source.

    ``source`` defaults to ``df.attrs["source"]`` (set by ``Lake.load``); ``types`` restricts
    the entity types (default all).  Returns one row per (entity_type, value, source,
    event_uid) with columns :data:`ENTITY_COLUMNS`: ``event_uid`` is the event's timeline
    ``uid`` (:mod:`slake_forensics.analysis.normalize`), ``time`` its ``time_dt`` and ``field`` the first
    field (in :data:`ENTITY_FIELDS` order) the value was found in.  Sorted by entity type
    (in :data:`ENTITY_TYPES` order), value, time, event uid.

    Parameters
    ----------
    df
        A flattened frame of one source (``Lake.load``).
    source
        Its source (default ``df.attrs["source"]``).
    types
        Entity types to extract (default :data:`ENTITY_TYPES`).

    Returns
    -------
    pandas.DataFrame
        Columns ``entity_type, value, source, event_uid, time, field``; ``attrs["source"]``.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> ct = lake.load("cloud_trail_mgmt", "2026-05-21T03:45Z", "2026-05-21T03:48Z")
    >>> ents = sf.entities(ct, types=["bucket", "ip"])
    >>> ents.loc[ents["entity_type"] == "bucket", ["value", "field"]].values.tolist()[0]
    ['wingtip-customer-exports-7cd9ef', 'api.request.data$.bucketName']
    >>> sorted(ents.columns)
    ['entity_type', 'event_uid', 'field', 'source', 'time', 'value']
    """
    name = source if source is not None else df.attrs.get("source")
    if name is None:
        raise ValueError("entities needs the source: pass source= or a frame from Lake.load (attrs['source']).")
    src = find_source(name)
    wanted = ENTITY_TYPES if types is None else tuple(types)
    for t in wanted:
        fields_for(src.name, t)  # validates the type
    uids = expressions(src.name)["uid"].arrow(df, src)
    times = column_array(df, "time_dt", pa.timestamp("ms", tz="UTC"))
    parts = []
    for rank, etype in enumerate(wanted):
        for order, fld in enumerate(fields_for(src.name, etype)):
            rows, values = fld.extract(df, src)
            if not len(rows):
                continue
            take = pa.array(rows, pa.int64())
            parts.append(
                pd.DataFrame(
                    {
                        "entity_type": pd.Series([etype] * len(rows), dtype=STRING),
                        "value": pd.Series(values, dtype=STRING),
                        "event_uid": pd.Series(uids.take(take), dtype=STRING),
                        "time": pd.Series(times.take(take), dtype=TIME),
                        "field": pd.Series([fld.name] * len(rows), dtype=STRING),
                        "_rank": rank,
                        "_order": order,
                    }
                )
            )
    if not parts:
        out = pd.DataFrame({c: pd.Series([], dtype=TIME if c == "time" else STRING) for c in ENTITY_COLUMNS})
    else:
        out = pd.concat(parts, ignore_index=True)
        out = out.sort_values(["_rank", "value", "time", "event_uid", "_order"], kind="stable")
        out = out.drop_duplicates(["entity_type", "value", "event_uid"]).drop(columns=["_rank", "_order"])
        out.insert(2, "source", pd.Series([src.name] * len(out), dtype=STRING, index=out.index))
        out = out[list(ENTITY_COLUMNS)].reset_index(drop=True)
    out.attrs = {"source": src.name}
    return out
