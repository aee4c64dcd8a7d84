"""The generation parameters a tuner searches over, their ranges and what each backend can apply."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from promptbreeder.errors import UsageError


@dataclass(frozen=True)
class GenerationParams:
    """One decoding configuration. Every value at its default turns its filter off; temperature 0 is greedy."""

    temperature: float = 0.0
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1: off
    tfs: float = 1.0  # tail-free sampling's z; 1: off
    top_a: float = 0.0  # top-a factor; 0: off
    repetition_penalty: float = 1.0  # 1: off
    no_repeat_ngram_size: int = 0  # 0: off
    num_beams: int = 1
    max_new_tokens: int = 64
    seed: int = 0

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def of(cls, values: dict[str, Any]) -> "GenerationParams":
        """The parameters in `values` (other keys ignored), checked. Raises UsageError naming the bad one."""
        chosen = {name: values[name] for name in cls.names() if name in values and values[name] is not None}
        for name, value in chosen.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UsageError(f"generation parameter {name}={value!r}: expected a number")
        params = cls(**chosen)
        params.validate()
        return params

    def validate(self) -> None:
        checks = [
            ("temperature", self.temperature >= 0, ">= 0 (0 is greedy)"),
            ("top_k", self.top_k >= 0 and float(self.top_k).is_integer(), "an integer >= 0 (0 turns it off)"),
            ("top_p", 0 < self.top_p <= 1, "in (0, 1] (1 turns it off)"),
            ("tfs", 0 < self.tfs <= 1, "in (0, 1] (1 turns it off)"),
            ("top_a", 0 <= self.top_a <= 1, "in [0, 1] (0 turns it off)"),
            ("repetition_penalty", self.repetition_penalty > 0, "> 0 (1 turns it off)"),
            ("no_repeat_ngram_size", self.no_repeat_ngram_size >= 0 and float(self.no_repeat_ngram_size).is_integer(),
             "an integer >= 0 (0 turns it off)"),
            ("num_beams", self.num_beams >= 1 and float(self.num_beams).is_integer(), "an integer >= 1"),
            ("max_new_tokens", self.max_new_tokens >= 1 and float(self.max_new_tokens).is_integer(), "an integer >= 1"),
            ("seed", float(self.seed).is_integer(), "an integer"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise UsageError(f"generation parameter {name}={getattr(self, name)!r}: expected {expected}")

    @property
    def sampling(self) -> bool:
        return self.temperature > 0

    def changed(self) -> dict[str, Any]:
        """The parameters not at their default (seed and max_new_tokens left out: every backend applies them)."""
        default = GenerationParams()
        return {name: value for name, value in asdict(self).items()
                if name not in ("seed", "max_new_tokens") and value != getattr(default, name)}
