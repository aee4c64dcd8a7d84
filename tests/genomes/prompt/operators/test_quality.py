"""The quality gate: fluency, relevance and repetition, judged in one batch of scored texts."""

from __future__ import annotations

import pytest

from promptbreeder.backends.fake import FakeBackend, plain_word_logprobs
from promptbreeder.genomes.prompt.operators.quality import (NEUTRAL_CONTEXT, QualityGate, repeated_share)

TASK = "Add two whole numbers and give the sum."


class Counting(FakeBackend):
    def __init__(self):
        super().__init__(text_scorer=plain_word_logprobs)
        self.scored: list[list[tuple[str, str]]] = []

    def text_logprobs(self, pairs):
        self.scored.append(list(pairs))
        return super().text_logprobs(pairs)


def test_each_measure_rejects_what_it_is_for_and_names_why():
    backend = Counting()
    gate = QualityGate(backend, TASK, min_logprob=-3.0, min_relevance=0.1, max_repeated=0.3)
    verdicts = gate.judge([
        "Add the two numbers and write the sum.",              # fluent, on task
        "erhardnailMandulked MangyHomeguidaeenpurrsiteabove1",  # invented words
        "Tell a story about your favourite movie.",             # fluent, off task
        "add the numbers add the numbers add the numbers add the numbers",  # a loop
    ])
    assert [v.passed for v in verdicts] == [True, False, False, False]
    assert "log-probability" in verdicts[1].reason and "relevance" in verdicts[2].reason
    assert "3-grams repeat" in verdicts[3].reason
    assert verdicts[0].relevance > 0.1 and verdicts[2].relevance == 0
    assert len(backend.scored) == 1, "every text of a round in one scoring call"
    assert backend.scored[0][0] == (NEUTRAL_CONTEXT, "Add the two numbers and write the sum.")
    assert backend.scored[0][4][0].startswith(f"Task: {TASK}\n")


def test_mutation_prompts_are_not_held_to_relevance():
    gate = QualityGate(Counting(), TASK, min_logprob=-3.0, min_relevance=0.1)
    general = "Rewrite this instruction in plain everyday language."
    as_task_prompt, as_mutation_prompt = gate.judge([general, general], task_prompt=[True, False])
    assert not as_task_prompt.passed and as_mutation_prompt.passed and as_mutation_prompt.relevance is None


def test_without_scoring_only_repetition_is_checked():
    gate = QualityGate(FakeBackend(), TASK)
    fluent, salad, loop = gate.judge(["Add the numbers.", "qwxzplorfnumberingaddendumzzzt now",
                                      "do it do it do it do it do it"])
    assert fluent.passed and salad.passed and fluent.mean_logprob is None
    assert not loop.passed


@pytest.mark.parametrize("text, share", [("", 0.0), ("one two three", 0.0), ("a b c a b c", 0.25),
                                         ("Add the numbers, add the numbers.", 0.25)])
def test_repeated_share_counts_word_trigrams_seen_before(text, share):
    assert repeated_share(text) == share
