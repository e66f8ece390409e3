"""lake.sql on a local lake reads only the lake's own files: other files, URLs and extensions are refused."""
from __future__ import annotations

import pytest

from slake_forensics.errors import SandboxError

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
