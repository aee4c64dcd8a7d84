"""Throughput: the same prompts through our LMQL backend and through raw batched HF `generate`.

Both run in this process on the same loaded weights. Prints tokens/s of each and, as its last
line, `ratio=<ours/raw>`. Usage: python bench/throughput.py [--prompts 16] [--tokens 32]
"""

from __future__ import annotations

import argparse
import time

import torch

from promptbreeder.backends.base import QueryRequest
from promptbreeder.backends.lmql_local import LMQLLocalBackend
from promptbreeder.backends.models import resolve_model

TOPICS = ["the sea", "a library", "winter", "bees", "a train", "coffee", "the moon", "a garden",
          "rain", "mountains", "a violin", "bread", "a lighthouse", "chess", "autumn", "a bridge"]


def chat(topic: str) -> str:
    return f"<|im_start|>user\nWrite a short paragraph about {topic}.<|im_end|>\n<|im_start|>assistant\n"


def raw_hf(engine, prompts: list[str], tokens: int) -> tuple[int, float]:
    """Plain batched greedy `generate`, counting tokens up to each row's first eos."""
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
        generated += next((i + 1 for i, t in enumerate(row) if t == engine.eos_token_id), len(row))
    return generated, seconds


def ours(backend, prompts: list[str], tokens: int) -> tuple[int, float]:
    query = '"{prompt}[ANSWER]" where len(TOKENS(ANSWER)) < %d' % (tokens + 1)
    requests = [QueryRequest(query=query, inputs={"prompt": p}, name="bench") for p in prompts]
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
    args = parser.parse_args()

    model_dir = resolve_model(args.model_name_or_path).local_dir()
    backend = LMQLLocalBackend(model_dir, client_batch_size=args.prompts, server_batch_size=args.server_batch_size or args.prompts,
                               chunk_size=args.tokens)
    prompts = [chat(TOPICS[i % len(TOPICS)]) + ("" if i < len(TOPICS) else f"({i})") for i in range(args.prompts)]
    # Raw HF runs on the engine's own worker thread: torch keeps one OpenMP thread team per calling
    # thread, and a second team spinning beside the first would slow whichever runs second.
    def raw(n_prompts, n_tokens):
        return backend.client.run_in_engine_thread(raw_hf, backend.engine, prompts[:n_prompts], n_tokens)

    ours(backend, prompts[:2], 4)  # warm-up: compile the query, touch the weights
    raw(2, 4)
    best_raw = best_ours = 0.0
    for repeat in range(args.repeats):
        tokens, seconds = raw(args.prompts, args.tokens)
        best_raw = max(best_raw, tokens / seconds)
        print(f"raw HF generate   repeat {repeat}: {tokens} tokens in {seconds:.2f} s = {tokens / seconds:.1f} tok/s")
        tokens, seconds = ours(backend, prompts, args.tokens)
        best_ours = max(best_ours, tokens / seconds)
        print(f"promptbreeder LMQL repeat {repeat}: {tokens} tokens in {seconds:.2f} s = {tokens / seconds:.1f} tok/s")
    print(f"engine: {backend.engine.stats.as_dict()}")
    backend.close()
    print(f"best: raw={best_raw:.1f} tok/s ours={best_ours:.1f} tok/s")
    print(f"ratio={best_ours / best_raw:.2f}")


if __name__ == "__main__":
    main()
