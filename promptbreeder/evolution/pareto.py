"""Pareto selection over per-example scores (GEPA, Agrawal et al. 2025): a unit that is the best on some
examples is kept as a parent even when its mean is lower, so the population keeps the different ways of
being right that a single mean would average away.

Every unit is scored on the same fixed examples, giving it a vector of per-example scores. A unit is on
the frontier when it has the best score on at least one example that some unit got at least partly right
(an example no unit scores on says nothing about anyone) and no other unit dominates it (as good on every
example and better on one). Of units with identical vectors only the first counts, so copies do not
multiply a parent's chances. Parents are drawn in proportion to the number of examples each frontier unit
is best on; children replace units off the frontier first, the lowest mean first.

Pure functions of the scores and the RNG passed in: the engine (`breeder.py`) keeps the state.
"""

from __future__ import annotations

import random
from typing import Sequence


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """`a` is at least as good as `b` on every example and better on one."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def non_dominated(points: dict[str, Sequence[float]]) -> list[str]:
    """The ids, in `points` order, whose point (every coordinate: higher is better) no other point
    dominates; of identical points only the first."""
    distinct: dict[tuple[float, ...], str] = {}
    for unit_id, point in points.items():
        distinct.setdefault(tuple(point), unit_id)
    return [i for p, i in distinct.items() if not any(dominates(q, p) for q in distinct if q != p)]


def frontier(scores: dict[str, Sequence[float]]) -> dict[str, int]:
    """Frontier unit id -> number of examples it is best on (see the module docstring), in `scores` order.

    `scores` maps unit ids to equally long per-example vectors; its order decides which of identical
    vectors counts. Empty when no unit scores on any example.
    """
    if not scores:
        return {}
    kept = non_dominated(scores)
    wins = {unit_id: 0 for unit_id in kept}
    for example in range(len(next(iter(scores.values())))):
        best = max(v[example] for v in scores.values())
        if best <= 0:
            continue
        for unit_id in kept:
            if scores[unit_id][example] == best:
                wins[unit_id] += 1
    return {unit_id: n for unit_id, n in wins.items() if n > 0}


def replaceable(fitness: dict[str, float], front: dict[str, int], protected: set[str], births: int) -> list[str]:
    """Up to `births` ids to replace, in order: units off the frontier, lowest mean first; then, only while
    that gave none (every unit on the frontier: evolution must go on), the frontier unit best on the fewest
    examples. `protected` ids (the elite) are never replaced."""
    off = sorted((i for i in fitness if i not in front and i not in protected), key=lambda i: (fitness[i], i))
    if off:
        return off[:births]
    on = sorted((i for i in fitness if i in front and i not in protected), key=lambda i: (front[i], fitness[i], i))
    return on[:min(births, 1)]


def draw_parents(front: dict[str, int], fallback: Sequence[str], k: int, rng: random.Random) -> list[str]:
    """`k` parent ids drawn with replacement in proportion to their frontier counts; uniformly from
    `fallback` when the frontier is empty (no unit scored on any example yet)."""
    if front:
        ids = list(front)
        return rng.choices(ids, weights=[front[i] for i in ids], k=k)
    return [fallback[rng.randrange(len(fallback))] for _ in range(k)]
