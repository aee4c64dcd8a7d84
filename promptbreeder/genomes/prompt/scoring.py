"""Scoring units: fitness over the enabled variants, history, and remembered workings-out.

A unit's fitness is the mean of its variants' fitness (noCoT and/or CoT) over every batch it was scored on
(its `fitness_history`).
Correct chain-of-thought workings-out go into the unit's context, where the Lamarckian operator finds
them and, with `fitness_context_examples`, the fitness tests show them as few-shot examples.
"""

from __future__ import annotations

import random
from typing import Any, Sequence

from promptbreeder.genomes.prompt.evaluator import Candidate, FitnessResult
from promptbreeder.genomes.prompt.unit import Unit

def few_shot_text(context: Sequence[dict[str, str]], shown: int) -> str:
    """The last `shown` workings-out of a unit's context as worked examples, each ending in a blank line."""
    items = list(context)[-shown:] if shown > 0 else []
    return "".join(f"Q: {w['question']}\nA: {w['reasoning']}\nSo the answer is: {w['answer']}\n\n" for w in items)


def candidate(unit: Unit, context_shown: int = 0) -> Candidate:
    """What a fitness test asks with: the unit's task prompts, after `context_shown` of its correct
    workings-out as few-shot examples (the paper shows the context before the task prompt)."""
    return Candidate(task_prompt=few_shot_text(unit.context, context_shown) + unit.task_prompt,
                     task_prompt_after=unit.task_prompt_after, system_prompt=unit.system_prompt)


def evaluate_groups(evaluator: Any, groups: list[tuple[list[Candidate], list[dict], str]]) -> list[list[FitnessResult]]:
    """One backend call for every group when the evaluator can; otherwise one call per group."""
    if hasattr(evaluator, "evaluate_groups"):
        return evaluator.evaluate_groups(groups)
    return [evaluator.evaluate(list(c), list(e), v) for c, e, v in groups]


def score_units(evaluator: Any, variants: Sequence[str], groups: list[tuple[list[Unit], list[dict]]],
                generation: int, *, context_shown: int = 0, seed: int = 0, keep_example_scores: bool = False) -> None:
    """Evaluate each group's units on that group's examples, all groups in one evaluator call.

    Sets `fitness`, appends one `fitness_history` entry per variant and takes the correct workings-out
    into the unit's context (`Unit.remember_workings`, with an RNG of its own per unit and generation,
    so the run's RNG and a continued run are unaffected). With `keep_example_scores` (the fixed Pareto
    set) each unit also keeps its score per example, the mean over variants, as `example_scores`.
    """
    requests = [([candidate(u, context_shown) for u in units], examples, v)
                for units, examples in groups for v in variants]
    results = iter(evaluate_groups(evaluator, requests))
    for units, _ in groups:
        per_variant = [next(results) for _ in variants]
        for i, unit in enumerate(units):
            workings = []
            for variant, outcome in zip(variants, per_variant):
                result = outcome[i]
                unit.remember_failures(result.wrong_answers())
                unit.remember_solved(result.right_answers())
                entry = {"generation": generation, "fitness": result.fitness, "variant": variant}
                if result.entropy is not None:  # calculate_entropy: how sure the model was of its answers
                    entry["entropy"] = result.entropy
                unit.fitness_history.append(entry)
                workings += [{"question": q, "reasoning": r.strip(), "answer": a.strip()}
                             for q, r, a in result.correct_workings()]
            if keep_example_scores:
                per_example = zip(*(outcome[i].scores for outcome in per_variant))
                unit.example_scores = [sum(scores) / len(scores) for scores in per_example]
            unit.remember_workings(workings, random.Random(f"context:{seed}:{unit.id}:{generation}"))
            # the mean over every batch the unit was scored on: one small batch says little, and a unit
            # that survives many tournaments is judged on all of them (each variant of a batch counts once)
            unit.fitness = sum(e["fitness"] for e in unit.fitness_history) / len(unit.fitness_history)
