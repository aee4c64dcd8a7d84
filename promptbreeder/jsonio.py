"""Reading day care JSON / JSONL files and checking them against the package's schemas.

Every problem becomes a one-line `DayCareError(file, where, expected)`; nothing here lets a raw
JSONDecodeError, OSError or jsonschema error escape, so the CLI never shows a traceback for bad input.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any, Iterable, Iterator

import jsonschema

from promptbreeder.errors import DayCareError

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NEWLINES = re.compile(r"\s*[\r\n]+\s*")


def one_line(text: Any) -> str:
    """`text` with line breaks folded to spaces: a DayCareError message is always a single line."""
    return _NEWLINES.sub(" ", str(text)).strip()


def fail(file: Any, where: str, expected: str) -> DayCareError:
    return DayCareError(file, one_line(where), one_line(expected))


def json_path(parts: Iterable[Any], root: str = "$") -> str:
    """`['a', 'b', 3]` -> `$.a.b[3]` (keys that are not identifiers are quoted: `$['a b']`)."""
    out = root
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(str(part)):
            out += f".{part}"
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


@functools.lru_cache(maxsize=None)
def _schema(name: str) -> dict[str, Any]:
    with open(SCHEMA_DIR / f"{name}.schema.json", encoding="utf-8") as handle:
        return json.load(handle)


def schema(name: str) -> dict[str, Any]:
    """A deep copy of package schema `schemas/<name>.schema.json` (callers may specialise it)."""
    return copy.deepcopy(_schema(name))


def schema_names() -> list[str]:
    return sorted(p.name[: -len(".schema.json")] for p in SCHEMA_DIR.glob("*.schema.json"))


def check(instance: Any, schema_dict: dict[str, Any], file: Any, root: str = "$", prefix: Iterable[Any] = ()) -> None:
    """Raise a DayCareError for the most relevant schema violation of `instance`, if any."""
    validator = jsonschema.Draft202012Validator(schema_dict)
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        parts, expected = describe_schema_error(error)
        raise fail(file, json_path([*prefix, *parts], root), expected)


def read_text(path: Path, what: str, encoding: str = "utf-8") -> str:
    """A file's text; a missing, unreadable or non-UTF-8 file is a one-line DayCareError naming `what`."""
    if not path.exists():
        raise fail(path, "$", f"expected {what} (file not found)")
    if not path.is_file():
        raise fail(path, "$", f"expected {what} (it is a folder, not a file)")
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise fail(path, f"byte {exc.start}", f"expected UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise fail(path, "$", f"expected a readable file ({exc.strerror or exc})") from None


def read_json(path: Path, what: str = "a JSON file") -> Any:
    """Parse a whole JSON file; syntax errors name line and column."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(path, f"line {exc.lineno}, column {exc.colno}", f"expected valid JSON ({exc.msg})") from None


def read_jsonl(path: Path, what: str = "a JSONL file") -> Iterator[tuple[int, Any]]:
    """`(line_number, value)` for each non-blank line of a JSON Lines file."""
    text = read_text(path, what)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise fail(
                path, f"line {number}, column {exc.colno}", f"expected one JSON value per line ({exc.msg})"
            ) from None


def read_examples(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """The examples of a suite file as `(where, example)`; `where` is `$[i]` (.json) or `line n, $` (.jsonl).

    Only the container is checked here (a list of objects); the loader checks each example's fields.
    """
    what = "a fitness test suite (a JSON list or JSONL of examples)"
    if path.suffix == ".jsonl":
        rows = [(f"line {n}, $", value) for n, value in read_jsonl(path, what)]
    else:
        data = read_json(path, what)
        if not isinstance(data, list):
            kind = "an object" if isinstance(data, dict) else type(data).__name__
            raise fail(path, "$", f"expected a JSON list of example objects (got {kind})")
        rows = [(f"$[{i}]", value) for i, value in enumerate(data)]
    if not rows:
        raise fail(path, "$", "expected at least one example (the suite is empty)")
    for where, value in rows:
        if not isinstance(value, dict):
            raise fail(path, where, f"expected an example object (got {json.dumps(value)[:60]})")
    return rows


# -- wording schema errors for people ------------------------------------------------------------


def short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_schema_error(error: jsonschema.ValidationError) -> tuple[list[Any], str]:
    """`(json_path_parts, expectation)` for one jsonschema error, worded for people, one line."""
    path = list(error.absolute_path)
    kind, value, got = error.validator, error.validator_value, error.instance
    if kind == "required":
        props = error.schema.get("properties", {})
        missing = next((k for k in value if isinstance(got, dict) and k not in got), value[0])
        desc = props.get(missing, {}).get("description")
        return path + [missing], f"expected required field {missing!r}{f' ({desc})' if desc else ''}, but it is missing"
    if kind == "additionalProperties" and isinstance(got, dict):
        allowed = list(error.schema.get("properties", {}))
        extra = sorted(k for k in got if k not in allowed)
        key = extra[0] if extra else "?"
        return path + [key], f"expected one of the allowed keys {', '.join(allowed)} (got unknown key {key!r})"
    if kind == "type":
        names = value if isinstance(value, list) else [value]
        words = {"string": "a string", "integer": "an integer", "number": "a number", "object": "an object",
                 "array": "a list", "boolean": "true or false", "null": "null"}
        return path, f"expected {' or '.join(words.get(n, n) for n in names)} (got {_json_type(got)} {short_repr(got)})"
    if kind == "pattern":
        hint = error.schema.get("description") or f"a string matching {value}"
        return path, f"expected {hint} (got {short_repr(got)})"
    if kind in _EXPECTATIONS:
        return path, _EXPECTATIONS[kind](value, got)
    return path, f"expected {error.schema.get('description') or 'a valid value'} ({error.message})"


_COMPARISONS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
# validator -> the expectation, from the schema's value and the instance it rejected
_EXPECTATIONS: dict[str, Any] = {
    "enum": lambda value, got: f"expected one of {', '.join(map(str, value))} (got {short_repr(got)})",
    "const": lambda value, got: f"expected {short_repr(value)} (got {short_repr(got)})",
    "minLength": lambda value, got: f"expected a string of at least {value} character(s) (got {short_repr(got)})",
    "minItems": lambda value, got: f"expected a list of at least {value} item(s) (got {len(got)})",
    "maxItems": lambda value, got: f"expected a list of at most {value} item(s) (got {len(got)})",
    "uniqueItems": lambda value, got: f"expected distinct items (got duplicates in {short_repr(got)})",
    **{kind: (lambda op: lambda value, got: f"expected a value {op} {value} (got {short_repr(got)})")(op)
       for kind, op in _COMPARISONS.items()},
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "object"}.get(
        type(value), type(value).__name__
    )
