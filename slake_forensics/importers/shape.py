"""The Arrow-compatible shape of a JSON value: which nested records can share a Parquet column, in plain Python.

``pyarrow.array`` infers the same thing but costs about half a millisecond per nested record; this is ~20x cheaper
and says which member conflicts.
"""
from __future__ import annotations

from typing import Any

INT64 = (-(1 << 63), (1 << 63) - 1)


class ShapeConflict(ValueError):
    """Two values that Arrow cannot hold in one column (a number and a text, an object and a list, ...)."""


def shape(value: Any, where: str = "") -> Any:
    """The shape of a JSON value: ``None`` (null), ``"bool"``, ``"int"``, ``"float"``, ``"str"``, ``("list", elem)``
    or ``("struct", ((key, shape), ...))``; list elements are merged with :func:`merge`.

    Parameters
    ----------
    value : Any
        A value as ``json.loads`` returns it.
    where : str
        Dotted path of ``value``, for the error message.

    Returns
    -------
    Any
        A hashable shape.

    Raises
    ------
    ShapeConflict
        When list elements cannot share one type, or an integer does not fit in 64 bits.

    Examples
    --------
    >>> shape({"a": [1, 2.5, None], "b": {"c": "x"}})
    ('struct', (('a', ('list', 'float')), ('b', ('struct', (('c', 'str'),)))))
    >>> shape({"ports": [22, "ssh"]})
    Traceback (most recent call last):
    ...
    slake_forensics.importers.shape.ShapeConflict: ports[] holds int and str
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            raise ShapeConflict(f"{where or 'value'} = {value} does not fit in a 64-bit integer")
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, dict):
        return ("struct", tuple((k, shape(v, f"{where}.{k}" if where else k)) for k, v in value.items()))
    if isinstance(value, list):
        elem = None
        for v in value:
            elem = merge(elem, shape(v, f"{where}[]"), f"{where}[]")
        return ("list", elem)
    raise ShapeConflict(f"{where or 'value'} is a {type(value).__name__}, not a JSON value")


def merge(a: Any, b: Any, where: str = "") -> Any:
    """The shape holding both ``a`` and ``b`` (null joins anything, ``int`` joins ``float``, structs join by key).

    Raises
    ------
    ShapeConflict
        When no Arrow type holds both.

    Examples
    --------
    >>> merge(("struct", (("a", "int"),)), ("struct", (("b", "str"), ("a", "float"))))
    ('struct', (('a', 'float'), ('b', 'str')))
    """
    if a is None or a == b:
        return b
    if b is None:
        return a
    if {a, b} == {"int", "float"}:
        return "float"
    if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0]:
        if a[0] == "list":
            return ("list", merge(a[1], b[1], where))
        members = dict(a[1])
        for k, v in b[1]:
            members[k] = merge(members.get(k), v, f"{where}.{k}")
        return ("struct", tuple(members.items()))
    raise ShapeConflict(f"{where or 'value'} holds {_name(a)} and {_name(b)}")


def _name(s: Any) -> str:
    return s[0] if isinstance(s, tuple) else str(s)
