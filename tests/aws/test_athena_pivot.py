"""Pivots on Athena (moto server, real awswrangler/boto3 calls): the sources' queries run concurrently,
each frame and the pivot's attrs keep each query's own provenance, and a Ctrl-C or a timeout stops them all.

moto runs no SQL and reports zero bytes scanned: results are empty CSV objects written when a query
starts, and GetQueryExecution's parsed response is edited (state, statistics) by event handlers on
the session the lake shares, which run in the lake's worker threads.
"""
from __future__ import annotations

import _thread
import threading
import time
from typing import Any

import boto3
import pytest
from aws_fixtures import OUTPUT, REGION, RESULTS, executions

from slake_forensics.core.catalog import SOURCES
from slake_forensics.core.errors import QueryInterrupted, QueryTimeout
from slake_forensics.lake import Lake

WINDOW = {"start": "2026-03-01T00:00Z", "end": "2026-03-04T00:00Z"}
IP = "203.0.113.7"


@pytest.fixture
def lake(session: boto3.Session) -> Lake:
    lake = Lake.athena(REGION, s3_output=OUTPUT, boto3_session=session)
    lake.poll_seconds = 0.02
    return lake


@pytest.fixture
def empty_results(session: boto3.Session) -> None:
    """Every query that starts gets an empty result object (Athena writes one for a query without rows)."""

    def write(parsed: dict[str, Any], **_: Any) -> None:
        key = f"queries/{parsed['QueryExecutionId']}.csv"
        boto3.client("s3", region_name=REGION).put_object(Bucket=RESULTS, Key=key, Body=b"")

    session.events.register_first("after-call.athena.StartQueryExecution", write)


def _source_of(sql: str) -> str:
    [name] = [name for name in SOURCES if f"_{name}_2_0" in sql]
    return name


def test_pivot_runs_the_sources_queries_concurrently_each_with_its_own_provenance(session, lake, empty_results):
    """Every query is held RUNNING until all eight have started: only a concurrent pivot gets past that."""
    lock = threading.Lock()
    started: set[str] = set()
    threads: set[str] = set()
    first_done: list[float] = []
    start_times: list[float] = []
    give_up = time.monotonic() + 10

    def on_start(parsed: dict[str, Any], **_: Any) -> None:
        with lock:
            started.add(parsed["QueryExecutionId"])
            start_times.append(time.monotonic())
            threads.add(threading.current_thread().name)

    def on_poll(parsed: dict[str, Any], **_: Any) -> None:
        execution = parsed["QueryExecution"]
        with lock:
            hold = len(started) < len(SOURCES) and time.monotonic() < give_up
        if hold:
            execution["Status"]["State"] = "RUNNING"
        elif execution["Status"]["State"] == "SUCCEEDED":
            first_done.append(time.monotonic())
            # a distinct byte count per source, as Athena reports what each query scanned
            execution["Statistics"]["DataScannedInBytes"] = 1000 * (list(SOURCES).index(_source_of(execution["Query"])) + 1)

    session.events.register("after-call.athena.StartQueryExecution", on_start)
    session.events.register("after-call.athena.GetQueryExecution", on_poll)
    tl = lake.pivot(ip=IP, progress=False, **WINDOW)

    assert len(started) == len(SOURCES) == 8
    assert max(start_times) < min(first_done)  # all eight ran at the same time
    assert len(threads) > 1 and all(t.startswith("slake-athena") for t in threads)
    runs = {run["QueryExecutionId"]: run for run in executions()}
    ids = tl.attrs["query_execution_ids"]
    assert sorted(ids) == sorted(SOURCES) and len(set(ids.values())) == 8
    for name, query_id in ids.items():
        assert runs[query_id]["Query"] == tl.attrs["queries"][name]  # each source mapped to its own query
        assert _source_of(runs[query_id]["Query"]) == name
        assert tl.attrs["data_scanned_bytes_per_source"][name] == 1000 * (list(SOURCES).index(name) + 1)
        assert IP not in runs[query_id]["Query"] and f"'{IP}'" in runs[query_id]["ExecutionParameters"]
    assert tl.attrs["data_scanned_bytes"] == sum(1000 * i for i in range(1, 9))
    assert len(tl) == 0 and tl.attrs["rows"] == dict.fromkeys(SOURCES, 0)


def test_sql_concurrently_keeps_each_frames_provenance(aws, session, lake, empty_results):
    frames = lake.sql_concurrently({"a": ("SELECT 1 AS x FROM t WHERE y = ?", ["a"]),
                                    "b": ("SELECT 2 AS x FROM t WHERE y = ?", ["b"])})
    runs = {run["QueryExecutionId"]: run for run in executions()}
    assert len(runs) == 2 and not hasattr(lake, "_last")
    for key, df in frames.items():
        run = runs[df.attrs["query_execution_id"]]
        assert run["ExecutionParameters"] == [f"'{key}'"] == df.attrs["params"]
        assert df.attrs["sql"] == run["Query"] and df.attrs["engine"] == "athena"


@pytest.mark.usefixtures("ctrl_c")  # the test presses Ctrl-C
def test_interrupting_a_pivot_stops_every_running_query(aws, session, lake, empty_results, queries_stay_queued):
    """Ctrl-C (an interrupt of the main thread) once all eight queries run."""
    started: list[str] = []
    timer = threading.Timer(0.3, _thread.interrupt_main)

    def on_start(parsed: dict[str, Any], **_: Any) -> None:
        started.append(parsed["QueryExecutionId"])
        if len(started) == len(SOURCES):
            timer.start()

    session.events.register("after-call.athena.StartQueryExecution", on_start)
    with pytest.raises(QueryInterrupted, match="interrupted.*StopQueryExecution") as caught:
        lake.pivot(ip=IP, progress=False, **WINDOW)
    timer.join()
    interrupted = time.monotonic()
    assert isinstance(caught.value, KeyboardInterrupt)
    runs = executions()  # on a loaded machine the first query may time out before all 8 started: the rest never start
    assert 1 <= len(runs) <= 8 and {run["Status"]["State"] for run in runs} == {"CANCELLED"}
    assert all(run["QueryExecutionId"] in str(caught.value) for run in runs)
    assert time.monotonic() - interrupted < 5


def test_a_timed_out_pivot_query_stops_the_others(aws, lake, empty_results, queries_stay_queued, monkeypatch):
    monkeypatch.setenv("SLAKE_QUERY_TIMEOUT", "1")
    with pytest.raises(QueryTimeout, match="time limit of 1 s.*Other queries of the batch") as caught:
        lake.pivot(ip=IP, progress=False, **WINDOW)
    runs = executions()  # on a loaded machine the first query may time out before all 8 started: the rest never start
    assert 1 <= len(runs) <= 8 and {run["Status"]["State"] for run in runs} == {"CANCELLED"}
    assert all(run["QueryExecutionId"] in str(caught.value) for run in runs)
