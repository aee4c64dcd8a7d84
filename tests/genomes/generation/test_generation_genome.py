"""The generation-parameters genome: decoding configurations scored by the task's fitness, no model.

The fake backend answers fitness queries right only when they are decoded cold (temperature < 0.5)
with nucleus sampling on (top_p < 0.9): the evolved configuration must find that corner.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from promptbreeder.backends.base import DecoderOptions
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.config import RunConfig
from promptbreeder.daycare.loader import load_day_care
from promptbreeder.evolution import Breeder
from promptbreeder.errors import DayCareError
from promptbreeder.genomes.generation.genome import SPACE, decoder_for
from promptbreeder.genomes.generation.kind import GENERATION
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


def decoding_task(shipped_day_care, **changes):
    """The shipped arithmetic_decoding task in a copied day care, its task_description.json changed."""
    file = shipped_day_care / "arithmetic_decoding" / "task_description.json"
    data = json.loads(file.read_text())
    data.update(changes)
    file.write_text(json.dumps(data))
    return load_day_care(shipped_day_care)


def test_a_task_declares_its_own_space_and_the_search_stays_in_it(tmp_path, shipped_day_care):
    day_care = decoding_task(shipped_day_care, search_space={
        "temperature": {"type": "float", "low": 0.0, "high": 1.0}, "top_k": {"type": "categorical", "choices": [0, 10]}})
    backend = FakeBackend(responder=world)
    task = day_care.task("arithmetic_decoding")
    config = RunConfig(task=task.name, population_size=4, evolution_generations=2, seed=3, fitness_batch_size=5)
    genome = build_genome(config, day_care, task, backend)
    Breeder(config, genome, store=RunStore.create(tmp_path / "runs", config.to_dict())).run()
    assert genome.space.names == ["temperature", "top_k"]
    for entry in genome.evaluations:
        assert set(entry["config"]) == {"temperature", "top_k"} and 0 <= entry["config"]["temperature"] <= 1
    fitness = [r for r in backend.requests if r.name == "fitness_noCoT"]
    assert {r.decoder.top_p for r in fitness} == {None} and {r.decoder.top_k for r in fitness} <= {None, 10}
    assert {r.seed for r in fitness} <= {0, None}  # no seed in the space: every configuration samples with seed 0


def test_temperature_zero_decodes_greedily_and_left_out_parameters_are_neutral():
    assert decoder_for({"temperature": 0.0, "top_k": 5}) == DecoderOptions(method="argmax")
    assert decoder_for({"top_p": 0.9}) == DecoderOptions(method="sample", temperature=1.0, top_p=0.9)
    assert decoder_for({"temperature": 0.7, "top_k": 0, "tfs": 1.0, "top_a": 0.0}, stop=("\n",)) == \
        DecoderOptions(method="sample", temperature=0.7, stop=("\n",))


@pytest.mark.parametrize("space, where, expected", [
    ({"beam_width": {"type": "int", "low": 1, "high": 4}}, "$.search_space.beam_width",
     "expected a decoding parameter: one of temperature, top_k, top_p, tfs, top_a, seed"),
    ({"top_p": {"type": "float", "low": 0.5, "high": 1.5}}, "$.search_space.top_p.high", "expected a number in (0, 1]"),
    ({"top_k": {"type": "float", "low": 1, "high": 40}}, "$.search_space.top_k.type", 'expected "int" for top_k'),
    ({"temperature": {"type": "categorical", "choices": [0.5, "hot"]}}, "$.search_space.temperature.choices[1]",
     "expected a number in [0, 10]"),
    ({"temperature": {"type": "float", "low": 2.0, "high": 1.0}}, "$.search_space.temperature", "low"),
])
def test_a_bad_space_is_one_line_naming_the_file_path_and_expectation(shipped_day_care, space, where, expected):
    day_care = decoding_task(shipped_day_care, search_space=space)
    with pytest.raises(DayCareError) as caught:
        day_care.task("arithmetic_decoding")
    message = str(caught.value)
    assert "arithmetic_decoding/task_description.json" in message and where in message and expected in message
    assert "\n" not in message


def test_a_prompt_task_with_a_search_space_is_told_it_belongs_to_the_generation_genome(shipped_day_care):
    day_care = decoding_task(shipped_day_care, genome="prompt", search_space={"temperature": {"type": "float", "low": 0.1, "high": 1}})
    with pytest.raises(DayCareError, match=r'\$\.search_space.*expected only with "genome": "generation"'):
        day_care.task("arithmetic_decoding")


def test_the_report_compares_the_best_decoder_with_the_tasks_on_held_out_examples(tmp_path):
    backend = FakeBackend(responder=world)
    breeder, genome = make(tmp_path, backend, generations=3)
    breeder.run()
    report = breeder.report()
    heldout = report["heldout"]
    assert heldout["examples"] == len(genome_heldout(breeder))
    best, task_decoder = heldout["rows"]
    assert best["config"] == report["best"]["config"] and best["score"] == 1.0 and best["seed"] == report["best"]["config"]["seed"]
    assert task_decoder["decoder"] == "argmax" and task_decoder["score"] == 0.0  # argmax is not "cold" in this world
    assert heldout["difference"] == {"mean": 1.0, "low": 1.0, "high": 1.0}
    asked = {r.inputs["question"] for r in backend.requests if r.name == "fitness_noCoT" and r.decoder.method == "argmax"}
    assert asked == {e["input"] for e in genome_heldout(breeder)}
    text = genome.format_report(report)
    assert f"held-out comparison on {heldout['examples']} examples" in text
    assert "best - task's decoder: +1.000 (95% CI +1.000 to +1.000" in text
    assert [r["name"] for r in genome.report_rows(report)][-2:] == ["held-out: best configuration",
                                                                   "held-out: the task's fitness decoder"]
    assert GENERATION.format_saved_report(report, GENERATION.saved_space(None)) == text


def genome_heldout(breeder):
    from promptbreeder.genomes.prompt.split import train_heldout_split

    task = load_day_care(DAY_CARE).task("arithmetic_decoding")
    return train_heldout_split(task.load_suite(), breeder.config.heldout_fraction, breeder.config.seed)[1]


@pytest.mark.integration
def test_the_generation_genome_on_the_real_model_finds_greedy_and_reports_it_on_held_out_data(tmp_path, shipped_day_care,
                                                                                               real_backend):
    """SmolLM2-135M writes salad when hot: of greedy and temperature 1.5 the search keeps greedy, and the
    held-out comparison with the task's own decoder (argmax) then gets the same answers: a difference of 0."""
    day_care = decoding_task(shipped_day_care, search_space={"temperature": {"type": "categorical", "choices": [0.0, 1.5]}})
    task = day_care.task("arithmetic_decoding")
    config = RunConfig(task=task.name, population_size=2, evolution_generations=0, fitness_batch_size=8,
                       test_CoT=False, heldout_fraction=0.08)
    breeder = Breeder(config, build_genome(config, day_care, task, real_backend),
                      store=RunStore.create(tmp_path / "runs", config.to_dict()))
    breeder.run()
    report = breeder.report()
    scores = {e["config"]["temperature"]: e["score"] for e in breeder.genome.evaluations}
    assert set(scores) == {0.0, 1.5} and scores[0.0] > scores[1.5], scores
    best, own = report["heldout"]["rows"]
    assert report["heldout"]["examples"] == 8 and best["decoder"] == own["decoder"] == "argmax"
    assert best["answers"] == own["answers"] and any(a.strip() for a in best["answers"])
    assert report["heldout"]["difference"]["mean"] == 0.0
