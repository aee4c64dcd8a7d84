"""The HPO genome (`genomes/config.py`) without a model: LLAMBO-style warm start, candidate sampling, LLM
surrogate with EI/UCB acquisition, crossover, the perturb fallback, scoring with an evaluation history,
reports, state round trips and a whole run through the GA engine (continued runs end where uninterrupted
ones do).

The search space is small (x float 0..1, n int 1..10, kind categorical a/b) and the objective a cheap
Python function whose calls are counted. The fake backend answers `config_propose` with values written the
way the LMQL patterns produce them ("0.31\\n", "4\\n", "b") and `config_surrogate` with a SCORE.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from pathlib import Path

import pytest

from promptbreeder.backends.base import DecoderOptions, query_holes
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.config import RunConfig
from promptbreeder.package_queries import package_query_text
from promptbreeder.evolution import Breeder
from promptbreeder.genomes.hpo import genome as config_module
from promptbreeder.genomes.hpo.genome import HISTORY_WINDOW, LLAMBO, ConfigGenome, ConfigOptions, ConfigUnit
from promptbreeder.genomes.hpo.space import SearchSpace
from promptbreeder.store.run_store import RunStore

SPACE = SearchSpace.from_spec({
    "x": {"type": "float", "low": 0, "high": 1},
    "n": {"type": "int", "low": 1, "high": 10},
    "kind": {"type": "categorical", "choices": ["a", "b"]},
})
DESCRIPTION = "Tune x, n and kind of a toy model."


def toy_score(config: dict) -> float:
    return -(config["x"] - 0.3) ** 2 - abs(config["n"] - 4) / 10 + (0.1 if config["kind"] == "b" else 0.0)


class Objective:
    """The toy objective, counting its calls (a configuration must be evaluated once)."""

    def __init__(self, function=toy_score):
        self.function = function
        self.calls: list[dict] = []

    def __call__(self, config: dict) -> float:
        self.calls.append(dict(config))
        return self.function(config)


def Backend(responder) -> FakeBackend:
    """A fake backend answering with `responder`; it records each call's query names in `batches`."""
    return FakeBackend(responder=responder)


def reply(x, n, kind) -> dict:
    """A config_propose reply as the LMQL constraints write it (numbers end with their newline)."""
    return {"P0": f"{x}\n", "P1": f"{n}\n", "P2": kind}


