"""The batched engine under the LMQL backend, on the real embedded model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from promptbreeder.backends.base import QueryRequest
from promptbreeder.backends.hf.rows import GenerateRow

pytestmark = pytest.mark.integration

SUITE = Path(__file__).resolve().parents[2] / "day_care" / "arithmetic_1_digit_addition" / "fitness_suite.jsonl"
SYSTEM = ("<|im_start|>system\nYou are a careful assistant. Add the two numbers, check the result and reply with"
          " one integer.<|im_end|>\n<|im_start|>user\nAdd the two numbers and reply with only the result.\n\n")


def generate(engine, prompts, max_tokens=12, **row_options):
    ids = [engine.tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
    rows = [GenerateRow(prompt_ids=i, max_tokens=max_tokens, **row_options) for i in ids]
    tokens = {id(r): [] for r in rows}
    engine.generate(rows, lambda events: [tokens[id(r)].append(p["token"]) for r, p in events])
    return [tokens[id(r)] for r in rows]


def test_a_prefix_shared_by_the_batch_is_computed_once_with_the_same_tokens(real_backend):
    engine = real_backend.engine
    questions = [json.loads(line)["input"] for line in SUITE.read_text().splitlines()[:6]]
    prompts = [SYSTEM + q + "<|im_end|>\n<|im_start|>assistant\n" for q in questions]
    prompts.append(SYSTEM + "A longer question: what is 3 plus 4, and why?<|im_end|>\n<|im_start|>assistant\n")
    before = engine.stats.shared_prefix_tokens
    together = real_backend.client.run_in_engine_thread(generate, engine, prompts)
    assert engine.stats.shared_prefix_tokens > before, "the shared system and task prompt should be reused"
    alone = [real_backend.client.run_in_engine_thread(generate, engine, [p])[0] for p in prompts]
    assert together == alone


def test_sampled_rows_do_not_depend_on_their_batch_company(real_backend):
    engine = real_backend.engine
    prompts = [SYSTEM + f"What is {a} plus {b}?<|im_end|>\n<|im_start|>assistant\n" for a, b in [(1, 2), (3, 4), (5, 1)]]
    options = {"temperature": 1.0, "top_p": 0.95, "seed": 9}
    together = real_backend.client.run_in_engine_thread(lambda: generate(engine, prompts, **options))
    alone = real_backend.client.run_in_engine_thread(lambda: generate(engine, prompts[1:2], **options))
    assert together[1] == alone[0]


def without_prefix_cache(engine, fn):
    saved, engine.prefix_cache.max_bytes = engine.prefix_cache.max_bytes, 0
    try:
        return fn()
    finally:
        engine.prefix_cache.max_bytes = saved


def test_a_continued_prompt_reuses_its_states_and_gives_the_same_tokens(real_backend):
    """LMQL asks again with the prompt plus the accepted tokens: only the new tokens are computed."""
    engine = real_backend.engine
    run = real_backend.client.run_in_engine_thread
    prompts = [SYSTEM + f"What is {a} plus {b}? Explain.<|im_end|>\n<|im_start|>assistant\n" for a, b in [(2, 5), (6, 1)]]
    reference = run(lambda: without_prefix_cache(engine, lambda: generate(engine, prompts, max_tokens=12)))
    first = run(generate, engine, prompts, 4)
    assert first == [tokens[:4] for tokens in reference]
    ids = [engine.tokenizer(p, add_special_tokens=False).input_ids + t for p, t in zip(prompts, first)]
    rows = [GenerateRow(prompt_ids=i, max_tokens=8) for i in ids]
    reused_before = engine.stats.shared_prefix_tokens
    continued = {id(r): [] for r in rows}
    run(engine.generate, rows, lambda events: [continued[id(r)].append(p["token"]) for r, p in events])
    # everything but the last accepted token of each row comes from the cache
    assert engine.stats.shared_prefix_tokens - reused_before >= sum(len(i) - 1 for i in ids)
    assert [continued[id(r)] for r in rows] == [tokens[4:] for tokens in reference]


def test_rows_with_different_decoding_settings_share_one_batch(real_backend):
    """Mutation temperatures are drawn per mutation; their queries must still batch together."""
    engine = real_backend.engine
    run = real_backend.client.run_in_engine_thread
    prompt = SYSTEM + "Write one tip for adding numbers.<|im_end|>\n<|im_start|>assistant\n"
    ids = engine.tokenizer(prompt, add_special_tokens=False).input_ids
    settings = [{"temperature": 0.0}, {"temperature": 0.7, "top_p": 0.9, "seed": 1}, {"temperature": 1.3, "top_k": 20, "seed": 2}]

    def rows():
        return [GenerateRow(prompt_ids=list(ids), max_tokens=10, **s) for s in settings]

    def tokens_of(batch_rows):
        out = {id(r): [] for r in batch_rows}
        engine.generate(batch_rows, lambda events: [out[id(r)].append(p["token"]) for r, p in events])
        return [out[id(r)] for r in batch_rows]

    calls = engine.stats.generate_calls
    together = run(tokens_of, rows())
    assert engine.stats.generate_calls == calls + 1
    alone = [run(tokens_of, [row])[0] for row in rows()]
    assert together == alone
    assert len({tuple(t) for t in together}) > 1


def test_a_row_ends_at_its_stop_phrase(real_backend):
    engine = real_backend.engine
    prompt = SYSTEM + "List three tips for adding numbers, one per line.<|im_end|>\n<|im_start|>assistant\n1."
    ids = engine.tokenizer(prompt, add_special_tokens=False).input_ids
    run = real_backend.client.run_in_engine_thread
    full = run(generate, engine, [prompt], 60)[0]
    text = engine.tokenizer.decode(full)
    assert "\n" in text, "the test needs a reply with a newline"
    out = []
    run(engine.generate, [GenerateRow(prompt_ids=ids, max_tokens=60, stop_texts=("\n",))], out.extend)
    stopped = [p["token"] for _, p in out]
    assert stopped == full[: len(stopped)] and out[-1][1]["finish_reason"] == "stop"
    assert "\n" in engine.tokenizer.decode(stopped) and "\n" not in engine.tokenizer.decode(stopped[:-1])


class _RunsOutOfMemoryAbove:
    """The engine's model, failing like an exhausted GPU whenever a batch has more than `rows` rows."""

    def __init__(self, model, rows):
        self.model, self.rows, self.failures = model, rows, 0

    def __call__(self, *args, **kwargs):
        if kwargs["input_ids"].shape[0] > self.rows:
            self.failures += 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.model(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)


