"""The normalized timeline row: one shape for an event of any of the eight sources.

Every source's events map to the columns of :data:`TIMELINE_COLUMNS`:

==========  ======================================================================================
time        ``time_dt`` (``timestamp[ms, UTC]``)
source      short source name (``cloud_trail_mgmt``)
class_name  OCSF class name
activity    what happened: API operation (CloudTrail), k8s verb (EKS), HTTP method (WAF),
            OCSF activity name (VPC flow, Route 53, findings)
actor       who: principal ARN/name (CloudTrail, EKS), source instance (VPC flow, Route 53),
            finding product (findings); null for WAF
src_ip      ``src_endpoint.ip`` (findings: the first evidence's source IP)
dst_ip      ``dst_endpoint.ip`` (VPC flow; findings: the first evidence's destination IP)
target      the resource acted on: ``bucket/key`` (S3), first resource uid, ``ip:port``
            (VPC flow), query hostname (Route 53), finding title, URL path (EKS), ``host/path`` (WAF)
status      ``status``; disposition or action (VPC flow, WAF); ``rcode`` (Route 53); HTTP
            response code (EKS)
severity    OCSF ``severity``
summary     one line an analyst reads
uid         the event's id: ``metadata.uid`` (CloudTrail), ``finding_info.uid`` (findings),
            ``api.request.uid`` (EKS), ``http_request.uid`` (WAF); see below for VPC flow and
            Route 53, which carry no id
account     ``accountid`` partition
region      ``region`` partition
ref         ``"<source>:<uid>"``; with ``time`` it finds the full row again
            (:func:`slake_forensics.analysis.pivot.fetch_rows`)
==========  ======================================================================================

Every column but ``time`` is a string.

Deterministic ids
-----------------
VPC flow and Route 53 records have no event id, so their ``uid`` is the lower-case hex MD5 of
the row's identifying fields joined with ``|`` (nulls as empty strings), integers rendered as
decimal text; ``time`` (epoch milliseconds) comes first:

* VPC flow: time, accountid, region, src ip, src port, dst ip, dst port, src instance, src
  interface, protocol number, bytes, packets, action;
* Route 53: time, accountid, region, src ip, src port, src instance, hostname, query type, rcode.

In Athena SQL that is ``lower(to_hex(md5(to_utf8(concat_ws('|', coalesce(CAST(x AS varchar), ''), …)))))``,
which DuckDB runs through the local translation with the same result; :func:`normalize` computes
the same text with :mod:`hashlib`.  A row whose source id is null gets the same kind of hash, so
``uid`` is never null.

Two back-ends, one definition
-----------------------------
Each column of each source is one small expression (:class:`Expr`) that renders both as Athena
SQL over the source table (:func:`projection`, for queries that push down) and as a vectorized
computation over a flattened frame from ``Lake.load`` (:func:`normalize`), so both give the same
values.
"""
from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from slake_forensics.core.catalog import Source, source as find_source
from slake_forensics.sql.build import quote_identifier
from slake_forensics.core.ocsf import type_at

#: The columns of a normalized timeline, in order.
TIMELINE_COLUMNS: tuple[str, ...] = (
    "time", "source", "class_name", "activity", "actor", "src_ip", "dst_ip", "target",
    "status", "severity", "summary", "uid", "account", "region", "ref",
)

#: The dtype of every timeline column but ``time``.
STRING = pd.ArrowDtype(pa.string())
#: The dtype of ``time``: milliseconds, UTC.
TIME = pd.ArrowDtype(pa.timestamp("ms", tz="UTC"))


# ---- expressions: one definition, rendered as Athena SQL or computed over a flattened frame ----


