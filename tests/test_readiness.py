"""Preparation: coverage and volume equal pandas counts over ``load``; a deleted day is the only gap;
readiness marks missing, partial and gappy sources and the checklist names them; pictures draw;
the 01_preparation notebook runs top to bottom on a fixture lake chosen through ``SLAKE_LAKE``."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from fixture_lake import ACCOUNTS, DAY0, DAYS, NOW, REGIONS, build_fixture_lake

from slake_forensics.analysis import hunts
from slake_forensics.workflows import readiness
from slake_forensics.core.catalog import SOURCES
from slake_forensics.lake import Lake

matplotlib.use("Agg")

START, END = DAY0, DAY0 + pd.Timedelta(days=DAYS)
FIXTURE_SOURCES = ("cloud_trail_mgmt", "vpc_flow", "route53")
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_preparation.ipynb"


def _without(root: Path, source_name: str, account: str, day: str | None = None) -> Lake:
    """The lake at ``root`` after deleting one source's files of ``account`` (of one ``day`` YYYYMMDD, or all)."""
    pattern = f"aws/{source_name}/2.0/region=*/accountId={account}/eventDay={day or '*'}"
    folders = list(root.glob(pattern))
    assert folders, pattern
    for folder in folders:
        shutil.rmtree(folder)
    return Lake.local(root, now=NOW)


def _loaded(lake: Lake) -> pd.DataFrame:
    frames = [
        lake.load(s, START, END, columns=["time_dt", "accountid", "region"]).assign(source=s) for s in FIXTURE_SOURCES
    ]
    df = pd.concat(frames, ignore_index=True)
    return df.assign(time_dt=pd.to_datetime(df["time_dt"], utc=True).astype("datetime64[ns, UTC]"))


def test_coverage_matches_pandas_over_load(lake: Lake) -> None:
    cov = readiness.coverage(lake, START, END)
    df = _loaded(lake)
    df["day"] = df["time_dt"].dt.strftime("%Y%m%d")
    expected = df.groupby(["source", "accountid", "region"]).agg(
        events=("time_dt", "size"), first_event=("time_dt", "min"), last_event=("time_dt", "max"), days=("day", "nunique")
    )
    got = cov.set_index(["source", "account", "region"]).sort_index()
    assert len(got) == len(expected) == len(FIXTURE_SOURCES) * len(ACCOUNTS) * len(REGIONS)
    for key, row in expected.iterrows():
        assert got.loc[key, "events"] == row["events"], key
        assert got.loc[key, "first_event"] == pd.Timestamp(row["first_event"]), key
        assert got.loc[key, "last_event"] == pd.Timestamp(row["last_event"]), key
        assert got.loc[key, "days_with_data"] == row["days"] == DAYS, key
    assert (cov["days_in_window"] == DAYS).all() and (cov["share_of_days"] == 1).all()
    assert list(dict.fromkeys(cov["source"])) == list(FIXTURE_SOURCES)  # catalog order
    matrix = readiness.coverage_matrix(cov)
    assert matrix.shape == (3, 4) and (matrix.to_numpy() == DAYS).all()


def test_default_window_runs_to_the_clock(lake: Lake) -> None:
    win = readiness.window(lake)
    assert win.start == DAY0 and win.end == NOW + pd.Timedelta(milliseconds=1)
    cov = readiness.coverage(lake)
    assert cov["last_event"].max() <= NOW
    assert cov["events"].sum() == sum(len(lake.load(s, DAY0, win.end, columns="time_dt")) for s in FIXTURE_SOURCES)


def test_daily_volume_is_a_complete_grid_of_load_counts(lake: Lake) -> None:
    daily = readiness.daily_volume(lake, START, END)
    assert len(daily) == DAYS * len(FIXTURE_SOURCES) * len(ACCOUNTS)
    df = _loaded(lake)
    df["day"] = df["time_dt"].dt.floor("D")
    expected = df.groupby(["day", "source", "accountid"]).size()
    got = daily.set_index(["day", "source", "account"])["events"]
    for key, n in expected.items():
        assert got.loc[key] == n, key
    assert got.sum() == len(df)


def test_no_gaps_in_the_intact_fixture(lake: Lake) -> None:
    assert readiness.gaps(lake, START, END, freq="1D").empty


