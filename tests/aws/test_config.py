"""lake_from_config / read_config: env over file, file discovery, sample fallback, bad values."""
from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from slake_forensics.core import config
from slake_forensics.core.config import SampleFallbackWarning, read_config
from slake_forensics.lake import lake_from_config
from slake_forensics.core.errors import AwsConfigError, BadConfigError
from slake_forensics.lake import Lake

ALL_ENV = [*config.ENV.values(), config.CONFIG_ENV]


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SLAKE_* variables; cwd and HOME are empty temporary folders. Returns the cwd."""
    for var in ALL_ENV:
        monkeypatch.delenv(var, raising=False)
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HOME", str(home))
    return cwd


def test_nothing_configured_means_sample():
    cfg = read_config({}, cwd=Path("/nonexistent"), home=Path("/nonexistent"))
    assert cfg.kind == "sample" and cfg.origin == {}


def test_env_overrides_file_and_file_paths_are_relative_to_it(tmp_path):
    lake_dir = tmp_path / "conf" / "lake"
    lake_dir.mkdir(parents=True)
    cfg_file = tmp_path / "conf" / "slake.toml"
    cfg_file.write_text('lake = "lake"\nregion = "eu-west-1"\nworkgroup = "ir"\nnow = "2026-03-02T00:00:00Z"\n')
    cfg = read_config({"SLAKE_CONFIG": str(cfg_file)}, cwd=tmp_path, home=tmp_path)
    assert (cfg.kind, cfg.target, cfg.region, cfg.workgroup) == ("local", str(lake_dir), "eu-west-1", "ir")
    assert cfg.now == pd.Timestamp("2026-03-02T00:00:00Z")
    assert cfg.origin["lake"] == str(cfg_file)

    env = {"SLAKE_CONFIG": str(cfg_file), "SLAKE_LAKE": "athena", "SLAKE_REGION": "us-west-2", "SLAKE_DATABASE": "my_link"}
    cfg = read_config(env, cwd=tmp_path, home=tmp_path)
    assert (cfg.kind, cfg.region, cfg.workgroup, cfg.database) == ("athena", "us-west-2", "ir", "my_link")
    assert cfg.origin["region"] == "SLAKE_REGION" and cfg.origin["workgroup"] == str(cfg_file)


def test_file_discovery_order(tmp_path):
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    (home / ".config" / "slake-forensics").mkdir(parents=True)
    cwd.mkdir()
    (home / ".config" / "slake-forensics" / "config.toml").write_text('lake = "athena"\nregion = "eu-central-1"\n')
    assert read_config({}, cwd=cwd, home=home).region == "eu-central-1"
    (cwd / "slake.toml").write_text('lake = "athena"\nregion = "ap-southeast-2"\n')
    assert read_config({}, cwd=cwd, home=home).region == "ap-southeast-2"


def test_s3_region_from_the_bucket_name(tmp_path):
    cfg = read_config({"SLAKE_LAKE": "s3://aws-security-data-lake-eu-west-1-abcdef0123456789abcdef01234567/"}, cwd=tmp_path, home=tmp_path)
    assert (cfg.kind, cfg.region, cfg.origin["region"]) == ("s3", "eu-west-1", "bucket name")
    assert cfg.target == "s3://aws-security-data-lake-eu-west-1-abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    "env,message",
    [
        ({"SLAKE_LAKE": "/no/such/folder"}, "neither 'sample', 'athena', an s3:// URI nor an existing folder"),
        ({"SLAKE_LAKE": "https://example.com/lake"}, "is not understood"),
        ({"SLAKE_LAKE": "s3://Bad_Bucket"}, "not an S3 URI"),
        ({"SLAKE_LAKE": "athena", "SLAKE_REGION": "us-east-1'; --"}, "SLAKE_REGION: .* is not an AWS region name"),
        ({"SLAKE_LAKE": "athena", "SLAKE_WORKGROUP": "a b"}, "not an Athena workgroup name"),
        ({"SLAKE_LAKE": "athena", "SLAKE_DATABASE": 'db"; drop'}, "not a Glue database name"),
        ({"SLAKE_LAKE": "athena", "SLAKE_S3_OUTPUT": "/tmp/out"}, "must be an S3 URI"),
        ({"SLAKE_NOW": "yesterday-ish"}, "Cannot read now"),
        ({"SLAKE_CONFIG": "missing.toml"}, "does not name an existing file"),
    ],
)
def test_bad_values(tmp_path, env, message):
    with pytest.raises(BadConfigError, match=message):
        read_config(env, cwd=tmp_path, home=tmp_path)


@pytest.mark.parametrize(
    "text,message",
    [("lake = ", "not valid TOML"), ('lake = "sample"\nbucket = "x"\n', "unknown setting.*bucket.*Known settings"),
     ("region = 1\n", "region must be a string")],
)
def test_bad_files(tmp_path, text, message):
    (tmp_path / "slake.toml").write_text(text)
    with pytest.raises(BadConfigError, match=message):
        read_config({}, cwd=tmp_path, home=tmp_path)


def test_fallback_to_sample_says_how_to_configure(clean, monkeypatch, caplog):
    sentinel = SimpleNamespace(location="the bundled sample")  # generating the real one takes a while
    monkeypatch.setattr(Lake, "sample", classmethod(lambda cls, now=None: sentinel))
    with pytest.warns(SampleFallbackWarning, match="SLAKE_LAKE.*SLAKE_REGION.*slake.toml.*config.toml.*SLAKE_CONFIG"):
        with caplog.at_level(logging.WARNING, logger="slake_forensics.lake"):
            assert lake_from_config() is sentinel
    assert "bundled sample lake" in caplog.text


def test_local_lake_with_clock(clean, local_lake_root, monkeypatch):
    monkeypatch.setenv("SLAKE_LAKE", str(local_lake_root))
    monkeypatch.setenv("SLAKE_NOW", "2026-03-03T12:00:00Z")
    lake = lake_from_config()
    assert lake.location == str(local_lake_root.resolve())
    assert lake.now == pd.Timestamp("2026-03-03T12:00:00Z")


def test_athena_from_env_and_file(clean, aws, monkeypatch):
    (clean / "slake.toml").write_text('lake = "athena"\nworkgroup = "primary"\ns3_output = "s3://results/x/"\n')
    monkeypatch.setenv("SLAKE_REGION", "us-east-1")
    monkeypatch.setenv("SLAKE_DATABASE", "my_resource_link")
    lake = lake_from_config()
    assert (lake.region, lake.workgroup, lake.database, lake.s3_output) == (
        "us-east-1", "primary", "my_resource_link", "s3://results/x/"
    )


def test_athena_region_falls_back_to_aws_default_region(clean, aws, monkeypatch):
    monkeypatch.setenv("SLAKE_LAKE", "athena")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert lake_from_config().database == "amazon_security_lake_glue_db_eu_west_1"


def test_s3_lake_from_env(clean, s3_lake_bucket, monkeypatch):
    monkeypatch.setenv("SLAKE_LAKE", f"s3://{s3_lake_bucket}")
    lake = lake_from_config()
    assert lake.location == f"s3://{s3_lake_bucket}" and lake.region == "us-east-1"


def test_athena_without_region_or_credentials(clean, no_aws, monkeypatch):
    monkeypatch.setenv("SLAKE_LAKE", "athena")
    with pytest.raises(AwsConfigError, match="No AWS region is configured.*SLAKE_REGION"):
        lake_from_config()
    monkeypatch.setenv("SLAKE_REGION", "us-east-1")
    with pytest.raises(AwsConfigError, match="No AWS credentials found"):
        lake_from_config()
