"""Bounded work on the AWS engines: a silent endpoint fails fast naming itself, Athena queries past their
timeout or interrupted are stopped (StopQueryExecution), and timeout/max_rows hold on S3 and Athena (moto)."""
from __future__ import annotations

import _thread
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from aws_fixtures import DAYS, OUTPUT, REGION

from slake_forensics.core.errors import AwsEndpointError, QueryInterrupted, QueryTimeout, TooManyRowsError
from slake_forensics.lake import Lake

pytestmark = pytest.mark.usefixtures("ctrl_c")  # the tests press Ctrl-C

CHECKS = r"network.*endpoint_url.*region.*proxy"


@pytest.fixture
def short_aws_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """1 s to connect, 1 s to read, 2 attempts: a silent endpoint gives up in about 3 s."""
    monkeypatch.setenv("SLAKE_AWS_CONNECT_TIMEOUT", "1")
    monkeypatch.setenv("SLAKE_AWS_READ_TIMEOUT", "1")
    monkeypatch.setenv("SLAKE_AWS_MAX_ATTEMPTS", "2")


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:<port>``: a server that accepts connections and never answers (stops after the test)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)  # read nothing, answer nothing

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture
def athena(session: boto3.Session) -> Lake:
    lake = Lake.athena(REGION, s3_output=OUTPUT, boto3_session=session)
    lake.poll_seconds = 0.05
    return lake


def _state(query_id: str) -> str:
    info = boto3.client("athena", region_name=REGION).get_query_execution(QueryExecutionId=query_id)
    return info["QueryExecution"]["Status"]["State"]


def _query_id(message: str) -> str:
    return message.split("Athena query ", 1)[1].split(" ", 1)[0]


def test_athena_against_a_silent_endpoint_fails_fast_naming_it(aws, short_aws_timeouts, silent_endpoint):
    lake = Lake.athena(REGION, s3_output=OUTPUT, endpoint_url=silent_endpoint)
    started = time.monotonic()
    with pytest.raises(AwsEndpointError, match=CHECKS) as caught:
        lake.sql("SELECT 1")
    assert time.monotonic() - started < 30
    assert silent_endpoint in str(caught.value) and "2 attempt(s)" in str(caught.value)


def test_s3_against_a_silent_endpoint_fails_fast_naming_it(aws, short_aws_timeouts, silent_endpoint):
    lake = Lake.s3("s3://aws-security-data-lake-us-east-1-abc123", REGION, endpoint_url=silent_endpoint)
    started = time.monotonic()
    with pytest.raises(AwsEndpointError, match=CHECKS) as caught:
        lake.sources()
    assert time.monotonic() - started < 30
    assert silent_endpoint in str(caught.value)


def test_every_client_of_the_lake_session_is_bounded(aws, short_aws_timeouts):
    lake = Lake.athena(REGION, s3_output=OUTPUT, endpoint_url="http://127.0.0.1:9")
    for service in ("athena", "s3", "glue", "sts"):
        client = lake.session.client(service)
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout, config.retries["total_max_attempts"]) == (1, 1, 2), service
        assert client.meta.endpoint_url == "http://127.0.0.1:9"


def test_athena_query_past_its_timeout_is_stopped(aws, athena, queries_stay_queued):
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match=r"time limit of 0.5 s.*StopQueryExecution.*SLAKE_QUERY_TIMEOUT") as caught:
        athena.sql("SELECT 1", timeout=0.5)
    assert time.monotonic() - started < 5
    assert _state(_query_id(str(caught.value))) == "CANCELLED"


def test_interrupted_athena_query_is_stopped(aws, athena, queries_stay_queued):
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    started = time.monotonic()
    with pytest.raises(QueryInterrupted, match="interrupted.*StopQueryExecution") as caught:
        athena.sql("SELECT 1", timeout=60)
    timer.join()
    assert time.monotonic() - started < 5
    assert isinstance(caught.value, KeyboardInterrupt)
    assert _state(_query_id(str(caught.value))) == "CANCELLED"


def test_athena_query_interrupted_while_athena_accepts_it_is_stopped(aws, athena, queries_stay_queued, monkeypatch):
    # Ctrl-C during StartQueryExecution (a slow endpoint): the call finishes, then its query is stopped
    import awswrangler as wr

    real_start = wr.athena.start_query_execution

    def slow_start(**kwargs):
        time.sleep(1.0)
        return real_start(**kwargs)

    monkeypatch.setattr(wr.athena, "start_query_execution", slow_start)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    with pytest.raises(QueryInterrupted, match="interrupted while it was being started.*StopQueryExecution") as caught:
        athena.sql("SELECT 1", timeout=60)
    timer.join()
    assert _state(_query_id(str(caught.value))) == "CANCELLED"


def test_athena_max_rows(aws, athena):
    rows = [["a"], ["b"], ["c"]]
    aws.queue_athena_result([("x", "varchar")], rows)
    with pytest.raises(TooManyRowsError, match=r"Athena query \S+ returned 3 rows, more than max_rows=2"):
        athena.sql("SELECT x FROM t", max_rows=2)
    aws.queue_athena_result([("x", "varchar")], rows)
    assert athena.sql("SELECT x FROM t", max_rows=3)["x"].tolist() == ["a", "b", "c"]


@pytest.fixture
def s3_lake(s3_lake_bucket: str, tmp_path: Path) -> Lake:
    lake = Lake.s3(f"s3://{s3_lake_bucket}", REGION)
    lake.cache_dir = tmp_path / "cache"
    return lake


SCOPE = {"start": f"{DAYS[0]}T00:00Z", "end": f"{DAYS[-1]}T00:00Z"}
TABLE = "amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0"


def test_s3_max_rows(aws, s3_lake):
    every = s3_lake.sql(f"SELECT time_dt FROM {TABLE}", **SCOPE)
    with pytest.raises(TooManyRowsError, match=f"more than max_rows={len(every) - 1}"):
        s3_lake.sql(f"SELECT time_dt FROM {TABLE}", **SCOPE, max_rows=len(every) - 1)


def test_s3_timeout(aws, s3_lake):
    runaway = f"SELECT sum((a.class_uid + b.class_uid + c.class_uid + d.class_uid) % 7) AS n FROM {TABLE} a, {TABLE} b, {TABLE} c, {TABLE} d"
    s3_lake.sql(f"SELECT count(*) AS n FROM {TABLE}", **SCOPE)  # downloads outside the measured call
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match="time limit of"):  # what the download left of 0.5 s
        s3_lake.sql(runaway, **SCOPE, timeout=0.5)
    assert time.monotonic() - started < 2
