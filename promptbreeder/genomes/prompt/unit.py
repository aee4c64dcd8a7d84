"""The PromptBreeder unit: task prompts plus the mutation prompt that evolves them (Fernando et al. 2023).

A unit's first task prompt goes before the question and, when there are two, the second after it.
With `breed_system_prompt` a unit also carries its own system prompt (LLaMA Day Care's units hold one);
`prompts` lists every text the operators evolve, the system prompt first, so a position ("slot") means
the same text in every unit of a run.
Units are plain data: the engine saves them in run snapshots with `to_dict` and restores them with
`from_dict`, so every field must stay JSON-serialisable.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_CONTEXT = 8  # correct workings-out a unit keeps for few-shot context and Lamarckian mutation
MAX_FAILURES = 8  # answers it got wrong (and right), most recent last, for reflective mutation and merge
CONTEXT_RESAMPLE_RATE = 0.1  # chance an update resamples the whole context list (the paper's rate)


@dataclass
class Unit:
    id: str
    task_prompts: list[str]
    mutation_prompt: str
    thinking_style: str
    generation: int = 0
    parent: str | None = None
    operator: str | None = None  # the operator that made this unit from `parent` ("init" for generation 0)
    # correct workings-out from fitness evaluations: {"question", "reasoning", "answer"}
    context: list[dict[str, str]] = field(default_factory=list)
    fitness: float | None = None
    fitness_history: list[dict[str, Any]] = field(default_factory=list)  # {"generation", "fitness", "variant"}
    # ancestors' first task prompts, oldest first, for reports: {"generation", "prompt", "fitness"}
    lineage: list[dict[str, Any]] = field(default_factory=list)
    mutation_entropy: float | None = None  # calculate_entropy: mean next-token entropy of the queries that made it
    system_prompt: str | None = None  # bred with breed_system_prompt; None: the task's fixed one is used
    # its prompts' wrong answers: {"question", "answer", "gold", "feedback"}, for reflective mutation (GEPA)
    failures: list[dict[str, str]] = field(default_factory=list)
    # questions its prompts answered right: {"question", "answer"}, newest last, for the merge operator
    solved: list[dict[str, str]] = field(default_factory=list)
    # selection "pareto": its score on each example of the run's fixed Pareto set (mean over variants)
    example_scores: list[float] | None = None

    @property
    def prompts(self) -> list[str]:
        """Every text the operators evolve, by slot: the bred system prompt (if any), then the task prompts."""
        return ([] if self.system_prompt is None else [self.system_prompt]) + self.task_prompts

    def split_prompts(self, prompts: list[str], keep_rest: bool = True) -> tuple[str | None, list[str]]:
        """(system prompt, task prompts) of a unit laid out as this one whose leading slots hold `prompts`
        (with `keep_rest`, slots past the end of `prompts` keep this unit's texts; without, they go)."""
        texts = [*prompts, *self.prompts[len(prompts):]] if keep_rest else list(prompts)
        return (None, texts) if self.system_prompt is None else (texts[0], texts[1:])

    @property
    def task_prompt(self) -> str:
        return self.task_prompts[0]

    @property
    def task_prompt_after(self) -> str:
        return self.task_prompts[1] if len(self.task_prompts) > 1 else ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Unit":
        return cls(**data)

    def remember_failures(self, failures: list[dict[str, str]]) -> None:
        """Keep the newest MAX_FAILURES distinct wrong answers (the prompts never change within a unit, so
        every one of them is a failure of its current prompts)."""
        _remember(self.failures, failures)

    def remember_solved(self, solved: list[dict[str, str]]) -> None:
        """Keep the newest MAX_FAILURES distinct questions answered right, as `remember_failures` does."""
        _remember(self.solved, solved)

    def outcomes(self) -> dict[str, bool]:
        """Question -> whether its prompts answered it right, as far as this unit remembers."""
        return {**{f["question"]: False for f in self.failures}, **{s["question"]: True for s in self.solved}}

    def remember_workings(self, workings: list[dict[str, str]], rng: random.Random) -> None:
        """Take in the correct workings-out of one fitness evaluation, as the paper's context update does
        (Fernando et al. 2023, 3.2.5): new ones fill the free places; once the list is full, one randomly
        chosen new working-out replaces a randomly chosen old one; and with a 10% chance the whole list is
        instead resampled from the old and new ones. Items are {"question", "reasoning", "answer"}; no
        duplicates."""
        new: list[dict[str, str]] = []
        for item in workings:
            if item not in self.context and item not in new:
                new.append(item)
        if not new:
            return
        if rng.random() < CONTEXT_RESAMPLE_RATE:
            pool = self.context + new
            self.context = rng.sample(pool, min(MAX_CONTEXT, len(pool)))
            return
        room = max(MAX_CONTEXT - len(self.context), 0)
        self.context += new[:room]
        rest = new[room:]
        if rest:
            self.context[rng.randrange(len(self.context))] = rng.choice(rest)


def _remember(kept: list[dict[str, str]], new: list[dict[str, str]]) -> None:
    """Append `new` to `kept`, a repeat moved to the end, keeping the newest MAX_FAILURES."""
    for item in new:
        if item in kept:
            kept.remove(item)
        kept.append(item)
    del kept[:-MAX_FAILURES]
