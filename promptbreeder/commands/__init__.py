"""Subcommands of the command line: `promptbreeder NAME ARGS...`; `breed` is the default and may be left out.

Contract: each entry of COMMANDS names a module with `main(argv: list[str]) -> int` that parses its own
arguments (argparse, `prog="promptbreeder NAME"`), does its work and returns an exit code. It raises the
typed errors of `promptbreeder.errors` (a bad file is a `DayCareError` or `UsageError` naming the file,
field and expectation); `cli.main` alone turns them into one line and an exit code. Only argparse's own
usage errors (exit 2 with the usage line) leave a command as SystemExit.

Modules are imported only when their command runs: some pull in torch, LMQL or scikit-learn.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from promptbreeder.errors import UsageError

DEFAULT = "breed"


@dataclass(frozen=True)
class Command:
    module: str  # imported only when the command runs
    synopsis: str  # for `promptbreeder --help`
    summary: str


COMMANDS: dict[str, Command] = {
    "breed": Command("promptbreeder.commands.breed", "breed [--FLAG VALUE ...]",
                     "breed prompts (the default: `breed` may be left out)"),
    "report": Command("promptbreeder.commands.report", "report RUN_DIR", "an HTML report with figures of a run"),
    "import": Command("promptbreeder.commands.import_task", "import SOURCE",
                      "a ready task folder from BIG-bench, JSONL, CSV or a datasets folder"),
    "convert-day-care": Command("promptbreeder.commands.convert_day_care", "convert-day-care SRC DEST",
                                "a LLaMA Day Care folder and its fitness suite as a promptbreeder day care"),
    "serve": Command("promptbreeder.commands.serve", "serve [--port N]",
                     "serve a model as an LMQL inference server for lmql-serve:... runs"),
    "explain-sampling": Command("promptbreeder.commands.explain_sampling", "explain-sampling --prompt TEXT",
                                "what temperature and top-k do to the next token"),
    "make-hpo-tasks": Command("promptbreeder.commands.make_hpo_tasks", "make-hpo-tasks DAY_CARE_DIR",
                              "write the Bayesmark-style HPO suite as day care tasks"),
}


def command_list() -> str:
    """The commands, one per line with synopsis and summary, indented for a help text."""
    return "\n".join(f"  {c.synopsis:32} {c.summary}" for c in COMMANDS.values())


def run_command(name: str, argv: list[str]) -> int:
    """Run command `name` on `argv`; an unknown name is a UsageError that lists the commands."""
    if name not in COMMANDS:
        raise UsageError(f"unknown command {name!r}; commands: {', '.join(COMMANDS)}"
                         f" (breeding takes only --flags; see promptbreeder --help)")
    module = importlib.import_module(COMMANDS[name].module)
    return int(module.main(list(argv)) or 0)
