"""The engine's running statistics: calls, rows, tokens, time, prefix reuse and batch sizes."""

from __future__ import annotations

from dataclasses import dataclass, field


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
