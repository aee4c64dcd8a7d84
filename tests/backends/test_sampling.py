"""BatchSampler: per-row greedy / temperature / top_k / top_p choices, each row with its own generator."""

from __future__ import annotations

import torch

from promptbreeder.backends.hf.sampling import BatchSampler, RowSampling

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


# -- tail-free sampling (tfs) and top-a -----------------------------------------------------------


def kept(setting: RowSampling, probs: list[float]) -> list[int]:
    """Indices of the tokens a row with this setting can still draw from this distribution."""
    sampler = BatchSampler([setting], generators(0), "cpu")
    filtered = sampler.filtered(torch.log(torch.tensor([probs])) / sampler.temperature)
    return torch.isfinite(filtered[0]).nonzero()[:, 0].tolist()


PEAKED = [0.6, 0.25, 0.1, 0.02, 0.01, 0.01, 0.005, 0.005]
FLAT = [0.19, 0.18, 0.17, 0.16, 0.15, 0.10, 0.03, 0.02]  # a straight head: its curvature starts at token 4


def test_tfs_keeps_the_head_of_a_peaked_distribution_and_more_of_a_flat_one():
    peaked = kept(RowSampling(1.0, tfs=0.9), PEAKED)
    assert peaked == [0, 1, 2]  # curvature is spent by the third token; the flat tail goes
    # second differences 0, 0, 0, .04, .02, .06 -> cdf 0, 0, 0, 1/3, 1/2, 1: only the last two go
    assert kept(RowSampling(1.0, tfs=0.9), FLAT) == [0, 1, 2, 3, 4, 5]


def test_tfs_by_hand():
    # sorted p = .5 .3 .15 .05: second differences |.5-.6+.15| = .05, |.3-.3+.05| = .05 -> cdf .5, 1.0,
    # centred on tokens 1 and 2; the last token goes with the tail
    probs = [0.5, 0.3, 0.15, 0.05]
    assert kept(RowSampling(1.0, tfs=0.6), probs) == [0, 1]
    assert kept(RowSampling(1.0, tfs=0.999), probs) == [0, 1]  # token 2 sits where the sum reaches 1
    assert kept(RowSampling(1.0, tfs=0.4), probs) == [0]  # the top token always stays


def test_tfs_one_or_none_keeps_everything():
    for setting in (RowSampling(1.0, tfs=1.0), RowSampling(1.0, tfs=None), RowSampling(1.0, tfs=1.5)):
        assert kept(setting, PEAKED) == list(range(len(PEAKED)))


def test_tfs_keeps_every_token_of_a_uniform_distribution():
    assert kept(RowSampling(1.0, tfs=0.5), [0.25] * 4) == [0, 1, 2, 3]


def test_top_a_drops_tokens_below_a_times_pmax_squared_and_keeps_the_max():
    # threshold 0.5 * 0.6**2 = 0.18: only 0.6 and 0.25 stay
    assert kept(RowSampling(1.0, top_a=0.5), PEAKED) == [0, 1]
    # a flatter distribution keeps more: 0.5 * 0.19**2 = 0.018 keeps all, 1.0 * 0.19**2 = 0.036 drops two
    assert kept(RowSampling(1.0, top_a=0.5), FLAT) == list(range(len(FLAT)))
    assert kept(RowSampling(1.0, top_a=1.0), FLAT) == [0, 1, 2, 3, 4, 5]
    # a very sure model keeps only its choice; a factor above 1 still keeps the max
    assert kept(RowSampling(1.0, top_a=0.2), [0.97, 0.02, 0.01]) == [0]
    assert kept(RowSampling(1.0, top_a=50.0), [0.97, 0.02, 0.01]) == [0]
    assert kept(RowSampling(1.0, top_a=0.0), PEAKED) == list(range(len(PEAKED)))


def test_top_a_reads_the_distribution_after_temperature():
    # at temperature 3 the distribution flattens, so pmax**2 shrinks and more tokens survive
    assert len(kept(RowSampling(3.0, top_a=0.5), PEAKED)) > len(kept(RowSampling(1.0, top_a=0.5), PEAKED))


