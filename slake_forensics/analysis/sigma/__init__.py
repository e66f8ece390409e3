"""Sigma rules on Security Lake CloudTrail (OCSF 1.1.0): compiled to Athena SQL with bound values, run on any engine.

A rule with ``logsource: {product: aws, service: cloudtrail}`` is mapped by
:func:`~.mapping.cloudtrail_pipeline` (a pySigma ``ProcessingPipeline``) onto the Security Lake
v2 ``cloud_trail_mgmt`` table and converted by :class:`~.backend.AthenaBackend` (a pySigma
``TextQueryBackend``) into one ``WHERE`` condition whose values are all ``?`` parameters.
:func:`run` adds the table, the time window and optional account/region predicates and runs it
through ``lake.sql`` — unchanged on Athena, S3 and local engines.  See ``docs/sigma.md``.
"""
from __future__ import annotations

import builtins
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule

from slake_forensics.core.catalog import source as find_source
from slake_forensics.core.errors import SlakeError
from slake_forensics.core.scope import default_window, id_list
from slake_forensics.sql.build import leaves, select_expression, timestamp_text
from slake_forensics.core.timewindow import TimeLike
from slake_forensics.analysis.sigma.backend import AthenaBackend, BlockedError
from slake_forensics.analysis.sigma.mapping import UnmappedFieldError, cloudtrail_pipeline, resolve_field

if TYPE_CHECKING:
    from slake_forensics.engines.base import Engine as Lake

__all__ = ["CompiledRule", "SigmaCompileError", "as_hunt_rows", "cloudtrail_pipeline", "compile", "compile_dir",
           "resolve_field", "run"]

#: The source every Sigma rule runs on.
SOURCE = "cloud_trail_mgmt"
_TECHNIQUE = re.compile(r"t\d{4}(\.\d{3})?", re.IGNORECASE)


class SigmaCompileError(SlakeError, ValueError):
    """A Sigma rule cannot be compiled; ``field`` / ``modifier`` name what blocks it (``None`` if neither).

    Parameters
    ----------
    message
        What is wrong.
    field, modifier
        The Sigma field or modifier that blocks the rule.
    rule
        The rule's title.

    Examples
    --------
    >>> try:
    ...     compile("title: t\\nlogsource: {product: aws, service: cloudtrail}\\n"
    ...             "detection: {sel: {eventname: x}, condition: sel}\\n")
    ... except SigmaCompileError as exc:
    ...     print(exc.field)
    eventname
    """

    def __init__(self, message: str, field: str | None = None, modifier: str | None = None, rule: str | None = None) -> None:
        self.field, self.modifier, self.rule = field, modifier, rule
        super().__init__(message)


