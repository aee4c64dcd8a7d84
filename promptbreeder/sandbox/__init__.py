"""Sandbox for untrusted generated Python code: `run_code` runs it in a limited subprocess and returns a
`SandboxResult`; the candidate's failures are results, only bad arguments raise (ValueError)."""

from promptbreeder.sandbox.runner import FAILURES, SandboxLimits, SandboxResult, run_code

__all__ = ["FAILURES", "SandboxLimits", "SandboxResult", "run_code"]
