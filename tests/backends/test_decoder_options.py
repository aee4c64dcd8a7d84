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


# -- tfs and top_a: parsed and validated here, applied by our engine (LMQL rejects them) ----------


@pytest.mark.parametrize("text, expected", [
    ("sample(temperature=0.8, tfs=0.95)", DecoderOptions("sample", temperature=0.8, tfs=0.95)),
    ("sample(top_a=0.2)", DecoderOptions("sample", top_a=0.2)),
    ("sample(temperature=0.9, top_p=0.95, tfs=1, top_a=0)", DecoderOptions("sample", temperature=0.9, top_p=0.95,
                                                                           tfs=1, top_a=0)),
])
def test_parse_tfs_and_top_a(text, expected):
    assert DecoderOptions.parse(text) == expected


@pytest.mark.parametrize("text, fragment", [
    ("sample(tfs=0)", "tfs must be in (0, 1]"),
    ("sample(tfs=1.2)", "tfs must be in (0, 1]"),
    ("sample(top_a=-0.1)", "top_a must be in [0, 1]"),
    ("sample(top_a=2)", "top_a must be in [0, 1]"),
    ("argmax(tfs=0.9)", "unknown option(s) tfs"),
    ("beam(n=2, top_a=0.1)", "unknown option(s) top_a"),
])
def test_bad_tfs_and_top_a_raise_usage_errors(text, fragment):
    with pytest.raises(UsageError) as info:
        DecoderOptions.parse(text)
    assert fragment in str(info.value)


@pytest.mark.parametrize("options", ["sample(temperature=0.7, tfs=0.9)", "sample(top_a=0.25)",
                                     "sample(temperature=0.5, top_k=5, top_p=0.9, tfs=0.95, top_a=0.1)"])
def test_to_lmql_round_trips_tfs_and_top_a(options):
    parsed = DecoderOptions.parse(options)
    assert DecoderOptions.parse(parsed.to_lmql()) == parsed


def test_lmql_clause_leaves_tfs_and_top_a_to_the_engine():
    options = DecoderOptions.parse("sample(temperature=0.5, top_k=5, tfs=0.95, top_a=0.1)")
    assert options.to_lmql(engine_options=False) == "sample(temperature=0.5, n=1, top_k=5)"
    assert options.engine_options() == {"tfs": 0.95, "top_a": 0.1}
    assert DecoderOptions.parse("sample(temperature=0.5)").engine_options() == {}
    assert options.with_overrides(method="argmax").engine_options() == {}  # argmax never samples
    with pytest.raises(UsageError):
        DecoderOptions().with_overrides(method="sample", tfs=0)


def test_lmql_backends_keep_tfs_out_of_the_query_and_refuse_it_without_our_engine():
    from promptbreeder.backends.base import QueryRequest
    from promptbreeder.backends.lmql.backend import LMQLBackend

    query = '"Say [X]" where len(TOKENS(X)) < 4'
    decoder = DecoderOptions.parse("sample(temperature=0.5, tfs=0.9, top_a=0.1)")
    with LMQLBackend(model=None, chunk_size=12) as backend:
        backend._query_function(QueryRequest(query, decoder=decoder))
        assert list(backend._compiled)[0].startswith("sample(temperature=0.5, n=1, chunksize=12)\n")
        # LMQL's own models would sample without them: an error result, not a silently different decoder
        result = backend.run_many([QueryRequest(query, decoder=decoder)])[0]
    assert result.error == "decoder option(s) tfs, top_a need the lmql-local backend"
    assert result.variables == {"X": ""}


def test_tfs_and_top_a_reach_the_engine_rows_through_lmql(real_model_dir):
    """The whole route with a stub engine (the model's tokenizer, no weights): LMQL runs the query
    and each engine row carries its own query's tfs/top_a, beside a query without them."""
    import threading

    from promptbreeder.backends.base import QueryRequest
    from promptbreeder.backends.lmql.backend import LMQLBackend, LMQLLocalBackend
    from promptbreeder.backends.lmql.lmtp_inprocess import InProcessLMTPClient

    class StubEngine:
        max_batch_size, lock, rows = 8, threading.Lock(), []

        def generate(self, rows, emit):
            self.rows.extend(rows)
            emit([(r, {"token": 2, "logprob": 0.0, "top_logprobs": {2: 0.0}, "finish_reason": "stop"}) for r in rows])

    class StubBackend(LMQLLocalBackend):
        def __init__(self):  # LMQLLocalBackend without loading the model
            self.model_dir, self.engine = real_model_dir, StubEngine()
            self.client = InProcessLMTPClient(self.engine, real_model_dir)
            LMQLBackend.__init__(self, self._lmql_model())

        def count_tokens(self, text):
            return len(text.split())

    query = '"Say [X]" where len(TOKENS(X)) < 4'
    decoders = ["sample(temperature=0.8, top_p=0.9, tfs=0.95, top_a=0.1)", "sample(temperature=0.6, top_k=7)"]
    with StubBackend() as backend:
        results = backend.run_many([QueryRequest(query, decoder=DecoderOptions.parse(d), seed=5) for d in decoders])
        assert [r.error for r in results] == [None, None]
    rows = {(r.temperature, r.top_k, r.top_p, r.tfs, r.top_a) for r in backend.engine.rows}
    assert rows == {(0.8, None, 0.9, 0.95, 0.1), (0.6, 7, None, None, None)}
