"""Hyper-mutation: mutate the mutation prompt, then in the same query use the new one on each of the
parent's task prompts (the second one, after the question, in a second turn: [PROMPT_AFTER]). The
child keeps the new mutation prompt, so good ways of mutating are inherited too.

One query rather than two keeps the operator's two phases (requests, then apply) a single batch
round-trip: the second half of the query reads [MUTATION] straight from the first.
"""

from __future__ import annotations

import random
from typing import Any

from promptbreeder.backends.base import QueryRequest, QueryResult
from promptbreeder.genomes.prompt.unit import Unit
from promptbreeder.genomes.prompt.operators.base import BreedContext, Operator
from promptbreeder.genomes.prompt.operators.cleaning import clean_prompt
from promptbreeder.genomes.prompt.operators.common import build_request, draw_decoder, make_child, read_hole

PROMPT_HOLES = ("PROMPT", "PROMPT_AFTER")  # the new task prompt at each position
from promptbreeder.genomes.prompt.operators.registry import register


class HyperOperator(Operator):
    def inputs(self, parent: Unit, ctx: BreedContext, rng: random.Random) -> dict[str, Any]:
        raise NotImplementedError

    def mutation_echoes(self, parent: Unit, ctx: BreedContext) -> list[str]:
        raise NotImplementedError

    def requests(self, parent: Unit, ctx: BreedContext, rng: random.Random) -> list[QueryRequest]:
        inputs = {**self.inputs(parent, ctx, rng), "task_prompt": parent.task_prompt,
                  "task_prompt_after": parent.task_prompt_after}
        return [build_request(self.query_name, inputs, ctx, draw_decoder(ctx, rng), rng)]

    def apply(self, parent: Unit, results: list[QueryResult], ctx: BreedContext, rng: random.Random) -> Unit | None:
        mutation = clean_prompt(read_hole(results, "MUTATION"), echoes=self.mutation_echoes(parent, ctx))
        if mutation is None:
            return None
        echoes = [mutation, parent.mutation_prompt, *parent.prompts]
        prompts = [clean_prompt(read_hole(results, hole), echoes=echoes)
                   for hole, _ in zip(PROMPT_HOLES, parent.task_prompts or [""])]
        if any(p is None for p in prompts):
            return None
        # the query rewrites the task prompts only: a bred system prompt is inherited as it is
        kept = [] if parent.system_prompt is None else [parent.system_prompt]
        return make_child(parent, ctx, self.name, prompts=[*kept, *prompts], mutation_prompt=mutation)


@register
class ZeroOrderHyper(HyperOperator):
    """A new mutation prompt from the task description seen through a randomly drawn thinking style."""

    name = "zero_order_hyper"
    query_name = "zero_order_hyper"

    def inputs(self, parent: Unit, ctx: BreedContext, rng: random.Random) -> dict[str, Any]:
        style = rng.choice(ctx.thinking_styles) if ctx.thinking_styles else parent.thinking_style
        return {"task_description": ctx.task_description, "thinking_style": style}

    def mutation_echoes(self, parent: Unit, ctx: BreedContext) -> list[str]:
        return [ctx.task_description, parent.thinking_style, *ctx.thinking_styles]


@register
class FirstOrderHyper(HyperOperator):
    """The parent's mutation prompt, improved."""

    name = "first_order_hyper"
    query_name = "first_order_hyper"

    def inputs(self, parent: Unit, ctx: BreedContext, rng: random.Random) -> dict[str, Any]:
        return {"mutation_prompt": parent.mutation_prompt}

    def mutation_echoes(self, parent: Unit, ctx: BreedContext) -> list[str]:
        return [parent.mutation_prompt]
