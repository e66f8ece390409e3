"""The entity index: pivots through it return the full scan's rows, and it follows the lake's files."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import slake_forensics as sf
from slake_forensics.analysis import entity_index, pivot as pivot_module
from slake_forensics.analysis.entity_index import EntityIndex, IndexRebuiltWarning, lookup_values
from slake_forensics.core.catalog import Source

sys.path.insert(0, str(Path(__file__).parent))
from entity_lake import ACCOUNTS, ARNS, BUCKETS, DAY0, DOMAINS, INSTANCES, IPS, KEYS, NOW, ROLES, build_entity_lake  # noqa: E402

SAMPLE_WINDOW = {"start": "2026-05-01T00:00Z", "end": "2026-06-01T00:00Z"}
#: Entities of the bundled lake, of every pivot kind, found in few of its files.
SAMPLE_ENTITIES = [
    {"ip": "94.130.27.54"},
    {"ip": "37.187.150.149"},
    {"principal": "arn:aws:iam::116977503691:user/ci-deploy"},
    {"access_key": "AKIAYHYXCBKFKX3UQS3F"},
    {"bucket": "wingtip-customer-exports-7cd9ef"},
    {"bucket": "arn:aws:s3:::wingtip-customer-exports-7cd9ef"},
    {"domain": "pool.supportxmr.com"},
    {"ip": "203.0.113.250", "domain": "no-such.example"},
]


def scan(lake: sf.Lake, monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> pd.DataFrame:
    """The pivot as a full scan (the index switched off)."""
    with monkeypatch.context() as m:
        m.setattr(pivot_module, "index_of", lambda lake: None)
        return lake.pivot(progress=False, **kwargs)  # type: ignore[arg-type]


def same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, want)
    assert got.attrs["rows"] == want.attrs["rows"]


@pytest.fixture(autouse=True)
def index_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path_factory.mktemp("index")
    monkeypatch.setenv("SLAKE_INDEX_DIR", str(path))
    monkeypatch.setattr(entity_index, "_OPEN", {})
    return path


@pytest.fixture(scope="module")
def sample_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled lake as hard links (files are replaced, never written in place)."""
    root = tmp_path_factory.mktemp("sample") / "lake"
    shutil.copytree(sf.Lake.sample().root, root, copy_function=_link)
    return root


