"""ocsf.flatten and ocsf.conform on catalog-shaped and drifted tables."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slake_forensics.core import ocsf
from slake_forensics.core.catalog import source
from slake_forensics.core.errors import UnknownColumnError
from slake_forensics.sample.writer import build_table

CT = source("cloud_trail_mgmt")


def _small(n: int = 4) -> pa.Table:
    t = 1_709_251_200_000 + np.arange(n) * 1000
    return build_table(
        CT,
        {
            "time": t,
            "time_dt": t,
            "class_uid": np.full(n, 6003, np.int32),
            "class_name": ["API Activity"] * n,
            "category_uid": np.full(n, 6, np.int32),
            "category_name": ["Application Activity"] * n,
            "severity_id": np.ones(n, np.int32),
            "severity": ["Informational"] * n,
            "activity_id": np.ones(n, np.int32),
            "activity_name": ["Create"] * n,
            "type_uid": np.full(n, 600301),
            "type_name": ["API Activity: Create"] * n,
            "actor.user.uid": [f"u{i}" if i % 2 else None for i in range(n)],
            "unmapped": pa.array([[("k", str(i))] for i in range(n)], pa.map_(pa.string(), pa.string())),
        },
        n,
    )


def test_flatten_names_dtypes_and_values() -> None:
    table = _small()
    df = ocsf.flatten(table)
    assert list(df.columns) == ocsf.flat_names(table.schema)
    assert all(isinstance(dt, pd.ArrowDtype) for dt in df.dtypes)
    assert str(df["time_dt"].dtype.pyarrow_dtype) == "timestamp[ms, tz=UTC]"
    assert df["time_dt"].iloc[0] == pd.Timestamp(table["time_dt"][0].as_py())
    assert pa.array(df["actor.user.uid"]).to_pylist() == table["actor"].combine_chunks().field("user").field("uid").to_pylist()
    assert pa.types.is_map(df["unmapped"].dtype.pyarrow_dtype)
    assert pa.types.is_list(df["resources"].dtype.pyarrow_dtype)
    assert len(df) == table.num_rows


def test_flatten_null_struct_gives_null_leaves_and_naive_times_become_utc() -> None:
    s = pa.array([{"a": {"b": 1}}, None], pa.struct([("a", pa.struct([("b", pa.int64())]))]))
    naive = pa.array([0, 1000], pa.timestamp("us"))
    df = ocsf.flatten(pa.table({"s": s, "t": naive}))
    assert list(df.columns) == ["s.a.b", "t"]
    assert df["s.a.b"].isna().tolist() == [False, True]
    assert df["t"].dtype.pyarrow_dtype.tz == "UTC"
    assert df["t"].iloc[1] == pd.Timestamp("1970-01-01T00:00:00.001Z")


def test_flatten_is_vectorised() -> None:
    n = 200_000
    big = pa.concat_tables([_small(1000)] * (n // 1000))
    started = time.perf_counter()
    df = ocsf.flatten(big)
    assert len(df) == n
    assert time.perf_counter() - started < 10


def test_conform_tolerates_drift_and_keeps_extra_data() -> None:
    base = _small()
    actor = base["actor"].combine_chunks()
    user = actor.field("user")
    # file drift: user struct lacks most fields and has an extra one; microsecond, zone-less timestamps;
    # an extra top-level column; int64 where the catalog says int32; 'cloud' missing entirely.
    drift_user = pa.StructArray.from_arrays([user.field("uid"), pa.array(["x"] * len(user))], names=["uid", "new_field"])
    drift = pa.table(
        {
            "time": base["time"],
            "time_dt": base["time_dt"].cast(pa.timestamp("us")),
            "actor": pa.StructArray.from_arrays([drift_user], names=["user"]),
            "class_uid": base["class_uid"].cast(pa.int64()),
            "extra_top": pa.array(range(base.num_rows)),
        }
    )
    out = ocsf.conform(drift, CT)
    assert out.schema.names[: len(CT.schema)] == CT.schema.names
    assert out.schema.names[-1] == "extra_top"
    assert out["extra_top"].to_pylist() == list(range(base.num_rows))
    assert out.schema.field("time_dt").type == pa.timestamp("ms", tz="UTC")
    assert out["time_dt"].to_pylist() == base["time_dt"].to_pylist()
    assert out.schema.field("class_uid").type == pa.int32()
    out_user = out["actor"].combine_chunks().field("user")
    assert out_user.field("uid").to_pylist() == user.field("uid").to_pylist()
    assert out_user.field("new_field").to_pylist() == ["x"] * base.num_rows
    assert out_user.field("name").null_count == base.num_rows
    assert out["cloud"].null_count == base.num_rows
    flat = ocsf.flatten(out)
    assert "actor.user.new_field" in flat.columns


def test_conform_refuses_lossy_cast() -> None:
    bad = pa.table({"time": [1], "class_uid": pa.array([2**40])})
    with pytest.raises(pa.ArrowInvalid, match="class_uid"):
        ocsf.conform(bad, CT)


def test_conform_nullability_follows_catalog_and_data() -> None:
    base = _small()
    # a nullable catalog column holding nulls must stay nullable; a required one with no nulls stays required;
    # a required one the file leaves null becomes nullable.
    table = base.drop_columns(["severity"])
    out = ocsf.conform(table, CT)
    assert out["actor"].combine_chunks().field("user").field("uid").null_count == 2
    assert out.schema.field("actor").nullable
    assert out.schema.field("metadata").nullable
    assert not out.schema.field("class_uid").nullable
    assert out.schema.field("severity").nullable
    sink = pa.BufferOutputStream()
    pq.write_table(out, sink)
    back = pq.read_table(pa.BufferReader(sink.getvalue()))
    assert back.num_rows == base.num_rows
    assert back["severity"].null_count == base.num_rows


def test_check_columns_suggests_closest() -> None:
    with pytest.raises(UnknownColumnError, match="actor.user.uid"):
        ocsf.check_columns(["actor.user.uidd"], CT.schema, "cloud_trail_mgmt")
    with pytest.raises(UnknownColumnError, match="actor.user.uid"):
        ocsf.check_columns(["uid_alt"], CT.schema, "cloud_trail_mgmt")
    assert ocsf.check_columns("actor.user", CT.schema, "x") == ["actor.user"]
