"""Reading a file of any source version as the investigation's (version-2) rows.

Security Lake customers who upgraded from source version 1 (OCSF 1.0.0-rc.2) keep their v1 data for
the retention period, so a window before the upgrade lives in v1 files.  An investigation reads both:
every engine presents a v1 row in v2 names through the one table :data:`V1_TO_V2` below (also
rendered in ``docs/source_versions.md``), and ``metadata.version`` (``1.0.0-rc.2`` / ``1.1.0``) or
``asl_version`` (``1.0`` / ``2.0``) tells the rows apart.

Each step of the table is one of

* :class:`Rename` — move a (dotted) field to its v2 name; ``[]`` steps into the elements of a list
  (``resources[].account_uid``);
* :class:`Millis` — derive a v2 ``*_dt`` timestamp from a v1 int64 epoch-milliseconds field (the
  v1 field stays);
* :class:`AsList` — wrap a v1 struct into the one-element list v2 holds there;
* :class:`Reclass` — renumber a class that v2 numbers differently (API Activity 3005 in category 3
  is 6003 in category 6): ``class_uid``, ``type_uid``, ``category_uid`` and ``category_name`` of its rows.

:func:`reconcile` then fills the partition columns from the key (``accountid``, ``region``, and
``asl_version`` from the version prefix: AWS's files may not carry them) and casts the table to
the source's catalog schema (:func:`slake_forensics.core.ocsf.conform`: legacy 2-level lists and
NOT NULL fields become the Glue schema's types; extra fields are kept, nothing is dropped).  Any
engine that reads files itself calls :func:`reconcile` per file; the Athena engine can render the
same table as a projection.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from slake_forensics.core import ocsf
from slake_forensics.core.catalog import PARTITION_COLUMNS, SOURCE_VERSION, TIMESTAMP_TYPE, Source
from slake_forensics.core.layout import Partition
from slake_forensics.core.errors import UNREADABLE_PARQUET

CLOUDTRAIL = ("cloud_trail_mgmt", "s3_data", "lambda_execution")


@dataclass(frozen=True)
class Rename:
    """Move field ``old`` to ``new`` (dotted paths; ``a[].b`` is field ``b`` of the elements of list ``a``)."""

    old: str
    new: str
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Millis:
    """Add timestamp ``new`` (``timestamp[ms, UTC]``) from int64 epoch milliseconds ``old``."""

    old: str
    new: str
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class AsList:
    """Make struct ``path`` a list holding it (null stays null)."""

    path: str
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reclass:
    """Rows of class ``old`` become class ``new`` in category ``category_uid`` / ``category_name``
    (``type_uid`` = class * 100 + activity follows)."""

    old: int
    new: int
    category_uid: int
    category_name: str
    sources: tuple[str, ...] = ()


Step = Union[Rename, Millis, AsList, Reclass]

#: Version 1 → version 2, in order (a step sees the result of the ones before; ``sources`` empty = every source).
V1_TO_V2: tuple[Step, ...] = (
    Millis("time", "time_dt"),
    Millis("start_time", "start_time_dt"),
    Millis("end_time", "end_time_dt"),
    Rename("actor.user.uid", "actor.user.uid_alt"),  # v1 uid is the principal id …
    Rename("actor.user.uuid", "actor.user.uid"),  # … and v1 uuid the ARN
    Rename("actor.user.account_uid", "actor.user.account.uid"),
    Rename("actor.session.mfa", "actor.session.is_mfa"),
    Millis("actor.session.created_time", "actor.session.created_time_dt"),
    Rename("mfa", "is_mfa"),
    Rename("user.uid", "user.uid_alt"),
    Rename("user.uuid", "user.uid"),
    Rename("cloud.account_uid", "cloud.account.uid"),
    Rename("resources[].account_uid", "resources[].owner.account.uid"),
    Rename("resources[].details", "resources[].data"),
    Reclass(3005, 6003, 6, "Application Activity", CLOUDTRAIL),
    Rename("confidence", "confidence_score", ("sh_findings",)),
    Rename("finding.remediation", "remediation", ("sh_findings",)),
    Rename("remediation.kb_articles", "remediation.references", ("sh_findings",)),
    Rename("finding", "finding_info", ("sh_findings",)),
    Millis("finding_info.created_time", "finding_info.created_time_dt", ("sh_findings",)),
    Millis("finding_info.modified_time", "finding_info.modified_time_dt", ("sh_findings",)),
    Millis("finding_info.first_seen_time", "finding_info.first_seen_time_dt", ("sh_findings",)),
    Millis("finding_info.last_seen_time", "finding_info.last_seen_time_dt", ("sh_findings",)),
    AsList("vulnerabilities[].cve.cvss", ("sh_findings",)),
    Rename("vulnerabilities[].packages", "vulnerabilities[].affected_packages", ("sh_findings",)),
)


# ---- the tree of a table: structs as dicts of their children, everything else an array ------------

Node = Union[dict[str, "Node"], pa.Array]


def _explode(arr: pa.Array) -> Node:
    if pa.types.is_struct(arr.type):
        children = arr.flatten()  # each child with the struct's nulls
        return {f.name: _explode(c) for f, c in zip(arr.type, children)}
    return arr


def _implode(node: Node, length: int) -> pa.Array:
    if isinstance(node, dict):
        if not node:
            return pa.nulls(length, pa.struct([]))
        return pa.StructArray.from_arrays([_implode(v, length) for v in node.values()], names=list(node))
    return node


def _split(path: str) -> tuple[str, str | None]:
    """``("a.b", "c.d")`` for ``"a.b[].c.d"``; ``(path, None)`` without a list step."""
    if "[]." in path:
        head, rest = path.split("[].", 1)
        return head, rest
    return path, None


def _get(tree: dict[str, Node], path: str) -> Node | None:
    node: Node | None = tree
    for name in path.split("."):
        if not isinstance(node, dict) or name not in node:
            return None
        node = node[name]
    return node


def _pop(tree: dict[str, Node], path: str) -> Node | None:
    *parents, last = path.split(".")
    node: Node | None = tree
    for name in parents:
        if not isinstance(node, dict) or name not in node:
            return None
        node = node[name]
    return node.pop(last, None) if isinstance(node, dict) else None


def _put(tree: dict[str, Node], path: str, value: Node) -> None:
    *parents, last = path.split(".")
    node = tree
    for name in parents:
        child = node.get(name)
        if not isinstance(child, dict):
            child = node[name] = {}
        node = child
    node[last] = value


def _in_list(tree: dict[str, Node], head: str, inner: Rename | Millis | AsList, length: int) -> None:
    """Apply ``inner`` to the elements of the list at ``head``."""
    lists = _get(tree, head)
    if not isinstance(lists, pa.Array) or not (pa.types.is_list(lists.type) or pa.types.is_large_list(lists.type)):
        return
    lo, hi = lists.offsets[0].as_py(), lists.offsets[-1].as_py()
    values = lists.values.slice(lo, hi - lo)
    if not pa.types.is_struct(values.type) and not isinstance(inner, AsList):
        return
    sub = {"x": _explode(values)}
    _apply(sub, _prefixed(inner, "x."), len(values))
    offsets = pc.subtract(lists.offsets, pa.scalar(lo, lists.offsets.type))
    _put(tree, head, pa.ListArray.from_arrays(offsets, _implode(sub["x"], len(values)), mask=lists.is_null()))


def _prefixed(step: Rename | Millis | AsList, prefix: str) -> Rename | Millis | AsList:
    if isinstance(step, AsList):
        return AsList(prefix + step.path, step.sources)
    return type(step)(prefix + step.old, prefix + step.new, step.sources)


def _apply(tree: dict[str, Node], step: Rename | Millis | AsList, length: int) -> None:
    path = step.path if isinstance(step, AsList) else step.old
    head, rest = _split(path)
    if rest is not None:
        inner: Rename | Millis | AsList
        if isinstance(step, Rename | Millis):
            new_head, new_rest = _split(step.new)
            if new_head != head or new_rest is None:
                raise ValueError(f"{step}: both paths must step into the same list")
            inner = type(step)(rest, new_rest)
        else:
            inner = AsList(rest)
        _in_list(tree, head, inner, length)
        return
    if isinstance(step, Rename):
        value = _pop(tree, step.old)
        if value is not None:
            _put(tree, step.new, value)
    elif isinstance(step, Millis):
        ms = _get(tree, step.old)
        if isinstance(ms, pa.Array) and pa.types.is_integer(ms.type) and _get(tree, step.new) is None:
            _put(tree, step.new, ms.cast(pa.int64()).cast(pa.timestamp("ms")).cast(TIMESTAMP_TYPE))
    elif isinstance(step, AsList):
        value = _get(tree, step.path)
        if value is not None and not isinstance(value, pa.Array | dict):
            return
        if isinstance(value, dict):
            value = _implode(value, _length(value, length))
        if isinstance(value, pa.Array) and pa.types.is_struct(value.type):
            n = len(value)
            offsets = pa.array(range(n + 1), pa.int32())
            _put(tree, step.path, pa.ListArray.from_arrays(offsets, value, mask=value.is_null()))


def _length(node: Node, default: int) -> int:
    if isinstance(node, dict):
        return next((_length(v, default) for v in node.values()), default)
    return len(node)


def _reclass(tree: dict[str, Node], step: Reclass) -> None:
    classes = tree.get("class_uid")
    if not isinstance(classes, pa.Array):
        return
    hit = pc.fill_null(pc.equal(classes, pa.scalar(step.old, classes.type)), False)
    new = {"class_uid": step.new, "category_uid": step.category_uid, "category_name": step.category_name}
    for column, value in new.items():
        col = tree.get(column)
        if isinstance(col, pa.Array):
            tree[column] = pc.if_else(hit, pa.scalar(value, col.type), col)
    types = tree.get("type_uid")
    if isinstance(types, pa.Array):  # type_uid = class_uid * 100 + activity_id
        types = types.cast(pa.int64())
        tree["type_uid"] = pc.if_else(hit, pc.add(types, pa.scalar((step.new - step.old) * 100, pa.int64())), types)


def to_v2(table: pa.Table, source: Source) -> pa.Table:
    """A version-1 table of ``source`` in version-2 names, by the steps of :data:`V1_TO_V2`.

    Only the names and the types of the listed fields change; every other field is kept as it is.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from slake_forensics.core.catalog import V1_SOURCES
    >>> v1 = pa.table({"time": [1700000000000], "class_uid": [3005], "type_uid": [300501],
    ...                "category_uid": [3], "category_name": ["Audit Activity"],
    ...                "actor": [{"user": {"uid": "AIDAEXAMPLE", "uuid": "arn:aws:iam::111122223333:user/a"}}]})
    >>> row = to_v2(v1, V1_SOURCES["cloud_trail_mgmt"]).to_pylist()[0]
    >>> row["class_uid"], row["type_uid"], row["category_uid"], row["actor"]["user"]
    (6003, 600301, 6, {'uid_alt': 'AIDAEXAMPLE', 'uid': 'arn:aws:iam::111122223333:user/a'})
    >>> str(row["time_dt"])
    '2023-11-14 22:13:20+00:00'
    """
    n = table.num_rows
    tree: dict[str, Node] = {name: _explode(table.column(name).combine_chunks()) for name in table.column_names}
    for step in V1_TO_V2:
        if step.sources and source.name not in step.sources:
            continue
        if isinstance(step, Reclass):
            _reclass(tree, step)
        else:
            _apply(tree, step, n)
    arrays = [_implode(node, n) for node in tree.values()]
    return pa.Table.from_arrays(arrays, names=list(tree)) if arrays else table


def with_partitions(table: pa.Table, part: Partition) -> pa.Table:
    """``table`` with ``accountid``, ``region`` and ``asl_version`` taken from the key where the file lacks them or leaves them null."""
    values = {"accountid": part.account, "region": part.region, "asl_version": part.version or None}
    for name in PARTITION_COLUMNS:
        value = values[name]
        if name not in table.column_names:
            table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
        elif value is not None and table.column(name).null_count:
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, pc.fill_null(table.column(name).cast(pa.string()), value))
    return table


def missing_partitions(schema: pa.Schema) -> list[str]:
    """The partition columns a file's schema lacks (taken from the key when it is read)."""
    return [c for c in PARTITION_COLUMNS if c not in schema.names]


