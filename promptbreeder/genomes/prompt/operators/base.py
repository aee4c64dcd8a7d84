"""The operator contract. An operator turns a parent unit into a child unit in two phases, so the
engine can send the queries of every tournament of a generation to the backend in one batch:

1. `requests(parent, ctx, rng) -> list[QueryRequest]` — the LMQL queries to run (often one, EDA and
   Lamarckian ones may carry several prompts in one query; crossover and context shuffling send none).
   Each request's `query` comes from `ctx.query_text(<operator query name>)` so a day care or task can
   override the `.lmql` file; its `name` is the query name; its decoder is `ctx.mutation_decoder`
   with the temperature drawn for this mutation; its seed comes from `rng`.
2. `apply(parent, results, ctx, rng) -> Unit | None` — builds the child from the results (in request
   order), cleaning the output: strip, drop echoes of the instruction or of the mutation prompt, bound
   the length (`MAX_PROMPT_CHARS`). Returns None when the output is unusable (empty, garbled, echo);
   the engine then retries the operator once and otherwise keeps a copy of the parent, logging the
   failure. `apply` never raises for model output.

The child gets a fresh id from `ctx.new_id()`, `parent=parent.id`, `operator=<name>`,
`generation=ctx.generation`, and the parent's lineage plus the parent itself appended.
Operators are registered by name in `operators/registry.py`; unknown names list what exists.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable

from promptbreeder.backends.base import DecoderOptions, QueryRequest, QueryResult
from promptbreeder.genomes.prompt.unit import Unit

MAX_PROMPT_CHARS = 600


@dataclass
class BreedContext:
    """What operators may read: the population, the task, the day care's prompts and the generation."""

    task_description: str
    population: list[Unit]
    mutation_prompts: list[str]
    thinking_styles: list[str]
    query_text: Callable[[str], str]  # query name -> .lmql text (task > day care > package)
    mutation_decoder: DecoderOptions
    generation: int
    num_eda_samples: int = 10
    num_lamarckian_reasonings: int = 2
    temperature_range: tuple[float, float] = (0.6, 1.2)  # a sampling mutation draws its temperature from it
    # the fittest unit of each generation so far, oldest first: {"id", "generation", "task_prompts", "fitness"}
    elites: list[dict] = field(default_factory=list)
    # texts -> unit-length vectors from the model (None: it cannot embed), for near-duplicate filtering
    embed: Callable[[list[str]], list[list[float]]] | None = None
    new_id: Callable[[], str] = field(default=lambda: "")


class Operator(ABC):
    name: str = ""
    query_name: str | None = None  # the .lmql file this operator sends (None: no model call)

    @abstractmethod
    def requests(self, parent: Unit, ctx: BreedContext, rng: random.Random) -> list[QueryRequest]:
        ...

    @abstractmethod
    def apply(self, parent: Unit, results: list[QueryResult], ctx: BreedContext, rng: random.Random) -> Unit | None:
        ...