class Expr(ABC):
    """A string-valued expression over one source's columns, rendered as SQL or computed over a frame.

    Subclasses are frozen dataclasses (hashable, so they can key a ``memo``): :class:`Col`,
    :class:`Lit`, :class:`First`, :class:`Json`, :class:`Coalesce`, :class:`Join`, :class:`Wrap`
    and :class:`Md5`.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> from slake_forensics.analysis.normalize import Col, Wrap
    >>> from slake_forensics.core.catalog import source
    >>> ct = sf.Lake.sample().load("cloud_trail_mgmt", "2026-05-21T03:45Z", "2026-05-21T03:46Z")
    >>> expr = Wrap("from ", Col("src_endpoint.ip"))
    >>> print(expr.sql(source("cloud_trail_mgmt")))
    ('from ' || "src_endpoint"."ip" || '')
    >>> expr.arrow(ct, source("cloud_trail_mgmt"))[0].as_py()
    'from 103.75.108.118'
    """

    @abstractmethod
    def sql(self, src: Source) -> str:
        """Athena SQL text of the expression (varchar), over the source table's nested columns.

        Parameters
        ----------
        src
            The source whose table the SQL reads (its schema types the columns).

        Returns
        -------
        str
            A varchar expression with no placeholders.

        Examples
        --------
        >>> from slake_forensics.core.catalog import source
        >>> print(Col("api.operation").sql(source("cloud_trail_mgmt")))
        "api"."operation"
        """

    def arrow(self, df: pd.DataFrame, src: Source, memo: dict[Expr, pa.Array] | None = None) -> pa.Array:
        """The expression over a flattened frame: a ``pa.string()`` array of ``len(df)`` values.

        Parameters
        ----------
        df
            A flattened frame of ``src`` (``Lake.load``); missing columns count as null.
        src
            Its source.
        memo
            Values of expressions already computed over the same ``df``: pass one dict for
            several expressions that share parts (a uid inside ``ref``, a target inside
            ``summary``) and each shared part is computed once.

        Returns
        -------
        pyarrow.Array
            Strings, equal to what :meth:`sql` gives over the same rows.

        Examples
        --------
        >>> import pandas as pd
        >>> from slake_forensics.core.catalog import source
        >>> df = pd.DataFrame({"api.operation": ["ListBuckets", None]})
        >>> Col("api.operation").arrow(df, source("cloud_trail_mgmt")).to_pylist()
        ['ListBuckets', None]
        """
        if memo is None:
            memo = {}
        if self not in memo:
            memo[self] = self._compute(df, src, memo)
        return memo[self]

    @abstractmethod
    def _compute(self, df: pd.DataFrame, src: Source, memo: dict[Expr, pa.Array]) -> pa.Array:
        """The values of this expression; sub-expressions through ``arrow(df, src, memo)``."""


def column_array(df: pd.DataFrame, path: str, typ: pa.DataType) -> pa.Array:
    """Column ``path`` of ``df`` as an Arrow array of ``typ`` (all null when the frame lacks it).

    Parameters
    ----------
    df
        A flattened frame.
    path
        A column name (dotted leaf).
    typ
        The Arrow type to return (the column is cast to it).

    Returns
    -------
    pyarrow.Array
        ``len(df)`` values.

    Examples
    --------
    >>> import pandas as pd
    >>> import pyarrow as pa
    >>> df = pd.DataFrame({"traffic.bytes": [1200, None]})
    >>> column_array(df, "traffic.bytes", pa.int64()).to_pylist()
    [1200, None]
    >>> column_array(df, "traffic.packets", pa.int64()).null_count
    2
    """
    if path not in df.columns:
        return pa.nulls(len(df), typ)
    col = df[path]
    if isinstance(col.dtype, pd.DatetimeTZDtype):  # via naive UTC: pyarrow reads .values, which pandas 3 deprecates here
        naive = col.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        arr = pa.array(naive, from_pandas=True).cast(pa.timestamp(col.dtype.unit, tz="UTC"))
    else:
        arr = pa.array(col, from_pandas=True)
    return arr if arr.type == typ else arr.cast(typ)