def seeded_proposal(request) -> dict:
    """A deterministic proposal derived from the request seed (for whole runs and resumes)."""
    s = request.seed
    return reply(round((s % 997) / 996, 3), s % 10 + 1, "ab"[(s // 10) % 2])


class World:
    """Replies keyed off request.name.

    `proposals`: config_propose replies handed out in order (a callable entry is called with the request,
    an exception instance is raised to make the query fail); after they run out, `seeded_proposal`.
    `predict(config, sample_index) -> str`: the SCORE text of a config_surrogate request.
    """

    def __init__(self, proposals=(), predict=None):
        self.proposals = list(proposals)
        self.predict = predict or (lambda config, i: "0.5\n")
        self.surrogate_calls: dict[str, int] = {}

    def __call__(self, request):
        if request.name == "config_propose":
            if not self.proposals:
                return seeded_proposal(request)
            entry = self.proposals.pop(0)
            if isinstance(entry, Exception):
                raise entry
            return entry(request) if callable(entry) else entry
        if request.name in ("config_surrogate", "config_classify"):
            text = request.inputs["candidate"]
            index = self.surrogate_calls.get(text, 0)
            self.surrogate_calls[text] = index + 1
            hole = "SCORE" if request.name == "config_surrogate" else "CLASS"
            return {hole: self.predict(json.loads(text), index)}
        raise AssertionError(f"unexpected query {request.name}")


def make_genome(world=None, objective=None, direction="maximize", **options):
    """Most tests here follow the LLM surrogate's queries; the forest surrogate's tests ask for it."""
    options = {"surrogate": "llm"} | options
    backend = Backend(world if world is not None else World())
    genome = ConfigGenome(None, DESCRIPTION, SPACE, objective if objective is not None else Objective(),
                          backend=backend, query_text=package_query_text, direction=direction,
                          options=dataclasses.replace(LLAMBO, **options))
    return genome, backend


def unit(uid, x, n, kind, **fields) -> ConfigUnit:
    return ConfigUnit(id=uid, config={"x": x, "n": n, "kind": kind}, **fields)


def scored_population(genome, configs=((0.1, 1, "a"), (0.9, 9, "b"), (0.5, 6, "a"), (0.2, 2, "b"))):
    population = [unit(f"u{i}", *c) for i, c in enumerate(configs)]
    genome.score([(population, None)], 0)
    return population


def id_counter(start=100):
    counter = iter(range(start, 10_000))
    return lambda: f"u{next(counter)}"


def target_value(request) -> float:
    text = request.inputs["target"]
    assert text.startswith(" expected to reach a score of "), text
    return float(text.rsplit(" ", 1)[1])


@pytest.fixture
def no_crossover(monkeypatch):
    monkeypatch.setattr(config_module, "CROSSOVER_RATE", 0.0)


# -- warm start --------------------------------------------------------------------------------------


def test_warm_start_proposes_one_configuration_per_unit_in_one_batch():
    world = World([reply(0.31, 4, "b"), reply(0.7, 2, "a"), reply(0.05, 10, "b"), reply(1, 1, "a")])
    genome, backend = make_genome(world)
    units, events = genome.create(["u0", "u1", "u2", "u3"], random.Random(1))
    assert backend.batches == [["config_propose"] * 4]
    assert [u.config for u in units] == [
        {"x": 0.31, "n": 4, "kind": "b"}, {"x": 0.7, "n": 2, "kind": "a"},
        {"x": 0.05, "n": 10, "kind": "b"}, {"x": 1.0, "n": 1, "kind": "a"}]
    assert [u.id for u in units] == ["u0", "u1", "u2", "u3"]
    assert all(u.operator == "init" and u.fitness is None and u.generation == 0 and u.parent is None for u in units)
    assert events == []
    for request in backend.requests:
        assert request.inputs["target"] == "", "a zero-shot warm start names no target score"
        assert request.inputs["history"] == "No configuration has been evaluated yet."
        assert request.inputs["task_description"] == DESCRIPTION
        assert request.inputs["space_description"] == SPACE.describe()
        assert request.decoder == DecoderOptions.parse("sample(temperature=0.8)")
    assert len({r.seed for r in backend.requests}) == 4, "each proposal is sampled with its own seed"


def test_the_proposal_query_has_one_constrained_line_per_parameter():
    genome, backend = make_genome()
    genome.create(["u0"], random.Random(0))
    request = backend.requests[0]
    base = package_query_text("config_propose").rstrip()
    assert request.query.startswith(base + "\n")
    lines = request.query[len(base):].strip("\n").split("\n")
    assert lines == [
        r'"x (0 to 1): [P0]" where REGEX(P0, r"-?[0-9]+(\.[0-9]+)?(e-?[0-9]+)?\n") and len(TOKENS(P0)) < 16',
        r'"n (1 to 10): [P1]" where REGEX(P1, r"-?[0-9]+\n") and len(TOKENS(P1)) < 12',
        r'"kind: [P2]\n" where P2 in choices_2',
    ]
    assert request.inputs["choices_2"] == ["a", "b"]
    assert "choices_0" not in request.inputs and "choices_1" not in request.inputs
    assert query_holes(request.query) == ["P0", "P1", "P2"]


def test_the_range_label_uses_the_bounds_as_written():
    space = SearchSpace.from_spec({"lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": True},
                                   "flag": {"type": "categorical", "choices": [True, False, None]}})
    backend = Backend(lambda r: {"P0": "0.01\n", "P1": "False"})
    genome = ConfigGenome(None, DESCRIPTION, space, Objective(lambda c: c["lr"]), backend=backend,
                          query_text=package_query_text, options=LLAMBO)
    units, events = genome.create(["u0"], random.Random(0))
    assert '"lr (1e-05 to 0.1): [P0]"' in backend.requests[0].query
    assert backend.requests[0].inputs["choices_1"] == ["True", "False", "None"]
    assert units[0].config == {"lr": 0.01, "flag": False} and events == []


def test_out_of_range_values_are_clipped_not_rejected():
    genome, _ = make_genome(World([reply(7.5, 42, "b"), reply(-0.2, 0, "a")]))
    units, events = genome.create(["u0", "u1"], random.Random(0))
    assert [u.config for u in units] == [{"x": 1.0, "n": 10, "kind": "b"}, {"x": 0.0, "n": 1, "kind": "a"}]
    assert events == []


def test_unusable_warm_start_replies_fall_back_to_random_samples():
    world = World([
        {"P0": "abc\n", "P1": "4\n", "P2": "a"},  # not a number
        {"P0": "", "P1": "", "P2": ""},  # empty
        RuntimeError("generation failed"),  # a failed query
        reply(0.4, 3, "c"),  # not one of the choices
        reply(0.31, 4, "b"),  # fine
    ])
    genome, backend = make_genome(world)
    ids = ["u0", "u1", "u2", "u3", "u4"]
    units, events = genome.create(ids, random.Random(3))
    assert backend.batches == [["config_propose"] * 5]
    assert events == [("init_failed", {"unit": u}) for u in ids[:4]]
    assert units[4].config == {"x": 0.31, "n": 4, "kind": "b"}
    assert all(SPACE.problems(u.config) == [] for u in units), "every fallback is a valid random sample"
    assert len({SPACE.key(u.config) for u in units}) == 5


def test_a_warm_start_with_duplicates_keeps_each_configuration_once():
    same = reply(0.31, 4, "b")
    genome, _ = make_genome(World([same, dict(same), {"P0": "0.310\n", "P1": "4.0\n", "P2": "b"}, reply(0.5, 5, "a")]))
    units, events = genome.create(["u0", "u1", "u2", "u3"], random.Random(5))
    assert units[0].config == {"x": 0.31, "n": 4, "kind": "b"}
    assert units[3].config == {"x": 0.5, "n": 5, "kind": "a"}
    assert events == [("init_failed", {"unit": "u1"}), ("init_failed", {"unit": "u2"})]
    assert len({SPACE.key(u.config) for u in units}) == 4


def test_a_random_warm_start_sends_no_query():
    genome, backend = make_genome(warm_start="random")
    units, events = genome.create(["u0", "u1", "u2"], random.Random(11))
    assert backend.requests == [] and backend.batches == [] and events == []
    assert all(SPACE.problems(u.config) == [] and u.operator == "init" for u in units)
    rng = random.Random(11)
    assert [u.config for u in units] == [SPACE.sample(rng) for _ in range(3)], "uniform samples from the run's RNG"


# -- scoring -----------------------------------------------------------------------------------------


def test_score_evaluates_each_distinct_configuration_once_and_keeps_the_history():
    objective = Objective()
    genome, _ = make_genome(objective=objective)
    a, b, a_again = unit("u0", 0.3, 4, "b"), unit("u1", 0.9, 1, "a"), unit("u2", 0.3, 4, "b")
    genome.score([([a, b], None), ([a_again], None)], 0)
    assert objective.calls == [a.config, b.config]
    assert genome.evaluations == [{"config": a.config, "score": pytest.approx(0.1), "unit": "u0"},
                                  {"config": b.config, "score": pytest.approx(-0.36 - 0.3), "unit": "u1"}]
    assert a.score == a_again.score == pytest.approx(0.1) and a.fitness == a.score
    assert b.fitness == pytest.approx(-0.66)
    genome.score([([a, b], None)], 1)
    assert len(objective.calls) == 2 and len(genome.evaluations) == 2, "a known configuration is not re-evaluated"
    assert a.fitness_history == [{"generation": 0, "fitness": a.fitness}, {"generation": 1, "fitness": a.fitness}]
    assert genome.draw_batch(random.Random(0)) is None


def test_minimising_makes_fitness_the_negated_score():
    genome, _ = make_genome(objective=Objective(lambda c: c["x"] * 10), direction="minimize")
    low, high = unit("u0", 0.1, 1, "a"), unit("u1", 0.8, 1, "a")
    genome.score([([low, high], None)], 0)
    assert (low.score, high.score) == (pytest.approx(1.0), pytest.approx(8.0))
    assert (low.fitness, high.fitness) == (pytest.approx(-1.0), pytest.approx(-8.0))
    assert low.fitness > high.fitness, "the lower score is the fitter unit"


# -- breeding: LLM proposals, surrogate and acquisition ------------------------------------------------


CANDIDATES = {"A": reply(0.35, 4, "b"), "B": reply(0.45, 5, "a"), "C": reply(0.55, 6, "b")}
CANDIDATE_X = {0.35: "A", 0.45: "B", 0.55: "C"}
# A is sure of 2.0; B is unsure (1.0 or 2.6: mean 1.8, spread 0.8); C is sure of 0.5. Every score seen so
# far is below 0.2, so expected improvement prefers A, while UCB (kappa 1: 1.8 + 0.8) prefers B.
PREDICTIONS = {"A": ["2.0\n", "2.0\n"], "B": ["1.0\n", "2.6\n"], "C": ["0.5\n", "0.5\n"]}


def surrogate_world(predictions=PREDICTIONS):
    return World([CANDIDATES["A"], CANDIDATES["B"], CANDIDATES["C"]],
                 predict=lambda config, i: predictions[CANDIDATE_X[config["x"]]][i])


@pytest.mark.parametrize("acq, expected", [("ei", "A"), ("ucb", "B")])
def test_the_surrogate_and_acquisition_choose_the_candidate(no_crossover, acq, expected):
    genome, backend = make_genome(surrogate_world(), num_candidates=3, surrogate_samples=2, acq_strategy=acq)
    population = scored_population(genome)
    births = genome.breed([population[0]], population, 1, id_counter(), random.Random(2))
    assert backend.batches == [["config_propose"] * 3, ["config_surrogate"] * 6]
    surrogate = [r for r in backend.requests if r.name == "config_surrogate"]
    assert [r.inputs["candidate"] for r in surrogate] == [
        SPACE.format_config(c) for c in ({"x": 0.35, "n": 4, "kind": "b"}, {"x": 0.45, "n": 5, "kind": "a"},
                                         {"x": 0.55, "n": 6, "kind": "b"}) for _ in range(2)]
    assert all(r.inputs["history"] == genome._history() for r in surrogate)
    [birth] = births
    assert CANDIDATE_X[birth.child.config["x"]] == expected
    assert birth.operator == "llm_proposal" and birth.tried == ["llm_proposal"] and birth.post == []
    child = birth.child
    assert (child.id, child.parent, child.generation, child.operator, child.fitness) == (
        "u100", "u0", 1, "llm_proposal", None)
    assert birth.parent is population[0]


def test_expected_improvement_prefers_a_chance_of_improving_to_a_sure_loss(no_crossover):
    # the best score so far is -0.11: A is sure of -0.2 (no chance to improve), B has the lower mean (-0.25) but
    # may reach 0.1, C is sure of -0.9. Expected improvement picks B, where the mean alone would pick A.
    predictions = {"A": ["-0.2\n", "-0.2\n"], "B": ["-0.6\n", "0.1\n"], "C": ["-0.9\n", "-0.9\n"]}
    genome, _ = make_genome(surrogate_world(predictions), num_candidates=3, surrogate_samples=2)
    population = scored_population(genome)
    assert max(u.score for u in population) == pytest.approx(-0.11)
    [birth] = genome.breed([population[0]], population, 1, id_counter(), random.Random(2))
    assert CANDIDATE_X[birth.child.config["x"]] == "B"


def test_expected_improvement_follows_the_direction(no_crossover):
    # predictions -1, 0.5 and 3: maximising picks 3 (C), minimising picks -1 (A)
    predictions = {"A": ["-1.0\n"], "B": ["0.5\n"], "C": ["3.0\n"]}
    chosen = {}
    for direction in ("maximize", "minimize"):
        genome, _ = make_genome(surrogate_world(predictions), direction=direction, num_candidates=3,
                                surrogate_samples=1)
        population = scored_population(genome)
        [birth] = genome.breed([population[0]], population, 1, id_counter(), random.Random(2))
        chosen[direction] = CANDIDATE_X[birth.child.config["x"]]
    assert chosen == {"maximize": "C", "minimize": "A"}


def test_failed_or_garbage_predictions_lose_to_a_real_one(no_crossover):
    # B's -0.05 is the only number (and still beats the best so far, -0.11); garbage must not count as 0
    predictions = {"A": ["nope\n", ""], "B": ["-0.05\n", "-0.05\n"], "C": ["inf\n", "nan\n"]}
    genome, _ = make_genome(surrogate_world(predictions), num_candidates=3, surrogate_samples=2)
    population = scored_population(genome)
    [birth] = genome.breed([population[0]], population, 1, id_counter(), random.Random(2))
    assert CANDIDATE_X[birth.child.config["x"]] == "B"


def test_all_candidates_of_all_winners_go_in_one_batch_and_each_winner_gets_its_own(no_crossover):
    # winner 0's candidates are the first num_candidates proposals, winner 1's the next ones
    world = World([reply(0.11, 3, "a"), reply(0.12, 3, "a"), reply(0.61, 7, "b"), reply(0.62, 7, "b")],
                  predict=lambda config, i: f"{config['x'] + 1}\n")  # the larger x is predicted better
    genome, backend = make_genome(world, num_candidates=2, surrogate_samples=3)
    population = scored_population(genome)
    births = genome.breed([population[0], population[1]], population, 1, id_counter(), random.Random(4))
    assert backend.batches == [["config_propose"] * 4, ["config_surrogate"] * 12]
    assert [b.child.config for b in births] == [{"x": 0.12, "n": 3, "kind": "a"}, {"x": 0.62, "n": 7, "kind": "b"}]
    assert [b.child.id for b in births] == ["u100", "u101"] and [b.child.parent for b in births] == ["u0", "u1"]


# the generative surrogate's votes: A is "good" once in 3 samples, B twice, C never (or garbled)
VOTES = {"A": ["good", "bad", "bad"], "B": ["bad", "good", "good"], "C": ["bad", "no idea", "bad"]}


def test_the_generative_surrogate_keeps_the_candidate_most_often_classed_good(no_crossover):
    genome, backend = make_genome(surrogate_world(VOTES), surrogate="generative", num_candidates=3,
                                  surrogate_samples=3)
    population = scored_population(genome)
    [birth] = genome.breed([population[0]], population, 1, id_counter(), random.Random(2))
    assert backend.batches == [["config_propose"] * 3, ["config_classify"] * 9]
    assert CANDIDATE_X[birth.child.config["x"]] == "B" and birth.operator == "llm_proposal"
    asked = [r for r in backend.requests if r.name == "config_classify"][0]
    assert asked.inputs["classes"] == ["good", "bad"]
    assert "CLASS in classes" in asked.query


def test_the_generative_surrogate_sees_the_history_labelled_by_the_top_quarter():
    genome, _ = make_genome(surrogate="generative")
    # of the 4 units' scores the best quarter (1 of 4) is "good"; no score is shown, only the labels
    population = scored_population(genome)
    best = max(population, key=lambda u: u.score)
    text = genome._labelled_history()
    lines = text.splitlines()[1:]
    assert len(lines) == 4 and sum(line.endswith("-> good") for line in lines) == 1
    assert f"{SPACE.format_config(best.config)} -> good" in text
    assert all(line.endswith(("-> good", "-> bad")) for line in lines)
    minimising, _ = make_genome(surrogate="generative", direction="minimize")
    population = scored_population(minimising)
    worst_score = min(population, key=lambda u: u.score)
    assert f"{SPACE.format_config(worst_score.config)} -> good" in minimising._labelled_history()


def test_the_generative_surrogate_runs_a_whole_run_and_continues_where_it_stopped(tmp_path):
    def votes(config, i):
        return "good" if config["x"] < 0.5 else "bad"

    def run(generations, store=None):
        genome, _ = make_genome(World(predict=votes), surrogate="generative", num_candidates=2,
                                surrogate_samples=2)
        config = RunConfig(population_size=4, evolution_generations=generations, seed=3)
        store = store or RunStore.create(tmp_path / f"runs{generations}", config.to_dict())
        breeder = Breeder(config, genome, store=store)
        if store.load_latest() is not None:
            breeder.resume()
        breeder.run()
        return genome, store

    whole, _ = run(3)
    _, store = run(2)
    continued, _ = run(3, store)
    assert continued.evaluations == whole.evaluations and len(whole.evaluations) >= 8


def test_without_a_surrogate_the_first_usable_new_candidate_is_taken(no_crossover):
    world = World([{"P0": "x\n", "P1": "3\n", "P2": "a"}, reply(0.1, 1, "a"),  # garbage, then already evaluated
                   reply(0.77, 8, "b"), reply(0.88, 9, "a")])
    genome, backend = make_genome(world, num_candidates=4, surrogate="none")
    population = scored_population(genome)
    [birth] = genome.breed([population[2]], population, 1, id_counter(), random.Random(0))
    assert backend.batches == [["config_propose"] * 4], "no surrogate query"
    assert birth.child.config == {"x": 0.77, "n": 8, "kind": "b"} and birth.operator == "llm_proposal"


def test_evaluated_candidates_are_skipped_before_the_surrogate(no_crossover):
    world = World([reply(0.1, 1, "a"), reply(0.9, 9, "b"), reply(0.42, 2, "a")])
    genome, backend = make_genome(world, num_candidates=3, surrogate_samples=2)
    population = scored_population(genome)
    [birth] = genome.breed([population[0]], population, 1, id_counter(), random.Random(0))
    assert backend.batches == [["config_propose"] * 3, ["config_surrogate"] * 2], "only the new candidate is judged"
    assert birth.child.config == {"x": 0.42, "n": 2, "kind": "a"}


def test_when_no_candidate_is_usable_the_child_perturbs_the_winner(no_crossover):
    world = World([reply(0.1, 1, "a"), {"P0": "", "P1": "", "P2": ""}, RuntimeError("boom")])
    genome, backend = make_genome(world, num_candidates=3)
    population = scored_population(genome)
    winner = population[2]
    [birth] = genome.breed([winner], population, 1, id_counter(), random.Random(0))
    assert backend.batches == [["config_propose"] * 3], "nothing to ask the surrogate about"
    assert birth.operator == birth.child.operator == "perturb"
    assert birth.tried == ["llm_proposal", "perturb"]
    child = birth.child.config
    assert SPACE.problems(child) == [] and child != winner.config
    distance = [abs(a - b) for a, b in zip(SPACE.to_unit(child), SPACE.to_unit(winner.config))]
    assert max(distance) < 0.6, f"a perturbation stays near the winner ({distance})"


def test_a_model_free_genome_only_perturbs_and_sends_nothing(no_crossover):
    genome, backend = make_genome(proposal="none", warm_start="random")
    population = scored_population(genome)
    births = genome.breed(population[:2], population, 1, id_counter(), random.Random(0))
    assert backend.requests == []
    assert [(b.operator, b.tried) for b in births] == [("perturb", ["perturb"])] * 2
    assert all(SPACE.problems(b.child.config) == [] for b in births)


def test_two_winners_offered_the_same_new_configuration_do_not_both_get_it(no_crossover):
    same = reply(0.66, 6, "b")
    genome, _ = make_genome(World([same, dict(same)]), num_candidates=1, surrogate="none")
    population = scored_population(genome)
    births = genome.breed(population[:2], population, 1, id_counter(), random.Random(0))
    assert births[0].child.config == {"x": 0.66, "n": 6, "kind": "b"}
    assert SPACE.key(births[1].child.config) != SPACE.key(births[0].child.config)
    assert births[1].tried == ["llm_proposal", "perturb"]


def test_crossover_takes_every_value_from_one_of_the_two_parents(monkeypatch):
    monkeypatch.setattr(config_module, "CROSSOVER_RATE", 1.0)
    configs = ((0.1, 1, "a"), (0.9, 9, "b"), (0.5, 6, "a"), (0.2, 2, "b"))
    crossovers = 0
    for seed in range(20):
        genome, backend = make_genome()
        population = scored_population(genome, configs)
        births = genome.breed(population[:2], population, 1, id_counter(), random.Random(seed))
        assert backend.requests == [], "crossover needs no model"
        for birth in births:
            child = birth.child.config
            assert SPACE.problems(child) == []
            if birth.operator == "perturb":  # the cross was a copy of a unit: perturbed instead
                assert birth.tried == ["crossover", "perturb"]
                continue
            crossovers += 1
            assert birth.operator == birth.child.operator == "crossover" and birth.tried == ["crossover"]
            assert any(all(child[n] in (birth.parent.config[n], other.config[n]) for n in SPACE.names)
                       for other in population), child
            assert SPACE.key(child) not in {SPACE.key(u.config) for u in population}
    assert crossovers >= 10


# -- what the LLM is shown ---------------------------------------------------------------------------


def _population_by_x(xs):
    return [unit(f"u{i}", x, 4, "a") for i, x in enumerate(xs)]


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_the_history_shows_the_best_and_the_most_recent_configurations(direction):
    # score = -x when maximising and x when minimising: the first evaluations are the best ones
    function = (lambda c: -c["x"]) if direction == "maximize" else (lambda c: c["x"])
    genome, backend = make_genome(objective=Objective(function), direction=direction, warm_start="random")
    xs = [round(0.02 + i * 0.04, 2) for i in range(20)]
    genome.score([(_population_by_x(xs), None)], 0)
    history = genome._history().split("\n")
    better = "higher" if direction == "maximize" else "lower"
    assert history[0] == f"Configurations evaluated so far (score, {better} is better):"
    assert len(history) == 1 + HISTORY_WINDOW
    shown = xs[: HISTORY_WINDOW // 2] + xs[-(HISTORY_WINDOW // 2):]  # best half + most recent half
    expected = [f"- {SPACE.format_config({'x': x, 'n': 4, 'kind': 'a'})} -> {function({'x': x}):.4f}" for x in shown]
    assert history[1:] == expected, "best first"


def test_a_short_history_shows_everything_ranked():
    genome, _ = make_genome(objective=Objective(lambda c: c["x"]))
    genome.score([(_population_by_x([0.2, 0.9, 0.5]), None)], 0)
    assert genome._history().split("\n")[1:] == [
        '- {"x": 0.9, "n": 4, "kind": "a"} -> 0.9000', '- {"x": 0.5, "n": 4, "kind": "a"} -> 0.5000',
        '- {"x": 0.2, "n": 4, "kind": "a"} -> 0.2000']


@pytest.mark.parametrize("direction, margin, expected", [
    ("maximize", 0.1, 0.9 + 0.1 * 0.7), ("minimize", 0.1, 0.2 - 0.1 * 0.7), ("maximize", 0.5, 0.9 + 0.5 * 0.7)])
def test_proposals_aim_beyond_the_best_score_so_far(no_crossover, direction, margin, expected):
    genome, backend = make_genome(objective=Objective(lambda c: c["x"]), direction=direction, target_margin=margin,
                                  surrogate="none", num_candidates=2)
    population = _population_by_x([0.2, 0.9, 0.5, 0.6])
    genome.score([(population, None)], 0)
    genome.breed(population[:1], population, 1, id_counter(), random.Random(0))
    targets = [target_value(r) for r in backend.requests]
    assert targets == [pytest.approx(expected, abs=1e-4)] * 2
    best = 0.9 if direction == "maximize" else 0.2
    assert (targets[0] > best) if direction == "maximize" else (targets[0] < best)
    assert all(r.inputs["history"].startswith("Configurations evaluated so far") for r in backend.requests)


# -- report ------------------------------------------------------------------------------------------


def test_report_names_the_best_configuration_and_the_best_so_far_curve():
    genome, _ = make_genome(objective=Objective(lambda c: c["x"]))
    genome.score([(_population_by_x([0.2, 0.9, 0.5, 0.95, 0.1]), None)], 0)
    report = genome.report([], 3)
    assert report["genome"] == "config" and report["direction"] == "maximize"
    assert report["evaluations"] == 5
    assert report["best"] == {"config": {"x": 0.95, "n": 4, "kind": "a"}, "score": 0.95, "unit": "u3"}
    assert report["best_so_far"] == [0.2, 0.9, 0.9, 0.95, 0.95]
    assert [e["score"] for e in report["top"]] == [0.95, 0.9, 0.5]
    json.dumps(report)  # saved as report.json
    assert genome.format_report(report).split("\n") == [
        "5 configurations evaluated (maximize):",
        '  1. 0.9500  {"x": 0.95, "n": 4, "kind": "a"}  (u3)',
        '  2. 0.9000  {"x": 0.9, "n": 4, "kind": "a"}  (u1)',
        '  3. 0.5000  {"x": 0.5, "n": 4, "kind": "a"}  (u2)']


def test_a_minimising_report_counts_lower_as_better():
    genome, _ = make_genome(objective=Objective(lambda c: c["x"]), direction="minimize")
    genome.score([(_population_by_x([0.5, 0.9, 0.2, 0.3]), None)], 0)
    report = genome.report([], 0)
    assert report["best"]["score"] == 0.2 and report["best"]["unit"] == "u2"
    assert report["best_so_far"] == [0.5, 0.5, 0.2, 0.2]
    assert [e["score"] for e in report["top"]] == [0.2, 0.3, 0.5]
    assert genome.format_report(report).split("\n")[0] == "4 configurations evaluated (minimize):"


def test_an_empty_report():
    genome, _ = make_genome()
    report = genome.report([], 0)
    assert (report["evaluations"], report["best"], report["best_so_far"], report["top"]) == (0, None, [], [])
    assert genome.format_report(report) == "0 configurations evaluated (maximize):"


# -- state -------------------------------------------------------------------------------------------


def test_state_round_trip_restores_the_evaluations_and_the_memo():
    objective = Objective()
    genome, _ = make_genome(objective=objective)
    population = scored_population(genome)
    state = json.loads(json.dumps(genome.state()))
    assert set(state) == set(ConfigGenome.STATE_KEYS) == {"evaluations"}
    again = Objective()
    restored, _ = make_genome(objective=again)
    restored.load_state(state)
    assert restored.evaluations == genome.evaluations
    copies = [ConfigUnit.from_dict(json.loads(json.dumps(u.to_dict()))) for u in population]
    assert [restored.individual_from_dict(u.to_dict()) for u in population] == population
    restored.score([(copies, None)], 1)
    assert again.calls == [], "nothing known is evaluated again after loading"
    assert [u.score for u in copies] == [u.score for u in population]
    fresh = unit("u9", 0.33, 3, "b")
    restored.score([([fresh], None)], 1)
    assert again.calls == [fresh.config] and len(restored.evaluations) == 5
    assert restored.label(fresh) == '{"x": 0.33, "n": 3, "kind": "b"}'


# -- a whole run through the engine ------------------------------------------------------------------


def predict_from_candidate(config, index):
    return f"{toy_score(config) + 0.05 * index:.3f}\n"


def breeder(store_dir: Path, seed=7, generations=3, store=None, objective=None):
    config = RunConfig(task="toy_hpo", population_size=4, evolution_generations=generations, seed=seed)
    store = store if store is not None else RunStore.create(store_dir, config.to_dict())
    genome, backend = make_genome(World(predict=predict_from_candidate), objective=objective)
    return Breeder(config, genome, store=store, log_line=lambda line: None), backend


def snapshots(store):
    return {step: store._read_versioned(store.folder / "snapshots" / f"step_{step:06d}.json")["state"]
            for step in store.steps()}


def test_a_run_through_the_engine(tmp_path):
    objective = Objective()
    run, backend = breeder(tmp_path / "runs", objective=objective)
    final = run.run()
    assert final["generation"] == 3 and run.store.steps() == [0, 1, 2, 3]
    assert len(final["population"]) == 4 and len(final["evaluations"]) == len(objective.calls)
    keys = [SPACE.key(e["config"]) for e in final["evaluations"]]
    assert len(set(keys)) == len(keys), "every configuration evaluated once"
    assert 4 <= len(keys) <= 4 + 3 * 2, "the population, then at most one child per tournament"
    # per generation: the warm start; then one batch of proposals and at most one of predictions
    assert backend.batches[0] == ["config_propose"] * 4
    for batch in backend.batches[1:]:
        assert (set(batch) == {"config_propose"} and len(batch) in (2, 4)) or (
            set(batch) == {"config_surrogate"} and len(batch) % 3 == 0), batch
    events = run.store.events()
    tournaments = [e for e in events if e["event"] == "tournament"]
    assert len(tournaments) == 6
    assert {e["operator"] for e in tournaments if not e["elite_saved"]} <= {"llm_proposal", "crossover", "perturb"}
    assert all(e["child"] is None for e in tournaments if e["elite_saved"]), "an elite that lost breeds nothing"
    unscored = {SPACE.key(u["config"]) for u in final["population"] if u["fitness"] is None} - set(keys)
    report = run.report()
    # the report also evaluates the last generation's children, which met no tournament
    assert report["generation"] == 3 and report["evaluations"] == len(keys) + len(unscored)
    assert {SPACE.key(c) for c in objective.calls[len(keys):]} == unscored
    every = run.genome.evaluations
    assert report["best"]["score"] == max(e["score"] for e in every)
    assert json.loads((run.store.folder / "report.json").read_text())["best"] == report["best"]
    in_population = [u["fitness"] for u in final["population"] if u["fitness"] is not None]
    assert in_population and max(in_population) <= report["best"]["score"]
    assert report["best"] in every, "the report looks at every evaluation, not the population"


def test_a_continued_run_ends_in_the_state_of_the_uninterrupted_run(tmp_path):
    reference, _ = breeder(tmp_path / "reference")
    final = reference.run()
    first, _ = breeder(tmp_path / "stopped", generations=1)
    assert first.run()["generation"] == 1
    objective = Objective()
    continued, _ = breeder(tmp_path / "unused", store=first.store, objective=objective)
    assert continued.run() == final
    assert snapshots(first.store) == snapshots(reference.store)
    assert [e["step"] for e in first.store.events() if e["event"] == "resumed"] == [1]
    before = {SPACE.key(e["config"]) for e in snapshots(first.store)[1]["evaluations"]}
    assert objective.calls, "the continued run evaluated the new children"
    assert not any(SPACE.key(c) in before for c in objective.calls), "nothing evaluated before is evaluated again"
    assert len(before) + len(objective.calls) == len(final["evaluations"])


def test_the_seed_decides_the_run(tmp_path):
    a, _ = breeder(tmp_path / "a", seed=7)
    b, _ = breeder(tmp_path / "b", seed=7)
    c, _ = breeder(tmp_path / "c", seed=8)
    state_a, state_b, state_c = a.run(), b.run(), c.run()
    assert state_a == state_b
    assert [u["config"] for u in state_a["population"]] != [u["config"] for u in state_c["population"]]
    assert state_a["evaluations"] != state_c["evaluations"]


def test_not_a_nan_anywhere_in_a_run(tmp_path):
    run, _ = breeder(tmp_path / "runs", seed=3)
    final = run.run()
    assert all(math.isfinite(e["score"]) for e in final["evaluations"])
    assert all(SPACE.problems(u["config"]) == [] for u in final["population"])


# -- an objective that fails ---------------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
@pytest.mark.parametrize("outcome, reason", [
    (MemoryError("too big"), "the objective raised MemoryError: too big"),
    ("n/a", "the objective returned 'n/a', not a number"),
    (float("nan"), "the objective returned nan"),
])
def test_an_objective_that_fails_scores_that_configuration_worst_and_says_why(outcome, reason, direction):
    def objective(config):
        if config["kind"] == "a":
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        return toy_score(config)

    genome, _ = make_genome(objective=objective, direction=direction)
    population = scored_population(genome)
    failed = [u for u in population if u.config["kind"] == "a"]
    assert all(u.fitness == -math.inf for u in failed) and all(math.isfinite(u.fitness) for u in population
                                                               if u.config["kind"] == "b")
    assert all(u.score == (-math.inf if direction == "maximize" else math.inf) for u in failed)
    assert [e.get("error") for e in genome.evaluations] == [reason, None, reason, None]
    assert f"-> failed ({reason})" in genome._history()
    assert math.isfinite(genome._target()), "failures do not move the target score"
    report = genome.report(population, 1)
    assert report["best"]["config"]["kind"] == "b"
    restored, _ = make_genome(objective=objective, direction=direction)
    restored.load_state(json.loads(json.dumps(genome.state())))
    assert restored.state() == genome.state()


def test_start_units_differ_even_in_a_space_of_two_points():
    tiny = SearchSpace.from_spec({"kind": {"type": "categorical", "choices": ["a", "b"]}})
    for seed in range(10):
        genome = ConfigGenome(None, DESCRIPTION, tiny, lambda config: 1.0, backend=FakeBackend(),
                              query_text=package_query_text, options=ConfigOptions(warm_start="random"))
        units, _ = genome.create(["0", "1"], random.Random(seed))
        assert sorted(u.config["kind"] for u in units) == ["a", "b"], seed


@pytest.mark.integration
def test_the_generative_surrogate_classes_candidates_on_the_real_model(real_backend, no_crossover):
    from promptbreeder.backends.base import Backend as BackendBase

    class Recorder(BackendBase):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.results = inner, []

        async def run_batch(self, requests):
            results = await self.inner.run_batch(requests)
            self.results += list(zip(requests, results))
            return results

    recorder = Recorder(real_backend)
    genome = ConfigGenome(None, DESCRIPTION, SPACE, Objective(), backend=recorder, query_text=package_query_text,
                          options=dataclasses.replace(LLAMBO, surrogate="generative", num_candidates=3, surrogate_samples=3))
    population, _ = genome.create([f"u{i}" for i in range(4)], random.Random(0))
    genome.score([(population, None)], 0)
    births = genome.breed(population[:2], population, 1, id_counter(), random.Random(1))
    classified = [r for r in recorder.results if r[0].name == "config_classify"]
    assert classified, "the LLM's candidates were classed"
    assert all(result.ok and result.variables["CLASS"] in ("good", "bad") for _, result in classified)
    # the kept candidate is the LLM's (or, when none of its candidates was usable and new, a perturbation)
    assert [b.operator in ("llm_proposal", "perturb") and b.child is not None for b in births] == [True, True]
