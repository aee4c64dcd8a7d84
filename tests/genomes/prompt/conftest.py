"""A prompt-genome Breeder on the shipped arithmetic task with a fake backend, for the operator tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptbreeder.backends.fake import FakeBackend
from promptbreeder.config import RunConfig
from promptbreeder.daycare.loader import load_day_care
from promptbreeder.evolution import Breeder
from promptbreeder.genomes.prompt.evaluator import FitnessEvaluator
from promptbreeder.genomes.prompt.genome import PromptGenome
from promptbreeder.package_queries import package_query_text
from promptbreeder.store.run_store import RunStore

DAY_CARE = Path(__file__).resolve().parents[3] / "day_care"
TASK = "arithmetic_1_digit_addition"


@pytest.fixture
def fake_breeder(tmp_path):
    """fake_breeder(name, responder, store=None, **settings) -> (Breeder, FakeBackend): one prompt per unit,
    the package's queries, debug mode (operators in turn) and no quality gate unless `settings` say."""
    day_care = load_day_care(DAY_CARE)
    task = day_care.task(TASK)

    def make(name, responder, store=None, **settings):
        config = RunConfig(**{**dict(task=TASK, initial_prompts_per_unit=1, heldout_fraction=0.3, quality_gate=False,
                                     selection_examples=10, debug_mode=True), **settings})
        backend = FakeBackend(responder=responder)
        evaluator = FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task), seed=config.seed)
        genome = PromptGenome(config, task.description, mutation_prompts=["Improve it."], thinking_styles=["Think."],
                              suite=task.load_suite(), backend=backend, evaluator=evaluator,
                              query_text=package_query_text)
        return Breeder(config, genome, store=store or RunStore.create(tmp_path / name, config.to_dict())), backend

    return make
