"""A run's folder: `<day_care>/<task>/runs/run_<n>/`.

    config.json              the resolved settings the run was started with
    snapshots/step_<k>.json  the whole run state after step k (population, RNG states, ...), one per
                             completed step, each written atomically and tagged with FORMAT_VERSION
    events.jsonl             append-only log of what happened (one JSON object per line)
    cache.sqlite             every model call and fitness result (see cache.py)
    run.lock                 held (an exclusive `flock`) by the one process running the run: a second
                             process, on this machine or another sharing the folder, is refused

A killed run (even `kill -9`) leaves at worst a stray temporary file and a torn last event line; both
are ignored on reading, and the run continues from its last complete snapshot.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptbreeder.errors import RunError, UsageError
from promptbreeder.store.atomic import append_line, write_json_atomic

FORMAT_VERSION = 1
RUN_RE = re.compile(r"^run_(\d+)$")
STEP_RE = re.compile(r"^step_(\d+)\.json$")



@dataclass(frozen=True)
class Snapshot:
    step: int
    state: dict[str, Any]


class RunStore:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        match = RUN_RE.match(self.folder.name)
        if not match:
            raise UsageError(f"{self.folder} is not a run folder (expected a name like run_3)")
        self.number = int(match.group(1))
        self._lock_fd: int | None = None

    # -- one process per run ------------------------------------------------------------------------

    def claim(self) -> None:
        """Hold the run's lock until `release` (or the process ends, however it ends: the system drops
        the lock of a killed process). Raises UsageError while another process holds it."""
        if self._lock_fd is not None:
            return
        fd = os.open(self.folder / "run.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise UsageError(f"run {self.number} in {self.folder.parent} is being run by {holder}; wait for it to"
                             " end (one process runs a run) or start a new run") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}"
                  .encode(), 0)
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None

    # -- creating and finding runs ---------------------------------------------------------------

    @classmethod
    def create(cls, runs_dir: str | Path, config: dict[str, Any]) -> "RunStore":
        """A new run folder with the next free number (safe against concurrent starts)."""
        runs_dir = Path(runs_dir)
        runs_dir.mkdir(parents=True, exist_ok=True)
        number = max(existing_runs(runs_dir), default=0) + 1
        while True:
            try:
                (runs_dir / f"run_{number}").mkdir()
                break
            except FileExistsError:  # another process took it between listing and creating
                number += 1
        store = cls(runs_dir / f"run_{number}")
        write_json_atomic(store.folder / "config.json", {"format_version": FORMAT_VERSION, "config": config})
        store.log("run_created", run=number)
        return store

    @classmethod
    def open(cls, runs_dir: str | Path, number: int) -> "RunStore":
        folder = Path(runs_dir) / f"run_{number}"
        if not (folder / "config.json").is_file():
            runs = existing_runs(runs_dir)
            listed = ", ".join(str(n) for n in runs) if runs else "none yet"
            raise UsageError(f"there is no run {number} in {runs_dir} (existing runs: {listed})")
        return cls(folder)

    # -- config -----------------------------------------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        return self._read_versioned(self.folder / "config.json")["config"]

    def check_continue(self, config: dict[str, Any], may_change: frozenset[str],
                       defaults: dict[str, Any] | None = None) -> None:
        """Raise UsageError naming every setting that differs from the stored run, except those in
        `may_change` (budgets and the like: `config.changeable_settings()`).

        A setting newer than the run (absent from its stored config) counts as `defaults` gives it: the
        run was made with that behaviour.
        """
        stored = (defaults or {}) | self.config
        changed = [key for key in sorted(set(stored) | set(config))
                   if key not in may_change and stored.get(key) != config.get(key)]
        if changed:
            details = "; ".join(f"{k}: run has {stored.get(k)!r}, asked {config.get(k)!r}" for k in changed)
            raise UsageError(
                f"run {self.number} cannot continue with different settings that define it ({details});"
                f" only {', '.join(sorted(may_change - {'continue_run_number'}))} may change"
            )

    def update_budget(self, config: dict[str, Any]) -> None:
        """Store changed budget-like settings (e.g. more generations) after a successful check."""
        write_json_atomic(self.folder / "config.json", {"format_version": FORMAT_VERSION, "config": config})

    # -- snapshots --------------------------------------------------------------------------------

    def save_step(self, step: int, state: dict[str, Any]) -> None:
        write_json_atomic(self.folder / "snapshots" / f"step_{step:06d}.json",
                          {"format_version": FORMAT_VERSION, "step": step, "state": state})
        self.log("step_saved", step=step)

    def steps(self) -> list[int]:
        folder = self.folder / "snapshots"
        if not folder.is_dir():
            return []
        return sorted(int(m.group(1)) for p in folder.iterdir() if (m := STEP_RE.match(p.name)))

    def load_latest(self) -> Snapshot | None:
        """The newest snapshot that reads back whole (an unreadable newest one is skipped and logged)."""
        for step in reversed(self.steps()):
            path = self.folder / "snapshots" / f"step_{step:06d}.json"
            try:
                data = self._read_versioned(path)
            except RunError as exc:
                self.log("snapshot_unreadable", step=step, error=str(exc))
                continue
            return Snapshot(step=data["step"], state=data["state"])
        return None

    # -- events -----------------------------------------------------------------------------------

    def log(self, event: str, **fields: Any) -> None:
        append_line(self.folder / "events.jsonl",
                    json.dumps({"event": event, "time": round(time.time(), 3), **fields}, default=str))

    def events(self) -> list[dict[str, Any]]:
        path = self.folder / "events.jsonl"
        if not path.is_file():
            return []
        events = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:  # a line torn by a crash mid-write
                continue
        return events

    @property
    def cache_path(self) -> Path:
        return self.folder / "cache.sqlite"

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _read_versioned(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise RunError(f"{path}: cannot be read ({exc})") from None
        version = data.get("format_version") if isinstance(data, dict) else None
        if not isinstance(version, int):
            raise RunError(f"{path}: not a promptbreeder run file (no format_version)")
        if version > FORMAT_VERSION:
            raise RunError(f"{path}: written by a newer promptbreeder (format {version}, this one reads {FORMAT_VERSION})")
        return data


def existing_runs(runs_dir: str | Path) -> list[int]:
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    return sorted(int(m.group(1)) for name in os.listdir(runs_dir) if (m := RUN_RE.match(name)))
