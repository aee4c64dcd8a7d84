"""The scorer contract: how good is one model answer to one fitness example?

- `Scorer.score(prediction: str, example: dict) -> float` returns a value in [0, 1] (1 = fully right).
- `Scorer.score_many(predictions, examples) -> list[float]` scores a batch, one value per pair, in order;
  the default loops over `score`. Scorers that call a model override it so a batch costs one backend call.
- The gold label of an example lives under `example["gold_" + task_name]` (see `Scorer.gold`), so one
  suite file can hold labels for several tasks.
- `Scorer.judge_many(predictions, examples, explain=False) -> list[(score, feedback)]` adds a line of
  feedback to each score, for reflective mutation (GEPA): what was expected and what went wrong ("right"
  when it is right). The default asks `feedback(prediction, example, score)`, which says what the gold
  answer was; scorers that know better say more (the number read from the answer, the pattern, the user's
  own text). `explain=True` asks for the reason where it costs more to get (the rubric grader writes one
  line after its grade); the score is the same either way.
- Scoring never raises for a bad prediction: a prediction that cannot be understood scores 0.0. Bad
  *arguments* are a usage problem and are reported when the scorer is built (see `registry.build_scorer`).

Each scorer class declares `type` (its name in `fitness_scorer.type`) and `args_schema`, a small JSON
Schema for its arguments (the keys of `fitness_scorer` other than `type`); the registry checks specs with it
and the day care loader uses the same schema, so a bad argument is reported in the same words by both.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar


def clip01(value: Any) -> float:
    """`value` as a float in [0, 1]; anything not a finite number counts as a miss (0.0)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    if math.isnan(number):
        return 0.0
    return min(1.0, max(0.0, number))


class Scorer(ABC):
    """Scores predictions against the gold labels of fitness examples. Subclasses implement `score`."""

    type: ClassVar[str] = ""
    args_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}
    # answer types the scorer makes sense for (None = any); checked against task_description.json
    answer_types: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, task_name: str, backend: Any = None, **args: Any) -> None:
        self.task_name = task_name
        self.backend = backend
        self.args = args

    @classmethod
    def check_args(cls, args: dict[str, Any]) -> tuple[str, str] | None:
        """Checks the schema cannot express (a regex compiles, a function imports).

        Returns `(arg_name, expectation)` for the first problem, or None. Runs after `args_schema` passed.
        """
        return None

    @property
    def gold_key(self) -> str:
        return "gold_" + self.task_name

    def gold(self, example: dict[str, Any]) -> Any:
        """The example's gold label (None when the example has none, which then scores 0.0)."""
        return example.get(self.gold_key)

    @abstractmethod
    def score(self, prediction: str, example: dict[str, Any]) -> float:
        """How right `prediction` is for `example`, in [0, 1]."""

    def score_many(self, predictions: list[str], examples: list[dict[str, Any]]) -> list[float]:
        if len(predictions) != len(examples):
            raise ValueError(f"{len(predictions)} predictions for {len(examples)} examples")
        return [clip01(self.score(p, e)) for p, e in zip(predictions, examples)]

    def feedback(self, prediction: str, example: dict[str, Any], score: float) -> str:
        """One line on why `prediction` scored `score`: what was expected and what came."""
        if score >= 1.0:
            return "right"
        gold = self.gold(example)
        expected = "no gold answer was given" if gold is None else f"expected {quoted(gold)}"
        return f"{'partly right' if score > 0 else 'wrong'}: {expected}, the answer was {quoted(prediction)}"

    def judge_many(self, predictions: list[str], examples: list[dict[str, Any]],
                   explain: bool = False) -> list[tuple[float, str]]:
        """`score_many` with a line of feedback per answer (see the module docstring)."""
        scores = self.score_many(predictions, examples)
        return [(s, self.feedback(p, e, s)) for p, e, s in zip(predictions, examples, scores)]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(self.args.items()))
        return f"{type(self).__name__}({self.task_name!r}{', ' if args else ''}{args})"


def quoted(value: Any, limit: int = 120) -> str:
    """`value` quoted for a feedback line, cut to `limit` characters (an answer may be a page long)."""
    text = str(value if value is not None else "").strip()
    if not text:
        return "empty"
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
