"""Operators by name: `OPERATORS` (name -> Operator class), `POST_MUTATION` (name -> function applied to
a child after its mutation) and the fixed order of the mutation operators the engine chooses among.

Operator modules register themselves with `@register`; the imports at the bottom load the built-in
ones, so importing this module is enough to see them all.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Sequence, TypeVar

from promptbreeder.errors import UsageError

# The engine draws from these (uniformly, or by `operator_selection`) and debug mode cycles through them
# in this order, so the order is part of what makes a seeded run reproducible: do not derive it from
# import order.
MUTATION_OPERATORS = (
    "zero_order",
    "first_order",
    "eda",
    "eda_rank_index",
    "lineage",
    "zero_order_hyper",
    "first_order_hyper",
    "lamarckian",
)
# beyond the paper, each turned on by a run setting; drawn after the paper's, in this order
OPTIONAL_OPERATORS = ("reflective", "merge")
POST_MUTATION_RATE = 0.1  # chance the engine applies each post-mutation step to a child (the paper's rate)

OPERATORS: "OrderedDict[str, type]" = OrderedDict()
POST_MUTATION: "OrderedDict[str, Callable]" = OrderedDict()

T = TypeVar("T")


def _rank(name: str) -> int:
    # others (init, any plug-in) follow the mutation operators in registration order: sorted() is stable
    order = MUTATION_OPERATORS + OPTIONAL_OPERATORS
    return order.index(name) if name in order else len(order)


def register(cls: T) -> T:
    """Class decorator: make the operator available as `get_operator(cls.name)`."""
    name = getattr(cls, "name", "")
    if not name:
        raise TypeError(f"{cls.__name__} must set a non-empty `name` to be registered")
    existing = OPERATORS.get(name)
    if existing is not None and existing is not cls:
        raise TypeError(f"operator {name!r} is already registered by {existing.__name__}")
    OPERATORS[name] = cls
    # keep the listing in the canonical order whichever operator module happened to load first
    for key in sorted(OPERATORS, key=_rank):
        OPERATORS.move_to_end(key)
    return cls


def register_post_mutation(name: str) -> Callable[[T], T]:
    """Function decorator: make `fn(child, population, rng) -> Unit` available as `POST_MUTATION[name]`."""

    def decorate(fn: T) -> T:
        existing = POST_MUTATION.get(name)
        if existing is not None and existing is not fn:
            raise TypeError(f"post-mutation step {name!r} is already registered")
        POST_MUTATION[name] = fn
        return fn

    return decorate


def operator_names() -> list[str]:
    return list(OPERATORS)


def mutation_operator_names(optional: Sequence[str] = ()) -> list[str]:
    """The mutation operators, in the fixed order the engine's choice and debug mode's cycle use: the
    paper's, then those of `optional` (names from OPTIONAL_OPERATORS) in that tuple's order."""
    unknown = [name for name in optional if name not in OPTIONAL_OPERATORS]
    if unknown:
        raise UsageError(f"unknown optional operator {unknown[0]!r}; available: {', '.join(OPTIONAL_OPERATORS)}")
    return list(MUTATION_OPERATORS) + [name for name in OPTIONAL_OPERATORS if name in optional]


def get_operator(name: str):
    """An instance of operator `name`. Raises UsageError listing the known names."""
    if name not in OPERATORS:
        hint = f" ({name!r} is a post-mutation step, see POST_MUTATION)" if name in POST_MUTATION else ""
        raise UsageError(f"unknown operator {name!r}{hint}; available: {', '.join(OPERATORS)}")
    return OPERATORS[name]()


def get_post_mutation(name: str) -> Callable:
    """Post-mutation step `name`. Raises UsageError listing the known names."""
    if name not in POST_MUTATION:
        raise UsageError(f"unknown post-mutation step {name!r}; available: {', '.join(POST_MUTATION)}")
    return POST_MUTATION[name]


# Loaded last: these modules import `register` from here.
from promptbreeder.genomes.prompt.operators import crossover, direct, eda, hyper, init, lamarckian, merge, reflective  # noqa: E402,F401,E501
