"""Running mutation operators for a whole generation at once.

Every operator is two-phase (see operators/base.py): the engine first collects the requests of every
job of the generation, sends them in ONE `backend.run_many`, then lets each operator build its child.
A job whose operator gives nothing usable is retried once with another operator (again all retries in
one call); a job that fails twice yields a copy of the parent, so the population never shrinks.
With a quality gate (operators/quality.py), every new text a job wrote is judged too, all of a round's
in one batch; a rejected one makes the job unusable, and `quality` counts checks and rejections per
operator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from promptbreeder.backends.base import Backend
from promptbreeder.errors import RunError
from promptbreeder.genomes.base import COPY_OPERATOR, Birth
from promptbreeder.genomes.prompt.unit import Unit
from promptbreeder.genomes.prompt.operators import registry
from promptbreeder.genomes.prompt.operators.base import BreedContext, Operator
from promptbreeder.genomes.prompt.operators.common import parent_entry
from promptbreeder.genomes.prompt.operators.quality import QualityGate
from promptbreeder.genomes.prompt.operators.selection import get_policy

PostMutation = Callable[[Unit, list[Unit], random.Random], Unit]
INIT_OPERATOR = "init"


@dataclass(frozen=True)
class OperatorSource:
    """How the engine reaches the operator registry; tests pass fakes instead of the real one."""

    get_operator: Callable[[str], Operator]
    mutation_operator_names: Callable[[], Sequence[str]]
    post_mutation: Mapping[str, PostMutation]
    post_mutation_rate: float = registry.POST_MUTATION_RATE

    @classmethod
    def from_registry(cls, optional: Sequence[str] = ()) -> "OperatorSource":
        """The registry's operators, plus the `optional` ones a run turned on (`registry.OPTIONAL_OPERATORS`)."""
        return cls(registry.get_operator, lambda: registry.mutation_operator_names(optional), registry.POST_MUTATION,
                   registry.POST_MUTATION_RATE)


@dataclass
class Job:
    parent: Unit
    name: str  # the registry name the operator was drawn under
    operator: Operator
    child: Unit | None = None
    rejected: str | None = None  # why the quality gate turned the child down


def new_texts(job: Job) -> list[tuple[str, bool]]:
    """What the job's operator wrote: (text, is a task prompt) for each text its parent did not have."""
    child, parent = job.child, job.parent
    texts = [(p, True) for p in child.task_prompts if p not in parent.prompts]
    # a bred system prompt may well be a general persona ("You are a careful tutor."), which owes the task
    # nothing in relevance: held to fluency and repetition only, as a mutation prompt is
    if child.system_prompt is not None and child.system_prompt not in parent.prompts:
        texts.append((child.system_prompt, False))
    if child.mutation_prompt != parent.mutation_prompt:
        texts.append((child.mutation_prompt, False))
    return texts


def run_jobs(backend: Backend, jobs: list[Job], ctx: BreedContext, rng: random.Random) -> None:
    """Both phases for every job: all requests in one backend call, then `apply` in job order."""
    spans, requests = [], []
    for job in jobs:
        wanted = list(job.operator.requests(job.parent, ctx, rng))
        spans.append((len(requests), len(requests) + len(wanted)))
        requests += wanted
    results = backend.run_many(requests) if requests else []
    for job, (lo, hi) in zip(jobs, spans):
        got = results[lo:hi]
        # a failed query leaves nothing to build from: the same outcome as apply returning None
        job.child = job.operator.apply(job.parent, got, ctx, rng) if all(r.ok for r in got) else None
        steps = [e for r in got for e in r.entropy]
        if job.child is not None and steps:
            job.child.mutation_entropy = sum(steps) / len(steps)


def copy_unit(parent: Unit, new_id: str, generation: int) -> Unit:
    return Unit(id=new_id, task_prompts=list(parent.task_prompts), system_prompt=parent.system_prompt,
                mutation_prompt=parent.mutation_prompt,
                thinking_style=parent.thinking_style, generation=generation, parent=parent.id,
                operator=COPY_OPERATOR, context=[dict(c) for c in parent.context],
                failures=[dict(f) for f in parent.failures],  # the same prompts: the same mistakes
                solved=[dict(s) for s in parent.solved],
                lineage=[*parent.lineage, parent_entry(parent)])


