"""RNG states as JSON, so a snapshot carries them and a continued run draws the same numbers."""

from __future__ import annotations

import random
from typing import Any


def dump_random(rng: random.Random) -> list[Any]:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def load_random(state: list[Any]) -> random.Random:
    rng = random.Random()
    rng.setstate((state[0], tuple(state[1]), state[2]))
    return rng
