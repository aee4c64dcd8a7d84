"""Fixes for LMQL 0.7.3 (its last release) applied from our side. Each has a regression test.

`apply()` is idempotent and is called by the LMQL backend before it compiles its first query.

1. Stray debug print: LMQL prints `r=<pattern> x=<text> --> ...` for every token checked against a
   REGEX constraint, and `access <key>` on `result[key]` before failing; `result["VAR"]` now returns
   the variable's value instead.
2. Empty variable after `<|im_end|>`: when the prompt text that follows a variable contains the
   model's end-of-sequence token (ChatML's `<|im_end|>` is SmolLM2's eos), LMQL feeds those prompt
   tokens one by one and stops decoding at the first eos, so every later variable comes back empty.
   A sequence is now finished at an eos only when no more prompt tokens are queued behind it.
3. Speed: comparing a token set with "∅" or "*" summed its whole vocabulary mask, tens of thousands
   of times per query (half of LMQL's time per token). Masks never change after construction, so
   the count of allowed tokens is computed once per set, and merging the "tails" of two sets
   (only defined when one has a tail) no longer sums the mask when neither has one. Looking up the
   vocabulary matcher skips the context walk when the process has only one.
"""

from __future__ import annotations

import functools

_applied = False


def _silence_regex_debug_print() -> None:
    import lmql.ops.ops as ops

    ops.print = lambda *args, **kwargs: None  # module global shadows the builtin only in lmql.ops.ops


def _silence_result_access_print() -> None:
    from lmql.runtime.interpreter import LMQLResult

    original = LMQLResult.__getitem__
    if getattr(original, "_promptbreeder_fixed", False):
        return

    @functools.wraps(original)
    def getitem(self, key):
        if key == 0:
            return original(self, key)
        if isinstance(key, str) and key in self.variables:
            return self.variables[key]
        raise KeyError(key)

    getitem._promptbreeder_fixed = True
    LMQLResult.__getitem__ = getitem


def _eos_inside_prompt_is_not_the_end() -> None:
    from lmql.runtime.dclib.dclib_seq import DecoderSequence, DeterministicDecoderSequence

    original = DecoderSequence.is_done
    if getattr(original, "_promptbreeder_fixed", False):
        return

    @functools.wraps(original)
    def is_done(self):
        if not original(self):
            return False
        pending_prompt = isinstance(self, DeterministicDecoderSequence) and len(self.next_ids) > 0
        return not pending_prompt

    is_done._promptbreeder_fixed = True
    DecoderSequence.is_done = is_done


def _count_allowed_tokens_once() -> None:
    import numpy as np
    from lmql.ops.token_set import TokenSetConcrete, VocabularyMatcher

    original_eq = TokenSetConcrete.__eq__
    if getattr(original_eq, "_promptbreeder_fixed", False):
        return

    def allowed(token_set) -> int:
        count = token_set.__dict__.get("_allowed_count")
        if count is None:
            count = token_set._allowed_count = int(np.count_nonzero(token_set.mask))
        return count

    def eq(self, other):
        if other.__class__ is str:
            if other == "∅":
                return allowed(self) == 0
            if other == "*":
                return allowed(self) == self.mask.shape[0]
        elif other is self:
            return True
        return original_eq(self, other)

    original_merge_tail = TokenSetConcrete.merge_tail

    def merge_tail(self, mask, other):
        if self.tail is None and getattr(other, "tail", None) is None:
            return None  # what the original returns in this case, after summing the whole mask
        return original_merge_tail(self, mask, other)

    original_instance = VocabularyMatcher.instance

    def instance():
        # Every query initialises the matcher of its tokenizer first, so with one matcher in the
        # process it is the active one; resolving the tokenizer from the context costs more than the mask work.
        matchers = VocabularyMatcher._instances
        if len(matchers) == 1:
            return next(iter(matchers.values()))
        return original_instance()

    eq._promptbreeder_fixed = True
    TokenSetConcrete.__eq__ = eq
    TokenSetConcrete.__hash__ = None  # defining __eq__ on a class drops __hash__; keep that explicit
    TokenSetConcrete.__len__ = lambda self: allowed(self)
    TokenSetConcrete.merge_tail = merge_tail
    VocabularyMatcher.instance = staticmethod(instance)


def apply() -> None:
    global _applied
    if _applied:
        return
    _silence_regex_debug_print()
    _silence_result_access_print()
    _eos_inside_prompt_is_not_the_end()
    _count_allowed_tokens_once()
    _applied = True
