"""Pareto selection (GEPA's per-example frontier): the pure rules of pareto.py, then the engine running them
in the fake world of conftest.py. Resuming a Pareto run is covered with the other modes in test_resume.py."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from promptbreeder.errors import UsageError
from promptbreeder.evolution import Breeder
from promptbreeder.evolution.pareto import dominates, draw_parents, frontier, replaceable


def test_a_unit_best_on_one_example_is_on_the_frontier_whatever_its_mean():
    scores = {"broad": [0, 1, 1, 1], "narrow": [1, 0, 0, 0], "middling": [0.5, 0.5, 0.5, 0.5]}
    assert frontier(scores) == {"broad": 3, "narrow": 1}, "middling is best nowhere"
    assert dominates([1, 1], [1, 0]) and not dominates([1, 0], [0, 1]) and not dominates([1, 1], [1, 1])


def test_dominated_units_copies_and_unsolved_examples_count_for_nothing():
    scores = {"a": [1, 0, 0], "b": [0, 1, 0], "both": [1, 1, 0], "copy": [1, 1, 0]}
    assert frontier(scores) == {"both": 2}, "a and b are dominated; the copy repeats an earlier vector"
    assert frontier({"x": [0, 0], "y": [0, 0]}) == {}, "an example no unit solves says nothing"
    assert frontier({"x": [0.2, 0], "y": [0, 0.5]}) == {"x": 1, "y": 1}, "partial credit counts"
    assert frontier({}) == {}


def test_replacement_takes_units_off_the_frontier_first_and_never_the_elite():
    fitness = {"a": 0.9, "b": 0.2, "c": 0.1, "d": 0.5, "e": 0.3}
    front = {"a": 2, "b": 1}
    assert replaceable(fitness, front, set(), 2) == ["c", "e"], "off the frontier, lowest mean first"
    assert replaceable(fitness, front, set(), 9) == ["c", "e", "d"], "never a frontier unit while others are off"
    everyone = {"a": 3, "b": 1, "c": 1, "d": 2, "e": 4}
    assert replaceable(fitness, everyone, {"c"}, 2) == ["b"], "all on it: one, the fewest examples, not the elite"
    assert replaceable({"a": 1.0}, {"a": 1}, {"a"}, 1) == []


def test_parents_are_drawn_in_proportion_to_the_examples_they_are_best_on():
    drawn = Counter(draw_parents({"a": 3, "b": 1}, ["a", "b", "c"], 4000, random.Random(0)))
    assert set(drawn) == {"a", "b"} and 0.72 < drawn["a"] / 4000 < 0.78
    assert set(draw_parents({}, ["a", "b", "c"], 300, random.Random(0))) == {"a", "b", "c"}


def fitness_questions(requests):
    """task prompt -> the questions its noCoT fitness test was asked."""
    asked = {}
    for r in requests:
        if r.name == "fitness_noCoT":
            asked.setdefault(r.inputs["task_prompt"], []).append(r.inputs["question"])
    return asked


def test_every_unit_is_scored_once_on_the_same_fixed_examples(make_breeder):
    breeder = make_breeder(selection="pareto", pareto_examples=6, evolution_generations=3)
    breeder.run()
    genome, backend = breeder.genome, breeder.genome.backend
    fixed = [e["input"] for e in genome.pareto_set]
    assert len(fixed) == 6
    for questions in fitness_questions(backend.requests).values():  # a prompt two units share: asked twice
        assert questions == fixed * (len(questions) // 6)
    assert not {e["input"] for e in genome.pareto_set} & {e["input"] for e in genome.heldout}
    for unit in breeder.population:
        if unit.fitness is None:  # born in the last generation: scored at the next step
            continue
        assert [h["variant"] for h in unit.fitness_history] == ["noCoT", "CoT"], "scored once, never again"
        assert len(unit.example_scores) == 6
        assert unit.fitness == pytest.approx(sum(unit.example_scores) / 6)
    scored = sum(len(v) for v in fitness_questions(backend.requests).values())
    assert genome.metric_calls() == 2 * scored, "both variants of every example count"


def test_a_generation_keeps_the_frontier_and_breeds_from_it(make_breeder):
    breeder = make_breeder(selection="pareto", pareto_examples=8, population_size=8, evolution_generations=4)
    breeder.run()
    events = [e for e in breeder.store.events() if e["event"] == "pareto"]
    births = [e for e in breeder.store.events() if e["event"] == "birth"]
    assert [e["generation"] for e in events] == [1, 2, 3, 4] and not any(
        e["event"] == "tournament" for e in breeder.store.events())
    for event in events:
        front, replaced = event["front"], event["replaced"]
        assert 1 <= len(replaced) <= 4 and len(event["children"]) == len(replaced)
        assert set(event["parents"]) <= set(front), "every parent is on the frontier"
        if len(front) < 8 - 1:
            assert not set(replaced) & set(front), "a unit best on some example survives"
    assert len(births) == sum(len(e["replaced"]) for e in events)
    assert all(b["parent"] in next(e["front"] for e in events if e["generation"] == b["generation"]) for b in births)


def test_the_elite_survives_pareto_selection(make_breeder, world):
    breeder = make_breeder(selection="pareto", pareto_examples=6, evolution_generations=0)
    breeder.run()
    best = max(breeder.population, key=lambda u: u.fitness)
    for generation in (1, 2, 3):
        breeder.run_generation(generation)
        assert best.id in {u.id for u in breeder.population}
        best = max((u for u in breeder.population if u.fitness is not None), key=lambda u: u.fitness)


def test_genomes_without_per_example_scores_cannot_use_pareto_selection(make_breeder):
    breeder = make_breeder(selection="pareto")
    breeder.genome.per_example_scores = False
    with pytest.raises(UsageError, match="selection: pareto needs a score per example"):
        Breeder(breeder.config, breeder.genome, store=breeder.store)
