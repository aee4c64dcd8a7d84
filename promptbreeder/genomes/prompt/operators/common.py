"""What every mutation operator does the same way: draw the decoder and seeds, build the request,
read a hole back, and build the child unit the contract in base.py describes.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from promptbreeder.backends.base import DecoderOptions, QueryRequest, QueryResult
from promptbreeder.genomes.prompt.unit import Unit
from promptbreeder.genomes.prompt.operators.base import BreedContext, Operator
from promptbreeder.genomes.prompt.operators.cleaning import clean_prompt

# Drawn per mutation so a population bred with one sampling decoder still explores at several
# temperatures, as PromptBreeder's diverse sampling does.
TEMPERATURE_RANGE = (0.6, 1.2)
LINEAGE_KEEP = 8  # ancestors a unit remembers; the lineage query shows all of them plus the parent


def draw_decoder(ctx: BreedContext, rng: random.Random) -> DecoderOptions:
    """The mutation decoder, with a fresh temperature when it samples (argmax and beam stay as they are)."""
    if ctx.mutation_decoder.method != "sample":
        return ctx.mutation_decoder
    return ctx.mutation_decoder.with_overrides(temperature=rng.uniform(*TEMPERATURE_RANGE))


def draw_seed(rng: random.Random) -> int:
    return rng.randrange(2**31)


def build_request(query_name: str, inputs: dict[str, Any], ctx: BreedContext, decoder: DecoderOptions,
                  rng: random.Random) -> QueryRequest:
    return QueryRequest(query=ctx.query_text(query_name), inputs=inputs, decoder=decoder, seed=draw_seed(rng),
                        name=query_name)


def read_hole(results: list[QueryResult], name: str, index: int = 0) -> str | None:
    """The raw value of hole `name` of result `index`, or None when that result is missing or failed."""
    if index >= len(results) or not results[index].ok:
        return None
    value = results[index].variables.get(name)
    return value if isinstance(value, str) else None


def numbered(items: list[str]) -> str:
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, start=1))


def parent_entry(parent: Unit) -> dict[str, Any]:
    return {"generation": parent.generation, "prompt": parent.task_prompt, "fitness": parent.fitness}


def make_child(parent: Unit, ctx: BreedContext, operator: str, *, task_prompt: str,
               mutation_prompt: str | None = None) -> Unit:
    """A new unit from `parent`: first task prompt replaced, the rest (second prompt, thinking style,
    context) inherited, fitness unknown, and the parent appended to the lineage."""
    lineage = [dict(entry) for entry in parent.lineage] + [parent_entry(parent)]
    return Unit(
        id=ctx.new_id(),
        task_prompts=[task_prompt, *parent.task_prompts[1:]],
        mutation_prompt=parent.mutation_prompt if mutation_prompt is None else mutation_prompt,
        thinking_style=parent.thinking_style,
        generation=ctx.generation,
        parent=parent.id,
        operator=operator,
        context=copy.deepcopy(parent.context),
        fitness=None,
        fitness_history=[],
        lineage=lineage[-LINEAGE_KEEP:],
    )


class PromptOperator(Operator):
    """An operator that sends one query and reads the new task prompt from its [PROMPT] hole.

    Subclasses say what the query shows (`inputs`; None means "nothing to send") and which texts a reply
    must not merely repeat (`echoes`).
    """

    def inputs(self, parent: Unit, ctx: BreedContext, rng: random.Random) -> dict[str, Any] | None:
        raise NotImplementedError

    def echoes(self, parent: Unit, ctx: BreedContext) -> list[str]:
        # a copy of either of the parent's own prompts is no mutation, whether or not it was shown
        return [parent.mutation_prompt, parent.task_prompt]

    def requests(self, parent: Unit, ctx: BreedContext, rng: random.Random) -> list[QueryRequest]:
        inputs = self.inputs(parent, ctx, rng)
        if inputs is None:
            return []
        return [build_request(self.query_name, inputs, ctx, draw_decoder(ctx, rng), rng)]

    def apply(self, parent: Unit, results: list[QueryResult], ctx: BreedContext, rng: random.Random) -> Unit | None:
        prompt = clean_prompt(read_hole(results, "PROMPT"), echoes=self.echoes(parent, ctx))
        if prompt is None:
            return None
        return make_child(parent, ctx, self.name, task_prompt=prompt)