@dataclass(frozen=True)
class Col(Expr):
    """A leaf column (dotted path); non-string leaves are cast to their decimal/boolean text.

    Parameters
    ----------
    path
        The column, e.g. ``api.operation``; it must exist in the source's schema.

    Examples
    --------
    >>> import pandas as pd
    >>> from slake_forensics.core.catalog import source
    >>> flow = source("vpc_flow")
    >>> Col("dst_endpoint.port").sql(flow)
    'CAST("dst_endpoint"."port" AS varchar)'
    >>> Col("dst_endpoint.port").arrow(pd.DataFrame({"dst_endpoint.port": [3333, None]}), flow).to_pylist()
    ['3333', None]
    """

    path: str

    def _type(self, src: Source) -> pa.DataType:
        typ = type_at(src.schema, self.path)
        if typ is None:
            raise KeyError(f"{src.name} has no column {self.path!r}")
        return typ

    def sql(self, src: Source) -> str:
        ref = ".".join(quote_identifier(p) for p in self.path.split("."))
        return ref if pa.types.is_string(self._type(src)) else f"CAST({ref} AS varchar)"

    def _compute(self, df: pd.DataFrame, src: Source, memo: dict[Expr, pa.Array]) -> pa.Array:
        return column_array(df, self.path, self._type(src)).cast(pa.string())


@dataclass(frozen=True)
class Lit(Expr):
    """A constant string of this module (never a user value); ``None`` is a null string.

    Parameters
    ----------
    value
        The text, or ``None``.

    Examples
    --------
    >>> from slake_forensics.core.catalog import source
    >>> Lit("it's").sql(source("waf")), Lit(None).sql(source("waf"))
    ("'it''s'", 'CAST(NULL AS varchar)')
    """

    value: str | None

    def sql(self, src: Source) -> str:
        if self.value is None:
            return "CAST(NULL AS varchar)"
        return "'" + self.value.replace("'", "''") + "'"

    def _compute(self, df: pd.DataFrame, src: Source, memo: dict[Expr, pa.Array]) -> pa.Array:
        return pa.array([self.value] * len(df), pa.string())


@dataclass(frozen=True)
class First(Expr):
    """The first element of a list column, or a (dotted) field of it for a list of structs.

    Null when the list is null or empty.

    Parameters
    ----------
    path
        The list column.
    field
        A dotted field of the struct elements (``""``: the element itself).

    Examples
    --------
    >>> import pandas as pd
    >>> from slake_forensics.core.catalog import source
    >>> First("answers", "rdata").sql(source("route53"))
    'element_at("answers", 1)."rdata"'
    >>> df = pd.DataFrame({"finding_info.types": [["TTPs/Discovery", "Effects"], []]})
    >>> First("finding_info.types").arrow(df, source("sh_findings")).to_pylist()
    ['TTPs/Discovery', None]
    """

    path: str
    field: str = ""

    def sql(self, src: Source) -> str:
        ref = ".".join(quote_identifier(p) for p in self.path.split("."))
        inner = "".join("." + quote_identifier(p) for p in self.field.split(".") if p)
        return f"element_at({ref}, 1){inner}"

    def _compute(self, df: pd.DataFrame, src: Source, memo: dict[Expr, pa.Array]) -> pa.Array:
        typ = type_at(src.schema, self.path)
        lists = column_array(df, self.path, typ)
        firsts = pc.list_element(pc.if_else(pc.greater(pc.list_value_length(lists), 0), lists, pa.nulls(len(lists), typ)), 0)
        for name in filter(None, self.field.split(".")):
            firsts = pc.struct_field(firsts, name)
        return firsts.cast(pa.string())


@dataclass(frozen=True)
class Json(Expr):
    """``json_extract_scalar(column, '$.key')``: the key's scalar value as text.

    Null for objects, arrays, JSON null and invalid JSON.

    Parameters
    ----------
    path
        A JSON-text column (``api.request.data``).
    key
        A top-level key.

    Examples
    --------
    >>> import pandas as pd
    >>> from slake_forensics.core.catalog import source
    >>> expr = Json("api.request.data", "bucketName")
    >>> print(expr.sql(source("cloud_trail_mgmt")))
    json_extract_scalar("api"."request"."data", '$.bucketName')
    >>> df = pd.DataFrame({"api.request.data": ['{"bucketName": "b1"}', '{"bucketName": {}}', "not json"]})
    >>> expr.arrow(df, source("cloud_trail_mgmt")).to_pylist()
    ['b1', None, None]
    """

    path: str
    key: str

    def sql(self, src: Source) -> str:
        return f"json_extract_scalar({Col(self.path).sql(src)}, '$.{self.key}')"

    def _compute(self, df: pd.DataFrame, src: Source, memo: dict[Expr, pa.Array]) -> pa.Array:
        texts = Col(self.path).arrow(df, src, memo)
        uniques = pc.unique(texts).to_pylist()
        mapping = {t: _json_scalar(t, self.key) for t in uniques}
        return pa.array([mapping[t] for t in texts.to_pylist()], pa.string())


