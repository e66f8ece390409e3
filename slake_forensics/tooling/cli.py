"""Command line: ``python -m slake_forensics <command>`` (``--help`` after a command for its options).

The commands (each one a function of this module): ``sample`` (a sample lake, or the bundled one),
``verify-sample``, ``run-notebooks``, ``training-lakes``, ``import``, ``training-import`` and
``report`` (the lessons-learned report of a case, as HTML and Markdown).  Every option is checked
before anything runs: a wrong value stops with exit code 2 and a message saying what to pass.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from slake_forensics.core.errors import SlakeError
from slake_forensics.core.version import __version__

DESCRIPTION = "slake-forensics: incident response on Amazon Security Lake (OCSF Parquet)."
EPILOG = "Run 'python -m slake_forensics COMMAND --help' for a command's options and their defaults."
REGION_COUNT = 5  # regions the sample generator can draw (slake_forensics.sample.org.REGION_POOL)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` after an option's help, except for flags and options without a default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, []) or isinstance(action, argparse._VersionAction):
            return action.help
        return super()._get_help_string(action)


def _int_range(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer in ``[low, high]``, else an error saying what to pass."""
    wanted = f"an integer from {low} to {high}" if high is not None else f"an integer of at least {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; pass {wanted}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is out of range; pass {wanted}")
        return value

    parse.__name__ = "integer"
    return parse


