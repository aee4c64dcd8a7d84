"""Regression tests on the real embedded model for each LMQL 0.7.3 problem our backend fixes."""

from __future__ import annotations

import gc
import os

import pytest
import torch

from promptbreeder.backends.base import DecoderOptions, QueryRequest

pytestmark = pytest.mark.integration

CHAT = "<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n"
PROMPTS = ["Describe a lighthouse at night.", "Explain how bees make honey.",
           "Write about a train journey.", "Tell me about the moon."]


def hf_greedy(engine, prompt: str, max_new_tokens: int) -> str:
    ids = engine.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids
    with torch.inference_mode():
        out = engine.model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=engine.pad_token_id, eos_token_id=engine.eos_token_id)
    new = out[0, ids.shape[1]:].tolist()
    if engine.eos_token_id in new:
        new = new[: new.index(engine.eos_token_id)]
    return engine.tokenizer.decode(new)


def test_variable_after_im_end_in_the_prompt_is_not_empty(real_backend):
    query = ('"<|im_start|>user\\nName a fruit.<|im_end|>\\n<|im_start|>assistant\\n[A]<|im_end|>\\n'
             '<|im_start|>user\\nName a colour.<|im_end|>\\n<|im_start|>assistant\\n[B]"'
             ' where len(TOKENS(A)) < 8 and len(TOKENS(B)) < 8')
    result = real_backend.run(QueryRequest(query=query))
    assert result.variables["A"].strip()
    assert result.variables["B"].strip(), "LMQL 0.7.3 returns B empty after a <|im_end|> in the prompt"
    assert "Name a colour.<|im_end|>" in result.prompt


def test_multi_chunk_generation_matches_hf_greedy_without_duplicated_tokens(real_backend, monkeypatch):
    # A token-length bound lets LMQL ask for all tokens at once; a character bound that never binds
    # makes it generate chunk by chunk (16 tokens in the fixture) until the model's own eos.
    questions = ["Describe a lighthouse at night in two sentences.", "Explain in two sentences how bees make honey.",
                 "Write a haiku about rain.", "What is the capital of France? Answer in one sentence."]
    prompts = [CHAT.format(q=q) for q in questions]
    query = '"{prompt}[ANSWER]" where len(ANSWER) < 1200'
    engine, requested = real_backend.engine, []
    batch = engine._generate_batch
    monkeypatch.setattr(engine, "_generate_batch", lambda rows, emit: (requested.extend(r.max_tokens for r in rows), batch(rows, emit)))
    results = real_backend.run_many([QueryRequest(query=query, inputs={"prompt": p}) for p in prompts])
    for prompt, result in zip(prompts, results):
        assert result.variables["ANSWER"] == hf_greedy(real_backend.engine, prompt, 300)
    assert max(r.generated_tokens for r in results) > 2 * real_backend.chunk_size, "needs several chunks"
    assert max(requested) == real_backend.chunk_size == 16


def test_no_stray_debug_prints(real_backend, capfd):
    query = '"{prompt}The answer is [ANSWER]" where REGEX(ANSWER, r"[0-9]+") and len(TOKENS(ANSWER)) < 4'
    result = real_backend.run(QueryRequest(query=query, inputs={"prompt": CHAT.format(q="What is 2 plus 2?")}))
    assert result.variables["ANSWER"].isdigit()
    from promptbreeder.backends.lmql.backend import LMQLBackend  # noqa: F401  (fixes applied on import path)
    from lmql.runtime.interpreter import LMQLResult

    assert LMQLResult(prompt="p", variables={"X": "1"})["X"] == "1"
    out, err = capfd.readouterr()
    assert "r=" not in out and "access" not in out, out


def test_one_model_for_every_query_and_no_memory_growth(real_backend):
    """LMQL's async transport reloaded the model per query; ours keeps one model for the backend."""
    query = '"{prompt}[ANSWER]" where len(TOKENS(ANSWER)) < 12'
    requests = [QueryRequest(query=query, inputs={"prompt": CHAT.format(q=q)}) for q in PROMPTS * 2]
    real_backend.run_many(requests)  # warm up caches and allocator pools
    gc.collect()
    before = _rss_mb()
    for _ in range(4):
        real_backend.run_many(requests)
    gc.collect()
    assert real_backend.engine.stats.model_loads == 1
    assert _rss_mb() - before < 150, f"resident memory grew by {_rss_mb() - before:.0f} MB over 32 queries"


