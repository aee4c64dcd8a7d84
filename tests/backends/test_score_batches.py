"""Scoring batches are bounded by the logits they hold, not only by rows."""

from __future__ import annotations

from promptbreeder.backends.hf.engine import HFEngine


def engine(max_batch_size=16, vocab_size=1000, logits_bytes=4 * 1000 * 100):
    made = HFEngine.__new__(HFEngine)  # no model: only the batching arithmetic is under test
    made.max_batch_size, made.vocab_size, made.LOGITS_BYTES = max_batch_size, vocab_size, logits_bytes
    return made


def test_short_continuations_fill_a_batch_up_to_its_rows():
    sequences = [([1], [2, 3])] * 40  # 3 positions x 1000 x 4 bytes per row: 33 rows would fit the bytes
    assert [len(b) for b in engine()._score_batches(list(range(40)), sequences)] == [16, 16, 8]


def test_long_continuations_make_smaller_batches_within_the_bytes():
    sequences = [([1], [2] * 49)] * 10  # 50 positions: 2 rows per 100-position budget
    batches = engine()._score_batches(list(range(10)), sequences)
    assert [len(b) for b in batches] == [2] * 5 and sorted(sum(batches, [])) == list(range(10))


def test_a_row_too_long_for_the_budget_still_gets_a_batch_of_its_own():
    sequences = [([1], [2] * 500), ([1], [2])]
    assert engine()._score_batches([0, 1], sequences) == [[0], [1]]
