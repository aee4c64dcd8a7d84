from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from promptbreeder.config import changeable_settings
from promptbreeder.errors import RunError, UsageError
from promptbreeder.store.atomic import write_json_atomic
from promptbreeder.store.rng import dump_random, load_random
from promptbreeder.store.run_store import RunStore, existing_runs

CONFIG = {"task": "t", "seed": 1, "population_size": 4, "evolution_generations": 3, "verbose": False}
MAY_CHANGE = changeable_settings()


def test_runs_are_numbered_and_reopened(tmp_path):
    first = RunStore.create(tmp_path / "runs", CONFIG)
    second = RunStore.create(tmp_path / "runs", CONFIG)
    assert (first.number, second.number) == (1, 2)
    assert RunStore.open(tmp_path / "runs", 2).config == CONFIG
    assert existing_runs(tmp_path / "runs") == [1, 2]


def test_concurrent_creates_get_distinct_numbers(tmp_path):
    numbers = []
    threads = [threading.Thread(target=lambda: numbers.append(RunStore.create(tmp_path, CONFIG).number)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(numbers) == list(range(1, 9))


def test_opening_a_missing_run_lists_the_existing_ones(tmp_path):
    RunStore.create(tmp_path, CONFIG)
    with pytest.raises(UsageError, match=r"no run 7 .*existing runs: 1"):
        RunStore.open(tmp_path, 7)
    with pytest.raises(UsageError, match="none yet"):
        RunStore.open(tmp_path / "empty", 1)


def test_continue_refuses_changed_defining_settings_and_allows_budgets(tmp_path):
    store = RunStore.create(tmp_path, CONFIG)
    store.check_continue(CONFIG | {"evolution_generations": 10, "verbose": True, "continue_run_number": 1}, MAY_CHANGE)
    with pytest.raises(UsageError) as info:
        store.check_continue(CONFIG | {"seed": 2, "population_size": 8}, MAY_CHANGE)
    message = str(info.value)
    assert "population_size: run has 4, asked 8" in message and "seed: run has 1, asked 2" in message
    assert "evolution_generations" in message and "\n" not in message


def test_latest_complete_snapshot_wins_and_a_corrupt_one_is_skipped(tmp_path):
    store = RunStore.create(tmp_path, CONFIG)
    assert store.load_latest() is None
    store.save_step(1, {"best": 0.1})
    store.save_step(2, {"best": 0.2})
    assert store.load_latest().state == {"best": 0.2}
    (store.folder / "snapshots" / "step_000003.json").write_text('{"format_version": 1, "st')  # torn by a crash
    latest = store.load_latest()
    assert (latest.step, latest.state) == (2, {"best": 0.2})
    assert any(e["event"] == "snapshot_unreadable" and e["step"] == 3 for e in store.events())


def test_a_newer_format_is_refused(tmp_path):
    store = RunStore.create(tmp_path, CONFIG)
    write_json_atomic(store.folder / "snapshots" / "step_000001.json", {"format_version": 99, "step": 1, "state": {}})
    assert store.load_latest() is None
    assert "newer promptbreeder" in store.events()[-1]["error"]
    write_json_atomic(store.folder / "config.json", {"format_version": 99, "config": {}})
    with pytest.raises(RunError, match="newer promptbreeder"):
        store.config


def test_torn_event_lines_are_skipped(tmp_path):
    store = RunStore.create(tmp_path, CONFIG)
    store.log("generation", best=0.5)
    with open(store.folder / "events.jsonl", "a") as log:
        log.write('{"event": "gener')
    assert [e["event"] for e in store.events()] == ["run_created", "generation"]


def test_random_state_round_trips_through_json():
    rng = random.Random(5)
    rng.random()
    restored = load_random(json.loads(json.dumps(dump_random(rng))))
    assert [rng.random() for _ in range(5)] == [restored.random() for _ in range(5)]


WRITER = """
import sys
from promptbreeder.store.run_store import RunStore
store = RunStore(sys.argv[1])
step = 0
while True:
    step += 1
    store.save_step(step, {"step": step, "payload": "x" * 1000000})
    store.log("tick", step=step)
"""


def test_kill_9_mid_write_leaves_a_readable_run(tmp_path):
    store = RunStore.create(tmp_path, CONFIG)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(store.folder)], env=env)
    deadline = time.time() + 30
    while len(store.steps()) < 20 and time.time() < deadline:
        time.sleep(0.02)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    latest = store.load_latest()
    assert latest is not None and latest.state["step"] == latest.step >= 20
    assert len(latest.state["payload"]) == 1000000
    assert store.events()[-1]["event"] in ("tick", "step_saved")


def test_a_setting_newer_than_the_run_counts_as_its_default(tmp_path):
    store = RunStore.create(tmp_path, CONFIG)  # made before `operator_selection` existed
    newer = CONFIG | {"operator_selection": "uniform"}
    store.check_continue(newer, MAY_CHANGE, defaults={"operator_selection": "uniform"})
    with pytest.raises(UsageError, match="operator_selection: run has 'uniform', asked 'bandit'"):
        store.check_continue(CONFIG | {"operator_selection": "bandit"}, MAY_CHANGE, defaults={"operator_selection": "uniform"})


def test_one_process_runs_a_run_and_a_killed_one_lets_go(tmp_path):
    store = RunStore.create(tmp_path / "runs", {"seed": 1})
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from promptbreeder.store.run_store import RunStore; "
        f"RunStore({str(store.folder)!r}).claim(); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UsageError, match=rf"run 1 in .* is being run by process {holder.pid} on .* since"
                                             r" .*; wait for it to end \(one process runs a run\)"):
            RunStore.open(tmp_path / "runs", 1).claim()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    again = RunStore.open(tmp_path / "runs", 1)
    again.claim()  # the system dropped the killed process's lock
    again.claim()  # claiming twice in one process is a no-op
    again.release()