def test_concurrent_queries_share_generate_calls(real_backend):
    stats = real_backend.engine.stats
    calls, rows = stats.generate_calls, stats.rows
    query = '"{prompt}[ANSWER]" where len(TOKENS(ANSWER)) < 10'
    real_backend.run_many([QueryRequest(query=query, inputs={"prompt": CHAT.format(q=q)}) for q in PROMPTS * 2])
    new_calls, new_rows = stats.generate_calls - calls, stats.rows - rows
    assert new_rows >= 8 and new_calls < new_rows, "eight concurrent queries should share generate calls"


def test_sampling_is_seeded_and_independent_of_batch_company(real_backend):
    query = '"{prompt}[ANSWER]" where len(TOKENS(ANSWER)) < 20'
    decoder = DecoderOptions.parse("sample(temperature=1.2, top_p=0.95)")
    target = QueryRequest(query=query, inputs={"prompt": CHAT.format(q=PROMPTS[0])}, decoder=decoder, seed=11)
    alone = real_backend.run(target).variables["ANSWER"]
    company = [QueryRequest(query=query, inputs={"prompt": CHAT.format(q=q)}, decoder=decoder, seed=3) for q in PROMPTS[1:]]
    in_batch = real_backend.run_many(company + [target])[-1].variables["ANSWER"]
    assert alone == in_batch
    other_seeds = {real_backend.run(QueryRequest(query=query, inputs=target.inputs, decoder=decoder, seed=s)).variables["ANSWER"]
                   for s in (1, 2, 3)}
    assert len(other_seeds | {alone}) > 1, "different seeds should give different samples"


def test_decoder_options_from_config(real_backend):
    query = '"{prompt}[ANSWER]" where len(TOKENS(ANSWER)) < 10'
    inputs = {"prompt": CHAT.format(q=PROMPTS[1])}
    greedy = real_backend.run(QueryRequest(query=query, inputs=inputs)).variables["ANSWER"]
    top1 = real_backend.run(QueryRequest(query=query, inputs=inputs, decoder=DecoderOptions.parse("sample(temperature=0.7, top_k=1)"), seed=5))
    assert top1.variables["ANSWER"] == greedy
    beam = real_backend.run(QueryRequest(query=query, inputs=inputs, decoder=DecoderOptions.parse("beam(n=2)")))
    assert beam.variables["ANSWER"].strip()


def test_scoring_matches_a_plain_forward_pass(real_backend):
    engine = real_backend.engine
    prompt = engine.tokenizer(CHAT.format(q="Is the sky blue?"), add_special_tokens=False).input_ids
    continuation = engine.tokenizer("Yes, it is.", add_special_tokens=False).input_ids
    short = engine.tokenizer(CHAT.format(q="Hi"), add_special_tokens=False).input_ids
    ours = real_backend.client.run_in_engine_thread(engine.score, [(prompt, continuation), (short, continuation)])[0]
    with torch.inference_mode():
        logits = engine.model(torch.tensor([prompt + continuation])).logits[0]
    expected = torch.log_softmax(logits[len(prompt) - 1 : -1], -1).gather(-1, torch.tensor(continuation)[:, None])[:, 0]
    assert ours == pytest.approx(expected.tolist(), abs=1e-3)


def test_choices_of_one_prompt_compute_it_once_and_score_as_a_plain_forward_pass(real_backend):
    engine = real_backend.engine
    engine.prefix_cache.clear()
    prompt = engine.tokenizer(CHAT.format(q="Which of these is a fruit: a car, an apple or a house?"),
                              add_special_tokens=False).input_ids
    choices = [engine.tokenizer(c, add_special_tokens=False).input_ids for c in ("a car", "an apple", "a house")]
    shared_before = engine.stats.shared_prefix_tokens
    ours = real_backend.client.run_in_engine_thread(engine.score, [(prompt, c) for c in choices])
    # each choice row took all but the prompt's last token from the one computation of the prompt
    assert engine.stats.shared_prefix_tokens - shared_before == 3 * (len(prompt) - 1)
    for continuation, logprobs in zip(choices, ours):
        with torch.inference_mode():
            logits = engine.model(torch.tensor([prompt + continuation])).logits[0]
        expected = torch.log_softmax(logits[len(prompt) - 1 : -1], -1).gather(-1, torch.tensor(continuation)[:, None])[:, 0]
        assert logprobs == pytest.approx(expected.tolist(), abs=1e-3)


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_constraints_still_hold_with_the_token_set_speed_ups(real_backend):
    cases = [
        ('"{prompt}Answer: [A]" where A in ["yes", "no", "maybe"]', lambda a: a in ("yes", "no", "maybe")),
        ('"{prompt}Answer: [A]" where INT(A) and len(TOKENS(A)) < 4', lambda a: a.strip().isdigit()),
        ('"{prompt}Answer: [A]" where REGEX(A, r"-?[0-9]+") and len(TOKENS(A)) < 6', lambda a: a.lstrip("-").isdigit()),
        ('"{prompt}[A]" where STOPS_AT(A, ".") and len(TOKENS(A)) < 40', lambda a: a.endswith(".") and a.count(".") == 1),
        ('"{prompt}[A]" where len(TOKENS(A)) < 5', lambda a: 0 < len(a)),
    ]
    prompt = CHAT.format(q="Is 7 plus 5 equal to 12? Explain briefly.")
    results = real_backend.run_many([QueryRequest(query=q, inputs={"prompt": prompt}) for q, _ in cases])
    for (query, holds), result in zip(cases, results):
        assert result.ok, result.error
        assert holds(result.variables["A"]), (query, result.variables["A"])
    assert real_backend.count_tokens(results[-1].variables["A"]) <= 4


