"""Fitness scorers: turn (prediction, example) into a number in [0, 1]. See base.py for the contract."""

from promptbreeder.scorers.base import Scorer, clip01
from promptbreeder.scorers.registry import (
    args_schema,
    available_scorers,
    build_scorer,
    register,
    scorer_class,
    spec_problem,
)

__all__ = [
    "Scorer",
    "args_schema",
    "available_scorers",
    "build_scorer",
    "clip01",
    "register",
    "scorer_class",
    "spec_problem",
]