def reconcile(table: pa.Table, part: Partition, target: Source, path: str) -> pa.Table:
    """One file's table as rows of ``target``: partitions from the key, v1 in v2 names, catalog types.

    ``target`` is the source whose schema the rows take: the version-2 source of an investigation,
    or ``part.source`` itself to read a version-1 table as it is.  Raises ``pyarrow.ArrowInvalid``
    naming ``path``, the column and the version when a column cannot be cast to the catalog type.
    """
    table = with_partitions(table, part)
    if part.version != SOURCE_VERSION and target.version == SOURCE_VERSION and not part.source.custom:
        table = to_v2(table, part.source)
    try:
        return ocsf.conform(table, target)
    except pa.ArrowInvalid as exc:
        raise pa.ArrowInvalid(
            f"{path} (source {part.source.name}, version {part.version or 'none'}) has a schema that cannot be "
            f"reconciled with the {target.suffix} table: {exc}. Move the file out of the lake or report its schema."
        ) from exc


def file_classes(paths: list[str] | list[Path]) -> tuple[int, ...]:
    """The ``class_uid`` values of the first of ``paths`` that has any, most frequent first (a custom
    source's classes come from its data); empty when no file has the column."""
    for path in paths:
        try:
            column = pq.read_table(path, columns=["class_uid"])["class_uid"]
        except UNREADABLE_PARQUET + (KeyError,):
            continue
        counts = sorted(pc.value_counts(column).to_pylist(), key=lambda c: -c["counts"])
        found = tuple(int(c["values"]) for c in counts if c["values"] is not None)
        if found:
            return found
    return ()


