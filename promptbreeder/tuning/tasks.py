"""Tuning on a day-care prompt task: its fitness examples as `X`/`y`, its own scorer as the metric."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from promptbreeder.backends.base import Backend
from promptbreeder.daycare.loader import load_day_care


def scorer_metric(scorer) -> Callable[[Sequence[dict], Sequence[str]], float]:
    """A promptbreeder `Scorer` as a tuner metric: `metric(examples, answers)` = the mean score in [0, 1]."""
    def metric(y_true: Sequence[dict], y_pred: Sequence[str]) -> float:
        scores = scorer.score_many(list(y_pred), list(y_true))
        return sum(scores) / len(scores) if scores else 0.0
    metric.__name__ = f"{scorer.type}_score"
    return metric


def task_data(day_care_dir: str | Path, task_name: str, limit: int | None = None,
              backend: Backend | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Callable, Any]:
    """(X, y, metric, task) for a prompt task of a day care: X and y are its fitness examples (the first
    `limit`), the metric its fitness scorer (`backend` for scorers that ask a model). Raises DayCareError."""
    day_care = load_day_care(day_care_dir)
    task = day_care.task(task_name)
    examples = task.load_suite()[:limit]
    return examples, examples, scorer_metric(day_care.build_scorer(task, backend)), task
