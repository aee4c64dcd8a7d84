"""Post-mutation steps the engine applies to a freshly mutated child, each with probability
`registry.POST_MUTATION_RATE`: prompt crossover and context shuffling. Neither calls the model.

Both are pure: they return a new Unit and leave the child and the population untouched. The child
keeps its id, parent and operator (the engine logs which steps it applied), and both leave fitness
unknown as the mutation did.
"""

from __future__ import annotations

import copy
import dataclasses
import random

from promptbreeder.genomes.prompt.unit import Unit
from promptbreeder.genomes.prompt.operators.registry import register_post_mutation


def _weight(unit: Unit) -> float:
    # negative or unknown fitness must not make random.choices misbehave, and earns no share
    return max(unit.fitness, 0.0) if isinstance(unit.fitness, (int, float)) else 0.0


@register_post_mutation("prompt_crossover")
def crossover(child: Unit, population: list[Unit], rng: random.Random) -> Unit:
    """`child` with its first task prompt replaced by the first task prompt of a donor drawn from
    `population` with probability proportional to fitness (all zero or unknown: uniformly)."""
    donors = [u for u in population if u.id != child.id and u.task_prompts]
    if not donors:
        return copy.deepcopy(child)
    weights = [_weight(u) for u in donors]
    if sum(weights) <= 0:
        donor = donors[rng.randrange(len(donors))]
    else:
        donor = rng.choices(donors, weights=weights, k=1)[0]
    prompts = [donor.task_prompt, *child.task_prompts[1:]]
    return dataclasses.replace(copy.deepcopy(child), task_prompts=prompts)


@register_post_mutation("context_shuffling")
def shuffle_context(child: Unit, population: list[Unit], rng: random.Random) -> Unit:
    """`child` with its context replaced by as many correct workings-out drawn at random from all of
    the population's contexts (duplicates counted once); unchanged when that pool is empty."""
    pool: list[dict[str, str]] = []
    for unit in population:
        for item in unit.context:
            if item not in pool:
                pool.append(item)
    if not pool:
        return copy.deepcopy(child)
    size = min(len(child.context), len(pool))
    return dataclasses.replace(copy.deepcopy(child), context=copy.deepcopy(rng.sample(pool, size)))
