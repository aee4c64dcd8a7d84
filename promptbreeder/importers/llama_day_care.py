"""Converting a LLaMA Day Care day care into one of ours (`promptbreeder convert-day-care`).

What the original tool's folder holds, and what becomes of it:

- `mutation_prompts.json`, `thinking_styles.json` (objects of id -> text): written as our lists of
  {category, text} (category "paper": the original's lists are the paper's prompts).
- `<task>/task_description.json` (task_description, fitness_scorer {type, args}, decoder_options,
  fitness_decoder_options, fixed_system_prompt): a task folder written by the importers' task writer, so
  it is checked by loading it back exactly as a run loads it. Our extra fields come from the data: the
  examples are the rows of the original's one fitness test suite (a JSON list, `--fitness_test_suite`)
  that hold `gold_<task>`; the answer type and, where the original scorer type has no equivalent here,
  the scorer follow `answer_rules`. A row's question (`--input_field`, else its `input` or `question`
  field, else the fields the original fitness test read) becomes `input`; every other field stays on
  the line and reaches the task's fitness queries under its own name.
- `breeder.lmql` (HJSON: `fitness_test_template` + `_args`, `mutation_*` / `hypermutation_*` queries +
  `_args`): not translated. Its queries are LMQL before 0.7 (`{model_name_or_path}`, `{decoder_options}`
  placeholders), read other inputs and fill other holes than ours, so a mechanical translation would
  run something the user never wrote. The file is kept, with every query split out, under
  `_llama_day_care/` (the loader skips `_` folders), and the package's queries are used; the notes say
  which of ours stands for which of theirs and which example fields the original fitness test read.

Everything is written under a hidden staging folder beside the destination and renamed into place at
the end: a conversion that fails leaves nothing behind. Every problem is a one-line typed error.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptbreeder.daycare.loader import LLAMA_DAY_CARE_QUERIES, load_day_care, load_prompts
from promptbreeder.errors import UsageError
from promptbreeder.genomes.kind import TASK_FILE
from promptbreeder.genomes.prompt.task import FITNESS_INPUTS
from promptbreeder.importers.base import ANSWER_TYPES, Record, Source, short
from promptbreeder.importers.jsonl_file import json_rows
from promptbreeder.importers.task_writer import CreatedTask, TaskSettings, check_task_name, create_task
from promptbreeder.jsonio import fail, json_path, read_json, read_text
from promptbreeder.scorers.registry import available_scorers

PROMPT_FILES = ("mutation_prompts.json", "thinking_styles.json")
KEPT_DIR = "_llama_day_care"  # the original's query file, for reference (the loader skips "_" folders)
# inputs of the original's fitness test that come from the unit, not from the example
UNIT_INPUTS = ("system_prompt", "task_prompt", "reasoning_prompt", "CoT", "model_kwargs")
# which of our package queries does the work of each of the original's
OURS_FOR = {
    "fitness_test": "fitness_noCoT, fitness_CoT (and their _likelihood forms for choice tasks)",
    "mutation_direct": "zero_order, first_order, init_prompt (and init_system_prompt with --breed_system_prompt)",
    "mutation_eda_based": "eda, eda_rank_index, lineage",
    "mutation_lamarckian": "lamarckian",
    "hypermutation_zero_order_direct": "zero_order_hyper",
    "hypermutation_first_order_direct": "first_order_hyper",
}


@dataclass
class ConvertedTask:
    name: str
    created: CreatedTask
    input_from: str  # in words: which field(s) became the question
    notes: list[str] = field(default_factory=list)


@dataclass
class Conversion:
    source: Path
    destination: Path
    tasks: list[ConvertedTask]
    skipped: dict[str, str]  # task -> why it was not converted
    notes: list[str]  # about the whole day care (queries, prompt lists)


def convert_day_care(source: str | Path, destination: str | Path, suite: str | Path, *,
                     input_field: str | None = None, answer_type: str | None = None) -> Conversion:
    """Write `destination` as our day care made from LLaMA Day Care folder `source` and its fitness test
    suite `suite`. Raises DayCareError / UsageError (nothing is left behind then)."""
    src, dest, suite = Path(source), Path(destination), Path(suite)
    if not src.is_dir():
        raise fail(src, "$", "expected a LLaMA Day Care folder (not found, or not a folder)")
    if dest.exists():
        raise UsageError(f"{dest} already exists; name a new folder for the converted day care")
    if answer_type is not None and answer_type not in ANSWER_TYPES:
        raise UsageError(f"answer_type must be one of {', '.join(ANSWER_TYPES)} (got {answer_type!r})")
    task_dirs = sorted(p for p in src.iterdir() if p.is_dir() and (p / TASK_FILE).is_file()
                       and not p.name.startswith((".", "_")))
    if not task_dirs:
        raise fail(src, "$", f"expected task folders holding {TASK_FILE} (there are none)")
    spec = read_breeder_spec(src / LLAMA_DAY_CARE_QUERIES)
    prompts = {name: load_prompts(src / name) for name in PROMPT_FILES}
    rows = suite_rows(suite)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".convert-{dest.name}-", dir=dest.parent))
    except OSError as exc:
        raise fail(dest.parent, "$", f"expected a folder that can be written ({exc.strerror or exc})") from None
    try:
        for name, items in prompts.items():
            (staging / name).write_text(json.dumps([{"category": p.category, "text": p.text} for p in items],
                                                   indent=2, ensure_ascii=False) + "\n", "utf-8")
        tasks, skipped = [], {}
        for task_dir in task_dirs:
            converted = _convert_task(task_dir, staging, suite, rows, spec, input_field, answer_type)
            if isinstance(converted, str):
                skipped[task_dir.name] = converted
            else:
                tasks.append(converted)
        if not tasks:
            reasons = "; ".join(f"{k}: {v}" for k, v in skipped.items())
            raise fail(suite, "$", f"expected examples for at least one task ({reasons})")
        notes = _keep_queries(src / LLAMA_DAY_CARE_QUERIES, spec, staging / KEPT_DIR)
        load_day_care(staging)  # the whole day care loads as a run would load it
        os.replace(staging, dest)  # one rename: the day care appears whole or not at all
    except OSError as exc:
        raise fail(dest, "$", f"expected a writable folder ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for task in tasks:
        task.created.folder = dest / task.name
    return Conversion(src, dest, tasks, skipped, notes)


def read_breeder_spec(path: Path) -> dict[str, Any]:
    """The original's `breeder.lmql` (HJSON) as a dict, or {} when the folder has none."""
    if not path.exists():
        return {}
    import hjson  # only a conversion needs it

    text = read_text(path, "LLaMA Day Care's breeder.lmql (HJSON)")
    try:
        data = hjson.loads(text)
    except hjson.HjsonDecodeError as exc:
        raise fail(path, f"line {exc.lineno}, column {exc.colno}", f"expected HJSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise fail(path, "$", "expected an HJSON object of query name -> query text")
    for key, value in data.items():
        if key.endswith("_args"):
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise fail(path, json_path([key]), "expected a list of input names")
        elif not isinstance(value, str):
            raise fail(path, json_path([key]), "expected a query text")
    return data


def suite_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(where, row) of the original's fitness test suite: a JSON list of objects (JSON Lines also read)."""
    rows = []
    for where, row in json_rows(path):
        if not isinstance(row, dict):
            raise fail(path, where, "expected an example object")
        rows.append((where, row))
    if not rows:
        raise fail(path, "$", "expected at least one example object")
    return rows


def _convert_task(task_dir: Path, root: Path, suite: Path, rows: list[tuple[str, dict]], spec: dict[str, Any],
                  input_field: str | None, answer_type: str | None) -> ConvertedTask | str:
    """Write one task into `root`; a task without examples in the suite is skipped (returns why)."""
    name = task_dir.name
    check_task_name(name)
    file = task_dir / TASK_FILE
    original = read_json(file, f"LLaMA Day Care's {TASK_FILE}")
    if not isinstance(original, dict):
        raise fail(file, "$", "expected a JSON object")
    for key in ("task_description", "decoder_options", "fitness_decoder_options"):
        if not isinstance(original.get(key), str) or not original[key].strip():
            raise fail(file, json_path([key]), "expected a non-empty text (one of LLaMA Day Care's fields)")
    scorer = original.get("fitness_scorer")
    if not isinstance(scorer, dict) or not isinstance(scorer.get("type"), str):
        raise fail(file, "$.fitness_scorer", "expected an object with a \"type\" (LLaMA Day Care's form)")
    system = original.get("fixed_system_prompt")
    if system is not None and not isinstance(system, str):
        raise fail(file, "$.fixed_system_prompt", "expected a text or null")
    gold = "gold_" + name
    mine = [(where, row) for where, row in rows if gold in row]
    if not mine:
        return f"no example of the suite has {gold}"
    notes: list[str] = []
    template_args = [a for a in spec.get("fitness_test_template_args", []) if a not in UNIT_INPUTS]
    question, input_from = _question_fields(suite, mine, input_field, template_args)
    records = [_record(suite, where, row, gold, question) for where, row in mine]
    renamed = sorted({k for r in records for k in r.extra if k.startswith("example_")})
    if renamed:
        notes.append(f"fields renamed to {', '.join(renamed)}: their names are inputs the fitness queries"
                     " already have, or not Python identifiers")
    ours = {s: s for s in available_scorers()} | {s.replace("_", ""): s for s in available_scorers()}
    kind = ours.get(scorer["type"].lower().removesuffix("fitnessscorer").replace("_", ""))
    chosen = None
    if kind is not None:
        chosen = {**{k: v for k, v in scorer.items() if k != "type"}, "type": kind}
    else:
        notes.append(f"fitness_scorer type {scorer['type']!r} (LLaMA Day Care's {scorer['type']}FitnessScorer) has"
                     f" no equivalent here ({', '.join(available_scorers())}): the scorer was chosen from the data;"
                     " edit fitness_scorer in task_description.json to change it")
    if template_args:
        notes.append(f"the original fitness test read {', '.join(template_args)}: they are on every example;"
                     f" a query in {name}/queries/fitness_noCoT.lmql can use them by name")
    if not system:
        notes.append("the original bred a system prompt for this task (fixed_system_prompt is null):"
                     " run with --breed_system_prompt to do the same")
    source = Source(file=suite, kind="LLaMA Day Care fitness test suite", records=records,
                    fields=f"input from {input_from}, gold from field {gold!r}, every other field kept")
    settings = TaskSettings(task_description=original["task_description"], fitness_scorer=chosen,
                            decoder_options=original["decoder_options"],
                            fitness_decoder_options=original["fitness_decoder_options"], fixed_system_prompt=system)
    created = create_task(source, name, root, answer_type=answer_type, settings=settings)
    return ConvertedTask(name, created, input_from, notes)


def _question_fields(suite: Path, rows: list[tuple[str, dict]], given: str | None,
                     template_args: list[str]) -> tuple[list[str], str]:
    """The field(s) whose text becomes an example's `input`, and that in words."""
    where, first = rows[0]
    fields = [k for k in first if not k.startswith("gold_")]
    listed = ", ".join(map(repr, fields)) or "(none)"
    if given is not None:
        if given not in first:
            raise fail(suite, where, f"expected a field named {given!r} (--input_field); the fields are {listed}")
        return [given], f"field {given!r}"
    for name in ("input", "question"):  # our spelling, then the name our fitness queries give the input
        if name in first:
            return [name], f"field {name!r}"
    # the fields the original fitness test read, else every text field
    named = [a for a in template_args if a in first] or [k for k in fields if isinstance(first[k], str)]
    if not named:
        raise fail(suite, where, f"expected --input_field naming the field that holds the question; the fields are"
                                 f" {listed}")
    if len(named) == 1:
        return named, f"field {named[0]!r}"
    return named, "fields " + ", ".join(map(repr, named)) + " (one 'Name: value' line each)"


def _record(suite: Path, where: str, row: dict[str, Any], gold: str, question: list[str]) -> Record:
    missing = [k for k in question if k not in row]
    if missing:
        raise fail(suite, where, f"expected field {missing[0]!r} (the other examples have it)")
    if len(question) == 1:
        text = row[question[0]]
        if not isinstance(text, str):
            raise fail(suite, json_path([question[0]], where), f"expected a question text (got {short(text)})")
    else:
        text = "\n".join(f"{k.replace('_', ' ').capitalize()}: {row[k]}" for k in question)
    extra = {}
    for key, value in row.items():
        if key.startswith("gold_") or key == "input" or (len(question) == 1 and key == question[0]):
            continue
        fit = key if key.isidentifier() and key not in FITNESS_INPUTS + ("choices",) else None
        extra[fit or "example_" + re.sub(r"\W", "_", key)] = value
    choices = row.get("choices")
    if isinstance(choices, list) and all(isinstance(c, str) for c in choices) and row[gold] in choices:
        return Record(input=text, where=where, target=None, choices=list(choices), choice_target=row[gold],
                      extra=extra)
    return Record(input=text, where=where, target=row[gold], extra=extra)


def _keep_queries(path: Path, spec: dict[str, Any], folder: Path) -> list[str]:
    """Keep the original's breeder.lmql and each of its queries under `folder`; what to say about them."""
    if not spec:
        return ["the day care has no breeder.lmql: the package's queries are used, as they would be anyway"]
    folder.mkdir()
    shutil.copyfile(path, folder / LLAMA_DAY_CARE_QUERIES)
    names = []
    for key, value in spec.items():
        if key.endswith("_args"):
            continue
        base = key.removesuffix("_template")
        args = spec.get(key + "_args", [])
        (folder / f"{base}.lmql").write_text(f"# from breeder.lmql's {key}; inputs: {', '.join(args) or '(none)'}\n"
                                             f"{value.rstrip()}\n", "utf-8")
        names.append(base)
    mapped = [f"{n} -> {OURS_FOR.get(n, 'no counterpart: ' + n + ' is not used')}" for n in names]
    return [f"breeder.lmql is kept in {KEPT_DIR}/ with each query split out; its queries are LMQL before 0.7 and"
            " are not translated: the package's queries do their work (" + "; ".join(mapped) + "). To run one of"
            " yours, rewrite it as queries/NAME.lmql with that query's inputs and holes."]
