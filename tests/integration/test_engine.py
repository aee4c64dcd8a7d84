"""The batched engine under the LMQL backend, on the real embedded model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptbreeder.backends.hf_engine import GenerateRow

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
