"""Direct mutation: new task prompts from the task description alone (zero-order) or the parent's task
prompts each rewritten by its mutation prompt (first-order)."""

from __future__ import annotations

import random
from typing import Any

from promptbreeder.genomes.prompt.unit import Unit
from promptbreeder.genomes.prompt.operators.base import BreedContext
from promptbreeder.genomes.prompt.operators.common import PromptOperator
from promptbreeder.genomes.prompt.operators.registry import register


@register
class ZeroOrder(PromptOperator):
    name = "zero_order"
    query_name = "zero_order"

    def inputs(self, parent: Unit, ctx: BreedContext, rng: random.Random, slot: int) -> dict[str, Any]:
        return {"task_description": ctx.task_description}

    def echoes(self, parent: Unit, ctx: BreedContext, slot: int) -> list[str]:
        return [ctx.task_description, *super().echoes(parent, ctx, slot)]


@register
class FirstOrder(PromptOperator):
    name = "first_order"
    query_name = "first_order"

    def inputs(self, parent: Unit, ctx: BreedContext, rng: random.Random, slot: int) -> dict[str, Any]:
        return {"mutation_prompt": parent.mutation_prompt, "task_prompt": parent.prompts[slot]}
