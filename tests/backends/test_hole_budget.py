"""A hole's token limit reaches the engine: LMQL asks for its chunk size, the engine computes only what fits."""

from __future__ import annotations

from promptbreeder.backends.base import longest_hole
from promptbreeder.backends.lmql.lmtp_inprocess import HoleBudget


def test_longest_hole_reads_literal_and_input_limits():
    query = '"Q: {q}[A]" where len(TOKENS(A)) < answer_max_tokens'
    assert longest_hole(query, {"answer_max_tokens": 49}) == 48
    assert longest_hole('"[A]" where len(TOKENS(A)) <= 10', {}) == 10
    two = '"[R] then [A]" where len(TOKENS(R)) < 97 and len(TOKENS(A)) < 9'
    assert longest_hole(two, {}) == 96  # which hole is at hand is not known: the largest


def test_no_limit_when_a_hole_is_unlimited_or_the_limit_cannot_be_read():
    assert longest_hole('"[R] then [A]" where len(TOKENS(A)) < 9', {}) is None  # R has no limit
    assert longest_hole('"[A]" where STOPS_AT(A, "\\n")', {}) is None
    assert longest_hole('"[A]" where len(TOKENS(A)) < n', {}) is None  # n is not among the inputs
    assert longest_hole('"[A]" where len(TOKENS(A)) < n', {"n": "9"}) is None


def test_a_continued_hole_is_asked_for_what_is_left_of_its_limit():
    budget = HoleBudget(48)
    prompt = [1, 2, 3]
    assert budget.cap(prompt, 32) == 32
    first = list(range(100, 132))
    budget.record(prompt, first, "length")
    assert budget.cap(prompt + first, 32) == 16  # the same hole: 32 of its 48 tokens are there


def test_a_new_hole_starts_from_nothing():
    budget = HoleBudget(48)
    budget.cap([1], 32)
    budget.record([1], list(range(32)), "length")
    # LMQL took fewer tokens than given (a constraint ended the hole), then fixed text, then the next hole
    assert budget.cap([1] + list(range(20)) + [7, 7], 32) == 32
    budget.record([1, 2], [5], "stop")
    assert budget.cap([1, 2, 5], 32) == 32  # the last call ended its hole


def test_a_budget_never_asks_for_less_than_one_token():
    budget = HoleBudget(4)
    budget.cap([1], 32)
    budget.record([1], [2, 3, 4, 5], "length")
    assert budget.cap([1, 2, 3, 4, 5], 32) == 1
