"""Command line: `promptbreeder [breed] [--config NAME] [--FLAG VALUE ...]` breeds; `promptbreeder COMMAND ...`
runs one of the other commands of `promptbreeder.commands` (report, import, serve, explain-sampling,
make-hpo-tasks). Each command parses its own arguments; see `promptbreeder.commands` for their contract.

`main` is the only place in the project that turns exceptions into messages and exit codes.
"""

from __future__ import annotations

import sys
import traceback
from typing import Callable, Sequence

from promptbreeder.commands import DEFAULT, breed, run_command
from promptbreeder.errors import PromptbreederError, UsageError

PROG = "promptbreeder"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _error(message: str) -> None:
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named by the first argument, or breed; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Breeding takes only --flags, so a first word that is not a flag names a command; an unknown one is
    # then told as such, not as an "unrecognized argument" of the breeding parser.
    name, rest = (argv[0], argv[1:]) if argv and not argv[0].startswith("-") else (DEFAULT, argv)
    if name != DEFAULT:
        return _guarded(lambda: run_command(name, rest), "--verbose" in rest)

    # a --config file may turn verbose on too: breed reports the resolved config before it runs
    state = {"verbose": "--verbose" in rest}
    return _guarded(lambda: breed.main(rest, on_config=lambda config: state.update(verbose=config.verbose)),
                    lambda: state["verbose"])


def _guarded(action: Callable[[], int], verbose: bool | Callable[[], bool]) -> int:
    """`action()`, with every exception turned into one line on stderr and an exit code."""
    def is_verbose() -> bool:
        return verbose() if callable(verbose) else verbose

    try:
        return action()
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except PromptbreederError as exc:
        # usage problems are the user's to fix: a traceback would only bury the message
        if is_verbose() and not isinstance(exc, UsageError):
            traceback.print_exc()
        _error(str(exc))
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the last line of defence turns any bug into one line and exit 1
        if is_verbose():
            traceback.print_exc()
        detail = f"{type(exc).__name__}: {_one_line(str(exc))}" if str(exc).strip() else type(exc).__name__
        hint = "" if is_verbose() else " (rerun with --verbose for the traceback)"
        print(f"{PROG}: internal error: {detail}{hint}", file=sys.stderr)
        return 1
