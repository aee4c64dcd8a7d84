"""Writing an imported task folder: task_description.json, fitness_suite.jsonl and README.md.

The folder is first written under a hidden staging folder inside the day care (the loader skips names
that start with "."), loaded back with the day care loader exactly as a run loads it, and only then moved
into place: an import that would give an invalid task leaves nothing behind. An existing task folder is
refused unless `force`, which replaces those three files and keeps everything else (runs/, queries/).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from promptbreeder.jsonio import fail
from promptbreeder.daycare.loader import TASK_FILE, load_task_folder
from promptbreeder.genomes.prompt.task import Task
from promptbreeder.errors import DayCareError, UsageError
from promptbreeder.importers.answer_rules import Decision, decide
from promptbreeder.importers.base import Source

SUITE_FILE = "fitness_suite.jsonl"
README_FILE = "README.md"
WRITTEN = (TASK_FILE, SUITE_FILE, README_FILE)
DEFAULT_DECODER = "sample(temperature=0.8, top_p=0.95)"
DEFAULT_FITNESS_DECODER = "argmax"
_TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
RESERVED_NAMES = ("queries",)  # a day care's own folder of query overrides
GENERIC_DESCRIPTIONS = {
    "multiple_choice": "Answer each question with exactly one of the given choices.",
    "numeric": "Answer each question with a single number.",
    "exact_match": "Answer each question with a short answer.",
    "llm_rubric": "Answer each question correctly, completely and concisely.",
}


@dataclass
class TaskSettings:
    """task_description.json values the user may set; None/empty means "choose from the source"."""

    task_description: str | None = None
    seed_prompts: Sequence[str] = ()
    licence: str | None = None
    fitness_scorer: dict[str, Any] | None = None  # replaces the chosen scorer
    decoder_options: str = DEFAULT_DECODER
    fitness_decoder_options: str = DEFAULT_FITNESS_DECODER
    answer_max_tokens: int | None = None
    fixed_system_prompt: str | None = None


@dataclass
class CreatedTask:
    folder: Path
    task: Task
    source: Source
    decision: Decision
    examples: int
    replaced: bool  # an existing folder's task files were replaced (--force)


def task_name_from(text: str) -> str:
    """A task name made from a file or folder name: letters, digits, '_' and '-' only."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_-").lower()
    return name or "imported_task"


def check_task_name(name: str) -> None:
    if not _TASK_NAME.match(name) or name in RESERVED_NAMES:
        raise UsageError(f"task name {name!r} must start with a letter or digit and hold only letters, digits, "
                         f"'_' and '-' (and not be {', '.join(RESERVED_NAMES)}): it names the folder and gold_<name>")


def check_destination(folder: Path, force: bool) -> None:
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} exists and is not a folder")
    if folder.exists() and not force:
        raise UsageError(f"{folder} already exists; pass --force to replace its task files "
                         "(runs/ and queries/ in it are kept)")


def create_task(source: Source, name: str, day_care_dir: str | Path, *, answer_type: str | None = None,
                settings: TaskSettings | None = None, force: bool = False, limit: int | None = None) -> CreatedTask:
    """Write `day_care_dir/name/` from `source`, check it by loading it back, return what was made."""
    settings = settings or TaskSettings()
    check_task_name(name)
    root = Path(day_care_dir)
    final = root / name
    check_destination(final, force)
    decision = decide(source, answer_type)
    if settings.fitness_scorer is not None:
        decision.scorer = dict(settings.fitness_scorer)
        decision.why += f"; scorer {decision.scorer.get('type')!r} as given"
    examples = source.examples(name, decision.answer_type)
    spec = _task_description(source, decision, settings)
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".import-{name}-", dir=root))
    except OSError as exc:
        raise fail(root, "$", f"expected a day care folder that can be written ({exc.strerror or exc})") from None
    try:
        folder = staging / name
        folder.mkdir()
        with open(folder / SUITE_FILE, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in examples)
        (folder / TASK_FILE).write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n", "utf-8")
        readme = _readme(name, root, source, decision, len(examples), limit, settings.licence)
        (folder / README_FILE).write_text(readme, "utf-8")
        _load_back(folder, final)
        replaced = _move_into_place(folder, final)
    except OSError as exc:
        raise fail(final, "$", f"expected a writable task folder ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return CreatedTask(final, load_task_folder(final), source, decision, len(examples), replaced)


def _task_description(source: Source, decision: Decision, settings: TaskSettings) -> dict[str, Any]:
    description = (settings.task_description or source.description
                   or GENERIC_DESCRIPTIONS.get(decision.scorer.get("type"), GENERIC_DESCRIPTIONS["exact_match"]))
    spec: dict[str, Any] = {
        "task_description": description,
        "fitness_scorer": decision.scorer,
        "decoder_options": settings.decoder_options,
        "fitness_decoder_options": settings.fitness_decoder_options,
        "fixed_system_prompt": settings.fixed_system_prompt,
        "fitness_test_suite": SUITE_FILE,
        "answer_type": decision.answer_type,
    }
    max_tokens = settings.answer_max_tokens or decision.answer_max_tokens
    if max_tokens is not None:
        spec["answer_max_tokens"] = max_tokens
    if settings.seed_prompts:
        spec["seed_prompts"] = list(settings.seed_prompts)
    return spec


def _load_back(folder: Path, final: Path) -> None:
    """Load the staged task as a run would; a problem names the final path and says nothing was written."""
    try:
        load_task_folder(folder).load_suite()
    except DayCareError as exc:
        file = str(exc.file).replace(str(folder), str(final))
        raise DayCareError(file, exc.path, f"{exc.expected} (nothing was written)") from None
    except UsageError as exc:
        raise UsageError(f"{str(exc).replace(str(folder), str(final))} (nothing was written)") from None


def _move_into_place(folder: Path, final: Path) -> bool:
    if not final.exists():
        os.replace(folder, final)  # one rename: the task folder appears whole or not at all
        return False
    for name in WRITTEN:
        os.replace(folder / name, final / name)
    return True


def _readme(name: str, root: Path, source: Source, decision: Decision, count: int, limit: int | None,
            licence: str | None) -> str:
    subset = f"the first {count} examples (--limit {limit})" if limit and count >= limit else f"all {count} examples"
    choices = ", `choices`" if decision.answer_type == "choice" else ""
    lines = [
        f"# {name}",
        "",
        f"Imported with `promptbreeder import` from the {source.kind} `{source.file}`: {subset}, written to "
        f"`{SUITE_FILE}` as `input`, `gold_{name}`{choices}. Inputs and answers are as in the source.",
        "",
        f"- Fields: {source.fields}.",
        f"- Answer type `{decision.answer_type}`: {decision.why}.",
        f"- Scorer `{decision.scorer.get('type')}`: {decision.scorer_meaning}.",
        *(f"- Note: {note}." for note in decision.notes),
        "",
        f"Licence: {licence or source.licence or 'not stated by the source (record it with --licence when importing)'}.",
        "",
        *(part for note in source.notes for part in (note, "")),
        f"Run it: `python -m promptbreeder --task {name} --day_care_dir {root}`",
        "",
    ]
    return "\n".join(lines)
