"""LMQL backend behaviour that needs no model weights (the real-model checks live in tests/integration)."""

from __future__ import annotations

import pytest

from promptbreeder.backends.base import DecoderOptions, QueryRequest
from promptbreeder.backends.lmql.backend import LMQLBackend
from promptbreeder.errors import ModelError


def test_model_strings_needing_a_download_fail_fast():
    with pytest.raises(ModelError, match="'gpt2'.*nothing is downloaded"):
        LMQLBackend.from_model_string("random")
    with pytest.raises(ModelError, match="no-such-model"):
        LMQLBackend.from_model_string("local:no-such-model")


def test_is_async_off_runs_one_query_at_a_time():
    assert LMQLBackend(model=None, client_batch_size=8, is_async=False).concurrency == 1
    assert LMQLBackend(model=None, client_batch_size=8).concurrency == 8


def test_decoder_and_chunk_size_go_into_the_query_text():
    backend = LMQLBackend(model=None, chunk_size=12)
    query = '"Say [X]" where len(TOKENS(X)) < 4'
    for decoder, head in [(DecoderOptions(), "argmax(chunksize=12)"),
                          (DecoderOptions.parse("sample(temperature=0.5, top_k=3)"), "sample(temperature=0.5, n=1, top_k=3, chunksize=12)"),
                          (DecoderOptions.parse("beam(n=2)"), "beam(n=2, chunksize=12)")]:
        backend._query_function(QueryRequest(query, decoder=decoder))
        assert any(text.startswith(head + "\n") for text in backend._compiled)


def test_query_compile_check(query_compiles):
    query_compiles('"Say [X]" where len(TOKENS(X)) < 4')
    with pytest.raises(AssertionError, match="does not compile"):
        query_compiles('"Say [X" where')
