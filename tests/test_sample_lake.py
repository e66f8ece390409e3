"""The generated sample lakes: layout, exact schemas, vocabularies, determinism, answer keys."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from slake_forensics.core.catalog import SOURCES, source
from slake_forensics.sample import bundled
from slake_forensics.sample.generate import STORIES, generate
from slake_forensics.workflows.validate import validate_lake

SMALL = dict(days=6, scale=0.15)


@pytest.fixture(scope="module")
def bundled_lake() -> Path:
    return bundled.ensure_sample_lake(progress=False)


@pytest.fixture(scope="module")
def small_lakes(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("lakes")
    out = {}
    for name, seed in (("a", 11), ("a_again", 11), ("b", 12)):
        generate(base / name, seed, progress=False, **SMALL)
        out[name] = base / name
    return out


def test_bundled_lake_is_valid_and_big_enough(bundled_lake):
    assert validate_lake(bundled_lake) == []
    meta = json.loads((bundled_lake / "generation.json").read_text())
    assert meta["days"] == 14
    assert sum(meta["rows"].values()) >= 500_000
    present = {p.parts[len(bundled_lake.parts) + 1] for p in (bundled_lake / "aws").rglob("*.parquet")}
    assert present == {s.source_name for s in SOURCES.values()}
    assert len(meta["accounts"]) >= 4 and len(meta["regions"]) >= 2


def test_bundled_lake_matches_committed_manifest(bundled_lake):
    assert bundled.verify(bundled_lake) == []


def test_every_file_has_the_exact_glue_schema(bundled_lake):
    for path in (bundled_lake / "aws").rglob("*.parquet"):
        name = path.relative_to(bundled_lake).parts[1]
        assert pq.read_schema(path).equals(source(name).schema), path


def test_validator_catches_a_broken_file(small_lakes, tmp_path):
    lake = tmp_path / "broken"
    shutil.copytree(small_lakes["b"], lake)
    victim = next((lake / "aws" / "VPC_FLOW").rglob("*.parquet"))
    t = pq.read_table(victim)
    i = t.schema.get_field_index("type_uid")
    bad = t.set_column(i, t.schema.field(i), pc.add(t["type_uid"], 1))
    pq.write_table(bad.drop_columns(["asl_version"]), victim)
    problems = validate_lake(lake)
    assert any("schema differs" in p and "missing asl_version" in p for p in problems)
    pq.write_table(bad, victim)
    problems = validate_lake(lake)
    assert any("type_uid != class_uid*100+activity_id" in p for p in problems)
    assert not any("schema differs" in p for p in problems)


def test_same_seed_is_byte_identical_and_another_seed_differs(small_lakes):
    a, again, b = (bundled.manifest_lines(small_lakes[k]) for k in ("a", "a_again", "b"))
    assert a == again
    ga, gb = (json.loads((small_lakes[k] / "generation.json").read_text()) for k in ("a", "b"))
    assert set(ga["accounts"]).isdisjoint(gb["accounts"])
    assert ga["start"] != gb["start"]
    ka, kb = (json.loads((small_lakes[k] / "answers" / "s3_data_access.json").read_text()) for k in ("a", "b"))
    for field in ("access_keys", "ips", "buckets", "principals"):
        assert set(ka[field]).isdisjoint(kb[field]), field
    assert ka["first_malicious"] != kb["first_malicious"]


def test_small_lakes_validate(small_lakes):
    for lake in small_lakes.values():
        assert validate_lake(lake) == []


def _flat(table: pa.Table) -> pa.Table:
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    return table


def _rows_matching(lake: Path, src: str, when: str, match: dict) -> int:
    ts = pd.Timestamp(when)
    day = ts.strftime("%Y%m%d")
    files = [p for p in (lake / source(src).prefix).rglob("*.parquet") if f"eventDay={day}" in p.as_posix()]
    assert files, f"no {src} files for {day}"
    table = _flat(pa.concat_tables(pq.read_table(f) for f in files))
    mask = pc.equal(table["time_dt"], pa.scalar(ts.to_datetime64().astype("datetime64[ms]"), pa.timestamp("ms")).cast(pa.timestamp("ms", tz="UTC")))
    for col, value in match.items():
        assert col in table.column_names, f"{src} has no column {col}"
        mask = pc.and_(mask, pc.equal(table[col], pa.scalar(value).cast(table[col].type)))
    return int(pc.sum(pc.cast(pc.fill_null(mask, False), pa.int64())).as_py() or 0)


@pytest.mark.parametrize("story", STORIES)
def test_answer_key_events_exist_with_stated_fields(bundled_lake, small_lakes, story):
    for lake in (bundled_lake, small_lakes["b"]):
        key = json.loads((lake / "answers" / f"{story}.json").read_text())
        assert key["key_events"], "a story must name its key events"
        for ev in key["key_events"]:
            assert _rows_matching(lake, ev["source"], ev["time"], ev["match"]) >= 1, ev
        first, last = pd.Timestamp(key["first_malicious"]), pd.Timestamp(key["last_malicious"])
        assert first < last
        assert first <= pd.Timestamp(key["detection"])
        assert min(pd.Timestamp(ev["time"]) for ev in key["key_events"]) >= first


def test_cli_writes_a_lake_that_validates(tmp_path):
    out = tmp_path / "lake7"
    res = subprocess.run([sys.executable, "-m", "slake_forensics", "sample", "--seed", "7", "--out", str(out),
                          "--days", "5", "--scale", "0.1", "--quiet"], capture_output=True, text=True, check=True)
    assert "events" in res.stdout
    assert validate_lake(out) == []
    again = subprocess.run([sys.executable, "-m", "slake_forensics", "sample", "--seed", "7", "--out", str(out), "--quiet"],
                           capture_output=True, text=True)
    assert again.returncode != 0 and "already holds a lake" in again.stderr


def test_deactivated_leaked_key_only_fails_after_containment(bundled_lake, small_lakes):
    """After the responder rotates and deactivates the leaked key, nothing succeeds with it:
    the CI system's own calls move to the new key and the attacker's retries are denied."""
    from slake_forensics import Lake

    for root in (bundled_lake, small_lakes["b"]):
        key = json.loads((root / "answers" / "s3_data_access.json").read_text())
        leaked, contained = key["access_keys"][0], pd.Timestamp(key["containment"])
        lake = Lake.local(str(root))
        for src in ("cloud_trail_mgmt", "s3_data"):
            df = lake.load(src, contained + pd.Timedelta(seconds=1), lake_end(root),
                           columns=["time_dt", "actor.user.credential_uid", "api.response.error"])
            used = df[df["actor.user.credential_uid"] == leaked]
            assert used["api.response.error"].notna().all(), f"{src}: the deactivated key {leaked} still succeeds"
        before = lake.load("cloud_trail_mgmt", contained - pd.Timedelta(days=1), contained,
                           columns=["actor.user.credential_uid"])
        assert (before["actor.user.credential_uid"] == leaked).any(), "the leaked key was in use before containment"


def lake_end(root: Path) -> pd.Timestamp:
    return pd.Timestamp(json.loads((root / "generation.json").read_text())["end"])
