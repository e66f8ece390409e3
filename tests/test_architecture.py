"""The package's layers (docs/architecture.md): imports go one way, no cycles, and a light import."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _layers() -> list[set[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return [{m.strip() for m in layer.split("|")} for layer in contract["layers"]]


def _illegal(graph: grimp.ImportGraph) -> set:
    layers = [grimp.Layer(*sorted(layer), independent=True) for layer in _layers()]
    return graph.find_illegal_dependencies_for_layers(layers=layers, containers=set())


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("slake_forensics")


def test_import_linter_contracts_pass() -> None:
    out = subprocess.run([str(Path(sys.executable).with_name("lint-imports"))], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_layers_have_no_illegal_dependency(graph: grimp.ImportGraph) -> None:
    assert _illegal(graph) == set()


def test_an_upward_import_breaks_the_contract() -> None:
    broken = grimp.build_graph("slake_forensics")
    broken.add_import(importer="slake_forensics.core.catalog", imported="slake_forensics.analysis.pivot")
    illegal = _illegal(broken)
    assert {(d.importer, d.imported) for d in illegal} == {("slake_forensics.core", "slake_forensics.analysis")}


def test_no_module_imports_the_package_root(graph: grimp.ImportGraph) -> None:
    importers = graph.find_modules_that_directly_import("slake_forensics")
    assert importers == set(), f"import from the module that defines the name instead: {sorted(importers)}"


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    """Tarjan's strongly connected components over the module graph: every component is one module."""
    modules = sorted(graph.modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))

    def visit(m: str) -> None:
        index[m] = low[m] = counter[0]
        counter[0] += 1
        stack.append(m)
        on_stack.add(m)
        for n in graph.find_modules_directly_imported_by(m):
            if n not in index:
                visit(n)
                low[m] = min(low[m], low[n])
            elif n in on_stack:
                low[m] = min(low[m], index[n])
        if low[m] == index[m]:
            comp = []
            while True:
                n = stack.pop()
                on_stack.discard(n)
                comp.append(n)
                if n == m:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for m in modules:
        if m not in index:
            visit(m)
    assert cycles == []


def test_importing_the_package_loads_no_plotting_or_widgets() -> None:
    code = "import sys, slake_forensics; print(sorted(m for m in ('matplotlib', 'ipywidgets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert not {m for m in imported if m.split(".")[0] in {"matplotlib", "ipywidgets"}}
