"""Command line: ``python -m slake_forensics <command>``.

Commands
  sample          generate a sample lake (``--out DIR --seed N --days D [--scale X]``) or the bundled one (``--bundled``)
  verify-sample   check the bundled lake against its committed manifest
  run-notebooks   execute the notebooks headless into ``--out`` (executed .ipynb and HTML; ``-p NAME VALUE``, ``--only GLOB``)
  training-lakes  one fresh lake per trainee (``--out DIR --trainees N --seed S [--days D --scale X]``) and a roster
  import          import raw logs (``KIND PATH... --out LAKE [--name N --account A --region R]``); exit 3 on rejects
  training-import import attack-simulation captures into a copy of a background lake (``KIND PATH... --out DIR``)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from slake_forensics.core.errors import SlakeError


def _sample(args: argparse.Namespace) -> int:
    from slake_forensics.sample import bundled
    from slake_forensics.sample.generate import generate

    if args.bundled:
        root = bundled.ensure_sample_lake(check=not args.write_manifest, progress=not args.quiet)
        if args.write_manifest:
            print(f"wrote {bundled.write_manifest(root)}")
        print(f"bundled sample lake ready at {root}")
        return 0
    if args.out is None:
        print("error: give --out DIR (or --bundled for the bundled lake)", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    s = generate(args.out, args.seed, args.days, scale=args.scale, accounts=args.accounts, regions=args.regions,
                 progress=not args.quiet)
    secs = time.perf_counter() - t0
    for name, n in s.rows.items():
        print(f"  {name:<18} {n:>12,} rows")
    print(f"wrote {s.total_rows:,} events in {s.files} files to {s.out} in {secs:.1f} s "
          f"({s.total_rows / secs:,.0f} events/s)")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from slake_forensics.sample import bundled

    problems = bundled.verify(bundled.sample_root())
    for p in problems:
        print(p)
    print("OK: the bundled lake matches its manifest" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def _run_notebooks(args: argparse.Namespace) -> int:
    from slake_forensics.tooling.notebook_runner import run_notebooks

    params = dict(_parameter(p) for p in args.parameter)
    results = run_notebooks(args.notebooks, args.out, parameters=params, only=args.only)
    if not results:
        print(f"error: no notebook below {args.notebooks} matches {args.only}", file=sys.stderr)
        return 2
    print(f"executed {len(results)} notebook(s) into {args.out} in {sum(s for _, s in results):.1f} s")
    return 0


def _parameter(pair: list[str]) -> tuple[str, object]:
    """``NAME VALUE`` from the command line: VALUE as JSON when it parses (numbers, null, lists), else a string."""
    name, text = pair
    try:
        return name, json.loads(text)
    except ValueError:
        return name, text


def _training_lakes(args: argparse.Namespace) -> int:
    from slake_forensics.workflows.training import make_training_lakes

    roster = make_training_lakes(args.out, args.trainees, args.seed, days=args.days, scale=args.scale,
                                 progress=not args.quiet)
    print(roster.to_string(index=False))
    print(f"wrote {len(roster)} lake(s) and {args.out / 'roster.csv'}; answer keys stay in each lake's answers/")
    return 0


def _import_options(args: argparse.Namespace) -> dict[str, str]:
    return {k: v for k, v in (("name", args.name), ("account", args.account), ("region", args.region)) if v}


def _print_import(summary: object, out: Path) -> int:
    for line in summary.lines():  # type: ignore[attr-defined]
        print(line)
    if summary.rejected:  # type: ignore[attr-defined]
        print(f"{summary.rejected:,} record(s) rejected: see {out / 'import_rejects.jsonl'}")  # type: ignore[attr-defined]
        return 3
    return 0


def _import(args: argparse.Namespace) -> int:
    from slake_forensics.importers.pipeline import import_logs

    summary = import_logs(args.kind, args.paths, args.out, options=_import_options(args), progress=not args.quiet)
    return _print_import(summary, args.out)


def _training_import(args: argparse.Namespace) -> int:
    from slake_forensics.importers.pipeline import copy_lake, import_logs
    from slake_forensics.sample import bundled

    background = args.background or bundled.ensure_sample_lake(progress=not args.quiet)
    n = copy_lake(background, args.out)
    print(f"copied {n} background file(s) from {background} to {args.out}")
    summary = import_logs(args.kind, args.paths, args.out, options=_import_options(args), progress=not args.quiet)
    return _print_import(summary, args.out)


def _add_import_args(p: argparse.ArgumentParser) -> None:
    from slake_forensics.importers.kinds import KINDS

    p.add_argument("kind", choices=sorted(KINDS), help="kind of log")
    p.add_argument("paths", nargs="+", type=Path, help="files or folders (e.g. an AWSLogs/ tree); never modified")
    p.add_argument("--name", help="custom source name (ext/<name>) for kinds that write one")
    p.add_argument("--account", help="account id for records that carry none")
    p.add_argument("--region", help="region for records that carry none")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _index(args: argparse.Namespace) -> int:
    from slake_forensics.lake import Lake

    lake = Lake.open(args.lake)
    index = lake.build_index(index_dir=args.index_dir, progress=not args.quiet)
    figures = index.last_update
    print(f"entity index of {lake.location} at {index.path}: {figures['files']} file(s), {figures['indexed']} read now, "
          f"{figures['dropped']} dropped; {index.size_bytes():,} bytes")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m slake_forensics``."""
    parser = argparse.ArgumentParser(prog="python -m slake_forensics", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sample", help="generate a sample Security Lake")
    p.add_argument("--out", type=Path, help="folder to write the lake into (must be empty or new)")
    p.add_argument("--seed", type=int, default=1, help="random seed; the same seed gives byte-identical files")
    p.add_argument("--days", type=int, default=14, help="days of data (>= 3)")
    p.add_argument("--scale", type=float, default=1.0, help="background volume multiplier (benchmarks use 10-20)")
    p.add_argument("--accounts", type=int, default=5, help="number of AWS accounts (>= 4)")
    p.add_argument("--regions", type=int, default=2, help="number of regions (1-5)")
    p.add_argument("--bundled", action="store_true", help="generate (if needed) and verify the bundled sample lake")
    p.add_argument("--write-manifest", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_sample)
    v = sub.add_parser("verify-sample", help="check the bundled lake against its manifest")
    v.set_defaults(func=_verify)
    r = sub.add_parser("run-notebooks", help="execute the notebooks headless into executed .ipynb and HTML")
    r.add_argument("--out", type=Path, default=Path("out"), help="output folder (default out/)")
    r.add_argument("--notebooks", type=Path, default=Path("notebooks"), help="folder of notebooks (default notebooks/)")
    r.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="override a parameters-cell variable, e.g. -p LAKE /data/lake -p FINDING_ID arn:… "
                        "(VALUE is read as JSON when it parses: null, 3, [\"a\"]; else as text)")
    r.add_argument("--only", nargs="+", metavar="GLOB", help="run only notebooks whose relative path matches, e.g. '0[2-4]_*'")
    r.set_defaults(func=_run_notebooks)
    t = sub.add_parser("training-lakes", help="generate one exercise lake per trainee and print the roster")
    t.add_argument("--out", type=Path, required=True, help="folder for trainee-NN/ lakes and roster.csv")
    t.add_argument("--trainees", type=int, required=True, help="number of trainees (one lake each)")
    t.add_argument("--seed", type=int, default=1, help="instructor seed; each trainee's seed is drawn from it")
    t.add_argument("--days", type=int, default=14, help="days of data per lake (>= 3)")
    t.add_argument("--scale", type=float, default=1.0, help="background volume multiplier")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_training_lakes)
    i = sub.add_parser("import", help="import raw logs into a lake folder (exit 3 when records were rejected)")
    _add_import_args(i)
    i.add_argument("--out", type=Path, required=True, help="lake folder to write into (created if missing)")
    i.set_defaults(func=_import)
    ti = sub.add_parser("training-import", help="import captures into a copy of a background lake for an exercise")
    _add_import_args(ti)
    ti.add_argument("--out", type=Path, required=True, help="new folder for the exercise lake (must not exist)")
    ti.add_argument("--background", type=Path, help="background lake to copy (default: the bundled sample lake)")
    ti.set_defaults(func=_training_import)
    x = sub.add_parser("index", help="build or update the entity index of a local or S3 lake (pivots then read fewer files)")
    x.add_argument("lake", help="a lake folder or s3://bucket[/prefix]")
    x.add_argument("--index-dir", type=Path, help="folder of the indexes (default $SLAKE_INDEX_DIR or ~/.cache/slake-forensics/index)")
    x.add_argument("--quiet", action="store_true", help="no progress bar")
    x.set_defaults(func=_index)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (SlakeError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
