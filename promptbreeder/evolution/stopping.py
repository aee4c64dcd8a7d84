"""Ending a run early and cleanly: budgets and signals, both checked between steps.

A run asked to stop finishes the step it is in (so the snapshot it saves is a whole one), then the app
scores and reports as after a full run and exits 0; `--continue_run_number` later goes on from that step.
`Budgets` says which limit, if any, has been reached; `StopSignals` turns the first SIGINT (Ctrl-C) or
SIGTERM into such a request, and a second SIGINT into an immediate KeyboardInterrupt (the last saved
step is still whole: snapshots are written atomically).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any, Callable, TextIO

from promptbreeder.backends.base import Usage
from promptbreeder.config import RunConfig


class Budgets:
    """The run's limits on model queries, generated tokens and wall-clock seconds (None: no limit)."""

    def __init__(self, config: RunConfig, usage: Callable[[], Usage], clock: Callable[[], float] = time.perf_counter):
        self.max_calls, self.max_tokens = config.max_llm_calls, config.max_generated_tokens
        self.max_seconds = config.max_seconds
        self.usage, self.clock, self.started = usage, clock, clock()

    def reached(self) -> str | None:
        usage = self.usage()
        if self.max_calls is not None and usage.calls >= self.max_calls:
            return f"budget of {self.max_calls} model queries reached ({usage.calls} made)"
        if self.max_tokens is not None and usage.generated_tokens >= self.max_tokens:
            return f"budget of {self.max_tokens} generated tokens reached ({usage.generated_tokens} generated)"
        elapsed = self.clock() - self.started
        if self.max_seconds is not None and elapsed >= self.max_seconds:
            return f"time budget of {self.max_seconds:g} s reached ({elapsed:.0f} s)"
        return None


class StopSignals:
    """While active, SIGINT and SIGTERM ask for a stop after the current step instead of killing the run."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self, out: TextIO | None = None):
        self.out = out or sys.stderr  # looked up now, not at import: stderr may have been redirected since
        self.reason: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():  # Python delivers signals there only
            for name in self.SIGNALS:
                number = getattr(signal, name)
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def _handle(self, number: int, frame) -> None:
        name = signal.Signals(number).name
        if self.reason is not None and number == signal.SIGINT:
            raise KeyboardInterrupt  # asked twice: stop now; the last saved step is whole
        if self.reason is None:
            self.reason = f"{name} received"
            print(f"promptbreeder: {name}: stopping after this step (Ctrl-C again to stop at once)",
                  file=self.out, flush=True)


def metric_budget(limit: int | None, made: Callable[[], int]) -> Callable[[], str | None]:
    """The check of `max_metric_calls`: `made()` is the genome's count of fitness evaluations so far."""
    def reached() -> str | None:
        if limit is None:
            return None
        count = made()
        return f"budget of {limit} metric calls reached ({count} made)" if count >= limit else None

    return reached


def first_reason(*checks: Callable[[], str | None]) -> Callable[[], str | None]:
    """One stop check from several: the first reason any of them gives."""
    def check() -> str | None:
        return next((reason for reason in (c() for c in checks) if reason), None)

    return check
