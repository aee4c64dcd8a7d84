"""Answer type and scorer: choices, numbers, short text, free text, overrides and their reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptbreeder.errors import UsageError
from promptbreeder.importers.answer_rules import GENERIC_RUBRIC, decide
from promptbreeder.importers.base import Record, Source


def source(*records, prefer_targets=None):
    return Source(file=Path("x.jsonl"), kind="JSON Lines file", records=list(records), fields="",
                  prefer_targets_reason=prefer_targets)


def rec(target=None, choices=None, right=None):
    return Record(input="q", where="line 1", target=target, choices=choices, choice_target=right)


def test_choices_win_unless_the_source_prefers_its_targets():
    mc = source(rec("b", ["a", "b"], "b"), rec("a", ["a", "b", "c"], "a"))
    decision = decide(mc)
    assert (decision.answer_type, decision.scorer) == ("choice", {"type": "multiple_choice"})
    assert "2 to 3 each" in decision.why
    numbers = source(rec("3", ["3", "x"], "3"), rec("4", ["4", "y"], "4"), prefer_targets="targets count")
    decision = decide(numbers)
    assert decision.answer_type == "number" and decision.why.endswith("; targets count")


def test_numbers_short_text_and_free_text():
    assert decide(source(rec(3), rec("-2.5"), rec(" 1e3 "))).scorer == {"type": "numeric"}
    short = decide(source(rec("Paris"), rec("New York City"), rec("12 apples")))
    assert (short.answer_type, short.scorer, short.answer_max_tokens) == ("text", {"type": "exact_match"}, None)
    free = decide(source(rec("Plants turn light, water and carbon dioxide into sugar and oxygen."), rec("Paris")))
    assert free.answer_type == "text" and free.scorer == {"type": "llm_rubric", "rubric": GENERIC_RUBRIC, "scale": 10}
    assert free.answer_max_tokens == 64 and "up to 11 words" in free.why


def test_some_choices_only_are_noted_and_fractional_numbers_are_numbers():
    decision = decide(source(rec("a", ["a", "b"], "a"), rec("7")))
    assert decision.answer_type == "text" and "only 1 of 2 examples have choices" in decision.notes[0]
    # a number answer is the final number of a free reply, so "0.5" can be answered as written
    fractions = decide(source(rec("0.5"), rec("2")))
    assert fractions.answer_type == "number" and fractions.notes == []


def test_overrides():
    assert decide(source(rec("3"), rec("4")), "text").scorer == {"type": "exact_match"}
    assert decide(source(rec("b", ["a", "b"], "b")), "text").why == "--answer_type text was given; the gold " \
        "answers are short (at most 1 word), so an answer must match its gold exactly"
    with pytest.raises(UsageError, match="answer_type must be one of choice, number, text"):
        decide(source(rec("3")), "boolean")
