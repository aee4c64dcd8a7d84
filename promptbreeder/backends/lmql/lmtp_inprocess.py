"""An in-process LMTP client for LMQL that batches concurrent queries into shared engine calls.

LMQL talks to models through LMTP clients (`generate`, `score`, `request`, `close`). Its own
in-process options either run the model in a subprocess (every token pickled through a pipe) or,
with `async_transport=True`, load a fresh model per query. This client instead keeps one
`HFEngine` per backend, collects the generate/score calls of all queries in flight and hands them
to the engine in one worker thread, so the event loop keeps interpreting other queries while the
model computes. Each batch's tokens come back, in order, through per-call asyncio queues.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from promptbreeder.backends.hf.rows import GenerateRow
from promptbreeder.backends.hf.engine import HFEngine

# The seed of the query whose task is calling us (set by the backend around each query).
CURRENT_SEED: contextvars.ContextVar[int] = contextvars.ContextVar("promptbreeder_seed", default=0)
# The stop phrases of the variable that query is decoding (a `StopHints`): a row may end as soon as its
# text contains one (LMQL asks again if the variable needs more), instead of running to its token limit.
STOP_HINTS: contextvars.ContextVar["StopHints | None"] = contextvars.ContextVar("promptbreeder_stops", default=None)
# The stop sequences of that query's decoder: LMQL does not know them, so the row ends with an
# end-of-sequence token there, which ends the variable (the backend cuts the phrase off afterwards).
END_TEXTS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("promptbreeder_end_texts", default=())
# That query's sampling options LMQL cannot carry (tfs, top_a: see base.ENGINE_ONLY_OPTIONS). LMQL
# 0.7.3 rejects unknown decoder arguments and forwards to `generate` only a fixed list of them
# (top_k, top_p and penalties), so they travel beside the query like its seed.
# Where that query's per-step next-token entropies go (a list), or None when nobody asked for them.
ENTROPY_SINK: contextvars.ContextVar[list | None] = contextvars.ContextVar("promptbreeder_entropy", default=None)
ENGINE_SAMPLING: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar(
    "promptbreeder_engine_sampling", default=None)


class StopHints:
    r"""The stop phrases that hold for the variable one query is decoding.

    A query's text names the stop phrases of all its variables and branches. Applied to every hole, the
    CoT query's answer stop "\n" ended its reasoning (which stops at "\n\n") at every line break, and a
    free-text answer stopped at the "\n" of a number branch that was not taken; LMQL asked again each
    time (throughput bench, shared kind: 88 engine rows for 32 answers, now 42). LMQL works out the
    stops of the variable at hand in its where step, before it asks the model for the next token
    (`track_variable_stops` records them here); until it has, the phrases of the whole query are used.
    """

    def __init__(self, query_phrases: tuple[str, ...] = ()):
        self.query_phrases = query_phrases
        self.variable_phrases: tuple[str, ...] | None = None

    @property
    def phrases(self) -> tuple[str, ...]:
        return self.query_phrases if self.variable_phrases is None else self.variable_phrases


def track_variable_stops() -> None:
    """Record, in the running query's `StopHints`, the STOPS_AT/STOPS_BEFORE phrases LMQL finds active for
    the variable it is decoding (idempotent). LMQL 0.7.3 computes them in `execute_op_stops_at_only`,
    called once per where step with the variable's name, its where clause and its trace."""
    import lmql.ops.ops as ops

    original = ops.execute_op_stops_at_only
    if getattr(original, "records_stop_hints", False):
        return

    def execute_op_stops_at_only(variable, op, trace, result=None, sidecondition=None):
        found = original(variable, op, trace, result=result, sidecondition=sidecondition)
        hints = STOP_HINTS.get()
        if hints is not None and result is None and sidecondition is None:  # the top-level call, not its recursion
            phrases = (stop.stopping_phrase(trace) for stop in found)
            hints.variable_phrases = tuple(p for p in phrases if isinstance(p, str) and p)
        return found

    execute_op_stops_at_only.records_stop_hints = True
    ops.execute_op_stops_at_only = execute_op_stops_at_only  # the interpreter and the recursion call it by module


