"""Choosing a lake from the environment and an optional TOML file (see ``docs/configuration.md``).

Settings and where they come from, highest precedence first:

1. environment variables ``SLAKE_LAKE``, ``SLAKE_REGION``, ``SLAKE_WORKGROUP``,
   ``SLAKE_DATABASE``, ``SLAKE_S3_OUTPUT``, ``SLAKE_NOW``, ``SLAKE_TABLES``;
2. the config file: ``$SLAKE_CONFIG`` if set (it must exist), else ``slake.toml`` in the
   current folder or the nearest parent (up to the repository's root, the first folder holding
   ``.git``, or the filesystem's root), else ``~/.config/slake-forensics/config.toml`` (the
   first that exists), with the keys
   ``lake``, ``region``, ``workgroup``, ``database``, ``s3_output``, ``now`` and a
   ``[tables]`` table;
3. for the region only: ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` / the AWS profile's region
   (boto3's own lookup), or the region in a Security Lake bucket name.

With no ``lake`` anywhere, :func:`lake_from_config` returns the bundled sample lake and
logs (and warns) which variables and files would choose another one.

Limits on work (:func:`read_limits`, the same two places: ``SLAKE_QUERY_TIMEOUT`` /
``query_timeout`` and so on) bound every query (``timeout``, ``max_rows``) and every AWS call
(connect and read timeouts, attempts); see :class:`Limits`.
"""
from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from slake_forensics.core.catalog import check_region, source as find_source
from slake_forensics.core.errors import BadConfigError, BadWindowError, UnknownSourceError
from slake_forensics.core.timewindow import to_utc


_log = logging.getLogger(__name__)

KEYS = ("lake", "region", "workgroup", "database", "s3_output", "now", "tables")
ENV = {key: f"SLAKE_{key.upper()}" for key in KEYS}
CONFIG_ENV = "SLAKE_CONFIG"
LOCAL_FILE = Path("slake.toml")
USER_FILE = Path("~/.config/slake-forensics/config.toml")

#: Settings that bound work (:class:`Limits`); numbers in the file, text in the environment.
LIMIT_KEYS = ("query_timeout", "max_rows", "aws_connect_timeout", "aws_read_timeout", "aws_max_attempts")
LIMIT_ENV = {key: f"SLAKE_{key.upper()}" for key in LIMIT_KEYS}

_BUCKET_REGION_RE = re.compile(r"^aws-security-data-lake-(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)-[a-z0-9]+$")
_DATABASE_RE = re.compile(r"^[A-Za-z0-9_]{1,255}$")
_WORKGROUP_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_S3_URI_RE = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$")
_TABLE_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_CUSTOM_RE = re.compile(r"^ext/(?P<name>[A-Za-z0-9_-]{1,64})$")


class SampleFallbackWarning(UserWarning):
    """Nothing chose a lake, so the bundled sample lake is used."""


@dataclass(frozen=True)
class LakeConfig:
    """The merged settings.

    ``kind`` is ``"sample"``, ``"local"``, ``"s3"`` or ``"athena"``; ``target`` is the local
    folder or the ``s3://`` URI (``None`` otherwise); ``origin`` maps each setting to where
    it came from (``"SLAKE_LAKE"``, a file path, ``"default"``…) for messages; ``tables``
    maps sources to the Glue tables Athena reads them from (see :func:`check_tables`).
    """

    kind: str
    target: str | None = None
    region: str | None = None
    workgroup: str = "primary"
    database: str | None = None
    s3_output: str | None = None
    now: pd.Timestamp | None = None
    origin: dict[str, str] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)


def searched_folders(cwd: Path) -> list[Path]:
    """The folders searched for ``slake.toml``: ``cwd``, then its parents up to the repository's root.

    The search stops at the first folder holding ``.git`` (a repository's root), else at the
    filesystem's root, so a notebook in ``notebooks/`` finds the repository's ``slake.toml``.

    Parameters
    ----------
    cwd
        The folder to start from (a notebook's folder).

    Returns
    -------
    list of pathlib.Path
        ``cwd`` first, nearest parents next.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / ".git").mkdir(); (root / "notebooks").mkdir()
    >>> [p.relative_to(root).as_posix() for p in searched_folders(root / "notebooks")]
    ['notebooks', '.']
    """
    folders = []
    for folder in (cwd, *cwd.parents):
        folders.append(folder)
        if (folder / ".git").exists():
            break
    return folders


