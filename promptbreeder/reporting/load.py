"""A run folder read into plain data for reports, without touching it.

`RunStore` is not used here on purpose: it only accepts folders named `run_<n>` and logs an event when
a snapshot is unreadable, while a report must read a copied or half-written run and never write into it.
What cannot be read (a torn snapshot, a broken report.json) becomes a line in `RunData.problems`; only
a folder with no readable snapshot at all is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptbreeder.errors import UsageError
from promptbreeder.genomes.kind import GenomeKind
from promptbreeder.genomes.registry import KINDS, saved_kind
from promptbreeder.store.run_store import FORMAT_VERSION, STEP_RE

MAX_LISTED_RUNS = 8  # runs named in the error for a wrong path; more would not fit one line


@dataclass(frozen=True)
class Snapshot:
    step: int
    state: dict[str, Any]


@dataclass
class RunData:
    folder: Path
    config: dict[str, Any]
    kind: str  # the genome kind's name (a key of genomes.registry.KINDS)
    snapshots: list[Snapshot]  # readable ones, oldest first; never empty
    events: list[dict[str, Any]]
    report: dict[str, Any] | None  # report.json; None while a run goes on or after it was killed
    task: dict[str, Any] | None = None  # task_description.json, when the task folder can be found
    space: Any = None  # the search space of a kind whose units are configurations, when known
    problems: list[str] = field(default_factory=list)

    @property
    def genome(self) -> GenomeKind:
        """The kind's registry entry: how its units read as text, its search space, its report text."""
        return KINDS[self.kind]

    @property
    def last(self) -> Snapshot:
        return self.snapshots[-1]

    @property
    def population(self) -> list[dict[str, Any]]:
        return self.last.state.get("population", [])

    @property
    def direction(self) -> str:
        return (self.report or {}).get("direction") or (self.task or {}).get("direction") or "maximize"


def load_run(folder: str | Path) -> RunData:
    """Everything a report needs from `folder`; UsageError (one line, runs nearby) if it is not a run."""
    folder = Path(folder)
    if not folder.exists():
        raise UsageError(f"{folder} does not exist{_nearby_hint(folder)}")
    problems: list[str] = []
    snapshots = _read_snapshots(folder, problems) if folder.is_dir() else []
    if not snapshots:
        reason = "no readable snapshot" if (folder / "snapshots").is_dir() else "no snapshots"
        raise UsageError(f"{folder} is not a run folder ({reason}){_nearby_hint(folder)}")
    config = _read_json(folder / "config.json", problems)
    config = config.get("config", {}) if isinstance(config, dict) else {}
    report = _read_json(folder / "report.json", problems, missing_ok=True)
    task = _find_task(folder, config)
    population = snapshots[-1].state.get("population", [])
    kind = detect_kind(population, task, report if isinstance(report, dict) else None)
    run = RunData(folder=folder, config=config, kind=kind, snapshots=snapshots, events=_read_events(folder),
                  report=report if isinstance(report, dict) else None, task=task, problems=problems)
    run.space = run.genome.saved_space(task)
    return run


def detect_kind(population: list[dict[str, Any]], task: dict | None, report: dict | None) -> str:
    """The genome kind's name: the one the task (or report) declares when the units fit it, else the
    kind that recognises the units themselves (see `genomes.registry.saved_kind`)."""
    declared = (task or {}).get("genome") or (report or {}).get("genome")
    return saved_kind(population, declared).name


# -- reading ----------------------------------------------------------------------------------------


def _read_snapshots(folder: Path, problems: list[str]) -> list[Snapshot]:
    directory = folder / "snapshots"
    if not directory.is_dir():
        return []
    steps = sorted((int(m.group(1)), path) for path in directory.iterdir() if (m := STEP_RE.match(path.name)))
    snapshots = []
    for step, path in steps:
        data = _read_json(path, problems)
        if not isinstance(data, dict) or not isinstance(data.get("state"), dict):
            if data is not None:
                problems.append(f"{path.name}: not a run snapshot, skipped")
            continue
        version = data.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            problems.append(f"{path.name}: snapshot format {version!r} is not one this version reads, skipped")
            continue
        if not isinstance(data["state"].get("population"), list):
            problems.append(f"{path.name}: snapshot without a population, skipped")
            continue
        snapshots.append(Snapshot(step=int(data.get("step", step)), state=data["state"]))
    return snapshots


def _read_events(folder: Path) -> list[dict[str, Any]]:
    path = folder / "events.jsonl"
    if not path.is_file():
        return []
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:  # a line torn by a crash mid-write
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _read_json(path: Path, problems: list[str], missing_ok: bool = False) -> Any:
    if not path.is_file():
        if not missing_ok:
            problems.append(f"{path.name} is missing")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(f"{path.name} cannot be read ({type(exc).__name__}), skipped")
        return None


def _find_task(folder: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """task_description.json: the run folder normally sits in `<task>/runs/`; else where config.json says."""
    candidates = []
    if folder.parent.name in ("runs", "debug_runs"):
        candidates.append(folder.parent.parent / "task_description.json")
    if config.get("day_care_dir") and config.get("task"):
        candidates.append(Path(config["day_care_dir"]) / config["task"] / "task_description.json")
    for path in candidates:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(data, dict):
            return data
    return None


# -- the error for a wrong path ---------------------------------------------------------------------


def runs_near(path: Path) -> list[Path]:
    """Run folders (with snapshots) in or beside `path`: in it, its runs/ folders, its tasks' runs/."""
    start = path
    while not start.is_dir() and start != start.parent:
        start = start.parent
    searches = [(start, pattern) for pattern in ("run_*", "runs/run_*", "debug_runs/run_*", "*/runs/run_*")]
    if start == path and path.parent != path:
        searches.append((path.parent, "run_*"))  # `path` is a folder beside run folders, e.g. an empty run_3
    found = {p.resolve(): p for base, pattern in searches for p in base.glob(pattern)
             if p.is_dir() and (p / "snapshots").is_dir() and p.resolve() != path.resolve()}

    def order(p: Path) -> tuple[str, int]:
        number = p.name.removeprefix("run_")
        return str(p.parent), int(number) if number.isdigit() else 0

    return sorted(found.values(), key=order)


def _nearby_hint(path: Path) -> str:
    runs = runs_near(path)
    if not runs:
        return "; no run folders found nearby"
    listed = ", ".join(str(p) for p in runs[:MAX_LISTED_RUNS])
    more = f" and {len(runs) - MAX_LISTED_RUNS} more" if len(runs) > MAX_LISTED_RUNS else ""
    return f"; runs nearby: {listed}{more}"
