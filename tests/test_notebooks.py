"""Every curated notebook, executed headless on a freshly generated lake (a seed other than the
bundled lake's), with its key results checked against that lake's answer key.

The stage notebooks 02 → 03 → 04 run once per story, each story's finding chosen from the triage
list by its type (the answer key is read only by the assertions).  CI also executes every
notebook on the bundled lake through nbval (``--nbval-lax notebooks/``).
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from slake_forensics import Case, Lake, findings
from slake_forensics.tooling.notebook_runner import inject_parameters, notebooks_below, run_notebooks
from slake_forensics.workflows.metrics import incident_metrics
from slake_forensics.sample.generate import generate

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
STORY_FINDING = {"s3_data_access": "Exfiltration:S3", "ec2_cryptomining": "CryptoCurrency:EC2"}
TIMES = ("first_malicious", "last_malicious", "detection", "containment")


@pytest.fixture(scope="module")
def fresh_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fresh_lake")
    generate(root, seed=31, days=14, progress=False)
    return root


def executed_errors(path: Path) -> list[str]:
    """Error outputs of an executed notebook, as ``"cell N: Name: value"``."""
    nb = nbformat.read(path, as_version=4)
    return [f"cell {i}: {o.ename}: {o.evalue}" for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.get("outputs", []) if o.output_type == "error"]


def outputs_text(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    parts = []
    for c in nb.cells:
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            parts.append(o.get("text", "") if o.output_type == "stream" else o.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


#: Pictures each stage notebook must show at least (image/png outputs); besides, every cell that calls a
#: ``plot_*`` function must show a picture (see :func:`missing_images`).
EXPECTED_IMAGES = {"02_detection_analysis.ipynb": 3, "03_containment_eradication_recovery.ipynb": 1,
                   "04_post_incident.ipynb": 1}
PLOT_CALL = re.compile(r"\bplot_\w+\(")


def missing_images(path: Path) -> tuple[list[int], int]:
    """Cells of an executed notebook that call a ``plot_*`` function but show no image, and the images shown."""
    nb = nbformat.read(path, as_version=4)
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    images = {i: sum("image/png" in o.get("data", {}) for o in c.get("outputs", [])) for i, c in code}
    missing = [i for i, c in code if PLOT_CALL.search(c.source) and not images[i]]
    return missing, sum(images.values())


def test_missing_images_finds_a_plot_cell_without_a_picture(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    shown = nbformat.v4.new_code_cell("display(sf.plot_timeline(tl))")
    shown.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})]
    lost = nbformat.v4.new_code_cell("sf.plot_timeline(tl)\nplt.show()")
    lost.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": "<Figure size 1200x400 with 1 Axes>"})]
    nb.cells = [shown, nbformat.v4.new_code_cell("x = 1"), lost]
    nbformat.write(nb, tmp_path / "nb.ipynb")
    assert missing_images(tmp_path / "nb.ipynb") == ([2], 1)


def test_every_notebook_is_stripped_and_has_a_parameters_cell() -> None:
    paths = notebooks_below(NOTEBOOKS)
    assert {p.name for p in paths} >= {"00_start_here.ipynb", "01_preparation.ipynb", "02_detection_analysis.ipynb",
                                        "03_containment_eradication_recovery.ipynb", "04_post_incident.ipynb", "exercise.ipynb"}
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), f"{path.name} is committed with outputs"
        params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1 and "LAKE = None" in params[0].source, path.name
        intro = nb.cells[0].source.lower() if nb.cells[0].cell_type == "markdown" else ""
        assert all(words in intro for words in ("what it is for", "data it needs", "**time:**")), \
            f"{path.name} must open with what it is for, the data it needs and how long it takes"


def test_injected_parameters_follow_the_parameters_cell_and_refuse_code_names() -> None:
    nb = nbformat.read(NOTEBOOKS / "02_detection_analysis.ipynb", as_version=4)
    inject_parameters(nb, {"LAKE": "/tmp/x'; import os", "FINDING_ID": None})
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nb.cells[at + 1]
    assert injected.metadata["tags"] == ["injected-parameters"]
    assert "LAKE = \"/tmp/x'; import os\"" in injected.source and "FINDING_ID = None" in injected.source
    with pytest.raises(ValueError, match="identifiers"):
        inject_parameters(nb, {"X; import os": 1})


def test_all_notebooks_run_on_a_fresh_lake_and_find_the_stories(fresh_lake: Path, tmp_path: Path) -> None:
    gen = json.loads((fresh_lake / "generation.json").read_text())
    triage = findings(Lake.local(str(fresh_lake)), gen["start"], gen["end"])
    times: dict[str, float] = {}

    # 00, 01 and the training exercise: they run on the lake and its answer key
    general = run_notebooks(NOTEBOOKS, tmp_path / "general", parameters={"LAKE": str(fresh_lake)},
                            only=["00_*", "01_*", "training/*"])
    times.update({p.name: s for p, s in general})
    for p, _ in general:
        assert executed_errors(tmp_path / "general" / p.relative_to(NOTEBOOKS)) == []
        assert missing_images(tmp_path / "general" / p.relative_to(NOTEBOOKS))[0] == [], p.name

    for story, pattern in STORY_FINDING.items():
        key = json.loads((fresh_lake / "answers" / f"{story}.json").read_text())
        finding = triage[triage["type"].str.contains(pattern, regex=False)].iloc[0]["finding_uid"]
        case_dir, out = tmp_path / f"case-{story}", tmp_path / story
        ran = run_notebooks(NOTEBOOKS, out, parameters={"LAKE": str(fresh_lake), "FINDING_ID": finding, "CASE": str(case_dir)},
                            only=["0[2-4]_*"])
        times.update({f"{p.name} ({story})": s for p, s in ran})
        for p, _ in ran:
            assert executed_errors(out / p.name) == [], p.name
            missing, images = missing_images(out / p.name)
            assert missing == [], f"{p.name}: cells {missing} call a plot function but show no picture"
            assert images >= EXPECTED_IMAGES[p.name], f"{p.name} shows {images} picture(s)"

        # 02: the story found and bookmarked; the case's metrics are the answer key's
        case = Case.open(case_dir)
        metrics = incident_metrics(case)
        for name in TIMES:
            assert metrics[name] == pd.Timestamp(key[name]), (story, name)
        assert metrics["dwell_time"] == pd.Timestamp(key["detection"]) - pd.Timestamp(key["first_malicious"])
        assert {ip for ip in key["ips"]} <= set(case.iocs["value"]), story
        assert "incident_events" in set(case.exports["name"])
        text02 = outputs_text(out / "02_detection_analysis.ipynb")
        for ip in key["ips"]:
            assert ip in text02, f"02 does not show attacker IP {ip}"

        # 03: a plan for the story's identities, not executed, and containment holding afterwards
        text03 = outputs_text(out / "03_containment_eradication_recovery.ipynb")
        assert "Not executed (EXECUTE = False)" in text03
        assert "aws " in text03 and "--confirm" in text03
        for must in (key["access_keys"][:1] if story == "s3_data_access" else key["instances"]):
            assert must in text03, f"the containment plan does not name {must}"
        assert "Containment holds" in text03

        # 04: the report states the answer key's times
        report = (case_dir / "reports" / "lessons_learned.md").read_text()
        for name in ("first_malicious", "detection", "containment"):
            assert pd.Timestamp(key[name]).strftime("%Y-%m-%d %H:%M:%S UTC") in report, (story, name)
        assert (case_dir / "reports" / "lessons_learned.html").stat().st_size > 10_000
    print("notebook seconds (timing targets are checked by bench/, not here):", {k: round(v, 1) for k, v in times.items()})


def test_a_notebook_finds_slake_toml_in_a_parent_and_says_so_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from slake_forensics.core.config import lake_reason, read_config

    repo, lake_dir = tmp_path / "repo", tmp_path / "lake"
    (repo / ".git").mkdir(parents=True)
    (repo / "notebooks").mkdir()
    lake_dir.mkdir()
    (repo / "slake.toml").write_text(f'lake = "{lake_dir}"\n')
    cfg = read_config({}, cwd=repo / "notebooks", home=tmp_path)
    assert (cfg.kind, cfg.target) == ("local", str(lake_dir))
    assert lake_reason(cfg) == f"lake = {lake_dir} from {repo / 'slake.toml'}"
    (repo / "slake.toml").unlink()
    monkeypatch.chdir(repo / "notebooks")
    for name in ("SLAKE_LAKE", "SLAKE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Lake.open(None) does not warn: the notebook prints opened_because
        lake = Lake.open(None)
    assert lake.opened_because.startswith(f"no slake.toml found in {repo / 'notebooks'}, {repo} (")
    assert lake.opened_because.endswith("using the bundled sample lake")


def test_the_finding_chosen_in_02_is_what_03_and_04_analyse(tmp_path: Path) -> None:
    """02 follows the S3 finding (not the default, the cryptomining one); 03 and 04, given only the case, continue with it."""
    lake = Lake.sample()
    triage = findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
    default, s3 = triage.iloc[0], triage[triage["type"].str.startswith("Exfiltration:S3")].iloc[0]
    assert default["finding_uid"] != s3["finding_uid"]
    case_dir = tmp_path / "case"
    run_notebooks(NOTEBOOKS, tmp_path, parameters={"LAKE": lake.location, "FINDING_ID": s3["finding_uid"], "CASE": str(case_dir)},
                  only=["02_*"])
    assert Case.open(case_dir).focus["finding_id"] == s3["finding_uid"]
    run_notebooks(NOTEBOOKS, tmp_path, parameters={"LAKE": lake.location, "CASE": str(case_dir)}, only=["03_*", "04_*"])
    for name in ("03_containment_eradication_recovery.ipynb", "04_post_incident.ipynb"):
        assert executed_errors(tmp_path / name) == [], name
        text = outputs_text(tmp_path / name)
        assert f"Finding {s3['type']} ({s3['finding_uid']})" in text, name
        assert default["finding_uid"] not in text, name
    assert s3["access_keys"][0] in outputs_text(tmp_path / "03_containment_eradication_recovery.ipynb")
