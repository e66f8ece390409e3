"""lake.sql on a local lake reads only the lake's own files: other files, URLs and extensions are refused."""
from __future__ import annotations

import pytest

from slake_forensics.core.errors import QueryError, SandboxError

REFUSED = [
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_text('~/.aws/credentials')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_csv_auto('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/passwd')",
    "SELECT * FROM read_json_auto('/etc/passwd')",
    "SELECT * FROM sniff_csv('/etc/passwd')",
    "SELECT * FROM read_parquet('/tmp/elsewhere.parquet')",
    "SELECT * FROM read_csv('https://example.com/x.csv')",
    "SELECT * FROM read_text('http://169.254.169.254/latest/meta-data/')",
    "SELECT * FROM sqlite_scan('/tmp/x.db', 't')",
]


@pytest.mark.parametrize("query", REFUSED)
def test_file_and_url_functions_are_refused(lake, query: str) -> None:
    with pytest.raises(SandboxError, match="only the lake's tables"):
        lake.sql(query)


def test_lake_tables_still_query(lake) -> None:
    df = lake.sql("SELECT count(*) AS n FROM amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0")
    assert int(df["n"].iloc[0]) > 0


@pytest.mark.parametrize(
    "statement",
    [
        "ATTACH '/tmp/x.db'",
        "COPY (SELECT 1) TO '/tmp/x.csv'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access=true",
        "PRAGMA version",
    ],
)
def test_statements_other_than_queries_are_refused(lake, statement: str) -> None:
    with pytest.raises(QueryError):
        lake.sql(statement)


def test_sandbox_cannot_be_switched_off_from_a_query(lake) -> None:
    """Even reached through DuckDB directly, the connection refuses to turn external access back on."""
    from slake_forensics.engines.local import _sandboxed_connection

    con = _sandboxed_connection(lake.root)
    with pytest.raises(Exception, match="external access"):
        con.execute("SET enable_external_access=true")
    with pytest.raises(Exception, match="allowed_directories"):
        con.execute("SET allowed_directories=['/']")


def test_hunts_on_the_sample_lake_still_find_results() -> None:
    from pathlib import Path

    from slake_forensics.lake import Lake

    root = Path(__file__).resolve().parent.parent / "sample_data"
    if not (root / "aws").exists():
        pytest.skip("the sample lake is not present")
    found = Lake.local(root).run_hunts(start="2026-05-01", end="2026-07-01")
    assert found["error"].isna().all(), found.loc[found["error"].notna(), ["name", "error"]]
    assert int(found["hits"].sum()) > 0
