"""A code task runs its candidates only in the strong sandbox; without bubblewrap it is refused before a
run folder or a model exists, unless --allow_weak_sandbox, and then the report says so."""

from __future__ import annotations

import pytest

from promptbreeder.backends.fake import FakeBackend
from promptbreeder.cli import main
from promptbreeder.config import RunConfig
from promptbreeder.daycare.loader import load_day_care
from promptbreeder.genomes.text.genome import format_report
from promptbreeder.genomes.text.kind import CODE, TEXT
from promptbreeder.sandbox import SandboxUnavailable, isolation

TASK = "code_golf"
MISSING = (None, "bubblewrap (bwrap) is not installed: install bubblewrap")


def _genome(day_care, **settings):
    care = load_day_care(day_care)
    task = care.task(TASK)
    config = RunConfig(task=TASK, day_care_dir=str(day_care), population_size=2, evolution_generations=0,
                       **settings)
    return task, CODE.build(config, care, task, FakeBackend(responder=lambda r: {}))


def test_without_bubblewrap_a_code_run_is_refused_before_anything_is_made(day_care, monkeypatch, capsys):
    monkeypatch.setattr(isolation, "_probe", lambda: MISSING)
    code = main(["--task", TASK, "--day_care_dir", str(day_care), "--evolution_generations", "0"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "bubblewrap (bwrap) is not installed" in err and "--allow_weak_sandbox" in err
    assert not (day_care / TASK / "runs").exists()
    with pytest.raises(SandboxUnavailable):
        _genome(day_care)
    text = load_day_care(day_care).task("text_palindrome")
    TEXT.check_config(RunConfig(task="text_palindrome"), text)  # a text task runs no code: no sandbox needed


def test_with_allow_weak_sandbox_it_runs_and_the_report_says_the_candidates_were_not_isolated(day_care, monkeypatch):
    monkeypatch.setattr(isolation, "_probe", lambda: MISSING)
    task, genome = _genome(day_care, allow_weak_sandbox=True)
    CODE.check_config(genome.config, task)
    score, feedback = genome.evaluate(task.x0)
    assert score > 0, feedback
    genome.evaluations.append({"unit": "u0", "text": task.x0, "score": score, "feedback": feedback})
    report = genome.report([], 0)
    assert report["sandbox"] == "weak: bubblewrap (bwrap) is not installed: install bubblewrap"
    assert "NOT isolated" in format_report(report)


def test_with_bubblewrap_the_report_names_it(day_care):
    task, genome = _genome(day_care)
    report = genome.report([], 0)
    assert report["sandbox"] == "bubblewrap" and "NOT isolated" not in format_report(report)
