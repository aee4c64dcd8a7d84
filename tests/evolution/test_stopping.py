"""`evolution/stopping.py`: budgets, stop signals and the Breeder stopping between steps."""

from __future__ import annotations

import io
import os
import signal
from types import SimpleNamespace

import pytest

from promptbreeder.evolution.stopping import Budgets, StopSignals, first_reason


def limits(calls=None, tokens=None, seconds=None):
    return SimpleNamespace(max_llm_calls=calls, max_generated_tokens=tokens, max_seconds=seconds)


def test_budgets_name_the_first_limit_reached():
    usage = SimpleNamespace(calls=0, generated_tokens=0)
    now = [100.0]
    budgets = Budgets(limits(calls=10, tokens=500, seconds=60), lambda: usage, clock=lambda: now[0])
    assert budgets.reached() is None
    usage.generated_tokens = 500
    assert budgets.reached() == "budget of 500 generated tokens reached (500 generated)"
    usage.calls = 12
    assert budgets.reached() == "budget of 10 model queries reached (12 made)"
    usage.calls, usage.generated_tokens, now[0] = 0, 0, 161.0
    assert budgets.reached() == "time budget of 60 s reached (61 s)"


def test_no_budget_never_stops():
    usage = SimpleNamespace(calls=10**9, generated_tokens=10**9)
    assert Budgets(limits(), lambda: usage).reached() is None


def test_first_reason():
    assert first_reason(lambda: None, lambda: "b", lambda: "c")() == "b"
    assert first_reason(lambda: None)() is None


def test_the_first_signal_asks_for_a_stop_a_second_ctrl_c_stops_at_once():
    out = io.StringIO()
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals(out) as signals:
        assert signals.reason is None
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.reason == "SIGTERM received"
        assert "stopping after this step" in out.getvalue()
        os.kill(os.getpid(), signal.SIGTERM)  # a second SIGTERM changes nothing
        assert signals.reason == "SIGTERM received"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is before, "the handlers are put back"
