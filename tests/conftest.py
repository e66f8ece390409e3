"""Shared fixtures: the fixture lake of :mod:`fixture_lake`, read-only and as private copies."""
from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from fixture_lake import DAY0, DAYS, NOW, build_fixture_lake

from slake_forensics.lake import Lake


@pytest.fixture
def ctrl_c() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, as in a terminal or a notebook kernel, for the tests that press Ctrl-C.

    A shell starts a background job with SIGINT ignored, and Python then leaves it ignored: a CI script
    that runs pytest in the background would otherwise make ``_thread.interrupt_main`` and SIGINT do nothing.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="session")
def lake_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pa.Table]]:
    """(root folder, written tables) of the shared, read-only fixture lake."""
    root = tmp_path_factory.mktemp("lake")
    return root, build_fixture_lake(root)


@pytest.fixture(scope="session")
def lake(lake_data: tuple[Path, dict[str, pa.Table]]) -> Lake:
    """The shared fixture lake with its clock at :data:`NOW`."""
    return Lake.local(lake_data[0], now=NOW)


@pytest.fixture
def lake_copy(lake_data: tuple[Path, dict[str, pa.Table]], tmp_path: Path) -> Path:
    """A private copy of the fixture lake's folder, for tests that damage files."""
    dest = tmp_path / "lake"
    shutil.copytree(lake_data[0], dest)
    return dest


@pytest.fixture(scope="session")
def ct(lake: Lake) -> pd.DataFrame:
    """Every CloudTrail event of the fixture lake, loaded."""
    return lake.load("cloud_trail_mgmt", DAY0, DAY0 + pd.Timedelta(days=DAYS))
