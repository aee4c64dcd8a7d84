"""The HPO genome with its default surrogate, the tree ensemble (`surrogate: "forest"`): each child is the
candidate (LLM proposals, uniform samples, perturbations) the surrogate rates best, with no model query
spent on judging; a run continues where it stopped and the seed decides it; on a smooth objective the
model-free GA with the forest beats random search at the same number of evaluations.
"""

from __future__ import annotations

import dataclasses
import random
import statistics

import pytest

from promptbreeder.backends.fake import FakeBackend
from promptbreeder.config import RunConfig
from promptbreeder.package_queries import package_query_text
from promptbreeder.evolution import Breeder
from promptbreeder.genomes.hpo import genome as config_module
from promptbreeder.genomes.hpo.genome import LLAMBO, ConfigGenome, ConfigOptions, ConfigUnit
from promptbreeder.genomes.hpo.space import SearchSpace
from promptbreeder.store.run_store import RunStore

SPACE = SearchSpace.from_spec({
    "x": {"type": "float", "low": 0, "high": 1},
    "y": {"type": "float", "low": 0, "high": 1},
    "kind": {"type": "categorical", "choices": ["a", "b"]},
})
BEST = {"x": 0.3, "y": 0.6, "kind": "b"}


def toy_score(config: dict) -> float:
    return -(config["x"] - 0.3) ** 2 - (config["y"] - 0.6) ** 2 + (0.05 if config["kind"] == "b" else 0.0)


def reply(config: dict) -> dict:
    return {"P0": f"{config['x']}\n", "P1": f"{config['y']}\n", "P2": config["kind"]}


def make_genome(proposals=(), **options):
    queue = list(proposals)

    def respond(request):
        assert request.name == "config_propose", "the forest sends no surrogate query"
        return reply(queue.pop(0) if queue else BEST)

    backend = FakeBackend(responder=respond)
    genome = ConfigGenome(None, "Tune a toy.", SPACE, toy_score, backend=backend, query_text=package_query_text,
                          options=dataclasses.replace(LLAMBO, **({"surrogate": "forest"} | options)))
    return genome, backend


def scored(genome, configs):
    population = [ConfigUnit(id=f"u{i}", config=dict(c)) for i, c in enumerate(configs)]
    genome.score([(population, None)], 0)
    return population


FOUR = [{"x": 0.9, "y": 0.1, "kind": "a"}, {"x": 0.1, "y": 0.9, "kind": "a"},
        {"x": 0.5, "y": 0.5, "kind": "b"}, {"x": 0.2, "y": 0.2, "kind": "b"}]


class OracleForest:
    """Stands in for the tree ensemble: predicts the true score exactly (and records what it ranked)."""
    ranked: list[dict] = []

    def __init__(self, trees=64, seed=0):
        pass

    def fit(self, points, fitness):
        return self

    def predict(self, points):
        configs = [SPACE.from_unit(p) for p in points]
        OracleForest.ranked = configs
        return [toy_score(c) for c in configs], [0.0] * len(configs)


@pytest.fixture
def oracle(monkeypatch):
    monkeypatch.setattr(config_module, "CROSSOVER_RATE", 0.0)
    monkeypatch.setattr(config_module, "ForestSurrogate", OracleForest)


def test_the_child_is_the_candidate_the_surrogate_rates_best(oracle):
    genome, backend = make_genome(proposals=[BEST, {"x": 0.95, "y": 0.05, "kind": "a"}])
    population = scored(genome, FOUR)
    [birth] = genome.breed([population[2]], population, 1, lambda: "c1", random.Random(0))
    assert backend.batches == [["config_propose"] * 2], "LLM candidates only; nothing asked of the model to judge"
    assert birth.child.operator == "llm_proposal" and SPACE.key(birth.child.config) == SPACE.key(BEST)
    assert len(OracleForest.ranked) == 2 + ConfigOptions().screen_random


