"""A key/value cache whose layers grow in place, for long prompts decoded a token at a time.

transformers' DynamicLayer concatenates every new token onto its keys and values, copying the whole
cache each step: for a batch of four 1,200-token prompts that is ~200 MB per token on this model,
more than the step's arithmetic. These layers keep spare capacity (doubling when full) and hand the
model views of the filled part, so a step writes only its new column.

Room is sized by what is known: a layer's first buffers hold its first states plus `reserve` tokens (the
rest of the prompt and the tokens a call generates), and only later growth doubles. Doubling the first
fill as well held twice a long batch's states for the whole batch, which was most of a run's peak memory.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

MIN_CAPACITY = 64


class GrowingLayer(DynamicLayer):
    def __init__(self, reserve: int = MIN_CAPACITY):
        super().__init__()
        self.reserve = reserve

    def adopt(self, keys: torch.Tensor, values: torch.Tensor, filled: int) -> None:
        """Take `keys`/`values` (`[batch, heads, capacity, dim]`, their first `filled` positions set) as buffers."""
        self.lazy_initialization(keys, values)
        self._buffers = (keys, values)
        self.keys, self.values = keys[..., :filled, :], values[..., :filled, :]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        old = self.keys.shape[-2] if self.keys is not None and self.keys.numel() else 0
        new = old + key_states.shape[-2]
        buffers = getattr(self, "_buffers", None)
        # the filled part must still be our buffer's (batch_select_indices and others replace it)
        fits = (buffers is not None and buffers[0].shape[-2] >= new and buffers[0].shape[:2] == key_states.shape[:2]
                and (old == 0 or self.keys.data_ptr() == buffers[0].data_ptr()))
        if not fits:
            capacity = max(2 * new, MIN_CAPACITY) if old else new + self.reserve
            shape = (*key_states.shape[:2], capacity, key_states.shape[-1])
            buffers = (key_states.new_empty(shape), value_states.new_empty(shape))
            if old:
                buffers[0][..., :old, :] = self.keys
                buffers[1][..., :old, :] = self.values
            self._buffers = buffers
        buffers[0][..., old:new, :] = key_states
        buffers[1][..., old:new, :] = value_states
        self.keys, self.values = buffers[0][..., :new, :], buffers[1][..., :new, :]
        return self.keys, self.values


def growing_cache(config, reserve: int = MIN_CAPACITY) -> DynamicCache:
    """An empty DynamicCache of GrowingLayers (`reserve`: room after their first states)."""
    cache = DynamicCache(config=config)
    cache.layers = [GrowingLayer(reserve) for _ in cache.layers]
    return cache
