"""Flattening raw keys that a mapping did not consume into ``unmapped`` keys, as Security Lake writes them."""
from __future__ import annotations

from typing import Any


def flatten_values(prefix: str, value: Any, out: dict[str, list[str]]) -> None:
    """Collect the leaves of ``value`` under dotted keys; list elements share one ``key[]`` entry.

    Parameters
    ----------
    prefix
        The key of ``value`` (``""`` at the top of a record).
    value
        A raw JSON value: dict, list or scalar (``None`` is skipped).
    out
        ``{dotted key: [leaf texts]}``, extended in place.

    Examples
    --------
    >>> out: dict[str, list[str]] = {}
    >>> flatten_values("", {"labels": [{"name": "a"}, {"name": "b"}], "n": 1, "x": None}, out)
    >>> out
    {'labels[].name': ['a', 'b'], 'n': ['1']}
    """
    if isinstance(value, dict):
        for k, v in value.items():
            flatten_values(f"{prefix}.{k}" if prefix else k, v, out)
    elif isinstance(value, list):
        for v in value:
            flatten_values(f"{prefix}[]", v, out)
    elif value is not None:
        out.setdefault(prefix, []).append(str(value))
