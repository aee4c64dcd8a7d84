"""Rows of a record file (a JSON object per line, a CSV row, a datasets row) to `Record`s.

The user names the input, target and optional choices fields. Without a name, a field literally called
`input` / `target` / `choices` is used (BIG-bench's and the day care's own spelling); otherwise the error
lists the fields the file has, so the user can pick. A target may be given as the choice's text, its
index (datasets store class labels as integers) or its letter (A, B, ... as in many exam sets).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from promptbreeder.jsonio import fail, json_path
from promptbreeder.importers.base import ImportOptions, Record, short

Locate = Callable[[str, str], str]  # (row's where, field name) -> where of that field


def json_field(where: str, name: str) -> str:
    """"line 3" + "answer" -> "line 3, $.answer"; "$[2]" + "answer" -> "$[2].answer"."""
    return json_path([name], where if where.startswith("$") else f"{where}, $")


@dataclass(frozen=True)
class FieldNames:
    input: str
    target: str | None  # None only with a choices field whose values carry scores
    choices: str | None

    def describe(self, word: str) -> str:
        parts = [f"input from {word} {self.input!r}"]
        if self.target:
            parts.append(f"gold from {word} {self.target!r}")
        if self.choices:
            parts.append(f"choices from {word} {self.choices!r}")
        return ", ".join(parts)


def resolve_fields(columns: Iterable[str], options: ImportOptions, file: Path, where: str, word: str = "field"
                   ) -> FieldNames:
    """Which fields to read, checked against the first row's `columns`. Raises DayCareError."""
    columns = list(columns)
    listed = ", ".join(repr(c) for c in columns) or "(none)"

    def pick(flag: str, given: str | None, default: str, role: str, required: bool) -> str | None:
        if given is not None:
            if given not in columns:
                raise fail(file, where, f"expected a {word} named {given!r} ({flag}); the {word}s are {listed}")
            return given
        if default in columns:
            return default
        if required:
            raise fail(file, where, f"expected {flag} naming the {word} that holds {role}; the {word}s are {listed}")
        return None

    choices = pick("--choices_field", options.choices_field, "choices", "the choices", required=False)
    return FieldNames(
        input=pick("--input_field", options.input_field, "input", "the question", required=True),
        # with choices, the right one may instead come from scores ({choice: score}, as BIG-bench writes)
        target=pick("--target_field", options.target_field, "target", "the reference answer", required=not choices),
        choices=choices,
    )


def records_from_rows(rows: Iterable[tuple[str, Any]], file: Path, options: ImportOptions, *,
                      word: str = "field", locate: Locate = json_field, limit: int | None = None,
                      class_labels: dict[str, list[str]] | None = None) -> tuple[list[Record], FieldNames | None]:
    """Records of `(where, row)` pairs (rows are dicts), at most `limit`.

    `class_labels` maps a field to the names of its datasets ClassLabel: when the target field is one,
    its integers become those names, and without a choices field every example gets them as choices.
    """
    records: list[Record] = []
    fields: FieldNames | None = None
    label_names: list[str] | None = None
    for where, row in rows:
        if limit is not None and len(records) >= limit:
            break
        if not isinstance(row, dict):
            raise fail(file, where, f"expected an object of fields (got {short(row)})")
        if fields is None:
            fields = resolve_fields(row, options, file, where, word)
            label_names = (class_labels or {}).get(fields.target or "")
        records.append(_record(row, where, fields, file, options, locate, label_names, word))
    return records, fields


def _field(row: dict, name: str, where: str, file: Path, word: str) -> Any:
    if name not in row:
        present = ", ".join(repr(k) for k in row) or "(none)"
        raise fail(file, where, f"expected a {word} {name!r} (this row has {present})")
    return row[name]


