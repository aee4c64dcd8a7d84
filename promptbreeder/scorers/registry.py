"""Scorer registry: `fitness_scorer` specs (`{"type": name, ...args}`) to `Scorer` objects.

`spec_problem` is the single place that decides whether a spec is valid; `build_scorer` raises it as a
UsageError and the day care loader as a DayCareError, so both report the same expectation.
"""

from __future__ import annotations

from typing import Any, Callable

import jsonschema

from promptbreeder.errors import UsageError
from promptbreeder.jsonio import describe_schema_error, short_repr
from promptbreeder.scorers.base import Scorer

_REGISTRY: dict[str, type[Scorer]] = {}


def register(cls: type[Scorer]) -> type[Scorer]:
    """Class decorator: make `cls` available as `fitness_scorer.type == cls.type`."""
    if not cls.type:
        raise TypeError(f"{cls.__name__} must set a non-empty `type` to be registered")
    existing = _REGISTRY.get(cls.type)
    if existing is not None and existing is not cls:
        raise TypeError(f"scorer type {cls.type!r} is already registered by {existing.__name__}")
    jsonschema.Draft202012Validator.check_schema(cls.args_schema)
    _REGISTRY[cls.type] = cls
    return cls


def _ensure_builtins() -> None:
    # Importing the module runs its @register decorators; done lazily to avoid an import cycle.
    import promptbreeder.scorers.builtin  # noqa: F401


def available_scorers() -> list[str]:
    _ensure_builtins()
    return sorted(_REGISTRY)


def scorer_class(name: str) -> type[Scorer]:
    _ensure_builtins()
    if name not in _REGISTRY:
        raise UsageError(f"unknown fitness scorer {name!r}; available: {', '.join(available_scorers())}")
    return _REGISTRY[name]


def args_schema(name: str) -> dict[str, Any]:
    """JSON Schema of a whole spec of scorer `name` (its args plus the `type` key), no extra keys allowed."""
    schema = scorer_class(name).args_schema
    return {
        **schema,
        "type": "object",
        "properties": {"type": {"const": name}, **schema.get("properties", {})},
        "additionalProperties": False,
    }


def spec_problem(spec: Any) -> tuple[list[Any], str] | None:
    """Why `spec` is not a valid `fitness_scorer` value: `(path_below_spec, expectation)`, or None."""
    if not isinstance(spec, dict):
        return [], f"expected an object like {{\"type\": \"exact_match\"}} (got {short_repr(spec)})"
    if "type" not in spec:
        return ["type"], f"expected required field 'type', one of {', '.join(available_scorers())}"
    name = spec["type"]
    if not isinstance(name, str) or name not in available_scorers():
        return ["type"], f"expected one of {', '.join(available_scorers())} (got {short_repr(name)})"
    validator = jsonschema.Draft202012Validator(args_schema(name))
    error = jsonschema.exceptions.best_match(validator.iter_errors(spec))
    if error is not None:
        return describe_schema_error(error)
    args = {k: v for k, v in spec.items() if k != "type"}
    problem = scorer_class(name).check_args(args)
    if problem is not None:
        return [problem[0]], problem[1]
    return None


def build_scorer(
    spec: dict[str, Any],
    task_name: str,
    backend: Any = None,
    query_lookup: Callable[[str], str] | None = None,
) -> Scorer:
    """A scorer for `spec` (`{"type": name, ...args}`). Raises UsageError naming the bad type or argument.

    `backend` is needed only by scorers that call a model (llm_rubric), and only when they score.
    `query_lookup(name) -> query text` lets a day care override the queries such scorers send.
    """
    problem = spec_problem(spec)
    if problem is not None:
        where, expected = problem
        arg = ".".join(map(str, where)) or "fitness_scorer"
        label = spec.get("type") if isinstance(spec, dict) else None
        expected = " ".join(expected.splitlines())  # user code can raise multi-line import errors
        raise UsageError(f"fitness scorer {label or ''}{' ' if label else ''}argument {arg}: {expected}")
    args = {k: v for k, v in spec.items() if k != "type"}
    cls = scorer_class(spec["type"])
    if query_lookup is not None and getattr(cls, "uses_queries", False):
        args["query_lookup"] = query_lookup
    return cls(task_name, backend, **args)
