"""`promptbreeder make-hpo-tasks DAY_CARE_DIR [--cv 3]`: write the Bayesmark-style HPO suite as day care task
folders, `hpo_<model>_<dataset>/task_description.json`, and print each folder.

Each folder is a ready `"genome": "config"` task: the model's default search space, the sklearn
objective (cross-validated, seeded) and its one-sentence description for the LLM. A bad --cv is a
`UsageError`. `python -m promptbreeder.commands.make_hpo_tasks ...` works too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from promptbreeder.errors import UsageError

PROG = "promptbreeder make-hpo-tasks"


def task_name(model: str, dataset: str) -> str:
    return f"hpo_{model}_{dataset}"


def write_tasks(day_care: Path, cv: int = 3) -> list[Path]:
    """Write one task folder per (model, dataset) under `day_care`; returns the folders."""
    # deferred: pulls in scikit-learn, which `--help` should not wait for
    from promptbreeder.genomes.hpo.objectives import DATASETS, MODELS, SklearnObjective, default_space

    written = []
    for model in MODELS:
        for dataset in DATASETS:
            folder = Path(day_care) / task_name(model, dataset)
            folder.mkdir(parents=True, exist_ok=True)
            objective = SklearnObjective(model, dataset, cv=cv)
            spec = {
                "task_description": objective.describe(),
                "genome": "config",
                "search_space": default_space(model, dataset),
                "objective": {"type": "sklearn", "model": model, "dataset": dataset, "cv": cv},
                "direction": "maximize",
                "decoder_options": "sample(temperature=0.8)",
            }
            (folder / "task_description.json").write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
            written.append(folder)
    return written


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Write the Bayesmark-style HPO suite as day care"
                                                            " task folders (hpo_<model>_<dataset>) and print them.")
    parser.add_argument("day_care_dir", metavar="DAY_CARE_DIR", help="day care folder to write the tasks into")
    parser.add_argument("--cv", type=int, default=3, help="cross-validation folds of each objective (default: 3)")
    parser.add_argument("--verbose", action="store_true", help="show a traceback when something fails")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.cv < 2:  # scikit-learn's cross-validation needs two folds at least
        raise UsageError(f"{PROG}: --cv must be >= 2 (got {args.cv})")
    for folder in write_tasks(Path(args.day_care_dir), cv=args.cv):
        print(folder)
    return 0


if __name__ == "__main__":
    from promptbreeder import cli  # errors become one line and an exit code there, as for the command

    sys.exit(cli.main(["make-hpo-tasks", *sys.argv[1:]]))
