"""Scoring units (`genomes/prompt/scoring.py`): a unit's fitness is the mean over every batch it was scored
on, and the run's settings reach the fitness queries."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from promptbreeder.backends.fake import FakeBackend
from promptbreeder.config import RunConfig
from promptbreeder.daycare.loader import load_day_care
from promptbreeder.genomes.prompt.evaluator import Candidate, FitnessEvaluator
from promptbreeder.genomes.prompt.scoring import score_units
from promptbreeder.genomes.prompt.unit import Unit
from promptbreeder.genomes.registry import KINDS

DAY_CARE = Path(__file__).resolve().parents[3] / "day_care"


def right_on_even_sums(request):
    a, b = [int(w) for w in request.inputs["question"].replace("?", "").split() if w.isdigit()]
    return str(a + b) if (a + b) % 2 == 0 else "-1"


def test_fitness_is_the_mean_over_every_batch_the_unit_was_scored_on():
    day_care = load_day_care(DAY_CARE)
    task = day_care.task("arithmetic_1_digit_addition")
    suite = task.load_suite()
    evens = [e for e in suite if int(e[task.gold_key]) % 2 == 0][:4]
    odds = [e for e in suite if int(e[task.gold_key]) % 2 == 1][:4]
    evaluator = FitnessEvaluator(day_care, task, FakeBackend(responder=right_on_even_sums), day_care.build_scorer(task))
    unit = Unit(id="u1", task_prompts=["Add."], mutation_prompt="m", thinking_style="t")
    score_units(evaluator, ["noCoT"], [([unit], evens)], generation=0)
    assert unit.fitness == 1.0
    score_units(evaluator, ["noCoT"], [([unit], odds)], generation=1)
    assert unit.fitness == pytest.approx(0.5), "one bad batch halves a perfect record, it does not erase it"
    score_units(evaluator, ["noCoT"], [([unit], evens + odds)], generation=2)
    assert [e["fitness"] for e in unit.fitness_history] == [1.0, 0.0, 0.5] and unit.fitness == pytest.approx(0.5)


def test_reasoning_max_tokens_is_a_setting_that_reaches_the_chain_of_thought_query():
    config = RunConfig(task="arithmetic_1_digit_addition", day_care_dir=str(DAY_CARE), reasoning_max_tokens=40,
                       population_size=2).validate()
    day_care = load_day_care(DAY_CARE)
    backend = FakeBackend(responder=lambda r: {"REASONING": " 1 and 1.", "ANSWER": "2"})
    genome = KINDS["prompt"].build(config, day_care, day_care.task(config.task), backend)
    [result] = genome.evaluator.evaluate([Candidate("Add.")], genome.train[:2], "CoT")
    assert [r.strip() for r in result.reasonings] == ["1 and 1.", "1 and 1."]
    assert {r.inputs["reasoning_max_tokens"] for r in backend.requests} == {40}
    assert RunConfig().reasoning_max_tokens == 96


def test_a_batch_larger_than_the_training_split_is_the_whole_split():
    config = RunConfig(task="arithmetic_1_digit_addition", day_care_dir=str(DAY_CARE), fitness_batch_size=10_000,
                       population_size=2).validate()
    day_care = load_day_care(DAY_CARE)
    genome = KINDS["prompt"].build(config, day_care, day_care.task(config.task), FakeBackend())
    batch = genome.draw_batch(random.Random(0))
    assert sorted(map(str, batch)) == sorted(map(str, genome.train)) and len(batch) == len(genome.train)
