"""The baseline of the benches: what a careful user writes with plain HF `generate` and forward passes.

A user knows the prompts before generating, not how long the answers will be: jobs are sorted by prompt
length only (similar padding together), cut into batches of a given size, and every batch generates as
many tokens as its longest job needs (`min_new_tokens` as well, so each row does the work ours did even
where the unconstrained model would have stopped). `sweep` tries every batch size and keeps the best,
so the baseline is raw at its best, not at our batch size.

The machine's speed drifts by 10-30% over minutes (raw's same batch of 32 chat prompts took 15.3, 14.8 and
11.7 s in one sweep), so timing ours first and raw minutes later compares two machines. `paired` runs
ours and raw at its best batch size back to back, alternating which goes first, and the ratio is taken
within each pair (`paired_ratio`: median and bootstrap interval over pairs).
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Callable

import torch

BATCH_SIZES = (1, 8, 16, 32, 0)  # 0: all jobs in one batch


def _batches(items: list, key: Callable, batch_size: int) -> list[list]:
    ordered = sorted(items, key=key)
    size = batch_size or len(ordered)
    return [ordered[start : start + size] for start in range(0, len(ordered), size)]


@torch.inference_mode()
def generate_jobs(engine, jobs: list[tuple[str, int]], batch_size: int) -> float:
    """Seconds batched greedy `generate` takes to produce `n` tokens after each `(prompt, n)` job."""
    tokenizer, model = engine.tokenizer, engine.model
    tokenizer.padding_side = "left"
    lengths = {prompt: len(tokenizer(prompt, add_special_tokens=False).input_ids) for prompt, _ in jobs}
    started = time.perf_counter()
    for chunk in _batches(jobs, lambda job: lengths[job[0]], batch_size):
        batch = tokenizer([p for p, _ in chunk], return_tensors="pt", padding=True, add_special_tokens=False)
        batch = batch.to(engine.device)
        tokens = max(n for _, n in chunk)
        model.generate(**batch, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                       pad_token_id=engine.pad_token_id)
    return time.perf_counter() - started


@torch.inference_mode()
def score_pairs(engine, pairs: list[tuple[str, str]], batch_size: int) -> float:
    """Seconds batched forward passes take to give the mean log-probability of each continuation after its
    prompt (rank classification of choices, as a careful user writes it: one row per prompt + choice, left
    padded, the vocabulary projection only over the last positions, where the continuations are)."""
    tokenizer, model = engine.tokenizer, engine.model
    encoded = [(tokenizer(p, add_special_tokens=False).input_ids, tokenizer(c, add_special_tokens=False).input_ids)
               for p, c in pairs]
    started = time.perf_counter()
    for chunk in _batches(encoded, lambda pc: len(pc[0]) + len(pc[1]), batch_size):
        width = max(len(p) + len(c) for p, c in chunk)
        keep = max(len(c) for _, c in chunk) + 1  # the positions that predict a continuation token
        ids = torch.full((len(chunk), width), engine.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(chunk), width), dtype=torch.long)
        for i, (p, c) in enumerate(chunk):  # left padding: every continuation ends at the last position
            row = p + c
            ids[i, width - len(row) :] = torch.tensor(row)
            attention[i, width - len(row) :] = 1
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        logits = model(input_ids=ids.to(engine.device), attention_mask=attention.to(engine.device),
                       position_ids=positions.to(engine.device), logits_to_keep=keep).logits
        logprobs = torch.log_softmax(logits.float(), dim=-1)  # position j of these is width - keep + j
        for i, (p, c) in enumerate(chunk):
            first = keep - len(c) - 1  # the position before the continuation's first token
            picked = logprobs[i, first : keep - 1].gather(-1, torch.tensor(c, device=logprobs.device)[:, None])
            picked.mean().item()
    return time.perf_counter() - started


def sweep(run: Callable[[int], float], repeats: int, log: Callable[[str], None]) -> dict[int, list[float]]:
    """Seconds of `run(batch_size)` for every batch size, `repeats` times. Batch size 1 runs once only when
    its first time is more than twice the best of that repeat (it cannot then be the best)."""
    seconds: dict[int, list[float]] = {size: [] for size in BATCH_SIZES}
    for repeat in range(repeats):
        for size in BATCH_SIZES:
            if repeat and size == 1 and seconds[1][0] > 2 * min(min(s) for s in seconds.values() if s):
                continue
            seconds[size].append(run(size))
            log(f"  raw batch {size or 'all':>3} repeat {repeat}: {seconds[size][-1]:.2f} s")
    return seconds


def best_of(seconds: dict[int, list[float]]) -> tuple[int, float, float]:
    """(batch size, its best seconds, its repeat 0 seconds) of the fastest batch size."""
    size = min(seconds, key=lambda s: min(seconds[s]))
    return size, min(seconds[size]), seconds[size][0]


def paired(ours: Callable[[], float], raw: Callable[[], float], pairs: int,
           log: Callable[[str], None]) -> list[tuple[float, float]]:
    """`pairs` (ours seconds, raw seconds), each pair measured back to back; odd pairs run raw first, so a
    machine speeding up or slowing down within a pair favours neither side."""
    measured = []
    for pair in range(pairs):
        if pair % 2:
            raw_seconds = raw()
            ours_seconds = ours()
        else:
            ours_seconds = ours()
            raw_seconds = raw()
        measured.append((ours_seconds, raw_seconds))
        log(f"  pair {pair}: ours {ours_seconds:.2f} s, raw {raw_seconds:.2f} s, ratio {raw_seconds / ours_seconds:.2f}")
    return measured


def paired_ratio(measured: list[tuple[float, float]], resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float, float]:
    """Median over pairs of raw seconds / ours seconds (> 1: ours is faster) and its 95% bootstrap interval."""
    ratios = [r / o for o, r in measured]
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(resamples))
    return statistics.median(ratios), medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]
