"""Merge (after GEPA's merge, Agrawal et al. 2025): combine the parent with the unit that is right where
the parent is wrong. The mutator sees both instructions, each with a few problems it answered right and
the other did not, and writes one instruction meant to keep both strengths. The paper's prompt crossover,
by contrast, swaps in a fitness-drawn donor's prompt whole, without looking at who is good at what.

The partner is the unit of the population right on the most questions the parent got wrong (a unit
remembers its newest right and wrong answers, `Unit.solved` and `Unit.failures`), fitter first among
equals. A parent no unit complements has nothing to merge with: `requests` returns [] and the engine
falls back to another operator. One query per evolved text, as the other prompt operators. Turned on
by `merge_units`.
"""

from __future__ import annotations

import random
from typing import Any

from promptbreeder.backends.base import QueryResult
from promptbreeder.genomes.prompt.unit import Unit
from promptbreeder.genomes.prompt.operators.base import BreedContext
from promptbreeder.genomes.prompt.operators.cleaning import jaccard
from promptbreeder.genomes.prompt.operators.common import PromptOperator, cut
from promptbreeder.genomes.prompt.operators.registry import register

SHOWN = 2  # problems shown for each side: enough to tell what each one gets right
PROBLEM_JACCARD = 0.75  # a reply this close to a shown problem line restates it ("What is 2 + 3? (answer: 5)")


def complement(parent: Unit, other: Unit) -> tuple[list[str], list[str]]:
    """(questions `other` got right and `parent` wrong, questions `parent` got right and `other` wrong)."""
    mine, theirs = parent.outcomes(), other.outcomes()
    shared = [q for q in mine if q in theirs]
    return [q for q in shared if theirs[q] and not mine[q]], [q for q in shared if mine[q] and not theirs[q]]


def partner(parent: Unit, population: list[Unit]) -> Unit | None:
    """The unit right on most of the parent's wrong answers (then the fitter, then the earlier); None if none is."""
    best, best_key = None, (0, float("-inf"))
    for unit in population:
        if unit.id == parent.id or unit.prompts == parent.prompts:
            continue
        gains = len(complement(parent, unit)[0])
        key = (gains, unit.fitness if unit.fitness is not None else float("-inf"))
        if gains > 0 and key > best_key:
            best, best_key = unit, key
    return best


def _lines(unit: Unit, questions: list[str]) -> list[str]:
    answers = {s["question"]: s["answer"] for s in unit.solved}
    return [f"- {cut(q)} (answer: {cut(answers.get(q, ''))})" for q in questions[:SHOWN]]


def shown(parent: Unit, population: list[Unit]) -> tuple[Unit, list[str], list[str]] | None:
    """(partner, the parent's lines, the partner's lines): what a merge of `parent` shows; None: no partner."""
    other = partner(parent, population)
    if other is None:
        return None
    theirs, mine = complement(parent, other)
    return other, _lines(parent, mine), _lines(other, theirs)


@register
class Merge(PromptOperator):
    name = "merge"
    query_name = "merge"

    def inputs(self, parent: Unit, ctx: BreedContext, rng: random.Random, slot: int) -> dict[str, Any] | None:
        found = shown(parent, ctx.population)
        if found is None:
            return None
        other, mine, theirs = found
        texts = other.prompts
        return {"task_description": ctx.task_description, "prompt_a": parent.prompts[slot],
                "prompt_b": texts[slot] if slot < len(texts) else parent.prompts[slot],
                "solved_a": "\n".join(mine) or "- (none recorded)", "solved_b": "\n".join(theirs)}

    def apply(self, parent: Unit, results: list[QueryResult], ctx: BreedContext, rng: random.Random) -> Unit | None:
        child = super().apply(parent, results, ctx, rng)
        found = shown(parent, ctx.population)
        lines = [] if found is None else found[1] + found[2]
        if child is not None and any(jaccard(p, line) >= PROBLEM_JACCARD for p in child.prompts for line in lines):
            return None  # a small model copies an example line, a little reworded: that is no instruction
        return child

    def echoes(self, parent: Unit, ctx: BreedContext, slot: int) -> list[str]:
        # handing back either instruction is a copy, not a merge; nor is a restated problem an instruction
        found = shown(parent, ctx.population)
        extra = [] if found is None else [*found[0].prompts, *found[1], *found[2],
                                          *(s["question"] for s in parent.solved + found[0].solved)]
        return [*super().echoes(parent, ctx, slot), *extra]
