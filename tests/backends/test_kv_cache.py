"""Growing cache layers: room sized by what is known, growth in place, the same states as concatenation."""

from __future__ import annotations

import torch

from promptbreeder.backends.hf.kv_cache import MIN_CAPACITY, GrowingLayer


def states(batch, length, fill):
    return torch.full((batch, 2, length, 4), float(fill)), torch.full((batch, 2, length, 4), -float(fill))


def test_the_first_fill_keeps_only_the_reserved_room_beyond_its_states():
    layer = GrowingLayer(reserve=10)
    keys, values = layer.update(*states(3, 500, 1))
    assert layer._buffers[0].shape[-2] == 510  # not 1,000: a long prompt's states are not held twice
    assert keys.shape == (3, 2, 500, 4) and torch.equal(values, torch.full((3, 2, 500, 4), -1.0))


def test_steps_within_the_room_write_in_place_and_later_growth_doubles():
    layer = GrowingLayer(reserve=10)
    layer.update(*states(1, 500, 1))
    buffer = layer._buffers[0].data_ptr()
    for step in range(10):
        keys, _ = layer.update(*states(1, 1, 2))
    assert layer._buffers[0].data_ptr() == buffer and keys.shape[-2] == 510
    keys, values = layer.update(*states(1, 1, 3))
    assert layer._buffers[0].shape[-2] == 2 * 511 and keys.shape[-2] == 511
    expected = torch.cat([torch.full((1, 2, 500, 4), 1.0), torch.full((1, 2, 10, 4), 2.0), torch.full((1, 2, 1, 4), 3.0)], -2)
    assert torch.equal(keys, expected) and torch.equal(values, -expected)


def test_adopted_buffers_are_used_as_they_are():
    layer = GrowingLayer()
    keys, values = torch.zeros(2, 2, 40, 4), torch.zeros(2, 2, 40, 4)
    keys[..., :30, :] = 5.0
    layer.adopt(keys, values, 30)
    assert layer.get_seq_length() == 30 and layer.keys.data_ptr() == keys.data_ptr()
    out, _ = layer.update(*states(2, 7, 6))  # fits in the adopted room: no new buffer
    assert layer._buffers[0].data_ptr() == keys.data_ptr() and out.shape[-2] == 37
    assert torch.equal(out[..., 30:, :], torch.full((2, 2, 7, 4), 6.0))


def test_a_small_first_fill_still_gets_the_minimum_room():
    layer = GrowingLayer()
    layer.update(*states(1, 3, 1))
    assert layer._buffers[0].shape[-2] == 3 + MIN_CAPACITY
