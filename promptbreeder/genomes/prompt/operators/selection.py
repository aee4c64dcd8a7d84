"""Operator selection policies: how the engine picks the mutation operator for each child
(`--operator_selection`). The contract of a policy:

    choose(names, stats, rng, avoid) -> name

- `names`: the registered mutation operators, non-empty, in their fixed order (operators/registry.py);
- `stats`: the run's per-operator statistics, name -> {"used", "failed", "beat_parent"} (kept by
  `engine.mutation.Mutator` and saved in every snapshot as "operator_stats"); an operator never used may
  be missing; a policy only reads it;
- `rng`: the run's `random.Random`, the only source of randomness (never the global one), so the choice
  is reproducible from the RNG state saved with the run;
- `avoid`: a name not to return when another one exists (a failed job's retry uses another operator).

It returns one of `names`. A policy's state is `stats` plus the RNG, both in the run state, so a
continued run continues the same policy. Debug mode does not ask a policy: it cycles in turn.
Policies are registered by name in `POLICIES`; `get_policy` lists them for an unknown name.
"""

from __future__ import annotations

import random
from typing import Callable, Mapping, Sequence

from promptbreeder.errors import UsageError

Stats = Mapping[str, Mapping[str, int]]
Policy = Callable[[Sequence[str], Stats, random.Random, "str | None"], str]


def _candidates(names: Sequence[str], avoid: str | None) -> list[str]:
    return [n for n in names if n != avoid] or list(names)


def uniform(names: Sequence[str], stats: Stats, rng: random.Random, avoid: str | None = None) -> str:
    """Every operator equally likely (one `rng.choice`: what runs did before the option existed)."""
    return rng.choice(_candidates(names, avoid))


def thompson(names: Sequence[str], stats: Stats, rng: random.Random, avoid: str | None = None) -> str:
    """A Bernoulli bandit, reward "the child beat its parent": Thompson sampling.

    Each candidate draws from its Beta(1 + beat_parent, 1 + used - beat_parent) posterior (in `names`
    order, one `rng.betavariate` each) and the highest draw wins. An untried operator draws from
    Beta(1, 1), the uniform distribution, so it keeps being explored until its record says otherwise.
    """
    best, best_draw = None, -1.0
    for name in _candidates(names, avoid):
        stat = stats.get(name) or {}
        used = max(int(stat.get("used", 0)), 0)
        beat = min(max(int(stat.get("beat_parent", 0)), 0), used)
        draw = rng.betavariate(1 + beat, 1 + used - beat)
        if draw > best_draw:
            best, best_draw = name, draw
    return best


POLICIES: dict[str, Policy] = {"uniform": uniform, "bandit": thompson}


def get_policy(name: str) -> Policy:
    """The policy registered as `name`. Raises UsageError listing the available ones."""
    if name not in POLICIES:
        raise UsageError(f"unknown operator selection policy {name!r}; available: {', '.join(POLICIES)}")
    return POLICIES[name]
