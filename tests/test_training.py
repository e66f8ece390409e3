"""The exercise checker: right answers pass, wrong ones fail with hints that do not leak the
answer, times within tolerance pass, and the instructor command writes one lake per trainee."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from slake_forensics.tooling import cli
from slake_forensics.workflows import training
from slake_forensics.analysis.hunts import STAGES
from slake_forensics.workflows.training import QUESTIONS, RULES, Exercise, TrainingError

S3_KEY = {
    "story": "s3_data_access", "title": "t", "summary": "s", "accounts": ["111122223333"], "regions": ["us-east-1"],
    "principals": ["arn:aws:iam::111122223333:user/svc-reports", "arn:aws:iam::111122223333:user/backup-admin"],
    "access_keys": ["AKIAQ3EXAMPLELEAKED1", "AKIAQ3EXAMPLEPERSIS2"],
    "ips": ["159.89.10.20", "45.77.3.4"], "domains": [], "buckets": ["acme-finance-reports"], "instances": [],
    "user_agents": ["aws-cli/2.15.0"],
    "persistence": [{"type": "IAMUser", "value": "backup-admin"}, {"type": "AccessKey", "value": "AKIAQ3EXAMPLEPERSIS2"}],
    "key_events": [],
    "first_malicious": "2026-03-04T02:13:27Z", "last_malicious": "2026-03-05T11:00:00Z",
    "detection": "2026-03-04T09:41:05Z", "containment": "2026-03-04T13:02:44Z",
    "metrics": {"objects_read": 812, "bytes_exfiltrated": 3_456_789_012},
}
MINING_KEY = {
    "story": "ec2_cryptomining", "title": "t", "summary": "s", "accounts": ["444455556666"], "regions": ["eu-west-1"],
    "principals": ["arn:aws:iam::444455556666:role/web-app"], "access_keys": ["ASIAQ3EXAMPLESTOLEN3"],
    "ips": ["185.71.65.1"],
    "domains": ["pool.supportxmr.example.", "xmr-eu1.nanopool.example."], "buckets": [],
    "instances": ["i-0abc1234def567890"], "user_agents": [], "persistence": [], "key_events": [],
    "first_malicious": "2026-03-07T18:20:00Z", "last_malicious": "2026-03-08T20:00:00Z",
    "detection": "2026-03-08T06:05:30Z", "containment": "2026-03-08T07:45:00Z", "metrics": {},
}
ACCOUNTS = ["111122223333", "444455556666", "777788889999"]

RIGHT = {
    "lake_accounts": "777788889999, 111122223333 444455556666",
    "s3_leaked_key": [" akiaq3exampleleaked1 "],
    "s3_attacker_ips": pd.Series(["45.77.3.4", "159.89.10.20", "45.77.3.4"]),
    "s3_first_malicious": "2026-03-04T02:13:27Z",
    "s3_detection": pd.Timestamp("2026-03-04T11:41:05+02:00"),
    "s3_bucket": "s3://acme-finance-reports/",
    "s3_bytes_exfiltrated": 3_456_789_012,
    "mining_instance": ["i-0abc1234def567890"],
    "mining_domains": ["POOL.supportxmr.example", "xmr-eu1.nanopool.example.", "benign.example.com"],
    "mining_stolen_key": "ASIAQ3EXAMPLESTOLEN3",
    "mining_first_malicious": "2026-03-07 18:20:00",
    "s3_containment": "2026-03-04T13:02:44Z",
    "mining_containment": "2026-03-08T07:45:00Z",
    "persistence": ["arn:aws:iam::111122223333:user/backup-admin", "akiaq3examplepersis2"],
    "s3_dwell_time": pd.Timedelta("7h 27min 38s"),
    "mining_time_to_contain": "1h 39min 30s",
}
WRONG = {
    "lake_accounts": ["111122223333"],
    "s3_leaked_key": "AKIAQ3EXAMPLEPERSIS2",
    "s3_attacker_ips": ["159.89.10.20", "10.0.0.1"],
    "s3_first_malicious": "2026-03-04T09:41:05Z",
    "s3_detection": "2026-03-04T02:13:27Z",
    "s3_bucket": ["acme-finance-reports", "acme-logs"],
    "s3_bytes_exfiltrated": 812,
    "mining_instance": ["i-0abc1234def567890", "i-0fff0000aaaa11112"],
    "mining_domains": ["pool.supportxmr.example."],
    "mining_stolen_key": "AKIAQ3EXAMPLELEAKED1",
    "mining_first_malicious": "2026-03-08T06:05:30Z",
    "s3_containment": "2026-03-05T13:02:44Z",
    "mining_containment": "2026-03-08T06:05:30Z",
    "persistence": ["backup-admin"],
    "s3_dwell_time": 2,
    "mining_time_to_contain": "3h",
}


def write_keys(root: Path, keys: dict[str, dict], generation: dict | None = None) -> Path:
    (root / "answers").mkdir(parents=True, exist_ok=True)
    for story, key in keys.items():
        (root / "answers" / f"{story}.json").write_text(json.dumps(key))
    if generation is not None:
        (root / "generation.json").write_text(json.dumps(generation))
    return root


@pytest.fixture
def ex(tmp_path: Path) -> Exercise:
    write_keys(tmp_path, {"s3_data_access": S3_KEY, "ec2_cryptomining": MINING_KEY}, {"accounts": ACCOUNTS, "seed": 7})
    return Exercise(tmp_path)


def secrets(value) -> set[str]:
    """Text forms of an expected value a leaking message could contain."""
    if isinstance(value, list | tuple | set):
        return set().union(*(secrets(v) for v in value)) if value else set()
    if isinstance(value, pd.Timestamp):
        return {value.isoformat(), value.strftime("%Y-%m-%d %H:%M"), value.strftime("%H:%M")}
    if isinstance(value, pd.Timedelta):
        return {str(value), f"{value.total_seconds() / 3600:.2f}", f"{int(value.total_seconds() // 60)} min"}
    text = str(value)
    return {text, text.lower(), text.rstrip(".")} | ({f"{value:,}", f"{value:.3g}"} if isinstance(value, int | float) else set())


def test_questions_cover_every_stage_and_are_well_formed(ex: Exercise) -> None:
    assert {q.stage for q in QUESTIONS} == set(STAGES)
    assert all(q.rule in RULES and q.tip and q.text for q in QUESTIONS)
    assert len({q.id for q in QUESTIONS}) == len(QUESTIONS)
    frame = ex.questions
    assert list(frame.columns) == ["id", "stage", "story", "text", "compare", "available"]
    assert frame["available"].all()
    assert set(RIGHT) == set(WRONG) == set(frame["id"])


@pytest.mark.parametrize("qid", [q.id for q in QUESTIONS])
def test_right_answers_accepted(ex: Exercise, qid: str) -> None:
    result = ex.check(qid, RIGHT[qid])
    assert result.ok, str(result)
    assert bool(result) and "correct" in str(result) and "hint" not in str(result)


@pytest.mark.parametrize("qid", [q.id for q in QUESTIONS])
def test_wrong_answers_rejected_without_leaking(ex: Exercise, qid: str) -> None:
    result = ex.check(qid, WRONG[qid])
    assert not result.ok
    text = str(result)
    assert result.hint and "hint:" in text
    expected = training.expected_value(ex.question(qid), ex._keys, ex._generation)
    leaked = {s for s in secrets(expected) if len(s) >= 4 and s.lower() in text.lower()}
    assert not leaked, f"{qid} feedback reveals {leaked}: {text}"


def test_leaked_key_excludes_the_persistence_key(ex: Exercise) -> None:
    assert not ex.check("s3_leaked_key", S3_KEY["access_keys"]).ok
    assert "1 are not" in ex.check("s3_leaked_key", S3_KEY["access_keys"]).message


@pytest.mark.parametrize(("offset", "ok", "side"), [
    (pd.Timedelta(minutes=4, seconds=59), True, ""), (-pd.Timedelta(minutes=5), True, ""),
    (pd.Timedelta(minutes=5, seconds=1), False, "later"), (-pd.Timedelta(minutes=12), False, "earlier"),
])
def test_near_miss_times(ex: Exercise, offset: pd.Timedelta, ok: bool, side: str) -> None:
    answer = pd.Timestamp(S3_KEY["first_malicious"]) + offset
    result = ex.check("s3_first_malicious", answer.isoformat())
    assert result.ok is ok
    assert side in result.message


def test_number_and_duration_tolerances(ex: Exercise) -> None:
    bytes_out = S3_KEY["metrics"]["bytes_exfiltrated"]
    assert ex.check("s3_bytes_exfiltrated", bytes_out * 1.049).ok
    assert ex.check("s3_bytes_exfiltrated", f"{int(bytes_out * 0.96):,}").ok
    assert "high" in ex.check("s3_bytes_exfiltrated", bytes_out * 1.06).message
    assert ex.check("s3_dwell_time", 7.46).ok  # hours
    assert ex.check("s3_dwell_time", pd.Timedelta("7h 37min")).ok
    assert "short" in ex.check("s3_dwell_time", "7h 15min").message


def test_set_rules(ex: Exercise) -> None:
    assert not ex.check("mining_instance", []).ok
    assert ex.check("mining_domains", ["pool.supportxmr.example", "xmr-eu1.nanopool.example", "a.example", "b.example"]).ok
    too_many = ex.check("mining_domains", ["pool.supportxmr.example", "xmr-eu1.nanopool.example", "a.ex", "b.ex", "c.ex"])
    assert not too_many.ok and "extra" in too_many.message
    assert "2 of your 3" in ex.check("s3_attacker_ips", "159.89.10.20, 45.77.3.4, 10.1.1.1").message


@pytest.mark.parametrize("answer", [None, {"a": 1}, "not a time", pd.DataFrame({"x": [1]}), True, float("nan")])
def test_unreadable_or_missing_answers_never_raise(ex: Exercise, answer) -> None:
    for q in QUESTIONS:
        result = ex.check(q.id, answer)
        assert result.ok is False or q.rule in ("set", "subset", "superset") and isinstance(answer, str)
        assert isinstance(str(result), str)


def test_unknown_question_raises(ex: Exercise) -> None:
    with pytest.raises(KeyError, match="s3_leaked_key"):
        ex.check("no_such_question", 1)


def test_progress_keeps_latest_results(ex: Exercise) -> None:
    ex.check("s3_bucket", "wrong-bucket")
    ex.check("s3_bucket", RIGHT["s3_bucket"])
    ex.check("s3_leaked_key", "AKIAWRONG")
    p = ex.progress().set_index("id")
    assert p.loc["s3_bucket", "ok"] and p.loc["s3_bucket", "checked"]
    assert not p.loc["s3_leaked_key", "ok"] and p.loc["s3_leaked_key", "checked"]
    assert not p.loc["mining_instance", "checked"]


def test_missing_key_fields_make_questions_unavailable(tmp_path: Path) -> None:
    partial = {k: v for k, v in S3_KEY.items() if k not in ("containment", "metrics", "persistence")}
    ex = Exercise(SimpleNamespace(root=write_keys(tmp_path, {"s3_data_access": partial})))
    frame = ex.questions.set_index("id")
    assert not frame.loc[["s3_containment", "s3_bytes_exfiltrated", "persistence", "mining_instance", "mining_stolen_key",
                          "lake_accounts"],
                         "available"].any()
    assert frame.loc[["s3_leaked_key", "s3_first_malicious"], "available"].all()
    # with no persistence recorded every access key counts as leaked
    assert ex.check("s3_leaked_key", S3_KEY["access_keys"]).ok
    result = ex.check("s3_containment", "2026-03-04T13:02:44Z")
    assert not result.ok and "instructor" in result.message


def test_folder_without_answer_keys(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="no answer keys"):
        Exercise(tmp_path)


def test_trainee_seeds_distinct_and_deterministic() -> None:
    seeds = training.trainee_seeds(5, 40)
    assert len(set(seeds)) == 40 and seeds == training.trainee_seeds(5, 40)
    assert seeds != training.trainee_seeds(6, 40)
    with pytest.raises(ValueError):
        training.trainee_seeds(5, 0)


def test_training_lakes_command_with_stub_generator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    calls = []

    def fake_generate(out, seed, days, *, scale, progress):
        calls.append((Path(out), seed, days, scale))
        write_keys(Path(out), {"s3_data_access": {**S3_KEY, "access_keys": [f"AKIASECRET{seed:010d}"]}})

    monkeypatch.setattr("slake_forensics.sample.generate.generate", fake_generate)
    code = cli.main(["training-lakes", "--out", str(tmp_path), "--trainees", "3", "--seed", "9",
                     "--days", "3", "--scale", "0.05", "--quiet"])
    assert code == 0
    assert [c[0].name for c in calls] == ["trainee-01", "trainee-02", "trainee-03"]
    assert len({c[1] for c in calls}) == 3 and {(c[2], c[3]) for c in calls} == {(3, 0.05)}
    printed = capsys.readouterr().out
    roster = pd.read_csv(tmp_path / "roster.csv")
    assert roster["seed"].tolist() == [c[1] for c in calls]
    assert all(str(s) in printed and f"trainee-0{n}" in printed for n, s in zip(roster["trainee"], roster["seed"]))
    assert "AKIASECRET" not in printed and "AKIASECRET" not in (tmp_path / "roster.csv").read_text()


@pytest.fixture(scope="session")
def generated_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated lake; skips the test while the sample generator (written elsewhere) cannot make one."""
    stories = ("s3_data_access", "ec2_cryptomining")
    if not all(importlib.util.find_spec(f"slake_forensics.sample.stories.{s}") for s in stories):
        pytest.skip("the sample generator's stories are not written yet")
    from slake_forensics.sample.generate import generate

    root = tmp_path_factory.mktemp("generated")
    try:
        generate(root, 11, days=6, scale=0.15, progress=False)
    except Exception as exc:  # noqa: BLE001 - the generator's own tests report its failures
        pytest.skip(f"the sample generator does not work yet: {type(exc).__name__}: {exc}")
    return root


