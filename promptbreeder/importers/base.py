"""The importer contract: an importer turns a source into day care examples.

An importer (one module per format, listed in `registry`) reads one source, a file or a folder, and
returns a `Source`: its `records` plus what the task's README should say about where they came from.
`Source.examples(task, answer_type)` turns the records into the lines of the task's fitness suite:

    {"input": str, "gold_<task>": answer}                             answer_type number or text
    {"input": str, "gold_<task>": choice, "choices": [str, ...]}      answer_type choice

plus a record's `extra` fields, which reach the task's fitness queries under their own names.

A `Record` keeps both readings a source may offer (a reference answer `target`; `choices` with the
right one, `choice_target`), because the answer type is chosen later, from all records together
(`answer_rules`), and may be overridden by the user.

Rules every importer keeps:
- nothing is downloaded; optional packages (pyarrow) are imported only when a file needs them, and a
  missing one is a one-line UsageError naming the package;
- every bad input raises `DayCareError(file, where, expected)`, where `where` is what a person can find
  in the file ("line 3", "line 3, $.answer", "$.examples[2]", "row 7"), or a `UsageError`: one line,
  never a traceback;
- `ImportOptions.limit` keeps the first N records; a source without records is an error;
- an importer neither chooses the answer type or scorer (`answer_rules`) nor writes files (`task_writer`).
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptbreeder import jsonio
from promptbreeder.jsonio import fail
from promptbreeder.errors import UsageError

ANSWER_TYPES = ("choice", "number", "text")
# a plain decimal number, as the numeric scorer and the loader's number check both read it
_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")


@dataclass
class ImportOptions:
    """What the user said about the source. Field options apply to record files (JSONL, CSV, datasets)."""

    input_field: str | None = None
    target_field: str | None = None
    choices_field: str | None = None
    choices_separator: str = "|"
    delimiter: str | None = None  # CSV only; None: tab for .tsv, else comma
    split: str | None = None  # datasets folders only
    limit: int | None = None

    def flags_given(self) -> list[str]:
        """The source-specific flags the user set (checked against what the chosen importer reads)."""
        named = {"--input_field": self.input_field, "--target_field": self.target_field,
                 "--choices_field": self.choices_field, "--delimiter": self.delimiter, "--split": self.split}
        return [flag for flag, value in named.items() if value is not None]


@dataclass
class Record:
    """One example as read: the question, and the answer as a reference text/number and/or a choice."""

    input: str
    where: str  # where it is in the source file, for error messages
    target: str | int | float | None = None
    choices: list[str] | None = None
    choice_target: str | None = None  # one of `choices`
    file: Path | None = None  # the data file it came from, when not the source's own file (folders)
    extra: dict[str, Any] = field(default_factory=dict)  # other fields kept on the suite line (they reach queries)

    @property
    def answer(self) -> str | int | float | None:
        """The reference answer for number/text tasks: the target, else the right choice."""
        return self.target if self.target is not None else self.choice_target


@dataclass
class Source:
    """What an importer read: records plus provenance for the README and the explanation."""

    file: Path  # the file or folder the records came from
    kind: str  # in words, e.g. "BIG-bench task", "JSONL file"
    records: list[Record]
    fields: str  # which source fields became input / gold / choices, in words
    description: str | None = None  # a task description the source suggests
    licence: str | None = None
    notes: list[str] = field(default_factory=list)  # extra README lines (e.g. BIG-bench's canary)
    # set when the source says its choices are distractors and its targets are what it means to score
    prefer_targets_reason: str | None = None

    def examples(self, task: str, answer_type: str) -> list[dict[str, Any]]:
        """The suite lines for `answer_type`; a record that cannot have that type is a DayCareError."""
        gold_key, out = "gold_" + task, []
        for record in self.records:
            file = record.file or self.file
            if answer_type == "choice":
                if not record.choices or record.choice_target is None:
                    raise fail(file, record.where,
                               "expected choices and one right choice for answer_type choice (this example has none)")
                out.append({**record.extra, "input": record.input, gold_key: record.choice_target,
                            "choices": list(record.choices)})
                continue
            answer = record.answer
            if answer is None:
                raise fail(file, record.where, "expected a target answer (this example has none)")
            if answer_type == "number" and not is_number(answer):
                raise fail(file, record.where,
                           f"expected a number target for answer_type number (got {short(answer)})")
            out.append({**record.extra, "input": record.input,
                        gold_key: answer if answer_type == "number" else str(answer)})
        return out


class Importer(ABC):
    """One source format. Subclasses set `name` and `summary` and implement `claims` and `read`."""

    name: str = ""
    summary: str = ""  # one line for `promptbreeder import --help`
    flags: tuple[str, ...] = ()  # the source-specific flags of ImportOptions this format reads

    def check_flags(self, options: ImportOptions) -> None:
        """A flag this format ignores is a UsageError: silently dropping it would import the wrong data."""
        unused = [flag for flag in options.flags_given() if flag not in self.flags]
        if unused:
            raise UsageError(f"{', '.join(unused)} do not apply to the {self.name} format"
                             f" ({'it reads ' + ', '.join(self.flags) if self.flags else 'it takes none of them'})")

    @abstractmethod
    def claims(self, path: Path) -> bool:
        """Whether `path` looks like this format (by its name; at most a cheap peek inside)."""

    @abstractmethod
    def read(self, path: Path, options: ImportOptions) -> Source:
        """The records of `path`. Raises DayCareError / UsageError as the module docstring says."""

    def default_task_name(self, path: Path) -> str:
        return path.stem if path.is_file() else path.name


def is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    return isinstance(value, str) and bool(_NUMBER.match(value.strip())) and math.isfinite(float(value))


def short(value: Any) -> str:
    """`repr(value)`, cut to 60 characters: error messages quote values, not whole documents."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_text(path: Path, what: str) -> str:
    """A source file's text (a byte-order mark is dropped); every problem is a one-line DayCareError."""
    return jsonio.read_text(path, what, encoding="utf-8-sig")
