"""A row the engine generates: its prompt, its own decoding settings and stop texts, and its caller's handle."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

import torch

from promptbreeder.backends.hf.sampling import RowSampling

# a token payload as LMQL's LMTP protocol streams it: token, logprob, top_logprobs, finish_reason;
# `emit` receives all (row, payload) pairs of a batch, in generation order
TokenPayload = dict
Emit = Callable[[list[tuple["GenerateRow", TokenPayload]]], None]


@dataclass
class GenerateRow:
    prompt_ids: list[int]
    max_tokens: int
    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    tfs: float | None = None  # tail-free sampling's z (see sampling.py)
    top_a: float | None = None
    logit_bias: dict[int, float] | None = None
    top_logprobs: int = 1
    seed: int = 0
    stop_texts: tuple[str, ...] = ()  # the row may end once its generated text contains one of these
    # the row ends with an end-of-sequence token once its text contains one of these: stop sequences of
    # the decoder, which LMQL does not know (it would ask for more after a plain stop)
    end_texts: tuple[str, ...] = ()
    # when a list: the entropy (nats) of the model's next-token distribution at each generated step is
    # appended to it (before LMQL's masks: what the model itself thinks, not what the constraints allow)
    entropy_sink: list | None = None
    tag: object = None  # opaque handle of the caller (its token queue)

    def generator(self) -> torch.Generator:
        digest = hashlib.blake2b(repr((self.seed, self.prompt_ids)).encode(), digest_size=8).digest()
        return torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))

    def sampling(self) -> RowSampling:
        return RowSampling(self.temperature, self.top_k, self.top_p, self.tfs, self.top_a)
