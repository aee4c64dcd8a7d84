"""`get_llm_scorer`: llm_optimize's rubric scorer, an `f(x) -> (score, feedback)` that asks a model.

The rubric is the user's own text with `{x}` where the candidate goes (other braces are left alone, so a
rubric may show JSON); the model's reply is the feedback, and `parse_score(reply)` turns it into the
score. A reply `parse_score` cannot read, or a query that fails, scores 0 with the reason as feedback:
a grader's bad day fails that candidate, never the search.

Inside `promptbreeder.optimize` a scorer made without a backend grades with the run's own model; used
elsewhere it needs `backend=`.
"""

from __future__ import annotations

import re
from typing import Callable

from promptbreeder.backends.base import Backend, DecoderOptions, QueryRequest
from promptbreeder.errors import UsageError
from promptbreeder.package_queries import package_query_text

QUERY_NAME = "llm_score"
FEEDBACK_CHARS = 600  # of the grader's reply, kept as feedback (the history window shows it to the LLM)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def last_number(reply: str) -> float:
    """The default `parse_score`: the last number in the reply (a grader tends to end with its verdict)."""
    numbers = _NUMBER.findall(reply)
    if not numbers:
        raise ValueError("no number in the reply")
    return float(numbers[-1])


class LLMScorer:
    def __init__(self, rubric: str, parse_score: Callable[[str], float] = last_number, *,
                 backend: Backend | None = None, decoder: DecoderOptions | str = "argmax", max_tokens: int = 256,
                 query_text: Callable[[str], str] = package_query_text):
        if not isinstance(rubric, str) or "{x}" not in rubric:
            raise UsageError("get_llm_scorer: the rubric must be a string with {x} where the candidate goes")
        if not callable(parse_score):
            raise UsageError("get_llm_scorer: parse_score must be a function of the grader's reply")
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise UsageError(f"get_llm_scorer: max_tokens must be an integer >= 1 (got {max_tokens!r})")
        self.rubric, self.parse_score, self.backend = rubric, parse_score, backend
        self.decoder = DecoderOptions.parse(decoder) if isinstance(decoder, str) else decoder
        self.max_tokens = max_tokens
        self.query = query_text(QUERY_NAME)

    def __call__(self, x: str) -> tuple[float, str]:
        if self.backend is None:
            raise UsageError("this LLM scorer has no model: pass backend= to get_llm_scorer, or use it as the f"
                             " of promptbreeder.optimize, which lends it the run's model")
        request = QueryRequest(self.query, inputs={"request": self.rubric.replace("{x}", x),
                                                   "max_tokens": self.max_tokens + 1},
                               decoder=self.decoder, name=QUERY_NAME)
        [result] = self.backend.run_many([request])
        if not result.ok:
            return 0.0, f"the grader's query failed: {result.error}"
        reply = result.variables.get("REPLY", "").strip()
        try:
            score = float(self.parse_score(reply))
        except Exception as exc:  # the user's parser on the model's words: a miss, not a crash
            return 0.0, f"the grader's reply could not be read as a score ({type(exc).__name__}: {exc}): {reply[:300]}"
        if score != score:  # NaN
            return 0.0, f"the grader's reply gave no usable score (NaN): {reply[:300]}"
        return score, reply[:FEEDBACK_CHARS]


def get_llm_scorer(rubric: str, parse_score: Callable[[str], float] = last_number, **options) -> LLMScorer:
    """A scorer `f(x) -> (score, feedback)` that grades `x` by `rubric` (with `{x}` in it) on a model and
    reads the score from its reply with `parse_score` (default: the last number). Options: `backend`,
    `decoder` (default argmax), `max_tokens` of the reply (default 256)."""
    return LLMScorer(rubric, parse_score, **options)