@dataclass(frozen=True)
class CompiledRule:
    """One Sigma rule compiled to an Athena ``WHERE`` condition over ``cloud_trail_mgmt``.

    ``condition`` holds ``?`` placeholders whose values are ``params`` (in order); ``sql`` is the
    whole query for the ``us-east-1`` table, whose parameters are ``[start, end, *params]``
    (:meth:`query` builds it for a lake, window, accounts and regions).  ``fields`` maps each
    Sigma field the rule uses to its SQL expression.

    Parameters
    ----------
    title, id, status, level, description, tags
        The rule's metadata.
    techniques
        ATT&CK technique ids from the ``attack.tNNNN`` tags.
    condition
        The ``WHERE`` condition with ``?`` placeholders.
    params
        Their values, in order.
    fields
        Sigma field to SQL expression.
    path
        The rule's file, if it came from one.

    Examples
    --------
    >>> rule = ("title: Public access block deleted\\nlevel: high\\ntags: [attack.t1562.008]\\n"
    ...         "logsource: {product: aws, service: cloudtrail}\\n"
    ...         "detection: {sel: {eventName: DeletePublicAccessBlock}, condition: sel}\\n")
    >>> compiled = compile(rule)
    >>> print(compiled.condition)
    COALESCE(lower(api.operation) = ?, false)
    >>> compiled.params, compiled.techniques
    (('deletepublicaccessblock',), ('T1562.008',))
    """

    title: str
    id: str | None
    status: str | None
    level: str | None
    description: str
    tags: tuple[str, ...]
    techniques: tuple[str, ...]
    condition: str
    params: tuple[Any, ...]
    fields: dict[str, str] = field(default_factory=dict)
    path: str | None = None

    @property
    def name(self) -> str:
        """``sigma:<id>`` (or ``sigma:<title slug>`` without an id): the rule's name among hunts.

        Examples
        --------
        >>> compile("title: Console logins\\nlogsource: {product: aws, service: cloudtrail}\\n"
        ...         "detection: {sel: {eventName: ConsoleLogin}, condition: sel}\\n").name
        'sigma:console_logins'
        """
        return "sigma:" + (self.id or re.sub(r"[^a-z0-9]+", "_", self.title.lower()).strip("_"))

    @property
    def sql(self) -> str:
        """The full query for the ``us-east-1`` table (parameters: window start, end, then :attr:`params`).

        Examples
        --------
        >>> rule = compile("title: Console logins\\nlogsource: {product: aws, service: cloudtrail}\\n"
        ...                "detection: {sel: {eventName: ConsoleLogin}, condition: sel}\\n")
        >>> print(rule.sql.splitlines()[-2])
          AND (COALESCE(lower(api.operation) = ?, false))
        """
        return _query(f'"{_db()}"."{find_source(SOURCE).table("us-east-1")}"', self.condition, None, None)[0]

    def query(self, lake: Lake, start: TimeLike, end: TimeLike, accounts: Iterable[str] | str | None = None,
              regions: Iterable[str] | str | None = None) -> tuple[str, builtins.list[Any]]:
        """``(athena_sql, params)`` of this rule on ``lake`` over ``[start, end)``.

        Parameters
        ----------
        lake
            The lake whose table name the SQL uses.
        start, end
            The window; default the 14 days before ``lake.clock()``.
        accounts, regions
            Partitions to restrict the query to (``None`` = all).

        Returns
        -------
        (str, list)
            The SQL and its values: window start and end, accounts, regions, then :attr:`params`.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> rule = compile("title: Console logins\\nlogsource: {product: aws, service: cloudtrail}\\n"
        ...                "detection: {sel: {eventName: ConsoleLogin}, condition: sel}\\n")
        >>> sql, params = rule.query(sf.Lake.sample(), "2026-05-11T00:00Z", "2026-05-12T00:00Z", accounts="432505343723")
        >>> params
        ['2026-05-11T00:00:00.000Z', '2026-05-12T00:00:00.000Z', '432505343723', 'consolelogin']
        """
        win = default_window(lake.clock(), start, end)
        text, extra = _query(lake.table_name(SOURCE), self.condition, id_list(accounts, "accounts"), id_list(regions, "regions"))
        return text, [timestamp_text(win.start), timestamp_text(win.end), *extra, *self.params]


def _db() -> str:
    from slake_forensics.core.catalog import database

    return database("us-east-1")


def _columns() -> str:
    return ",\n  ".join(select_expression(p, t) for p, t in leaves(find_source(SOURCE))
                        if not (pa.types.is_list(t) or pa.types.is_map(t)))


def _query(table: str, condition: str, accounts: list[str] | None, regions: list[str] | None) -> tuple[str, list[str]]:
    where = ["time_dt >= from_iso8601_timestamp(?)", "time_dt < from_iso8601_timestamp(?)"]
    params: list[str] = []
    for column, values in (("accountid", accounts), ("region", regions)):
        if values is None:
            continue
        if not values:
            raise ValueError(f"Empty {column} filter: pass None for all, or at least one value.")
        where.append(f"{column} IN ({', '.join('?' for _ in values)})")
        params += values
    where.append(f"({condition})")
    sql = f"SELECT\n  {_columns()}\nFROM {table}\nWHERE " + "\n  AND ".join(where) + '\nORDER BY time_dt, "metadata.uid"'
    return sql, params


def _sigma_fields(detection: SigmaDetection | SigmaDetectionItem, out: dict[str, None]) -> None:
    if isinstance(detection, SigmaDetectionItem):
        if detection.field is not None:
            out[detection.field] = None
        return
    for item in detection.detection_items:
        _sigma_fields(item, out)


def _load(path_or_rule: str | Path | SigmaRule) -> tuple[SigmaRule, str | None]:
    if isinstance(path_or_rule, SigmaRule):
        return path_or_rule, None
    where: str | None = None
    if isinstance(path_or_rule, Path) or "\n" not in path_or_rule:
        p = Path(path_or_rule)
        try:
            text, where = p.read_text(), str(p)
        except OSError as exc:
            raise SigmaCompileError(f"Cannot read Sigma rule {p}: {exc}") from None
    else:
        text = path_or_rule
    try:
        rules = SigmaCollection.from_yaml(text).rules
    except SigmaError as exc:
        raise SigmaCompileError(f"{where or 'rule'}: not a valid Sigma rule: {exc}", modifier=_modifier_of(exc)) from None
    if len(rules) != 1 or not isinstance(rules[0], SigmaRule):
        raise SigmaCompileError(f"{where or 'text'} holds {len(rules)} rules or a correlation rule; compile() takes one "
                                "detection rule (use compile_dir for many).")
    return rules[0], where


