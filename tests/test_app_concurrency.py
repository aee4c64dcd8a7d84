"""Runs that share a day care, as real processes: two runs of a task started at the same moment get their
own numbers and folders; a second process continuing a run that is running is refused with one line, and
takes it over once the first was killed; a run continues from a copy of its day care or another path to it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

TASK = "arithmetic_1_digit_addition"
ROOT = Path(__file__).resolve().parents[1]

# a real app.run in its own process, on the fake backend (slowed, so runs overlap); waits for `go` first
RUNNER = r"""
import io, re, sys, time
from pathlib import Path
from promptbreeder import app
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.config import resolve_config
from promptbreeder.errors import PromptbreederError

day_care, go, delay, extra = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]

def reply(request):
    time.sleep(delay)
    if request.name.startswith("fitness"):
        a, b = [int(w) for w in re.findall(r"\d+", request.inputs["question"])][:2]
        return str(a + b)
    return {"PROMPT": f"Add the numbers, version {request.seed % 1000}.", "MUTATION": "Say it more clearly."}

app.create_backend = lambda config, spec=None: FakeBackend(responder=reply)
values = {"task": "arithmetic_1_digit_addition", "day_care_dir": day_care, "population_size": 4,
          "initial_prompts_per_unit": 1, "evolution_generations": 2, "fitness_batch_size": 3, "test_CoT": False,
          "selection_examples": 3}
for flag, value in zip(extra[::2], extra[1::2]):
    values[flag.lstrip("-")] = int(value) if value.isdigit() else value
while not go.exists():
    time.sleep(0.005)
try:
    code = app.run(resolve_config(values, None), out=sys.stdout)
except PromptbreederError as exc:
    print(f"error: {exc}", flush=True)
    sys.exit(2)
sys.exit(code)
"""


def _start(day_care, go, delay=0.0, *extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", RUNNER, str(day_care), str(go), str(delay), *map(str, extra)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _final(day_care, number):
    snapshots = sorted((day_care / TASK / "runs" / f"run_{number}" / "snapshots").glob("step_*.json"))
    return json.loads(snapshots[-1].read_text())["state"]


def test_two_runs_started_at_once_get_their_own_numbers_and_folders(shipped_day_care, tmp_path):
    go = tmp_path / "go"
    first, second = _start(shipped_day_care, go, 0.002), _start(shipped_day_care, go, 0.002)
    time.sleep(1.5)  # both processes imported and waiting
    go.touch()
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    said = sorted(int(out.split("run ", 1)[1].split()[0]) for out, _ in outputs)
    assert said == [1, 2]
    for number in (1, 2):
        folder = shipped_day_care / TASK / "runs" / f"run_{number}"
        events = [json.loads(line)["event"] for line in (folder / "events.jsonl").read_text().splitlines()]
        assert events.count("run_created") == 1 and "report" in " ".join(events)


def test_continuing_a_run_that_is_running_is_refused_and_a_killed_holder_lets_go(shipped_day_care, tmp_path):
    go = tmp_path / "go"
    go.touch()
    holder = _start(shipped_day_care, go, 0.2)  # slow: still running while the second one asks
    lock = shipped_day_care / TASK / "runs" / "run_1" / "run.lock"
    deadline = time.time() + 120
    while not (lock.exists() and lock.read_text().startswith("process")) and time.time() < deadline:
        time.sleep(0.05)
    second = _start(shipped_day_care, go, 0.0, "--continue_run_number", 1)
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 2 and out.count("\n") == 1
    assert f"run 1 in {shipped_day_care / TASK / 'runs'} is being run by process {holder.pid}" in out
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    third = _start(shipped_day_care, go, 0.0, "--continue_run_number", 1)
    out, err = third.communicate(timeout=300)
    assert third.returncode == 0, out + err
    assert not (shipped_day_care / TASK / "runs" / "run_2").exists()


def test_a_run_continues_from_a_copy_of_its_day_care_and_ends_where_it_would_have(shipped_day_care, tmp_path):
    go = tmp_path / "go"
    go.touch()
    whole = _start(shipped_day_care, go)
    assert whole.communicate(timeout=300) and whole.returncode == 0
    stopped = _start(shipped_day_care, go, 0.0, "--evolution_generations", 1)
    assert stopped.communicate(timeout=300) and stopped.returncode == 0
    copy = tmp_path / "moved" / "day_care"
    shutil.copytree(shipped_day_care, copy)
    relative = os.path.relpath(copy, ROOT)  # another spelling of the path, too
    continued = _start(relative, go, 0.0, "--continue_run_number", 2)
    out, err = continued.communicate(timeout=300)
    assert continued.returncode == 0, out + err
    assert _final(copy, 2)["population"] == _final(shipped_day_care, 1)["population"]
