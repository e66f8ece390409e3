"""Fixtures for the AWS engines: one moto server per session, fake credentials per test, a small lake.

The moto server runs in server mode on 127.0.0.1 (a free port), so awswrangler and
boto3 go through their real HTTP code paths.  Fake credentials and the endpoint live
only in the environment of the tests that ask for ``aws`` (monkeypatched, undone after
each test), never in a file.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import boto3
import numpy as np
import pytest
import requests
from aws_fixtures import REGION, RESULTS, Moto, cloudtrail_table, lake_bucket
from moto.server import ThreadedMotoServer

from slake_forensics.core.catalog import source
from slake_forensics.sample.writer import write_source


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Moto]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield Moto(f"http://{host}:{port}")
    server.stop()


@pytest.fixture
def aws(moto_server: Moto, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Moto]:
    """Fake credentials, region and the moto endpoint for this test only; moto state reset before."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    moto_server.reset()
    yield moto_server


@pytest.fixture
def queries_stay_queued(aws: Moto) -> Iterator[None]:
    """Athena executions on moto stay QUEUED (as a long query would run) until stopped."""
    api = f"{aws.endpoint}/moto-api/state-manager"
    body = {"model_name": "athena::execution", "transition": {"progression": "manual", "times": 10_000}}
    requests.post(f"{api}/set-transition", json=body, timeout=10).raise_for_status()
    yield
    requests.post(f"{api}/unset-transition", json={"model_name": "athena::execution"}, timeout=10).raise_for_status()


@pytest.fixture
def session(aws: Moto) -> boto3.Session:
    """A boto3 session on the moto server, with the Athena results bucket created."""
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=RESULTS)
    return boto3.Session(region_name=REGION)


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An environment with no AWS credentials and no region anywhere boto3 looks."""
    for var in (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
        "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def local_lake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake folder holding :func:`cloudtrail_table` in the real layout."""
    root = tmp_path_factory.mktemp("lake")
    write_source(cloudtrail_table(), root, source("cloud_trail_mgmt"), np.random.default_rng(1))
    return root


@pytest.fixture
def s3_lake_bucket(aws: Moto, local_lake_root: Path) -> str:
    """A moto bucket named like a Security Lake bucket holding the files of :func:`local_lake_root`."""
    bucket = lake_bucket()
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=bucket)
    for path in sorted(local_lake_root.rglob("*.parquet")):
        s3.upload_file(str(path), bucket, path.relative_to(local_lake_root).as_posix())
    return bucket
