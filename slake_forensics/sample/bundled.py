"""The bundled sample lake: generated deterministically on first use and checked against a manifest.

The repository does not carry the lake's Parquet files (that would grow git history by
megabytes whenever the generator changes).  Instead set-up, or the first
``Lake.sample()``, runs the generator with fixed arguments and checks every file
against the committed SHA-256 manifest ``MANIFEST.sha256`` beside this module.

Where it lives: ``$SLAKE_SAMPLE_DIR`` if set, else ``sample_data/`` of a source checkout,
else ``~/.cache/slake-forensics/sample``.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import warnings
from importlib import resources
from pathlib import Path

import pandas as pd
import pyarrow
import pyarrow.parquet as pq

from slake_forensics.core.errors import SampleDataError

SEED = 20260301
DAYS = 14
SCALE = 1.0
MANIFEST_NAME = "MANIFEST.sha256"


def sample_root() -> Path:
    """Folder of the bundled lake (it may not exist yet)."""
    if env := os.environ.get("SLAKE_SAMPLE_DIR"):
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[2] / "sample_data"
    if checkout.is_dir():
        return checkout
    return Path.home() / ".cache" / "slake-forensics" / "sample"


def lake_files(root: Path) -> list[Path]:
    """Every file the generator wrote below ``root`` (data, answer keys, generation.json), sorted."""
    found = [p for top in ("aws", "ext") if (root / top).exists() for p in (root / top).rglob("*.parquet")]
    found += sorted((root / "answers").glob("*.json")) if (root / "answers").exists() else []
    if (root / "generation.json").exists():
        found.append(root / "generation.json")
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def manifest_lines(root: Path) -> list[str]:
    """``<sha256>  <relative path>`` lines for every file of the lake below ``root``."""
    return [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(root).as_posix()}" for p in lake_files(root)]


def committed_manifest() -> tuple[str, list[str]]:
    """``(pyarrow version the manifest was made with, manifest lines)`` of the committed manifest."""
    text = resources.files(__package__).joinpath(MANIFEST_NAME).read_text()
    header = [ln for ln in text.splitlines() if ln.startswith("#")]
    version = next((ln.split("pyarrow", 1)[1].strip() for ln in header if "pyarrow" in ln), "")
    return version, [ln for ln in text.splitlines() if ln and not ln.startswith("#")]


def write_manifest(root: Path) -> Path:
    """Write the manifest of the lake at ``root`` next to this module (a developer command)."""
    target = Path(__file__).with_name(MANIFEST_NAME)
    header = [f"# bundled sample lake: seed {SEED}, {DAYS} days, scale {SCALE}; written with pyarrow {pyarrow.__version__}"]
    target.write_text("\n".join(header + manifest_lines(root)) + "\n")
    return target


def verify(root: Path) -> list[str]:
    """Check the lake at ``root`` against the committed manifest.

    Returns the list of problems (empty when every file matches byte for byte).  When the
    installed pyarrow differs from the one that made the manifest, Parquet bytes may differ
    legitimately (the writer's version is stored in each file); then only the answer keys,
    ``generation.json`` and the set of file names are compared, with a warning saying so.
    """
    version, expected = committed_manifest()
    actual = manifest_lines(root)
    exp = {path: digest for digest, path in (ln.split("  ", 1) for ln in expected)}
    act = {path: digest for digest, path in (ln.split("  ", 1) for ln in actual)}
    problems = [f"missing: {p}" for p in sorted(set(exp) - set(act))]
    problems += [f"unexpected: {p}" for p in sorted(set(act) - set(exp))]
    same_writer = version == pyarrow.__version__
    if not same_writer:
        warnings.warn(f"The sample manifest was made with pyarrow {version}, this is {pyarrow.__version__}: "
                      "Parquet bytes are not compared, only file names, answer keys and generation.json.", stacklevel=2)
    for path in sorted(set(exp) & set(act)):
        if exp[path] != act[path] and (same_writer or not path.endswith(".parquet")):
            problems.append(f"changed: {path}")
    return problems


def ensure_sample_lake(*, check: bool = True, progress: bool = True) -> Path:
    """Return the root of the bundled lake, generating it first if it is not there.

    Generation writes into a temporary sibling folder and moves it into place, so an
    interrupted run never leaves half a lake.  With ``check`` the lake is verified against
    the committed manifest; a mismatch raises :class:`SampleDataError` saying how to rebuild.
    """
    root = sample_root()
    if not (root / "generation.json").exists():
        from slake_forensics.sample.generate import generate

        root.mkdir(parents=True, exist_ok=True)
        print(f"Generating the bundled sample lake in {root} (seed {SEED}, {DAYS} days); this runs once.", file=sys.stderr)
        tmp = Path(tempfile.mkdtemp(prefix=".generating-", dir=root))
        try:
            generate(tmp, SEED, DAYS, scale=SCALE, progress=progress)
            for child in ("aws", "ext", "answers", "generation.json"):
                if (root / child).exists():
                    shutil.rmtree(root / child) if (root / child).is_dir() else (root / child).unlink()
                (tmp / child).rename(root / child)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if check:
        problems = verify(root)
        if problems:
            shown = "\n  ".join(problems[:10])
            raise SampleDataError(
                f"The sample lake in {root} does not match its manifest ({len(problems)} problem(s)):\n  {shown}\n"
                f"Delete {root / 'aws'}, {root / 'ext'}, {root / 'answers'} and {root / 'generation.json'} and run "
                "`python -m slake_forensics sample --bundled` to rebuild it."
            )
    return root


def sample_now(root: Path) -> pd.Timestamp:
    """End of the lake's data: the latest ``time`` in any file footer, as a UTC Timestamp."""
    latest = 0
    for path in (root / "aws").rglob("*.parquet"):
        meta = pq.ParquetFile(path).metadata
        leaves = [meta.schema.column(i).path for i in range(meta.num_columns)]
        if "time" not in leaves:
            continue
        idx = leaves.index("time")  # leaf index: nested columns before ``time`` have several leaves
        for rg in range(meta.num_row_groups):
            stats = meta.row_group(rg).column(idx).statistics
            if stats is not None and stats.has_min_max:
                latest = max(latest, int(stats.max))
    return pd.Timestamp(latest, unit="ms", tz="UTC")
