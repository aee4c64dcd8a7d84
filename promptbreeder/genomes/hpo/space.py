"""Hyperparameter search spaces: validated specs, sampling, checking/repairing configs, unit-cube maps.

Contract
- A spec is a JSON object `{"name": {"type": "float"|"int"|"categorical", "low", "high", "log", "choices"}}`.
  `SearchSpace.from_spec` checks it against `daycare/schemas/search_space.schema.json` and then semantically
  (finite bounds, low < high, log needs low > 0, int bounds integral, distinct choices). Every problem is a
  `SearchSpaceError(path, message)` whose `.path` is a JSON path such as `$.lr.low` (the root is
  configurable so that a caller can report `$.search_space.lr.low`).
- A config is a plain dict `{name: value}` with exactly the space's names; `problems(config)` lists every
  way it is invalid (empty when valid). `coerce` turns loose values (LLM text such as "0.01", "true",
  "12.0") into a valid config, clipping numbers into range, or returns None when that is impossible.
- Parameter order is the spec's order and is used everywhere (sampling, unit vectors, formatting, keys), so
  all outputs are stable for a given spec.
- Int ranges are inclusive. `log=True` means log-uniform sampling and log-scaled unit coordinates.
"""

from __future__ import annotations

import json
import math
import numbers
import random
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import jsonschema

from promptbreeder.jsonio import describe_schema_error, json_path, one_line, schema

KINDS = ("float", "int", "categorical")
_FAIL = object()  # sentinel: a value that cannot be coerced (None is a legal categorical choice)


class SearchSpaceError(ValueError):
    """An invalid search-space spec or config. `.path` is a JSON path (`$.lr.low`), `.message` the expectation."""

    def __init__(self, path: str, message: str):
        self.path, self.message = path, one_line(message)
        super().__init__(f"at {path}: {self.message}")


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "float" | "int" | "categorical"
    low: float | None = None  # float/int
    high: float | None = None
    log: bool = False  # float/int on a log scale (low > 0 required)
    choices: tuple = ()  # categorical: str/int/float/bool/None values


def _fmt(value: float) -> str:
    """Bounds for people and prompts: 6 significant digits (`1e-05`, `0.1`, `1000`)."""
    return f"{value:.6g}"


def _real(value: Any) -> bool:
    # bool is an int subclass, but True is never a meaningful learning rate.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _short(value: Any) -> str:
    text = json.dumps(value, default=repr) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _same(a: Any, b: Any) -> bool:
    """Typed equality for choices: True is not 1 and "1" is not 1 (plain `==` would merge them)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (bool, str)) or isinstance(b, (bool, str)):
        return type(a) is type(b) and a == b
    return _real(a) and _real(b) and a == b


def _canon(value: Any) -> str:
    """Text form used to match loose input to choices: "True"/true -> "true", "1"/1/1.0 -> "1.0", "None" -> "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if _real(value):
        return repr(float(value))
    text = str(value).strip().strip("'\"`").strip()
    lowered = text.lower()
    if lowered in ("none", "null"):
        return "null"
    if lowered in ("true", "false"):
        return lowered
    try:
        return repr(float(text))
    except ValueError:
        return lowered