def config_file(env: Mapping[str, str], cwd: Path, home: Path) -> Path | None:
    """The config file in force: ``$SLAKE_CONFIG``, else the nearest ``slake.toml``, else the user file.

    ``slake.toml`` is looked for in :func:`searched_folders` of ``cwd``.  Returns ``None`` when
    none exists; raises :class:`BadConfigError` if ``SLAKE_CONFIG`` names a file that does not exist.
    """
    named = env.get(CONFIG_ENV, "").strip()
    if named:
        path = Path(named).expanduser()
        path = path if path.is_absolute() else cwd / path
        if not path.is_file():
            raise BadConfigError(f"{CONFIG_ENV}={named!r} does not name an existing file ({path}).")
        return path
    for candidate in (*(folder / LOCAL_FILE for folder in searched_folders(cwd)), home / USER_FILE.relative_to("~")):
        if candidate.is_file():
            return candidate
    return None


def lake_reason(cfg: LakeConfig, cwd: Path | None = None) -> str:
    """Why this lake: the setting that chose it, or where a config file was looked for in vain.

    Parameters
    ----------
    cfg
        A :func:`read_config` result.
    cwd
        The folder the search started from (default: the current folder).

    Returns
    -------
    str
        ``"lake = … from <file or variable>"``, or for the sample lake without a setting
        ``"no slake.toml found in <folders> (nor SLAKE_LAKE, SLAKE_CONFIG or the user file),
        using the bundled sample lake"``.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / ".git").mkdir()
    >>> lake_reason(read_config({}, cwd=root, home=root), cwd=root).replace(str(root), "<repo>")
    'no slake.toml found in <repo> (nor SLAKE_LAKE, SLAKE_CONFIG or ~/.config/slake-forensics/config.toml), using the bundled sample lake'
    """
    if "lake" in cfg.origin:
        return f"lake = {cfg.target or cfg.kind} from {cfg.origin['lake']}"
    files = sorted({where for where in cfg.origin.values() if where.endswith(".toml")})
    if files:
        return f"no lake set in {files[0]}, using the bundled sample lake"
    folders = ", ".join(str(f) for f in searched_folders(Path.cwd() if cwd is None else cwd))
    return (f"no slake.toml found in {folders} (nor {ENV['lake']}, {CONFIG_ENV} or {USER_FILE}), "
            "using the bundled sample lake")


