"""Reflective mutation (GEPA): scorer feedback reaches the fitness results and the run's cache, a unit
remembers the answers its prompts got wrong, and the `reflective` operator (with `reflective_mutation`)
shows them to the mutator. Fake backend throughout, one real-model query at the end."""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

import pytest

from promptbreeder.backends.base import DecoderOptions
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.config import RunConfig
from promptbreeder.daycare.loader import load_day_care
from promptbreeder.genomes.prompt.evaluator import Candidate, FitnessEvaluator
from promptbreeder.genomes.prompt.mutation import copy_unit
from promptbreeder.genomes.prompt.operators.base import BreedContext
from promptbreeder.genomes.prompt.operators.registry import get_operator
from promptbreeder.genomes.prompt.scoring import score_units
from promptbreeder.genomes.prompt.unit import MAX_FAILURES, Unit
from promptbreeder.package_queries import package_query_text
from promptbreeder.store.cache import CallCache

DAY_CARE = Path(__file__).resolve().parents[3] / "day_care"
TASK = "arithmetic_1_digit_addition"


def sums(request):
    """Right when the prompt says "carefully"; otherwise one too many. Mutations write from what they see."""
    if request.name.startswith("fitness_"):
        a, b = [int(x) for x in re.findall(r"\d+", request.inputs["question"])]
        right = "carefully" in request.inputs["task_prompt"]
        return {"ANSWER": str(a + b if right else a + b + 1), "REASONING": "Adding."}
    if request.name == "reflective":  # a mutator that learns from the feedback it is shown
        assert "Feedback: wrong: expected the number" in request.inputs["failures"]
        return {"PROMPT": "Add the two numbers carefully; do not add one."}
    return {"PROMPT": f"Add the numbers, version {request.seed % 1000}.", "MUTATION": "Say it differently."}


@pytest.fixture
def setup():
    day_care = load_day_care(DAY_CARE)
    task = day_care.task(TASK)
    return day_care, task, task.load_suite()


def test_fitness_results_carry_the_scorers_feedback_and_the_gold_answers(setup, tmp_path):
    day_care, task, examples = setup
    cache = CallCache(tmp_path / "cache.sqlite")
    backend = FakeBackend(responder=sums)
    evaluator = FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task), cache=cache, model="m")
    [result] = evaluator.evaluate([Candidate("Add them.")], examples[:3], "noCoT")
    gold = [str(e[task.gold_key]) for e in examples[:3]]
    assert result.golds == gold and result.scores == [0.0] * 3
    assert result.feedbacks[0] == f"wrong: expected the number {gold[0]}; the answer gave the number {int(gold[0]) + 1}"
    wrong = result.wrong_answers()
    assert [w["gold"] for w in wrong] == gold and wrong[0]["question"] == examples[0]["input"]
    # the run's cache keeps the feedback: a repeated evaluation answers with it, at no model cost
    again = FitnessEvaluator(day_care, task, FakeBackend(responder=sums), day_care.build_scorer(task), cache=cache,
                             model="m")
    [cached] = again.evaluate([Candidate("Add them.")], examples[:3], "noCoT")
    assert again.cached_results == 3 and cached.feedbacks == result.feedbacks
    cache.close()


def test_a_unit_remembers_its_newest_distinct_wrong_answers_and_a_child_starts_afresh(setup):
    day_care, task, examples = setup
    evaluator = FitnessEvaluator(day_care, task, FakeBackend(responder=sums), day_care.build_scorer(task))
    unit = Unit(id="u", task_prompts=["Add them."], mutation_prompt="m", thinking_style="t")
    score_units(evaluator, ["noCoT"], [([unit], examples[:5])], 0)
    score_units(evaluator, ["noCoT"], [([unit], examples[3:10])], 1)
    assert len(unit.failures) == MAX_FAILURES
    assert [f["question"] for f in unit.failures] == [e["input"] for e in examples[2:10]], "newest last, no repeats"
    assert copy_unit(unit, "c", 2).failures == unit.failures, "a copy has the same prompts, so the same mistakes"
    assert Unit.from_dict({k: v for k, v in unit.to_dict().items() if k != "failures"}).failures == []


def _ctx():
    ids = itertools.count(1)
    return BreedContext(task_description="Add two numbers.", population=[], mutation_prompts=["m"],
                        thinking_styles=["t"], query_text=package_query_text, mutation_decoder=DecoderOptions(),
                        generation=3, new_id=lambda: f"c{next(ids)}")


