"""Two-phase (prefiltered) SQL on the local lake gives exactly the one-phase answer."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fixture_lake import DAY0, DAYS

from slake_forensics.engines import local, prefilter
from slake_forensics.lake import Lake

END = DAY0 + pd.Timedelta(days=DAYS)
VIEW = "slake_vpc_flow"


@pytest.mark.parametrize("sql", [
    f'SELECT a, b FROM "{VIEW}" AS t WHERE a = ? AND b IN (?, ?) ORDER BY a LIMIT 5',
    f'SELECT count(*) AS n, a FROM "{VIEW}" WHERE a > ? GROUP BY a',
    f'SELECT DISTINCT a FROM "{VIEW}" WHERE len(list_filter(l, lambda x: x = ?)) > 0',
])
def test_row_query_keeps_the_filter_and_its_placeholders(sql: str) -> None:
    phase1 = prefilter.row_query(sql, VIEW, 10)
    assert phase1 is not None
    assert phase1.startswith(f'SELECT "{prefilter.FILE_COLUMN}", "{prefilter.ROW_COLUMN}" FROM "{VIEW}"')
    assert phase1.endswith("LIMIT 11") and phase1.count("?") == sql.count("?")


@pytest.mark.parametrize("sql", [
    f'SELECT a FROM "{VIEW}"',  # no filter
    f'SELECT a, ? AS tag FROM "{VIEW}" WHERE a = ?',  # a placeholder outside the filter
    f'SELECT a FROM "{VIEW}" AS x JOIN "{VIEW}" AS y ON x.a = y.a WHERE x.a = 1',
    f'WITH w AS (SELECT a FROM "{VIEW}") SELECT a FROM w WHERE a = 1',
    f'SELECT a FROM "{VIEW}" WHERE a IN (SELECT a FROM "{VIEW}" WHERE b = 1)',
    f'SELECT a FROM "{VIEW}" WHERE a = 1 UNION ALL SELECT a FROM "{VIEW}" WHERE a = 2',
    'SELECT a FROM "slake_route53" WHERE a = 1',  # another view
])
def test_row_query_refuses_what_it_cannot_split(sql: str) -> None:
    assert prefilter.row_query(sql, VIEW, 10) is None


QUERIES = [
    # a selective row query, as a pivot sends
    ("SELECT time_dt, src_endpoint.ip, dst_endpoint.port, traffic.bytes FROM vpc_flow "
     "WHERE time_dt >= from_iso8601_timestamp(?) AND dst_endpoint.port IN (?, ?) ORDER BY time_dt, src_endpoint.ip", ["2024-03-01T06:00:00Z", 443, 22]),
    # aggregates and a limit over the filtered rows
    ("SELECT accountid, count(*) AS n, sum(traffic.bytes) AS b FROM vpc_flow WHERE dst_endpoint.port = ? "
     "GROUP BY accountid ORDER BY accountid", [443]),
    ("SELECT time_dt FROM vpc_flow WHERE traffic.bytes > ? ORDER BY time_dt DESC LIMIT 3", [0]),
    # the partition column
    ("SELECT eventday, count(*) AS n FROM vpc_flow WHERE dst_endpoint.port <> ? GROUP BY eventday ORDER BY eventday", [0]),
    # nothing passes
    ("SELECT * FROM vpc_flow WHERE src_endpoint.ip = ?", ["192.0.2.254"]),
]


def _one_phase(lake: Lake, monkeypatch: pytest.MonkeyPatch, sql: str, params: list) -> pd.DataFrame:
    with monkeypatch.context() as m:
        m.setattr(local.LocalEngine, "_restrict_to_hits", lambda self, *a: False)
        return lake.sql(sql, params)


@pytest.mark.parametrize("sql, params", QUERIES)
def test_two_phases_answer_like_one(lake: Lake, monkeypatch: pytest.MonkeyPatch, sql: str, params: list) -> None:
    calls: list[bool] = []
    real = local.LocalEngine._restrict_to_hits

    def spy(self, *args):
        calls.append(real(self, *args))
        return calls[-1]

    monkeypatch.setattr(local.LocalEngine, "_restrict_to_hits", spy)
    got = lake.sql(sql, params)
    assert calls == [True], "the query should have run in two phases"
    expected = _one_phase(lake, monkeypatch, sql, params)
    pd.testing.assert_frame_equal(got, expected)
    assert list(got.columns) == list(expected.columns)


def test_too_many_hits_falls_back_to_one_phase(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    sql, params = QUERIES[0]
    expected = _one_phase(lake, monkeypatch, sql, params)
    assert len(expected) > 3
    monkeypatch.setattr(local, "_PREFILTER_CAP", 3)
    pd.testing.assert_frame_equal(lake.sql(sql, params), expected)


def test_drifted_files_are_not_split(lake_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files of different schemas: the query runs once over the union by name, so a column only
    some files have is still there whichever files hold the hits."""
    files = sorted(lake_copy.glob("aws/VPC_FLOW/**/*.parquet"))
    original = pq.read_table(files[-1])
    pq.write_table(original.append_column("vendor_extra", pa.array(np.ones(original.num_rows, dtype="int64"))), files[-1])
    lake = Lake.local(lake_copy)
    first = pq.read_table(files[0]).column("time_dt")[0].as_py()
    df = lake.sql("SELECT time_dt, vendor_extra FROM vpc_flow WHERE time_dt = ?", [pd.Timestamp(first)])
    assert len(df) >= 1 and df["vendor_extra"].isna().all()
    df = lake.sql("SELECT count(*) AS n FROM vpc_flow WHERE vendor_extra = ?", [1])
    assert df["n"].iloc[0] == original.num_rows
