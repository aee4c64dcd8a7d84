"""stop_phrases: the literal phrases of STOPS_AT / STOPS_BEFORE constraints in an LMQL query."""

from __future__ import annotations


import pytest

from promptbreeder.package_queries import package_query_path
from promptbreeder.backends.base import stop_phrases




@pytest.mark.parametrize("query, expected", [
    (r'"Q: [A]" where STOPS_AT(A, "\n")', ("\n",)),
    (r'"Q: [A]" where STOPS_AT(A, "\n\n")', ("\n\n",)),
    ('"Q: [A]" where STOPS_BEFORE(A, "Answer:")', ("Answer:",)),
    (r'"[A][B]" where STOPS_AT( A , "\n" ) and STOPS_AT(B, "\n") and STOPS_BEFORE(B, ".")', ("\n", ".")),
    (r'"[A]" where STOPS_AT(A, "say \"hi\"")', ('say "hi"',)),
    ('"[A]" where STOPS_AT(A, "")', ()),
    ('"Q: [A]" where len(TOKENS(A)) < 5', ()),
])
def test_stop_phrases(query, expected):
    assert stop_phrases(query) == expected


@pytest.mark.parametrize("name, expected", [("zero_order.lmql", ("\n",)), ("fitness_CoT.lmql", ("\n\n", "\n"))])
def test_stop_phrases_of_real_queries(name, expected):
    assert stop_phrases(package_query_path(name.removesuffix(".lmql")).read_text()) == expected
