"""Fitness: run the task's fitness-test query for candidate prompts over examples and score the answers.

All (candidate × example) queries of one call go to the backend together, so they are batched into
shared generate calls; `evaluate_groups` does the same for several (candidates, examples, variant)
groups at once, so a generation's tournaments, each on its own batch, still cost one backend call.
A failed query scores 0 and is counted; it never raises. With the run's cache, every scored answer is
stored, so a repeated evaluation (a continued run, the same unit on the same example) costs nothing.

A number task's answer is the final number of the model's one-line reply (`answer_of`); the reply itself
stays in the call cache. Choice tasks are answered by likelihood where the backend can score text and `choice_by_likelihood` is
on (rank classification: the `*_likelihood` queries, whose distribution clause scores every choice after
the prompt in one batched forward pass and answers the likeliest); otherwise by constrained generation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from promptbreeder.backends.base import Backend, DecoderOptions, QueryRequest
from promptbreeder.genomes.kind import DayCareView
from promptbreeder.genomes.prompt.task import Task, example_fields
from promptbreeder.scorers.base import Scorer
from promptbreeder.scorers.builtin import final_number
from promptbreeder.store.cache import CallCache, fitness_key

VARIANTS = {"noCoT": "fitness_noCoT", "CoT": "fitness_CoT"}
LIKELIHOOD_SUFFIX = "_likelihood"  # the variant's query that answers a choice task by likelihood
ANSWER_HOLE = "ANSWER"  # the variable of the fitness queries that holds the answer
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."


@dataclass(frozen=True)
class Candidate:
    """The part of a unit fitness needs: a prompt before the question, an optional one after it, and its
    own system prompt when the run breeds one (None: the task's fixed one, or the default)."""

    task_prompt: str
    task_prompt_after: str = ""
    system_prompt: str | None = None


@dataclass
class FitnessResult:
    variant: str
    scores: list[float]
    answers: list[str]
    reasonings: list[str] = field(default_factory=list)
    failures: int = 0
    first_error: str | None = None
    questions: list[str] = field(default_factory=list)  # the examples' inputs, in score order
    entropies: list[float | None] = field(default_factory=list)  # mean next-token entropy per answer, if measured
    feedbacks: list[str] = field(default_factory=list)  # the scorer's line on each answer (reflective mutation)
    golds: list[str] = field(default_factory=list)  # the examples' gold answers, in score order

    @property
    def entropy(self) -> float | None:
        """Mean next-token entropy over the answers that measured it (calculate_entropy), else None."""
        known = [e for e in self.entropies if e is not None]
        return sum(known) / len(known) if known else None

    @property
    def fitness(self) -> float:
        return sum(self.scores) / len(self.scores) if self.scores else 0.0

    def wrong_answers(self) -> list[dict[str, str]]:
        """Every answer that was not fully right: {"question", "answer", "gold", "feedback"}."""
        return [{"question": q, "answer": a, "gold": g, "feedback": f}
                for q, a, g, f, s in zip(self.questions, self.answers, self.golds, self.feedbacks, self.scores)
                if s < 1.0]

    def right_answers(self) -> list[dict[str, str]]:
        """Every fully right answer: {"question", "answer"}."""
        return [{"question": q, "answer": a} for q, a, s in zip(self.questions, self.answers, self.scores) if s >= 1.0]

    def correct_workings(self) -> list[tuple[str, str, str]]:
        """(question, reasoning, answer) of every fully right answer that came with a working-out."""
        return [(q, r, a) for q, r, a, s in zip(self.questions, self.reasonings, self.answers, self.scores)
                if s >= 1.0 and r.strip()]


class FitnessEvaluator:
    def __init__(self, day_care: DayCareView, task: Task, backend: Backend, scorer: Scorer, *,
                 decoder: DecoderOptions | None = None, seed: int = 0, reasoning_max_tokens: int = 96,
                 cache: CallCache | None = None, model: str = "", choice_by_likelihood: bool = True,
                 explain: bool = False):
        self.day_care, self.task, self.backend, self.scorer = day_care, task, backend, scorer
        self.decoder = decoder or task.fitness_decoder
        self.seed = seed
        self.reasoning_max_tokens = reasoning_max_tokens
        self.system_prompt = task.fixed_system_prompt or DEFAULT_SYSTEM_PROMPT
        self.cache, self.model = cache, model  # results cache of the run, and the model it is for
        self.cached_results = 0
        self.by_likelihood = choice_by_likelihood and task.answer_type == "choice" and backend.can_score_text
        self.explain = explain  # ask the scorer for its reasons (reflective mutation reads them)

    def query_name(self, variant: str) -> str:
        """The fitness query of `variant` for this task and backend."""
        if variant not in VARIANTS:
            raise ValueError(f"unknown fitness variant {variant!r}; known: {', '.join(VARIANTS)}")
        return VARIANTS[variant] + (LIKELIHOOD_SUFFIX if self.by_likelihood else "")

    def answer_of(self, reply: str) -> str:
        """The answer in the fitness query's ANSWER hole: a number task's is the final number of the reply
        (the reply itself stays in the run's call cache), every other task's the reply without edges."""
        return final_number(reply) if self.task.answer_type == "number" else reply.strip()

    def requests(self, candidate: Candidate, examples: list[dict], variant: str) -> list[QueryRequest]:
        query_name = self.query_name(variant)
        query = self.day_care.query_text(query_name, task=self.task.name)
        return [
            QueryRequest(
                query=query,
                inputs={
                    **example_fields(example),  # what a task's own fitness query may read besides the question
                    "system_prompt": self.system_prompt if candidate.system_prompt is None else candidate.system_prompt,
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
        return self.evaluate_groups([(candidates, examples, variant)])[0]

    def evaluate_groups(self, groups: Sequence[tuple[Sequence[Candidate], Sequence[dict], str]]
                        ) -> list[list[FitnessResult]]:
        """`evaluate` for several (candidates, examples, variant) groups in ONE backend call.

        Returns, per group, one result per candidate. Scoring also runs once over all answers, so a
        model-based scorer costs one more call, not one per group. With a results cache, a (candidate,
        example, variant) scored before is neither asked nor scored again.
        """
        spans, requests, gold = [], [], []
        for candidates, examples, variant in groups:
            start = len(requests)
            if candidates and examples:
                requests += [r for c in candidates for r in self.requests(c, list(examples), variant)]
                gold += [ex for _ in candidates for ex in examples]
            spans.append((start, len(requests)))
        outcomes = self._outcomes(requests, gold)
        out = []
        for (candidates, examples, variant), (start, _) in zip(groups, spans):
            if not candidates or not examples:
                out.append([FitnessResult(variant, [], []) for _ in candidates])
                continue
            n, group = len(examples), []
            for i in range(len(candidates)):
                part = outcomes[start + i * n : start + (i + 1) * n]
                group.append(FitnessResult(
                    variant=variant,
                    scores=[o["score"] for o in part],
                    answers=[o["answer"] for o in part],
                    reasonings=[o["reasoning"] for o in part],
                    failures=sum(o["error"] is not None for o in part),
                    first_error=next((o["error"] for o in part if o["error"] is not None), None),
                    questions=[str(ex["input"]) for ex in examples],
                    entropies=[o.get("entropy") for o in part],
                    # results cached before feedback existed have none: the scorer's line is rebuilt then
                    feedbacks=[o.get("feedback") or self.scorer.feedback(o["answer"], ex, o["score"])
                               for o, ex in zip(part, examples)],
                    golds=[str(ex.get(self.task.gold_key, "")) for ex in examples],
                ))
            out.append(group)
        return out

    def _outcomes(self, requests: list[QueryRequest], gold: list[dict]) -> list[dict]:
        """Answer, working-out, score and error of each request: from the results cache or freshly."""
        keys = [fitness_key(r.key(self.model), self.task.scorer_spec, ex) for r, ex in zip(requests, gold)]
        outcomes: list[dict | None] = [self.cache.get_fitness(k) if self.cache else None for k in keys]
        self.cached_results += sum(o is not None for o in outcomes)
        todo = [i for i, o in enumerate(outcomes) if o is None]
        if not todo:
            return outcomes
        results = self.backend.run_many([requests[i] for i in todo])
        answers = [self.answer_of(r.variables.get(ANSWER_HOLE, "")) if r.ok else "" for r in results]
        judged = self.scorer.judge_many(answers, [gold[i] for i in todo], explain=self.explain)
        for i, result, answer, (score, feedback) in zip(todo, results, answers, judged):
            outcomes[i] = {"answer": answer, "reasoning": result.variables.get("REASONING", ""),
                           "score": score if result.ok else 0.0, "error": result.error,
                           "entropy": result.mean_entropy,
                           "feedback": feedback if result.ok else f"the model's query failed: {result.error}"}
            if self.cache and result.ok:  # a failed query may succeed when asked again
                self.cache.put_fitness(keys[i], outcomes[i])
        return outcomes
