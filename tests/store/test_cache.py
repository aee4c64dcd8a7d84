from __future__ import annotations

from promptbreeder.backends.base import DecoderOptions, QueryRequest
from promptbreeder.backends.caching import CachingBackend
from promptbreeder.backends.fake import FakeBackend
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
