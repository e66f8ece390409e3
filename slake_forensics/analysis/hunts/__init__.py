"""Threat hunts: Athena SQL files with typed, documented parameters, run on any engine.

Each hunt is a pair of files in this package: ``<name>.sql`` (one Athena/Trino query) and
``<name>.yaml`` (title, hypothesis, ATT&CK techniques, NIST stage, sources, parameters,
severity, what a hit means, what a false positive looks like and what to do next).

Writing the SQL
---------------
* ``{table:<source>}`` stands for a source's table (``{table:cloud_trail_mgmt}``).  It is
  replaced by :meth:`Lake.class_relation` -- the source's table (an identifier built from the
  catalog, never from a user value), read together with the lake's custom sources of the same
  OCSF class when it has some -- and the source must be listed under ``sources`` in the yaml.
* ``:name`` is a named parameter declared under ``parameters`` in the yaml.  Compiling turns
  every occurrence into a positional ``?`` (in order of appearance) and binds the value, so no
  value is ever formatted into the SQL.  A list parameter becomes ``?, ?, …`` (one placeholder
  per item) and is meant for ``x IN (:list)``; an empty list becomes ``NULL``, so write
  ``COALESCE(x IN (:list), false)`` where a list may be empty.  ``:name`` inside string
  literals, quoted identifiers and comments is left alone; a bare ``?`` is not allowed.
  Parameters go in ``WHERE`` clauses only (Athena accepts execution parameters nowhere
  else): a threshold on an aggregate filters an outer ``SELECT … WHERE events >= :min``, not
  a ``HAVING``.
* ``:start`` and ``:end`` are implicit: the hunt window ``[start, end)``, bound as ISO-8601
  UTC strings.  Every hunt filters ``time_dt >= from_iso8601_timestamp(:start) AND time_dt <
  from_iso8601_timestamp(:end)`` (hunts with a ``baseline_days`` parameter also read the
  ``baseline_days`` before ``start``).

Hit columns
-----------
One row per hit.  Columns named like OCSF fields (``actor.user.uid``, ``src_endpoint.ip``)
hold that field's value, shared by every event the hit stands for.  A hit about one event has
``time_dt`` (and ``metadata.uid`` or ``api.request.uid`` when the source has one); a hit that
groups events has ``first_time_dt``, ``last_time_dt`` and ``events``.  Other columns
(``detail``, counts, samples) explain the hit.

Use :func:`list`, :func:`get`, :func:`run` and :func:`run_all` (also ``Lake.hunt`` and
``Lake.run_hunts``).  Sigma rules for CloudTrail join them with :func:`add_sigma`: they are listed,
run by :func:`run` under their ``sigma:<id>`` name and by :func:`run_all` beside the hunts.
"""
from __future__ import annotations

import builtins
import math
import re
from collections.abc import Mapping
from pathlib import Path
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml
from tqdm.auto import tqdm

from slake_forensics.analysis import sigma as _sigma
from slake_forensics.core.catalog import SOURCES
from slake_forensics.core.errors import SlakeError
from slake_forensics.sql.build import timestamp_text
from slake_forensics.core.scope import Scope, default_window
from slake_forensics.core.timewindow import TimeLike, Window

if TYPE_CHECKING:
    from slake_forensics.engines.base import Engine

#: NIST SP 800-61 stages, the ``stage`` of each hunt.
STAGES = ("preparation", "detection_analysis", "containment_eradication_recovery", "post_incident")
#: Allowed ``severity`` values of a hunt.
SEVERITIES = ("informational", "low", "medium", "high", "critical")
#: Allowed ``type`` values of a hunt parameter.
PARAM_TYPES = ("int", "float", "bool", "str", "list[str]", "list[int]")
#: Parameters every hunt gets without declaring them: the window.
IMPLICIT_PARAMS = ("start", "end")
#: The window before the lake clock that hunts read by default.
DEFAULT_WINDOW = pd.Timedelta(days=14)
#: An ATT&CK technique id (``T1078``, ``T1078.004``).
TECHNIQUE_RE = re.compile(r"T\d{4}(\.\d{3})?")
#: A hunt parameter name.
NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
#: Keys every hunt yaml must have.
REQUIRED_KEYS = ("title", "hypothesis", "techniques", "stage", "sources", "severity", "parameters", "hit_means", "false_positives",
                 "next_steps")

