"""Throughput: the same prompts through our LMQL backend and through raw batched HF `generate`.

Both run in this process on the same loaded weights, greedy, `--tokens` new tokens per prompt.
Two kinds of prompts, each `--prompts` strong:
- chat: distinct short chat requests (nothing shared beyond the chat markup);
- fitness: what a fitness evaluation sends: one unit's system and task prompt before different
  questions of a task (a long shared prefix).
Prints tokens/s and ratio of each kind, then, as the last line, `ratio=<ours/raw>` over both kinds
together (total tokens over total best seconds).
Usage: python bench/throughput.py [--prompts 16] [--tokens 32] [--kinds chat fitness]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from promptbreeder.backends.base import QueryRequest
from promptbreeder.backends.lmql.backend import LMQLLocalBackend
from promptbreeder.backends.models import resolve_model

TOPICS = ["the sea", "a library", "winter", "bees", "a train", "coffee", "the moon", "a garden",
          "rain", "mountains", "a violin", "bread", "a lighthouse", "chess", "autumn", "a bridge"]
SUITE = Path(__file__).resolve().parents[1] / "day_care" / "arithmetic_1_digit_addition" / "fitness_suite.jsonl"
UNIT = ("<|im_start|>system\nYou are a careful assistant who solves arithmetic questions. Think about the two"
        " numbers, add them, and check the result before answering. Reply with a single integer.<|im_end|>\n"
        "<|im_start|>user\nAdd the two numbers and reply with only the result. Take care with carrying.\n\n")


def chat_prompts(n: int) -> list[str]:
    return [f"<|im_start|>user\nWrite a short paragraph about {TOPICS[i % len(TOPICS)]}"
            f"{'' if i < len(TOPICS) else f' ({i})'}.<|im_end|>\n<|im_start|>assistant\n" for i in range(n)]


def fitness_prompts(n: int) -> list[str]:
    questions = [json.loads(line)["input"] for line in SUITE.read_text().splitlines()]
    return [UNIT + questions[i % len(questions)] + "<|im_end|>\n<|im_start|>assistant\n" for i in range(n)]


def raw_hf(engine, prompts: list[str], tokens: int) -> tuple[int, float]:
    """Plain batched greedy `generate`, counting each row's tokens before its first eos (as ours does)."""
    tokenizer, model = engine.tokenizer, engine.model
    tokenizer.padding_side = "left"
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(engine.device)
    started = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**batch, max_new_tokens=tokens, do_sample=False,
                             pad_token_id=engine.pad_token_id, eos_token_id=engine.eos_token_id)
    seconds = time.perf_counter() - started
    generated = 0
    for row in out[:, batch.input_ids.shape[1]:].tolist():
        generated += next((i for i, t in enumerate(row) if t == engine.eos_token_id), len(row))
    return generated, seconds


def ours(backend, prompts: list[str], tokens: int) -> tuple[int, float]:
    query = '"{prompt}[ANSWER]" where len(TOKENS(ANSWER)) < %d' % (tokens + 1)
    requests = [QueryRequest(query=query, inputs={"prompt": p}, name="bench") for p in prompts]
    backend.engine.reset_caches()  # every repeat starts cold: no state of an earlier repeat is reused
    started = time.perf_counter()
    results = backend.run_many(requests)
    seconds = time.perf_counter() - started
    failed = [r.error for r in results if not r.ok]
    if failed:
        raise SystemExit(f"bench query failed: {failed[0]}")
    return sum(r.generated_tokens for r in results), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_name_or_path", default="smollm2-135m")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--server_batch_size", type=int, default=None, help="rows per generate call (default: all prompts)")
    parser.add_argument("--kinds", nargs="+", choices=["chat", "fitness"], default=["chat", "fitness"])
    args = parser.parse_args()

    model_dir = resolve_model(args.model_name_or_path).local_dir()
    backend = LMQLLocalBackend(model_dir, client_batch_size=args.prompts, server_batch_size=args.server_batch_size or args.prompts,
                               chunk_size=args.tokens)

    # Raw HF runs on the engine's own worker thread: torch keeps one OpenMP thread team per calling
    # thread, and a second team spinning beside the first would slow whichever runs second.
    def raw(prompts, n_tokens):
        return backend.client.run_in_engine_thread(raw_hf, backend.engine, prompts, n_tokens)

    ours(backend, chat_prompts(2), 4)  # warm-up: compile the query, touch the weights
    raw(chat_prompts(2), 4)
    totals = {"raw": [0, 0.0], "ours": [0, 0.0]}
    for kind in args.kinds:
        prompts = chat_prompts(args.prompts) if kind == "chat" else fitness_prompts(args.prompts)
        best = {"raw": (0, float("inf")), "ours": (0, float("inf"))}
        first: dict[str, tuple[int, float]] = {}  # repeat 0, reported beside the best of the repeats
        for repeat in range(args.repeats):
            for name, run in (("raw", raw), ("ours", lambda p, t: ours(backend, p, t))):
                tokens, seconds = run(prompts, args.tokens)
                print(f"{kind:8} {name:4} repeat {repeat}: {tokens} tokens in {seconds:.2f} s = {tokens / seconds:.1f} tok/s")
                first.setdefault(name, (tokens, seconds))
                if seconds < best[name][1]:
                    best[name] = (tokens, seconds)
        for name in totals:
            totals[name][0] += best[name][0]
            totals[name][1] += best[name][1]
        speed = {name: tokens / seconds for name, (tokens, seconds) in best.items()}
        speed0 = {name: tokens / seconds for name, (tokens, seconds) in first.items()}
        print(f"{kind}: best of {args.repeats}: raw={speed['raw']:.1f} tok/s ours={speed['ours']:.1f} tok/s"
              f" ratio={speed['ours'] / speed['raw']:.2f}; repeat 0: raw={speed0['raw']:.1f} ours={speed0['ours']:.1f}"
              f" ratio={speed0['ours'] / speed0['raw']:.2f}")
    print(f"engine: {backend.engine.stats.as_dict()}")
    backend.close()
    raw_speed, our_speed = (t / s for t, s in (totals["raw"], totals["ours"]))
    print(f"all kinds: raw={raw_speed:.1f} tok/s ours={our_speed:.1f} tok/s")
    print(f"ratio={our_speed / raw_speed:.2f}")


if __name__ == "__main__":
    main()