def _modifier_of(exc: Exception) -> str | None:
    if "unhandled placeholder" in str(exc):  # a value of the expand modifier that no pipeline filled in
        return "expand"
    m = re.search(r"modifier '?([A-Za-z0-9_]+)", str(exc), re.IGNORECASE)
    return m[1] if m else None


def compile(path_or_rule: str | Path | SigmaRule) -> CompiledRule:  # noqa: A001 - the documented name
    """Compile one Sigma CloudTrail rule (a file path, YAML text or ``SigmaRule``) to a :class:`CompiledRule`.

    Raises :class:`SigmaCompileError` naming the field or modifier that blocks it.

    Parameters
    ----------
    path_or_rule
        A ``.yml`` file, the YAML text of one rule (text with a newline), or a pySigma ``SigmaRule``.

    Returns
    -------
    CompiledRule

    Examples
    --------
    >>> import slake_forensics as sf
    >>> rule = '''
    ... title: Public access block deleted
    ... id: 5a8f0c7e-1b2d-4c3e-9f4a-000000000001
    ... level: high
    ... tags: [attack.defense-evasion, attack.t1562.008]
    ... logsource: {product: aws, service: cloudtrail}
    ... detection:
    ...   selection:
    ...     eventSource: s3.amazonaws.com
    ...     eventName: DeletePublicAccessBlock
    ...   condition: selection
    ... '''
    >>> compiled = sf.sigma.compile(rule)
    >>> compiled.name, compiled.level, compiled.fields
    ('sigma:5a8f0c7e-1b2d-4c3e-9f4a-000000000001', 'high', {'eventSource': 'api.service.name', 'eventName': 'api.operation'})
    """
    rule, where = _load(path_or_rule)
    used: dict[str, None] = {}
    for det in rule.detection.detections.values():
        _sigma_fields(det, used)
    title = str(rule.title)
    backend = AthenaBackend(cloudtrail_pipeline())
    try:
        queries = backend.convert(SigmaCollection([rule]))
    except UnmappedFieldError as exc:
        raise SigmaCompileError(f"{title}: {exc}", field=exc.field, rule=title) from None
    except BlockedError as exc:
        raise SigmaCompileError(f"{title}: {exc}", modifier=exc.modifier, rule=title) from None
    except SigmaError as exc:
        modifier = _modifier_of(exc)
        hint = " (modifier expand: no placeholder values are configured; write the values into the rule)" \
            if modifier == "expand" else ""
        raise SigmaCompileError(f"{title}: {exc}{hint}", modifier=modifier, rule=title) from None
    if not queries:
        raise SigmaCompileError(f"{title}: the rule converted to no condition.", rule=title)
    condition, params = backend.bind(" OR ".join(f"({q})" for q in queries) if len(queries) > 1 else queries[0])
    tags = tuple(f"{t.namespace}.{t.name}" for t in rule.tags)
    techniques = tuple(t.name.upper() for t in rule.tags if t.namespace == "attack" and _TECHNIQUE.fullmatch(t.name))
    return CompiledRule(
        title=title, id=str(rule.id) if rule.id else None, status=str(rule.status) if rule.status else None,
        level=str(rule.level) if rule.level else None, description=str(rule.description or "").strip(), tags=tags,
        techniques=techniques, condition=condition, params=tuple(params),
        fields={f: resolve_field(f) for f in used}, path=where,
    )


def compile_dir(path: str | Path) -> tuple[list[CompiledRule], pd.DataFrame]:
    """Compile every ``*.yml`` / ``*.yaml`` below ``path``.

    Parameters
    ----------
    path
        A folder of Sigma rules (searched recursively).

    Returns
    -------
    (list of CompiledRule, pandas.DataFrame)
        The rules that compiled, and one row per rule that did not: columns ``path, rule, field,
        modifier, error``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = Path(folder, "console.yml").write_text(
    ...         "title: Console logins\\nlogsource: {product: aws, service: cloudtrail}\\n"
    ...         "detection: {sel: {eventName: ConsoleLogin}, condition: sel}\\n")
    ...     _ = Path(folder, "unmapped.yml").write_text(
    ...         "title: Unmapped\\nlogsource: {product: aws, service: cloudtrail}\\n"
    ...         "detection: {sel: {noSuchField: x}, condition: sel}\\n")
    ...     rules, failures = compile_dir(folder)
    >>> [r.title for r in rules], failures[["rule", "field"]].values.tolist()
    (['Console logins'], [['Unmapped', 'noSuchField']])
    """
    root = Path(path)
    if not root.is_dir():
        raise SigmaCompileError(f"{root} is not a folder of Sigma rules.")
    compiled, failed = [], []
    for p in sorted([*root.rglob("*.yml"), *root.rglob("*.yaml")]):
        try:
            compiled.append(compile(p))
        except SigmaCompileError as exc:
            failed.append({"path": str(p), "rule": exc.rule, "field": exc.field, "modifier": exc.modifier, "error": str(exc)})
    return compiled, pd.DataFrame(failed, columns=["path", "rule", "field", "modifier", "error"])


