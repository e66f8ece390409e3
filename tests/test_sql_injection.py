"""Hostile values are bound, never formatted: results equal a literal comparison done in pandas."""
from __future__ import annotations

import pandas as pd
import pytest
from fixture_lake import ACCOUNTS, DAY0, DAYS, HOSTILE

from slake_forensics.core.errors import NoPartitionsError, UnknownColumnError, UnknownSourceError
from slake_forensics.lake import Lake

T = '"amazon_security_lake_glue_db_us_east_1"."amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0"'
END = DAY0 + pd.Timedelta(days=DAYS)
VALUES = [
    *HOSTILE,
    "' OR 1=1 --",
    "'); DROP TABLE slake_cloud_trail_mgmt; --",
    '"; SELECT 1; --',
    "\\'",
    "?",
    "$1",
    "%",
    "_",
    "\x00nul",
    "a" * 100_000,
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_equality_parameter_matches_literal_comparison(lake: Lake, ct: pd.DataFrame, value: str) -> None:
    df = lake.sql(f"SELECT actor.user.name AS name, count(*) AS n FROM {T} WHERE actor.user.name = ? GROUP BY 1", [value])
    expected = int((ct["actor.user.name"] == value).sum())
    assert int(df["n"].sum()) == expected
    assert set(df["name"]) <= {value}
    assert lake.sql(f"SELECT count(*) AS n FROM {T}")["n"].iloc[0] == len(ct)  # nothing was dropped


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_like_in_and_lambda_parameters(lake: Lake, ct: pd.DataFrame, value: str) -> None:
    df = lake.sql(
        f"SELECT count(*) AS n FROM {T} WHERE actor.user.name IN (?, ?) OR any_match(resources, r -> r.uid = ?)",
        [value, "no-such-user", value],
    )
    uids = [r["uid"] for rs in ct["resources"].dropna() for r in rs]
    expected = int((ct["actor.user.name"] == value).sum())
    assert value not in uids
    assert df["n"].iloc[0] == expected
    like = lake.sql(f"SELECT count(*) AS n FROM {T} WHERE lower(actor.user.name) LIKE lower(?) || '%'", [value])
    if "%" not in value and "_" not in value:
        assert like["n"].iloc[0] == ct["actor.user.name"].str.lower().str.startswith(value.lower()).sum()


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_load_filters_never_match_hostile_partitions(lake: Lake, value: str) -> None:
    with pytest.raises(NoPartitionsError):
        lake.load("cloud_trail_mgmt", DAY0, END, accounts=[value])
    with pytest.raises(NoPartitionsError):
        lake.load("cloud_trail_mgmt", DAY0, END, accounts=[ACCOUNTS[0]], regions=[value])
    with pytest.raises(UnknownColumnError):
        lake.load("cloud_trail_mgmt", DAY0, END, columns=[value])
    with pytest.raises(UnknownSourceError):
        lake.load(value, DAY0, END)


def test_explain_keeps_values_out_of_the_sql(lake: Lake) -> None:
    value = "' OR '1'='1"
    ex = lake.explain("SELECT count(*) FROM cloud_trail_mgmt WHERE actor.user.name = ?", [value])
    assert value not in ex.translated_sql and ex.params == [value]


def test_hostile_table_names_are_unknown_tables(lake: Lake) -> None:
    for name in ('"x; DROP TABLE y"', '"cloud_trail_mgmt; --"', '"../../etc/passwd"'):
        with pytest.raises(UnknownSourceError):
            lake.sql(f"SELECT * FROM {name}")
