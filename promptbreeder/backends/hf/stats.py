"""The engine's running statistics: calls, rows, tokens, time, prefix reuse and batch sizes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EngineStats:
    generate_calls: int = 0  # batches generated
    score_calls: int = 0
    rows: int = 0  # rows of the generated batches
    forward_passes: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    model_loads: int = 0
    shared_prefix_tokens: int = 0  # prompt tokens taken from the prefix cache instead of recomputed
    longest_request: int = 0  # most tokens one row asked for (LMQL asks for at most its chunk size)
    oom_halvings: int = 0  # times a batch ran out of memory and the batch size was halved
    retired_rows: int = 0  # finished rows taken out of a batch that went on generating for the others

    def as_dict(self) -> dict:
        # totals only: a list of every batch's size grew by one entry per batch for as long as a run lasted
        return dict(self.__dict__) | {"mean_batch_size": self.rows / self.generate_calls if self.generate_calls else 0.0}
