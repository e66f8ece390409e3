"""The workflows' tables, shipped as YAML in ``slake_forensics/workflows/data/``: read and checked once.

A module reads its table at import with :func:`load` and takes each value through a :class:`Node`,
whose accessors check the value's shape as they hand it out.  A malformed file stops the import with a
:class:`WorkflowDataError` naming the file and the key, e.g. ``slake_forensics/workflows/data/
containment.yaml, key actions[3].phase: 'contain' is not one of containment, eradication, recovery``.
"""
from __future__ import annotations

from collections.abc import Collection
from functools import cache
from importlib import resources
from typing import Any, NoReturn

import yaml

from slake_forensics.core.errors import SlakeError

FOLDER = "slake_forensics/workflows/data"


class WorkflowDataError(SlakeError, ValueError):
    """A table of ``slake_forensics/workflows/data/`` is malformed; the message names the file and the key."""


@cache
def load(name: str) -> Node:
    """The YAML file ``name`` of the data folder as a :class:`Node` (read once per process).

    Parameters
    ----------
    name
        The file's name, e.g. ``"readiness.yaml"``.

    Returns
    -------
    Node
        The document's top-level mapping.

    Examples
    --------
    >>> load("containment.yaml")["regional_kinds"].texts()
    ('instance',)
    """
    try:
        text = resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8")
        doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError) as exc:
        raise WorkflowDataError(f"{FOLDER}/{name}: cannot be read as YAML: {' '.join(str(exc).split())}") from None
    node = Node(doc, name)
    node.entries()  # the document must be a mapping
    return node


class Node:
    """One value of a data file and where it sits (file and key path), for checked access."""

    def __init__(self, value: Any, file: str, key: str = "") -> None:
        self.value, self.file, self.key = value, file, key

    def fail(self, problem: str) -> NoReturn:
        """Raise :class:`WorkflowDataError` about this value."""
        where = f"{FOLDER}/{self.file}" + (f", key {self.key}" if self.key else "")
        raise WorkflowDataError(f"{where}: {problem}")

    def _child(self, value: Any, part: str | int) -> Node:
        key = f"{self.key}[{part}]" if isinstance(part, int) else f"{self.key}.{part}" if self.key else part
        return Node(value, self.file, key)

    def entries(self, keys: Collection[str] | None = None) -> list[tuple[str, Node]]:
        """The ``(key, value)`` pairs of a mapping with text keys, in file order; ``keys``: the allowed keys."""
        if not isinstance(self.value, dict):
            self.fail(f"should be a mapping, not {_kind(self.value)}")
        for k in self.value:
            if not isinstance(k, str) or not k:
                self.fail(f"key {k!r} should be non-empty text")
            if keys is not None and k not in keys:
                self.fail(f"key {k!r} is not one of {', '.join(keys)}")
        return [(k, self._child(v, k)) for k, v in self.value.items()]

    def fields(self, *keys: str) -> Node:
        """This mapping, checked to hold exactly ``keys``."""
        have = [k for k, _ in self.entries(keys)]
        if missing := [k for k in keys if k not in have]:
            self.fail(f"lacks the key(s) {', '.join(map(repr, missing))}")
        return self

    def __getitem__(self, key: str) -> Node:
        pairs = dict(self.entries())
        if key not in pairs:
            self.fail(f"lacks the key {key!r}")
        return pairs[key]

    def get(self, key: str) -> Node | None:
        """The value under ``key``, or None when the mapping lacks it."""
        return dict(self.entries()).get(key)

    def items(self, *, min_items: int = 1) -> list[Node]:
        """The items of a list of at least ``min_items``."""
        if not isinstance(self.value, list):
            self.fail(f"should be a list, not {_kind(self.value)}")
        if len(self.value) < min_items:
            self.fail(f"should hold at least {min_items} item(s)")
        return [self._child(v, i) for i, v in enumerate(self.value)]

    def text(self, choices: Collection[str] | None = None) -> str:
        """Non-empty text, one of ``choices`` when given."""
        if not isinstance(self.value, str) or not self.value.strip():
            self.fail(f"should be non-empty text, not {_kind(self.value)}")
        if choices is not None and self.value not in choices:
            self.fail(f"{self.value!r} is not one of {', '.join(map(str, choices))}")
        return self.value

    def texts(self, choices: Collection[str] | None = None) -> tuple[str, ...]:
        """A list of distinct texts, each one of ``choices`` when given."""
        out = tuple(item.text(choices) for item in self.items())
        if len(set(out)) < len(out):
            self.fail(f"repeats {next(t for t in out if out.count(t) > 1)!r}")
        return out

    def text_map(self, keys: Collection[str] | None = None, values: Collection[str] | None = None) -> dict[str, str]:
        """A mapping of text to text; keys among ``keys`` and values among ``values`` when given."""
        return {k: v.text(values) for k, v in self.entries(keys)}

    def numbered(self, low: int, high: int) -> dict[int, str]:
        """A mapping of whole numbers in ``[low, high]`` to text, in file order."""
        if not isinstance(self.value, dict):
            self.fail(f"should be a mapping, not {_kind(self.value)}")
        return {Node(k, self.file, f"{self.key} (a key)").number(low, high): self._child(v, k).text()
                for k, v in self.value.items()}

    def number(self, low: int, high: int) -> int:
        """A whole number in ``[low, high]``."""
        if isinstance(self.value, bool) or not isinstance(self.value, int) or not low <= self.value <= high:
            self.fail(f"should be a whole number from {low} to {high}, not {self.value!r}")
        return self.value

    def flag(self) -> bool:
        """``true`` or ``false``."""
        if not isinstance(self.value, bool):
            self.fail(f"should be true or false, not {self.value!r}")
        return self.value


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "empty"}.get(type(value), repr(value))
