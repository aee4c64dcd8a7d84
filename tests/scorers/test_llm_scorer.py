"""get_llm_scorer (llm_optimize's rubric scorer) on the fake backend, alone and as optimize's f."""

from __future__ import annotations

import re

import pytest

import promptbreeder
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.errors import UsageError

RUBRIC = """Rate the text, using the rubric:
* Is a palindrome (1-10)
Reply as JSON {"final_score": n} too.
```
{x}
```
At the end respond with `final_score=score`."""


def final_score(reply):
    return float(re.findall(r"final_score=([\d.]+)", reply)[0])


def grader(replies):
    return FakeBackend(responder=lambda request: replies(request.inputs["request"]))


def test_the_rubric_gets_the_candidate_and_the_reply_is_the_score_and_feedback():
    backend = grader(lambda request: "Not quite a palindrome. final_score=4")
    scorer = promptbreeder.get_llm_scorer(RUBRIC, parse_score=final_score, backend=backend, max_tokens=64)
    assert scorer("abba is nice") == (4.0, "Not quite a palindrome. final_score=4")
    [request] = backend.requests
    assert request.name == "llm_score" and request.decoder.method == "argmax"
    assert "```\nabba is nice\n```" in request.inputs["request"] and '{"final_score": n}' in request.inputs["request"]
    assert request.inputs["max_tokens"] == 65


@pytest.mark.parametrize("reply, words", [("I would say it is fine.", "could not be read as a score (IndexError"),
                                          ("final_score=nan", "could not be read")])
def test_a_reply_the_parser_cannot_read_scores_zero_with_the_reason(reply, words):
    scorer = promptbreeder.get_llm_scorer(RUBRIC, parse_score=final_score, backend=grader(lambda r: reply))
    score, feedback = scorer("x")
    assert score == 0.0 and words in feedback


def test_the_default_parser_takes_the_last_number_and_a_failed_query_scores_zero():
    scorer = promptbreeder.get_llm_scorer("Grade 1-10: {x}", backend=grader(lambda r: "Between 3 and 7, so 6.5."))
    assert scorer("x")[0] == 6.5

    def broken(request):
        raise RuntimeError("server down")
    score, feedback = promptbreeder.get_llm_scorer("{x}", backend=FakeBackend(responder=broken))("x")
    assert score == 0.0 and "query failed" in feedback and "server down" in feedback


def test_bad_arguments_and_a_missing_model_are_usage_errors():
    with pytest.raises(UsageError, match=r"\{x\}"):
        promptbreeder.get_llm_scorer("Rate the text.")
    with pytest.raises(UsageError, match="max_tokens"):
        promptbreeder.get_llm_scorer("{x}", max_tokens=0)
    with pytest.raises(UsageError, match="lends it the run's model"):
        promptbreeder.get_llm_scorer("{x}")("x")


def test_inside_optimize_a_scorer_without_a_model_grades_with_the_runs_model_and_gives_it_back():
    def world(request):
        if request.name == "optimize_step":
            return {"REASONING": " make it longer\n", "SOLUTION": request.inputs["current"] + " a\n"}
        candidate = request.inputs["request"].split("```\n")[1].split("\n```")[0]
        return f"final_score={len(candidate.split())}"

    backend = FakeBackend(responder=world)
    scorer = promptbreeder.get_llm_scorer(RUBRIC, parse_score=final_score)
    result = promptbreeder.optimize("Write a palindrome.", "Longer is better.", scorer, "abba", max_steps=2,
                                    backend=backend, stop_score=3)
    assert result.best_score == 3.0 and result.stopped == "stop_score" and result.steps == 2
    assert [e["feedback"] for e in result.history] == ["final_score=1", "final_score=2", "final_score=3"]
    assert scorer.backend is None
