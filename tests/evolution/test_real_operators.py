"""The engine with the real operator registry (and its .lmql queries) over a fake backend: no model."""

from __future__ import annotations

import re

import pytest

from promptbreeder.backends.fake import FakeBackend
from promptbreeder.config import RunConfig
from promptbreeder.evolution import Breeder
from promptbreeder.genomes.prompt.mutation import OperatorSource
from promptbreeder.genomes.prompt.evaluator import FitnessEvaluator
from promptbreeder.genomes.prompt.genome import PromptGenome
from promptbreeder.store.run_store import RunStore

registry = pytest.importorskip("promptbreeder.genomes.prompt.operators.registry")
TASK = "arithmetic_1_digit_addition"
WORDS = ("carefully", "quickly", "exactly", "slowly")


def responder(request):
    if request.name.startswith("fitness_"):
        a, b = [int(n) for n in re.findall(r"\d+", request.inputs["question"])]
        right = "carefully" in request.inputs["task_prompt"]
        return {"REASONING": f"{a} plus {b}.", "ANSWER": str(a + b if right else a + b + 1)}
    word = WORDS[request.seed % len(WORDS)]
    return {"PROMPT": f"Add the two numbers {word} and reply with the sum ({request.seed % 997}).",
            "MUTATION": f"Rewrite the instruction so it sounds {word} ({request.seed % 991})."}


def make(tmp_path, day_care, generations, store=None):
    task = day_care.task(TASK)
    config = RunConfig(task=TASK, population_size=8, evolution_generations=generations, fitness_batch_size=4, seed=5)
    backend = FakeBackend(responder=responder)
    store = store or RunStore.create(tmp_path / "runs", config.to_dict())
    genome = PromptGenome(config, task.description, mutation_prompts=[p.text for p in day_care.mutation_prompts],
                          thinking_styles=[p.text for p in day_care.thinking_styles], suite=task.load_suite(),
                          backend=backend, evaluator=FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task)),
                          query_text=lambda name: day_care.query_text(name, TASK), mutation_decoder=task.decoder)
    return Breeder(config, genome, store=store)


def test_a_run_with_the_real_operators_breeds_and_continues_identically(tmp_path, day_care):
    reference = make(tmp_path / "a", day_care, 4)
    final = reference.run()
    names = set(registry.mutation_operator_names())
    tournaments = [e for e in reference.store.events() if e["event"] == "tournament"]
    assert len(tournaments) == 16 and {t["operator"] for t in tournaments} <= names | {"copy"}
    assert {u["operator"] for u in final["population"]} <= names | {"copy", "init"}
    assert all(u["task_prompts"] and u["task_prompts"][0].strip() for u in final["population"])
    assert set(final["operator_stats"]) <= names | set(registry.POST_MUTATION)

    stopped = make(tmp_path / "b", day_care, 2)
    stopped.run()
    assert make(tmp_path / "b", day_care, 4, store=stopped.store).run() == final
    assert OperatorSource.from_registry().post_mutation_rate == registry.POST_MUTATION_RATE