def test_a_lone_distribution_variable_is_scored_by_likelihood_in_one_forward_pass(real_backend):
    """Fix 4: the choice is the one with the highest mean token log-probability after the prompt, as a
    plain forward pass computes it, and every choice of every query shares one scoring call."""
    from promptbreeder.package_queries import package_query_text

    engine = real_backend.engine
    questions = [("Which of these is a fruit?", ["a car", "an apple", "a house"]),
                 ("What colour is the sky on a clear day?", ["green", "blue", "red"])]
    requests = [QueryRequest(query=package_query_text("fitness_noCoT_likelihood"), name="likelihood",
                             inputs={"system_prompt": "You are a helpful assistant.", "task_prompt": "Answer.",
                                     "task_prompt_after": "", "question": q, "choices": c})
                for q, c in questions]
    before = engine.stats.score_calls
    results = real_backend.run_many(requests)
    assert engine.stats.score_calls - before == 1 and engine.stats.generated_tokens >= 0
    for (question, choices), result in zip(questions, results):
        assert result.ok and set(result.variables) == {"ANSWER"}, result.variables
        prefix = result.prompt[: len(result.prompt) - len(result.variables["ANSWER"])]
        ids = engine.tokenizer(prefix, add_special_tokens=False).input_ids
        means = []
        for choice in choices:
            [logprobs] = engine.score([(ids, engine.tokenizer(choice, add_special_tokens=False).input_ids)])
            means.append(sum(logprobs) / len(logprobs))
        assert result.variables["ANSWER"] == choices[means.index(max(means))]


def test_reused_follow_maps_are_the_maps_lmql_computes(real_backend, monkeypatch):
    """Fix 6: on every where step of queries with token limits, stop phrases, several variables and an input
    limit, the reused follow map, the values, finals and the mask are LMQL's own; a masked clause takes LMQL's way."""
    import lmql.ops.node as nodes
    import lmql.ops.ops as ops

    fast = ops.digest
    seen = {"steps": 0, "reused": 0, "differ": []}

    def compare(expr, context, follow_context, no_follow=False):
        ours = fast(expr, context, follow_context, no_follow)
        if expr is not None and not no_follow:
            lmqls = fast.original(expr, context, follow_context)
            seen["steps"] += 1
            seen["reused"] += type(ours[3]).__name__ == "_LazyFollowTrace"
            facts = [(r[0], r[1], str(r[3][expr]), str(nodes.create_mask(r[3][expr], r[0], r[1])), r[2])
                     for r in (ours, lmqls)]
            if facts[0] != facts[1]:
                seen["differ"].append(facts)
        return ours

    monkeypatch.setattr(ops, "digest", compare)
    queries = [
        '"{prompt}[A]" where len(TOKENS(A)) < n and STOPS_AT(A, "\\n")',
        '"{prompt}[A]" where STOPS_AT(A, "\\n\\n") and len(TOKENS(A)) < 30',
        '"{prompt}[A] and [B]" where len(TOKENS(A)) < 6 and STOPS_BEFORE(B, ".") and len(TOKENS(B)) < n',
        '"{prompt}[A]\\nSecond: [B]" where STOPS_AT(A, "\\n") and len(TOKENS(A)) < 12 and len(TOKENS(B)) < 12',
        '"{prompt}[A]" where A in ["red", "blue"]',
    ]
    prompt = CHAT.format(q="Count to ten, one number per line, then name a colour.")
    results = real_backend.run_many([QueryRequest(query=q, inputs={"prompt": prompt, "n": 9}) for q in queries])
    assert all(r.ok for r in results), [r.error for r in results]
    assert not seen["differ"], seen["differ"][:2]
    assert seen["reused"] > seen["steps"] / 2, seen  # most steps of token-limit clauses reuse a map
    assert results[-1].variables["A"] in ("red", "blue")
