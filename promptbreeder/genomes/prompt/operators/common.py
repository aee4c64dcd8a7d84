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

LINEAGE_KEEP = 8  # ancestors a unit remembers (reports draw its lineage; the lineage mutation shows elites)
FIELD_CHARS = 300  # a long question or answer shown to the mutator is cut: the point matters, not every word


def cut(text: Any) -> str:
    """`text` on one line, at most FIELD_CHARS long."""
    text = " ".join(str(text).split())
    return text if len(text) <= FIELD_CHARS else text[: FIELD_CHARS - 1] + "…"


def draw_decoder(ctx: BreedContext, rng: random.Random) -> DecoderOptions:
    """The mutation decoder, with a temperature drawn from `ctx.temperature_range` when it samples (argmax
    and beam stay as they are): a population bred with one decoder still explores at several temperatures."""
    if ctx.mutation_decoder.method != "sample":
        return ctx.mutation_decoder
    return ctx.mutation_decoder.with_overrides(temperature=rng.uniform(*ctx.temperature_range))


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
    """What a child's lineage remembers of its parent."""
    return {"generation": parent.generation, "prompt": parent.task_prompt, "fitness": parent.fitness}


def make_child(parent: Unit, ctx: BreedContext, operator: str, *, prompts: list[str],
               mutation_prompt: str | None = None) -> Unit:
    """A new unit from `parent`: its leading slots (`Unit.prompts`) replaced by `prompts` (an operator
    mutates every one of them), thinking style and context inherited, fitness unknown, and the parent
    appended to the lineage."""
    lineage = [dict(entry) for entry in parent.lineage] + [parent_entry(parent)]
    system_prompt, task_prompts = parent.split_prompts(prompts)
    return Unit(
        id=ctx.new_id(),
        task_prompts=task_prompts,
        system_prompt=system_prompt,
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


def slots(parent: Unit) -> range:
    """The positions of a unit's evolved texts, `Unit.prompts` (every one of them mutates)."""
    return range(max(len(parent.prompts), 1))


class PromptOperator(Operator):
    """An operator that sends one query per evolved text of the parent (`Unit.prompts`: its task prompts,
    and its system prompt when the run breeds one) and reads each new text from its [PROMPT] hole; the
    child replaces all of them, or the operator gives nothing.

    Subclasses say what the query for the prompt at position `slot` shows (`inputs`; None means "nothing
    to send") and which texts a reply must not merely repeat (`echoes`). The requests of one mutation
    share its drawn temperature and have seeds of their own.
    """

    def inputs(self, parent: Unit, ctx: BreedContext, rng: random.Random, slot: int) -> dict[str, Any] | None:
        raise NotImplementedError

    def echoes(self, parent: Unit, ctx: BreedContext, slot: int) -> list[str]:
        # a copy of any of the parent's own prompts is no mutation, whether or not it was shown
        return [parent.mutation_prompt, *parent.prompts]

    def requests(self, parent: Unit, ctx: BreedContext, rng: random.Random) -> list[QueryRequest]:
        decoder = draw_decoder(ctx, rng)
        requests = []
        for slot in slots(parent):
            inputs = self.inputs(parent, ctx, rng, slot)
            if inputs is None:
                return []
            requests.append(build_request(self.query_name, inputs, ctx, decoder, rng))
        return requests

    def apply(self, parent: Unit, results: list[QueryResult], ctx: BreedContext, rng: random.Random) -> Unit | None:
        prompts = [clean_prompt(read_hole(results, "PROMPT", slot), echoes=self.echoes(parent, ctx, slot))
                   for slot in slots(parent)]
        if not results or any(p is None for p in prompts):
            return None
        return make_child(parent, ctx, self.name, prompts=prompts)