def _json_scalar(text: str | None, key: str) -> str | None:
    if text is None:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    value = doc.get(key) if isinstance(doc, dict) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


@dataclass(frozen=True)
class Coalesce(Expr):
    """The first non-null of its arguments.

    Parameters
    ----------
    args
        The expressions, in order of preference.

    Examples
    --------
    >>> import pandas as pd
    >>> from slake_forensics.core.catalog import source
    >>> expr = Coalesce((Col("api.operation"), Col("activity_name")))
    >>> expr.sql(source("cloud_trail_mgmt"))
    'coalesce("api"."operation", "activity_name")'
    >>> df = pd.DataFrame({"api.operation": ["GetObject", None], "activity_name": ["Read", "Update"]})
    >>> expr.arrow(df, source("cloud_trail_mgmt")).to_pylist()
    ['GetObject', 'Update']
    """

    args: tuple[Expr, ...]

    def sql(self, src: Source) -> str:
        return f"coalesce({', '.join(a.sql(src) for a in self.args)})"

    def _compute(self, df: pd.DataFrame, src: Source, memo: dict[Expr, pa.Array]) -> pa.Array:
        return pc.coalesce(*(a.arrow(df, src, memo) for a in self.args))


@dataclass(frozen=True)
class Join(Expr):
    """The non-null arguments joined with ``sep`` (``concat_ws``); null when every argument is null or empty.

    Parameters
    ----------
    sep
        The separator.
    args
        The expressions to join.

    Examples
    --------
    >>> import pandas as pd
    >>> from slake_forensics.core.catalog import source
    >>> expr = Join(":", (Col("dst_endpoint.ip"), Col("dst_endpoint.port")))
    >>> df = pd.DataFrame({"dst_endpoint.ip": ["94.130.27.54", None, None], "dst_endpoint.port": [3333, 443, None]})
    >>> expr.arrow(df, source("vpc_flow")).to_pylist()
    ['94.130.27.54:3333', '443', None]
    """

    sep: str
    args: tuple[Expr, ...]

    def sql(self, src: Source) -> str:
        return f"nullif(concat_ws({Lit(self.sep).sql(src)}, {', '.join(a.sql(src) for a in self.args)}), '')"

    def _compute(self, df: pd.DataFrame, src: Source, memo: dict[Expr, pa.Array]) -> pa.Array:
        joined = _concat_ws(self.sep, [a.arrow(df, src, memo) for a in self.args])
        return pc.if_else(pc.equal(joined, ""), pa.nulls(len(joined), pa.string()), joined)


def _concat_ws(sep: str, arrays: list[pa.Array]) -> pa.Array:
    """SQL ``concat_ws``: the non-null strings of each row joined with ``sep`` (``""`` when all are null)."""
    acc = arrays[0]
    for nxt in arrays[1:]:
        both = pc.binary_join_element_wise(acc, nxt, sep, null_handling="emit_null")
        acc = pc.coalesce(both, acc, nxt)
    return pc.fill_null(acc, "")