# Outside string literals, quoted identifiers and comments: a table placeholder, a named
# parameter (not part of ``::``) or a bare ``?``.
_TOKENS = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/"""
    r"""|\{table:(?P<table>[^}]*)\}|(?<![:\w]):(?P<param>[A-Za-z_]\w*)|(?P<qmark>\?)""",
    re.DOTALL,
)


class HuntError(SlakeError, ValueError):
    """A hunt definition (``.sql``/``.yaml``) is malformed.

    Examples
    --------
    >>> try:
    ...     Param("since", "date", "2026-05-21", "A day.").coerce("2026-05-21", "demo")
    ... except HuntError as exc:
    ...     print(str(exc).split(";")[0])
    demo: parameter 'since' (date): unknown parameter type 'date'
    """


class UnknownHuntError(SlakeError, KeyError):
    """No hunt has the requested name.

    Examples
    --------
    >>> try:
    ...     get("s3_bulk_downlaod")
    ... except UnknownHuntError as exc:
    ...     print(str(exc).split(" Hunts:")[0])
    No hunt named 's3_bulk_downlaod'. Did you mean s3_bulk_download?
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class HuntParameterError(SlakeError, ValueError):
    """A hunt parameter is unknown or has a value of the wrong type or range.

    Examples
    --------
    >>> try:
    ...     get("access_denied_burst").resolve({"min_denied": 0})
    ... except HuntParameterError as exc:
    ...     print(exc)
    access_denied_burst: parameter 'min_denied' (int) must be >= 1; got 0.
    """


