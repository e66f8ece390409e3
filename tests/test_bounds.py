"""Bounded work on the local engine: Ctrl-C and the notebook interrupt stop a running query within a second,
``timeout=`` and ``max_rows=`` (and their configured defaults) stop it with a clear error, and the AWS
timeouts and retries configured by default give up on a silent endpoint within 30 s."""
from __future__ import annotations

import _thread
import signal
import threading
import time
import warnings
from pathlib import Path

import pytest

import slake_forensics as sf
from slake_forensics.core.config import Limits, query_limits, read_limits
from slake_forensics.core.errors import BadConfigError, QueryInterrupted, QueryTimeout, SlakeError, TooManyRowsError
from slake_forensics.engines.athena import botocore_config

pytestmark = pytest.mark.usefixtures("ctrl_c")  # the tests press Ctrl-C

#: A cross join of three copies of the sample lake's WAF rows (~3,000 per day): hours of work for DuckDB.
RUNAWAY = (
    "SELECT sum(length(a.action) * length(b.action) * length(c.action)) AS n "
    "FROM amazon_security_lake_table_us_east_1_waf_2_0 a, amazon_security_lake_table_us_east_1_waf_2_0 b, "
    "amazon_security_lake_table_us_east_1_waf_2_0 c"
)
NOWHERE = Path("/nonexistent")


@pytest.fixture(scope="module")
def sample() -> sf.Lake:
    return sf.Lake.sample()


@pytest.fixture(autouse=True)
def default_limits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No slake.toml and no SLAKE_* limit variable of the machine running the tests."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    for key in ("QUERY_TIMEOUT", "MAX_ROWS", "AWS_CONNECT_TIMEOUT", "AWS_READ_TIMEOUT", "AWS_MAX_ATTEMPTS", "CONFIG"):
        monkeypatch.delenv(f"SLAKE_{key}", raising=False)


def _interrupt_after(seconds: float, how: str) -> threading.Timer:
    main = threading.main_thread().ident
    assert main is not None
    action = _thread.interrupt_main if how == "interrupt_main" else (lambda: signal.pthread_kill(main, signal.SIGINT))
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


@pytest.mark.parametrize("how", ["interrupt_main", "sigint"])
def test_a_runaway_query_is_interrupted_within_a_second(sample: sf.Lake, how: str) -> None:
    timer = _interrupt_after(1.0, how)
    started = time.monotonic()
    with pytest.raises(QueryInterrupted, match="interrupted") as caught:
        sample.sql(RUNAWAY, start="2026-05-20T00:00Z", end="2026-05-21T00:00Z")
    elapsed = time.monotonic() - started
    timer.join()
    assert elapsed < 1.0 + 1.0, f"control came back {elapsed - 1.0:.2f} s after the interrupt"
    assert isinstance(caught.value, KeyboardInterrupt) and isinstance(caught.value, SlakeError)
    # the lake still answers afterwards
    assert int(sample.sql("SELECT count(*) AS n FROM waf", start="2026-05-20T00:00Z", end="2026-05-21T00:00Z")["n"][0]) > 0


def test_a_runaway_query_stops_at_its_timeout(sample: sf.Lake) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match=r"time limit of 0.5 s.*timeout=<seconds>.*SLAKE_QUERY_TIMEOUT"):
        sample.sql(RUNAWAY, start="2026-05-20T00:00Z", end="2026-05-21T00:00Z", timeout=0.5)
    assert time.monotonic() - started < 0.5 + 1.0


def test_the_configured_timeout_applies_when_none_is_given(sample: sf.Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLAKE_QUERY_TIMEOUT", "0.5")
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match="0.5 s"):
        sample.sql(RUNAWAY, start="2026-05-20T00:00Z", end="2026-05-21T00:00Z")
    assert time.monotonic() - started < 1.5


def test_max_rows_raises_and_never_truncates(sample: sf.Lake) -> None:
    query = "SELECT time_dt FROM waf ORDER BY time_dt"
    scope = {"start": "2026-05-20T00:00Z", "end": "2026-05-21T00:00Z"}
    every = sample.sql(query, **scope)
    assert len(sample.sql(query, **scope, max_rows=len(every))) == len(every)
    with pytest.raises(TooManyRowsError, match=rf"rows, more than max_rows={len(every) - 1}.*LIMIT.*SLAKE_MAX_ROWS"):
        sample.sql(query, **scope, max_rows=len(every) - 1)


def test_the_configured_max_rows_applies(sample: sf.Lake, tmp_path: Path) -> None:
    (tmp_path / "slake.toml").write_text("max_rows = 3\n")
    with pytest.raises(TooManyRowsError, match="max_rows=3"):
        sample.sql("SELECT time_dt FROM waf LIMIT 4", start="2026-05-20T00:00Z", end="2026-05-21T00:00Z")
    assert len(sample.sql("SELECT time_dt FROM waf LIMIT 3", start="2026-05-20T00:00Z", end="2026-05-21T00:00Z")) == 3


@pytest.mark.parametrize("bad", [{"timeout": 0}, {"timeout": -1}, {"max_rows": 0}, {"max_rows": 2.5}, {"max_rows": True}])
def test_bad_limits_are_refused(sample: sf.Lake, bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be a positive"):
        sample.sql("SELECT 1 AS x", **bad)  # type: ignore[arg-type]


def test_warnings_of_the_query_reach_the_caller(sample: sf.Lake) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = sample.sql("SELECT count(*) AS n FROM waf", start="2000-01-01T00:00Z", end="2000-01-02T00:00Z")
    assert int(df["n"][0]) == 0
    assert any("no waf data; the query sees an empty table" in str(w.message) for w in caught)


def test_limits_from_environment_and_file(tmp_path: Path) -> None:
    (tmp_path / "slake.toml").write_text('query_timeout = 90\nmax_rows = "none"\naws_read_timeout = 2.5\n')
    limits = read_limits({"SLAKE_AWS_MAX_ATTEMPTS": "2"}, tmp_path, NOWHERE)
    assert (limits.query_timeout, limits.max_rows, limits.aws_read_timeout, limits.aws_max_attempts) == (90.0, None, 2.5, 2)
    assert limits.origin["aws_max_attempts"] == "SLAKE_AWS_MAX_ATTEMPTS"
    assert query_limits(None, None, limits) == (90.0, None)


@pytest.mark.parametrize(
    "env", [{"SLAKE_QUERY_TIMEOUT": "soon"}, {"SLAKE_MAX_ROWS": "1.5"}, {"SLAKE_AWS_MAX_ATTEMPTS": "0"}, {"SLAKE_AWS_READ_TIMEOUT": "-3"}]
)
def test_malformed_limits_name_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(BadConfigError, match=next(iter(env))):
        read_limits(env, NOWHERE, NOWHERE)


def test_the_default_aws_bounds_give_up_within_30_seconds() -> None:
    limits = read_limits({}, NOWHERE, NOWHERE)
    assert limits == Limits()
    worst = limits.aws_max_attempts * (limits.aws_connect_timeout + limits.aws_read_timeout)
    backoff = sum(2 ** (k - 1) for k in range(1, limits.aws_max_attempts))  # botocore standard mode: <= 2**(k-1) s
    assert worst + backoff == limits.aws_worst_case_s < 30
    config = botocore_config(limits)
    assert (config.connect_timeout, config.read_timeout) == (limits.aws_connect_timeout, limits.aws_read_timeout)
    assert config.retries == {"mode": "standard", "total_max_attempts": limits.aws_max_attempts}
