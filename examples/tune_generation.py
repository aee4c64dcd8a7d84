"""Search the embedded model's decoding parameters on a shipped task with scikit-learn's GridSearchCV.

    python examples/tune_generation.py [--task arithmetic_1_digit_addition] [--examples 40]

Each candidate answers every example once (`whole_dataset_cv`: nothing is trained, so there is no point
holding examples back); the task's own scorer is the metric. Prints every candidate's score, best first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sklearn.model_selection import GridSearchCV
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from promptbreeder.backends.models import resolve_model  # noqa: E402
from promptbreeder.tuning import GenerationTuner, whole_dataset_cv  # noqa: E402
from promptbreeder.tuning.tasks import task_data  # noqa: E402

GRID = {"temperature": [0.0, 0.5, 1.0], "top_k": [0, 10], "max_new_tokens": [4, 12]}


def main(argv: list[str] | None = None, grid: dict | None = None) -> GridSearchCV:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="arithmetic_1_digit_addition")
    parser.add_argument("--day_care_dir", default=str(ROOT / "day_care"))
    parser.add_argument("--examples", type=int, default=40)
    parser.add_argument("--model", default="smollm2-135m")
    args = parser.parse_args(argv)

    X, y, metric, task = task_data(args.day_care_dir, args.task, args.examples)
    instruction = task.seed_prompts[0] if task.seed_prompts else task.description
    folder = resolve_model(args.model).local_dir()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)

    def user_message(tokenizer, input, **_):  # the example's other fields (its gold answer) are not shown
        return f"{instruction}\n{input}"

    tuner = GenerationTuner(model, tokenizer, scorer=metric, sample_preprocessor=user_message, chat=True,
                            stop=["\n"], batch_size=len(X))
    search = GridSearchCV(tuner, grid or GRID, cv=whole_dataset_cv(len(X)), refit=False)
    search.fit(X, y)
    ranked = sorted(zip(search.cv_results_["mean_test_score"], search.cv_results_["params"]), key=lambda p: -p[0])
    print(f"{args.task}: {len(X)} examples, {len(ranked)} candidates, instruction {instruction!r}")
    for score, params in ranked:
        print(f"  {score:.3f}  {params}")
    return search


if __name__ == "__main__":
    main()