def test_without_a_good_llm_candidate_the_best_uniform_sample_wins(oracle):
    bad = {"x": 0.99, "y": 0.01, "kind": "a"}
    genome, _ = make_genome(proposals=[bad, bad])
    population = scored(genome, FOUR)
    [birth] = genome.breed([population[2]], population, 1, lambda: "c1", random.Random(0))
    assert birth.child.operator == "random_sample"
    assert toy_score(birth.child.config) == max(toy_score(c) for c in OracleForest.ranked)


def test_perturbations_of_the_winner_and_of_the_best_join_the_pool(oracle, monkeypatch):
    monkeypatch.setattr(config_module, "SCREEN_SCALES", (0.02,))
    genome, _ = make_genome(proposal="none", screen_random=0, screen_perturbations=6)
    population = scored(genome, FOUR)
    [birth] = genome.breed([population[0]], population, 1, lambda: "c1", random.Random(0))
    assert birth.child.operator == "perturb" and len(OracleForest.ranked) == 6
    units = [SPACE.to_unit(c) for c in OracleForest.ranked]
    near_winner, near_best = units[0::2], units[1::2]
    winner, best = SPACE.to_unit(FOUR[0]), SPACE.to_unit(FOUR[2])
    distance = lambda a, b: max(abs(p - q) for p, q in zip(a[:2], b[:2]))
    assert all(distance(u, winner) < distance(u, best) for u in near_winner)
    assert all(distance(u, best) < distance(u, winner) for u in near_best)


def test_with_too_few_evaluations_the_first_llm_candidate_is_taken(oracle):
    genome, _ = make_genome(proposals=[{"x": 0.8, "y": 0.8, "kind": "a"}, BEST])
    population = scored(genome, FOUR[:3])
    [birth] = genome.breed([population[0]], population, 1, lambda: "c1", random.Random(0))
    assert birth.child.operator == "llm_proposal" and birth.child.config["x"] == 0.8
    assert OracleForest.ranked == [] or len(OracleForest.ranked) != 2 + ConfigOptions().screen_random


def test_children_of_one_call_differ_and_are_new(oracle):
    genome, _ = make_genome(proposals=[BEST] * 8)
    population = scored(genome, FOUR)
    births = genome.breed(population, population, 1, iter(f"c{i}" for i in range(9)).__next__, random.Random(1))
    keys = [SPACE.key(b.child.config) for b in births]
    assert len(set(keys)) == 4 and not set(keys) & {SPACE.key(c) for c in FOUR}


def run(tmp_path, seed, generations=3, store=None):
    config = RunConfig(task="toy", population_size=6, evolution_generations=generations, seed=seed)
    store = store or RunStore.create(tmp_path, config.to_dict())
    genome, _ = make_genome(proposal="none", warm_start="random")
    return Breeder(config, genome, store=store, log_line=lambda line: None)


def test_a_forest_run_continues_where_it_stopped_and_the_seed_decides_it(tmp_path):
    whole = run(tmp_path / "whole", seed=5).run()
    again = run(tmp_path / "again", seed=5).run()
    other = run(tmp_path / "other", seed=6).run()
    first = run(tmp_path / "stopped", seed=5, generations=1)
    first.run()
    continued = run(tmp_path / "unused", seed=5, store=first.store).run()
    assert whole == again == continued and whole["evaluations"] != other["evaluations"]


def test_the_forest_beats_random_search_at_the_same_budget(tmp_path):
    ours, uniform = [], []
    for seed in range(8):
        final = run(tmp_path / f"s{seed}", seed=seed, generations=8).run()
        scores = [e["score"] for e in final["evaluations"]]
        ours.append(max(scores))
        rng = random.Random(seed)
        uniform.append(max(toy_score(SPACE.sample(rng)) for _ in scores))
    assert statistics.fmean(ours) > statistics.fmean(uniform)
    assert sum(o > u for o, u in zip(ours, uniform)) >= 6
