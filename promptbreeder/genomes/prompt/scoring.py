"""Scoring units: fitness over the enabled variants, history, and remembered workings-out.

A unit's fitness is the mean of its variants' fitness (noCoT and/or CoT) over every batch it was scored on
(its `fitness_history`).
Correct chain-of-thought workings-out go into the unit's context, where few-shot prompting and the
Lamarckian operator find them.
"""

from __future__ import annotations

from typing import Any, Sequence

from promptbreeder.genomes.prompt.evaluator import Candidate, FitnessResult
from promptbreeder.genomes.prompt.unit import Unit

def candidate(unit: Unit) -> Candidate:
    return Candidate(task_prompt=unit.task_prompt, task_prompt_after=unit.task_prompt_after)


def evaluate_groups(evaluator: Any, groups: list[tuple[list[Candidate], list[dict], str]]) -> list[list[FitnessResult]]:
    """One backend call for every group when the evaluator can; otherwise one call per group."""
    if hasattr(evaluator, "evaluate_groups"):
        return evaluator.evaluate_groups(groups)
    return [evaluator.evaluate(list(c), list(e), v) for c, e, v in groups]


def score_units(evaluator: Any, variants: Sequence[str], groups: list[tuple[list[Unit], list[dict]]],
                generation: int) -> None:
    """Evaluate each group's units on that group's examples, all groups in one evaluator call.

    Sets `fitness`, appends one `fitness_history` entry per variant and remembers correct workings-out.
    """
    requests = [([candidate(u) for u in units], examples, v) for units, examples in groups for v in variants]
    results = iter(evaluate_groups(evaluator, requests))
    for units, _ in groups:
        per_variant = [next(results) for _ in variants]
        for i, unit in enumerate(units):
            for variant, outcome in zip(variants, per_variant):
                result = outcome[i]
                entry = {"generation": generation, "fitness": result.fitness, "variant": variant}
                if result.entropy is not None:  # calculate_entropy: how sure the model was of its answers
                    entry["entropy"] = result.entropy
                unit.fitness_history.append(entry)
                for question, reasoning, answer in result.correct_workings():
                    unit.remember_working(question, reasoning.strip(), answer.strip())
            # the mean over every batch the unit was scored on: one small batch says little, and a unit
            # that survives many tournaments is judged on all of them (each variant of a batch counts once)
            unit.fitness = sum(e["fitness"] for e in unit.fitness_history) / len(unit.fitness_history)
