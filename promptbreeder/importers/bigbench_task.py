"""BIG-bench `task.json` files (JSON tasks of github.com/google/BIG-bench).

Examples are `{"input", "target"}` (generative; `target` may be a list of acceptable answers, the first
is the canonical one) or `{"input", "target_scores": {choice: score}}` (multiple choice; the choices keep
their order, the right one is the single best-scored). Many tasks have both; the task's own
`preferred_score` says which it means to be scored by: `multiple_choice_grade` keeps the choices, any
other metric (e.g. `exact_str_match` of the arithmetic tasks, whose choices include "banana") makes the
targets the gold answers. `--answer_type choice` uses the choices anyway. Inputs are kept unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptbreeder.jsonio import fail, read_json
from promptbreeder.errors import UsageError
from promptbreeder.importers.base import Importer, ImportOptions, Record, Source, short
from promptbreeder.importers.record_fields import best_scored, target_value

LICENCE = "BIG-bench (https://github.com/google/BIG-bench), Apache License 2.0"
MULTIPLE_CHOICE_METRIC = "multiple_choice_grade"


class BigBenchImporter(Importer):
    name = "bigbench"
    summary = "a BIG-bench task.json (generative `target` and/or multiple-choice `target_scores`)"

    def claims(self, path: Path) -> bool:
        if path.is_dir():
            return (path / "task.json").is_file()  # a BIG-bench task folder
        if path.name == "task.json":
            return True
        # another .json file is a BIG-bench task when it is an object with an `examples` list
        if path.suffix != ".json":
            return False
        try:
            data = read_json(path)
        except UsageError:
            return False  # not parseable as one JSON document: leave it to the JSON Lines importer
        return isinstance(data, dict) and isinstance(data.get("examples"), list)

    def default_task_name(self, path: Path) -> str:
        # BIG-bench keeps every task in a folder of its name, as <name>/task.json
        if path.is_dir():
            return path.name
        return path.parent.name if path.name == "task.json" and path.parent.name else path.stem

    def read(self, path: Path, options: ImportOptions) -> Source:
        file = path / "task.json" if path.is_dir() else path
        task = read_json(file, "a BIG-bench task.json")
        if not isinstance(task, dict):
            raise fail(file, "$", "expected a BIG-bench task object with an 'examples' list")
        return source_from_task(task, file, options.limit)


def source_from_task(task: dict[str, Any], file: Path, limit: int | None = None) -> Source:
    """The records and provenance of a parsed BIG-bench task (its first `limit` examples)."""
    raw = task.get("examples")
    if not isinstance(raw, list) or not raw:
        raise fail(file, "$.examples", "expected a non-empty list of BIG-bench examples")
    records = [_record(example, f"$.examples[{i}]", file) for i, example in enumerate(raw[:limit] if limit else raw)]
    has_choices = any(r.choices for r in records)
    name = str(task.get("name") or file.parent.name)
    description = str(task.get("description") or "").strip()
    metric = task.get("preferred_score")
    prefer_targets = None
    if has_choices and all(r.target is not None for r in records) and isinstance(metric, str) \
            and metric != MULTIPLE_CHOICE_METRIC:
        prefer_targets = (f"the task's preferred_score is {metric!r}, so its targets are the gold answers "
                          "(--answer_type choice would use its target_scores)")
    if not has_choices:
        fields = "input; gold from target"
    elif prefer_targets:
        fields = "input; gold from target (choices from target_scores only with --answer_type choice)"
    else:
        fields = "input; choices from target_scores, gold = the best-scored choice"
    canary = str(task.get("canary") or "").strip()
    return Source(
        file=file,
        kind="BIG-bench task",
        records=records,
        fields=fields,
        description=str(task.get("task_prefix") or description or name).strip(),
        licence=LICENCE,
        notes=[f"BIG-bench task `{name}`" + (f": {description}" if description else "")]
        + ([f"The source file carries the BIG-bench canary string, kept here with it:\n`{canary}`"] if canary else []),
        prefer_targets_reason=prefer_targets,
    )


def _record(example: Any, where: str, file: Path) -> Record:
    if not isinstance(example, dict):
        raise fail(file, where, f"expected an example object (got {short(example)})")
    text = example.get("input")
    if isinstance(text, bool) or not isinstance(text, (str, int, float)) or not str(text).strip():
        raise fail(file, f"{where}.input", f"expected a non-empty input text (got {short(text)})")
    record = Record(input=str(text).strip(), where=where)
    if example.get("target") is not None:
        target = target_value(example["target"], file, f"{where}.target")
        record.target = target if isinstance(target, str) else str(target)  # BIG-bench compares strings
    scores = example.get("target_scores")
    if scores is not None:
        if not isinstance(scores, dict) or len(scores) < 2 or not all(
                isinstance(s, (int, float)) and not isinstance(s, bool) for s in scores.values()):
            raise fail(file, f"{where}.target_scores", "expected at least 2 choices with number scores")
        choices = list(scores)  # unchanged, in the task's order: these are BIG-bench's labels
        if not all(choice.strip() for choice in choices):
            raise fail(file, f"{where}.target_scores", "expected non-empty choices")
        try:
            record.choice_target = best_scored({k: float(v) for k, v in scores.items()}, file, f"{where}.target_scores")
            record.choices = choices
        except UsageError:
            if record.target is None:
                raise
            # scores without a single winner are unusable as choices, but the target still is a gold answer
    if record.target is None and record.choice_target is None:
        raise fail(file, where, "expected a 'target' or 'target_scores'")
    return record