def test_out_of_memory_halves_the_batch_and_the_run_goes_on(real_backend, monkeypatch):
    engine = real_backend.engine
    prompts = [SYSTEM + f"What is {a} plus {b}?<|im_end|>\n<|im_start|>assistant\n" for a, b in [(1, 2), (3, 4), (5, 1), (2, 2), (6, 3)]]
    run = real_backend.client.run_in_engine_thread
    expected = run(lambda: without_prefix_cache(engine, lambda: generate(engine, prompts, max_tokens=6)))
    flaky = _RunsOutOfMemoryAbove(engine.model, rows=2)
    monkeypatch.setattr(engine, "model", flaky)
    monkeypatch.setattr(engine, "max_batch_size", 8)
    halvings = engine.stats.oom_halvings
    got = run(lambda: without_prefix_cache(engine, lambda: generate(engine, prompts, max_tokens=6)))
    assert got == expected, "the same tokens, in smaller batches"
    assert flaky.failures == 1 and engine.stats.oom_halvings == halvings + 1 and engine.max_batch_size == 2


def test_a_reset_engine_computes_every_prompt_token_again(real_backend):
    engine = real_backend.engine
    prompts = [SYSTEM + f"What is {a} plus {b}?<|im_end|>\n<|im_start|>assistant\n" for a, b in [(4, 4), (2, 7)]]

    def reused_and_tokens():
        before = engine.stats.shared_prefix_tokens
        tokens = real_backend.client.run_in_engine_thread(generate, engine, prompts)
        return engine.stats.shared_prefix_tokens - before, tokens

    engine.reset_caches()
    cold, tokens = reused_and_tokens()  # only the prefix the two prompts share within the batch
    warm, warm_tokens = reused_and_tokens()  # the whole prompts, computed by the call before
    engine.reset_caches()
    assert engine._live is None and len(engine.prefix_cache) == 0
    again, again_tokens = reused_and_tokens()
    assert warm > cold and again == cold, "after a reset nothing of the earlier calls is reused"
    assert tokens == warm_tokens == again_tokens


