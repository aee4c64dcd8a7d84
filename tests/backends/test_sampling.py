"""BatchSampler: per-row greedy / temperature / top_k / top_p choices, each row with its own generator."""

from __future__ import annotations

import torch

from promptbreeder.backends.sampling import BatchSampler, RowSampling

VOCAB = 50


def random_logits(rows: int, seed: int) -> torch.Tensor:
    return torch.randn(rows, VOCAB, generator=torch.Generator().manual_seed(seed)) * 2


def generators(*seeds: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


def draws(settings: list[RowSampling], seeds: list[int], steps: int = 30, logit_seed: int = 0) -> list[list[int]]:
    """The tokens each step's choose() picks, over `steps` fresh logits, with one sampler per batch."""
    sampler = BatchSampler(settings, generators(*seeds), "cpu")
    return [sampler.choose(random_logits(len(settings), logit_seed + step)).tolist() for step in range(steps)]


def test_greedy_rows_take_the_argmax():
    logits = random_logits(4, 1)
    sampler = BatchSampler([RowSampling()] * 4, [None] * 4, "cpu")
    assert sampler.sampled == []
    assert sampler.choose(logits).tolist() == logits.argmax(-1).tolist()


def test_top_k_one_or_tiny_top_p_take_the_argmax():
    settings = [RowSampling(1.5, top_k=1), RowSampling(1.5, top_p=1e-6), RowSampling(1.5, top_k=3, top_p=1e-6)]
    sampler = BatchSampler(settings, generators(1, 2, 3), "cpu")
    for step in range(20):
        logits = random_logits(3, step)
        assert sampler.choose(logits).tolist() == logits.argmax(-1).tolist()


def test_same_seed_same_picks_and_other_seed_other_picks():
    settings = [RowSampling(1.0)]
    first, again, other = draws(settings, [7]), draws(settings, [7]), draws(settings, [8])
    assert first == again
    assert first != other


def test_greedy_row_unaffected_by_a_sampled_neighbour():
    sampler = BatchSampler([RowSampling(), RowSampling(5.0)], [None, *generators(3)], "cpu")
    sampled = []
    for step in range(30):
        logits = random_logits(2, step)
        chosen = sampler.choose(logits)
        assert chosen[0].item() == logits[0].argmax().item()
        sampled.append(chosen[1].item())
    assert len(set(sampled)) > 5  # the neighbour really sampled (at temperature 5)


def test_rows_with_different_settings_in_one_batch_behave_like_alone():
    settings = [RowSampling(0.3), RowSampling(1.0, top_k=5), RowSampling(2.0)]
    seeds = [11, 12, 13]
    sampler = BatchSampler(settings, generators(*seeds), "cpu")
    alone = [BatchSampler([s], generators(seed), "cpu") for s, seed in zip(settings, seeds)]
    picks = []
    for step in range(40):
        logits = random_logits(3, step)
        batched = sampler.choose(logits).tolist()
        assert batched == [alone[i].choose(logits[i:i + 1]).item() for i in range(3)]
        picks.append(batched)
    assert len({tuple(p) for p in picks}) > 1


def test_top_k_limits_picks_to_the_k_best():
    logits = random_logits(1, 5)
    best = set(torch.topk(logits[0], 3).indices.tolist())
    sampler = BatchSampler([RowSampling(10.0, top_k=3)], generators(4), "cpu")
    picks = {sampler.choose(logits).item() for _ in range(200)}
    assert picks == best


def test_top_p_keeps_the_nucleus_and_at_least_one_token():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]]))
    nucleus = BatchSampler([RowSampling(1.0, top_p=0.6)], generators(5), "cpu")
    assert {nucleus.choose(logits).item() for _ in range(200)} == {0, 1}
    tiny = BatchSampler([RowSampling(1.0, top_p=1e-9)], generators(5), "cpu")
    masked = tiny._apply_top_p(logits / tiny.temperature)
    assert torch.isfinite(masked).sum().item() == 1
    assert {tiny.choose(logits).item() for _ in range(50)} == {0}


def test_a_row_without_top_p_keeps_its_whole_distribution_beside_one_with_top_p():
    logits = torch.randn(2, 1000, generator=torch.Generator().manual_seed(4)) * 5
    sampler = BatchSampler([RowSampling(1.0), RowSampling(1.0, top_p=0.9)], generators(1, 2), "cpu")
    filtered = sampler._apply_top_p(logits / sampler.temperature)
    assert torch.isfinite(filtered[0]).all(), "the row without top_p lost tokens to its neighbour's setting"
    assert not torch.isfinite(filtered[1]).all()
