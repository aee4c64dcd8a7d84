"""breed_system_prompt: units carry their own system prompt, written at generation 0, mutated as one more
slot by the operators, sent to the fitness queries, shown in reports, and refused where the task fixes one.
Real operators and queries against a FakeBackend whose answers depend on the system prompt."""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

import pytest

from promptbreeder.backends.base import DecoderOptions
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.cli import main
from promptbreeder.config import RunConfig
from promptbreeder.daycare.loader import load_day_care
from promptbreeder.errors import DayCareError
from promptbreeder.evolution import Breeder
from promptbreeder.genomes.prompt.evaluator import DEFAULT_SYSTEM_PROMPT, FitnessEvaluator
from promptbreeder.genomes.prompt.genome import PromptGenome
from promptbreeder.genomes.prompt.kind import PROMPT
from promptbreeder.genomes.prompt.operators.base import BreedContext
from promptbreeder.genomes.prompt.operators.registry import get_operator
from promptbreeder.genomes.prompt.report import format_report
from promptbreeder.genomes.prompt.unit import Unit
from promptbreeder.package_queries import package_query_text
from promptbreeder.store.run_store import RunStore

DAY_CARE = Path(__file__).resolve().parents[3] / "day_care"
TASK = "arithmetic_1_digit_addition"


class Model:
    """Answers a sum right only under a system prompt that says "calculator"; writes prompts by query:
    system prompts at init, task prompts at init, and a rewritten text (which keeps the calculator) for
    every mutation, numbered by the request's seed so each reply is new and a function of the request."""

    def __init__(self):
        self.requests = []

    def __call__(self, request):
        self.requests.append(request)
        n = request.seed % 100003
        if request.name.startswith("fitness_"):
            a, b = [int(x) for x in re.findall(r"\d+", request.inputs["question"])]
            right = "calculator" in request.inputs["system_prompt"]
            return {"ANSWER": str(a + b if right else a + b + 1), "REASONING": "Adding."}
        if request.name == "init_system_prompt":
            # half the units start as calculators
            return {"PROMPT": f"You are a {'calculator' if n % 2 else 'poet'} number {n}."}
        if request.name == "init_prompt":
            return {"PROMPT": f"Add the two numbers, version {n}."}
        shown = request.inputs.get("task_prompt", "Work the sum out")
        return {"PROMPT": f"{shown.rstrip('.')}, rewritten as version {n}.", "MUTATION": f"Mutate differently {n}.",
                "PROMPT_AFTER": f"Answer only, {n}."}


def genome(tmp_path, model, **settings):
    day_care = load_day_care(DAY_CARE)
    task = day_care.task(TASK)
    config = RunConfig(**{**dict(task=TASK, population_size=6, initial_prompts_per_unit=1, evolution_generations=3,
                                 fitness_batch_size=4, heldout_fraction=0.3, seed=5, quality_gate=False,
                                 selection_examples=10), **settings})
    backend = FakeBackend(responder=model)
    evaluator = FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task), seed=config.seed)
    bred = PromptGenome(config, task.description, mutation_prompts=["Improve it."], thinking_styles=["Think."],
                        suite=task.load_suite(), backend=backend, evaluator=evaluator, query_text=package_query_text)
    return config, bred


def test_each_unit_gets_a_system_prompt_of_its_own_at_generation_0(tmp_path):
    model = Model()
    _, bred = genome(tmp_path, model, breed_system_prompt=True)
    units, failed = bred.create([f"u{i}" for i in range(6)], random.Random(0))
    assert not failed
    assert all(u.system_prompt.startswith("You are a ") for u in units)
    assert len({u.system_prompt for u in units}) == 6
    assert [u.prompts for u in units] == [[u.system_prompt, *u.task_prompts] for u in units]
    asked = [r.name for r in model.requests]
    assert asked.count("init_system_prompt") == 6 and asked.count("init_prompt") == 6


def test_off_by_default_units_have_none_and_fitness_uses_the_default(tmp_path):
    model = Model()
    _, bred = genome(tmp_path, model)
    units, _ = bred.create(["a", "b"], random.Random(0))
    assert all(u.system_prompt is None and u.prompts == u.task_prompts for u in units)
    assert "init_system_prompt" not in [r.name for r in model.requests]
    bred.score([(units, bred.train[:3])], 0)
    fitness = [r for r in model.requests if r.name.startswith("fitness_")]
    assert fitness and {r.inputs["system_prompt"] for r in fitness} == {DEFAULT_SYSTEM_PROMPT}
    assert all(u.fitness == 0.0 for u in units), "no calculator, no right answer"


def test_fitness_tests_ask_under_the_units_own_system_prompt(tmp_path):
    model = Model()
    _, bred = genome(tmp_path, model, breed_system_prompt=True)
    units = [Unit(id="calc", task_prompts=["Add."], mutation_prompt="m", thinking_style="t",
                  system_prompt="You are a calculator."),
             Unit(id="poet", task_prompts=["Add."], mutation_prompt="m", thinking_style="t",
                  system_prompt="You are a poet.")]
    bred.score([(units, bred.train[:4])], 0)
    assert [u.fitness for u in units] == [1.0, 0.0], "same task prompt: only the system prompt differs"
    asked = {r.inputs["system_prompt"] for r in model.requests if r.name.startswith("fitness_")}
    assert asked == {"You are a calculator.", "You are a poet."}


def _ctx(population):
    ids = itertools.count(1)
    return BreedContext(task_description="Add two numbers.", population=population, mutation_prompts=["m"],
                        thinking_styles=["t"], query_text=package_query_text, mutation_decoder=DecoderOptions(),
                        generation=2, new_id=lambda: f"c{next(ids)}")