def test_deleted_day_is_the_only_gap(lake_copy: Path) -> None:
    lake = _without(lake_copy, "VPC_FLOW", ACCOUNTS[0], "20240302")
    day = pd.Timestamp("2024-03-02T00:00:00Z")
    daily = readiness.gaps(lake, START, END, freq="1D")
    assert len(daily) == 1, daily
    row = daily.iloc[0]
    assert (row["source"], row["account"], row["start"], row["end"]) == ("vpc_flow", ACCOUNTS[0], day, day + pd.Timedelta(days=1))
    assert row["length"] == pd.Timedelta(days=1) and row["buckets"] == 1 and row["kind"] == "inner"
    assert row["expected_events"] > 50  # ~70 VPC flow events per account-day in the fixture
    hourly = readiness.gaps(lake, START, END, freq="1h", min_gap="1D")
    assert len(hourly) == 1 and hourly.iloc[0]["source"] == "vpc_flow" and hourly.iloc[0]["account"] == ACCOUNTS[0]
    assert hourly.iloc[0]["start"] <= day and hourly.iloc[0]["end"] >= day + pd.Timedelta(days=1)
    assert hourly.attrs["freq"] == "1h" and hourly.attrs["window"] == (START, END)


def test_gap_kinds_and_min_expected(lake_copy: Path) -> None:
    lake = _without(lake_copy, "ROUTE53", ACCOUNTS[1], "20240303")
    got = readiness.gaps(lake, START, END, freq="1D")
    assert got[["source", "account", "kind"]].values.tolist() == [["route53", ACCOUNTS[1], "trailing"]]
    assert readiness.gaps(lake, START, END, freq="1D", min_expected=10_000).empty
    with pytest.raises(ValueError, match="multiple of one hour"):
        readiness.gaps(lake, START, END, freq="30min")


def test_retention_spans_and_versions(lake: Lake) -> None:
    ret = readiness.retention(lake, START, END)
    sources = lake.sources().set_index("source")
    assert list(ret["source"]) == list(FIXTURE_SOURCES)
    for row in ret.itertuples():
        assert row.first_event == sources.loc[row.source, "first_event"]
        assert row.last_event == sources.loc[row.source, "last_event"]
        assert row.events == sources.loc[row.source, "rows"]
        assert row.span_days == pytest.approx((row.last_event - row.first_event) / pd.Timedelta(days=1), abs=0.01)
        assert row.ocsf_versions == ["1.1.0"] and not row.mixed_versions and "OCSF 1.1.0" in row.versions


def test_playbooks_name_catalog_sources_and_cover_every_hunt_source() -> None:
    used = set()
    for book in readiness.PLAYBOOKS.values():
        assert book.required and set(book.required).isdisjoint(book.helpful)
        used |= set(book.required) | set(book.helpful)
        assert all(why.strip() for why in [*book.required.values(), *book.helpful.values()])
    assert used == set(SOURCES) == set(readiness.ENABLE_NOTES)
    assert {s for n in hunts.names() for s in hunts.get(n).sources} <= used
    assert {"cloud_trail_mgmt", "s3_data", "sh_findings"} <= set(readiness.PLAYBOOKS["IRP-DataAccess"].required)


