"""bench/raw.py: the baseline sorts by what a user knows (prompt length) and keeps its best batch size; ours and\nraw are timed in pairs, back to back."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import torch

SPEC = importlib.util.spec_from_file_location("bench_raw", Path(__file__).resolve().parents[2] / "bench" / "raw.py")
raw = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(raw)


class Tokenizer:
    padding_side = "right"

    def __call__(self, texts, return_tensors=None, padding=False, add_special_tokens=True):
        if isinstance(texts, str):
            return SimpleNamespace(input_ids=list(range(len(texts.split()))))
        width = max(len(t.split()) for t in texts)
        return _Batch(input_ids=torch.zeros((len(texts), width), dtype=torch.long), texts=texts)


class _Batch(dict):
    def __init__(self, input_ids, texts):
        super().__init__(input_ids=input_ids)
        self.texts = texts

    def to(self, device):
        return self


def test_generate_jobs_batches_by_prompt_length_and_generates_each_batch_s_longest_answer():
    calls = []

    def generate(input_ids, max_new_tokens, min_new_tokens, **kwargs):
        calls.append((input_ids.shape[0], max_new_tokens, min_new_tokens))

    engine = SimpleNamespace(tokenizer=Tokenizer(), model=SimpleNamespace(generate=generate), device="cpu", pad_token_id=0)
    # answer lengths run against prompt lengths: sorting by answer length would batch differently
    jobs = [("a b c d e f", 1), ("a", 9), ("a b c", 5), ("a b", 2), ("a b c d", 3)]
    raw.generate_jobs(engine, jobs, 2)
    assert calls == [(2, 9, 9), (2, 5, 5), (1, 1, 1)]  # prompts of 1+2, 3+4, 6 words
    calls.clear()
    raw.generate_jobs(engine, jobs, 0)  # 0: everything in one batch
    assert calls == [(5, 9, 9)]


def test_sweep_tries_every_batch_size_and_the_best_is_the_fastest():
    times = {1: 10.0, 8: 2.0, 16: 1.5, 32: 1.0, 0: 1.2}
    runs = []

    def run(size):
        runs.append(size)
        return times[size] + 0.1 * runs.count(size)  # later repeats slower: the best is repeat 0

    seconds = raw.sweep(run, 2, lambda line: None)
    assert runs.count(1) == 1  # batch 1 was far behind after repeat 0: not run again
    assert all(runs.count(size) == 2 for size in (8, 16, 32, 0))
    assert raw.best_of(seconds) == (32, 1.1, 1.1)


def test_pairs_alternate_which_side_runs_first_and_the_ratio_is_taken_within_each_pair():
    order = []
    clock = iter([10.0, 8.0, 20.0, 16.0, 12.0, 12.0])  # the machine slows down and recovers between pairs

    def ours():
        order.append("ours")
        return next(clock)

    def raw_side():
        order.append("raw")
        return next(clock)

    measured = raw.paired(ours, raw_side, 3, lambda line: None)
    assert order == ["ours", "raw", "raw", "ours", "ours", "raw"]
    assert measured == [(10.0, 8.0), (16.0, 20.0), (12.0, 12.0)]  # (ours, raw) whichever ran first
    median, low, high = raw.paired_ratio(measured)
    assert median == 1.0  # ratios 0.8, 1.25, 1.0: a drifting machine moves the interval, not the median
    assert low == 0.8 and high == 1.25


def test_the_paired_ratio_s_interval_narrows_with_agreeing_pairs():
    _, low, high = raw.paired_ratio([(10.0, 11.0)] * 8)
    assert low == high == 1.1