def _link(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _replace(path: Path, contents_of: Path) -> None:
    """Give ``path`` the bytes of ``contents_of`` without touching the file it links to."""
    partial = path.with_name(path.name + ".tmp")
    shutil.copyfile(contents_of, partial)
    os.replace(partial, path)


def test_equal_to_the_scan_on_every_entity_kind(tmp_path, monkeypatch):
    build_entity_lake(tmp_path)
    lake = sf.Lake.local(str(tmp_path), now=NOW)
    window = {"start": DAY0, "end": NOW}
    cases = (
        [{"ip": v} for v in IPS] + [{"access_key": v} for v in KEYS] + [{"principal": v} for v in (*ARNS, *ROLES)]
        + [{"bucket": v} for v in BUCKETS] + [{"bucket": f"arn:aws:s3:::{BUCKETS[0]}"}] + [{"instance": v} for v in INSTANCES]
        + [{"domain": v} for v in DOMAINS] + [{"ip": "203.0.113.250"}, {"ip": IPS[0], "account": ACCOUNTS[1]}]
    )
    want = [scan(lake, monkeypatch, **case, **window) for case in cases]
    assert sum(len(w) for w in want) > 0 and all(len(w) for w in want[:-2])
    lake.build_index(progress=False)
    for case, expected in zip(cases, want):
        got = lake.pivot(progress=False, **case, **window)  # type: ignore[arg-type]
        assert got.attrs["index"], case
        same(got, expected)


@pytest.fixture(scope="module")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the bundled lake, built once for the module."""
    path = tmp_path_factory.mktemp("sample-index")
    entity_index.build(sf.Lake.sample(), path, progress=False)
    return path


@pytest.mark.parametrize("entity", SAMPLE_ENTITIES)
def test_equal_to_the_scan_on_the_bundled_lake_and_narrower(sample_index, monkeypatch, entity):
    lake = sf.Lake.sample()
    want = scan(lake, monkeypatch, **entity, **SAMPLE_WINDOW)
    monkeypatch.setenv("SLAKE_INDEX_DIR", str(sample_index))
    got = lake.pivot(progress=False, **entity, **SAMPLE_WINDOW)
    same(got, want)
    read = sum(n for n, _ in got.attrs["index"].values())
    total = sum(n for _, n in got.attrs["index"].values())
    assert read < total / 2, got.attrs["index"]


def test_an_added_and_a_changed_file_are_picked_up(sample_copy, monkeypatch):
    lake = sf.Lake.local(str(sample_copy))
    ip = "94.130.27.54"
    index = lake.build_index(progress=False)
    hits = lake.pivot(ip=ip, progress=False, **SAMPLE_WINDOW)
    holder = next(p for p in lake.files("vpc_flow") if _holds(p, ip))
    other = next(p for p in lake.files("vpc_flow") if p.parent != holder.parent and not _holds(p, ip))
    # an added file: a copy of the holder in another account's partition of the same day
    added = other.parent / "added.parquet"
    shutil.copyfile(holder, added)
    lake.refresh()
    got = lake.pivot(ip=ip, progress=False, **SAMPLE_WINDOW)
    same(got, scan(lake, monkeypatch, ip=ip, **SAMPLE_WINDOW))
    added_rows = got.attrs["rows"]["vpc_flow"] - hits.attrs["rows"]["vpc_flow"]
    assert added_rows > 0 and index.last_update["indexed"] == 1
    # a changed file: one that held no such row now holds the holder's rows
    changed = next(p for p in lake.files("vpc_flow") if p.parent != holder.parent and p != added and not _holds(p, ip))
    _replace(changed, holder)
    got = lake.pivot(ip=ip, progress=False, **SAMPLE_WINDOW)
    same(got, scan(lake, monkeypatch, ip=ip, **SAMPLE_WINDOW))
    assert got.attrs["rows"]["vpc_flow"] == hits.attrs["rows"]["vpc_flow"] + 2 * added_rows
    # a removed file: gone from the pivot and, at the next build, from the index
    added.unlink()
    lake.refresh()
    got = lake.pivot(ip=ip, progress=False, **SAMPLE_WINDOW)
    same(got, scan(lake, monkeypatch, ip=ip, **SAMPLE_WINDOW))
    assert lake.build_index(progress=False).last_update["dropped"] == 1


def _holds(path: Path, ip: str) -> bool:
    table = pq.read_table(path, columns=["src_endpoint", "dst_endpoint"])
    return ip in table["src_endpoint"].combine_chunks().field("ip").to_pylist() + table["dst_endpoint"].combine_chunks().field("ip").to_pylist()


def test_a_corrupt_index_is_rebuilt_with_a_warning(sample_copy, monkeypatch):
    lake = sf.Lake.local(str(sample_copy))
    index = lake.build_index(progress=False)
    (index.path / "values-vpc_flow.parquet").write_bytes(b"not parquet")
    (index.path / "files.parquet").write_bytes(b"PAR1 garbage")
    with pytest.warns(IndexRebuiltWarning, match="unreadable or outdated"):
        got = lake.pivot(ip="94.130.27.54", progress=False, **SAMPLE_WINDOW)
    same(got, scan(lake, monkeypatch, ip="94.130.27.54", **SAMPLE_WINDOW))
    assert EntityIndex(lake).exists


def test_no_index_means_a_scan_and_athena_has_none(tmp_path):
    lake = sf.Lake.sample()
    tl = lake.pivot(ip="94.130.27.54", progress=False, **SAMPLE_WINDOW)
    assert tl.attrs["index"] == {}
    assert entity_index.index_of(lake) is None
    with pytest.raises(TypeError, match="local and S3 lakes"):
        EntityIndex(object())  # type: ignore[arg-type]


def test_values_the_index_never_records_scan_every_file():
    assert lookup_values("vpc_flow", ["-"]) is None
    assert lookup_values("cloud_trail_mgmt", ["arn:aws:s3:::b"]) == ["arn:aws:s3:::b", "b"]


def test_cli_builds_the_index(sample_copy, index_dir, capsys):
    from slake_forensics.tooling.cli import main

    assert main(["index", str(sample_copy), "--quiet"]) == 0
    assert "entity index of" in capsys.readouterr().out
    assert EntityIndex(sf.Lake.local(str(sample_copy))).exists


def _pairs(index: EntityIndex) -> dict[str, set[tuple[str, str]]]:
    """Every ``(value, file key)`` pair of the index, per source."""
    state = index._load()
    keys = dict(zip(state.files["file_id"].to_pylist(), state.files["key"].to_pylist()))
    return {
        name: {(v, keys[f]) for v, f in zip(table["value"].to_pylist(), table["file_id"].to_pylist())}
        for name, table in state.values.items()
    }


def _built_both_ways(lake: sf.Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[EntityIndex, EntityIndex, int]:
    """The index built as ``build`` does, and built reading every file with pyarrow (``_extract``);
    with how many files the first read file by file."""
    singles: list[str] = []
    extract = EntityIndex._extract

    def counted(self: EntityIndex, src: Source, key: str) -> pa.Array:
        singles.append(key)
        return extract(self, src, key)

    with monkeypatch.context() as m:
        m.setattr(EntityIndex, "_extract", counted)
        batch = entity_index.build(lake, tmp_path / "batch", progress=False)
    with monkeypatch.context() as m:
        m.setattr(EntityIndex, "_plain_keys", lambda self, src, keys: [])
        single = entity_index.build(lake, tmp_path / "single", progress=False)
    return batch, single, len(singles)


def test_the_batch_build_equals_the_file_by_file_build_on_the_bundled_lake(tmp_path, monkeypatch):
    batch, single, read_singly = _built_both_ways(sf.Lake.sample(), tmp_path, monkeypatch)
    want = _pairs(single)
    assert _pairs(batch) == want and len(want) == 9 and all(want.values())
    assert read_singly == sum(1 for k in single._load().files["source"].to_pylist() if k.startswith("ext_"))  # custom source only


def test_the_batch_build_equals_the_file_by_file_build_with_v1_files_and_drift(tmp_path, monkeypatch):
    from real_lakes import V1_FILES, place_v1

    root = tmp_path / "lake"
    build_entity_lake(root)
    for source_name, path in V1_FILES:
        place_v1(root, source_name, path)
    flows = sorted((root / "aws" / "VPC_FLOW" / "2.0").rglob("*.parquet"))
    drifted = pq.read_table(flows[0]).drop_columns(["dst_endpoint"])  # time_dt in microseconds, a column missing
    drifted = drifted.set_column(
        drifted.schema.get_field_index("time_dt"), "time_dt", drifted["time_dt"].cast(pa.timestamp("us", tz="UTC"))
    )
    pq.write_table(drifted, flows[0])
    extra = pq.read_table(flows[1])  # an extra column: still plain, but the source's files differ in schema
    pq.write_table(extra.append_column("vendor_extra", pa.array(range(extra.num_rows))), flows[1])
    lake = sf.Lake.local(str(root), now=NOW)
    batch, single, read_singly = _built_both_ways(lake, tmp_path, monkeypatch)
    want = _pairs(single)
    assert _pairs(batch) == want and all(want.values())
    assert read_singly == len(V1_FILES) + 1
    assert any(k == flows[1].relative_to(root).as_posix() for _, k in want["vpc_flow"])


#: JSON texts where DuckDB's and Python's JSON readers could disagree, each holding ``bucketName``.
TRICKY_JSON = [
    '{"bucketName": "b1"}', '{"bucketName": "b1", "key": "k"}', ' {"bucketName" : "b\\"2\\n"} ',
    '{"bucketName": "b3",}', '{"bucketName": "b4", "bucketName": "b5"}', '{"bucketName": "\\u0062\\u0036"}',
    '{"bucket\\u004eame": "b7"}', '{"bucketName": 8}', '{"bucketName": 9.50}', '{"bucketName": true}',
    '{"bucketName": null}', '{"bucketName": {"x": 1}}', '{"x": {"bucketName": "b10"}}', '{"x": "\\"bucketName\\""}',
    '["bucketName"]', '{"bucketName": "b11"', '{"bucketName": "b12"} trailing', '{"bucketName": NaN}',
    '{"a": NaN, "bucketName": "b13"}', '{"bucketName": "b14", "a": [1,]}', '{"bucketName": "-"}', '{"bucketName": ""}',
    '{"bucketName": "arn:aws:s3:::b15"}', "not json", '{"bucketName": "\u00e9t\u00e9"}',
    '{"bucketName": "b16", "a": nan}', '{"bucketName": "b17", "a": -inf}', '{"bucketName": "b18", "a": [Infinity]}',
    '{"bucketName": "b19", "a": -Infinity}', '{"bucketName": "b20", "a": null}', '{"bucketName": "b21, nan"}',
]


def test_json_values_read_by_duckdb_are_those_of_field_extract():
    import duckdb

    from slake_forensics.analysis.entities import Field
    from slake_forensics.core.catalog import source

    src = source("cloud_trail_mgmt")
    data = pa.array(TRICKY_JSON + [None], pa.string())
    files = pa.table({"filename": ["f"] * len(data), "api": pa.StructArray.from_arrays(
        [pa.StructArray.from_arrays([data], names=["data"])], names=["request"])})
    con = duckdb.connect()
    con.register("files", files)
    for field in (Field("api.request.data", json=("bucketName",)), Field("api.request.data", json=("bucketName", "key"))):
        got = con.sql(entity_index._json_sql(field)).to_arrow_table()
        texts = entity_index._json_texts(field, got)
        [(_, found)] = entity_index._values([field], pa.table({field.path: texts}), src)
        want = field.extract(pd.DataFrame({field.path: pd.Series(data, dtype=pd.ArrowDtype(pa.string()))}), src)[1]
        assert sorted(set(found.to_pylist())) == sorted(set(want.to_pylist())), field
    assert got["text"].null_count > 0  # some texts were read by DuckDB alone


def test_an_update_reads_only_the_new_files_of_their_sources(tmp_path, monkeypatch):
    root = tmp_path / "lake"
    shutil.copytree(sf.Lake.sample().root, root, copy_function=_link)
    lake = sf.Lake.local(str(root))
    index = EntityIndex(lake, tmp_path / "index")
    index.update(progress=False)
    holder = lake.files("vpc_flow")[0]
    added = holder.parent / "added.parquet"
    shutil.copyfile(holder, added)
    lake.refresh()
    read: list[tuple[str, list[str]]] = []
    extract_plain = EntityIndex._extract_plain

    def recorded(self: EntityIndex, src: Source, keys: list[str], ids: dict[str, int], *db: object) -> pa.Table | None:
        read.append((src.name, keys))
        return extract_plain(self, src, keys, ids, *db)  # type: ignore[arg-type]

    monkeypatch.setattr(EntityIndex, "_extract_plain", recorded)
    assert index.update(progress=False)["indexed"] == 1
    key = added.relative_to(root).as_posix()
    assert read == [("vpc_flow", [key])]  # the other sources, with no new file, are not read at all
    pairs = _pairs(index)["vpc_flow"]
    held = {v for v, k in pairs if k == holder.relative_to(root).as_posix()}
    assert held and {v for v, k in pairs if k == key} == held
