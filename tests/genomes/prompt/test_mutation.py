"""The mutator with a quality gate: rejected outputs are retried like unusable ones, counted per operator,
and every new text of a round is judged in one scoring call."""

from __future__ import annotations

import itertools
import random

from promptbreeder.backends.base import DecoderOptions
from promptbreeder.backends.fake import FakeBackend, plain_word_logprobs
from promptbreeder.genomes.base import COPY_OPERATOR
from promptbreeder.genomes.prompt.mutation import Mutator, OperatorSource
from promptbreeder.genomes.prompt.operators.base import BreedContext, Operator
from promptbreeder.genomes.prompt.operators.common import make_child
from promptbreeder.genomes.prompt.operators.quality import QualityGate
from promptbreeder.genomes.prompt.unit import Unit

TASK = "Add two whole numbers and give the sum."
WRITES = {"salad": "erhardnailMandulked MangyHomeguidaeenpurrsiteabove1 sum",
          "plain": "Add the two whole numbers, then give the sum.",
          "off_task": "Tell a story about your favourite movie."}


class Writes(Operator):
    """Writes a fixed task prompt without asking the model."""

    def __init__(self, name):
        self.name = name

    def requests(self, parent, ctx, rng):
        return []

    def apply(self, parent, results, ctx, rng):
        return make_child(parent, ctx, self.name, prompts=[WRITES[self.name]])


class Scoring(FakeBackend):
    def __init__(self):
        super().__init__(text_scorer=plain_word_logprobs)
        self.scoring_calls = 0

    def text_logprobs(self, pairs):
        self.scoring_calls += 1
        return super().text_logprobs(pairs)


def setup(names, gate=True):
    backend = Scoring()
    source = OperatorSource(get_operator=Writes, mutation_operator_names=lambda: list(names), post_mutation={})
    quality = QualityGate(backend, TASK, min_logprob=-3.0, min_relevance=0.1) if gate else None
    mutator = Mutator(source, backend, debug=True, gate=quality)
    counter = itertools.count(1)
    ctx = BreedContext(task_description=TASK, population=[], mutation_prompts=["Rephrase it."], thinking_styles=["Slowly."],
                       query_text=lambda name: "", mutation_decoder=DecoderOptions(), generation=1,
                       new_id=lambda: f"c{next(counter)}")
    parent = Unit(id="p", task_prompts=["Add the numbers."], mutation_prompt="Rephrase it.", thinking_style="Slowly.")
    return backend, mutator, ctx, parent


def test_a_rejected_output_is_retried_with_another_operator_and_counted():
    backend, mutator, ctx, parent = setup(["salad", "plain"])
    [birth] = mutator.breed([parent], ctx, random.Random(0))
    assert birth.tried == ["salad", "plain"] and birth.operator == "plain"
    assert len(birth.rejected) == 1 and birth.rejected[0].startswith("salad: mean token log-probability")
    assert birth.child.task_prompt == WRITES["plain"]
    assert mutator.quality == {"salad": {"checked": 1, "rejected": 1}, "plain": {"checked": 1, "rejected": 0}}
    assert mutator.stats["salad"]["failed"] == 1 and mutator.stats["plain"]["failed"] == 0
    assert backend.scoring_calls == 2, "one scoring call per round: the first tries, then the retries"


def test_twice_rejected_gives_a_copy_of_the_parent():
    _, mutator, ctx, parent = setup(["salad", "off_task"])
    [birth] = mutator.breed([parent], ctx, random.Random(0))
    assert birth.operator == COPY_OPERATOR and birth.child.task_prompts == parent.task_prompts
    assert mutator.quality["off_task"] == {"checked": 1, "rejected": 1}
    assert [r.split(":")[0] for r in birth.rejected] == ["salad", "off_task"] and "relevance" in birth.rejected[1]


def test_a_whole_generation_is_judged_in_one_call_per_round():
    backend, mutator, ctx, parent = setup(["plain", "plain"])
    births = mutator.breed([parent] * 6, ctx, random.Random(0))
    assert all(b.operator == "plain" for b in births) and backend.scoring_calls == 1


def test_without_a_gate_nothing_is_scored_and_salad_gets_through():
    backend, mutator, ctx, parent = setup(["salad"], gate=False)
    [birth] = mutator.breed([parent], ctx, random.Random(0))
    assert birth.operator == "salad" and backend.scoring_calls == 0 and mutator.quality == {}
