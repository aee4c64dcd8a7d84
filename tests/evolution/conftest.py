"""A deterministic fake world for the engine: fake backend replies, fake operators, a factory for breeders.

Fitness: a prompt containing "carefully" always answers right; any other prompt answers a question right
when a hash of (prompt, question) is divisible by 4, i.e. about a quarter of the time.
Operators: "init" writes "Solve it (<n>)" from the request seed; "append" appends a word picked from the
request seed, so one child in len(WORDS) learns "carefully" and evolution has something to find.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from promptbreeder.backends.base import QueryRequest
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.config import RunConfig
from promptbreeder.daycare.loader import load_day_care
from promptbreeder.evolution import Breeder
from promptbreeder.genomes.prompt.mutation import OperatorSource
from promptbreeder.genomes.prompt.evaluator import FitnessEvaluator
from promptbreeder.genomes.prompt.genome import PromptGenome
from promptbreeder.genomes.prompt.unit import Unit
from promptbreeder.genomes.prompt.operators.base import Operator
from promptbreeder.store.run_store import RunStore

DAY_CARE = Path(__file__).resolve().parents[2] / "day_care"
TASK = "arithmetic_1_digit_addition"
WORDS = ("carefully", "quickly", "boldly", "gently")
QUERIES = {
    "fake_init": '"{thinking_style} Write an instruction for: {task} [PROMPT]"',
    "fake_mutation": '"{mutation_prompt} {prompt} [WORD]"',
}
MUTATION_PROMPTS = ["Make it better.", "Rephrase it.", "Shorten it."]
THINKING_STYLES = ["Think.", "Go step by step.", "Be critical."]
CONFIG = dict(task=TASK, population_size=8, initial_prompts_per_unit=2, evolution_generations=5,
              fitness_batch_size=5, heldout_fraction=0.2, seed=7)


def _hash(*parts: object) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


class World:
    """The replies of the fake world; `always_right` / `always_wrong` hold prompts whose luck a test fixes."""

    def __init__(self):
        self.always_right: set[str] = set()
        self.always_wrong: set[str] = set()
        self.init_fails = False
        self.everyone_wrong = False
        self.scores_text = False  # whether backends of this world can score text (see score_text)

    @staticmethod
    def score_text(context: str, text: str) -> list[float]:
        """Fluent (-1 a word) unless it says "boldly" (then the gate rejects it); seeing the task helps."""
        gain = 0.5 if context.startswith("Task:") else 0.0
        return [(-99.0 if word.strip(".,") == "boldly" else -1.0) + gain for word in text.split()]

    def __call__(self, request: QueryRequest):
        if request.name.startswith("fitness_"):
            return self.fitness(request)
        if request.name == "fake_init":
            return {"PROMPT": "" if self.init_fails else f"Solve it ({request.seed % 100003})"}
        if request.name == "fake_mutation":
            return {"WORD": WORDS[request.seed % len(WORDS)]}
        raise RuntimeError(f"the fake world has no reply for {request.name}")

    def fitness(self, request: QueryRequest):
        inputs = request.inputs
        a, b = [int(n) for n in re.findall(r"\d+", inputs["question"])]
        prompt = inputs["task_prompt"]
        right = not self.everyone_wrong and prompt not in self.always_wrong and (
            prompt in self.always_right or "carefully" in prompt or _hash(prompt, inputs["question"]) % 4 == 0)
        answer = str(a + b if right else a + b + 1)
        if request.name == "fitness_CoT":
            return {"REASONING": f"{a} plus {b} is {answer}.", "ANSWER": answer}
        return {"ANSWER": answer}


class CountingBackend(FakeBackend):
    """Counts `run_many` calls (the batching budget) and can crash on a given call to simulate a kill."""

    def __init__(self, responder, crash_on_call: int | None = None):
        # a world that scores text lets the quality gate judge with fluency and relevance too
        scorer = responder.score_text if getattr(responder, "scores_text", False) else None
        super().__init__(responder=responder, text_scorer=scorer)
        self.crash_on_call = crash_on_call

    def text_logprobs(self, pairs):
        # a scoring call is a model call too: counted, and a place to be killed
        self.batches.append(["text_logprobs"])
        if self.crash_on_call is not None and len(self.batches) == self.crash_on_call:
            raise Crash(f"killed during call {self.crash_on_call}")
        return super().text_logprobs(pairs)

    def run_many(self, requests):
        if requests and self.crash_on_call is not None and len(self.batches) + 1 == self.crash_on_call:
            raise Crash(f"killed on backend call {self.crash_on_call}")
        return super().run_many(requests)  # FakeBackend records each call's query names in `batches`


class Crash(BaseException):
    """Not an Exception, so nothing on the way can mistake it for a failed query."""


class EvaluateOnly:
    def __init__(self, inner):
        self.evaluate = inner.evaluate


def _child(parent: Unit, ctx, name: str, prompt: str) -> Unit:
    return Unit(id=ctx.new_id(), task_prompts=[prompt] + parent.task_prompts[1:],
                mutation_prompt=parent.mutation_prompt, thinking_style=parent.thinking_style, generation=ctx.generation, parent=parent.id, operator=name,
                context=list(parent.context),
                lineage=[*parent.lineage, {"generation": parent.generation, "prompt": parent.task_prompt,
                                           "fitness": parent.fitness}])


class AppendWord(Operator):
    query_name = "fake_mutation"

    def __init__(self, name: str = "append"):
        self.name = name

    def requests(self, parent, ctx, rng):
        return [QueryRequest(query=ctx.query_text(self.query_name), name=self.query_name, decoder=ctx.mutation_decoder,
                             inputs={"mutation_prompt": parent.mutation_prompt, "prompt": parent.task_prompt},
                             seed=rng.randrange(2**31))]

    def apply(self, parent, results, ctx, rng):
        word = results[0].variables["WORD"].strip()
        return _child(parent, ctx, self.name, f"{parent.task_prompt} {word}") if word else None


class Failing(AppendWord):
    """Sends its query (so it costs a call) but never makes a usable child."""

    def apply(self, parent, results, ctx, rng):
        return None


class NoCall(Operator):
    """An operator without a model call (like crossover)."""

    def __init__(self, name: str = "nocall"):
        self.name = name

    def requests(self, parent, ctx, rng):
        return []

    def apply(self, parent, results, ctx, rng):
        return _child(parent, ctx, self.name, parent.task_prompt + " again")


class FakeInit(Operator):
    """Like the real init operator: one request per task prompt slot of the template, one unit back."""

    name, query_name = "init", "fake_init"

    def requests(self, parent, ctx, rng):
        return [QueryRequest(query=ctx.query_text(self.query_name), name=self.query_name, decoder=ctx.mutation_decoder,
                             inputs={"thinking_style": parent.thinking_style, "task": ctx.task_description},
                             seed=rng.randrange(2**31))
                for _ in parent.task_prompts]

    def apply(self, parent, results, ctx, rng):
        prompts = [r.variables["PROMPT"].strip() for r in results]
        if not all(prompts):
            return None
        return dataclasses.replace(parent, task_prompts=prompts, lineage=[], context=[])


def make_post_ops(calls: list[str]):
    """Pure post-mutation fakes that record each application in `calls`."""

    def prompt_crossover(child, population, rng):
        calls.append("prompt_crossover")
        donor = population[rng.randrange(len(population))]
        return dataclasses.replace(child, task_prompts=[donor.task_prompt] + child.task_prompts[1:])

    def context_shuffling(child, population, rng):
        calls.append("context_shuffling")
        context = list(child.context)
        rng.shuffle(context)
        return dataclasses.replace(child, context=context)

    return {"prompt_crossover": prompt_crossover, "context_shuffling": context_shuffling}


def operator_source(operators: list[Operator], post_calls: list[str] | None = None) -> OperatorSource:
    table = {op.name: op for op in [FakeInit(), *operators]}
    names = [op.name for op in operators]

    def get_operator(name):
        return table[name]

    return OperatorSource(get_operator, lambda: names, make_post_ops(post_calls if post_calls is not None else []))


@pytest.fixture(scope="session")
def day_care():
    return load_day_care(DAY_CARE)


@pytest.fixture
def world():
    return World()


@pytest.fixture
def make_breeder(tmp_path, day_care, world):
    """make_breeder(store=None, operators=None, backend=None, post_calls=None, runs="runs", **config) -> Breeder

    `evaluator_kind`: "instance" (default), "factory" (a callable building it from the backend) or
    "evaluate-only" (an evaluator without `evaluate_groups`, as a plug-in might be).
    """
    task = day_care.task(TASK)
    suite = task.load_suite()

    def make(store: RunStore | None = None, operators: list[Operator] | None = None, backend=None,
             post_calls: list[str] | None = None, runs: str = "runs", progress=None, log_line=None,
             evaluator_kind: str = "instance", seed_prompts=(), **settings):
        config = RunConfig(**{**CONFIG, **settings})
        backend = backend if backend is not None else CountingBackend(world)
        store = store if store is not None else RunStore.create(tmp_path / runs, config.to_dict())
        def build(backend):
            return FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task), seed=config.seed)

        evaluator = {"instance": lambda: build(backend), "factory": lambda: build,
                     "evaluate-only": lambda: EvaluateOnly(build(backend))}[evaluator_kind]()
        genome = PromptGenome(config, task.description, mutation_prompts=MUTATION_PROMPTS,
                              thinking_styles=THINKING_STYLES, suite=suite, backend=backend, evaluator=evaluator,
                              query_text=QUERIES.__getitem__, operators=operator_source(operators or [AppendWord()],
                                                                                         post_calls),
                              seed_prompts=seed_prompts)
        return Breeder(config, genome, store=store, progress=progress, log_line=log_line)

    return make


@pytest.fixture
def fakes():
    return SimpleNamespace(AppendWord=AppendWord, Failing=Failing, NoCall=NoCall, CountingBackend=CountingBackend,
                           Crash=Crash, WORDS=WORDS, operator_source=operator_source)