def read_file(path: Path) -> dict[str, str | int | float | dict[str, str]]:
    """The settings in a TOML config file as ``{key: value}``.

    Every value is a string except ``tables``, which may also be a TOML table of strings
    (``[tables]`` with ``cloud_trail_mgmt = "my_link"``).  Raises :class:`BadConfigError`
    for invalid TOML, unknown keys or values of another type.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadConfigError(f"{path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(KEYS) - set(LIMIT_KEYS))
    if unknown:
        raise BadConfigError(
            f"{path}: unknown setting(s) {', '.join(unknown)}. Known settings: {', '.join(KEYS + LIMIT_KEYS)}."
        )
    for key, value in data.items():
        if key in LIMIT_KEYS:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise BadConfigError(f"{path}: {key} must be a number, e.g. {key} = 60; got {value!r}.")
        elif key == "tables" and isinstance(value, dict):
            for name, table in value.items():
                if not isinstance(table, str):
                    raise BadConfigError(
                        f"{path}: tables.{name} must be a string, e.g. {name} = \"my_table\"; got {table!r}."
                    )
        elif not isinstance(value, str):
            raise BadConfigError(f"{path}: {key} must be a string, e.g. {key} = \"…\"; got {value!r}.")
    return data


def read_config(
    env: Mapping[str, str] | None = None, cwd: Path | None = None, home: Path | None = None
) -> LakeConfig:
    """Merge environment and config file into a checked :class:`LakeConfig`.

    ``env``, ``cwd`` and ``home`` default to the process's.  Relative lake paths from the
    file are relative to the file's folder, from the environment to ``cwd``.  The region
    is not looked up in boto3 here (see :func:`lake_from_config`).  Raises
    :class:`BadConfigError` for any malformed value.
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    home = Path.home() if home is None else home
    path = config_file(env, cwd, home)
    from_file = read_file(path) if path else {}
    values: dict[str, str] = {}
    origin: dict[str, str] = {}
    base: dict[str, Path] = {}
    for key in KEYS:
        env_value = env.get(ENV[key], "").strip()
        file_value = from_file.get(key, "")
        if env_value:
            values[key], origin[key], base[key] = env_value, ENV[key], cwd
        elif isinstance(file_value, str) and file_value.strip():
            assert path is not None  # from_file is empty without a file
            values[key], origin[key], base[key] = file_value.strip(), str(path), path.parent
    file_tables = from_file.get("tables")
    if isinstance(file_tables, dict) and "tables" not in values:
        origin["tables"] = str(path)
    tables = check_tables(values.get("tables", file_tables if isinstance(file_tables, dict) else {}),
                          origin.get("tables", "tables"))
    kind, target = _lake(values.get("lake"), origin.get("lake"), base.get("lake", cwd))
    region = values.get("region")
    if region is not None:
        region = _checked(check_region, region, origin["region"])
    if region is None and kind == "s3":
        uri = _S3_URI_RE.match(target or "")
        m = _BUCKET_REGION_RE.match(uri["bucket"]) if uri else None
        if m:
            region, origin["region"] = m["region"], "bucket name"
    workgroup = values.get("workgroup", "primary")
    if not _WORKGROUP_RE.fullmatch(workgroup):
        raise BadConfigError(
            f"{origin['workgroup']}: workgroup {workgroup!r} is not an Athena workgroup name (letters, digits, . _ -)."
        )
    database = values.get("database")
    if database is not None and not _DATABASE_RE.fullmatch(database):
        raise BadConfigError(
            f"{origin['database']}: database {database!r} is not a Glue database name (letters, digits, _)."
        )
    s3_output = values.get("s3_output")
    if s3_output is not None and not _S3_URI_RE.match(s3_output):
        raise BadConfigError(
            f"{origin['s3_output']}: s3_output {s3_output!r} must be an S3 URI like s3://my-athena-results/prefix/."
        )
    now = None
    if "now" in values:
        try:
            now = to_utc(values["now"], what=f"now ({origin['now']})")
        except BadWindowError as exc:
            raise BadConfigError(str(exc)) from None
    return LakeConfig(kind, target, region, workgroup, database, s3_output, now, origin, tables)


def source_key(name: str) -> str:
    """The toolkit's key of a source: a catalog short name (``cloud_trail_mgmt``) or ``ext/<name>``.

    Parameters
    ----------
    name
        Any spelling :func:`~slake_forensics.core.catalog.source` accepts, or ``ext/<name>``
        for a custom source (its S3 prefix below the lake bucket); the custom name is lower
        cased with ``-`` read as ``_``, as in the Glue table name.

    Returns
    -------
    str
        ``cloud_trail_mgmt`` or ``ext/<name>``.

    Raises
    ------
    UnknownSourceError
        For a name that is neither, listing the known sources.
    """
    custom = _CUSTOM_RE.fullmatch(name.strip())
    if custom:
        return "ext/" + custom["name"].lower().replace("-", "_")
    try:
        return find_source(name).name
    except UnknownSourceError as exc:
        raise UnknownSourceError(f"{exc} A custom source is written ext/<name>, e.g. ext/windows_sysmon.") from None


