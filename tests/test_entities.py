"""entities(): every entity type is found in the fields it lives in, for every source.

The expectation is a row-by-row Python statement of the same placement (tests/entity_lake.py),
independent of the vectorized extraction in slake_forensics.analysis.entities.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from entity_lake import DAY0, NOW, build_entity_lake, row_entities  # noqa: E402

from slake_forensics.core.catalog import SOURCES
from slake_forensics.analysis.entities import ENTITY_COLUMNS, ENTITY_FIELDS, ENTITY_TYPES, entities, fields_for
from slake_forensics.lake import Lake
from slake_forensics.analysis.normalize import normalize


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    root = tmp_path_factory.mktemp("entity_lake")
    build_entity_lake(root)
    return Lake.local(root, now=NOW)


@pytest.mark.parametrize("src", list(SOURCES))
def test_entities_match_row_by_row_extraction(lake: Lake, src: str) -> None:
    df = lake.load(src, DAY0, NOW)
    got = entities(df)
    assert list(got.columns) == list(ENTITY_COLUMNS)
    uids = normalize(df)["uid"].tolist()
    expected = {
        (etype, value, uid)
        for uid, per_type in zip(uids, row_entities(df, src))
        for etype, values in per_type.items()
        for value in values
    }
    assert set(zip(got["entity_type"], got["value"], got["event_uid"])) == expected
    assert (got["source"] == src).all()
    assert not got.duplicated(["entity_type", "value", "source", "event_uid"]).any()


@pytest.mark.parametrize("src", list(SOURCES))
def test_each_documented_entity_type_is_found(lake: Lake, src: str) -> None:
    got = entities(lake.load(src, DAY0, NOW))
    present = set(got["entity_type"])
    assert present == set(ENTITY_FIELDS[src]), "every type the map lists for the source occurs in the lake"
    for etype in present:
        fields = {f.name for f in fields_for(src, etype)}
        assert set(got.loc[got["entity_type"] == etype, "field"]) <= fields


def test_time_and_field_of_first_occurrence(lake: Lake) -> None:
    df = lake.load("cloud_trail_mgmt", DAY0, NOW)
    got = entities(df, types=["bucket"])
    norm = normalize(df)
    times = dict(zip(norm["uid"], norm["time"]))
    assert all(times[u] == t for u, t in zip(got["event_uid"], got["time"]))
    # a bucket named in the request and in resources is reported once, from the first field
    both = got[got["field"] == "api.request.data$.bucketName"]
    assert len(both) and set(got["entity_type"]) == {"bucket"}
    assert not any(v.startswith("arn:") for v in got["value"]), "the S3 ARN prefix is stripped"


def test_source_from_attrs_or_argument(lake: Lake) -> None:
    df = lake.load("waf", DAY0, NOW)
    a = entities(df)
    bare = df.copy()
    bare.attrs = {}
    pd.testing.assert_frame_equal(entities(bare, "waf"), a)
    with pytest.raises(ValueError):
        entities(bare)
    with pytest.raises(ValueError):
        entities(df, types=["nonsense"])


def test_empty_frame_and_missing_columns(lake: Lake) -> None:
    df = lake.load("route53", DAY0, NOW, columns=["time_dt", "query.hostname"])
    got = entities(df, "route53")
    assert set(got["entity_type"]) == {"domain"}
    assert set(got["value"]) == set(df["query.hostname"].dropna())
    empty = entities(df.iloc[:0], "route53")
    assert empty.empty and list(empty.columns) == list(ENTITY_COLUMNS)


def test_types_are_known() -> None:
    for per_source in ENTITY_FIELDS.values():
        assert set(per_source) <= set(ENTITY_TYPES)
    assert set(ENTITY_FIELDS) == set(SOURCES)
