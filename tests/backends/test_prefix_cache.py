"""PrefixCache (lookup, store, LRU eviction by bytes) and shared_prefixes (grouping a batch's prompts)."""

from __future__ import annotations

import torch

from promptbreeder.backends.hf.prefix_cache import PrefixCache, shared_prefixes

ENTRY_BYTES_PER_TOKEN = 2 * 2 * 2 * 4  # layers * (keys, values) * head_dim * float32 bytes


def states(n: int, layers: int = 2) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per-layer (keys, values) of shape [1 head, n tokens, head_dim 2]; keys hold 100*layer + position."""
    out = []
    for layer in range(layers):
        keys = (torch.arange(n, dtype=torch.float32) + 100 * layer).reshape(1, n, 1).repeat(1, 1, 2)
        out.append((keys, -keys))
    return out


def cache_with(*sequences: list[int], max_bytes: int = 10**6) -> PrefixCache:
    cache = PrefixCache(max_bytes)
    for tokens in sequences:
        cache.store(tokens, states(len(tokens)))
    return cache


def test_lookup_returns_longest_common_prefix_with_matching_states():
    cache = cache_with([1, 2, 3, 4], [1, 2, 9, 9, 9])
    entry, length = cache.lookup([1, 2, 3, 4, 5, 6])
    assert entry.tokens.tolist() == [1, 2, 3, 4] and length == 4
    keys, values = entry.layers[1]
    assert keys.shape == (1, 4, 2)
    assert keys[0, :length, 0].tolist() == [100.0, 101.0, 102.0, 103.0]
    assert values[0, :length, 1].tolist() == [-100.0, -101.0, -102.0, -103.0]
    entry, length = cache.lookup([1, 2, 9, 7])
    assert entry.tokens.tolist() == [1, 2, 9, 9, 9] and length == 3
    assert cache.lookup([5, 6, 7]) == (None, 0)
    assert cache.hits == 2 and cache.reused_tokens == 7


def test_lookup_leaves_at_least_one_prompt_token_uncached():
    cache = cache_with([1, 2, 3, 4])
    assert cache.lookup([1, 2, 3, 4])[1] == 3
    assert cache.lookup([1, 2, 3])[1] == 2
    assert cache.lookup([1, 2])[1] == 1
    assert cache.lookup([1]) == (None, 0)


def test_store_counts_bytes_of_all_layers():
    cache = cache_with([1, 2, 3])
    assert len(cache) == 1
    assert cache.bytes == 3 * ENTRY_BYTES_PER_TOKEN


def test_storing_a_prefix_of_an_entry_is_a_no_op():
    cache = cache_with([1, 2, 3, 4, 5, 6])
    cache.store([1, 2, 3], states(3))
    assert len(cache) == 1 and cache.bytes == 6 * ENTRY_BYTES_PER_TOKEN
    assert cache.lookup([1, 2, 3, 4, 5, 6, 7])[0].tokens.tolist() == [1, 2, 3, 4, 5, 6]


def test_storing_an_extension_replaces_the_shorter_entry():
    cache = cache_with([1, 2, 3], [7, 8])
    cache.store([1, 2, 3, 4, 5], states(5))
    assert len(cache) == 2 and cache.bytes == (5 + 2) * ENTRY_BYTES_PER_TOKEN
    entry, length = cache.lookup([1, 2, 3, 4, 5, 6])
    assert entry.tokens.tolist() == [1, 2, 3, 4, 5] and length == 5


def test_eviction_drops_least_recently_used_and_stays_within_budget():
    cache = cache_with([1, 2, 3, 4], [10, 11, 12, 13], max_bytes=2 * 4 * ENTRY_BYTES_PER_TOKEN)
    assert cache.lookup([1, 2, 3, 4, 5])[1] == 4  # touches the first entry: the second is now oldest
    cache.store([20, 21, 22, 23], states(4))
    assert len(cache) == 2 and cache.bytes <= cache.max_bytes
    assert cache.lookup([10, 11, 12, 13, 14]) == (None, 0)
    assert cache.lookup([1, 2, 3, 4, 5])[1] == 4
    assert cache.lookup([20, 21, 22, 23, 24])[1] == 4


def test_zero_budget_or_oversized_entry_stores_nothing():
    empty = cache_with([1, 2, 3], max_bytes=0)
    assert len(empty) == 0 and empty.bytes == 0
    assert empty.lookup([1, 2, 3, 4]) == (None, 0)
    small = cache_with([1, 2, 3], max_bytes=2 * ENTRY_BYTES_PER_TOKEN)
    assert len(small) == 0 and small.bytes == 0


SYSTEM = [1, 2, 3, 4]
UNIT_A = SYSTEM + list(range(10, 18))
UNIT_B = SYSTEM + list(range(20, 28))


def test_shared_prefixes_keeps_units_apart_despite_a_shared_system_prompt():
    prompts = [UNIT_B + [102], UNIT_A + [100], UNIT_B + [103], UNIT_A + [101]]
    assert shared_prefixes(prompts, [0, 0, 0, 0], 4) == [UNIT_A, UNIT_B]


def test_shared_prefixes_uses_the_system_prompt_when_nothing_longer_is_shared():
    assert shared_prefixes([UNIT_A + [100], UNIT_B + [101]], [0, 0], 4) == [SYSTEM]


def test_shared_prefixes_skips_groups_the_cache_already_covers():
    prompts = [UNIT_A + [100], UNIT_A + [101], UNIT_B + [102], UNIT_B + [103]]
    assert shared_prefixes(prompts, [len(UNIT_A), 0, 0, 0], 4) == [UNIT_B]
    assert shared_prefixes(prompts, [len(UNIT_A) - 1, 0, 0, 0], 4) == [UNIT_A, UNIT_B]


def test_shared_prefixes_leaves_each_prompt_one_token_of_its_own():
    assert shared_prefixes([[1, 2, 3, 4], [1, 2, 3, 4]], [0, 0], 2) == [[1, 2, 3]]


def test_shared_prefixes_needs_two_prompts_and_min_length():
    assert shared_prefixes([UNIT_A + [100]], [0], 4) == []
    assert shared_prefixes([[1, 2, 3, 9], [1, 2, 3, 8]], [0, 0], 4) == []
    assert shared_prefixes([[1, 2, 3, 9], [1, 2, 3, 8]], [0, 0], 3) == [[1, 2, 3]]
    assert shared_prefixes([[1, 2, 3], [4, 5, 6]], [0, 0], 1) == []


def test_an_extension_too_big_for_the_budget_leaves_the_shorter_entry():
    cache = PrefixCache(max_bytes=len(torch.cat([k for k, _ in states(4)]).flatten()) * 4 * 2)
    cache.store([1, 2, 3, 4], states(4))
    cache.store(list(range(1, 40)), states(39))
    assert len(cache) == 1 and cache.lookup([1, 2, 3, 4, 5])[1] == 4
