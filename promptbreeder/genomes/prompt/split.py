"""Train / held-out split of a fitness suite.

Evolution only ever sees the training side; the held-out side scores the final prompts, so the report
measures how well they generalise rather than how well they fit the batches they were selected on.
"""

from __future__ import annotations

import random
from typing import Any, Sequence

from promptbreeder.errors import UsageError


def train_heldout_split(suite: Sequence[dict[str, Any]], heldout_fraction: float,
                        seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split `suite` into (train, heldout), the same way every time for the same seed.

    Held-out gets round(len * fraction) examples, but at least one on each side when the suite has two
    or more; a single example trains and nothing is held out. Both sides keep the suite's order.
    """
    if not 0.0 <= heldout_fraction < 1.0:
        raise UsageError(f"heldout_fraction must be in [0, 1), got {heldout_fraction}")
    examples = list(suite)
    if len(examples) < 2:
        return examples, []
    wanted = min(max(round(len(examples) * heldout_fraction), 1), len(examples) - 1)
    # a string seed of its own, so the split never shares draws with the engine's RNG (same int seed)
    indices = list(range(len(examples)))
    random.Random(f"heldout-split:{seed}").shuffle(indices)
    held = set(indices[:wanted])
    train = [e for i, e in enumerate(examples) if i not in held]
    heldout = [e for i, e in enumerate(examples) if i in held]
    return train, heldout
