"""Estimation-of-distribution mutations: show the model a list of prompts and ask it to continue the
list. `eda` shows a shuffled sample of the population, `eda_rank_index` the same ordered from worst
to best, `lineage` the run's elites (the fittest unit of each generation) in chronological order, as
the paper's lineage-based mutation does. Each list holds the prompts at one slot (`Unit.prompts`: before
or after the question, or the bred system prompt), and a unit's prompt at each slot gets its own list.

Near-duplicates are dropped from the lists first: a list full of one prompt pulls the model towards
repeating it, which defeats the point of showing a distribution. Two prompts are near-duplicates when the
cosine similarity of their embeddings under the model (`ctx.embed`: mean last-layer hidden state)
exceeds NEAR_DUPLICATE_COSINE, as the paper filters with BERT embeddings (at 0.95); where the backend
cannot embed text, when their word sets' Jaccard similarity exceeds NEAR_DUPLICATE_JACCARD.
"""

from __future__ import annotations

import random
from typing import Any

from promptbreeder.genomes.prompt.unit import Unit
from promptbreeder.genomes.prompt.operators.base import BreedContext
from promptbreeder.genomes.prompt.operators.cleaning import jaccard, normalised_tokens
from promptbreeder.genomes.prompt.operators.common import PromptOperator, numbered
from promptbreeder.genomes.prompt.operators.registry import register

NEAR_DUPLICATE_JACCARD = 0.9
# SmolLM2-135M's last layer: a near-duplicate 0.996, a light paraphrase 0.985, different instructions for
# the same task 0.92-0.95, off-task text about 0.8 (the paper's 0.95 is for BERT embeddings)
NEAR_DUPLICATE_COSINE = 0.98
ELITES_SHOWN = 10  # the most recent elites the lineage mutation shows


def _kept_indices(prompts: list[str], embed=None) -> list[int]:
    if embed is not None and prompts:
        vectors = embed(prompts)

        def similar(i: int, j: int) -> bool:
            return sum(a * b for a, b in zip(vectors[i], vectors[j])) > NEAR_DUPLICATE_COSINE
    else:
        def similar(i: int, j: int) -> bool:
            return jaccard(prompts[i], prompts[j]) > NEAR_DUPLICATE_JACCARD
    kept: list[int] = []
    for i in range(len(prompts)):
        if not any(similar(i, j) for j in kept):
            kept.append(i)
    return kept


def near_duplicate_filter(prompts: list[str], embed=None) -> list[str]:
    """`prompts` in order, without any prompt that is a near-duplicate (see the module docstring) of an
    earlier kept one: the first of a group of near-duplicates is the one kept."""
    return [prompts[i] for i in _kept_indices(prompts, embed)]


def _list_inputs(ctx: BreedContext, prompts: list[str]) -> dict[str, Any]:
    return {"task_description": ctx.task_description, "prompt_list": numbered(prompts),
            "next_number": len(prompts) + 1}


def _population_echoes(parent: Unit, ctx: BreedContext) -> list[str]:
    # asked for a new list entry, a copy of any member of the population is no progress
    return [parent.mutation_prompt, *parent.prompts] + [p for u in ctx.population for p in u.prompts]


def _at(unit: Unit, slot: int) -> str | None:
    return unit.prompts[slot] if len(unit.prompts) > slot else None


@register
class EDA(PromptOperator):
    name = "eda"
    query_name = "eda"

    def shown_prompts(self, parent: Unit, ctx: BreedContext, rng: random.Random, slot: int = 0) -> list[str]:
        prompts = [_at(u, slot) for u in ctx.population if _at(u, slot)]
        rng.shuffle(prompts)  # before filtering, so which copy of a duplicate survives is not biased
        prompts = near_duplicate_filter(prompts, ctx.embed)
        if len(prompts) > ctx.num_eda_samples:
            prompts = rng.sample(prompts, max(ctx.num_eda_samples, 1))
        return prompts or [parent.prompts[slot]]

    def inputs(self, parent: Unit, ctx: BreedContext, rng: random.Random, slot: int) -> dict[str, Any]:
        return _list_inputs(ctx, self.shown_prompts(parent, ctx, rng, slot))

    def echoes(self, parent: Unit, ctx: BreedContext, slot: int) -> list[str]:
        return _population_echoes(parent, ctx)


def _fitness_key(unit: Unit) -> float:
    return float("-inf") if unit.fitness is None else unit.fitness


@register
class EDARankIndex(PromptOperator):
    name = "eda_rank_index"
    query_name = "eda_rank_index"

    def shown_units(self, parent: Unit, ctx: BreedContext, rng: random.Random, slot: int = 0) -> list[Unit]:
        """Sample of the population, deduplicated, ordered by fitness ascending (unknown fitness first)."""
        units = [u for u in ctx.population if _at(u, slot)]
        # fittest first while filtering, so of two near-duplicates the better one is shown
        units = sorted(units, key=_fitness_key, reverse=True)
        units = [units[i] for i in _kept_indices([_at(u, slot) for u in units], ctx.embed)]
        if len(units) > ctx.num_eda_samples:
            units = rng.sample(units, max(ctx.num_eda_samples, 1))
        return sorted(units, key=_fitness_key) or [parent]

    def inputs(self, parent: Unit, ctx: BreedContext, rng: random.Random, slot: int) -> dict[str, Any]:
        return _list_inputs(ctx, [u.prompts[slot] for u in self.shown_units(parent, ctx, rng, slot)])

    def echoes(self, parent: Unit, ctx: BreedContext, slot: int) -> list[str]:
        return _population_echoes(parent, ctx)


@register
class Lineage(PromptOperator):
    name = "lineage"
    query_name = "lineage"

    @staticmethod
    def history(parent: Unit, ctx: BreedContext, slot: int = 0) -> list[str]:
        """The elites' prompts at `slot`, oldest first, without consecutive repeats (an elite may hold
        its place for generations); the parent's own prompt when there is no elite yet."""
        prompts: list[str] = []
        for elite in ctx.elites:
            entry = elite.get("prompts", elite.get("task_prompts")) or []  # "task_prompts": saved by 0.x runs
            prompt = str(entry[slot]) if len(entry) > slot else ""
            if prompt and not (prompts and normalised_tokens(prompts[-1]) == normalised_tokens(prompt)):
                prompts.append(prompt)
        return prompts[-ELITES_SHOWN:] or [parent.prompts[slot]]

    def inputs(self, parent: Unit, ctx: BreedContext, rng: random.Random, slot: int) -> dict[str, Any]:
        return _list_inputs(ctx, self.history(parent, ctx, slot))

    def echoes(self, parent: Unit, ctx: BreedContext, slot: int) -> list[str]:
        return [*super().echoes(parent, ctx, slot), *self.history(parent, ctx, slot)]
