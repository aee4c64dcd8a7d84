"""Fitness: run the task's fitness-test query for candidate prompts over examples and score the answers.

All (candidate × example) queries of one call go to the backend together, so they are batched into
shared generate calls. A failed query scores 0 and is counted; it never raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from promptbreeder.backends.base import Backend, DecoderOptions, QueryRequest
from promptbreeder.daycare.loader import DayCare, Task
from promptbreeder.scorers.base import Scorer

VARIANTS = {"noCoT": "fitness_noCoT", "CoT": "fitness_CoT"}
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."


@dataclass(frozen=True)
class Candidate:
    """The part of a unit fitness needs: a prompt before the question and an optional one after it."""

    task_prompt: str
    task_prompt_after: str = ""


@dataclass
class FitnessResult:
    variant: str
    scores: list[float]
    answers: list[str]
    reasonings: list[str] = field(default_factory=list)
    failures: int = 0
    first_error: str | None = None

    @property
    def fitness(self) -> float:
        return sum(self.scores) / len(self.scores) if self.scores else 0.0


class FitnessEvaluator:
    def __init__(self, day_care: DayCare, task: Task, backend: Backend, scorer: Scorer, *,
                 decoder: DecoderOptions | None = None, seed: int = 0, reasoning_max_tokens: int = 96):
        self.day_care, self.task, self.backend, self.scorer = day_care, task, backend, scorer
        self.decoder = decoder or task.fitness_decoder
        self.seed = seed
        self.reasoning_max_tokens = reasoning_max_tokens
        self.system_prompt = task.fixed_system_prompt or DEFAULT_SYSTEM_PROMPT

    def requests(self, candidate: Candidate, examples: list[dict], variant: str) -> list[QueryRequest]:
        if variant not in VARIANTS:
            raise ValueError(f"unknown fitness variant {variant!r}; known: {', '.join(VARIANTS)}")
        query_name = VARIANTS[variant]
        query = self.day_care.query_text(query_name, task=self.task.name)
        return [
            QueryRequest(
                query=query,
                inputs={
                    "system_prompt": self.system_prompt,
                    "task_prompt": candidate.task_prompt,
                    "task_prompt_after": candidate.task_prompt_after,
                    "question": example["input"],
                    "choices": list(example.get("choices", [])),
                    "answer_type": self.task.answer_type,
                    "answer_max_tokens": self.task.answer_max_tokens,
                    "reasoning_max_tokens": self.reasoning_max_tokens,
                },
                decoder=self.decoder,
                seed=self.seed,
                name=query_name,
            )
            for example in examples
        ]

    def evaluate(self, candidates: list[Candidate], examples: list[dict], variant: str = "noCoT") -> list[FitnessResult]:
        """Fitness of each candidate on the same examples (one batched backend call for all)."""
        if not candidates or not examples:
            return [FitnessResult(variant, [], []) for _ in candidates]
        requests = [r for c in candidates for r in self.requests(c, examples, variant)]
        results = self.backend.run_many(requests)
        answers = [r.variables.get("ANSWER", "") if r.ok else "" for r in results]
        scores = self.scorer.score_many(answers, [examples[i % len(examples)] for i in range(len(results))])
        scores = [s if r.ok else 0.0 for s, r in zip(scores, results)]
        n = len(examples)
        return [
            FitnessResult(
                variant=variant,
                scores=scores[i * n : (i + 1) * n],
                answers=answers[i * n : (i + 1) * n],
                reasonings=[r.variables.get("REASONING", "") for r in results[i * n : (i + 1) * n]],
                failures=sum(not r.ok for r in results[i * n : (i + 1) * n]),
                first_error=next((r.error for r in results[i * n : (i + 1) * n] if not r.ok), None),
            )
            for i in range(len(candidates))
        ]
