"""Constraints a text-completion server cannot apply, moved to the client (backends/server/constraints.py)."""

from __future__ import annotations

import pytest

from promptbreeder.backends.base import query_holes
from promptbreeder.backends.server.constraints import Validator, split_constraints
from promptbreeder.errors import UsageError
from promptbreeder.package_queries import package_query_names, package_query_text


def test_the_choice_branch_gets_its_own_hole_and_a_bound_while_the_others_keep_theirs():
    text, validators = split_constraints(package_query_text("fitness_noCoT"), "fitness_noCoT")
    assert validators == (Validator("ANSWER", "in", "choices", "PBCHECK0_ANSWER"),)
    assert '"Answer: [PBCHECK0_ANSWER]" where len(TOKENS(PBCHECK0_ANSWER)) < 24' in text
    assert '"[ANSWER]" where STOPS_AT(ANSWER, "\\n") and len(TOKENS(ANSWER)) < answer_max_tokens' in text
    assert "where ANSWER in choices" not in text


def test_kept_constraints_are_renamed_with_their_hole_and_regex_and_int_are_checked():
    query = ('"Score: [S]" where INT(S) and len(TOKENS(S)) < 3\n'
             '"Value: [V]" where STOPS_AT(V, "\\n") and REGEX(V, r"-?[0-9]+(\\.[0-9]+)?\\n")\n')
    text, (score, value) = split_constraints(query)
    assert text == ('"Score: [PBCHECK0_S]" where len(TOKENS(PBCHECK0_S)) < 3\n'
                    '"Value: [PBCHECK1_V]" where STOPS_AT(PBCHECK1_V, "\\n") and len(TOKENS(PBCHECK1_V)) < 32\n')
    assert score.repair(" 7 out of 10", {}) == " 7" and score.repair("seven", {}) is None
    assert value.repair("12.5\nmore", {}) == "12.5\n" and value.repair("x", {}) is None


@pytest.mark.parametrize("reply, answer", [
    ("apple", "apple"), (" apple, because it grows", "apple"), ("Apple.", "apple"),
    ("The answer is (B) river.", "(B) river"), ("\nchair", "chair"),
    ("apple or chair", "apple"),  # starts with one: what a masked decoder would have been held to
    ("I like chairs and apples", None), ("", None), ("maybe apple, maybe chair", None),
])
def test_a_choice_is_the_option_the_reply_starts_with_or_the_only_one_it_names(reply, answer):
    check = Validator("ANSWER", "in", "choices", "PBCHECK0_ANSWER")
    assert check.repair(reply, {"choices": ["apple", "chair", "(B) river"]}) == answer
    assert Validator("X", "in", "['yes', 'no']").repair("no way", {}) == "no"


def test_constraints_the_client_cannot_check_are_named():
    with pytest.raises(UsageError, match=r"my\.lmql: the constraint `len\(X\) > 3` cannot be checked"):
        split_constraints('"[X]" where len(X) > 3\n', "my.lmql")
    with pytest.raises(UsageError, match="must be a query input or a literal list"):
        Validator("X", "in", "options()").repair("a", {})


@pytest.mark.parametrize("name", package_query_names())
def test_every_shipped_query_can_run_on_a_text_server_and_keeps_its_holes(name, query_compiles):
    text, validators = split_constraints(package_query_text(name), name)
    query_compiles(text)
    renamed = {v.hole: v.variable for v in validators}
    assert {renamed.get(h, h) for h in query_holes(text)} == set(query_holes(package_query_text(name)))


def test_what_a_server_cannot_run_is_refused_before_the_run_names_the_file():
    from promptbreeder.backends import check_runnable
    from promptbreeder.backends.models import ModelSpec

    server = ModelSpec("openai_compat", "tiny", ("http://127.0.0.1:8000/v1",), identity="openai-compat:tiny")
    likelihood = package_query_text("fitness_noCoT_likelihood")
    with pytest.raises(UsageError, match=r"my\.lmql: a distribution clause needs the model's log-probabilities"):
        check_runnable(server, likelihood, "my.lmql")
    with pytest.raises(UsageError, match=r"my\.lmql: the constraint `len\(X\) > 3` cannot be checked"):
        check_runnable(server, '"[X]" where len(X) > 3\n', "my.lmql")
    check_runnable(server, package_query_text("fitness_noCoT"), "fitness_noCoT.lmql")
    check_runnable(ModelSpec("embedded", "smollm2-135m"), likelihood, "my.lmql")  # local models score text
