"""`promptbreeder convert-day-care SOURCE DESTINATION --fitness_test_suite FILE`: a LLaMA Day Care folder
as one of ours (importers/llama_day_care.py says what becomes of each file), and what was done, in words."""

from __future__ import annotations

import argparse
from typing import NoReturn

from promptbreeder.errors import UsageError
from promptbreeder.importers.base import ANSWER_TYPES
from promptbreeder.importers.llama_day_care import Conversion, convert_day_care

PROG = "promptbreeder convert-day-care"

DESCRIPTION = """\
Convert a LLaMA Day Care folder (breeder.lmql, mutation_prompts.json, thinking_styles.json, one folder per
task with task_description.json) and its fitness test suite (one JSON list of examples holding
gold_<task>) into a new promptbreeder day care. Each task gets its examples, an answer type and a scorer
and is checked by loading it back; breeder.lmql is kept for reference but not translated (the package's
queries are used). Nothing is written unless the whole conversion succeeds."""

EPILOG = """\
example:
  promptbreeder convert-day-care ../llama_day_care/data/lmql_specifications/day_care/ my_day_care \\
      --fitness_test_suite ../llama_day_care/data/fitness_test_suite.json
  python -m promptbreeder --day_care_dir my_day_care --task answer_quality --breed_system_prompt"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{PROG}: {message} (see {PROG} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", metavar="SOURCE", help="the LLaMA Day Care folder")
    parser.add_argument("destination", metavar="DESTINATION", help="the new day care folder (must not exist)")
    parser.add_argument("--fitness_test_suite", metavar="FILE", required=True,
                        help="the original's fitness test suite: a JSON list of examples with gold_<task> labels")
    parser.add_argument("--input_field", metavar="NAME",
                        help="the example field holding the question (default: 'input', else the fields the"
                             " original fitness test read, else every text field, one 'Name: value' line each)")
    parser.add_argument("--answer_type", choices=ANSWER_TYPES, help="use this answer type for every task")
    parser.add_argument("--verbose", action="store_true", help=argparse.SUPPRESS)  # read by cli.main
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    conversion = convert_day_care(args.source, args.destination, args.fitness_test_suite,
                                  input_field=args.input_field, answer_type=args.answer_type)
    print(explain(conversion))
    return 0


def explain(conversion: Conversion) -> str:
    lines = [f"converted the LLaMA Day Care {conversion.source} into {conversion.destination}/"]
    for task in conversion.tasks:
        created, decision = task.created, task.created.decision
        lines += [f"  task {task.name}: {created.examples} examples, question from {task.input_from}",
                  f"    answer type  {decision.answer_type}: {decision.why}",
                  f"    scorer       {decision.scorer['type']}: {decision.scorer_meaning}",
                  *(f"    note         {note}" for note in decision.notes + task.notes)]
    lines += [f"  skipped {name}: {why}" for name, why in conversion.skipped.items()]
    lines += [f"  note {note}" for note in conversion.notes]
    first = conversion.tasks[0].name
    lines += ["run it with:", f"  python -m promptbreeder --task {first} --day_care_dir {conversion.destination}"]
    return "\n".join(lines)
