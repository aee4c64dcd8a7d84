"""`promptbreeder import SOURCE [options]`: a ready day care task folder from a data file or folder.

Reads the source with the importer of its format, chooses answer type and scorer (`answer_rules`),
writes and checks the folder (`task_writer`) and prints what it made and why. Every problem is a typed
error from `promptbreeder.errors`; `cli.main` prints it as one line and exits 2.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path
from typing import NoReturn

from promptbreeder.jsonio import fail
from promptbreeder.errors import UsageError
from promptbreeder.importers.answer_rules import SHORT_TEXT_MAX_WORDS
from promptbreeder.importers.base import ANSWER_TYPES, Importer, ImportOptions
from promptbreeder.importers.hf_folder import pyarrow_available
from promptbreeder.importers.registry import FORMATS, detect_importer, format_names, importer_named
from promptbreeder.importers.task_writer import (
    CreatedTask, TaskSettings, check_destination, check_task_name, create_task, task_name_from,
)

PROG = "promptbreeder import"
PROMPT_FILES = ("mutation_prompts.json", "thinking_styles.json")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is a UsageError, so `cli.main` prints it as one line like any other."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{PROG}: {message} (see {PROG} --help)")


def _description() -> str:
    formats = "\n".join(textwrap.fill(FORMATS[name].summary, 100, initial_indent=f"  {name:10}",
                                       subsequent_indent=" " * 12) for name in format_names())
    arrow = ("pyarrow is installed: .arrow and .parquet files can be read" if pyarrow_available() else
             "pyarrow is not installed here: datasets folders of .jsonl/.json/.csv/.tsv files only")
    return f"""\
Create a ready day care task folder (task_description.json, fitness_suite.jsonl, README.md)
from a data set, check it by loading it back, and explain what was made.

formats (--format; by default told from the source's name):
{formats}
  ({arrow};
  the `datasets` package is never needed and nothing is downloaded)

answer type and scorer (override with --answer_type):
  every example has choices     -> choice, multiple_choice
  every gold answer is a number -> number, numeric
  short text answers (<= {SHORT_TEXT_MAX_WORDS} words) -> text, exact_match
  free text answers             -> text, llm_rubric with a generic rubric (make it specific afterwards)"""


EPILOG = """\
examples:
  promptbreeder import ../BIG-bench/bigbench/benchmark_tasks/snarks/task.json
  promptbreeder import qa.jsonl --input_field question --target_field answer --limit 200
  promptbreeder import quiz.csv --input_field q --target_field a --choices_field options --choices_separator ";"
  promptbreeder import ./my_dataset --split validation --input_field text --target_field label
"""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=_description(), epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", metavar="SOURCE", help="the file or folder to import")
    parser.add_argument("--format", metavar="FORMAT", help=f"one of {', '.join(format_names())} (default: from the name)")
    parser.add_argument("--name", help="task name: folder name and gold_<name> key (default: from the source's name)")
    parser.add_argument("--day_care_dir", metavar="DIR", default="day_care", help="day care folder (default: ./day_care)")
    parser.add_argument("--answer_type", choices=ANSWER_TYPES, help="use this answer type instead of the chosen one")
    parser.add_argument("--limit", type=int, metavar="N", help="import only the first N examples (default: all)")
    parser.add_argument("--force", action="store_true",
                        help="replace the task files of an existing task folder (its runs/ and queries/ are kept)")
    fields = parser.add_argument_group("fields of JSONL, CSV and datasets sources")
    fields.add_argument("--input_field", metavar="NAME", help="field/column with the question (default: 'input')")
    fields.add_argument("--target_field", metavar="NAME",
                        help="field/column with the reference answer, or the right choice's text, index or letter "
                             "(default: 'target')")
    fields.add_argument("--choices_field", metavar="NAME", help="field/column with the choices: a list, a "
                        "{choice: score} object, or a text joined by --choices_separator (default: 'choices' if present)")
    fields.add_argument("--choices_separator", metavar="SEP", default="|", help="joins choices in one text (default: |)")
    fields.add_argument("--delimiter", metavar="CHAR", help="CSV cell delimiter (default: tab for .tsv, else comma)")
    fields.add_argument("--split", metavar="NAME", help="datasets split (default: train, else validation, else the first)")
    task = parser.add_argument_group("task_description.json and README")
    task.add_argument("--task_description", metavar="TEXT", help="default: the source's own, else a generic one")
    task.add_argument("--seed_prompt", metavar="TEXT", action="append", default=[],
                      help="a hand-written prompt scored as a baseline; repeat for several")
    task.add_argument("--licence", metavar="TEXT", help="the data's licence, for the README (default: the source's)")
    parser.add_argument("--verbose", action="store_true", help=argparse.SUPPRESS)  # read by cli.main
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"{PROG}: --limit must be >= 1 (got {args.limit})")
    path = Path(args.source)
    if not path.exists():
        raise fail(path, "$", "expected an existing file or folder to import (not found)")
    importer = importer_named(args.format) if args.format else detect_importer(path)
    options = ImportOptions(input_field=args.input_field, target_field=args.target_field,
                            choices_field=args.choices_field, choices_separator=args.choices_separator,
                            delimiter=args.delimiter, split=args.split, limit=args.limit)
    importer.check_flags(options)
    name = args.name or task_name_from(importer.default_task_name(path))
    # refuse early: reading a large source only to refuse its destination would waste the user's time
    check_task_name(name)
    check_destination(Path(args.day_care_dir) / name, args.force)
    source = importer.read(path, options)
    settings = TaskSettings(task_description=args.task_description, seed_prompts=args.seed_prompt,
                            licence=args.licence)
    created = create_task(source, name, args.day_care_dir, answer_type=args.answer_type, settings=settings,
                          force=args.force, limit=args.limit)
    print(explain(created, importer, detected=not args.format, day_care_dir=args.day_care_dir))
    return 0


def explain(created: CreatedTask, importer: Importer, *, detected: bool, day_care_dir: str) -> str:
    """What was created and why, and how to run it: a few lines for the terminal."""
    source, decision = created.source, created.decision
    how = "told from its name" if detected else "as given"
    verb = "replaced the task files of" if created.replaced else "created"
    lines = [
        f"{verb} {created.folder}/ from the {source.kind} {source.file} (format {importer.name}, {how})",
        f"  examples     {created.examples} in fitness_suite.jsonl ({source.fields})",
        f"  answer type  {decision.answer_type}: {decision.why}",
        f"  scorer       {decision.scorer['type']}: {decision.scorer_meaning}",
        *(f"  note         {note}" for note in decision.notes),
        "  checked      task_description.json against the shipped schema, every example, by loading the task back",
    ]
    missing = [f for f in PROMPT_FILES if not (Path(day_care_dir) / f).is_file()]
    if missing:
        lines.append(f"  before a run {day_care_dir} needs {' and '.join(missing)}: copy them from the project's day_care/")
    lines += ["run it with:", f"  python -m promptbreeder --task {created.folder.name} --day_care_dir {day_care_dir}"]
    return "\n".join(lines)