def test_missing_required_source_makes_playbook_not_ready(lake: Lake) -> None:
    ready = readiness.playbook_readiness(lake, START, END)
    row = ready.set_index(["playbook", "source"]).loc[("IRP-DataAccess", "s3_data")]
    assert row["role"] == "required" and row["status"] == "missing"
    assert row["accounts_missing"] == list(ACCOUNTS) and "s3_bulk_download" in row["hunts_blocked"]
    matrix = readiness.readiness_matrix(ready)
    assert matrix.loc["IRP-DataAccess", "verdict"] == "not ready"
    assert matrix.loc["IRP-DataAccess", "vpc_flow"] == "present (helpful)"
    assert matrix.loc["IRP-CredCompromise", "verdict"] == "limited"  # helpful S3 data and findings are missing
    assert matrix.loc["IRP-CredCompromise", "cloud_trail_mgmt"] == "present"
    assert matrix.loc["IRP-DataAccess", "eks_audit"] == ""
    items = readiness.checklist(ready)
    s3 = [i for i in items if "(S3_DATA)" in i]
    assert len(s3) == 1 and s3[0].startswith("Enable CloudTrail S3 data events (S3_DATA) in every account")
    assert all(a in s3[0] for a in ACCOUNTS) and "IRP-DataAccess needs object-level GetObject" in s3[0]
    assert "s3_bulk_download" in s3[0]
    assert not any("(CLOUD_TRAIL_MGMT)" in i or "(VPC_FLOW)" in i or "(ROUTE53)" in i for i in items)
    # required-by-some-playbook sources come before those that only help
    assert items.index(s3[0]) < items.index(next(i for i in items if "(LAMBDA_EXECUTION)" in i))
    blocked = readiness.hunt_readiness(ready).set_index("name")
    assert not blocked.loc["s3_bulk_download", "can_run"] and blocked.loc["s3_bulk_download", "missing"] == ["s3_data"]
    assert blocked.loc["dns_mining_pools", "can_run"]


def test_partial_and_gappy_sources_reach_the_checklist(lake_copy: Path) -> None:
    _without(lake_copy, "ROUTE53", ACCOUNTS[1])
    lake = _without(lake_copy, "VPC_FLOW", ACCOUNTS[0], "20240302")
    ready = readiness.playbook_readiness(lake, START, END, playbooks=["EC2-CryptoMining"])
    status = ready.set_index("source")
    assert status.loc["route53", "status"] == "partial" and status.loc["route53", "accounts_missing"] == [ACCOUNTS[1]]
    assert status.loc["vpc_flow", "status"] == "gappy" and status.loc["vpc_flow", "accounts_gappy"] == [ACCOUNTS[0]]
    assert status.loc["vpc_flow", "gap_days"] == 1 and status.loc["cloud_trail_mgmt", "status"] == "present"
    items = readiness.checklist(ready)
    route53 = next(i for i in items if "(ROUTE53)" in i)
    assert route53.startswith(f"Enable Route 53 Resolver query logs (ROUTE53) in account {ACCOUNTS[1]}:")
    vpc = next(i for i in items if "(VPC_FLOW)" in i)
    assert vpc.startswith("Check ingestion of VPC Flow Logs (VPC_FLOW): 1 day(s)") and "2024-03-02" in vpc and ACCOUNTS[0] in vpc
    assert items.index(route53) < items.index(vpc)
    with pytest.raises(ValueError, match="Unknown playbook"):
        readiness.playbook_readiness(lake, START, END, playbooks=["nope"])


def test_heatmap_and_readiness_draw(lake_copy: Path) -> None:
    import matplotlib.pyplot as plt

    lake = _without(lake_copy, "VPC_FLOW", ACCOUNTS[0], "20240302")
    daily = readiness.daily_volume(lake, START, END)
    ax = readiness.plot_volume_heatmap(daily)
    image = ax.get_images()[0].get_array()
    assert image.shape == (len(FIXTURE_SOURCES) * len(ACCOUNTS), DAYS)
    assert int(image.mask.sum()) == 1  # the one empty day, drawn red
    assert [t.get_text() for t in ax.get_yticklabels()][2] == f"vpc_flow / {ACCOUNTS[0]}"
    ax2 = readiness.plot_readiness(readiness.playbook_readiness(lake, START, END))
    assert len(ax2.get_yticklabels()) == len(readiness.PLAYBOOKS)
    plt.close("all")


def test_preparation_notebook_runs_on_a_fixture_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    root = tmp_path / "lake"
    build_fixture_lake(root)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in code)
    params = next(c for c in code if "parameters" in c.metadata.get("tags", []))
    assert all(f"{name} = None" in params.source for name in ("LAKE", "START", "END"))
    monkeypatch.setenv("SLAKE_LAKE", str(root))
    monkeypatch.setenv("SLAKE_NOW", NOW.isoformat())
    monkeypatch.delenv("SLAKE_CONFIG", raising=False)
    started = time.perf_counter()
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert time.perf_counter() - started < 60
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "\n".join(o.get("text", "") or str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert str(root) in text and "(S3_DATA)" in text and "s3_bulk_download" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2
    assert not any(o.get("output_type") == "error" for o in outputs)