def _positive_float(text: str) -> float:
    """An argparse ``type``: a number greater than zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; pass a number greater than 0, e.g. 1 or 0.5") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is out of range; pass a number greater than 0, e.g. 1 or 0.5")
    return value


_positive_float.__name__ = "number"


def _account_id(text: str) -> str:
    """An argparse ``type``: a 12-digit AWS account id."""
    if not (len(text) == 12 and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not an AWS account id; pass 12 digits, e.g. 123456789012")
    return text


def _region(text: str) -> str:
    """An argparse ``type``: an AWS region name such as ``us-east-1``."""
    parts = text.split("-")
    if len(parts) < 3 or not parts[-1].isdigit() or not all(p.isalpha() and p.islower() for p in parts[:-1]):
        raise argparse.ArgumentTypeError(f"{text!r} is not an AWS region; pass a region name, e.g. us-east-1")
    return text


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


def _report(args: argparse.Namespace) -> int:
    from slake_forensics.case import Case
    from slake_forensics.workflows.metrics import incident_metrics
    from slake_forensics.workflows.rendering import render_report

    folder: Path = args.case
    if not (folder / "case.json").is_file():
        print(f"error: {folder} is not a case folder (no case.json); pass the folder a notebook or sf.Case.open "
              "wrote, e.g. notebooks/cases/<finding id>", file=sys.stderr)
        return 2
    case = Case.open(folder)
    paths = render_report(case, incident_metrics(case), out_dir=args.out)
    for kind, path in paths.items():
        print(f"wrote {kind:<8} {path}")
    return 0


def _add_import_args(p: argparse.ArgumentParser) -> None:
    from slake_forensics.importers.kinds import KINDS

    p.add_argument("kind", choices=sorted(KINDS), help="kind of log")
    p.add_argument("paths", nargs="+", type=Path, help="files or folders (e.g. an AWSLogs/ tree); never modified")
    p.add_argument("--name", help="custom source name (ext/<name>) for kinds that write one")
    p.add_argument("--account", type=_account_id, help="12-digit account id for records that carry none")
    p.add_argument("--region", type=_region, help="region for records that carry none, e.g. us-east-1")
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
    """The argument parser of ``python -m slake_forensics``.

    Returns
    -------
    argparse.ArgumentParser
        One sub-command per task, each option validated and its default shown in ``--help``.

    Examples
    --------
    >>> from slake_forensics.tooling.cli import build_parser
    >>> args = build_parser().parse_args(["sample", "--out", "lake", "--regions", "3"])
    >>> args.command, args.regions, args.accounts
    ('sample', 3, 5)
    """
    fmt = _HelpFormatter
    parser = argparse.ArgumentParser(prog="python -m slake_forensics", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=fmt)
    parser.add_argument("--version", action="version", version=f"slake-forensics {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".", formatter_class=fmt)

    p = command("sample", "generate a sample Security Lake (--out DIR), or the bundled one (--bundled)")
    p.add_argument("--out", type=Path, help="folder to write the lake into (must be empty or new)")
    p.add_argument("--seed", type=int, default=1, help="random seed; the same seed gives byte-identical files")
    p.add_argument("--days", type=_int_range(3), default=14, help="days of data (at least 3)")
    p.add_argument("--scale", type=_positive_float, default=1.0,
                   help="background volume multiplier (> 0; benchmarks use 10-20)")
    p.add_argument("--accounts", type=_int_range(4), default=5, help="number of AWS accounts (at least 4)")
    p.add_argument("--regions", type=_int_range(1, REGION_COUNT), default=2,
                   help=f"number of regions (1-{REGION_COUNT})")
    p.add_argument("--bundled", action="store_true", help="generate (if needed) and verify the bundled sample lake")
    p.add_argument("--write-manifest", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_sample)
    v = command("verify-sample", "check the bundled lake against its committed manifest")
    v.set_defaults(func=_verify)
    r = command("run-notebooks", "execute the notebooks headless into executed .ipynb and HTML")
    r.add_argument("--out", type=Path, default=Path("out"), help="output folder")
    r.add_argument("--notebooks", type=Path, default=Path("notebooks"), help="folder of notebooks")
    r.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="override a parameters-cell variable, e.g. -p LAKE /data/lake -p FINDING_ID arn:... "
                        "(VALUE is read as JSON when it parses: null, 3, [\"a\"]; else as text)")
    r.add_argument("--only", nargs="+", metavar="GLOB",
                   help="run only notebooks whose relative path matches, e.g. '0[2-4]_*' (default: all)")
    r.set_defaults(func=_run_notebooks)
    t = command("training-lakes", "generate one exercise lake per trainee and print the roster")
    t.add_argument("--out", type=Path, required=True, help="folder for trainee-NN/ lakes and roster.csv")
    t.add_argument("--trainees", type=_int_range(1), required=True, help="number of trainees (one lake each)")
    t.add_argument("--seed", type=int, default=1, help="instructor seed; each trainee's seed is drawn from it")
    t.add_argument("--days", type=_int_range(3), default=14, help="days of data per lake (at least 3)")
    t.add_argument("--scale", type=_positive_float, default=1.0, help="background volume multiplier (> 0)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_training_lakes)
    i = command("import", "import raw logs into a lake folder (exit 3 when records were rejected)")
    _add_import_args(i)
    i.add_argument("--out", type=Path, required=True, help="lake folder to write into (created if missing)")
    i.set_defaults(func=_import)
    ti = command("training-import", "import captures into a copy of a background lake for an exercise")
    _add_import_args(ti)
    ti.add_argument("--out", type=Path, required=True, help="new folder for the exercise lake (must not exist)")
    ti.add_argument("--background", type=Path, help="background lake to copy (default: the bundled sample lake)")
    ti.set_defaults(func=_training_import)
    rp = command("report", "write a case's lessons-learned report (HTML and Markdown) and print where")
    rp.add_argument("case", type=Path, metavar="CASE", help="the case folder (the one holding case.json)")
    rp.add_argument("--out", type=Path, help="folder for the report (default: CASE/reports)")
    rp.set_defaults(func=_report)

    x = command("index", "build or update the entity index of a local or S3 lake (pivots then read fewer files)")
    x.add_argument("lake", help="a lake folder or s3://bucket[/prefix]")
    x.add_argument("--index-dir", type=Path, help="folder of the indexes (default: $SLAKE_INDEX_DIR or ~/.cache/slake-forensics/index)")
    x.add_argument("--quiet", action="store_true", help="no progress bar")
    x.set_defaults(func=_index)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code: 0 done, 2 wrong input (argparse's code too), 3 records rejected by an import.

    Examples
    --------
    >>> from slake_forensics.tooling.cli import main
    >>> main(["verify-sample"])  # doctest: +ELLIPSIS
    OK: the bundled lake matches its manifest
    0
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (SlakeError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
