"""Lamarckian mutation (working out the task prompt): from correct workings-out the parent produced,
ask the model which instruction led to them. What a unit learned while being evaluated thus flows
back into its prompt.

A parent without stored workings-out has nothing to show: `requests` returns [] and `apply` returns
None, and the engine falls back to another operator (as for any unusable output). That is deliberate
rather than silently becoming a first-order mutation, so operator statistics stay truthful.
"""

from __future__ import annotations

import random
from typing import Any

from promptbreeder.genomes.prompt.unit import Unit
from promptbreeder.genomes.prompt.operators.base import BreedContext
from promptbreeder.genomes.prompt.operators.common import PromptOperator
from promptbreeder.genomes.prompt.operators.registry import register


def format_working(item: dict[str, str]) -> str:
    return (f"Problem: {item.get('question', '').strip()}\n"
            f"Working-out: {item.get('reasoning', '').strip()}\n"
            f"Answer: {item.get('answer', '').strip()}")


@register
class Lamarckian(PromptOperator):
    name = "lamarckian"
    query_name = "lamarckian"

    def inputs(self, parent: Unit, ctx: BreedContext, rng: random.Random, slot: int) -> dict[str, Any] | None:
        count = min(ctx.num_lamarckian_reasonings, len(parent.context))
        if count <= 0:
            return None
        chosen = rng.sample(parent.context, count)
        return {"task_description": ctx.task_description,
                "workings": "\n\n".join(f"Example {i}:\n{format_working(item)}" for i, item in enumerate(chosen, 1))}

    def echoes(self, parent: Unit, ctx: BreedContext, slot: int) -> list[str]:
        # a reply that just restates a shown problem or answer is not an instruction
        shown = [text for item in parent.context for text in (item.get("question", ""), item.get("answer", ""))]
        return [*super().echoes(parent, ctx, slot), *shown]