@dataclass(frozen=True)
class Wrap(Expr):
    """``before || arg || after``: null when ``arg`` is null.

    Parameters
    ----------
    before, after
        Constant texts around the value.
    arg
        The expression.

    Examples
    --------
    >>> import pandas as pd
    >>> from slake_forensics.core.catalog import source
    >>> df = pd.DataFrame({"api.response.error": ["AccessDenied", None]})
    >>> Wrap("[", Col("api.response.error"), "]").arrow(df, source("cloud_trail_mgmt")).to_pylist()
    ['[AccessDenied]', None]
    """

    before: str
    arg: Expr
    after: str = ""

    def sql(self, src: Source) -> str:
        return f"({Lit(self.before).sql(src)} || {self.arg.sql(src)} || {Lit(self.after).sql(src)})"

    def _compute(self, df: pd.DataFrame, src: Source, memo: dict[Expr, pa.Array]) -> pa.Array:
        n = len(df)
        parts = [pa.array([self.before] * n, pa.string()), self.arg.arrow(df, src, memo), pa.array([self.after] * n, pa.string())]
        return pc.binary_join_element_wise(*parts, "", null_handling="emit_null")


@dataclass(frozen=True)
class Md5(Expr):
    """Lower-case hex MD5 of the arguments joined with ``|`` (nulls as empty strings).

    Parameters
    ----------
    args
        The identifying expressions, in order.

    Examples
    --------
    >>> import hashlib
    >>> import pandas as pd
    >>> from slake_forensics.core.catalog import source
    >>> df = pd.DataFrame({"query.hostname": ["pool.supportxmr.com."], "rcode": [None]})
    >>> uid = Md5((Col("query.hostname"), Col("rcode"))).arrow(df, source("route53"))[0].as_py()
    >>> uid == hashlib.md5(b"pool.supportxmr.com.|").hexdigest()
    True
    """

    args: tuple[Expr, ...]

    def _text(self, src: Source) -> str:
        return "concat_ws('|', " + ", ".join(f"coalesce({a.sql(src)}, '')" for a in self.args) + ")"

    def sql(self, src: Source) -> str:
        return f"lower(to_hex(md5(to_utf8({self._text(src)}))))"

    def _compute(self, df: pd.DataFrame, src: Source, memo: dict[Expr, pa.Array]) -> pa.Array:
        arrays = [pc.fill_null(a.arrow(df, src, memo), "") for a in self.args]
        joined = pc.binary_join_element_wise(*arrays, "|").to_pylist() if arrays else []
        return pa.array([hashlib.md5(t.encode("utf-8")).hexdigest() for t in joined], pa.string())


def _co(*args: Expr) -> Coalesce:
    return Coalesce(tuple(args))


def _join(sep: str, *args: Expr) -> Join:
    return Join(sep, tuple(args))


# ---- per-source definitions ------------------------------------------------------------------

_NULL = Lit(None)

_VPC_KEY = Md5(tuple(Col(p) for p in (
    "time", "accountid", "region", "src_endpoint.ip", "src_endpoint.port", "dst_endpoint.ip", "dst_endpoint.port",
    "src_endpoint.instance_uid", "src_endpoint.interface_uid", "connection_info.protocol_num", "traffic.bytes",
    "traffic.packets", "action",
)))
_ROUTE53_KEY = Md5(tuple(Col(p) for p in (
    "time", "accountid", "region", "src_endpoint.ip", "src_endpoint.port", "src_endpoint.instance_uid",
    "query.hostname", "query.type", "rcode",
)))


def _cloudtrail() -> dict[str, Expr]:
    actor = _co(Col("actor.user.uid"), Col("actor.user.name"), Col("actor.user.uid_alt"), Col("actor.invoked_by"))
    s3_object = _join("/", Json("api.request.data", "bucketName"), Json("api.request.data", "key"))
    target = _co(s3_object, First("resources", "uid"))
    return {
        "activity": _co(Col("api.operation"), Col("activity_name")),
        "actor": actor,
        "src_ip": Col("src_endpoint.ip"),
        "dst_ip": _NULL,
        "target": target,
        "status": Col("status"),
        "summary": _join(
            " ",
            _co(Col("actor.user.name"), Col("actor.user.uid"), Col("actor.invoked_by")),
            _co(Col("api.operation"), Col("activity_name")),
            target,
            Wrap("from ", _co(Col("src_endpoint.ip"), Col("src_endpoint.domain"))),
            Wrap("key ", Col("actor.user.credential_uid")),
            Wrap("[", Col("api.response.error"), "]"),
        ),
        "uid": _co(Col("metadata.uid"), Md5((Col("time"), Col("accountid"), Col("region"), actor, Col("api.operation"), Col("api.request.data")))),
    }


