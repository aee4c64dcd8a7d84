"""`app.run` and the command line on HPO tasks (`"genome": "config"`), with a fake backend instead of a model.

The day care is written into tmp: the shipped prompt files, a toy HPO task whose Python objective lives in a
module under tmp_path (put on sys.path; `add_toy_hpo_task` in tests/conftest.py), and a copy of a prompt task
declaring a genome that does not exist yet.
"""

from __future__ import annotations

import io
import json
import shutil
import textwrap
from pathlib import Path

import pytest

from promptbreeder import app, cli
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.config import resolve_config
from promptbreeder.errors import RunError

ROOT = Path(__file__).resolve().parents[1]
TASK = "toy_hpo"
MODULE = "pb_app_config_toy_objective"


@pytest.fixture
def day_care(tmp_path, add_toy_hpo_task):
    folder = tmp_path / "day_care"
    folder.mkdir()
    for name in ("mutation_prompts.json", "thinking_styles.json"):
        shutil.copy(ROOT / "day_care" / name, folder / name)
    # LLAMBO's options (the default is a sampler, which asks no model): these tests follow the model's queries
    add_toy_hpo_task(folder, TASK, MODULE, num_candidates=3, surrogate_samples=2, sampler=None, warm_start="llm",
                     proposal="llm", surrogate="forest")  # objective in tmp_path/modules
    code_task = folder / "code_task"
    shutil.copytree(ROOT / "day_care" / "arithmetic_1_digit_addition", code_task)
    data = json.loads((code_task / "task_description.json").read_text())
    (code_task / "task_description.json").write_text(json.dumps({**data, "genome": "image"}))
    return folder


def config(day_care, **overrides):
    values = {"task": TASK, "day_care_dir": str(day_care), "population_size": 4, "evolution_generations": 2}
    return resolve_config(values | overrides, None)


