"""llm_rubric: a model grades each answer against a rubric (and the reference answer, when there is one).

One batch of predictions is one `backend.run_many` call of the `rubric_score` query, so grading rides the
same batched generation as everything else. A grading call that fails or returns something that is not an
integer scores 0.0: a broken grader must lower fitness, never stop a run.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from promptbreeder.backends.base import DecoderOptions, QueryRequest
from promptbreeder.errors import BackendError, UsageError
from promptbreeder.package_queries import package_query_text
from promptbreeder.scorers.base import Scorer, clip01
from promptbreeder.scorers.registry import register

QUERY_NAME = "rubric_score"
SCORE_HOLE = "SCORE"  # the variable of the query that holds the grade
_INTEGER = re.compile(r"[-+]?\d+")


def parse_score(text: Any, scale: int) -> float:
    """`text` (the SCORE variable) as a fraction of `scale` in [0, 1]; not an integer -> 0.0."""
    match = _INTEGER.fullmatch(str(text).strip()) if text is not None else None
    if not match:
        return 0.0
    return clip01(int(match.group(0)) / scale)


@register
class LLMRubric(Scorer):
    """Asks the backend to grade each prediction 0..`scale` following `rubric`; returns grade / scale."""

    type = "llm_rubric"
    uses_queries = True  # build_scorer passes a day care's query lookup so rubric_score.lmql can be overridden
    args_schema = {
        "type": "object",
        "properties": {
            "rubric": {"type": "string", "minLength": 1, "pattern": r"\S", "description": "grading instructions"},
            "scale": {"type": "integer", "minimum": 1, "maximum": 99, "description": "highest grade"},
        },
        "required": ["rubric"],
    }

    def __init__(
        self,
        task_name: str,
        backend: Any = None,
        rubric: str = "",
        scale: int = 10,
        query_lookup: Callable[[str], str] | None = None,
    ):
        super().__init__(task_name, backend, rubric=rubric, scale=scale)
        self.rubric, self.scale = rubric, int(scale)
        self._query_lookup = query_lookup
        self._query: str | None = None

    @property
    def query(self) -> str:
        if self._query is None:
            if self._query_lookup is not None:
                self._query = self._query_lookup(QUERY_NAME)
            else:
                self._query = package_query_text(QUERY_NAME)
        return self._query

    def request(self, prediction: str, example: dict[str, Any]) -> QueryRequest:
        gold = self.gold(example)
        return QueryRequest(
            query=self.query,
            inputs={
                "question": str(example.get("input", "")),
                "answer": "" if prediction is None else str(prediction),
                # the query has no scale input, so the rubric carries it to the grader
                "rubric": f"{self.rubric.strip()}\nUse a whole number from 0 (worst) to {self.scale} (best).",
                "reference": "" if gold is None else str(gold),
            },
            decoder=DecoderOptions(),
            name=QUERY_NAME,
        )

    def score(self, prediction: str, example: dict[str, Any]) -> float:
        return self.score_many([prediction], [example])[0]

    def feedback(self, prediction: str, example: dict[str, Any], score: float) -> str:
        # the grade against the rubric: the query asks for a number only, so there is no reason to give
        rubric = str(self.args.get("rubric", "")).strip()
        return (f"the grader gave {round(score * self.scale)} of {self.scale} against the rubric"
                + (f": {rubric[:200]}" if rubric else ""))

    def score_many(self, predictions: list[str], examples: list[dict[str, Any]]) -> list[float]:
        if len(predictions) != len(examples):
            raise ValueError(f"{len(predictions)} predictions for {len(examples)} examples")
        if not predictions:
            return []
        if self.backend is None:
            raise UsageError("the llm_rubric scorer needs a backend to grade answers (build_scorer(..., backend=...))")
        try:
            results = self.backend.run_many([self.request(p, e) for p, e in zip(predictions, examples)])
        except BackendError:
            return [0.0] * len(predictions)
        scores = []
        for result in results[: len(predictions)]:
            ok = getattr(result, "ok", False)
            variables = getattr(result, "variables", None) or {}
            scores.append(parse_score(variables.get(SCORE_HOLE), self.scale) if ok else 0.0)
        # a backend that returns fewer results than asked has failed on the missing ones
        return scores + [0.0] * (len(predictions) - len(scores))
