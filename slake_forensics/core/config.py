"""Choosing a lake from the environment and an optional TOML file (see ``docs/configuration.md``).

Settings and where they come from, highest precedence first:

1. environment variables ``SLAKE_LAKE``, ``SLAKE_REGION``, ``SLAKE_WORKGROUP``,
   ``SLAKE_DATABASE``, ``SLAKE_S3_OUTPUT``, ``SLAKE_NOW``;
2. the config file: ``$SLAKE_CONFIG`` if set (it must exist), else ``./slake.toml``,
   else ``~/.config/slake-forensics/config.toml`` (the first that exists), with the keys
   ``lake``, ``region``, ``workgroup``, ``database``, ``s3_output``, ``now``;
3. for the region only: ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` / the AWS profile's region
   (boto3's own lookup), or the region in a Security Lake bucket name.

With no ``lake`` anywhere, :func:`lake_from_config` returns the bundled sample lake and
logs (and warns) which variables and files would choose another one.
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

from slake_forensics.core.catalog import check_region
from slake_forensics.core.errors import BadConfigError, BadWindowError
from slake_forensics.core.timewindow import to_utc


_log = logging.getLogger(__name__)

KEYS = ("lake", "region", "workgroup", "database", "s3_output", "now")
ENV = {key: f"SLAKE_{key.upper()}" for key in KEYS}
CONFIG_ENV = "SLAKE_CONFIG"
LOCAL_FILE = Path("slake.toml")
USER_FILE = Path("~/.config/slake-forensics/config.toml")

_BUCKET_REGION_RE = re.compile(r"^aws-security-data-lake-(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)-[a-z0-9]+$")
_DATABASE_RE = re.compile(r"^[A-Za-z0-9_]{1,255}$")
_WORKGROUP_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_S3_URI_RE = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$")


class SampleFallbackWarning(UserWarning):
    """Nothing chose a lake, so the bundled sample lake is used."""


@dataclass(frozen=True)
class LakeConfig:
    """The merged settings.

    ``kind`` is ``"sample"``, ``"local"``, ``"s3"`` or ``"athena"``; ``target`` is the local
    folder or the ``s3://`` URI (``None`` otherwise); ``origin`` maps each setting to where
    it came from (``"SLAKE_LAKE"``, a file path, ``"default"``…) for messages.
    """

    kind: str
    target: str | None = None
    region: str | None = None
    workgroup: str = "primary"
    database: str | None = None
    s3_output: str | None = None
    now: pd.Timestamp | None = None
    origin: dict[str, str] = field(default_factory=dict)


def config_file(env: Mapping[str, str], cwd: Path, home: Path) -> Path | None:
    """The config file in force: ``$SLAKE_CONFIG``, else ``<cwd>/slake.toml``, else the user file.

    Returns ``None`` when none exists; raises :class:`BadConfigError` if ``SLAKE_CONFIG``
    names a file that does not exist.
    """
    named = env.get(CONFIG_ENV, "").strip()
    if named:
        path = Path(named).expanduser()
        path = path if path.is_absolute() else cwd / path
        if not path.is_file():
            raise BadConfigError(f"{CONFIG_ENV}={named!r} does not name an existing file ({path}).")
        return path
    for candidate in (cwd / LOCAL_FILE, home / USER_FILE.relative_to("~")):
        if candidate.is_file():
            return candidate
    return None


def read_file(path: Path) -> dict[str, str]:
    """The settings in a TOML config file as ``{key: string value}``.

    Raises :class:`BadConfigError` for invalid TOML, unknown keys or non-string values.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadConfigError(f"{path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise BadConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}. Known settings: {', '.join(KEYS)}.")
    for key, value in data.items():
        if not isinstance(value, str):
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
        if env_value:
            values[key], origin[key], base[key] = env_value, ENV[key], cwd
        elif from_file.get(key, "").strip():
            assert path is not None  # from_file is empty without a file
            values[key], origin[key], base[key] = from_file[key].strip(), str(path), path.parent
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
    return LakeConfig(kind, target, region, workgroup, database, s3_output, now, origin)


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