def _vpc_flow() -> dict[str, Expr]:
    dst = _join(":", Col("dst_endpoint.ip"), Col("dst_endpoint.port"))
    return {
        "activity": Col("activity_name"),
        "actor": Col("src_endpoint.instance_uid"),
        "src_ip": Col("src_endpoint.ip"),
        "dst_ip": Col("dst_endpoint.ip"),
        "target": dst,
        "status": _co(Col("disposition"), Col("action")),
        "summary": _join(
            " ",
            _join(":", Col("src_endpoint.ip"), Col("src_endpoint.port")),
            Lit("->"),
            dst,
            Col("connection_info.direction"),
            _co(Col("action"), Col("disposition")),
            Wrap("", Col("traffic.bytes"), " bytes"),
            Wrap("(", Col("src_endpoint.instance_uid"), ")"),
        ),
        "uid": _VPC_KEY,
    }


def _route53() -> dict[str, Expr]:
    return {
        "activity": Col("activity_name"),
        "actor": Col("src_endpoint.instance_uid"),
        "src_ip": Col("src_endpoint.ip"),
        "dst_ip": _NULL,
        "target": Col("query.hostname"),
        "status": Col("rcode"),
        "summary": _join(
            " ",
            Col("src_endpoint.ip"),
            Wrap("(", Col("src_endpoint.instance_uid"), ")"),
            Lit("asked"),
            Col("query.type"),
            Col("query.hostname"),
            Wrap("-> ", Col("rcode")),
            First("answers", "rdata"),
        ),
        "uid": _ROUTE53_KEY,
    }


def _findings() -> dict[str, Expr]:
    product = Col("metadata.product.name")
    return {
        "activity": Col("activity_name"),
        "actor": product,
        "src_ip": First("evidences", "src_endpoint.ip"),
        "dst_ip": First("evidences", "dst_endpoint.ip"),
        "target": Col("finding_info.title"),
        "status": Col("status"),
        "summary": _join(
            " ",
            Wrap("", product, ":"),
            Col("finding_info.title"),
            Wrap("(", First("finding_info.types"), ")"),
            Wrap("on ", _co(_join(" ", First("resources", "type"), First("resources", "uid")),
                            _join(" ", Col("resource.type"), Col("resource.uid")))),  # Compliance/Vulnerability: one resource
        ),
        "uid": _co(Col("finding_info.uid"), Md5((Col("time"), Col("accountid"), Col("region"), Col("finding_info.title")))),
    }


def _eks() -> dict[str, Expr]:
    actor = _co(Col("actor.user.name"), Col("actor.user.uid"))
    target = _co(Col("http_request.url.path"), _join("/", First("resources", "namespace"), First("resources", "name")))
    return {
        "activity": _co(Col("api.operation"), Col("activity_name")),
        "actor": actor,
        "src_ip": Col("src_endpoint.ip"),
        "dst_ip": _NULL,
        "target": target,
        "status": Col("api.response.code"),
        "summary": _join(
            " ", actor, Col("api.operation"), target, Wrap("from ", Col("src_endpoint.ip")), Wrap("-> ", Col("api.response.code"))
        ),
        "uid": _co(Col("api.request.uid"), Md5((Col("time"), Col("accountid"), Col("region"), actor, Col("api.operation"), Col("http_request.url.path")))),
    }


def _waf() -> dict[str, Expr]:
    url = _join("", Col("http_request.url.hostname"), Col("http_request.url.path"))
    status = _co(Col("disposition"), Col("action"))
    return {
        "activity": _co(Col("http_request.http_method"), Col("activity_name")),
        "actor": _NULL,
        "src_ip": Col("src_endpoint.ip"),
        "dst_ip": _NULL,
        "target": url,
        "status": status,
        "summary": _join(
            " ",
            Col("src_endpoint.ip"),
            Col("http_request.http_method"),
            url,
            Wrap("-> ", status),
            Wrap("rule ", Col("firewall_rule.uid")),
            Wrap("UA ", Col("http_request.user_agent")),
        ),
        "uid": _co(Col("http_request.uid"), Md5((Col("time"), Col("accountid"), Col("region"), Col("src_endpoint.ip"), url))),
    }