def check_tables(tables: str | Mapping[str, str], where: str = "tables") -> dict[str, str]:
    """Checked ``{source: Glue table}`` override of the tables Athena reads.

    Parameters
    ----------
    tables
        A mapping ``{source: table}`` or its text form ``"source=table,source=table"``
        (``SLAKE_TABLES``).  Sources as :func:`source_key` reads them; tables are Glue table
        names (letters, digits, ``_``, ``-``), e.g. the resource links of a subscriber account.
    where
        Where the value came from, for messages (``"SLAKE_TABLES"``, a file path, ``"tables="``).

    Returns
    -------
    dict
        ``{source key: table}``; empty for an empty value.

    Raises
    ------
    BadConfigError
        For an entry that is not ``source=table``, an unknown source, a source named twice or
        a table name Glue would not allow, saying what to write instead.

    Examples
    --------
    >>> check_tables("CLOUD_TRAIL_MGMT=ct_link, ext/windows-sysmon=sysmon_link")
    {'cloud_trail_mgmt': 'ct_link', 'ext/windows_sysmon': 'sysmon_link'}
    """
    example = "cloud_trail_mgmt=my_ct_link,vpc_flow=my_vpc_link"
    if isinstance(tables, str):
        pairs = []
        for item in filter(None, (part.strip() for part in tables.split(","))):
            name, sep, table = item.partition("=")
            if not sep:
                raise BadConfigError(f"{where}: {item!r} is not source=table; write e.g. {example}.")
            pairs.append((name.strip(), table.strip()))
    elif isinstance(tables, Mapping):
        pairs = list(tables.items())
    else:
        raise BadConfigError(f"{where}: tables must be a mapping {{source: table}}, not {type(tables).__name__}.")
    checked: dict[str, str] = {}
    for name, table in pairs:
        try:
            key = source_key(str(name))
        except UnknownSourceError as exc:
            raise BadConfigError(f"{where}: {exc}") from None
        if key in checked:
            raise BadConfigError(f"{where}: {key} is given twice ({checked[key]!r} and {table!r}); keep one.")
        if not isinstance(table, str) or not _TABLE_RE.fullmatch(table):
            raise BadConfigError(
                f"{where}: {table!r} for {key} is not a Glue table name (letters, digits, _ and -); "
                f"write e.g. {example}."
            )
        checked[key] = table
    return checked


def _checked(check, value: str, where: str) -> str:
    try:
        return check(value)
    except BadConfigError as exc:
        raise BadConfigError(f"{where}: {exc}") from None


def _lake(value: str | None, where: str | None, base: Path) -> tuple[str, str | None]:
    if value is None:
        return "sample", None
    lowered = value.lower()
    if lowered in ("sample", "athena"):
        return lowered, None
    if lowered.startswith("s3://"):
        if not _S3_URI_RE.match(value):
            raise BadConfigError(
                f"{where}: {value!r} is not an S3 URI of a lake bucket, e.g. "
                "s3://aws-security-data-lake-us-east-1-abc123 (bucket names are lower case)."
            )
        return "s3", value.rstrip("/")
    if "://" in value:
        raise BadConfigError(
            f"{where}: lake {value!r} is not understood. Use 'sample', 'athena', an s3:// URI or a local folder."
        )
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.is_dir():
        raise BadConfigError(
            f"{where}: lake {value!r} is neither 'sample', 'athena', an s3:// URI nor an existing folder ({path})."
        )
    return "local", str(path)


def aws_region() -> str | None:
    """The region boto3's own configuration names (``AWS_DEFAULT_REGION``, ``~/.aws/config``), or ``None``."""
    import boto3

    return boto3.Session().region_name


@dataclass(frozen=True)
class Limits:
    """Bounds on work: how long a query may run, how many rows it may return, how long an AWS call may take.

    Attributes
    ----------
    query_timeout
        Seconds a query (``lake.sql``, and so hunts and pivots) may run before it is stopped with
        :class:`~slake_forensics.core.errors.QueryTimeout`; ``None``: no limit.
    max_rows
        Rows a query may return before it is stopped with
        :class:`~slake_forensics.core.errors.TooManyRowsError` (never truncated); ``None``: no limit.
    aws_connect_timeout, aws_read_timeout
        Seconds botocore waits to connect to an AWS endpoint, and for each answer on the socket.
    aws_max_attempts
        Attempts of each AWS call (botocore ``standard`` retries: the first call and its retries).
    origin
        Where each setting that is not a default came from, for messages.
    """

    query_timeout: float | None = 1800.0
    max_rows: int | None = 5_000_000
    aws_connect_timeout: float = 3.0
    aws_read_timeout: float = 5.0
    aws_max_attempts: int = 3
    origin: dict[str, str] = field(default_factory=dict)

    @property
    def aws_worst_case_s(self) -> float:
        """The longest an AWS call can take against an endpoint that never answers.

        Every attempt may wait ``aws_connect_timeout + aws_read_timeout``; botocore's standard
        retry mode sleeps at most ``2**(k-1)`` seconds before retry ``k``.

        Examples
        --------
        >>> Limits().aws_worst_case_s
        27.0
        """
        backoff = sum(2.0 ** (k - 1) for k in range(1, self.aws_max_attempts))
        return self.aws_max_attempts * (self.aws_connect_timeout + self.aws_read_timeout) + backoff