def _record(row: dict, where: str, fields: FieldNames, file: Path, options: ImportOptions, locate: Locate,
            label_names: list[str] | None, word: str) -> Record:
    raw_input = _field(row, fields.input, where, file, word)
    if isinstance(raw_input, bool) or not isinstance(raw_input, (str, int, float)) or not str(raw_input).strip():
        raise fail(file, locate(where, fields.input), f"expected a non-empty input text (got {short(raw_input)})")
    record = Record(input=str(raw_input).strip(), where=where)
    scores: dict[str, float] | None = None
    if fields.choices is not None:
        at = locate(where, fields.choices)
        record.choices, scores = split_choices(_field(row, fields.choices, where, file, word),
                                               options.choices_separator, file, at)
    elif label_names:
        record.choices = list(label_names)
    if fields.target is not None:
        at = locate(where, fields.target)
        target = target_value(_field(row, fields.target, where, file, word), file, at)
        if label_names and isinstance(target, int) and 0 <= target < len(label_names):
            target = label_names[target]  # a ClassLabel integer means its name, not a number
        if record.choices:
            record.choice_target = match_choice(target, record.choices)
            if record.choice_target is None:
                shown = ", ".join(repr(c) for c in record.choices)
                raise fail(file, at, f"expected one of the choices {shown}, or its index or letter (got {short(target)})")
            target = record.choice_target  # an index or letter means that choice's text
        record.target = target
    else:
        record.choice_target = best_scored(scores, file, locate(where, fields.choices or "choices"))
    return record


def target_value(value: Any, file: Path, at: str) -> str | int | float:
    """A reference answer: text (stripped) or a number; of a list, the first (the canonical) answer."""
    if isinstance(value, list):  # several acceptable answers: the first is the canonical one
        value = next((v for v in value if v is not None and str(v).strip()), None)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise fail(file, at, f"expected a non-empty answer text or number (got {short(value)})")


def split_choices(value: Any, separator: str, file: Path, at: str) -> tuple[list[str], dict[str, float] | None]:
    """Choices from a list, a `separator`-joined string or a {choice: score} object (with the scores)."""
    scores = None
    if isinstance(value, dict):
        if not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in value.values()):
            raise fail(file, at, "expected {choice: score} with number scores")
        scores = {str(k).strip(): float(v) for k, v in value.items()}
        items: list[Any] = list(value)
    elif isinstance(value, list):
        items = value
    elif isinstance(value, str):
        items = value.split(separator)
    else:
        raise fail(file, at, f"expected a list of choices or a text joined by {separator!r} (got {short(value)})")
    choices = [str(c).strip() for c in items if c is not None and str(c).strip()]
    if len(choices) < 2:
        raise fail(file, at, f"expected at least 2 non-empty choices (got {short(value)})")
    if len(set(choices)) != len(choices):
        raise fail(file, at, f"expected distinct choices (got duplicates in {short(choices)})")
    return choices, scores


def best_scored(scores: dict[str, float] | None, file: Path, at: str) -> str:
    """The single highest-scored choice (its score > 0)."""
    if not scores:
        raise fail(file, at, "expected --target_field naming the right choice, or choices given as {choice: score}")
    best = max(scores.values())
    winners = [choice for choice, score in scores.items() if score == best]
    if len(winners) != 1 or best <= 0:
        raise fail(file, at, "expected exactly one best-scored choice")
    return winners[0]


def match_choice(target: Any, choices: list[str]) -> str | None:
    """The choice `target` names: its text (exactly, else ignoring case), its index, or its letter."""
    text = str(target).strip()
    if text in choices:
        return text
    folded = [c for c in choices if c.casefold() == text.casefold()]
    if len(folded) == 1:
        return folded[0]
    # the literal readings above win, so a choice "2" is never mistaken for index 2
    if isinstance(target, int) or (isinstance(target, str) and text.isdigit()):
        index = int(text)
        return choices[index] if 0 <= index < len(choices) else None
    if len(text) == 1 and text.isalpha() and text.isascii():
        index = string.ascii_lowercase.index(text.lower())
        return choices[index] if index < len(choices) else None
    return None
