"""The backend contract (promptbreeder/backends/base.py), checked against every backend."""

from __future__ import annotations

import pytest

from promptbreeder.backends.base import DecoderOptions, QueryRequest
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.errors import BackendError

QUERY = '"<|im_start|>user\\nName {thing}.<|im_end|>\\n<|im_start|>assistant\\n[NAME]" where len(TOKENS(NAME)) < 6'
TWO_HOLES = ('"<|im_start|>user\\nName a fruit.<|im_end|>\\n<|im_start|>assistant\\n[A]<|im_end|>\\n'
             '<|im_start|>user\\nAnd a colour?<|im_end|>\\n<|im_start|>assistant\\n[B]" where len(TOKENS(A)) < 6 and len(TOKENS(B)) < 6')
BROKEN = '"[X" where'


def scripted(request: QueryRequest) -> dict:
    if request.query == BROKEN:
        raise SyntaxError("query does not compile")
    return {hole: f"{hole.lower()} for {request.inputs.get('thing', 'you')}" for hole in ("NAME", "A", "B") if f"[{hole}]" in request.query}


@pytest.fixture(params=["fake", pytest.param("lmql-local", marks=pytest.mark.integration)])
def backend(request):
    if request.param == "fake":
        with FakeBackend(responder=scripted) as fake:
            yield fake
    else:
        yield request.getfixturevalue("real_backend")


def test_results_come_back_in_request_order_with_every_hole(backend):
    things = ["a fruit", "a city", "a colour", "an animal"]
    results = backend.run_many([QueryRequest(query=QUERY, inputs={"thing": t}, name="name") for t in things])
    assert len(results) == 4
    for result in results:
        assert result.ok and set(result.variables) >= {"NAME"}
        assert isinstance(result.variables["NAME"], str)
    assert results[0].prompt.startswith("<|im_start|>user\nName a fruit.")
    assert results[1].prompt.startswith("<|im_start|>user\nName a city.")


def test_a_variable_after_a_second_im_end_is_filled(backend):
    result = backend.run(QueryRequest(query=TWO_HOLES))
    assert result.variables["A"].strip() and result.variables["B"].strip()


def test_a_failed_query_is_a_result_in_run_many_and_an_error_in_run(backend):
    good, bad = backend.run_many([QueryRequest(query=QUERY, inputs={"thing": "a fruit"}), QueryRequest(query=BROKEN)])
    assert good.ok and not bad.ok and bad.error
    with pytest.raises(BackendError):
        backend.run(QueryRequest(query=BROKEN, name="broken"))


def test_same_request_same_seed_same_answer(backend):
    request = QueryRequest(query=QUERY, inputs={"thing": "a bird"}, decoder=DecoderOptions.parse("sample(temperature=1.0)"), seed=7)
    first, second = backend.run_many([request]), backend.run_many([request])
    assert first[0].variables == second[0].variables


def test_usage_counts_calls_and_tokens(backend):
    before = backend.usage.calls
    before_tokens = backend.usage.generated_tokens
    backend.run_many([QueryRequest(query=QUERY, inputs={"thing": "a tree"}, name="counted")] * 2)
    assert backend.usage.calls == before + 2
    assert backend.usage.generated_tokens > before_tokens
    assert backend.usage.by_name["counted"]["calls"] >= 2
    assert backend.usage.as_dict()["prompt_tokens"] > 0


def test_text_logprobs_give_one_per_token_or_say_they_cannot(backend):
    pairs = [("Here is an instruction:\n", "Add the two numbers and give the result."),
             ("Here is an instruction:\n", "erhardnailMandulked MangyHomeguidaeenpurrsiteabove1 side.")]
    if not backend.can_score_text:
        with pytest.raises(BackendError, match="cannot score text"):
            backend.text_logprobs(pairs)
        return
    fluent, salad = backend.text_logprobs(pairs)
    assert len(fluent) == backend.count_tokens(pairs[0][1]) and all(lp <= 0 for lp in fluent + salad)
    assert sum(fluent) / len(fluent) > sum(salad) / len(salad) + 2, "word salad is far less likely than a sentence"
    # the same alone or in a batch, up to float rounding that depends on the batch's padding
    assert backend.text_logprobs(pairs[:1])[0] == pytest.approx(fluent, abs=1e-4)


def test_text_embeddings_are_unit_vectors_closer_for_paraphrases_or_say_they_cannot(backend):
    texts = ["Add the two numbers and reply with only the result.",
             "Add the two numbers and reply only with the result.",
             "Tell a lie about your crime movie."]
    if not backend.can_embed_text:
        with pytest.raises(BackendError, match="cannot embed text"):
            backend.text_embeddings(texts)
        return
    a, b, c = backend.text_embeddings(texts)
    assert all(abs(sum(x * x for x in v) - 1) < 1e-4 for v in (a, b, c))

    def cosine(u, v):
        return sum(x * y for x, y in zip(u, v))

    assert cosine(a, b) > 0.98 > cosine(a, c), (cosine(a, b), cosine(a, c))
    assert backend.text_embeddings(texts[:1])[0] == pytest.approx(a, abs=1e-5)


def test_a_backend_works_where_an_event_loop_is_already_running_as_in_a_notebook():
    """Jupyter runs its own loop in the main thread; a synchronous run_many there must still answer."""
    import asyncio

    from promptbreeder.backends.fake import FakeBackend

    backend = FakeBackend(responder=lambda request: "4")

    async def notebook_cell():
        first = backend.run_many([QueryRequest('"2+2=[X]"', name="a")])
        second = backend.run_many([QueryRequest('"2+2=[X]"', name="b")])
        backend.close()
        return first + second

    results = asyncio.run(notebook_cell())
    assert [r.variables for r in results] == [{"X": "4"}, {"X": "4"}]
