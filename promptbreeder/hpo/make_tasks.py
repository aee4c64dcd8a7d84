"""Write the Bayesmark-style HPO suite as day care task folders: `hpo_<model>_<dataset>/task_description.json`.

Each folder is a ready `"genome": "config"` task: the model's default search space, the sklearn
objective (cross-validated, seeded) and its one-sentence description for the LLM.
Usage: python -m promptbreeder.hpo.make_tasks DAY_CARE_DIR [--cv 3]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from promptbreeder.hpo.objectives import DATASETS, MODELS, SklearnObjective, default_space


def task_name(model: str, dataset: str) -> str:
    return f"hpo_{model}_{dataset}"


def write_tasks(day_care: Path, cv: int = 3) -> list[Path]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("day_care_dir")
    parser.add_argument("--cv", type=int, default=3)
    args = parser.parse_args()
    for folder in write_tasks(Path(args.day_care_dir), cv=args.cv):
        print(folder)


if __name__ == "__main__":
    main()