def foreign_classes(found: set[int], part: Partition) -> list[int]:
    """The ``class_uid`` values of a file that its source (from the key) does not hold (empty when all fit)."""
    return sorted(c for c in found if c not in part.source.classes)


# ---- the same table as a map of paths, for engines that render it as a projection (Athena) ----------


@dataclass(frozen=True)
class Origin:
    """Where one field of a version-2 row comes from in a version-1 row (see :func:`v2_origins`).

    ``path`` is the dotted v1 path, relative to the table or, inside a list, to the list's
    element; ``type`` its v1 type.  ``millis``: a v2 timestamp derived from int64 epoch
    milliseconds at ``path``.  ``element``: for a list of structs, its element's fields (inner
    renames applied); with ``as_list`` the struct at ``path`` itself, wrapped into a one-element list.
    """

    path: str
    type: pa.DataType | None
    millis: bool = False
    as_list: bool = False
    element: dict[str, Any] | None = None


def origin_tree(typ: pa.StructType | pa.Schema, prefix: str = "") -> dict[str, Any]:
    """The fields of ``typ`` as they are: a dict per struct, an :class:`Origin` per other field (paths from ``prefix``)."""
    tree: dict[str, Any] = {}
    for field in typ:
        path = prefix + field.name
        if pa.types.is_struct(field.type):
            tree[field.name] = origin_tree(field.type, path + ".")
        elif pa.types.is_list(field.type) and pa.types.is_struct(field.type.value_type):
            tree[field.name] = Origin(path, field.type, element=origin_tree(field.type.value_type))
        else:
            tree[field.name] = Origin(path, field.type)
    return tree


