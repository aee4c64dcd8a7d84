from __future__ import annotations

from promptbreeder.backends.base import DecoderOptions, QueryRequest
from promptbreeder.backends.caching import CachingBackend
from promptbreeder.backends.fake import FakeBackend, word_count_embedding
from promptbreeder.store.cache import CallCache

Q = '"Say {word}: [ANSWER]" where len(TOKENS(ANSWER)) < 5'


def test_calls_persist_across_reopening(tmp_path):
    cache = CallCache(tmp_path / "c.sqlite")
    key = QueryRequest(Q, {"word": "hi"}).key("m")
    cache.put_call(key, "m", "say", {"ANSWER": "hi"}, "Say hi: hi", 3, 1)
    cache.put_fitness("unit-1", {"fitness": 0.5})
    cache.close()
    again = CallCache(tmp_path / "c.sqlite")
    assert again.get_call(key)["variables"] == {"ANSWER": "hi"}
    assert again.get_fitness("unit-1") == {"fitness": 0.5} and again.get_fitness("nope") is None
    assert again.count("calls") == 1 and again.count("fitness") == 1


def test_keys_cover_everything_that_decides_the_answer():
    base = QueryRequest(Q, {"word": "hi"}, DecoderOptions(), seed=1)
    variants = [QueryRequest(Q + " ", {"word": "hi"}, seed=1), QueryRequest(Q, {"word": "ho"}, seed=1),
                QueryRequest(Q, {"word": "hi"}, DecoderOptions.parse("sample(temperature=0.5)"), seed=1),
                QueryRequest(Q, {"word": "hi"}, seed=2)]
    keys = {base.key("m"), base.key("other-model")} | {v.key("m") for v in variants}
    assert len(keys) == 6
    assert QueryRequest(Q, {"word": "hi"}, seed=1, name="renamed").key("m") == base.key("m")


def test_a_repeated_evaluation_costs_no_model_calls(tmp_path):
    inner = FakeBackend(responder=lambda r: f"echo {r.inputs['word']}")
    backend = CachingBackend(inner, CallCache(tmp_path / "c.sqlite"), model="fake")
    requests = [QueryRequest(Q, {"word": w}, name="say") for w in ("a", "b", "c")]
    first = backend.run_many(requests)
    assert backend.usage.calls == 3 and len(inner.requests) == 3
    second = backend.run_many(requests)
    assert [r.variables for r in second] == [r.variables for r in first]
    assert all(r.cached for r in second)
    assert backend.usage.calls == 3 and backend.usage.cached_calls == 3 and len(inner.requests) == 3


def test_failures_are_not_cached(tmp_path):
    attempts = []

    def flaky(request):
        attempts.append(request)
        if len(attempts) == 1:
            raise RuntimeError("garbled")
        return "fine"

    backend = CachingBackend(FakeBackend(responder=flaky), CallCache(tmp_path / "c.sqlite"), model="fake")
    request = QueryRequest(Q, {"word": "x"})
    assert not backend.run_many([request])[0].ok
    assert backend.run_many([request])[0].variables["ANSWER"] == "fine"
    assert backend.run_many([request])[0].cached and len(attempts) == 2


def test_scored_and_embedded_texts_are_kept_so_a_continued_run_reads_the_same_numbers(tmp_path):
    asked = []

    def scorer(context, text):
        asked.append(("score", text))
        return [-1.0] * len(text.split())

    def embedder(text):
        asked.append(("embed", text))
        return word_count_embedding(text)

    inner = FakeBackend(text_scorer=scorer, text_embedder=embedder)
    backend = CachingBackend(inner, CallCache(tmp_path / "c.sqlite"), model="fake")
    assert backend.can_score_text and backend.can_embed_text
    first = backend.text_logprobs([("ctx", "one two"), ("ctx", "three")])
    assert backend.text_logprobs([("ctx", "three"), ("other", "three")]) == [first[1], [-1.0]]
    assert asked == [("score", "one two"), ("score", "three"), ("score", "three")]  # "other" context is new
    assert backend.usage.scored_texts == 3
    vectors = backend.text_embeddings(["a b", "c"])
    again = CachingBackend(FakeBackend(), CallCache(tmp_path / "c.sqlite"), model="fake")
    assert again.text_embeddings(["c", "a b"]) == [vectors[1], vectors[0]], "read back by a fresh process"
    assert not FakeBackend().can_embed_text
