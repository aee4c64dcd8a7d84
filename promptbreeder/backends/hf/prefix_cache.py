"""Keys and values of prompts already computed, reused by later generate calls that start the same way.

LMQL sends a query's prompt again for every chunk it asks for: a constrained answer of three tokens
is three generate calls, each with the whole prompt plus what was accepted so far. Fitness queries
also repeat a unit's prompt before every question. Recomputing those tokens was most of a breeding
generation's time; with this cache a call only computes the tokens no earlier call has seen.

An entry holds one token sequence and, per layer, its keys and values (`[heads, tokens, head_dim]`).
A lookup returns the entry sharing the longest prefix with a prompt. Entries are dropped least
recently used first once their total size passes the budget.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

LayerStates = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass
class CachedPrefix:
    tokens: np.ndarray  # int64, the tokens whose keys and values are held
    layers: LayerStates
    nbytes: int


class PrefixCache:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[bytes, CachedPrefix] = OrderedDict()
        self.hits = 0
        self.reused_tokens = 0

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, prompt: list[int]) -> tuple[CachedPrefix | None, int]:
        """The entry sharing the longest prefix with `prompt`, and that length.

        The length leaves at least one prompt token uncached: the model must see one to give the
        logits of the next token.
        """
        if not self._entries or len(prompt) < 2:
            return None, 0
        query = np.asarray(prompt, dtype=np.int64)
        best, best_length = None, 0
        for key, entry in self._entries.items():
            length = _common_prefix(entry.tokens, query)
            if length > best_length:
                best, best_length, best_key = entry, length, key
        best_length = min(best_length, len(prompt) - 1)
        if best is None or best_length == 0:
            return None, 0
        self._entries.move_to_end(best_key)
        self.hits += 1
        self.reused_tokens += best_length
        return best, best_length

    def store(self, tokens: list[int], layers: LayerStates) -> None:
        """Keep `layers` (each `[heads, len(tokens), head_dim]`) as the states of `tokens`."""
        if self.max_bytes <= 0 or not tokens:
            return
        array = np.asarray(tokens, dtype=np.int64)
        key = array.tobytes()
        if key in self._entries:
            self._entries.move_to_end(key)
            return
        nbytes = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in layers)
        if nbytes > self.max_bytes:
            return
        for other_key, other in list(self._entries.items()):
            shared = _common_prefix(other.tokens, array)
            if shared == len(array):  # already covered by a longer entry
                self._entries.move_to_end(other_key)
                return
            if shared == len(other.tokens):  # the new entry covers this one
                self._drop(other_key)
        self._entries[key] = CachedPrefix(array, layers, nbytes)
        self.bytes += nbytes
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def _drop(self, key: bytes) -> None:
        self.bytes -= self._entries.pop(key).nbytes


def _common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    n = min(len(a), len(b))
    differs = np.flatnonzero(a[:n] != b[:n])
    return int(differs[0]) if len(differs) else n


def shared_prefixes(prompts: list[list[int]], covered: list[int], min_length: int) -> list[list[int]]:
    """Prefixes that two or more prompts share and that are worth computing once for all of them.

    Prompts are grouped by sorting. A neighbour joins the current group while it shares at least
    `min_length` tokens and at least half of what the group shares so far: rows of one unit share a
    long prompt, rows of different units often only the system prompt, and merging those would
    leave each unit's prompt computed once per row. A group's prefix leaves each member at least
    one token of its own (to get its logits); groups the cache already covers are skipped.
    """
    if len(prompts) < 2:
        return []
    order = sorted(range(len(prompts)), key=lambda i: prompts[i])
    arrays = [np.asarray(p, dtype=np.int64) for p in prompts]
    prefixes: list[list[int]] = []
    group, group_length = [order[0]], None
    for previous, current in zip(order, order[1:] + [None]):
        shared = 0 if current is None else _common_prefix(arrays[previous], arrays[current])
        if shared >= min_length and (group_length is None or 2 * shared >= group_length):
            group.append(current)
            group_length = shared if group_length is None else min(group_length, shared)
            continue
        if group_length is not None:
            length = min(group_length, min(len(prompts[i]) for i in group) - 1)
            if length >= min_length and max(covered[i] for i in group) < length:
                prefixes.append(prompts[group[0]][:length])
        group, group_length = [current], None
    return prefixes


@dataclass
class LiveBatch:
    """The last batch's cache, which the next call may continue instead of recomputing its rows."""

    tokens: list[list[int]]  # per row: the tokens whose states the cache holds
    cache: object
    attention: torch.Tensor  # per row: which cache columns are its tokens
