"""Generate a sample Security Lake: background activity of a fictional organization plus incident stories.

``generate(out, seed, days)`` writes ``out/aws/<SOURCE_NAME>/2.0/…`` Parquet in the real
layout, a custom source ``out/ext/onprem_firewall/1.0/…`` (:mod:`.custom`), ``out/answers/<story>.json`` (the answer key of each story: only tests and the
training checker read it) and ``out/generation.json`` (seed, period, row counts).
The same arguments give byte-identical files.
"""
from __future__ import annotations

import importlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from slake_forensics.core.version import __version__
from slake_forensics.core.catalog import SOURCES
from slake_forensics.sample import custom
from slake_forensics.sample.org import Org, build_org
from slake_forensics.sample.writer import rotate_keys, write_source

STORIES = ("s3_data_access", "ec2_cryptomining")


@dataclass
class StoryResult:
    """What a story adds to the lake: extra rows per source, and its answer key."""

    tables: dict[str, pa.Table]
    answer: dict


@dataclass
class GenerationSummary:
    """What :func:`generate` wrote."""

    out: Path
    seed: int
    days: int
    scale: float
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        """Events written across all sources."""
        return sum(self.rows.values())


def generate(out: Path | str, seed: int = 1, days: int = 14, *, scale: float = 1.0, accounts: int = 5,
             regions: int = 2, progress: bool = True) -> GenerationSummary:
    """Write a sample lake below ``out`` and return a :class:`GenerationSummary`.

    ``scale`` multiplies background volume (1.0 gives roughly 35k events per day with the
    default five accounts); stories are the same size at any scale.  Refuses to write into a
    folder that already holds a lake, so nothing is mixed or overwritten by accident.
    """
    t0 = time.perf_counter()
    out = Path(out)
    if (out / "aws").exists() and any((out / "aws").iterdir()):
        raise FileExistsError(f"{out} already holds a lake (found {out / 'aws'}); choose an empty folder or delete it first.")
    if days < 3:
        raise ValueError("days must be at least 3 so the stories and a baseline fit in the period")
    org = build_org(seed, days, n_accounts=accounts, n_regions=regions)
    summary = GenerationSummary(out, seed, days, scale)

    extra: dict[str, list[pa.Table]] = {name: [] for name in SOURCES}
    answers = {}
    for k, story in enumerate(STORIES):
        module = importlib.import_module(f".stories.{story}", __package__)
        result: StoryResult = module.inject(org, np.random.default_rng([seed, 1000 + k]))
        for src, table in result.tables.items():
            extra[src].append(table)
        answers[story] = result.answer

    bar = tqdm(list(SOURCES), desc="sources", disable=not progress, leave=False)
    for i, name in enumerate(bar):
        bar.set_postfix_str(name)
        module = importlib.import_module(f".sources.{name}", __package__)
        table = rotate_keys(module.background(org, np.random.default_rng([seed, i]), scale), org.key_rotations)
        table = pa.concat_tables([table, *extra[name]]) if extra[name] else table
        files = write_source(table, out, SOURCES[name], np.random.default_rng([seed, i, 99]))
        summary.rows[name] = table.num_rows
        summary.files += len(files)

    firewall, rows, files = custom.write(org, np.random.default_rng([seed, 2000]), scale, answers, out)
    summary.rows[firewall.name] = rows
    summary.files += len(files)

    (out / "answers").mkdir(parents=True, exist_ok=True)
    for story, answer in answers.items():
        (out / "answers" / f"{story}.json").write_text(json.dumps(answer, indent=1, sort_keys=True, default=str) + "\n")
    summary.seconds = time.perf_counter() - t0
    (out / "generation.json").write_text(json.dumps(_describe(org, summary), indent=1, sort_keys=True) + "\n")
    return summary


def _describe(org: Org, s: GenerationSummary) -> dict:
    return {
        "generator": f"slake-forensics {__version__}",
        "seed": s.seed, "days": s.days, "scale": s.scale,
        "start": org.start.isoformat(), "end": org.end.isoformat(),
        "accounts": [a.id for a in org.accounts], "regions": org.regions,
        "rows": s.rows, "files": s.files,
    }