class Mutator:
    """Chooses operators, runs them batched, and keeps per-operator statistics.

    `cursor` (debug mode's position in the operator cycle), `stats` and `quality` are part of the run
    state. `selection` names the policy that chooses operators from `stats` (operators/selection.py).
    """

    def __init__(self, source: OperatorSource, backend: Backend, debug: bool = False, selection: str = "uniform",
                 gate: QualityGate | None = None):
        self.source, self.backend, self.debug = source, backend, debug
        self.selection, self.policy = selection, get_policy(selection)
        self.gate = gate
        self.cursor = 0
        self.stats: dict[str, dict[str, int]] = {}
        # per operator (init included): outputs the gate judged and how many it rejected
        self.quality: dict[str, dict[str, int]] = {}

    def _stat(self, name: str) -> dict[str, int]:
        return self.stats.setdefault(name, {"used": 0, "failed": 0, "beat_parent": 0})

    def choose(self, rng: random.Random, avoid: str | None = None) -> str:
        """By the selection policy (another than `avoid` when there is one), or in turn in debug mode."""
        names = list(self.source.mutation_operator_names())
        if not names:
            raise RunError("no mutation operators are registered")
        if self.debug:
            name = names[self.cursor % len(names)]
            self.cursor += 1
            return name
        return self.policy(names, self.stats, rng, avoid)

    def initial_prompts(self, templates: list[Unit], ctx: BreedContext, rng: random.Random,
                        fallback: str) -> tuple[list[list[str]], list[str]]:
        """The evolved texts (`Unit.prompts`) of each template unit from the init operator (one call, plus
        one for retries).

        A template carries its drawn mutation prompt and thinking style, and as many task prompts as it
        should get (the init operator writes them all in one job), and a system prompt when the run breeds
        one. A unit whose job fails twice keeps its template's system prompt and gets `fallback` as its
        only task prompt. Returns the prompts per template and the ids that fell back.
        """
        init = self.source.get_operator(INIT_OPERATOR)
        jobs = [Job(t, INIT_OPERATOR, init) for t in templates]
        self._run(jobs, ctx, rng)
        retry = [j for j in jobs if not _usable(j.child)]
        if retry:
            self._run(retry, ctx, rng)
        prompts, fell_back = [], []
        for job in jobs:
            if _usable(job.child):
                prompts.append(list(job.child.prompts))
            else:
                kept = [] if job.parent.system_prompt is None else [job.parent.system_prompt]
                prompts.append([*kept, fallback])
                fell_back.append(job.parent.id)
        return prompts, fell_back

    def breed(self, parents: list[Unit], ctx: BreedContext, rng: random.Random) -> list[Birth]:
        """One child per parent (a parent may appear several times), batched as the module says."""
        jobs = [self._job(p, self.choose(rng)) for p in parents]
        births = [Birth(p, p, COPY_OPERATOR, tried=[j.name]) for p, j in zip(parents, jobs)]
        self._run(jobs, ctx, rng)
        retry_at = self._account(jobs)
        for birth, job in zip(births, jobs):
            birth.rejected += [f"{job.name}: {job.rejected}"] if job.rejected else []
        retries = [self._job(parents[i], self.choose(rng, avoid=jobs[i].name)) for i in retry_at]
        if retries:
            self._run(retries, ctx, rng)
            self._account(retries)
        for i, job in zip(retry_at, retries):
            births[i].tried.append(job.name)
            births[i].rejected += [f"{job.name}: {job.rejected}"] if job.rejected else []
            jobs[i] = job
        for birth, job in zip(births, jobs):
            if job.child is not None:
                birth.child, birth.operator = job.child, job.name
            else:
                birth.child = copy_unit(birth.parent, ctx.new_id(), ctx.generation)
        for birth in births:
            for name, post in self.source.post_mutation.items():
                if rng.random() < self.source.post_mutation_rate:
                    birth.child = post(birth.child, ctx.population, rng)
                    birth.post.append(name)
                    self._stat(name)["used"] += 1
            # a child is unscored until its first tournament, whatever the operator copied over
            birth.child.fitness, birth.child.example_scores = None, None
            birth.child.fitness_history = []
        return births

    def _run(self, jobs: list[Job], ctx: BreedContext, rng: random.Random) -> None:
        """`run_jobs`, then the quality gate over every new text of the usable children, in one batch."""
        run_jobs(self.backend, jobs, ctx, rng)
        if self.gate is None:
            return
        judged = [(job, new_texts(job)) for job in jobs if _usable(job.child)]
        texts = [text for _, wrote in judged for text, _ in wrote]
        flags = [on_task for _, wrote in judged for _, on_task in wrote]
        verdicts = iter(self.gate.judge(texts, task_prompt=flags))
        for job, wrote in judged:
            mine = [next(verdicts) for _ in wrote]
            counts = self.quality.setdefault(job.name, {"checked": 0, "rejected": 0})
            counts["checked"] += 1
            reasons = [v.reason for v in mine if not v.passed]
            if reasons:
                counts["rejected"] += 1
                job.child, job.rejected = None, reasons[0]

    def _job(self, parent: Unit, name: str) -> Job:
        return Job(parent, name, self.source.get_operator(name))

    def _account(self, jobs: list[Job]) -> list[int]:
        """Count uses and failures (an empty prompt is a failure too); returns the failed jobs' indices."""
        failed = []
        for i, job in enumerate(jobs):
            stat = self._stat(job.name)
            stat["used"] += 1
            if not _usable(job.child):
                job.child = None
                stat["failed"] += 1
                failed.append(i)
        return failed

    def credit(self, operators: list[str]) -> None:
        for name in operators:
            self._stat(name)["beat_parent"] += 1


def _usable(child: Unit | None) -> bool:
    return child is not None and bool(child.task_prompts) and bool(child.task_prompts[0].strip())