def test_a_hole_continued_over_chunks_computes_only_its_limit(real_backend):
    """A 20-token answer in chunks of 16 (the fixture's): LMQL asks for 16 twice, the engine computes 16 + 4."""
    query = '"{:user}Write a short story about a dragon.{:assistant}[ANSWER]" where len(TOKENS(ANSWER)) < n'
    engine = real_backend.engine
    before = engine.stats.generated_tokens
    [result] = real_backend.run_many([QueryRequest(query=query, inputs={"n": 21}, name="story")])
    assert result.ok and result.generated_tokens == 20
    assert engine.stats.generated_tokens - before == 20  # was 32: the second chunk ran to its full 16
    [literal] = real_backend.run_many([QueryRequest(query=query.replace("< n", "< 21"), name="story")])
    assert literal.variables == result.variables


TIPS = '"{:user}Name five colours, one per line.{:assistant}1."\n'
BRANCHED = TIPS + ('if kind == "number":\n'
                   '    "[ANSWER]" where STOPS_AT(ANSWER, "\\n") and len(TOKENS(ANSWER)) < 30\n'
                   'else:\n'
                   '    "[ANSWER]" where len(TOKENS(ANSWER)) < 30')


def test_a_row_stops_only_where_the_variable_at_hand_may_stop(real_backend):
    """The text branch's answer has no stop phrase, so its lines do not end its rows (the other branch's
    "\\n" did, and LMQL asked again after every line): as many engine rows as the same query without branches."""
    engine = real_backend.engine

    def run(query, **inputs):
        before = engine.stats.rows
        [result] = real_backend.run_many([QueryRequest(query=query, inputs=inputs, name="colours")])
        assert result.ok
        return result.variables["ANSWER"], engine.stats.rows - before

    plain, plain_rows = run(TIPS + '"[ANSWER]" where len(TOKENS(ANSWER)) < 30')
    assert plain.count("\n") >= 3, "the test needs a reply of several lines"
    assert run(BRANCHED, kind="text") == (plain, plain_rows)
    number, number_rows = run(BRANCHED, kind="number")
    assert number == plain[: plain.index("\n") + 1] and number_rows == 1


def test_rows_that_finish_early_leave_the_batch_with_the_same_tokens(real_backend, monkeypatch):
    """Rows of different lengths (limits, stop phrases, greedy and sampled): retiring finished rows changes no
    token, and a call that continues every row (as LMQL does) finds the retired rows' states and agrees too."""
    engine = real_backend.engine
    topics = ["bees", "the sea", "a train", "rain", "a cat", "tea", "snow", "a bridge"]
    prompts = [f"<|im_start|>user\nWrite about {t}.<|im_end|>\n<|im_start|>assistant\n" for t in topics]
    ids = [engine.tokenizer(p, add_special_tokens=False).input_ids for p in prompts]

    def run(retire_share):
        monkeypatch.setattr(engine, "RETIRE_SHARE", retire_share)
        rows = [GenerateRow(prompt_ids=list(x), max_tokens=3 + 3 * k, temperature=0.9 if k % 2 else 0.0, seed=k,
                            stop_texts=("\n",) if k % 3 == 0 else ()) for k, x in enumerate(ids)]
        first = {id(r): [] for r in rows}
        engine.generate(rows, lambda events: [first[id(r)].append(p["token"]) for r, p in events])
        firsts = [first[id(r)] for r in rows]
        more = [GenerateRow(prompt_ids=list(x) + f, max_tokens=4, temperature=r.temperature, seed=r.seed)
                for x, f, r in zip(ids, firsts, rows)]
        then = {id(r): [] for r in more}
        engine.generate(more, lambda events: [then[id(r)].append(p["token"]) for r, p in events])
        return firsts, [then[id(r)] for r in more]

    retired = engine.stats.retired_rows
    engine.reset_caches()  # (it takes the engine's lock, which the engine thread holds while it runs `run`)
    kept_in = real_backend.client.run_in_engine_thread(run, 0)  # 0: rows never leave
    assert engine.stats.retired_rows == retired
    engine.reset_caches()
    left = real_backend.client.run_in_engine_thread(run, 4)
    assert engine.stats.retired_rows > retired, "rows with short limits should have left the batch"
    assert left == kept_in
    assert len({len(tokens) for tokens in left[0]}) > 3, "the rows should have finished at different steps"
