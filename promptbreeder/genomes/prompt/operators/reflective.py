"""Reflective mutation (GEPA, Agrawal et al. 2025): show the mutator the parent's prompt and some of the
training examples it got wrong (question, the model's answer, the gold answer, the scorer's feedback) and
ask for a prompt that would not make those mistakes. The paper's operators see no failures: only the task,
other prompts, or correct workings-out (Lamarckian).

One query per evolved text of the parent (its task prompts, and its system prompt when the run breeds
one), each shown the same failures. A parent without recorded failures (never scored, or never wrong) has
nothing to reflect on: `requests` returns [] and the engine falls back to another operator, as the
Lamarckian operator does without workings-out. Turned on by `reflective_mutation`.
"""

from __future__ import annotations

import random
from typing import Any

from promptbreeder.genomes.prompt.unit import Unit
from promptbreeder.genomes.prompt.operators.base import BreedContext
from promptbreeder.genomes.prompt.operators.common import PromptOperator, cut
from promptbreeder.genomes.prompt.operators.registry import register

FAILURES_SHOWN = 3  # as GEPA's minibatch: a few concrete mistakes, not a report


def format_failure(number: int, item: dict[str, str]) -> str:
    return (f"Example {number}:\nProblem: {cut(item.get('question', ''))}\n"
            f"Model's answer: {cut(item.get('answer', '')) or '(empty)'}\n"
            f"Correct answer: {cut(item.get('gold', ''))}\nFeedback: {cut(item.get('feedback', ''))}")


@register
class Reflective(PromptOperator):
    name = "reflective"
    query_name = "reflective"

    def inputs(self, parent: Unit, ctx: BreedContext, rng: random.Random, slot: int) -> dict[str, Any] | None:
        if not parent.failures:
            return None
        shown = rng.sample(parent.failures, min(FAILURES_SHOWN, len(parent.failures)))
        return {"task_description": ctx.task_description, "task_prompt": parent.prompts[slot],
                "failures": "\n\n".join(format_failure(i, item) for i, item in enumerate(shown, 1))}

    def echoes(self, parent: Unit, ctx: BreedContext, slot: int) -> list[str]:
        # restating a shown problem, answer or feedback is not an instruction
        shown = [text for item in parent.failures for text in item.values()]
        return [*super().echoes(parent, ctx, slot), *shown]
