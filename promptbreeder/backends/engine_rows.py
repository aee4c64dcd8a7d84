"""What flows through the engine: a row to generate (with its per-row settings), the batch whose cache the
next call may continue, and the engine's running statistics."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

import torch

from promptbreeder.backends.sampling import RowSampling

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


@dataclass
class LiveBatch:
    tokens: list[list[int]]  # per row: the tokens whose states the cache holds
    cache: object
    attention: torch.Tensor  # per row: which cache columns are its tokens


@dataclass
class EngineStats:
    generate_calls: int = 0
    score_calls: int = 0
    rows: int = 0
    forward_passes: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    model_loads: int = 0
    shared_prefix_tokens: int = 0  # prompt tokens taken from the prefix cache instead of recomputed
    longest_request: int = 0  # most tokens one row asked for (LMQL asks for at most its chunk size)
    oom_halvings: int = 0  # times a batch ran out of memory and the batch size was halved
    batch_sizes: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "batch_sizes"} | {
            "mean_batch_size": sum(self.batch_sizes) / len(self.batch_sizes) if self.batch_sizes else 0.0
        }