def run(lake: Lake, rule: CompiledRule | str | Path | SigmaRule, start: TimeLike | None = None, end: TimeLike | None = None,
        accounts: Iterable[str] | str | None = None, regions: Iterable[str] | str | None = None) -> pd.DataFrame:
    """Events of ``lake``'s CloudTrail in ``[start, end)`` matching ``rule``, one row per event, sorted by time.

    ``start``/``end`` default like hunts (the 14 days before ``lake.clock()``).  Columns are the
    table's scalar columns under their dotted names (``metadata.uid``, ``actor.user.uid``);
    ``attrs`` hold ``rule``, ``title``, ``level``, ``techniques``, ``window``, ``sql``, ``params``.

    Parameters
    ----------
    lake
        The lake to search.
    rule
        A :class:`CompiledRule`, or anything :func:`compile` takes.
    start, end
        The window ``[start, end)``.
    accounts, regions
        Partitions to search (``None`` = all).

    Returns
    -------
    pandas.DataFrame
        The matching events with the scalar columns of ``cloud_trail_mgmt`` (``time_dt``,
        ``metadata.uid``, ``api.operation``, ``actor.user.uid``, ``src_endpoint.ip``, …).

    Examples
    --------
    >>> import slake_forensics as sf
    >>> rule = ("title: Public access block deleted\\nlevel: high\\ntags: [attack.t1562.008]\\n"
    ...         "logsource: {product: aws, service: cloudtrail}\\n"
    ...         "detection: {sel: {eventName: DeletePublicAccessBlock}, condition: sel}\\n")
    >>> hits = sf.sigma.run(sf.Lake.sample(), rule)
    >>> hits[["time_dt", "src_endpoint.ip"]].astype(str).values.tolist()
    [['2026-05-21 03:45:09.305000+00:00', '103.75.108.118']]
    >>> hits.attrs["techniques"]
    ['T1562.008']
    """
    compiled = rule if isinstance(rule, CompiledRule) else compile(rule)
    win = default_window(lake.clock(), start, end)
    sql, params = compiled.query(lake, win.start, win.end, accounts, regions)
    df = lake.sql(sql, params, start=win.start, end=win.end, accounts=accounts, regions=regions)
    df.attrs = {**df.attrs, "rule": compiled.name, "title": compiled.title, "level": compiled.level,
                "techniques": builtins.list(compiled.techniques), "window": (win.start, win.end), "sql": sql, "params": params}
    return df


_SEVERITY = {"informational": "informational", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}


def as_hunt_rows(rules: Iterable[CompiledRule]) -> pd.DataFrame:
    """Compiled rules as rows with the columns of ``slake_forensics.analysis.hunts.list()``.

    ``name`` is :attr:`CompiledRule.name`, ``stage`` ``detection_analysis``, ``severity`` the
    Sigma level, ``sources`` ``[cloud_trail_mgmt]``, ``params`` empty, ``hypothesis`` the description.

    Parameters
    ----------
    rules
        Compiled rules.

    Returns
    -------
    pandas.DataFrame
        Columns ``name, title, stage, severity, techniques, sources, params, hypothesis``.

    Examples
    --------
    >>> rule = ("title: Public access block deleted\\nlevel: high\\ntags: [attack.t1562.008]\\n"
    ...         "logsource: {product: aws, service: cloudtrail}\\n"
    ...         "detection: {sel: {eventName: DeletePublicAccessBlock}, condition: sel}\\n")
    >>> rows = as_hunt_rows([compile(rule)])
    >>> rows[["title", "severity", "techniques"]].values.tolist()
    [['Public access block deleted', 'high', ['T1562.008']]]
    """
    rows = [{"name": r.name, "title": r.title, "stage": "detection_analysis",
             "severity": _SEVERITY.get(r.level or "", "medium"), "techniques": builtins.list(r.techniques),
             "sources": [SOURCE], "params": {}, "hypothesis": r.description or r.title} for r in rules]
    return pd.DataFrame(rows, columns=["name", "title", "stage", "severity", "techniques", "sources", "params", "hypothesis"])
