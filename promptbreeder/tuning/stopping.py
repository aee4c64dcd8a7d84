"""Ending rows of `model.generate` early: at a sequence of token ids (llmsearch's MultiTokenStoppingCriteria)
or at stop strings.

Stop strings (the tuner's `stop`) cover most needs; token ids are for what has no stable text, such as a
chat template's end-of-turn token that the tokenizer does not call its EOS. Both look only at the tokens
generated in the current call, never at the prompt's.
"""

from __future__ import annotations

from typing import Sequence

import torch
from transformers import StoppingCriteria


class _GeneratedTokens(StoppingCriteria):
    """Knows where the prompt ends: its length is taken at the first step of a call (the criterion runs
    after each new token), and `reset()` forgets it for the next call (the tuner calls it before each batch;
    llmsearch users put it in `callbacks_after_inference`)."""

    def __init__(self) -> None:
        self.prompt_length: int | None = None

    def reset(self) -> None:
        self.prompt_length = None

    def generated(self, input_ids: torch.LongTensor) -> torch.LongTensor:
        if self.prompt_length is None:
            self.prompt_length = input_ids.shape[1] - 1
        return input_ids[:, self.prompt_length:]

    def __sklearn_clone__(self):
        return self  # state is per call; a clone per search candidate would only lose the user's reference


class MultiTokenStoppingCriteria(_GeneratedTokens):
    """Ends each row as soon as its generated tokens end with one of `sequence_ids`: one sequence (a list
    of ints) or several (a list of lists)."""

    def __init__(self, sequence_ids: Sequence[int] | Sequence[Sequence[int]]):
        super().__init__()
        sequences = [list(sequence_ids)] if sequence_ids and isinstance(sequence_ids[0], int) else \
            [list(s) for s in sequence_ids]
        if not sequences or any(not s or not all(isinstance(t, int) for t in s) for s in sequences):
            raise ValueError(f"sequence_ids must be a non-empty list of token ids (or of such lists), got {sequence_ids!r}")
        self.sequences = sequences

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        generated = self.generated(input_ids)
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for sequence in self.sequences:
            if generated.shape[1] >= len(sequence):
                tail = torch.tensor(sequence, device=input_ids.device)
                done |= (generated[:, -len(sequence):] == tail).all(dim=1)
        return done


class StopStringsCriteria(_GeneratedTokens):
    """Ends each row as soon as the text it generated contains one of `stops`.

    The text is decoded again at every step rather than matched token by token (as transformers'
    StopStringCriteria does): that works with every tokenizer, including those its vocabulary cleaning
    fails on, and costs little beside a forward pass."""

    def __init__(self, tokenizer, stops: Sequence[str]):
        super().__init__()
        self.tokenizer, self.stops = tokenizer, tuple(stops)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        texts = self.tokenizer.batch_decode(self.generated(input_ids), skip_special_tokens=True)
        return torch.tensor([any(stop in text for stop in self.stops) for text in texts], device=input_ids.device)
