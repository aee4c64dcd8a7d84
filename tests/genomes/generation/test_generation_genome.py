"""The generation-parameters genome: decoding configurations scored by the task's fitness, no model.

The fake backend answers fitness queries right only when they are decoded cold (temperature < 0.5)
with nucleus sampling on (top_p < 0.9): the evolved configuration must find that corner.
"""

from __future__ import annotations

import re
from pathlib import Path

from promptbreeder.backends.fake import FakeBackend
from promptbreeder.config import RunConfig
from promptbreeder.daycare.loader import load_day_care
from promptbreeder.evolution import Breeder
from promptbreeder.genomes.generation.genome import SPACE, decoder_for
from promptbreeder.genomes.registry import build_genome
from promptbreeder.store.run_store import RunStore

DAY_CARE = Path(__file__).resolve().parents[3] / "day_care"


def world(request):
    if request.name == "config_propose":  # the LLM proposes a cold nucleus configuration
        return {"P0": "0.2\n", "P1": "40\n", "P2": "0.8\n", "P3": "0.95\n", "P4": "0.1\n", "P5": f"{request.seed % 100}\n"}
    if request.name == "fitness_noCoT":
        a, b = (int(n) for n in re.findall(r"\d+", request.inputs["question"])[:2])
        cold = request.decoder.temperature < 0.5 and (request.decoder.top_p or 1.0) < 0.9
        return {"ANSWER": str(a + b if cold else a + b + 1)}
    raise AssertionError(request.name)


def make(tmp_path, backend, generations=2, seed=3):
    day_care = load_day_care(DAY_CARE)
    task = day_care.task("arithmetic_decoding")
    config = RunConfig(task=task.name, population_size=4, evolution_generations=generations, seed=seed,
                       fitness_batch_size=5)
    genome = build_genome(config, day_care, task, backend)
    return Breeder(config, genome, store=RunStore.create(tmp_path / "runs", config.to_dict())), genome


def test_a_configuration_becomes_the_fitness_decoder_and_seed(tmp_path):
    backend = FakeBackend(responder=world)
    breeder, genome = make(tmp_path, backend, generations=0)
    breeder.run()
    fitness = [r for r in backend.requests if r.name == "fitness_noCoT"]
    evaluated = genome.evaluations
    assert len(evaluated) == 4 and len(fitness) == 4 * 5, "every configuration on the same 5 examples"
    for entry in evaluated:
        asked = [r for r in fitness if r.decoder == decoder_for(entry["config"]) and r.seed == entry["config"]["seed"]]
        assert len(asked) == 5
        assert len({r.inputs["question"] for r in asked}) == 5
    assert {r.inputs["task_prompt"] for r in fitness} == {"Add the two numbers and reply with only the result."}
    cold = [e for e in evaluated if e["config"]["temperature"] < 0.5 and e["config"]["top_p"] < 0.9]
    assert cold and all(e["score"] == 1.0 for e in cold)
    assert all(e["score"] == 0.0 for e in evaluated if e not in cold)


def test_every_proposed_value_lies_in_the_space(tmp_path):
    def wild(request):
        if request.name == "config_propose":
            return {"P0": "9\n", "P1": "100000\n", "P2": "7\n", "P3": "0\n", "P4": "3\n", "P5": "123456\n"}
        return world(request)

    breeder, genome = make(tmp_path, FakeBackend(responder=wild), generations=2)
    breeder.run()
    for entry in genome.evaluations:
        for name, spec in SPACE.items():
            assert spec["low"] <= entry["config"][name] <= spec["high"], (name, entry["config"])
        decoder_for(entry["config"])  # always a valid decoder


def test_the_run_finds_the_cold_corner_and_reports_it(tmp_path):
    breeder, genome = make(tmp_path, FakeBackend(responder=world), generations=3)
    breeder.run()
    report = breeder.report()
    assert report["best"]["score"] == 1.0 and report["best"]["config"]["temperature"] < 0.5
    assert "configurations evaluated" in genome.format_report(report)
