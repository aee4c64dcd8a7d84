"""Choosing the next token of every row of a batch, each row with its own decoding settings.

The breeder draws a temperature per mutation, so a generation's mutation queries all differ; one
batch must still serve them together (a batch of one row per temperature made mutations ten times
slower). Greedy rows take the argmax; sampled rows apply their own temperature, top-k, top-p,
tail-free (tfs) and top-a filters and draw with their own generator, so a row's tokens do not
depend on its neighbours.

Filters that a row does not use get a per-row setting that can never drop a token (inf for the
top-p and tfs thresholds, 0 for the top-a factor): a batch applies a filter to all its rows as soon
as one row uses it, and a shared default such as top_p=1.0 did drop tokens once (float32 cumulative
sums reach 1.0 before the last tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NEVER = float("inf")


@dataclass(frozen=True)
class RowSampling:
    temperature: float = 0.0  # 0: greedy
    top_k: int | None = None
    top_p: float | None = None
    tfs: float | None = None  # tail-free sampling's z; None or >= 1: off
    top_a: float | None = None  # drop p < top_a * max(p)**2; None or <= 0: off


class BatchSampler:
    """Decoding settings of a batch as tensors, built once per batch and applied every step."""

    def __init__(self, settings: list[RowSampling], generators: list[torch.Generator | None], device):
        self.sampled = [i for i, s in enumerate(settings) if s.temperature > 0]
        self.generators = [generators[i] for i in self.sampled]
        picked = [settings[i] for i in self.sampled]
        self.temperature = torch.tensor([[s.temperature] for s in picked], device=device)
        self.top_k = [s.top_k for s in picked]
        self.top_p = torch.tensor([[s.top_p if _on(s.top_p, 1.0) else NEVER] for s in picked], device=device)
        self.any_top_p = any(_on(s.top_p, 1.0) for s in picked)
        self.tfs = torch.tensor([[s.tfs if _on(s.tfs, 1.0) else NEVER] for s in picked], device=device)
        self.any_tfs = any(_on(s.tfs, 1.0) for s in picked)
        # a factor of 0 makes the threshold 0, which no probability is below
        self.top_a = torch.tensor([[s.top_a if s.top_a is not None and s.top_a > 0 else 0.0] for s in picked],
                                  device=device)
        self.any_top_a = any(s.top_a is not None and s.top_a > 0 for s in picked)

    def choose(self, logits: torch.Tensor) -> torch.Tensor:
        chosen = logits.argmax(dim=-1)
        if not self.sampled:
            return chosen
        index = torch.tensor(self.sampled, device=logits.device)
        scaled = self.filtered(logits.index_select(0, index) / self.temperature)
        probs = torch.softmax(scaled, dim=-1)
        picks = [torch.multinomial(probs[j], 1, generator=g) for j, g in enumerate(self.generators)]
        chosen[index] = torch.cat(picks).to(chosen.device)
        return chosen

    def filtered(self, scaled: torch.Tensor) -> torch.Tensor:
        """The sampled rows' temperature-scaled logits with the dropped tokens set to -inf.

        Order: top_k, top_p, tfs, top_a. All come after temperature, because each is defined on the
        distribution actually sampled. The filters that existed first run first, so a row using only
        top_k/top_p draws exactly the tokens it drew before tfs/top_a existed (same seed, same text).
        tfs and top_a then read the renormalised distribution the earlier filters leave, which is what
        their definitions assume (tfs's curvature and top_a's max of the sampled distribution). The
        whole order is text-generation-webui's default sampler priority for these four, so presets
        tuned there (e.g. its "tfs-with-top-a") mean the same here.
        """
        if any(k is not None for k in self.top_k):
            scaled = self._apply_top_k(scaled)
        if self.any_top_p:
            scaled = self._apply_top_p(scaled)
        if self.any_tfs:
            scaled = self._apply_tfs(scaled)
        if self.any_top_a:
            scaled = self._apply_top_a(scaled)
        return scaled

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

    def _apply_tfs(self, scaled: torch.Tensor) -> torch.Tensor:
        return tail_free(scaled, self.tfs)

    def _apply_top_a(self, scaled: torch.Tensor) -> torch.Tensor:
        return top_a(scaled, self.top_a)


def tail_free(scaled: torch.Tensor, z: torch.Tensor | float) -> torch.Tensor:
    """Tail-free sampling (Phillips 2019): cut where the sorted distribution stops curving.

    `scaled`: temperature-scaled logits, one row per sequence; `z`: the threshold, a float or one per row
    ([rows, 1]; inf keeps every token). The absolute second difference of the sorted probabilities,
    normalised to sum 1, weighs each position by its curvature; tokens are kept while its cumulative sum
    stays <= z. The second difference at i is the curvature at sorted token i+1 (centred as in the
    original code), so the top token always stays and the last one goes whenever anything goes. A row
    whose curvature is all zero (a flat distribution) gets NaN sums, and NaN > z keeps every token.
    """
    if scaled.shape[-1] < 3:
        return scaled
    sorted_logits, order = torch.sort(scaled, descending=True, dim=-1)
    curvature = torch.softmax(sorted_logits, dim=-1).diff(dim=-1).diff(dim=-1).abs()
    cdf = (curvature / curvature.sum(-1, keepdim=True)).cumsum(-1)
    beyond = cdf > z
    drop_sorted = torch.cat([torch.zeros_like(beyond[:, :1]), beyond, beyond[:, -1:]], dim=-1)
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return scaled.masked_fill(drop, float("-inf"))


def top_a(scaled: torch.Tensor, factor: torch.Tensor | float) -> torch.Tensor:
    """Top-a: drop tokens with p < factor * max(p)**2 (a cut that tightens as the model is surer).

    `factor`: a float or one per row ([rows, 1]); 0 keeps every token."""
    probs = torch.softmax(scaled, dim=-1)
    p_max = probs.max(dim=-1, keepdim=True).values
    # capped at p_max so the best token stays even for a factor > 1 (only <= 1 passes validation)
    threshold = torch.minimum(factor * p_max * p_max, p_max)
    return scaled.masked_fill(probs < threshold, float("-inf"))


def _on(value: float | None, off_from: float) -> bool:
    """Whether a threshold setting filters at all (None and values >= off_from keep everything)."""
    return value is not None and value < off_from
