"""Generation 0: fill a template unit's task prompt(s) by applying its mutation prompt and thinking
style to the task description.

The engine draws the mutation prompt and thinking style and passes a template unit holding them (its
task_prompts list says how many prompts to write: 1, or 2 for a prompt before and one after the
question), and a template with a system prompt (`breed_system_prompt`) gets a new one written by the
`init_system_prompt` query. One request per prompt, each with its own seed and told where its prompt will
sit, so two prompts differ even under argmax decoding.
"""

from __future__ import annotations

import copy
import random

from promptbreeder.backends.base import QueryRequest, QueryResult
from promptbreeder.genomes.prompt.unit import Unit
from promptbreeder.genomes.prompt.operators.base import BreedContext, Operator
from promptbreeder.genomes.prompt.operators.cleaning import clean_prompt
from promptbreeder.genomes.prompt.operators.common import build_request, draw_decoder, read_hole
from promptbreeder.genomes.prompt.operators.registry import register

PLACEMENTS = ("before", "after")  # where the first and second task prompt go relative to the question
SYSTEM_QUERY = "init_system_prompt"


def _slots(template: Unit) -> int:
    return min(max(len(template.task_prompts), 1), len(PLACEMENTS))


@register
class InitialPrompt(Operator):
    name = "init"
    query_name = "init_prompt"

    def requests(self, parent: Unit, ctx: BreedContext, rng: random.Random) -> list[QueryRequest]:
        decoder = draw_decoder(ctx, rng)  # one temperature per unit, one seed per prompt
        inputs = {"thinking_style": parent.thinking_style, "mutation_prompt": parent.mutation_prompt,
                  "task_description": ctx.task_description}
        system = [] if parent.system_prompt is None else [build_request(SYSTEM_QUERY, inputs, ctx, decoder, rng)]
        return system + [build_request(self.query_name, {**inputs, "placement": placement}, ctx, decoder, rng)
                         for placement in PLACEMENTS[: _slots(parent)]]

    def apply(self, parent: Unit, results: list[QueryResult], ctx: BreedContext, rng: random.Random) -> Unit | None:
        """The template with its texts (`Unit.prompts`) filled; None when any of them is unusable."""
        echoes = [parent.mutation_prompt, parent.thinking_style, ctx.task_description]
        count = _slots(parent) + (parent.system_prompt is not None)
        prompts = [clean_prompt(read_hole(results, "PROMPT", i), echoes=echoes) for i in range(count)]
        if any(p is None for p in prompts):
            return None
        system_prompt, task_prompts = parent.split_prompts(prompts, keep_rest=False)
        return Unit(
            id=parent.id or ctx.new_id(),  # the engine may have numbered its templates already
            task_prompts=task_prompts,
            system_prompt=system_prompt,
            mutation_prompt=parent.mutation_prompt,
            thinking_style=parent.thinking_style,
            generation=ctx.generation,
            parent=None,
            operator=self.name,
            context=copy.deepcopy(parent.context),
            fitness=None,
            fitness_history=[],
            lineage=[],
        )
