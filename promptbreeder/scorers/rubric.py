"""llm_rubric: a model grades each answer against a rubric (and the reference answer, when there is one).

One batch of predictions is one `backend.run_many` call of the `rubric_score` query, so grading rides the
same batched generation as everything else. A grading call that fails or returns something that is not an
integer scores 0.0: a broken grader must lower fitness, never stop a run.

Asked to explain (`judge_many(..., explain=True)`, which reflective mutation does), the grader runs the
`rubric_reason` query instead: the same text up to the grade, then one line of reason after it, which
becomes the feedback the mutator reads. Plain grading stays one short integer per answer.
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
REASON_QUERY_NAME = "rubric_reason"  # the same grade, then a line on why
SCORE_HOLE = "SCORE"  # the variable of the query that holds the grade
REASON_HOLE = "REASON"
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
        self._queries: dict[str, str] = {}

    def query_text(self, name: str) -> str:
        """The text of query `name` (a day care's override where it has one), read once."""
        if name not in self._queries:
            lookup = self._query_lookup or package_query_text
            self._queries[name] = lookup(name)
        return self._queries[name]

    @property
    def query(self) -> str:
        return self.query_text(QUERY_NAME)

    def request(self, prediction: str, example: dict[str, Any], name: str = QUERY_NAME) -> QueryRequest:
        gold = self.gold(example)
        return QueryRequest(
            query=self.query_text(name),
            inputs={
                "question": str(example.get("input", "")),
                "answer": "" if prediction is None else str(prediction),
                # the query has no scale input, so the rubric carries it to the grader
                "rubric": f"{self.rubric.strip()}\nUse a whole number from 0 (worst) to {self.scale} (best).",
                "reference": "" if gold is None else str(gold),
            },
            decoder=DecoderOptions(),
            name=name,
        )

    def score(self, prediction: str, example: dict[str, Any]) -> float:
        return self.score_many([prediction], [example])[0]

    def feedback(self, prediction: str, example: dict[str, Any], score: float, reason: str = "") -> str:
        """The grade, and the grader's reason when it gave one (else the rubric it graded against)."""
        said = " ".join(str(reason).split())
        rubric = str(self.args.get("rubric", "")).strip()
        because = f": {said[:300]}" if said else (f" against the rubric: {rubric[:200]}" if rubric else " against the rubric")
        return f"the grader gave {round(score * self.scale)} of {self.scale}{because}"

    def score_many(self, predictions: list[str], examples: list[dict[str, Any]]) -> list[float]:
        return [score for score, _ in self._grade(predictions, examples, QUERY_NAME)]

    def judge_many(self, predictions: list[str], examples: list[dict[str, Any]],
                   explain: bool = False) -> list[tuple[float, str]]:
        if not explain:
            return super().judge_many(predictions, examples)
        graded = self._grade(predictions, examples, REASON_QUERY_NAME)
        return [(score, self.feedback(p, e, score, reason)) for p, e, (score, reason) in zip(predictions, examples, graded)]

    def _grade(self, predictions: list[str], examples: list[dict[str, Any]], query: str) -> list[tuple[float, str]]:
        """(grade as a fraction, the REASON hole or "") per prediction, from one `run_many` of `query`."""
        if len(predictions) != len(examples):
            raise ValueError(f"{len(predictions)} predictions for {len(examples)} examples")
        if not predictions:
            return []
        if self.backend is None:
            raise UsageError("the llm_rubric scorer needs a backend to grade answers (build_scorer(..., backend=...))")
        try:
            results = self.backend.run_many([self.request(p, e, query) for p, e in zip(predictions, examples)])
        except BackendError:
            return [(0.0, "")] * len(predictions)
        graded = []
        for result in results[: len(predictions)]:
            ok = getattr(result, "ok", False)
            variables = getattr(result, "variables", None) or {}
            graded.append((parse_score(variables.get(SCORE_HOLE), self.scale), str(variables.get(REASON_HOLE) or ""))
                          if ok else (0.0, ""))
        # a backend that returns fewer results than asked has failed on the missing ones
        return graded + [(0.0, "")] * (len(predictions) - len(graded))