class HoleBudget:
    """How many tokens the hole being generated may still take, for one query (its `HOLE_BUDGET`).

    LMQL asks every call for its chunk size, because a limit `len(TOKENS(X)) < n` whose n is an input
    gives it no hint: a 48-token answer in chunks of 32 had 64 tokens computed. A call that continues
    the last one (its prompt is the last prompt plus every token that call gave, which ended at its length)
    continues the same hole, so it is asked for at most the hole's limit less what the hole holds. The
    limit is the largest of the query's holes (which hole is at hand is not known here): asking for
    fewer tokens than LMQL wanted only means LMQL asks again, never a shorter answer.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.held = 0  # tokens the current hole holds
        self._last: tuple[list[int], list[int], str | None] | None = None  # prompt, tokens, finish

    def cap(self, prompt: list[int], max_tokens: int) -> int:
        last, self._last = self._last, None
        if last is not None and last[2] == "length" and prompt == last[0] + last[1]:
            self.held += len(last[1])
        else:
            self.held = 0
        return max(1, min(max_tokens, self.limit - self.held))

    def record(self, prompt: list[int], tokens: list[int], finish: str | None) -> None:
        self._last = (prompt, tokens, finish)


HOLE_BUDGET: contextvars.ContextVar[HoleBudget | None] = contextvars.ContextVar("promptbreeder_hole_budget",
                                                                                 default=None)


@dataclass
class _Pending:
    kind: str  # "generate" | "score"
    queue: asyncio.Queue
    row: GenerateRow | None = None
    score_input: tuple[list[int], list[int]] | None = None


class InProcessLMTPClient:
    """Shared by every query of one backend; LMQL's reference counting (`ref`/`close`) is a no-op."""

    # how long the dispatcher waits for more queries to reach the model before running a batch
    SETTLE_SECONDS = 0.004
    MAX_WAIT_SECONDS = 0.25

    def __init__(self, engine: HFEngine, model_identifier: str):
        self.engine = engine
        self.model_identifier = model_identifier
        self._pending: list[_Pending] = []
        self._wakeup: asyncio.Event | None = None
        self._dispatcher: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="promptbreeder-engine")
        self._loop: asyncio.AbstractEventLoop | None = None
        self.active_queries = 0  # queries in flight, counted by the backend (0: not counted)

    # -- LMTP client protocol (what LMQL's LMTPDcModel calls) ----------------------------------------

    def ref(self):
        return self

    async def close(self):
        """LMQL closes clients when a query ends; the model lives as long as the backend."""

    async def request(self, name, payload):
        return {"model_info": {"model": self.model_identifier, "engine": "promptbreeder.hf_engine"}}

    async def generate(self, prompt, max_tokens=32, temperature=0.0, logit_bias=None, top_logprobs=1, **kwargs):
        bias = {int(k): float(v) for k, v in (logit_bias or {}).items()} or None
        if bias and min(bias.values()) > 0:
            # A whitelist (LMQL sends +100 for each allowed token) constrains the next token only, and
            # LMQL discards what follows once the constraint changes, which REGEX and choice masks do
            # after every token: generating further under it is wasted work. The next call reuses the
            # prompt's cached states, so asking again costs one token's computation.
            max_tokens = 1
        extra = ENGINE_SAMPLING.get() or {}
        prompt_ids = [int(t) for t in prompt]
        budget = HOLE_BUDGET.get()
        if budget is not None:
            max_tokens = budget.cap(prompt_ids, int(max_tokens))
        row = GenerateRow(
            prompt_ids=prompt_ids,
            max_tokens=int(max_tokens),
            temperature=float(temperature or 0.0),
            top_k=kwargs.get("top_k"),
            top_p=kwargs.get("top_p"),
            # keyword first, should an LMQL ever forward them as it forwards top_k and top_p
            tfs=kwargs.get("tfs", extra.get("tfs")),
            top_a=kwargs.get("top_a", extra.get("top_a")),
            logit_bias=bias,
            top_logprobs=int(top_logprobs or 1),
            seed=CURRENT_SEED.get(),
            stop_texts=hints.phrases if (hints := STOP_HINTS.get()) is not None else (),
            end_texts=END_TEXTS.get(),
            entropy_sink=ENTROPY_SINK.get(),
        )
        pending = _Pending("generate", asyncio.Queue(), row=row)
        row.tag = pending.queue
        self._submit(pending)
        given: list[int] = []
        while True:
            item = await pending.queue.get()
            if isinstance(item, BaseException):
                raise item
            given.append(item["token"])
            if item.get("finish_reason") is not None and budget is not None:
                budget.record(prompt_ids, given, item["finish_reason"])
            yield item
            if item.get("finish_reason") is not None:
                return

    async def score(self, prompt, scored_prompt, **kwargs):
        pending = _Pending("score", asyncio.Queue(), score_input=([int(t) for t in prompt], [int(t) for t in scored_prompt]))
        self._submit(pending)
        result = await pending.queue.get()
        if isinstance(result, BaseException):
            raise result
        for j, (token, logprob) in enumerate(zip(scored_prompt, result)):
            yield {"token": int(token), "logprob": float(logprob),
                   "finish_reason": "stop" if j == len(result) - 1 else None}

    # -- batching ------------------------------------------------------------------------------------

    def _submit(self, pending: _Pending) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._dispatcher is None or self._dispatcher.done():
            self._loop = loop
            self._wakeup = asyncio.Event()
            self._dispatcher = loop.create_task(self._dispatch_forever(), name="promptbreeder-dispatch")
        self._pending.append(pending)
        self._wakeup.set()

    async def _dispatch_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self._settle()
            while self._pending:
                batch, self._pending = self._pending, []
                await self._run(batch)

    async def _settle(self) -> None:
        """Give queries that are still being interpreted a moment to reach the model too.

        When the backend counts its queries in flight (`active_queries`), the batch waits until each
        of them is waiting on the model (or MAX_WAIT_SECONDS passed): a query still interpreting the
        tokens of the last batch would otherwise miss this one and run alone after it. Without a
        count, a batch starts once no call has arrived for SETTLE_SECONDS.
        """
        started = last_change = time.perf_counter()
        seen = len(self._pending)
        while len(self._pending) < self.engine.max_batch_size:
            if self.active_queries and len(self._pending) >= self.active_queries:
                return
            await asyncio.sleep(0)
            now = time.perf_counter()
            if len(self._pending) != seen:
                seen, last_change = len(self._pending), now
            elif now - started >= self.MAX_WAIT_SECONDS or (
                    not self.active_queries and now - last_change >= self.SETTLE_SECONDS):
                return
            if now - last_change > 0.0005:
                await asyncio.sleep(0.0005)

    async def _run(self, batch: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        generates = [p for p in batch if p.kind == "generate"]
        scores = [p for p in batch if p.kind == "score"]

        def put_all(events):
            for row, payload in events:
                row.tag.put_nowait(payload)

        def deliver(events):  # one loop wake-up per engine batch, not one per token
            loop.call_soon_threadsafe(put_all, events)

        try:
            if scores:
                results = await loop.run_in_executor(self._executor, self._locked, self.engine.score, [p.score_input for p in scores])
                for p, result in zip(scores, results):
                    p.queue.put_nowait(result)
            if generates:
                await loop.run_in_executor(self._executor, self._locked, self.engine.generate, [p.row for p in generates], deliver)
        except Exception as exc:  # a failed batch fails its queries, not the process
            for p in batch:
                p.queue.put_nowait(RuntimeError(f"model call failed: {type(exc).__name__}: {exc}"))

    def _locked(self, fn, *args):
        with self.engine.lock:
            return fn(*args)

    def run_in_engine_thread(self, fn, *args):
        """Run `fn` on the engine's worker thread (where torch's thread pool lives) and wait for it."""
        return self._executor.submit(self._locked, fn, *args).result()

    def shutdown(self) -> None:
        if self._dispatcher is not None and not self._dispatcher.done():
            self._dispatcher.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)