def _number(value: Any) -> float | None:
    """A finite float from a number or numeric text, else None (bools and NaN/inf are not numbers here)."""
    if isinstance(value, bool):
        return None
    if _real(value):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().strip("'\"`").strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _check_param(p: Param, root: str) -> None:
    """Semantic checks shared by `from_spec` and direct construction; raises the first problem."""
    at = lambda *parts: json_path([p.name, *parts], root)  # noqa: E731
    if p.kind not in KINDS:
        raise SearchSpaceError(at("type"), f"expected one of {', '.join(KINDS)} (got {_short(p.kind)})")
    if p.kind == "categorical":
        if not p.choices:
            raise SearchSpaceError(at("choices"), "expected a non-empty list of choices")
        seen: dict[str, int] = {}
        for i, choice in enumerate(p.choices):
            if not (choice is None or isinstance(choice, (str, bool)) or _real(choice)):
                raise SearchSpaceError(at("choices", i), f"expected a string, number, boolean or null (got {choice!r})")
            if _real(choice) and not math.isfinite(choice):
                raise SearchSpaceError(at("choices", i), f"expected a finite number (got {choice!r})")
            # Choices must differ as text too: LLM output is text, so "1" and 1 could not be told apart.
            canon = _canon(choice)
            if canon in seen:
                raise SearchSpaceError(
                    at("choices", i),
                    f"expected distinct choices ({_short(choice)} is the same as choices[{seen[canon]}] as text)",
                )
            seen[canon] = i
        return
    for bound in ("low", "high"):
        value = getattr(p, bound)
        if not _real(value) or not math.isfinite(value):
            raise SearchSpaceError(at(bound), f"expected a finite number (got {_short(value)})")
        if p.kind == "int" and float(value) != int(value):
            raise SearchSpaceError(at(bound), f"expected a whole number for an int parameter (got {_short(value)})")
    if not p.low < p.high:
        raise SearchSpaceError(at("high"), f"expected high > low (got low={_fmt(p.low)}, high={_fmt(p.high)})")
    if p.log and p.low <= 0:
        raise SearchSpaceError(at("low"), f"expected low > 0 because log is true (got {_fmt(p.low)})")


def _param_from_spec(name: str, entry: dict[str, Any], root: str) -> Param:
    kind = entry["type"]
    # The schema cannot say "choices only for categorical" readably, so keys of the other kind are caught here.
    wrong = ("low", "high", "log") if kind == "categorical" else ("choices",)
    for key in wrong:
        if key in entry:
            raise SearchSpaceError(
                json_path([name, key], root), f"expected no {key!r} for a {kind} parameter (got {_short(entry[key])})"
            )
    if kind == "categorical":
        return Param(name, kind, choices=tuple(entry["choices"]))
    low, high = entry["low"], entry["high"]
    if kind == "int":
        for bound, value in (("low", low), ("high", high)):
            if not (math.isfinite(value) and float(value).is_integer()):
                raise SearchSpaceError(
                    json_path([name, bound], root), f"expected a whole number for an int parameter (got {_short(value)})"
                )
        low, high = int(low), int(high)
    return Param(name, kind, low=low, high=high, log=bool(entry.get("log", False)))


