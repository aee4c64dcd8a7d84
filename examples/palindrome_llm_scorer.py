"""llm_optimize's palindrome example: a text improved under a rubric that an LLM grades (get_llm_scorer).

    python examples/palindrome_llm_scorer.py [--model smollm2-135m] [--max_steps 3]

The grader is the run's own model unless --grader names another (any form --model_name_or_path takes,
e.g. a stronger model behind an OpenAI-compatible server). SmolLM2-135M is no judge of palindromes: this
shows the machinery; `day_care/text_palindrome` scores the same goal by rule instead.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import promptbreeder  # noqa: E402

X0 = 'Machine learning (ML) is a field of inquiry devoted to understanding and building methods that "learn".'
TASK = ("You are a linguistics expert who can write complex sentences. Write a statement that describes machine"
        " learning, is a palindrome and has at least 5 words.")
QUESTION = "What is the next text to try such that it better describes machine learning and is a palindrome?"
RUBRIC = """Rate the following text, using the rubric:
* Describes machine learning (1-10)
* Is a palindrome (1-10)
* Is at least 5 words (1-10)

```
{x}
```

At the end respond with `final_score=score` (e.g. `final_score=5`), one overall score from 1 to 10."""


def final_score(reply: str) -> float:
    return float(re.findall(r"final_score=\s*([\d.]+)", reply)[-1])


def main(argv: list[str] | None = None) -> promptbreeder.optimizer.OptimizeResult:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--grader", default=None, help="the grading model (default: the run's model)")
    parser.add_argument("--max_steps", type=int, default=3)
    parser.add_argument("--grader_tokens", type=int, default=96)
    args = parser.parse_args(argv)

    backend = None
    if args.grader:
        from promptbreeder.backends import check_reachable, create_backend
        from promptbreeder.config import RunConfig

        config = RunConfig(task="grader", model_name_or_path=args.grader)
        check_reachable(config.model_spec)
        backend = create_backend(config, config.model_spec)
    scorer = promptbreeder.get_llm_scorer(RUBRIC, parse_score=final_score, backend=backend,
                                          max_tokens=args.grader_tokens)
    try:
        result = promptbreeder.optimize(TASK, QUESTION, scorer, x0=X0, stop_score=10.0, max_steps=args.max_steps,
                                        model=args.model)
    finally:
        if backend is not None:
            backend.close()
    for entry in result.history:
        print(f"{entry['score']:5.1f}  {entry['text'][:100]!r}\n       grader: {entry['feedback'][:160]!r}")
    print(f"best ({result.best_score:g}, {result.stopped} after {result.steps} steps): {result.best!r}")
    return result


if __name__ == "__main__":
    main()
