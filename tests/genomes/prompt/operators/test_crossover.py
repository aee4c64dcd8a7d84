"""Prompt crossover and context shuffling: who donates, how often, and that nothing passed in changes."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from promptbreeder.genomes.prompt.unit import Unit
from promptbreeder.genomes.prompt.operators.crossover import crossover, shuffle_context
from promptbreeder.genomes.prompt.operators.registry import POST_MUTATION, POST_MUTATION_RATE, get_post_mutation


def unit(uid, prompt, fitness=None, context=None, after=None):
    prompts = [prompt] + ([after] if after else [])
    return Unit(id=uid, task_prompts=prompts, mutation_prompt="m", thinking_style="s", fitness=fitness,
                context=list(context or []))


def working(i):
    return {"question": f"q{i}", "reasoning": f"r{i}", "answer": f"a{i}"}


def test_registered_as_post_mutation_steps():
    assert POST_MUTATION["prompt_crossover"] is crossover and POST_MUTATION["context_shuffling"] is shuffle_context
    assert get_post_mutation("prompt_crossover") is crossover
    assert POST_MUTATION_RATE == 0.1


def donors_drawn(population, n=4000, child=None):
    child = child or unit("child", "child prompt", after="closing words")
    rng = random.Random(7)
    return Counter(crossover(child, population, rng).task_prompt for _ in range(n))


def test_crossover_is_fitness_proportional():
    counts = donors_drawn([unit("a", "A", 1.0), unit("b", "B", 3.0)])
    assert set(counts) == {"A", "B"}
    assert counts["B"] / sum(counts.values()) == pytest.approx(0.75, abs=0.03)


def test_unknown_and_zero_fitness_never_donate_when_others_score():
    counts = donors_drawn([unit("a", "A", None), unit("b", "B", 0.0), unit("c", "C", 0.5), unit("d", "D", -1.0)], n=300)
    assert set(counts) == {"C"}


def test_all_zero_or_unknown_fitness_is_uniform():
    counts = donors_drawn([unit("a", "A", None), unit("b", "B", 0.0), unit("c", "C", None)], n=3000)
    assert set(counts) == {"A", "B", "C"}
    assert all(abs(c / 3000 - 1 / 3) < 0.04 for c in counts.values())


def test_crossover_replaces_only_the_first_prompt_and_is_pure():
    child = unit("child", "child prompt", context=[working(1)], after="closing words")
    population = [unit("a", "donor prompt", 0.9, context=[working(2)])]
    before = (child.to_dict(), [u.to_dict() for u in population])
    out = crossover(child, population, random.Random(0))
    assert out.task_prompts == ["donor prompt", "closing words"]
    assert (out.id, out.parent, out.operator, out.mutation_prompt, out.context) == \
           (child.id, child.parent, child.operator, child.mutation_prompt, child.context)
    assert (child.to_dict(), [u.to_dict() for u in population]) == before
    assert out is not child and out.context is not child.context and out.task_prompts is not child.task_prompts


def test_crossover_never_picks_the_child_itself_and_survives_an_empty_population():
    child = unit("child", "child prompt", fitness=5.0)
    assert crossover(child, [child], random.Random(0)).task_prompt == "child prompt"
    out = crossover(child, [], random.Random(0))
    assert out.to_dict() == child.to_dict() and out is not child


def test_shuffle_context_draws_the_same_number_from_the_pool():
    child = unit("child", "p", context=[working(0), working(1)])
    population = [unit("a", "A", context=[working(2), working(3)]), unit("b", "B", context=[working(4), working(2)])]
    pool = [working(i) for i in (2, 3, 4)]
    seen = set()
    for seed in range(40):
        out = shuffle_context(child, population, random.Random(seed))
        assert len(out.context) == 2 and all(item in pool for item in out.context)
        assert out.context[0] != out.context[1]  # duplicates in the pool count once
        seen.update(item["question"] for item in out.context)
    assert seen == {"q2", "q3", "q4"}


def test_shuffle_context_caps_at_the_pool_and_is_pure():
    child = unit("child", "p", context=[working(i) for i in range(5)])
    population = [unit("a", "A", context=[working(9)])]
    before = (child.to_dict(), population[0].to_dict())
    out = shuffle_context(child, population, random.Random(1))
    assert out.context == [working(9)]
    assert (child.to_dict(), population[0].to_dict()) == before
    out.context[0]["answer"] = "changed"
    assert population[0].context[0]["answer"] == "a9"  # no shared dicts either


def test_shuffle_context_with_an_empty_pool_leaves_the_context():
    child = unit("child", "p", context=[working(1)])
    out = shuffle_context(child, [unit("a", "A"), unit("b", "B")], random.Random(0))
    assert out.context == [working(1)] and out is not child