def test_rows_without_tfs_or_top_a_keep_their_distribution_beside_rows_with_them():
    logits = torch.randn(4, 1000, generator=torch.Generator().manual_seed(4)) * 5
    settings = [RowSampling(1.0), RowSampling(1.0, tfs=0.5), RowSampling(1.0, top_p=0.95), RowSampling(1.0, top_a=0.3)]
    sampler = BatchSampler(settings, generators(1, 2, 3, 4), "cpu")
    filtered = sampler.filtered(logits / sampler.temperature)
    assert torch.isfinite(filtered[0]).all(), "a row without filters lost tokens to its neighbours' settings"
    top_p_only = BatchSampler([settings[2]], generators(3), "cpu")
    assert torch.equal(filtered[2], top_p_only.filtered(logits[2:3] / top_p_only.temperature)[0])
    assert not torch.isfinite(filtered[1]).all() and not torch.isfinite(filtered[3]).all()


def test_tfs_and_top_a_rows_sample_reproducibly_and_like_alone():
    settings = [RowSampling(1.0, tfs=0.95), RowSampling(1.5, top_a=0.1), RowSampling(0.8, top_k=20, top_p=0.9, tfs=0.9,
                                                                                   top_a=0.05), RowSampling(1.0)]
    seeds = [21, 22, 23, 24]
    first, again = draws(settings, seeds), draws(settings, seeds)
    assert first == again
    assert draws(settings, [31, 32, 33, 34]) != first
    # each row draws what it would draw alone, from the same logits and generator
    batch = BatchSampler(settings, generators(*seeds), "cpu")
    alone = [BatchSampler([s], generators(seed), "cpu") for s, seed in zip(settings, seeds)]
    plain = BatchSampler([RowSampling(1.0), RowSampling(1.0)], generators(24, 24), "cpu")
    for step in range(40):
        logits = random_logits(4, step)
        batched = batch.choose(logits).tolist()
        assert batched == [alone[i].choose(logits[i:i + 1]).item() for i in range(4)]
        # a row that uses neither filter draws as in a batch without tfs/top_a anywhere
        assert batched[3] == plain.choose(logits[2:4])[1].item()


def test_engine_rows_carry_tfs_and_top_a_to_the_sampler():
    from promptbreeder.backends.hf.rows import GenerateRow

    row = GenerateRow(prompt_ids=[1, 2], max_tokens=3, temperature=0.7, top_k=4, top_p=0.9, tfs=0.95, top_a=0.2)
    assert row.sampling() == RowSampling(0.7, 4, 0.9, 0.95, 0.2)


def test_the_lmtp_client_reads_tfs_and_top_a_from_the_query_context():
    import asyncio
    import threading

    from promptbreeder.backends.lmql.lmtp_inprocess import ENGINE_SAMPLING, InProcessLMTPClient

    class Engine:
        max_batch_size, lock, rows = 4, threading.Lock(), []

        def generate(self, rows, emit):
            self.rows.extend(rows)
            emit([(r, {"token": 1, "logprob": 0.0, "top_logprobs": {1: 0.0}, "finish_reason": "stop"}) for r in rows])

    engine = Engine()
    client = InProcessLMTPClient(engine, "stub")

    async def one(extra, **kwargs):
        ENGINE_SAMPLING.set(extra)
        return [p async for p in client.generate([5], temperature=0.9, **kwargs)]

    async def main():  # gather runs each call in its own task, so each sees its own context
        await asyncio.gather(one({"tfs": 0.9, "top_a": 0.1}), one(None), one({"tfs": 0.9}, tfs=0.5))

    try:
        asyncio.run(main())
    finally:
        client.shutdown()
    assert sorted((r.tfs or 0, r.top_a or 0) for r in engine.rows) == [(0, 0), (0.5, 0), (0.9, 0.1)]
