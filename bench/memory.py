"""Memory over a long run: resident memory of a real breeding run after each of its generations.

Runs `python -m promptbreeder` on the embedded model in a child process (on a scratch copy of one task
of the day care) and samples the child's resident set size (VmRSS) several times a second. At each
generation's event in the run's `events.jsonl` it records the RSS of that moment and the peak so far.
Prints one line per generation, then `growth=<percent>`: the RSS growth from the end of generation 2
to the end of the last generation (the target is under 5%; generations 0–1 load the model and warm its
caches). The run is stopped after its last generation: its held-out evaluation is not measured.
Usage: python bench/memory.py [--generations 10] [--population 8] [--batch 8] [-- extra CLI flags]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float | None:
    """The process's resident set size in MiB, or None once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def generation_events(run_dir: Path) -> list[dict]:
    path = run_dir / "events.jsonl"
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:  # the line being written
            continue
        if event.get("event") == "generation":
            events.append(event)
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="arithmetic_1_digit_addition")
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8, help="fitness examples per tournament")
    parser.add_argument("extra", nargs="*", help="further flags for the run (after --)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pb-memory-"))
    day_care = work / "day_care"
    shutil.copytree(ROOT / "day_care", day_care, ignore=lambda d, names: [n for n in names if n in ("runs", "debug_runs")])
    command = [sys.executable, "-m", "promptbreeder", "--task", args.task, "--day_care_dir", str(day_care),
               "--population_size", str(args.population), "--fitness_batch_size", str(args.batch),
               "--evolution_generations", str(args.generations), *args.extra]
    print("$ " + " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    log = work / "run.log"  # a file, not a pipe nobody reads while the run fills it
    with log.open("w") as out:
        child = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                 env={**os.environ, "WANDB_MODE": "disabled"})
    run_dir = day_care / args.task / "runs" / "run_1"
    seen, peak, rows = 0, 0.0, []
    while child.poll() is None:
        now = rss_mb(child.pid)
        if now is not None:
            peak = max(peak, now)
            events = generation_events(run_dir)
            for event in events[seen:]:
                rows.append((event["generation"], now, peak, time.perf_counter() - started))
                print(f"generation {event['generation']:2}: rss {now:7.1f} MiB, peak {peak:7.1f} MiB,"
                      f" {rows[-1][3]:6.1f} s", flush=True)
            seen = len(events)
            if rows and rows[-1][0] >= args.generations:
                # the last generation is what was to be measured: the held-out evaluation and report after
                # it would take as long again, so the scratch run is stopped here
                child.kill()
                break
        time.sleep(0.1)
    child.wait()
    output = log.read_text(errors="replace")
    shutil.rmtree(work, ignore_errors=True)
    if not rows or rows[-1][0] < args.generations:
        raise SystemExit(f"the run failed (exit {child.returncode}):\n{output[-3000:]}")
    by_generation = {generation: rss for generation, rss, _, _ in rows}
    start = by_generation.get(2, rows[0][1])
    end = rows[-1][1]
    print(f"rss after generation 2: {start:.1f} MiB, at the end: {end:.1f} MiB, peak {peak:.1f} MiB")
    print(f"growth={100 * (end - start) / start:.1f}%")


if __name__ == "__main__":
    main()
