"""Subcommands of the command line: `promptbreeder NAME ARGS...`.

Contract: each entry of COMMANDS names a module with `main(argv: list[str]) -> int` that parses its own
arguments (argparse, `prog="promptbreeder NAME"`), does its work and returns an exit code. It raises the
typed errors of `promptbreeder.errors` (a bad file is a `DayCareError` or `UsageError` naming the file,
field and expectation); `cli.main` alone turns them into one line and an exit code.
"""

from __future__ import annotations

import importlib

from promptbreeder.errors import UsageError

COMMANDS: dict[str, str] = {
    "report": "promptbreeder.reporting.command",
    "import": "promptbreeder.importers.command",
}


def run_command(name: str, argv: list[str]) -> int:
    if name not in COMMANDS:
        raise UsageError(f"unknown command {name!r}; available: {', '.join(COMMANDS)}")
    module = importlib.import_module(COMMANDS[name])
    return int(module.main(list(argv)) or 0)