def _unit(uid, system, task, fitness=0.5):
    return Unit(id=uid, task_prompts=[task], mutation_prompt="Improve it.", thinking_style="Think.",
                system_prompt=system, fitness=fitness)


@pytest.mark.parametrize("name", ["zero_order", "first_order", "eda", "eda_rank_index", "lineage"])
def test_a_per_slot_operator_rewrites_the_system_prompt_as_one_more_slot(name):
    parent = _unit("p", "You are a calculator.", "Add the numbers.")
    population = [parent, _unit("q", "You are a poet.", "Sum them up.", 0.2)]
    op, model = get_operator(name), Model()
    ctx = _ctx(population)
    requests = op.requests(parent, ctx, random.Random(1))
    assert len(requests) == 2, "one query per slot: the system prompt, then the task prompt"
    results = FakeBackend(responder=model).run_many(requests)
    child = op.apply(parent, results, ctx, random.Random(1))
    assert child is not None
    assert child.system_prompt != parent.system_prompt and child.task_prompts != parent.task_prompts
    assert child.system_prompt.endswith(".") and len(child.task_prompts) == 1
    if name == "first_order":
        assert requests[0].inputs["task_prompt"] == "You are a calculator."
        assert requests[1].inputs["task_prompt"] == "Add the numbers."
    if name == "eda":
        # a slot's list holds that slot's texts only: system prompts are not mixed with task prompts
        assert "You are a poet." in requests[0].inputs["prompt_list"]
        assert "Sum them up." not in requests[0].inputs["prompt_list"]


@pytest.mark.parametrize("name", ["zero_order_hyper", "first_order_hyper"])
def test_a_hyper_mutation_rewrites_the_task_prompts_and_inherits_the_system_prompt(name):
    parent = _unit("p", "You are a calculator.", "Add the numbers.")
    op, ctx = get_operator(name), _ctx([parent])
    requests = op.requests(parent, ctx, random.Random(1))
    results = FakeBackend(responder=Model()).run_many(requests)
    child = op.apply(parent, results, ctx, random.Random(1))
    assert child.system_prompt == "You are a calculator."
    assert child.task_prompts != parent.task_prompts and child.mutation_prompt != parent.mutation_prompt


def test_a_run_breeds_system_prompts_reports_them_and_resumes(tmp_path):
    model = Model()
    config, bred = genome(tmp_path, model, breed_system_prompt=True)
    store = RunStore.create(tmp_path / "runs", config.to_dict())
    breeder = Breeder(config, bred, store=store)
    breeder.run()
    report = breeder.report()
    best = report["best"]
    assert "calculator" in best["system_prompt"], "the system prompt is what fitness depends on"
    text = format_report(report)
    assert f"[system: {best['system_prompt']}]" in text
    saved = store.load_latest().state["population"]
    assert all(isinstance(u["system_prompt"], str) for u in saved)
    # stopped after 2 generations and continued to 3, a run ends where the uninterrupted one did
    config2, bred2 = genome(tmp_path, Model(), breed_system_prompt=True, evolution_generations=2)
    store2 = RunStore.create(tmp_path / "runs2", config2.to_dict())
    Breeder(config2, bred2, store=store2).run()
    _, bred3 = genome(tmp_path, Model(), breed_system_prompt=True)
    continued = Breeder(config, bred3, store=store2)
    continued.resume()
    continued.run()
    assert [u.to_dict() for u in continued.population] == saved
    # a unit saved before the option existed has no key, and loads as one without a bred system prompt
    old = dict(saved[0])
    del old["system_prompt"]
    assert Unit.from_dict(old).system_prompt is None
    assert PROMPT.unit_text(saved[0], None).startswith("[system: ")


def test_a_task_that_fixes_its_system_prompt_refuses_the_option_before_making_a_run(tmp_path, capsys):
    import shutil
    import json

    day_care = tmp_path / "dc"
    shutil.copytree(DAY_CARE, day_care, ignore=shutil.ignore_patterns("runs", "debug_runs", "hpo_*"))
    spec_file = day_care / TASK / "task_description.json"
    spec = json.loads(spec_file.read_text())
    spec["fixed_system_prompt"] = "You are terse."
    spec_file.write_text(json.dumps(spec))
    task = load_day_care(day_care).task(TASK)
    with pytest.raises(DayCareError, match=r"fixed_system_prompt: expected null with --breed_system_prompt"):
        PROMPT.check_config(RunConfig(task=TASK, breed_system_prompt=True), task)
    PROMPT.check_config(RunConfig(task=TASK), task)  # without the option, the fixed one is simply used
    code = main(["--task", TASK, "--day_care_dir", str(day_care), "--breed_system_prompt",
                 "--population_size", "2", "--evolution_generations", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "$.fixed_system_prompt" in err and "Traceback" not in err
    assert not (day_care / TASK / "runs").exists(), "refused before a run folder exists"


def test_the_quality_gate_holds_a_bred_system_prompt_to_fluency_not_relevance():
    from promptbreeder.genomes.prompt.mutation import Job, new_texts

    parent = _unit("p", "You are a calculator.", "Add the numbers.")
    child = _unit("c", "You are a patient tutor.", "Add both numbers, then check.")
    assert new_texts(Job(parent, "first_order", None, child=child)) == [
        ("Add both numbers, then check.", True), ("You are a patient tutor.", False)]
    same = _unit("s", "You are a calculator.", "Add both numbers, then check.")
    assert new_texts(Job(parent, "first_order", None, child=same)) == [("Add both numbers, then check.", True)]
