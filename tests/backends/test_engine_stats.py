"""The engine's statistics are running totals: constant in size however long a run lasts."""

from __future__ import annotations

import sys

from promptbreeder.backends.hf.stats import EngineStats


def test_mean_batch_size_is_rows_per_generated_batch():
    stats = EngineStats()
    assert stats.as_dict()["mean_batch_size"] == 0.0
    for batch in (16, 16, 4):
        stats.generate_calls += 1
        stats.rows += batch
    assert stats.as_dict()["mean_batch_size"] == 12.0


def test_the_statistics_do_not_grow_with_the_number_of_batches():
    stats = EngineStats()
    size = sys.getsizeof(stats.__dict__) + sum(sys.getsizeof(v) for v in stats.__dict__.values())
    for _ in range(10_000):
        stats.generate_calls += 1
        stats.rows += 16
    assert sys.getsizeof(stats.__dict__) + sum(sys.getsizeof(v) for v in stats.__dict__.values()) <= size + 64
