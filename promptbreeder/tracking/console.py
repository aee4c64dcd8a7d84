"""Console tracking: a progress bar over generations (with ETA) on a terminal; elsewhere (logs, pipes)
a line per generation instead, which `--verbose` also adds on a terminal."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm

from promptbreeder.tracking.base import RunInfo, Tracker


class ConsoleTracker(Tracker):
    def __init__(self, out: TextIO | None = None, verbose: bool = False, bar: bool | None = None):
        # looked up per tracker, not at import: whoever redirected stderr since then gets the lines
        self.out, self.verbose = out or sys.stderr, verbose
        self.enabled = bar if bar is not None else bool(getattr(self.out, "isatty", lambda: False)())
        self.bar: tqdm | None = None

    def start(self, run: RunInfo) -> None:
        total = int(run.config.get("evolution_generations", 0))
        if self.enabled and total > run.start_generation:
            self.bar = tqdm(total=total, initial=run.start_generation, desc=f"run {run.number}", unit="gen",
                            file=self.out, dynamic_ncols=True)

    def generation(self, generation: int, total: int, summary: dict[str, Any], population: list[dict[str, Any]]) -> None:
        if self.bar is not None:
            self.bar.set_postfix(best=f"{summary['best']:.3f}", mean=f"{summary['mean']:.3f}")
            self.bar.update(generation - self.bar.n)
        if self.verbose or self.bar is None:
            message = f"generation {generation}/{total}: best {summary['best']:.3f} mean {summary['mean']:.3f}"
            if self.bar is not None:
                self.bar.write(message, file=self.out)
            else:
                print(message, file=self.out)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