@dataclass(frozen=True)
class Param:
    """One typed hunt parameter, as declared under ``parameters`` in a hunt's yaml.

    Parameters
    ----------
    name
        The ``:name`` the SQL uses.
    type
        One of :data:`PARAM_TYPES`.
    default
        The value when the caller gives none.
    description
        What it means.
    min, max
        Bounds of numbers (and of list items for ``list[int]``).
    min_items
        The fewest items of a list.

    Examples
    --------
    >>> p = get("access_denied_burst").params["min_denied"]
    >>> p.type, p.default, p.min
    ('int', 10, 1)
    """

    name: str
    type: str
    default: Any
    description: str
    min: float | None = None
    max: float | None = None
    min_items: int = 0

    def coerce(self, value: Any, hunt: str) -> Any:
        """Return ``value`` as this parameter's type, or raise :class:`HuntParameterError` saying why.

        Parameters
        ----------
        value
            The caller's value (strings of numbers and booleans are accepted; a scalar becomes a
            one-item list for list types).
        hunt
            The hunt's name, for messages.

        Returns
        -------
        Any
            The value as ``int``, ``float``, ``bool``, ``str`` or a list of them.

        Examples
        --------
        >>> get("access_denied_burst").params["min_denied"].coerce("12", "access_denied_burst")
        12
        >>> get("access_denied_burst").params["error_codes"].coerce("AccessDenied", "access_denied_burst")
        ['AccessDenied']
        """
        where = f"{hunt}: parameter {self.name!r} ({self.type})"
        if self.type.startswith("list["):
            if isinstance(value, str | int) and not isinstance(value, bool):
                value = [value]
            if not isinstance(value, builtins.list | tuple | set | frozenset):
                raise HuntParameterError(f"{where} takes a list, not {type(value).__name__} ({value!r}).")
            item_type = self.type[5:-1]
            items = [self._scalar(v, item_type, where) for v in (sorted(value) if isinstance(value, set | frozenset) else value)]
            if item_type == "str" and any(v == "" for v in items):
                raise HuntParameterError(f"{where}: empty strings are not allowed in the list.")
            if len(items) < self.min_items:
                raise HuntParameterError(f"{where} needs at least {self.min_items} item(s); got {len(items)}.")
            for v in items:
                self._check_range(v, where)
            return items
        out = self._scalar(value, self.type, where)
        self._check_range(out, where)
        return out

    def _check_range(self, value: Any, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return
        if self.min is not None and value < self.min:
            raise HuntParameterError(f"{where} must be >= {self.min}; got {value!r}.")
        if self.max is not None and value > self.max:
            raise HuntParameterError(f"{where} must be <= {self.max}; got {value!r}.")

    @staticmethod
    def _scalar(value: Any, typ: str, where: str) -> Any:
        bad = HuntParameterError(f"{where} cannot take {type(value).__name__} {value!r}.")
        if typ == "str":
            if not isinstance(value, str):
                raise bad
            return value
        if typ == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                return value.strip().lower() == "true"
            raise bad
        if isinstance(value, bool):
            raise bad
        if typ == "int":
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
                return int(value)
            raise bad
        if typ == "float":
            try:
                out = float(value) if isinstance(value, int | float | str) else math.nan
            except ValueError:
                raise bad from None
            if not math.isfinite(out):
                raise bad
            return out
        raise HuntError(f"{where}: unknown parameter type {typ!r}; use one of {', '.join(PARAM_TYPES)}.")


@dataclass(frozen=True)
class Hunt:
    """A hunt: its metadata (from the yaml) and its Athena SQL with placeholders.

    Build it with :func:`get`.

    Parameters
    ----------
    name
        The file name of ``<name>.sql`` / ``<name>.yaml``.
    title, hypothesis, techniques, stage, sources, severity, hit_means, next_steps
        The yaml's keys (lists as tuples).
    false_positives
        The yaml's ``false_positives``: which routine activity triggers the hunt, how to tell it
        from the attack and which parameter tunes it out.
    params
        The :class:`Param` of each declared parameter, by name.
    sql
        The text of ``<name>.sql``.
    meta
        The whole yaml.

    Examples
    --------
    >>> hunt = get("s3_public_access_change")
    >>> hunt.stage, hunt.severity, hunt.sources
    ('detection_analysis', 'high', ('cloud_trail_mgmt',))
    >>> hunt.false_positives.split(",")[0]
    'Public website or download buckets whose Block Public Access is deliberately off'
    """

    name: str
    title: str
    hypothesis: str
    techniques: tuple[str, ...]
    stage: str
    sources: tuple[str, ...]
    severity: str
    params: dict[str, Param]
    hit_means: str
    next_steps: tuple[str, ...]
    false_positives: str
    sql: str
    meta: dict = field(repr=False, default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        """Every parameter's default value, by name.

        Returns
        -------
        dict of str to Any

        Examples
        --------
        >>> sorted(get("access_denied_burst").defaults())
        ['error_codes', 'min_denied', 'min_distinct_operations']
        """
        return {n: p.default for n, p in self.params.items()}

    def resolve(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The defaults updated with ``values``, each checked and coerced to its type.

        Raises :class:`HuntParameterError` naming the known parameters for an unknown name.

        Parameters
        ----------
        values
            Parameter values by name.

        Returns
        -------
        dict of str to Any
            Every parameter's value.

        Examples
        --------
        >>> values = get("access_denied_burst").resolve({"min_denied": "5"})
        >>> values["min_denied"], values["min_distinct_operations"]
        (5, 3)
        """
        unknown = [k for k in values if k not in self.params]
        if unknown:
            known = ", ".join(f"{n} ({p.type})" for n, p in self.params.items()) or "none"
            raise HuntParameterError(f"{self.name}: unknown parameter(s) {unknown}; this hunt takes: {known}.")
        merged = {**self.defaults(), **values}
        return {n: self.params[n].coerce(v, self.name) for n, v in merged.items()}

    def compile(self, lake: Engine, window: Window, values: Mapping[str, Any]) -> tuple[str, builtins.list[Any]]:
        """The hunt's Athena SQL for ``lake`` and window, with its parameters bound in order.

        Tables are resolved for ``lake`` and each ``:name`` becomes ``?`` (a list one ``?`` per item).

        Parameters
        ----------
        lake
            The lake whose table names the SQL uses.
        window
            The hunt window (``:start`` and ``:end``).
        values
            Already-resolved parameter values (:meth:`resolve`).

        Returns
        -------
        (str, list)
            The SQL and the values of its ``?`` placeholders.

        Examples
        --------
        >>> import slake_forensics as sf
        >>> lake = sf.Lake.sample()
        >>> hunt = get("access_denied_burst")
        >>> sql, params = hunt.compile(lake, window(lake), hunt.resolve({}))
        >>> params[:3], params[-2:]
        (['2026-05-10T23:59:59.999Z', '2026-05-24T23:59:59.999Z', 'AccessDenied'], [10, 3])
        >>> ":start" in sql, sql.count("?") == len(params)
        (False, True)
        """
        bound = {**values, "start": timestamp_text(window.start), "end": timestamp_text(window.end)}
        params: builtins.list[Any] = []

        def substitute(m: re.Match[str]) -> str:
            if m["table"] is not None:
                return lake.class_relation(m["table"])
            if m["param"] is not None:
                value = bound[m["param"]]
                if isinstance(value, builtins.list):
                    params.extend(value)
                    return ", ".join("?" * len(value)) if value else "NULL"
                params.append(value)
                return "?"
            return m[0]

        return _TOKENS.sub(substitute, self.sql), params

    def describe(self) -> dict[str, Any]:
        """The hunt as one row of :func:`list`.

        Returns
        -------
        dict of str to Any
            Keys ``name, title, stage, severity, techniques, sources, params, hypothesis``.

        Examples
        --------
        >>> get("access_denied_burst").describe()["params"]["min_denied"]
        'int = 10'
        """
        return {
            "name": self.name, "title": self.title, "stage": self.stage, "severity": self.severity,
            "techniques": builtins.list(self.techniques), "sources": builtins.list(self.sources),
            "params": {n: f"{p.type} = {p.default!r}" for n, p in self.params.items()},
            "hypothesis": self.hypothesis,
        }


def _load(name: str) -> Hunt:
    folder = resources.files(__package__)
    try:
        meta = yaml.safe_load(folder.joinpath(f"{name}.yaml").read_text())
        sql = folder.joinpath(f"{name}.sql").read_text()
    except (OSError, yaml.YAMLError) as exc:
        raise HuntError(f"Cannot read hunt {name!r}: {exc}") from None
    if not isinstance(meta, dict):
        raise HuntError(f"{name}.yaml must be a mapping of the keys {', '.join(REQUIRED_KEYS)}.")
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise HuntError(f"{name}.yaml lacks {missing}.")
    params = {}
    for pname, spec in (meta["parameters"] or {}).items():
        if not isinstance(spec, dict) or not {"type", "default", "description"} <= spec.keys():
            raise HuntError(f"{name}.yaml: parameter {pname!r} needs type, default and description.")
        if spec["type"] not in PARAM_TYPES or pname in IMPLICIT_PARAMS or not NAME_RE.fullmatch(str(pname)):
            raise HuntError(f"{name}.yaml: parameter {pname!r} has a bad name or type {spec['type']!r} (types: {', '.join(PARAM_TYPES)}).")
        p = Param(pname, spec["type"], spec["default"], str(spec["description"]).strip(), spec.get("min"), spec.get("max"), int(spec.get("min_items", 0)))
        params[pname] = replace(p, default=p.coerce(p.default, name))
    hunt = Hunt(
        name, str(meta["title"]).strip(), str(meta["hypothesis"]).strip(), tuple(meta["techniques"]), meta["stage"],
        tuple(meta["sources"]), meta["severity"], params, str(meta["hit_means"]).strip(), tuple(meta["next_steps"]),
        str(meta["false_positives"] or "").strip(), sql, meta,
    )
    _check(hunt)
    return hunt


def _check(hunt: Hunt) -> None:
    problems = []
    if hunt.stage not in STAGES:
        problems.append(f"stage {hunt.stage!r} is not one of {STAGES}")
    if hunt.severity not in SEVERITIES:
        problems.append(f"severity {hunt.severity!r} is not one of {SEVERITIES}")
    if not hunt.false_positives:
        problems.append("false_positives is empty (say which routine activity triggers the hunt and how to tune it out)")
    problems += [f"technique {t!r} is not an ATT&CK id like T1078 or T1078.004" for t in hunt.techniques if not TECHNIQUE_RE.fullmatch(str(t))]
    problems += [f"source {s!r} is not a catalog source" for s in hunt.sources if s not in SOURCES]
    used_tables, used_params = set(), set()
    for m in _TOKENS.finditer(hunt.sql):
        if m["qmark"]:
            problems.append("a bare ? (use a named :parameter)")
        if m["table"] is not None:
            used_tables.add(m["table"])
        if m["param"] is not None:
            used_params.add(m["param"])
    problems += [f"{{table:{t}}} is not a source listed in the yaml" for t in sorted(used_tables - set(hunt.sources))]
    problems += [f"sources listed but not read: {sorted(set(hunt.sources) - used_tables)}"] if set(hunt.sources) - used_tables else []
    problems += [f":{p} is not a declared parameter" for p in sorted(used_params - set(hunt.params) - set(IMPLICIT_PARAMS))]
    problems += [f"parameter {p!r} is declared but not used" for p in sorted(set(hunt.params) - used_params)]
    problems += [f":{p} is not used (every hunt is time-windowed)" for p in IMPLICIT_PARAMS if p not in used_params]
    if problems:
        raise HuntError(f"Hunt {hunt.name!r} is malformed: " + "; ".join(problems) + ".")


@cache
def names() -> tuple[str, ...]:
    """Names of every hunt in the package, sorted.

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> names()[:2]
    ('access_denied_burst', 'account_access_removed')
    """
    folder = resources.files(__package__)
    found = {p.name[:-4] for p in folder.iterdir() if p.name.endswith(".sql")}
    return tuple(sorted(found))


@cache
def get(name: str) -> Hunt:
    """The :class:`Hunt` called ``name``; raises :class:`UnknownHuntError` listing the hunts otherwise.

    Parameters
    ----------
    name
        A hunt's name (:func:`names`).

    Returns
    -------
    Hunt
        Loaded and checked once per process.

    Examples
    --------
    >>> get("s3_bulk_download").title
    'Bulk S3 download by one principal'
    """
    if name not in names():
        import difflib

        close = difflib.get_close_matches(str(name), names(), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownHuntError(f"No hunt named {name!r}.{hint} Hunts: {', '.join(names())}.")
    return _load(name)


def list(stage: str | None = None) -> pd.DataFrame:  # noqa: A001 - the documented name
    """One row per hunt, optionally of one NIST ``stage``.

    Parameters
    ----------
    stage
        One of :data:`STAGES`, or ``None`` for every hunt.

    Returns
    -------
    pandas.DataFrame
        Columns ``name, title, stage, severity, techniques (list), sources (list), params
        ({name: "type = default"}), hypothesis``, by name.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> sf.hunts.list("preparation")["name"].tolist()
    ['long_lived_key_inventory']
    >>> len(sf.hunts.list()) == len(names())
    True
    """
    _check_stage(stage)
    rows = [get(n).describe() for n in names()]
    df = pd.DataFrame(rows, columns=["name", "title", "stage", "severity", "techniques", "sources", "params", "hypothesis"])
    if _SIGMA_RULES:
        df = pd.concat([df, _sigma.as_hunt_rows(_SIGMA_RULES.values())], ignore_index=True)
    return df if stage is None else df[df["stage"] == stage].reset_index(drop=True)


#: Sigma rules registered with :func:`add_sigma`, by their ``sigma:<id>`` name.
_SIGMA_RULES: dict[str, _sigma.CompiledRule] = {}


def add_sigma(path: str | Path) -> pd.DataFrame:
    """Compile Sigma CloudTrail rules (a ``.yml`` file or a folder of them) and run them as hunts.

    Registered rules appear in :func:`list` (name ``sigma:<id>``, the rule's level as severity, its ATT&CK tags as
    techniques, stage ``detection_analysis``), run with :func:`run` / ``Lake.hunt`` under that name and with
    :func:`run_all` / ``Lake.run_hunts``.  Rules that do not compile are not registered; they are returned with the
    field or modifier that blocks them.

    Parameters
    ----------
    path
        A Sigma rule file, or a folder searched recursively for ``*.yml`` / ``*.yaml`` (a SigmaHQ clone's
        ``rules/cloud/aws/cloudtrail``).

    Returns
    -------
    pandas.DataFrame
        The rules that did not compile: ``path, rule, field, modifier, error`` (empty when all did).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> rule = pathlib.Path(tempfile.mkdtemp()) / "stop_logging.yml"
    >>> _ = rule.write_text("title: CloudTrail stopped\\nid: 4db60cc0-36fb-4f3e-b5e6-0a2b1c3d4e5f\\nstatus: test\\n"
    ...                     "level: high\\ntags: [attack.t1562.008]\\nlogsource: {product: aws, service: cloudtrail}\\n"
    ...                     "detection: {sel: {eventName: StopLogging}, condition: sel}\\n")
    >>> add_sigma(rule).empty
    True
    >>> sigma_rules()[["name", "level", "status", "techniques"]].values.tolist()
    [['sigma:4db60cc0-36fb-4f3e-b5e6-0a2b1c3d4e5f', 'high', 'test', ['T1562.008']]]
    >>> clear_sigma()
    """
    p = Path(path)
    if p.is_dir():
        rules, failures = _sigma.compile_dir(p)
    else:
        rules, failures = [_sigma.compile(p)], pd.DataFrame(columns=["path", "rule", "field", "modifier", "error"])
    for rule in rules:
        if rule.name in names():
            raise HuntError(f"Sigma rule {rule.path}: its name {rule.name!r} is a hunt's name; give the rule an id.")
        _SIGMA_RULES[rule.name] = rule
    return failures


def sigma_rules() -> pd.DataFrame:
    """The registered Sigma rules (:func:`add_sigma`).

    Returns
    -------
    pandas.DataFrame
        One row per rule: ``name, title, level, status, techniques (list), tags (list), path``.

    Examples
    --------
    >>> sigma_rules().empty
    True
    """
    rows = [{"name": r.name, "title": r.title, "level": r.level, "status": r.status, "techniques": builtins.list(r.techniques),
             "tags": builtins.list(r.tags), "path": r.path} for r in _SIGMA_RULES.values()]
    return pd.DataFrame(rows, columns=["name", "title", "level", "status", "techniques", "tags", "path"])


def clear_sigma() -> None:
    """Forget every registered Sigma rule (:func:`add_sigma`).

    Examples
    --------
    >>> clear_sigma(); sigma_rules().empty
    True
    """
    _SIGMA_RULES.clear()


def _check_stage(stage: str | None) -> None:
    if stage is not None and stage not in STAGES:
        raise HuntParameterError(f"Unknown stage {stage!r}; stages are {', '.join(STAGES)}.")


def window(lake: Engine, start: TimeLike | None = None, end: TimeLike | None = None) -> Window:
    """The hunt window: ``end`` defaults to ``lake.clock()``, ``start`` to 14 days before ``end``.

    Parameters
    ----------
    lake
        The lake whose clock gives the defaults.
    start, end
        Given bounds.

    Returns
    -------
    slake_forensics.core.timewindow.Window

    Examples
    --------
    >>> import slake_forensics as sf
    >>> print(window(sf.Lake.sample(), start="2026-05-21T00:00Z"))
    [2026-05-21T00:00:00+00:00, 2026-05-24T23:59:59.999000+00:00)
    """
    return default_window(lake.clock(), start, end, days=DEFAULT_WINDOW / pd.Timedelta(days=1))


def run(lake: Engine, name: str, start: TimeLike | None = None, end: TimeLike | None = None, **params: Any) -> pd.DataFrame:
    """Run hunt ``name`` on ``lake`` over ``[start, end)`` (default: the 14 days before ``lake.clock()``).

    ``params`` override the hunt's defaults; unknown or ill-typed ones raise
    :class:`HuntParameterError`.  Returns the hits, one row per hit (see the module doc for
    the columns), with ``attrs``: ``hunt``, ``title``, ``stage``, ``severity``, ``techniques``,
    ``window`` (start, end), ``parameters`` (resolved values by name), ``sql`` (the compiled
    Athena SQL), ``params`` (bound values in order) and the engine's provenance.

    Parameters
    ----------
    lake
        The lake to hunt in.
    name
        The hunt's name.
    start, end
        The window ``[start, end)``.
    **params
        Parameter values overriding the defaults.

    Returns
    -------
    pandas.DataFrame
        The hits; columns are the hunt's own (OCSF-named fields, ``time_dt`` or
        ``first_time_dt``/``last_time_dt``/``events``, and explanations such as ``detail``).

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> hits = sf.hunts.run(lake, "access_denied_burst", "2026-05-21T00:00Z", "2026-05-22T00:00Z")
    >>> hits[["events", "operations"]].values.tolist(), hits.loc[0, "ips"]
    ([[10, 7]], ['103.75.108.118'])
    >>> hits.attrs["parameters"]["min_denied"]
    10
    """
    if name in _SIGMA_RULES:
        if params:
            raise HuntParameterError(f"{name} is a Sigma rule: it takes no parameters (got {sorted(params)}).")
        return _run_sigma(lake, _SIGMA_RULES[name], start, end)
    hunt = get(name)
    values = hunt.resolve(params)
    win = window(lake, start, end)
    sql, bound = hunt.compile(lake, win, values)
    # The engine reads the hunt's window, widened by the baseline the hunt compares with: an engine that
    # reads files itself (S3) must not fall back to its own default window.
    scope = Scope(win).widened(float(values.get("baseline_days", 0) or 0))
    df = lake.sql(sql, bound, start=scope.window.start, end=scope.window.end)
    df.attrs = {
        **df.attrs,
        "hunt": hunt.name, "title": hunt.title, "stage": hunt.stage, "severity": hunt.severity,
        "techniques": builtins.list(hunt.techniques), "window": (win.start, win.end), "parameters": values,
        "sql": sql, "params": bound,
    }
    return df


def _run_sigma(lake: Engine, rule: _sigma.CompiledRule, start: TimeLike | None, end: TimeLike | None) -> pd.DataFrame:
    """A registered Sigma rule's hits, with the attrs of a hunt's (``hunt``, ``stage``, ``severity`` = its level)."""
    df = _sigma.run(lake, rule, start, end)
    df.attrs = {**df.attrs, "hunt": rule.name, "stage": "detection_analysis",
                "severity": _sigma.as_hunt_rows([rule])["severity"].iloc[0], "parameters": {}}
    return df


class HitsByHunt(dict):
    """``{hunt name: hits DataFrame}`` kept in ``run_all(...).attrs["hits"]``.

    Compares by identity and is shared, not copied, when pandas copies ``attrs``, so
    filtering the summary stays cheap and never compares frames.

    Examples
    --------
    >>> import copy
    >>> import pandas as pd
    >>> hits = HitsByHunt({"s3_bulk_download": pd.DataFrame({"events": [1797]})})
    >>> copy.deepcopy(hits) is hits, hits == HitsByHunt(hits)
    (True, False)
    """

    __eq__ = object.__eq__
    __hash__ = object.__hash__  # type: ignore[assignment]  # typeshed declares dict.__hash__ None; this dict hashes by identity

    def __deepcopy__(self, memo: dict) -> HitsByHunt:
        return self


def run_all(lake: Engine, stage: str | None = None, start: TimeLike | None = None, end: TimeLike | None = None,
            *, progress: bool = False) -> pd.DataFrame:
    """Run every hunt (or those of ``stage``) with default parameters over one window.

    Returns one row per hunt (and per Sigma rule registered with :func:`add_sigma`): ``name, title, stage,
    severity, techniques, hits`` (row count,
    ``<NA>`` when the hunt did not run) and ``error`` (missing (NA) when it ran, else why it did not run: a
    source missing from the lake, or the engine's error).  A missing source or a failing hunt
    never stops the others.  ``attrs["hits"]`` maps each hunt that ran to its hits frame and
    ``attrs["window"]`` is (start, end).

    Parameters
    ----------
    lake
        The lake to hunt in.
    stage
        One of :data:`STAGES`, or ``None`` for every hunt.
    start, end
        The window ``[start, end)`` of every hunt.
    progress
        Show a progress bar over the hunts (notebook-aware; running all of them takes a while).

    Returns
    -------
    pandas.DataFrame
        Columns ``name, title, stage, severity, techniques, hits, error``, one row per hunt.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> summary = sf.hunts.run_all(sf.Lake.sample(), "post_incident", "2026-05-21T00:00Z", "2026-05-22T00:00Z")
    >>> summary[["name", "hits", "error"]].values.tolist()
    [['persistence_not_removed', 1, None]]
    >>> len(summary.attrs["hits"]["persistence_not_removed"])
    1
    """
    _check_stage(stage)
    win = window(lake, start, end)
    present = set(lake.sources()["source"])
    rows, hits = [], HitsByHunt()
    bar = tqdm(list(stage).to_dict("records"), desc="hunts", unit="hunt", disable=not progress, leave=False)
    for entry in bar:  # the package's hunts, then registered Sigma rules
        name = entry["name"]
        bar.set_postfix_str(name)
        row = {**{k: entry[k] for k in ("name", "title", "stage", "severity", "techniques")}, "hits": pd.NA, "error": None}
        missing = [s for s in entry["sources"] if s not in present]
        if missing:
            row["error"] = f"source(s) {', '.join(missing)} not in this lake (present: {', '.join(sorted(present)) or 'none'})"
        else:
            try:
                df = run(lake, name, win.start, win.end)
            except KeyboardInterrupt:  # QueryInterrupted is a SlakeError too: Ctrl-C stops every hunt
                raise
            except SlakeError as exc:
                row["error"] = f"{type(exc).__name__}: {exc}"
            else:
                hits[name] = df
                row["hits"] = len(df)
        rows.append(row)
    out = pd.DataFrame(rows, columns=["name", "title", "stage", "severity", "techniques", "hits", "error"])
    out["hits"] = out["hits"].astype("Int64")
    out.attrs = {"hits": hits, "window": (win.start, win.end)}
    return out
