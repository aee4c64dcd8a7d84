"""The quality gate: what an operator wrote must read as language before it costs a fitness evaluation.

Cleaning (cleaning.py) takes the prompt out of a reply; the gate then judges the text on three measures:

- **fluency**: the mean log-probability per token of the text after `NEUTRAL_CONTEXT`, under the breeding
  model itself. Glued or invented words ("erhardnailMandulked") and word salad cost a model many unlikely
  tokens, so they score far below plain sentences; below `min_logprob` the text is rejected. The measure
  needs a backend that can score text (`Backend.can_score_text`); without one only repetition is checked.
- **relevance** (task prompts only): how much more likely the text becomes when the task description
  comes before the neutral context, in mean log-probability per token (a pointwise mutual information).
  A prompt about the task gains from seeing it; fluent but off-task text ("The devil is always hiding in
  your dreams.") gains nothing; below `min_relevance` it is rejected. Mutation prompts are about
  instructions in general, not about one task, so they are not held to it.
- **repetition**: the share of a text's word 3-grams that repeat an earlier one. Small models fall into
  loops ("add the numbers, add the numbers, ...") that read fluently to the model itself; above
  `max_repeated` the text is rejected.

A rejected output counts as unusable (the engine retries with another operator, then keeps a copy of the
parent), and the mutator counts rejections per operator in its statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from promptbreeder.backends.base import Backend
from promptbreeder.genomes.prompt.operators.cleaning import normalised_tokens

# Plain text with no chat markup, so the measure does not depend on the model's chat template.
NEUTRAL_CONTEXT = "Here is an instruction:\n"
TASK_CONTEXT = "Task: {task}\n" + NEUTRAL_CONTEXT
# Measured on SmolLM2-135M (docs/prompt_breeding.md): hand-written prompts, mutation prompts and thinking
# styles score -5.3 to -2.0, invented words -9 to -6; hand-written task prompts gain 0.6 to 1.0 from
# seeing the task, fluent off-task text about 0 or less.
DEFAULT_MIN_LOGPROB = -6.0
DEFAULT_MIN_RELEVANCE = 0.1
DEFAULT_MAX_REPEATED = 0.3
NGRAM = 3


@dataclass(frozen=True)
class Verdict:
    text: str
    mean_logprob: float | None  # None where the backend cannot score text
    relevance: float | None  # None where not measured (mutation prompts, or no scoring)
    repeated: float  # share of word 3-grams that repeat an earlier one
    reason: str | None = None  # why it was rejected; None when it passed

    @property
    def passed(self) -> bool:
        return self.reason is None


def repeated_share(text: str, n: int = NGRAM) -> float:
    """Share of the text's word n-grams that already occurred earlier in it (0 for texts under n+1 words)."""
    words = normalised_tokens(text)
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if len(grams) < 2:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


class QualityGate:
    """Judges texts in one batch: `judge(texts)` -> one Verdict each, in order."""

    def __init__(self, backend: Backend, task_description: str, *, min_logprob: float = DEFAULT_MIN_LOGPROB,
                 min_relevance: float = DEFAULT_MIN_RELEVANCE, max_repeated: float = DEFAULT_MAX_REPEATED):
        self.backend, self.task_context = backend, TASK_CONTEXT.format(task=task_description.strip())
        self.min_logprob, self.min_relevance, self.max_repeated = min_logprob, min_relevance, max_repeated

    @property
    def measures_fluency(self) -> bool:
        return self.backend.can_score_text

    def judge(self, texts: Sequence[str], *, task_prompt: Sequence[bool] | None = None) -> list[Verdict]:
        """One verdict per text; `task_prompt[i]` says whether text i is a task prompt (default: all are),
        which the relevance measure applies to. One batch of scored texts for all of them."""
        texts = list(texts)
        on_task = list(task_prompt) if task_prompt is not None else [True] * len(texts)
        fluency: list[float | None] = [None] * len(texts)
        relevance: list[float | None] = [None] * len(texts)
        if texts and self.measures_fluency:
            pairs = [(NEUTRAL_CONTEXT, t) for t in texts]
            asked = [i for i, flag in enumerate(on_task) if flag]
            scored = self.backend.text_logprobs(pairs + [(self.task_context, texts[i]) for i in asked])
            fluency = [_mean(s) for s in scored[: len(texts)]]
            for i, given_task in zip(asked, scored[len(texts):]):
                if fluency[i] is not None and _mean(given_task) is not None:
                    relevance[i] = _mean(given_task) - fluency[i]
        return [self._verdict(*row) for row in zip(texts, fluency, relevance)]

    def _verdict(self, text: str, fluency: float | None, relevance: float | None) -> Verdict:
        repeated = repeated_share(text)
        reason = None
        if fluency is not None and fluency < self.min_logprob:
            reason = f"mean token log-probability {fluency:.2f} < {self.min_logprob}"
        elif relevance is not None and relevance < self.min_relevance:
            reason = f"relevance to the task {relevance:.2f} < {self.min_relevance}"
        elif repeated > self.max_repeated:
            reason = f"{repeated:.0%} of its word 3-grams repeat (> {self.max_repeated:.0%})"
        return Verdict(text, _round(fluency), _round(relevance), round(repeated, 4), reason)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
