"""Sandbox for untrusted generated Python code: `run_code` runs it in an isolated subprocess (bubblewrap;
a weak fallback only when the caller allows it) and returns a `SandboxResult`; the candidate's failures are
results, only bad arguments (ValueError) and a missing isolation (SandboxUnavailable) raise."""

from promptbreeder.sandbox.runner import (
    FAILURES, SandboxLimits, SandboxResult, SandboxUnavailable, isolation_in_use, run_code,
)

__all__ = ["FAILURES", "SandboxLimits", "SandboxResult", "SandboxUnavailable", "isolation_in_use", "run_code"]