def fake_world(request):
    """Proposals derived from the request seed; the surrogate predicts from the candidate's x."""
    if request.name == "config_propose":
        s = request.seed
        return {"P0": f"{(s % 997) / 996:.3f}\n", "P1": f"{s % 10 + 1}\n", "P2": "ab"[(s // 10) % 2]}
    if request.name == "config_surrogate":
        return {"SCORE": f"{1 - json.loads(request.inputs['candidate'])['x']:.3f}\n"}
    raise AssertionError(f"unexpected query {request.name}")


def run_with(monkeypatch, cfg, responder=fake_world):
    backend = FakeBackend(responder=responder)
    monkeypatch.setattr(app, "create_backend", lambda c, spec=None: backend)
    out = io.StringIO()
    assert app.run(cfg, out=out) == 0
    return out.getvalue(), backend


def events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def final_state(run_dir: Path) -> dict:
    last = sorted((run_dir / "snapshots").iterdir())[-1]
    return json.loads(last.read_text())["state"]


def test_an_hpo_run_breeds_stores_and_reports(monkeypatch, day_care):
    text, backend = run_with(monkeypatch, config(day_care))
    run_dir = day_care / TASK / "runs" / "run_1"
    assert sorted(p.name for p in (run_dir / "snapshots").iterdir()) == [
        "step_000000.json", "step_000001.json", "step_000002.json"]
    report = json.loads((run_dir / "report.json").read_text())
    assert report["generation"] == 2 and report["genome"] == "config" and report["direction"] == "maximize"
    state = final_state(run_dir)
    unscored = {json.dumps(u["config"], sort_keys=True) for u in state["population"] if u["fitness"] is None}
    assert len(state["evaluations"]) <= report["evaluations"] <= len(state["evaluations"]) + len(unscored)
    assert report["best"]["score"] >= max(e["score"] for e in state["evaluations"])
    assert set(report["best"]["config"]) == {"x", "n", "kind"}
    assert report["best_so_far"][-1] == report["best"]["score"]
    assert f"run 1 of {TASK}" in text and "4 units, 2 generations" in text
    assert f"{report['evaluations']} configurations evaluated (maximize):" in text
    assert f"  1. {report['best']['score']:.4f}  " in text
    assert "model queries" in text and "0 fitness results reused" in text
    names = [r.name for r in backend.requests]
    # the default surrogate is the forest: no model query judges candidates
    assert names[:4] == ["config_propose"] * 4 and set(names) == {"config_propose"}
    logged = [e["event"] for e in events(run_dir)]
    assert logged.count("generation") == 3 and logged.count("tournament") == 4 and logged[-2:] == ["report", "usage"]
    assert "init_failed" not in logged


def test_continuing_an_hpo_run_goes_on_to_the_state_of_an_uninterrupted_one(monkeypatch, day_care, tmp_path):
    run_with(monkeypatch, config(day_care, evolution_generations=1))
    text, _ = run_with(monkeypatch, config(day_care, evolution_generations=3, continue_run_number=1))
    run_dir = day_care / TASK / "runs" / "run_1"
    assert sorted(p.name for p in (run_dir / "snapshots").iterdir())[-1] == "step_000003.json"
    assert "run 1 of" in text and not (day_care / TASK / "runs" / "run_2").exists()
    assert [e["step"] for e in events(run_dir) if e["event"] == "resumed"] == [1]
    assert json.loads((run_dir / "report.json").read_text())["generation"] == 3
    run_with(monkeypatch, config(day_care, evolution_generations=3))  # run 2: the same three generations at once
    assert final_state(day_care / TASK / "runs" / "run_2") == final_state(run_dir)


def test_garbage_warm_start_replies_fall_back_to_random_configurations(monkeypatch, day_care):
    def garbage(request):
        return {"P0": "lots\n", "P1": "\n", "P2": "c"} if request.name == "config_propose" else {"SCORE": "?"}

    text, _ = run_with(monkeypatch, config(day_care, evolution_generations=1), responder=garbage)
    run_dir = day_care / TASK / "runs" / "run_1"
    logged = events(run_dir)
    assert [e["unit"] for e in logged if e["event"] == "init_failed"] == ["u0", "u1", "u2", "u3"]
    # no usable LLM candidate: the forest screens uniform samples (or the winner is perturbed)
    assert {e["operator"] for e in logged if e["event"] == "tournament"} <= {"random_sample", "perturb"}
    assert "configurations evaluated" in text


def test_an_hpo_run_where_every_query_fails_is_a_run_failure(monkeypatch, day_care):
    def broken(request):
        raise RuntimeError("model fell over")

    with pytest.raises(RunError, match="every one of .* model queries failed"):
        run_with(monkeypatch, config(day_care, evolution_generations=1), responder=broken)


def test_the_shipped_sklearn_task_runs(monkeypatch, tmp_path):
    day_care = tmp_path / "day_care"
    day_care.mkdir()
    for name in ("mutation_prompts.json", "thinking_styles.json"):
        shutil.copy(ROOT / "day_care" / name, day_care / name)
    shutil.copytree(ROOT / "day_care" / "hpo_random_forest_wine", day_care / "hpo_random_forest_wine")

    text, backend = run_with(monkeypatch, config(day_care, task="hpo_random_forest_wine", evolution_generations=1))
    run_dir = day_care / "hpo_random_forest_wine" / "runs" / "run_1"
    report = json.loads((run_dir / "report.json").read_text())
    assert 0.5 < report["best"]["score"] <= 1.0, "a sensible random forest beats chance on wine"
    assert "configurations evaluated (maximize)" in text
    # the shipped task has no config_options: the default, Optuna's TPE sampler on our engine, asks no model
    assert backend.requests == []
    assert {e["operator"] for e in events(run_dir) if e["event"] == "tournament"} == {"sampler"}


def test_the_command_line_runs_an_hpo_task(monkeypatch, day_care, capsys):
    monkeypatch.setattr(app, "create_backend", lambda c, spec=None: FakeBackend(responder=fake_world))
    code = cli.main(["--day_care_dir", str(day_care), "--task", TASK, "--population_size", "4",
                     "--evolution_generations", "1"])
    err = capsys.readouterr().err
    assert code == 0, err
    # (app.run's default `out` is bound at import, so the report text is checked through the run folder)
    report = json.loads((day_care / TASK / "runs" / "run_1" / "report.json").read_text())
    assert report["generation"] == 1 and report["evaluations"] >= 4 and report["best"] is not None
    assert "error" not in err and "Traceback" not in err


def test_a_task_with_an_unknown_genome_is_a_one_line_error(monkeypatch, day_care, capsys):
    monkeypatch.setattr(app, "create_backend", lambda c, spec=None: FakeBackend(responder=fake_world))
    code = cli.main(["--day_care_dir", str(day_care), "--task", "code_task", "--population_size", "4"])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err + out
    assert "code_task/task_description.json: at $.genome: expected one of prompt, config, generation, code, text" in err


def test_an_objective_that_raises_fails_that_configuration_and_the_run_goes_on(monkeypatch, day_care, tmp_path,
                                                                              dashboard_rows):
    (tmp_path / "modules" / f"{MODULE}.py").write_text(textwrap.dedent("""
        def score(config):
            if config["kind"] == "a":
                raise ValueError("kind a diverged")
            return -(config["x"] - 0.3) ** 2
    """))
    text, _ = run_with(monkeypatch, config(day_care, evolution_generations=3, use_wandb=True))
    run_dir = day_care / TASK / "runs" / "run_1"
    state = final_state(run_dir)
    failed = [e for e in state["evaluations"] if e["config"]["kind"] == "a"]
    assert failed and all(e["error"] == "the objective raised ValueError: kind a diverged" for e in failed)
    assert all(e["score"] == float("-inf") for e in failed)
    report = json.loads((run_dir / "report.json").read_text())
    assert report["best"]["config"]["kind"] == "b" and report["generation"] == 3
    assert dashboard_rows and dashboard_rows[0]["score"] == report["best"]["score"]
    assert json.loads(dashboard_rows[0]["prompt"])["kind"] == "b"
    generations = [e for e in events(run_dir) if e["event"] == "generation"]
    assert all(e["mean"] is None or e["mean"] > float("-inf") for e in generations), "failures do not swamp the mean"