class SearchSpace:
    """An ordered tuple of `Param`s; see the module docstring for the contract."""

    def __init__(self, params: Sequence[Param], root: str = "$"):
        self.params: tuple[Param, ...] = tuple(params)
        if not self.params:
            raise SearchSpaceError(root, "expected at least one parameter")
        names = [p.name for p in self.params]
        for p in self.params:
            if not isinstance(p.name, str) or not p.name.isidentifier():
                raise SearchSpaceError(json_path([str(p.name)], root), "expected a parameter name that is a Python identifier")
            if names.count(p.name) > 1:
                raise SearchSpaceError(json_path([p.name], root), "expected distinct parameter names")
            _check_param(p, root)
        self._by_name = {p.name: p for p in self.params}

    @classmethod
    def from_spec(cls, spec: dict, root: str = "$") -> "SearchSpace":
        """Validate `spec` (schema, then semantics) and build the space; paths start at `root`."""
        if not isinstance(spec, Mapping):
            raise SearchSpaceError(root, f"expected an object mapping parameter names to definitions (got {_short(spec)})")
        if not spec:
            raise SearchSpaceError(root, "expected at least one parameter (the search space is empty)")
        for name in spec:
            # Checked before the schema because a propertyNames error would only point at the whole object.
            if not isinstance(name, str) or not name.isidentifier():
                raise SearchSpaceError(json_path([str(name)], root), "expected a parameter name that is a Python identifier")
        validator = jsonschema.Draft202012Validator(schema("search_space"))
        error = jsonschema.exceptions.best_match(validator.iter_errors(dict(spec)))
        if error is not None:
            parts, expected = describe_schema_error(error)
            raise SearchSpaceError(json_path(parts, root), expected)
        return cls([_param_from_spec(name, entry, root) for name, entry in spec.items()], root=root)

    def to_spec(self) -> dict:
        spec: dict[str, Any] = {}
        for p in self.params:
            if p.kind == "categorical":
                spec[p.name] = {"type": p.kind, "choices": list(p.choices)}
            else:
                spec[p.name] = {"type": p.kind, "low": p.low, "high": p.high, "log": p.log}
        return spec

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def __len__(self) -> int:
        return len(self.params)

    def __repr__(self) -> str:
        return f"SearchSpace.from_spec({self.to_spec()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.params == other.params

    def __hash__(self) -> int:
        return hash(self.params)

    def sample(self, rng: random.Random) -> dict:
        """One config drawn uniformly (log-uniformly where `log`); int bounds inclusive."""
        config: dict[str, Any] = {}
        for p in self.params:
            if p.kind == "categorical":
                config[p.name] = p.choices[rng.randrange(len(p.choices))]
            elif p.kind == "float":
                if p.log:
                    value = math.exp(rng.uniform(math.log(p.low), math.log(p.high)))
                else:
                    value = rng.uniform(p.low, p.high)
                config[p.name] = min(max(value, p.low), p.high)  # exp/log round-off may step just outside
            elif p.log:
                # Log-uniform over [low, high + 1) then floor: each integer gets the mass of its log-interval.
                value = math.exp(rng.uniform(math.log(p.low), math.log(p.high + 1)))
                config[p.name] = min(max(int(math.floor(value)), p.low), p.high)
            else:
                config[p.name] = rng.randint(p.low, p.high)
        return config

    def _expected(self, p: Param) -> str:
        if p.kind == "categorical":
            return f"one of {json.dumps(list(p.choices))}"
        return f"{'a float' if p.kind == 'float' else 'an int'} in [{_fmt(p.low)}, {_fmt(p.high)}]"

    def _issues(self, config: Any) -> Iterator[tuple[str | None, str]]:
        if not isinstance(config, Mapping):
            yield None, f"expected an object of hyperparameters (got {_short(config)})"
            return
        for p in self.params:
            if p.name not in config:
                yield p.name, f"{p.name}: missing (expected {self._expected(p)})"
                continue
            value = config[p.name]
            if p.kind == "categorical":
                ok = any(_same(value, c) for c in p.choices)
            elif p.kind == "float":
                ok = _real(value) and math.isfinite(value) and p.low <= value <= p.high
            else:
                ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and p.low <= value <= p.high
            if not ok:
                yield p.name, f"{p.name}: expected {self._expected(p)} (got {_short(value)})"
        for key in config:
            if key not in self._by_name:
                yield str(key), f"{key}: unknown hyperparameter (expected only {', '.join(self.names)})"

    def problems(self, config: dict) -> list[str]:
        """Every reason `config` is invalid, one short line each (fit to show an LLM); [] when valid."""
        return [message for _, message in self._issues(config)]

    def _require_valid(self, config: dict) -> None:
        for name, message in self._issues(config):
            raise SearchSpaceError(json_path([name] if name else []), message)

    def coerce(self, raw: dict) -> dict | None:
        """A valid config from loose values, clipping numbers into range; None when impossible.

        Keys outside the space are dropped (an LLM may add commentary fields); a missing key, a non-numeric
        value for a number, or a value matching no choice makes the whole config impossible.
        """
        if not isinstance(raw, Mapping):
            return None
        config: dict[str, Any] = {}
        for p in self.params:
            if p.name not in raw:
                return None
            value = self._coerce_value(p, raw[p.name])
            if value is _FAIL:
                return None
            config[p.name] = value
        return config

    def _coerce_value(self, p: Param, value: Any) -> Any:
        if p.kind == "categorical":
            for choice in p.choices:
                if _same(value, choice):
                    return choice
            canon = _canon(value)
            return next((c for c in p.choices if _canon(c) == canon), _FAIL)
        number = _number(value)
        if number is None:
            return _FAIL
        if p.kind == "int":
            return int(min(max(round(number), p.low), p.high))
        return float(min(max(number, p.low), p.high))

    def to_unit(self, config: dict) -> list[float]:
        """Each parameter mapped to [0, 1] (log-scaled where `log`); raises SearchSpaceError if invalid."""
        self._require_valid(config)
        vector = []
        for p in self.params:
            value = config[p.name]
            if p.kind == "categorical":
                n = len(p.choices)
                index = next(i for i, c in enumerate(p.choices) if _same(value, c))
                vector.append(0.5 if n == 1 else index / (n - 1))
            elif p.log:
                vector.append((math.log(value) - math.log(p.low)) / (math.log(p.high) - math.log(p.low)))
            else:
                vector.append((value - p.low) / (p.high - p.low))
        return vector

    def from_unit(self, vector: Sequence[float]) -> dict:
        """The config at `vector` (coordinates clipped to [0, 1]; ints rounded; categoricals nearest index)."""
        if len(vector) != len(self.params):
            raise SearchSpaceError("$", f"expected a vector of {len(self.params)} numbers (got {len(vector)})")
        config: dict[str, Any] = {}
        for i, (p, u) in enumerate(zip(self.params, vector)):
            if not _real(u) or math.isnan(u):
                raise SearchSpaceError(f"$[{i}]", f"expected a number in [0, 1] (got {_short(u)})")
            u = min(max(float(u), 0.0), 1.0)
            if p.kind == "categorical":
                n = len(p.choices)
                config[p.name] = p.choices[min(int(round(u * (n - 1))), n - 1)]
                continue
            if p.log:
                value = math.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low)))
            else:
                value = p.low + u * (p.high - p.low)
            if p.kind == "int":
                config[p.name] = int(min(max(round(value), p.low), p.high))
            else:
                config[p.name] = min(max(value, p.low), p.high)
        return config

    def describe(self) -> str:
        """One line per parameter, for LLM prompts: `- lr: float in [1e-05, 0.1], log scale`."""
        lines = []
        for p in self.params:
            if p.kind == "categorical":
                lines.append(f"- {p.name}: categorical, one of {json.dumps(list(p.choices))}")
            else:
                lines.append(f"- {p.name}: {p.kind} in [{_fmt(p.low)}, {_fmt(p.high)}]" + (", log scale" if p.log else ""))
        return "\n".join(lines)

    def _normalise(self, config: Mapping, digits: int) -> dict[str, Any]:
        """Space-ordered values with floats at `digits` significant digits and integral ints as int."""
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name not in config:
                continue
            value = config[p.name]
            if p.kind == "categorical":
                value = next((c for c in p.choices if _same(value, c)), value)
            elif p.kind == "int" and _real(value) and math.isfinite(value) and float(value).is_integer():
                value = int(value)
            elif p.kind == "float" and _real(value) and math.isfinite(value):
                value = float(f"{float(value):.{digits}g}")
            out[p.name] = value
        return out

    def format_config(self, config: dict) -> str:
        """Compact JSON in space order, floats at 4 significant digits: `{"lr": 0.001234, "depth": 7}`.

        JSON because prompts ask the LLM to answer in JSON; keys outside the space are left out.
        """
        return json.dumps(self._normalise(config, 4), default=repr)

    def key(self, config: dict) -> str:
        """Canonical string for de-duplication/caching: space order, floats at 10 significant digits.

        10 digits merges values that differ only by float round-off (e.g. a unit-cube round trip) but keeps
        any difference a person or an LLM would write. Keys outside the space are ignored.
        """
        return json.dumps(self._normalise(config, 10), separators=(",", ":"), default=repr)
