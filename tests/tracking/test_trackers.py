from __future__ import annotations

import io

from promptbreeder.tracking.base import RunInfo, Trackers
from promptbreeder.tracking.console import ConsoleTracker
from promptbreeder.tracking.wandb_tracker import WandbTracker, wandb_mode

SUMMARY = {"best": 0.5, "mean": 0.25, "operator_stats": {"first_order": {"used": 3, "failed": 1, "beat_parent": 1}}}
POPULATION = [{"id": "u1", "prompt": "Add carefully.", "fitness": 0.5, "operator": "first_order", "parent": "u0"}]


def info(folder, start=0):
    return RunInfo(id="t-run1-abc", task="t", number=1, folder=str(folder), start_generation=start,
                   config={"evolution_generations": 3, "seed": 0})


def test_console_bar_and_verbose_lines():
    out = io.StringIO()
    tracker = ConsoleTracker(out=out, verbose=True, bar=True)
    tracker.start(info("."))
    tracker.generation(1, 3, SUMMARY, POPULATION)
    tracker.finish()
    text = out.getvalue()
    assert "generation 1/3: best 0.500 mean 0.250" in text and "run 1" in text


def test_without_a_terminal_each_generation_is_one_line():
    out = io.StringIO()
    tracker = ConsoleTracker(out=out)
    tracker.start(info("."))
    tracker.generation(1, 3, SUMMARY, POPULATION)
    tracker.finish()
    assert out.getvalue() == "generation 1/3: best 0.500 mean 0.250\n"


def test_wandb_is_offline_without_a_key(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert wandb_mode() == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_mode() == "online"


def test_wandb_logs_offline_and_a_continued_run_resumes_the_same_id(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for start in (0, 1):
        tracker = Trackers(WandbTracker(project="promptbreeder-tests"))
        tracker.start(info(tmp_path, start))
        tracker.generation(start + 1, 3, SUMMARY, POPULATION)
        tracker.heldout([{"name": "best", "prompt": "Add carefully.", "score": 0.4}])
        tracker.finish()
    runs = sorted(p.name for p in (tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all("-t-run1-abc" in name for name in runs)  # wandb adds "-1" within one second


def test_a_broken_wandb_does_not_stop_the_run(monkeypatch, tmp_path, capsys):
    import wandb

    monkeypatch.setattr(wandb, "init", lambda **kwargs: (_ for _ in ()).throw(RuntimeError("no disk")))
    tracker = WandbTracker(project="p")
    tracker.start(info(tmp_path))
    tracker.generation(1, 3, SUMMARY, POPULATION)
    tracker.finish()
    assert "wandb tracking off: RuntimeError: no disk" in capsys.readouterr().err


class _FakeWandbRun:
    def __init__(self):
        self.logged = []

    def log(self, data, **kwargs):
        self.logged.append(data)


def _png(path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 2))
    figure.add_subplot().plot([0, 1], [1, 0])
    FigureCanvasAgg(figure)
    figure.savefig(path)
    return str(path)


def test_figures_are_fanned_out_and_a_plain_tracker_ignores_them(tmp_path):
    from promptbreeder.tracking.base import Tracker

    seen = []

    class Recording(Tracker):
        def figures(self, paths):
            seen.append(paths)

    Trackers(Tracker(), Recording(), Recording()).figures({"fitness": "f.png"})
    assert seen == [{"fitness": "f.png"}] * 2


def test_wandb_logs_each_figure_as_an_image(tmp_path):
    import wandb

    tracker = WandbTracker(project="p")
    tracker.run = _FakeWandbRun()
    tracker.figures({"fitness": _png(tmp_path / "fitness.png"), "lineage": _png(tmp_path / "lineage.png")})
    (logged,) = tracker.run.logged
    assert sorted(logged) == ["report/fitness", "report/lineage"]
    assert all(isinstance(image, wandb.Image) for image in logged.values())


def test_a_figure_wandb_cannot_read_turns_wandb_off_with_one_line(tmp_path, capsys):
    tracker = WandbTracker(project="p")
    tracker.run = _FakeWandbRun()
    tracker.figures({"fitness": str(tmp_path / "missing.png")})
    assert tracker.run is None
    assert capsys.readouterr().err.startswith("promptbreeder: wandb tracking off:")
    tracker.figures({"fitness": "ignored once off"})


def test_wandb_gets_the_steps_entropy_when_the_run_measures_it():
    logged = []

    class Run:
        def log(self, data, step=None):
            logged.append(data)

    tracker = WandbTracker(project="p")
    tracker.run = Run()
    tracker.generation(1, 3, SUMMARY | {"fitness_entropy": 0.7, "mutation_entropy": 2.5}, POPULATION)
    tracker.generation(2, 3, SUMMARY, POPULATION)
    assert logged[0]["entropy/fitness"] == 0.7 and logged[0]["entropy/mutation"] == 2.5
    assert not any(key.startswith("entropy/") for key in logged[1])
