"""Weights & Biases tracking. Offline unless an API key is configured; a continued run resumes the
same wandb run (its id is the run's id), so dashboards show one curve per run, not one per process.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from promptbreeder.tracking.base import RunInfo, Tracker


def wandb_mode() -> str:
    """'online' only when the user set WANDB_MODE or has an API key; never try the network otherwise."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    has_key = bool(os.environ.get("WANDB_API_KEY")) or os.path.exists(os.path.expanduser("~/.netrc"))
    return "online" if has_key else "offline"


class WandbTracker(Tracker):
    def __init__(self, project: str):
        self.project = project
        self.run = None

    def start(self, run: RunInfo) -> None:
        try:
            import wandb

            self.run = wandb.init(project=self.project, id=run.id, name=f"{run.task} run {run.number}", resume="allow",
                                  dir=run.folder, mode=wandb_mode(), config=run.config, reinit="finish_previous")
        except Exception as exc:  # wandb failing must not stop breeding
            self._disable(exc)

    def generation(self, generation: int, total: int, summary: dict[str, Any], population: list[dict[str, Any]]) -> None:
        if self.run is None:
            return
        try:
            import wandb

            columns = ["id", "prompt", "fitness", "operator", "parent"]
            table = wandb.Table(columns=columns, data=[[row.get(c) for c in columns] for row in population])
            stats = summary.get("operator_stats", {})
            operator_table = wandb.Table(columns=["operator", "used", "failed", "beat_parent"],
                                         data=[[name, s.get("used", 0), s.get("failed", 0), s.get("beat_parent", 0)]
                                               for name, s in sorted(stats.items())])
            entropy = {f"entropy/{key.removesuffix('_entropy')}": summary[key]
                       for key in ("fitness_entropy", "mutation_entropy") if key in summary}
            self.run.log({"generation": generation, "fitness/best": summary["best"], "fitness/mean": summary["mean"],
                          "population": table, "operators": operator_table, **entropy}, step=generation)
        except Exception as exc:
            self._disable(exc)

    def heldout(self, comparison: list[dict[str, Any]]) -> None:
        if self.run is None:
            return
        try:
            import wandb

            table = wandb.Table(columns=["name", "prompt", "score"],
                                data=[[row["name"], row["prompt"], row["score"]] for row in comparison])
            self.run.log({"heldout": table})
            for row in comparison:
                self.run.summary[f"heldout/{row['name']}"] = row["score"]
        except Exception as exc:
            self._disable(exc)

    def figures(self, paths: dict[str, str]) -> None:
        """The report's PNG figures as images, under "report/<name>"."""
        if self.run is None:
            return
        try:
            import wandb

            self.run.log({f"report/{name}": wandb.Image(str(path)) for name, path in paths.items()})
        except Exception as exc:
            self._disable(exc)

    def finish(self) -> None:
        if self.run is not None:
            try:
                self.run.finish()
            except Exception as exc:
                self._disable(exc)
            self.run = None

    def _disable(self, exc: Exception) -> None:
        print(f"promptbreeder: wandb tracking off: {type(exc).__name__}: {exc}", file=sys.stderr)
        self.run = None
