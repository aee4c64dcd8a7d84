from __future__ import annotations

import pytest

from promptbreeder.backends.base import DecoderOptions, query_holes
from promptbreeder.errors import UsageError


@pytest.mark.parametrize("text, expected", [
    ("argmax", DecoderOptions()),
    ("", DecoderOptions()),
    ("sample(temperature=0.7)", DecoderOptions("sample", temperature=0.7)),
    ("sample(temperature=0.8, top_p=0.95, top_k=40)", DecoderOptions("sample", temperature=0.8, top_p=0.95, top_k=40)),
    ("beam(n=3)", DecoderOptions("beam", n=3)),
    ("argmax(chunksize=8)", DecoderOptions()),
])
def test_parse(text, expected):
    assert DecoderOptions.parse(text) == expected


@pytest.mark.parametrize("text, fragment", [
    ("greedy", "is not one of argmax, sample, beam"),
    ("sample(temperature=0)", "temperature must be > 0"),
    ("sample(top_p=1.5)", "top_p must be in (0, 1]"),
    ("sample(top_k=0)", "top_k must be >= 1"),
    ("beam(n=0)", "n must be >= 1"),
    ("argmax(temperature=0.5)", "unknown option(s) temperature"),
    ("sample(0.5)", "name=number pairs"),
    ("sample(temperature=)", "name=number pairs"),
])
def test_bad_decoders_raise_usage_errors(text, fragment):
    with pytest.raises(UsageError) as info:
        DecoderOptions.parse(text)
    assert fragment in str(info.value)


@pytest.mark.parametrize("options", ["argmax", "sample(temperature=0.7, top_k=5, top_p=0.9)", "beam(n=2)"])
def test_to_lmql_round_trips(options):
    parsed = DecoderOptions.parse(options)
    assert DecoderOptions.parse(parsed.to_lmql()) == parsed


def test_overrides_validate():
    assert DecoderOptions().with_overrides(method="sample", temperature=0.5).temperature == 0.5
    with pytest.raises(UsageError):
        DecoderOptions().with_overrides(top_p=2.0)


def test_query_holes():
    query = '"Q: {q} [[not a hole]] [A] then [ B ] [C: int]" where len(TOKENS(A)) < 3\n"more [D]"'
    assert query_holes(query) == ["A", "B", "C", "D"]