def read_limits(env: Mapping[str, str] | None = None, cwd: Path | None = None, home: Path | None = None) -> Limits:
    """The :class:`Limits` in force: environment (``SLAKE_QUERY_TIMEOUT`` …), else the config file, else defaults.

    Parameters
    ----------
    env, cwd, home
        The environment and folders to look in (default: the process's), as for :func:`read_config`.

    Returns
    -------
    Limits
        ``query_timeout`` and ``max_rows`` of ``0`` (or ``none``) mean no limit.

    Raises
    ------
    BadConfigError
        For a value that is not a positive number (an integer for ``max_rows`` and
        ``aws_max_attempts``), naming the variable or file.

    Examples
    --------
    >>> limits = read_limits({"SLAKE_QUERY_TIMEOUT": "60", "SLAKE_MAX_ROWS": "0"}, Path("/nonexistent"), Path("/nonexistent"))
    >>> limits.query_timeout, limits.max_rows, limits.aws_read_timeout
    (60.0, None, 5.0)
    """
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    home = Path.home() if home is None else home
    path = config_file(env, cwd, home)
    from_file = read_file(path) if path else {}
    values: dict[str, float | int | None] = {}
    origin: dict[str, str] = {}
    for key in LIMIT_KEYS:
        raw: object = env.get(LIMIT_ENV[key], "").strip()
        where = LIMIT_ENV[key]
        if raw == "" and key in from_file:
            raw, where = from_file[key], str(path)
        if raw == "":
            continue
        values[key] = _limit(key, raw, where)
        origin[key] = where
    return Limits(**values, origin=origin)  # type: ignore[arg-type]


def _limit(key: str, raw: object, where: str) -> float | int | None:
    """One checked limit; ``None`` for "no limit" (``0``/``none``) where that is allowed."""
    unlimited_ok = key in ("query_timeout", "max_rows")
    whole = key in ("max_rows", "aws_max_attempts")
    text = str(raw).strip().lower()
    if unlimited_ok and text in ("none", "0", "0.0"):
        return None
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if not number > 0 or (whole and not number.is_integer()) or number == float("inf"):
        kind = "a positive whole number" if whole else "a positive number of seconds"
        extra = " (0 or none: no limit)" if unlimited_ok else ""
        raise BadConfigError(f"{where}: {key} must be {kind}{extra}; got {raw!r}.")
    return int(number) if whole else number


#: How to change a query limit, for messages.
RAISE_LIMIT = {
    "timeout": "SLAKE_QUERY_TIMEOUT / query_timeout in slake.toml (0: no limit)",
    "max_rows": "SLAKE_MAX_ROWS / max_rows in slake.toml (0: no limit)",
}


def query_limits(
    timeout: float | None, max_rows: int | None, limits: Limits | None = None
) -> tuple[float | None, int | None]:
    """A query's ``(timeout, max_rows)``: the arguments (checked), else the configured defaults.

    Parameters
    ----------
    timeout
        Seconds, or ``None`` for ``limits.query_timeout``.
    max_rows
        Rows, or ``None`` for ``limits.max_rows``.
    limits
        The defaults (default: :func:`read_limits`).

    Returns
    -------
    tuple
        ``(seconds or None, rows or None)``; ``None`` means no limit.

    Raises
    ------
    ValueError
        For a value that is not a positive number (a whole one for ``max_rows``).

    Examples
    --------
    >>> query_limits(None, 10, Limits())
    (1800.0, 10)
    >>> query_limits(2, None, Limits(max_rows=None))
    (2.0, None)
    """
    limits = read_limits() if limits is None else limits
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds (or None for the configured default), not {timeout!r}.")
    if max_rows is not None and (
        isinstance(max_rows, bool) or not isinstance(max_rows, int | float) or not max_rows > 0
        or not float(max_rows).is_integer()
    ):
        raise ValueError(f"max_rows must be a positive whole number (or None for the configured default), not {max_rows!r}.")
    return (
        limits.query_timeout if timeout is None else float(timeout),
        limits.max_rows if max_rows is None else int(max_rows),
    )