_CLOUDTRAIL = _cloudtrail()
_SPECS: dict[str, dict[str, Expr]] = {
    "cloud_trail_mgmt": _CLOUDTRAIL,
    "s3_data": _CLOUDTRAIL,
    "lambda_execution": _CLOUDTRAIL,
    "vpc_flow": _vpc_flow(),
    "route53": _route53(),
    "sh_findings": _findings(),
    "eks_audit": _eks(),
    "waf": _waf(),
}


def expressions(source: str) -> dict[str, Expr]:
    """The expression of every timeline column of ``source`` except ``time`` (keyed by column name).

    Parameters
    ----------
    source
        A source name.

    Returns
    -------
    dict of str to Expr
        Keys: :data:`TIMELINE_COLUMNS` without ``time``, in order.

    Examples
    --------
    >>> from slake_forensics.core.catalog import source
    >>> exprs = expressions("vpc_flow")
    >>> list(exprs)[:4]
    ['source', 'class_name', 'activity', 'actor']
    >>> print(exprs["target"].sql(source("vpc_flow")))
    nullif(concat_ws(':', "dst_endpoint"."ip", CAST("dst_endpoint"."port" AS varchar)), '')
    """
    src = find_source(source)
    spec = _SPECS[src.map_name]  # a custom source uses the projection of the v2 source holding its class
    uid = spec["uid"]
    return {
        "source": Lit(src.name),
        "class_name": Col("class_name"),
        **{k: spec[k] for k in ("activity", "actor", "src_ip", "dst_ip", "target", "status")},
        "severity": Col("severity"),
        "summary": spec["summary"],
        "uid": uid,
        "account": Col("accountid"),
        "region": Col("region"),
        "ref": Wrap(f"{src.name}:", uid),
    }


def projection(source: str) -> str:
    """The SELECT list producing :data:`TIMELINE_COLUMNS` from ``source``'s table, in Athena SQL.

    Use it as ``SELECT {projection(source)} FROM {lake.table_name(source)} WHERE …``; it holds
    no placeholders.  ``time`` is ``time_dt``; every other column is varchar.

    Parameters
    ----------
    source
        A source name.

    Returns
    -------
    str
        The comma-separated select items, one per timeline column.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> query = (f"SELECT {projection('route53')} FROM {lake.table_name('route53')} "
    ...          "WHERE time_dt >= from_iso8601_timestamp(?) AND time_dt < from_iso8601_timestamp(?)")
    >>> rows = lake.sql(query, ["2026-05-14T20:07:00Z", "2026-05-14T20:08:00Z"])
    >>> list(rows.columns) == list(TIMELINE_COLUMNS), len(rows)
    (True, 7)
    """
    src = find_source(source)
    items = ['"time_dt" AS "time"'] + [f"{e.sql(src)} AS {quote_identifier(name)}" for name, e in expressions(src.name).items()]
    return ",\n  ".join(items)