def test_training_lakes_command_generates_lakes(generated_lake: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["training-lakes", "--out", str(tmp_path), "--trainees", "2", "--seed", "3",
                     "--days", "3", "--scale", "0.05", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    roster = pd.read_csv(tmp_path / "roster.csv")
    assert roster["seed"].nunique() == 2
    for folder, seed in zip(roster["folder"], roster["seed"]):
        gen = json.loads((Path(folder) / "generation.json").read_text())
        assert gen["seed"] == seed
        for key_file in (Path(folder) / "answers").glob("*.json"):
            for value in json.loads(key_file.read_text()).get("access_keys", []):
                assert value not in printed


def test_checker_on_a_generated_lake(generated_lake: Path) -> None:
    ex = Exercise(generated_lake)
    available = ex.questions[ex.questions["available"]]
    assert len(available) >= 10
    for qid in available["id"]:
        q = ex.question(qid)
        expected = training.expected_value(q, ex._keys, ex._generation)
        assert ex.check(qid, expected if q.rule != "time" else expected.isoformat()).ok, qid
        assert not ex.check(qid, WRONG[qid]).ok or q.rule == "superset", qid


def test_tips_name_real_hunts() -> None:
    from slake_forensics.analysis import hunts

    pattern = r"\bhunts? ([a-z0-9_]+)|\b([a-z0-9]+_[a-z0-9_]+) hunt\b|\bthen ([a-z0-9_]+) to see"
    named = {name for q in QUESTIONS for m in re.findall(pattern, q.tip, re.IGNORECASE) for name in m if name}
    assert len(named) >= 5 and named <= set(hunts.names()), named - set(hunts.names())


def test_exercise_notebook_runs_with_wrong_answers(tmp_path: Path) -> None:
    """The notebook runs top to bottom on a lake with answer keys although no answer is given yet."""
    import nbformat
    from fixture_lake import build_fixture_lake
    from nbclient import NotebookClient

    lake_root = tmp_path / "lake"
    build_fixture_lake(lake_root)
    write_keys(lake_root, {"s3_data_access": S3_KEY, "ec2_cryptomining": MINING_KEY}, {"accounts": ACCOUNTS})
    path = Path(__file__).resolve().parents[1] / "notebooks" / "training" / "exercise.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert "LAKE = None" in params.source
    params.source += f"\nLAKE = {str(lake_root)!r}\nWINDOW_DAYS = 14"
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "\n".join(o.get("text", "") or str(o.get("data", {}).get("text/plain", ""))
                        for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    checked = {q.id for q in QUESTIONS if f"[{q.id}]" in outputs}
    assert checked == {q.id for q in QUESTIONS}
    assert "✅" not in outputs and "Error" not in outputs
