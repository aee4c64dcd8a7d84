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
from promptbreeder.scorers.registry import describe_schema_error

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
