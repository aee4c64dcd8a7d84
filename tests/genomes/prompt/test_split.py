"""The train / held-out split."""

from __future__ import annotations

import pytest

from promptbreeder.genomes.prompt.split import train_heldout_split
from promptbreeder.errors import UsageError

SUITE = [{"input": f"q{i}", "gold_t": str(i)} for i in range(50)]


def test_the_split_is_a_partition_fixed_by_the_seed():
    train, heldout = train_heldout_split(SUITE, 0.2, seed=3)
    assert len(heldout) == 10 and len(train) == 40
    assert sorted(e["input"] for e in train + heldout) == sorted(e["input"] for e in SUITE)
    assert train_heldout_split(SUITE, 0.2, seed=3) == (train, heldout)
    assert train_heldout_split(SUITE, 0.2, seed=4)[1] != heldout
    assert [SUITE.index(e) for e in heldout] == sorted(SUITE.index(e) for e in heldout), "suite order is kept"


@pytest.mark.parametrize("size, fraction, expected", [(2, 0.2, (1, 1)), (3, 0.01, (2, 1)), (3, 0.99, (1, 2)),
                                                      (10, 0.0, (9, 1)), (1, 0.5, (1, 0)), (0, 0.5, (0, 0))])
def test_both_sides_get_an_example_when_there_are_two(size, fraction, expected):
    train, heldout = train_heldout_split(SUITE[:size], fraction, seed=0)
    assert (len(train), len(heldout)) == expected


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_a_fraction_outside_0_1_is_refused(fraction):
    with pytest.raises(UsageError, match="heldout_fraction"):
        train_heldout_split(SUITE, fraction, seed=0)
