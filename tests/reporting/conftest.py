"""Real run folders for the report tests, bred without a model (FakeBackend), as tests/test_app.py does.

`prompt_run` climbs: every reply of a mutation operator is a prompt one "level" above the last one
written, and a prompt of level L answers right the questions whose (3a + b) mod 12 is below L, so later
children are fitter and the best unit has ancestors. `config_run` is the toy HPO task of tests/conftest.py;
`text_run`/`code_run` go through the engine directly with the text genome (no task folder needed).
"""

from __future__ import annotations

import io
import itertools
import json
import re
import shutil
from pathlib import Path

import pytest

from promptbreeder import app
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.config import RunConfig, resolve_config

ROOT = Path(__file__).resolve().parents[2]
PROMPT_TASK = "arithmetic_1_digit_addition"
CONFIG_TASK = "toy_hpo"
OBJECTIVE_MODULE = "pb_reporting_toy_objective"


def climbing_world():
    levels = itertools.count(1)

    def respond(request):
        if request.name.startswith("fitness"):
            a, b = [int(w) for w in re.findall(r"\d+", request.inputs["question"])][:2]
            found = re.search(r"level (\d+)", request.inputs["task_prompt"])
            level = int(found.group(1)) if found else 0
            return str(a + b) if (3 * a + b) % 12 < level else "0"
        if request.name == "init_prompt":
            return {"PROMPT": f"Add the numbers, level 0, style {request.seed % 7}."}
        return {"PROMPT": f"Add the numbers carefully, level {next(levels)}.",
                "MUTATION": "Rewrite the instruction so it is clearer."}

    return respond


def config_world(request):
    if request.name == "config_propose":
        s = request.seed
        return {"P0": f"{(s % 997) / 996:.3f}\n", "P1": f"{s % 10 + 1}\n", "P2": "ab"[(s // 10) % 2]}
    return {"SCORE": "0.5\n"}


def generation_world(request):
    if request.name == "config_propose":
        s = request.seed
        return {"P0": f"{0.1 + (s % 10) / 10}\n", "P1": "40\n", "P2": "0.8\n", "P3": "0.95\n", "P4": "0.1\n",
                "P5": f"{s % 100}\n"}
    a, b = (int(n) for n in re.findall(r"\d+", request.inputs["question"])[:2])
    return {"ANSWER": str(a + b if request.decoder.temperature < 0.5 else a + b + 1)}


def breed(monkeypatch, day_care: Path, task: str, responder, **settings) -> Path:
    """app.run on `task` of `day_care` with a fake backend; returns the run folder."""
    monkeypatch.setattr(app, "create_backend", lambda c, spec=None: FakeBackend(responder=responder))
    values = {"task": task, "day_care_dir": str(day_care), "population_size": 4, "evolution_generations": 3}
    assert app.run(resolve_config(values | settings, None), out=io.StringIO()) == 0
    runs = sorted((day_care / task / "runs").iterdir(), key=lambda p: int(p.name.removeprefix("run_")))
    return runs[-1]


@pytest.fixture
def day_care(tmp_path, add_toy_hpo_task):
    """The shipped day care (prompt and generation tasks) plus the toy HPO task (tests/conftest.py), in tmp."""
    folder = tmp_path / "day_care"
    shutil.copytree(ROOT / "day_care", folder, ignore=shutil.ignore_patterns("runs", "debug_runs", "hpo_*"))
    add_toy_hpo_task(folder, CONFIG_TASK, OBJECTIVE_MODULE, num_candidates=3)
    return folder


@pytest.fixture
def breed_prompt_run(monkeypatch, day_care):
    """`breed_prompt_run(**settings)`: a climbing prompt run (6 units, 4 generations unless told)."""
    defaults = {"population_size": 6, "evolution_generations": 4, "initial_prompts_per_unit": 1,
                "fitness_batch_size": 6, "test_CoT": False}
    return lambda **settings: breed(monkeypatch, day_care, PROMPT_TASK, climbing_world(), **(defaults | settings))


@pytest.fixture
def prompt_run(breed_prompt_run) -> Path:
    return breed_prompt_run()


@pytest.fixture
def config_run(monkeypatch, day_care) -> Path:
    return breed(monkeypatch, day_care, CONFIG_TASK, config_world)


@pytest.fixture
def single_step_run(breed_prompt_run) -> Path:
    """A prompt run of step 0 only: one snapshot, no tournament."""
    return breed_prompt_run(population_size=4, evolution_generations=0)


@pytest.fixture
def generation_run(monkeypatch, day_care) -> Path:
    return breed(monkeypatch, day_care, "arithmetic_decoding", generation_world, fitness_batch_size=5)


@pytest.fixture
def text_run(tmp_path):
    """`text_run(kind)`: a text or code run folder."""
    return lambda kind: breed_text(tmp_path, kind)


def breed_text(tmp_path: Path, kind: str) -> Path:
    """A text (or code) run through the engine: a candidate scores its word count; replies add a word."""
    from promptbreeder.package_queries import package_query_text
    from promptbreeder.evolution import Breeder
    from promptbreeder.genomes.text.genome import TextGenome
    from promptbreeder.store.run_store import RunStore

    def improve(request):
        return {"REASONING": " one more word\n", "SOLUTION": request.inputs["current"] + f" w{request.seed % 100}\n"}

    task_dir = tmp_path / f"{kind}_task"
    task_dir.mkdir()
    (task_dir / "task_description.json").write_text(json.dumps({"genome": kind, "task_description": "Grow it."}))
    config = RunConfig(population_size=4, evolution_generations=3, seed=5)
    genome = TextGenome(config, "Grow it.", "More words.", lambda text: (len(text.split()), "add words"), "start",
                        backend=FakeBackend(responder=improve), query_text=package_query_text, kind=kind)
    breeder = Breeder(config, genome, store=RunStore.create(task_dir / "runs", config.to_dict()))
    breeder.run()
    breeder.report()
    return breeder.store.folder
