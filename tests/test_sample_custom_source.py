"""The bundled lake's custom source (an on-premises firewall under ext/) is read like Security Lake's own sources."""
from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

import slake_forensics as sf
from slake_forensics.analysis import hunts
from slake_forensics.sample.bundled import sample_root


@pytest.fixture(scope="module")
def lake() -> sf.Lake:
    return sf.Lake.sample()


@pytest.fixture(scope="module")
def story() -> dict:
    return json.loads((sample_root() / "answers" / "s3_data_access.json").read_text())


def test_the_firewall_is_a_custom_source_of_network_activity(lake: sf.Lake) -> None:
    (custom,) = lake.custom_sources()
    assert (custom.name, custom.classes, custom.like, custom.version) == ("ext_onprem_firewall", (4001,), "vpc_flow", "1.0")
    listed = lake.sources().set_index("source").loc["ext_onprem_firewall"]
    assert listed["rows"] > 10_000
    rows = lake.sql(f"SELECT DISTINCT accountid, class_uid FROM {lake.table_name('ext_onprem_firewall')}")
    assert rows.to_dict("records") == [{"accountid": "external", "class_uid": 4001}]


def test_a_pivot_on_the_attacker_reaches_the_on_premises_log(lake: sf.Lake, story: dict) -> None:
    start, end = pd.Timestamp(story["first_malicious"]), pd.Timestamp(story["last_malicious"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        timeline = lake.pivot(ip=story["ips"][0], start=start, end=end + pd.Timedelta(seconds=1))
    firewall = timeline[timeline["source"] == "ext_onprem_firewall"]
    assert len(firewall) >= 20
    assert firewall["time"].between(start, end).all(), firewall["time"].describe()


def test_the_inbound_scan_hunt_reads_the_custom_source_of_its_class(lake: sf.Lake, story: dict) -> None:
    gen = json.loads((sample_root() / "generation.json").read_text())
    hits = hunts.run(lake, "vpc_inbound_scan", gen["start"], gen["end"])
    from_firewall = hits[hits["accounts"].map(lambda a: "external" in list(a))]
    assert list(from_firewall["src_endpoint.ip"]) == [story["ips"][0]]
    assert from_firewall["ports"].iloc[0] >= 15
