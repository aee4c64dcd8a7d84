"""With --use_wandb the report's figures go to the trackers at the end of a run; drawing them can fail
without failing the run."""

from __future__ import annotations

from pathlib import Path

from promptbreeder import app
from promptbreeder.reporting import figures as report_figures
from promptbreeder.reporting.figures import CORE_FIGURES as FIGURES
from promptbreeder.tracking.base import Tracker


class RecordingTracker(Tracker):
    """Stands in for WandbTracker: keeps what it is given."""

    calls: list[tuple[str, object]] = []

    def __init__(self, project):
        RecordingTracker.calls = []

    def heldout(self, comparison):
        self.calls.append(("heldout", comparison))

    def figures(self, paths):
        self.calls.append(("figures", dict(paths)))

    def finish(self):
        self.calls.append(("finish", None))


def test_a_wandb_run_sends_every_figure_after_the_report(monkeypatch, breed_prompt_run):
    monkeypatch.setattr(app, "WandbTracker", RecordingTracker)
    run_dir = breed_prompt_run(use_wandb=True)
    assert [name for name, _ in RecordingTracker.calls] == ["heldout", "figures", "finish"]
    paths = RecordingTracker.calls[1][1]
    assert sorted(paths) == sorted(FIGURES)
    for name, path in paths.items():
        assert Path(path) == run_dir / "report" / f"{name}.png" and Path(path).stat().st_size > 5000


def test_without_wandb_no_figure_is_drawn(monkeypatch, breed_prompt_run):
    monkeypatch.setattr(report_figures, "figures_for_run", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    run_dir = breed_prompt_run(evolution_generations=1)
    assert not (run_dir / "report").exists()


def test_a_plotting_failure_is_one_line_and_the_run_goes_on(monkeypatch, breed_prompt_run, capsys):
    def broken(folder):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(app, "WandbTracker", RecordingTracker)
    monkeypatch.setattr(report_figures, "figures_for_run", broken)
    run_dir = breed_prompt_run(use_wandb=True, evolution_generations=1)
    assert (run_dir / "report.json").is_file()
    assert [name for name, _ in RecordingTracker.calls] == ["heldout", "finish"]
    lines = [line for line in capsys.readouterr().err.splitlines() if "figures" in line]
    assert lines == ["promptbreeder: report figures skipped: RuntimeError: no fonts"]