def test_the_reflective_operator_shows_a_few_failures_and_writes_the_new_prompt():
    failures = [{"question": f"What is {i} plus {i}?", "answer": str(2 * i + 1), "gold": str(2 * i),
                 "feedback": f"wrong: expected the number {2 * i}; the answer gave the number {2 * i + 1}"}
                for i in range(5)]
    parent = Unit(id="p", task_prompts=["Add them."], mutation_prompt="m", thinking_style="t", failures=failures)
    op, ctx = get_operator("reflective"), _ctx()
    [request] = op.requests(parent, ctx, random.Random(0))
    assert request.name == "reflective" and request.inputs["task_prompt"] == "Add them."
    shown = request.inputs["failures"]
    assert shown.count("Problem: ") == 3 and "Model's answer: " in shown and "Correct answer: " in shown
    child = op.apply(parent, FakeBackend(responder=sums).run_many([request]), ctx, random.Random(0))
    assert child.task_prompts == ["Add the two numbers carefully; do not add one."] and child.failures == []
    assert child.operator == "reflective" and child.parent == "p"
    lonely = Unit(id="q", task_prompts=["Add them."], mutation_prompt="m", thinking_style="t")
    assert op.requests(lonely, ctx, random.Random(0)) == [], "nothing to reflect on: another operator is used"
    echo = FakeBackend(responder=lambda r: {"PROMPT": failures[0]["feedback"]}).run_many([request])
    assert op.apply(parent, echo, ctx, random.Random(0)) is None, "restating the feedback is no instruction"


def _breeder(fake_breeder, name, store=None, **settings):
    return fake_breeder(name, sums, store=store, **{**dict(population_size=4, evolution_generations=4,
                                                            fitness_batch_size=4, seed=2), **settings})


def test_a_run_with_reflective_mutation_draws_it_learns_from_its_failures_and_resumes(fake_breeder):
    off, backend_off = _breeder(fake_breeder, "off")
    off.run()
    assert "reflective" not in {r.name for r in backend_off.requests}, "off by default: the paper's operators"
    # debug mode cycles through the operators in order, so with 9 of them the 9th child is reflective's
    on, backend = _breeder(fake_breeder, "on", reflective_mutation=True, evolution_generations=5)
    on.run()
    assert "reflective" in on.genome.mutator.stats and on.genome.mutator.stats["reflective"]["used"] >= 1
    assert any(u.task_prompt == "Add the two numbers carefully; do not add one." for u in on.population)
    report = on.report()
    assert report["best"]["task_prompts"] == ["Add the two numbers carefully; do not add one."]
    # stopped after 3 generations and continued, it ends where the whole run did
    part, _ = _breeder(fake_breeder, "part", reflective_mutation=True, evolution_generations=3)
    part.run()
    rest, _ = _breeder(fake_breeder, "part", store=part.store, reflective_mutation=True, evolution_generations=5)
    rest.resume()
    rest.run()
    assert [u.to_dict() for u in rest.population] == [u.to_dict() for u in on.population]


@pytest.mark.integration
def test_a_reflective_mutation_on_the_real_model_writes_one_instruction(real_backend):
    failures = [{"question": "What is 4 plus 5?", "answer": "10", "gold": "9",
                 "feedback": "wrong: expected the number 9; the answer gave the number 10"},
                {"question": "What is 2 plus 7?", "answer": "8", "gold": "9",
                 "feedback": "wrong: expected the number 9; the answer gave the number 8"}]
    parent = Unit(id="p", task_prompts=["Add the numbers."], mutation_prompt="m", thinking_style="t",
                  failures=failures)
    op, ctx = get_operator("reflective"), _ctx()
    [request] = op.requests(parent, ctx, random.Random(0))
    [result] = real_backend.run_many([request])
    reply = result.variables["PROMPT"].strip()
    # the embedded model writes one line of instruction here (argmax: it restates "Add the numbers.")
    assert result.ok and reply and "\n" not in reply and not reply.startswith(("Problem:", "Correct answer:"))
    child = op.apply(parent, [result], ctx, random.Random(0))
    # a restated instruction is no mutation (None: the engine tries another operator); a new one is kept
    assert child is None or (child.task_prompt != "Add the numbers." and child.task_prompt.strip())


def test_a_reflective_run_asks_its_scorer_for_reasons_and_a_plain_run_does_not(setup):
    from promptbreeder.genomes.prompt.kind import PROMPT

    day_care, task, examples = setup
    asked = []

    class Recording(type(day_care.build_scorer(task))):
        def judge_many(self, predictions, examples, explain=False):
            asked.append(explain)
            return super().judge_many(predictions, examples, explain)

    for reflective in (True, False):
        config = RunConfig(task=TASK, reflective_mutation=reflective, quality_gate=False)
        genome = PROMPT.build(config, day_care, task, FakeBackend(responder=sums))
        assert genome.evaluator.explain is reflective
        genome.evaluator.scorer = Recording(task.name, None, **genome.evaluator.scorer.args)
        genome.evaluator.evaluate([Candidate("Add them.")], examples[:2], "noCoT")
    assert asked == [True, False]
