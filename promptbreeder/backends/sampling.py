"""Choosing the next token of every row of a batch, each row with its own decoding settings.

The breeder draws a temperature per mutation, so a generation's mutation queries all differ; one
batch must still serve them together (a batch of one row per temperature made mutations ten times
slower). Greedy rows take the argmax; sampled rows apply their own temperature, top-k and top-p
and draw with their own generator, so a row's tokens do not depend on its neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class RowSampling:
    temperature: float = 0.0  # 0: greedy
    top_k: int | None = None
    top_p: float | None = None


class BatchSampler:
    """Decoding settings of a batch as tensors, built once per batch and applied every step."""

    def __init__(self, settings: list[RowSampling], generators: list[torch.Generator | None], device):
        self.sampled = [i for i, s in enumerate(settings) if s.temperature > 0]
        self.generators = [generators[i] for i in self.sampled]
        picked = [settings[i] for i in self.sampled]
        self.temperature = torch.tensor([[s.temperature] for s in picked], device=device)
        self.top_k = [s.top_k for s in picked]
        # rows without nucleus sampling never drop a token (a threshold of 1.0 could: float32 cumulative
        # sums reach 1.0 before the last tokens)
        self.top_p = torch.tensor([[s.top_p if s.top_p is not None and s.top_p < 1.0 else float("inf")] for s in picked],
                                  device=device)
        self.any_top_p = any(s.top_p is not None and s.top_p < 1.0 for s in picked)

    def choose(self, logits: torch.Tensor) -> torch.Tensor:
        chosen = logits.argmax(dim=-1)
        if not self.sampled:
            return chosen
        index = torch.tensor(self.sampled, device=logits.device)
        scaled = logits.index_select(0, index) / self.temperature
        if any(k is not None for k in self.top_k):
            scaled = self._apply_top_k(scaled)
        if self.any_top_p:
            scaled = self._apply_top_p(scaled)
        probs = torch.softmax(scaled, dim=-1)
        picks = [torch.multinomial(probs[j], 1, generator=g) for j, g in enumerate(self.generators)]
        chosen[index] = torch.cat(picks).to(chosen.device)
        return chosen

    def _apply_top_k(self, scaled: torch.Tensor) -> torch.Tensor:
        vocab = scaled.shape[-1]
        ks = [min(k, vocab) if k is not None else vocab for k in self.top_k]
        kth_values = torch.topk(scaled, max(ks), dim=-1).values
        kth = kth_values.gather(-1, torch.tensor([[k - 1] for k in ks], device=scaled.device))
        return scaled.masked_fill(scaled < kth, float("-inf"))

    def _apply_top_p(self, scaled: torch.Tensor) -> torch.Tensor:
        sorted_logits, order = torch.sort(scaled, descending=True, dim=-1)
        sorted_probs = torch.softmax(sorted_logits, dim=-1)
        # drop a token when the tokens before it already reach top_p (the first token always stays)
        drop_sorted = sorted_probs.cumsum(-1) - sorted_probs >= self.top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        return scaled.masked_fill(drop, float("-inf"))