def normalize(df: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """Normalized timeline of an already-loaded, flattened frame of one source.

    ``source`` defaults to ``df.attrs["source"]`` (set by ``Lake.load``).  Returns a frame with
    exactly :data:`TIMELINE_COLUMNS`, one row per input row in input order (index reset):
    ``time`` as ``timestamp[ms, UTC]``, every other column an Arrow string.  The values equal
    those of :func:`projection` run as SQL over the same rows.  Columns the frame lacks count
    as null.

    Parameters
    ----------
    df
        A flattened frame of one source (``Lake.load``).
    source
        Its source (default ``df.attrs["source"]``).

    Returns
    -------
    pandas.DataFrame
        Columns ``time, source, class_name, activity, actor, src_ip, dst_ip, target, status,
        severity, summary, uid, account, region, ref`` (see the module doc); ``attrs["source"]``.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> dns = lake.load("route53", "2026-05-14T20:07Z", "2026-05-14T20:08Z")
    >>> tl = normalize(dns)
    >>> tl.loc[0, ["activity", "actor", "target", "status"]].tolist()
    ['Traffic', 'i-c1a762c56d643463c', 'pool.supportxmr.com.', 'NoError']
    >>> tl.loc[0, "summary"]
    '10.35.7.139 (i-c1a762c56d643463c) asked A pool.supportxmr.com. -> NoError 94.130.27.54'
    """
    name = source if source is not None else df.attrs.get("source")
    if name is None:
        raise ValueError("normalize needs the source: pass source= or a frame from Lake.load (attrs['source']).")
    src = find_source(name)
    times = column_array(df, "time_dt", pa.timestamp("ms", tz="UTC"))
    out = {"time": pd.Series(times, dtype=TIME)}
    memo: dict[Expr, pa.Array] = {}  # columns share parts (uid in ref, target in summary): compute each once
    for col, expr in expressions(src.name).items():
        out[col] = pd.Series(expr.arrow(df, src, memo), dtype=STRING)
    result = pd.DataFrame(out, columns=list(TIMELINE_COLUMNS))
    result.attrs = {"source": src.name}
    return result


#: Timeline ``status`` values of an attempt that did not work (API error, blocked flow or request, failed DNS).
FAILURE_STATUSES = frozenset({"Failure", "Blocked", "REJECT", "NXDomain", "ServError", "Refused"})


def is_failure(status: object) -> bool:
    """Whether a timeline ``status`` says the attempt failed.

    A failure is a :data:`FAILURE_STATUSES` value or an HTTP status of 400 or more (EKS
    audit).  Unknown or missing statuses are not failures.

    Parameters
    ----------
    status
        One ``status`` value of a timeline.

    Returns
    -------
    bool

    Examples
    --------
    >>> [is_failure(s) for s in ("Failure", "REJECT", "403", "200", None)]
    [True, True, True, False, False]
    """
    text = "" if status is None or status is pd.NA else str(status)
    return text in FAILURE_STATUSES or (text.isdigit() and int(text) >= 400)


def empty_timeline() -> pd.DataFrame:
    """A timeline frame with no rows and the :data:`TIMELINE_COLUMNS` dtypes.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TIMELINE_COLUMNS`: ``time`` a UTC timestamp, every other an Arrow string.

    Examples
    --------
    >>> tl = empty_timeline()
    >>> len(tl), str(tl["time"].dtype), str(tl["actor"].dtype)
    (0, 'timestamp[ms, tz=UTC][pyarrow]', 'string[pyarrow]')
    """
    return pd.DataFrame({c: pd.Series([], dtype=TIME if c == "time" else STRING) for c in TIMELINE_COLUMNS})


def as_timeline(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` (e.g. a :func:`projection` query result) with exactly :data:`TIMELINE_COLUMNS` and their dtypes.

    Parameters
    ----------
    df
        A frame with timeline columns (missing ones become null, others are dropped).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TIMELINE_COLUMNS`, same index as ``df``.

    Examples
    --------
    >>> import pandas as pd
    >>> tl = as_timeline(pd.DataFrame({"time": [pd.Timestamp("2026-05-21T03:45:09Z")], "activity": ["PutBucketPolicy"],
    ...                                "extra": [1]}))
    >>> list(tl.columns) == list(TIMELINE_COLUMNS), tl.loc[0, "activity"], bool(tl["uid"].isna().all())
    (True, 'PutBucketPolicy', True)
    """
    out = {}
    for c in TIMELINE_COLUMNS:
        if c == "time":
            out[c] = pd.Series(column_array(df, c, pa.timestamp("ms", tz="UTC")), dtype=TIME, index=df.index)
        else:
            out[c] = pd.Series(column_array(df, c, pa.string()), dtype=STRING, index=df.index)
    return pd.DataFrame(out)
