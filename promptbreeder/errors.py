"""Typed errors. Libraries raise these; only `cli.main` turns them into messages and exit codes."""


class PromptbreederError(Exception):
    """Base class for every error promptbreeder raises on purpose."""

    exit_code = 1


class UsageError(PromptbreederError):
    """Bad command line, config value or unknown name: the user must change what they asked for."""

    exit_code = 2


class ConfigError(UsageError):
    """A config file (YAML) is malformed or holds an invalid value."""


class DayCareError(UsageError):
    """A day care folder or task file is malformed. The message names file, JSON path and what was expected."""

    def __init__(self, file, path, expected):
        self.file, self.path, self.expected = str(file), path, expected
        super().__init__(f"{self.file}: at {path}: {expected}")


class ModelError(UsageError):
    """The model cannot be resolved or loaded (unknown name, missing embedded wheel, unreadable folder)."""


class BackendError(PromptbreederError):
    """A query failed inside the backend (bad LMQL, generation failure). Callers may retry or score a failure."""


class RunError(PromptbreederError):
    """A run failed while executing (exit code 1)."""
