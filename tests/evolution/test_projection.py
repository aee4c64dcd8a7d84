"""`--dry_run` (evolution/projection.py): counts from a simulated run, costs from measured queries."""

from __future__ import annotations

import functools
import io
import json
import shutil
from pathlib import Path

import pytest

from promptbreeder import app
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.config import resolve_config
from promptbreeder.daycare.loader import load_day_care
from promptbreeder.evolution.projection import Projection, format_projection, measure, simulate
from promptbreeder.genomes.registry import KINDS

ROOT = Path(__file__).resolve().parents[2]
TASK = "arithmetic_1_digit_addition"


@pytest.fixture
def day_care(shipped_day_care):
    """The shipped day care copied into tmp (tests/conftest.py), not tests/evolution/conftest.py's loaded one."""
    return shipped_day_care


@pytest.fixture
def breeding_config(breeding_config):
    """tests/conftest.py's, over 3 generations and with the chain-of-thought variant scored (test_CoT's default)."""
    return functools.partial(breeding_config, evolution_generations=3, test_CoT=None)


def test_the_simulated_counts_are_what_a_run_with_the_same_replies_asks(monkeypatch, breeding_config):
    cfg = breeding_config()
    dc = load_day_care(cfg.day_care_dir)
    projection, simulated, _ = simulate(cfg, dc, dc.task(TASK), KINDS["prompt"])
    backend = FakeBackend(responder=KINDS["prompt"].plausible_reply)
    monkeypatch.setattr(app, "create_backend", lambda c, spec=None: backend)
    assert app.run(cfg, out=io.StringIO()) == 0
    asked: dict[str, int] = {}
    for request in backend.requests:
        asked[request.name] = asked.get(request.name, 0) + 1
    assert projection.counts == asked
    assert {"fitness_noCoT", "fitness_CoT", "init_prompt"} <= set(asked)
    assert len(projection.calls_after_step) == 4 and projection.calls_after_step[-1] <= sum(asked.values())


def test_measured_costs_multiply_into_the_projection(breeding_config):
    cfg = breeding_config(max_llm_calls=50)
    dc = load_day_care(cfg.day_care_dir)
    projection, simulated, objective = simulate(cfg, dc, dc.task(TASK), KINDS["prompt"])
    probe = FakeBackend(responder=KINDS["prompt"].plausible_reply)
    measure(projection, simulated, lambda: probe, 4, objective)
    assert set(projection.per_query) == set(projection.counts)
    assert len(probe.requests) <= 4 * len(projection.counts), "a few real queries per kind, no more"
    calls, tokens, seconds = projection.total()
    assert calls == sum(projection.counts.values()) and tokens > 0 and seconds >= 0
    text = format_projection(projection, cfg, TASK)
    assert f"{calls:>9,}" in text and "total" in text and "fitness_noCoT" in text
    step = projection.step_reaching(50)
    assert step is not None and f"max_llm_calls 50: reached during step {step}" in text


def test_step_reaching():
    projection = Projection(2, {"a": 30}, calls_after_step=[10, 20, 30])
    assert [projection.step_reaching(n) for n in (5, 10, 11, 30, 31)] == [0, 0, 1, 2, None]


def test_an_hpo_dry_run_simulates_with_a_stand_in_and_times_the_objective_once(monkeypatch, tmp_path):
    module = "pb_projection_toy_objective"
    (tmp_path / f"{module}.py").write_text("calls = []\n\ndef score(config):\n    calls.append(config)\n"
                                            "    return -(config['x'] - 0.3) ** 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    folder = tmp_path / "day_care"
    (folder / "toy").mkdir(parents=True)
    for name in ("mutation_prompts.json", "thinking_styles.json"):
        shutil.copy(ROOT / "day_care" / name, folder / name)
    (folder / "toy" / "task_description.json").write_text(json.dumps({
        "task_description": "Tune x.", "genome": "config", "search_space": {"x": {"type": "float", "low": 0, "high": 1}},
        "objective": {"type": "python", "function": f"{module}:score"},
        # LLAMBO's proposals, which ask the model (the default sampler asks none)
        "config_options": {"sampler": None, "warm_start": "llm", "proposal": "llm", "surrogate": "forest"}}))
    cfg = resolve_config({"task": "toy", "day_care_dir": str(folder), "population_size": 4,
                          "evolution_generations": 3, "dry_run": True}, None)
    monkeypatch.setattr(app, "create_backend", lambda c, spec=None: FakeBackend(responder=KINDS["config"].plausible_reply))
    out = io.StringIO()
    assert app.run(cfg, out=out) == 0
    import sys

    assert len(sys.modules[module].calls) == 1, "the real objective ran once, to time it"
    line = next(l for l in out.getvalue().splitlines() if "objective evaluations" in l)
    assert int(line.split()[2]) >= 4 and "config_propose" in out.getvalue()
    assert not (folder / "toy" / "runs").exists()


def test_a_dry_run_through_the_app_starts_nothing(monkeypatch, day_care, breeding_config):
    monkeypatch.setattr(app, "create_backend", lambda c, spec=None: FakeBackend(responder=KINDS["prompt"].plausible_reply))
    out = io.StringIO()
    assert app.run(breeding_config(dry_run=True), out=out) == 0
    assert "dry run of arithmetic_1_digit_addition: 4 units, 3 generations" in out.getvalue()
    assert not (day_care / TASK / "runs").exists(), "nothing was written"


@pytest.mark.integration
def test_a_real_dry_run_projects_the_real_runs_queries_and_time(day_care, small_report):
    """The projection against the run it projects, on the embedded model: calls within 15%, time within 2x."""
    cfg = resolve_config({"task": TASK, "day_care_dir": str(day_care), "evolution_generations": 1,
                          "fitness_batch_size": 4, **small_report}, "smoke")
    out = io.StringIO()
    assert app.run(resolve_config(cfg.to_dict() | {"dry_run": True}, None), out=out) == 0
    total = next(line for line in out.getvalue().splitlines() if line.strip().startswith("total"))
    calls, tokens, seconds = (float(v.replace(",", "")) for v in total.split()[1:4])
    real = io.StringIO()
    assert app.run(cfg, out=real) == 0
    summary = next(line for line in real.getvalue().splitlines() if "model queries (" in line)
    made = int(summary.split()[0])
    took = float(summary.rsplit(" s;", 1)[0].rsplit(" ", 1)[1])
    assert abs(made - calls) <= 0.15 * made, (made, calls)
    assert took / 2 <= seconds <= took * 2, (took, seconds)


def test_a_generation_dry_run_counts_the_fitness_queries_that_are_its_objective(breeding_config):
    # the generation genome's objective is the model: it keeps it (no stand-in) and its answers are counted
    cfg = breeding_config(task="arithmetic_decoding", population_size=4, evolution_generations=2)
    dc = load_day_care(cfg.day_care_dir)
    projection, simulated, time_objective = simulate(cfg, dc, dc.task("arithmetic_decoding"), KINDS["generation"])
    assert time_objective is None and projection.evaluations == 0
    assert projection.counts.get("fitness_noCoT", 0) > 0 and projection.counts.get("config_propose", 0) > 0
