"""InProcessLMTPClient.generate with a stub engine: whitelist biases ask for one token, the query's
seed and stop hints reach the engine's rows, and a payload stream ends at its first finish_reason."""

from __future__ import annotations

import asyncio
import threading

import pytest

from promptbreeder.backends.lmql.lmtp_inprocess import CURRENT_SEED, STOP_HINTS, InProcessLMTPClient, StopHints

DONE = {"token": 1, "logprob": 0.0, "top_logprobs": {1: 0.0}, "finish_reason": "stop"}


class StubEngine:
    """Records each generate call's rows and emits `payloads` (default: one finished payload) per row."""

    def __init__(self, payloads: list[dict] | None = None):
        self.max_batch_size = 8
        self.lock = threading.Lock()
        self.payloads = payloads or [DONE]
        self.batches = []

    def generate(self, rows, emit):
        self.batches.append(list(rows))
        emit([(row, payload) for payload in self.payloads for row in rows])


@pytest.fixture
def engine_and_client():
    engine = StubEngine()
    client = InProcessLMTPClient(engine, "stub-model")
    yield engine, client
    client.shutdown()


async def collect(client, seed=0, stops=(), **kwargs):
    """The payloads of one generate call made with this seed and these stop hints (fails if it hangs)."""
    CURRENT_SEED.set(seed)
    STOP_HINTS.set(StopHints(stops))

    async def stream():
        return [payload async for payload in client.generate([5, 6, 7], **kwargs)]

    return await asyncio.wait_for(stream(), timeout=5)


@pytest.mark.parametrize("logit_bias, expected", [
    (None, 16),
    ({}, 16),
    ({3: 100.0, 4: 100.0}, 1),  # whitelist: one token, then LMQL asks again
    ({"3": 100, "4": 5}, 1),
    ({3: -100.0}, 16),  # blacklist
    ({3: 100.0, 4: -100.0}, 16),  # mixed
])
def test_whitelist_bias_asks_for_one_token(engine_and_client, logit_bias, expected):
    engine, client = engine_and_client
    payloads = asyncio.run(collect(client, max_tokens=16, logit_bias=logit_bias))
    assert payloads == [DONE]
    (row,) = engine.batches[0]
    assert row.max_tokens == expected
    assert row.prompt_ids == [5, 6, 7]
    assert row.logit_bias == ({int(k): float(v) for k, v in logit_bias.items()} if logit_bias else None)


def test_seed_and_stop_hints_reach_the_rows_of_one_batch(engine_and_client):
    engine, client = engine_and_client

    async def both():
        return await asyncio.gather(collect(client, seed=11, stops=("\n",), temperature=0.7),
                                    collect(client, seed=22, stops=("\n\n", "Answer:")))

    assert asyncio.run(both()) == [[DONE], [DONE]]
    assert len(engine.batches) == 1
    first, second = engine.batches[0]
    assert (first.seed, first.stop_texts, first.temperature) == (11, ("\n",), 0.7)
    assert (second.seed, second.stop_texts, second.temperature) == (22, ("\n\n", "Answer:"), 0.0)


def test_defaults_without_seed_or_stop_hints(engine_and_client):
    engine, client = engine_and_client

    async def plain():
        return [p async for p in client.generate([1, 2])]

    asyncio.run(asyncio.wait_for(plain(), timeout=5))
    (row,) = engine.batches[0]
    assert (row.seed, row.stop_texts, row.max_tokens) == (0, (), 32)


def test_stream_ends_at_the_first_finish_reason():
    tokens = [{"token": t, "logprob": -0.5, "top_logprobs": {t: -0.5}, "finish_reason": None} for t in (8, 9)]
    after = {"token": 10, "logprob": 0.0, "top_logprobs": {10: 0.0}, "finish_reason": None}
    engine = StubEngine(tokens + [DONE, after])
    client = InProcessLMTPClient(engine, "stub-model")
    try:
        assert asyncio.run(collect(client)) == tokens + [DONE]
    finally:
        client.shutdown()


async def late(client, delay):
    await asyncio.sleep(delay)
    return await collect(client)


def test_a_batch_waits_for_every_query_in_flight(engine_and_client):
    """A query still busy (interpreting its last tokens) joins the batch instead of running alone after it."""
    engine, client = engine_and_client

    async def main():
        client.active_queries = 3
        return await asyncio.gather(collect(client), collect(client), late(client, 0.03))

    asyncio.run(main())
    assert [len(batch) for batch in engine.batches] == [3]


def test_without_a_count_a_quiet_moment_starts_the_batch(engine_and_client):
    engine, client = engine_and_client
    async def main():
        return await asyncio.gather(collect(client), collect(client), late(client, 0.03))

    asyncio.run(main())
    assert [len(batch) for batch in engine.batches] == [2, 1]


def test_the_stops_of_the_variable_at_hand_replace_the_querys(engine_and_client):
    """Once LMQL has said which stops hold for the variable being decoded, only those reach the row."""
    engine, client = engine_and_client
    hints = StopHints(("\n\n", "\n"))

    async def call():
        STOP_HINTS.set(hints)
        return [payload async for payload in client.generate([5, 6])]

    asyncio.run(asyncio.wait_for(call(), timeout=5))
    hints.variable_phrases = ("\n\n",)
    asyncio.run(asyncio.wait_for(call(), timeout=5))
    hints.variable_phrases = ()
    asyncio.run(asyncio.wait_for(call(), timeout=5))
    assert [batch[0].stop_texts for batch in engine.batches] == [("\n\n", "\n"), ("\n\n",), ()]