def _tree_get(tree: dict[str, Any], path: str) -> Any:
    node: Any = tree
    for name in path.split("."):
        if not isinstance(node, dict) or name not in node:
            return None
        node = node[name]
    return node


def _tree_pop(tree: dict[str, Any], path: str) -> Any:
    *parents, last = path.split(".")
    parent = _tree_get(tree, ".".join(parents)) if parents else tree
    return parent.pop(last, None) if isinstance(parent, dict) else None


def _tree_put(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = tree
    for name in parents:
        if not isinstance(node.get(name), dict):
            node[name] = {}
        node = node[name]
    node[last] = value


def _origin_step(tree: dict[str, Any], step: Rename | Millis | AsList) -> None:
    path = step.path if isinstance(step, AsList) else step.old
    head, rest = _split(path)
    if rest is not None:  # a step into the elements of the list at ``head``
        lists = _tree_get(tree, head)
        if not isinstance(lists, Origin) or lists.element is None:
            return
        inner: Rename | Millis | AsList = AsList(rest) if isinstance(step, AsList) else type(step)(rest, _split(step.new)[1] or "")
        _origin_step(lists.element, inner)
        return
    if isinstance(step, Rename):
        node = _tree_pop(tree, step.old)
        if node is not None:
            _tree_put(tree, step.new, node)
    elif isinstance(step, Millis):
        node = _tree_get(tree, step.old)
        if isinstance(node, Origin) and node.type is not None and pa.types.is_integer(node.type) \
                and _tree_get(tree, step.new) is None:
            _tree_put(tree, step.new, Origin(node.path, node.type, millis=True))
    else:
        node = _tree_get(tree, step.path)
        if isinstance(node, dict):
            _tree_put(tree, step.path, Origin(step.path, None, as_list=True, element=node))


def v2_origins(schema: pa.Schema, source: Source) -> dict[str, Any]:
    """The fields of a version-1 table of ``source`` in version-2 names: :data:`V1_TO_V2` as a map of paths.

    What :func:`to_v2` does to a table's values, this does to its schema, so an engine that
    does not read files itself (Athena) can render the renaming as a projection.  ``Reclass``
    steps change values, not names: see :func:`reclass_steps`.

    Parameters
    ----------
    schema
        The version-1 table's schema (its Glue columns).
    source
        The version-1 source (steps limited to some sources apply to theirs only).

    Returns
    -------
    dict
        Version-2 field name to a nested dict (a struct) or an :class:`Origin`.

    Examples
    --------
    >>> from slake_forensics.core.catalog import V1_SOURCES
    >>> src = V1_SOURCES["cloud_trail_mgmt"]
    >>> tree = v2_origins(src.schema, src)
    >>> tree["actor"]["user"]["uid"].path, tree["actor"]["user"]["uid_alt"].path
    ('actor.user.uuid', 'actor.user.uid')
    >>> tree["time_dt"].path, tree["time_dt"].millis
    ('time', True)
    >>> tree["resources"].element["owner"]["account"]["uid"].path
    'account_uid'
    """
    tree = origin_tree(schema)
    for step in V1_TO_V2:
        if isinstance(step, Reclass) or (step.sources and source.name not in step.sources):
            continue
        _origin_step(tree, step)
    return tree


def reclass_steps(source: Source) -> list[Reclass]:
    """The :class:`Reclass` steps of :data:`V1_TO_V2` that apply to ``source``.

    Examples
    --------
    >>> from slake_forensics.core.catalog import V1_SOURCES
    >>> [(r.old, r.new) for r in reclass_steps(V1_SOURCES["s3_data"])], reclass_steps(V1_SOURCES["vpc_flow"])
    ([(3005, 6003)], [])
    """
    return [s for s in V1_TO_V2 if isinstance(s, Reclass) and (not s.sources or source.name in s.sources)]
