"""The command line: help, --version, option validation and the report command."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from slake_forensics import Case
from slake_forensics.core.version import __version__
from slake_forensics.sample.org import REGION_POOL
from slake_forensics.tooling import cli

COMMANDS = ("sample", "verify-sample", "run-notebooks", "training-lakes", "import", "training-import", "report")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``main(argv)``'s exit code (argparse's SystemExit included), stdout and stderr."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_each_command_once_without_rest_markup(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "``" not in out and ":func:" not in out and ":mod:" not in out
    for name in COMMANDS:
        listed = [line for line in out.splitlines() if re.match(rf"^    {re.escape(name)}(\s|$)", line)]
        assert len(listed) == 1, (name, out)


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_help_is_clean_and_shows_defaults(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, out, _ = run(capsys, name, "--help")
    assert code == 0 and "``" not in out and "(default: None)" not in out and "(default: False)" not in out
    if name == "sample":
        assert "(default: 14)" in out and "(default: 5)" in out and "(default: 2)" in out
    if name == "run-notebooks":
        assert "(default: out)" in out and "(default: notebooks)" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"slake-forensics {__version__}"


@pytest.mark.parametrize(("argv", "message"), [
    (["sample", "--out", "x", "--regions", "99"], "pass an integer from 1 to 5"),
    (["sample", "--out", "x", "--regions", "0"], "pass an integer from 1 to 5"),
    (["sample", "--out", "x", "--accounts", "2"], "pass an integer of at least 4"),
    (["sample", "--out", "x", "--days", "2"], "pass an integer of at least 3"),
    (["sample", "--out", "x", "--days", "two"], "'two' is not a whole number"),
    (["sample", "--out", "x", "--scale", "0"], "pass a number greater than 0"),
    (["sample", "--out", "x", "--scale", "nan"], "pass a number greater than 0"),
    (["training-lakes", "--out", "x", "--trainees", "0"], "pass an integer of at least 1"),
    (["import", "cloudtrail", "x.json", "--out", "l", "--account", "12"], "pass 12 digits"),
    (["import", "cloudtrail", "x.json", "--out", "l", "--region", "mars"], "pass a region name, e.g. us-east-1"),
])
def test_bad_options_stop_with_what_to_pass(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                            argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists() and not (tmp_path / "l").exists()


def test_region_bound_matches_the_generator() -> None:
    assert cli.REGION_COUNT == len(REGION_POOL)


def test_valid_options_parse() -> None:
    args = cli.build_parser().parse_args(["import", "cloudtrail", "a.json", "--out", "l", "--account",
                                          "123456789012", "--region", "eu-west-1"])
    assert (args.account, args.region, args.out) == ("123456789012", "eu-west-1", Path("l"))


def test_report_writes_html_and_markdown_and_says_where(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    case = Case.open(tmp_path / "case", analyst="tester", title="Leaked key")
    case.bookmark("ev-1", "cloud_trail_mgmt", tags=["malicious"], time="2026-03-04T01:00Z")
    case.bookmark("f-1", "sh_findings", tags=["detection"], time="2026-03-04T03:00Z")
    code, out, err = run(capsys, "report", str(case.path))
    assert code == 0, err
    reports = case.path / "reports"
    assert f"{reports / 'lessons_learned.html'}" in out and f"{reports / 'lessons_learned.md'}" in out
    assert "Leaked key" in (reports / "lessons_learned.md").read_text(encoding="utf-8")
    assert (reports / "lessons_learned.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_report_to_another_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    case = Case.open(tmp_path / "case", analyst="tester", title="Leaked key")
    code, out, _ = run(capsys, "report", str(case.path), "--out", str(tmp_path / "r"))
    assert code == 0 and (tmp_path / "r" / "lessons_learned.md").is_file() and str(tmp_path / "r") in out


def test_report_on_a_folder_that_is_no_case(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "report", str(tmp_path / "nothing"))
    assert code == 2 and "not a case folder" in err and "Traceback" not in err
    assert not (tmp_path / "nothing").exists()  # the command never creates a case


def test_module_entry_point() -> None:
    done = subprocess.run([sys.executable, "-m", "slake_forensics", "--version"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0 and done.stdout.strip() == f"slake-forensics {__version__}"


def _tasks_module() -> object:
    """``tasks.py`` at the repository root, imported as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tasks", Path(__file__).resolve().parents[1] / "tasks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tasks_lab_passes_extra_arguments_to_jupyterlab(monkeypatch: pytest.MonkeyPatch) -> None:
    tasks = _tasks_module()
    commands: list[tuple[str, ...]] = []
    monkeypatch.setattr(tasks, "setup", lambda: None)
    monkeypatch.setattr(tasks, "run", lambda *cmd: commands.append(tuple(map(str, cmd))))
    tasks.main(["lab", "--port", "8890", "--ip", "0.0.0.0"])  # type: ignore[attr-defined]
    assert len(commands) == 1 and commands[0][1:4] == ("-m", "jupyter", "lab")
    assert commands[0][-4:] == ("--port", "8890", "--ip", "0.0.0.0")


def test_tasks_setup_says_what_it_is_doing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    tasks = _tasks_module()
    commands: list[tuple[str, ...]] = []
    monkeypatch.setattr(tasks, "PY", tmp_path / "missing" / "python")
    monkeypatch.setattr(tasks.venv.EnvBuilder, "create", lambda self, path: None)  # type: ignore[attr-defined]
    monkeypatch.setattr(tasks, "run", lambda *cmd: commands.append(tuple(map(str, cmd))))
    tasks.setup()  # type: ignore[attr-defined]
    out = capsys.readouterr().out
    for words in ("creating the virtual environment", "installing slake-forensics", "sample lake", "set-up done"):
        assert words in out
    assert out.index("creating") < out.index("installing") < out.index("sample lake")
    assert any("--bundled" in c for c in commands) and not any("--quiet" in c for c in commands if "--bundled" in c)
