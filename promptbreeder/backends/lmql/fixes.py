"""Fixes for LMQL 0.7.3 (its last release) applied from our side. Each has a regression test.

`apply()` is idempotent and is called by the LMQL backend before it compiles its first query.

1. Stray debug print: LMQL prints `r=<pattern> x=<text> --> ...` for every token checked against a
   REGEX constraint, and `access <key>` on `result[key]` before failing; `result["VAR"]` now returns
   the variable's value instead.
2. Empty variable after `<|im_end|>`: when the prompt text that follows a variable contains the
   model's end-of-sequence token (ChatML's `<|im_end|>` is SmolLM2's eos), LMQL feeds those prompt
   tokens one by one and stops decoding at the first eos, so every later variable comes back empty.
   A sequence is now finished at an eos only when no more prompt tokens are queued behind it.
3. Speed (LMQL's own per-token work is what our backend adds over raw `generate`): comparing a
   token set with "∅" or "*" summed its whole vocabulary mask, tens of thousands of times per query
   (half of LMQL's time per token). Token sets never change after construction, so: the count of
   allowed tokens is computed once per set and compared before whole masks are; unions,
   intersections and differences with empty or full sets return an operand; equal `tset(...)` calls
   share one set; merging "tails" skips the mask sum when neither set has one; the vocabulary matcher
   lookup skips the context walk when the process has only one; follow-map values that are hashable
   already are not rebuilt element by element.
4. Distribution clause ignored: a query whose only hole is its `distribution` variable (rank
   classification: "Answer: [ANSWER]" distribution ANSWER in choices) takes LMQL's shortcut for queries
   without holes and returns before its distribution postprocessor runs, so the variable comes back
   missing and no choice is scored. The postprocessor now runs on such results too.
5. Speed: every where step draws the where clause as a graph (node results and follow maps turned
   into strings) for LMQL's debugger, and keeps it in the interpreter state where nothing else reads
   it. Without an output writer (the debugger's hook; our queries never set one) it is not drawn.
6. Speed: every where step works out the where clause's follow map (what each possible next token
   would make of the clause) through LMQL's generic follow-map algebra: about 40% of LMQL's time per
   token on a free-text hole. For the clauses our free-text holes use, conjunctions of
   `len(TOKENS(X)) < n` and `STOPS_AT`/`STOPS_BEFORE`, that map depends only on how many tokens each
   variable holds, the limits and the nodes' values and finals, not on the text; it is computed once per
   such signature and reused. Other clauses (REGEX, `in`, ...) take LMQL's way every time.
"""

from __future__ import annotations

_applied = False


def _silence_regex_debug_print() -> None:
    import lmql.ops.ops as ops

    ops.print = lambda *args, **kwargs: None  # module global shadows the builtin only in lmql.ops.ops


def _silence_result_access_print() -> None:
    from lmql.runtime.interpreter import LMQLResult

    original = LMQLResult.__getitem__

    def getitem(self, key):
        if key == 0:
            return original(self, key)
        if isinstance(key, str) and key in self.variables:
            return self.variables[key]
        raise KeyError(key)

    LMQLResult.__getitem__ = getitem


def _eos_inside_prompt_is_not_the_end() -> None:
    from lmql.runtime.dclib.dclib_seq import DecoderSequence, DeterministicDecoderSequence

    original = DecoderSequence.is_done

    def is_done(self):
        if not original(self):
            return False
        pending_prompt = isinstance(self, DeterministicDecoderSequence) and len(self.next_ids) > 0
        return not pending_prompt

    DecoderSequence.is_done = is_done


def _count_allowed_tokens_once() -> None:
    import numpy as np
    from lmql.ops.token_set import TokenSetConcrete, VocabularyMatcher

    original_eq = TokenSetConcrete.__eq__

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
        elif other.__class__ is TokenSetConcrete and allowed(self) != allowed(other):
            return False  # different sizes: no need to compare the masks
        return original_eq(self, other)

    def union(self, other):
        # the union with an empty set, or of a full set, is a set we already have
        if other.__class__ is TokenSetConcrete and self.tail is None and other.tail is None:
            if allowed(other) == 0 or allowed(self) == self.mask.shape[0]:
                return self
            if allowed(self) == 0 or allowed(other) == other.mask.shape[0]:
                return other
        return original_union(self, other)

    def intersect(self, other):
        if other.__class__ is TokenSetConcrete and self.tail is None and other.tail is None:
            if allowed(other) == other.mask.shape[0]:
                return self
            if allowed(self) == self.mask.shape[0]:
                return other
        return original_intersect(self, other)

    def setminus(self, other):
        if other.__class__ is TokenSetConcrete and self.tail is None and allowed(other) == 0:
            return self
        return original_setminus(self, other)

    original_union, original_intersect = TokenSetConcrete.union, TokenSetConcrete.intersect
    original_setminus = TokenSetConcrete.setminus

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

    _share_identical_token_sets()
    TokenSetConcrete.__eq__ = eq
    TokenSetConcrete.__hash__ = None  # defining __eq__ on a class drops __hash__; keep that explicit
    TokenSetConcrete.__len__ = lambda self: allowed(self)
    TokenSetConcrete.merge_tail = merge_tail
    TokenSetConcrete.union, TokenSetConcrete.intersect, TokenSetConcrete.setminus = union, intersect, setminus
    VocabularyMatcher.instance = staticmethod(instance)


def _share_identical_token_sets() -> None:
    """`tset("eos")` and friends build and copy a vocabulary mask on every call (LMQL makes several
    per token); token sets never change after construction, so equal calls can share one object."""
    import sys

    import lmql.ops.token_set as token_set

    original = token_set.tset
    shared: dict = {}

    def tset(*tokens, regex=False, prefix=False, exact=False, charlen=None, name=None):
        try:
            key = (tuple(frozenset(t) if isinstance(t, set) else t for t in tokens), regex, prefix, exact, charlen, name)
            found = shared.get(key)
        except TypeError:  # unhashable arguments: build as LMQL would
            return original(*tokens, regex=regex, prefix=prefix, exact=exact, charlen=charlen, name=name)
        if found is None:
            if len(shared) > 4096:
                shared.clear()
            found = shared[key] = original(*tokens, regex=regex, prefix=prefix, exact=exact, charlen=charlen, name=name)
        return found

    # modules that imported the name keep their own reference to it: replace it there too
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("lmql") and getattr(module, "tset", None) is original:
            module.tset = tset


def _hash_follow_map_values_in_c() -> None:
    """`FollowMap.simplify` makes every value hashable by rebuilding it in Python, and those values
    hold all tokens generated so far, so each token cost time linear in the text. A value that is
    hashable already (or a list of hashable items, as a tuple) comes back equal from that rebuild;
    return it without the walk."""
    from lmql.ops.follow_map import FollowMap

    original = FollowMap.hashable

    def hashable(self, value):
        kind = type(value)
        if kind is tuple or kind is list:
            candidate = value if kind is tuple else tuple(value)
            try:
                hash(candidate)
                return candidate
            except TypeError:
                pass
        return original(self, value)

    FollowMap.hashable = hashable


def _score_a_lone_distribution_variable() -> None:
    import lmql.runtime.interpreter as interpreter

    run = interpreter.PromptInterpreter.run

    async def run_then_score(self, fct, *args, **kwargs):
        results = await run(self, fct, *args, **kwargs)
        if isinstance(results, list) and any(getattr(r, "distribution_variable", None) is not None
                                             and r.distribution_variable not in r.variables for r in results):
            # the scoring detokenizes through the context's tokenizer, which the shortcut never set
            with interpreter.Context(self.model.get_tokenizer(), self.dcmodel.truncation_threshold):
                results = await interpreter.ConditionalDistributionPostprocessor(self).process(results)
        return results

    interpreter.PromptInterpreter.run = run_then_score


def _draw_the_where_graph_only_for_a_debugger() -> None:
    import lmql.runtime.interpreter as interpreter

    draw = interpreter.PromptInterpreter.where_graph_with_trace

    async def where_graph_with_trace(self, where, trace, follow_trace):
        if self.output_writer is None:
            return None
        return await draw(self, where, trace, follow_trace)

    interpreter.PromptInterpreter.where_graph_with_trace = where_graph_with_trace


def _token_limit_shape(expr) -> bool:
    """Whether `expr` is a conjunction of `len(TOKENS(X)) < n` (n a number or an input) and STOPS_AT/STOPS_BEFORE
    clauses, the shape whose follow map `_follow_signature` determines. Cached on the node (nodes never change)."""
    shape = expr.__dict__.get("_pb_token_limit_shape")
    if shape is None:
        shape = expr._pb_token_limit_shape = _is_token_limit_clause(expr)
    return shape


def _is_token_limit_clause(expr) -> bool:
    from lmql.ops import node as nodes

    kind = type(expr).__name__
    if kind == "AndOp":
        return all(nodes.is_node(p) and _token_limit_shape(p) for p in expr.predecessors)
    if kind == "Lt":
        left, right = expr.predecessors
        return _is_token_count(left) and (type(right) is int or (type(right).__name__ == "Var" and right.python_variable))
    if kind in ("StopAtOp", "StopBeforeOp"):
        variable, phrase = expr.predecessors
        return type(variable).__name__ == "Var" and not variable.python_variable and type(phrase) is str
    return False


def _is_token_count(op) -> bool:
    """`len(TOKENS(X))` for a template variable X."""
    if type(op).__name__ != "LenOp" or len(op.predecessors) != 1:
        return False
    tokens = op.predecessors[0]
    if type(tokens).__name__ != "TokensOp" or len(tokens.predecessors) != 1:
        return False
    variable = tokens.predecessors[0]
    return type(variable).__name__ == "Var" and not variable.python_variable


def _node_key(op) -> tuple:
    """A node by what it is, not which object: equal clauses (LMQL builds a fresh conjunction per step when a
    variable has its own constraints) share their follow maps."""
    key = op.__dict__.get("_pb_node_key")
    if key is None:
        from lmql.ops.node import is_node

        constants = tuple(p for p in op.predecessors if not is_node(p))
        key = op._pb_node_key = (type(op).__name__, constants, getattr(op, "name", None),
                                 getattr(op, "python_variable", None), getattr(op, "diff_aware_read", None))
    return key


def _follow_signature(trace: dict, follow_context) -> tuple:
    """What the follow map of a token-limit clause depends on, node by node: a template variable's token count,
    whether its follow value holds LMQL's next-token marker and its finals; an input's value; every other node's
    value and final in the trace (numbers and booleans). The trace lists the nodes in the order the clause's
    structure fixes. TypeError when a value cannot be a key."""
    from lmql.ops.node import NextToken

    signature = []
    for op, (value, final) in trace.items():
        kind = type(op).__name__
        if kind == "Var" and not op.python_variable:
            followed = follow_context.get(op.name, None)
            tokens = follow_context.get_tokens(op.name)
            signature.append((_node_key(op), final, value is None, followed is None,
                              followed is not None and str(followed).endswith(NextToken),
                              None if tokens is None else len(tokens), follow_context.final(op.name)))
        elif kind == "TokensOp":
            signature.append((_node_key(op), final, None if value is None else len(value)))
        else:
            hash(value)
            signature.append((_node_key(op), final, value))
    return tuple(signature)


class _LazyFollowTrace(dict):
    """The root's follow map, reused; any other node's (only LMQL's debugger reads them) is worked out on demand."""

    def __init__(self, root, root_map, compute):
        super().__init__({root: root_map})
        self._compute = compute

    def __missing__(self, op):
        self.update(self._compute())
        return dict.__getitem__(self, op)


def _reuse_follow_maps_of_token_limits() -> None:
    import lmql.ops.ops as ops
    from lmql.ops import node as nodes
    from lmql.ops.token_set import VocabularyMatcher

    original = nodes.digest
    known: dict = {}

    def digest(expr, context, follow_context, no_follow=False):
        if expr is None or no_follow or not nodes.is_node(expr) or not _token_limit_shape(expr):
            return original(expr, context, follow_context, no_follow=no_follow)
        trace = {}
        value, final = nodes.execute_op(expr, trace=trace, context=context, return_final=True)
        try:
            # the maps hold token sets of one vocabulary: models with different tokenizers must not share them
            key = (id(VocabularyMatcher.instance()), _follow_signature(trace, follow_context))
        except TypeError:  # an input LMQL can compare but we cannot key on
            return original(expr, context, follow_context)
        root_map = known.get(key)
        if root_map is None:
            value, final, trace, follow_trace = original(expr, context, follow_context)
            if len(known) > 4096:
                known.clear()
            known[key] = follow_trace[expr]
            return value, final, trace, follow_trace
        return value, final, trace, _LazyFollowTrace(expr, root_map,
                                                     lambda: original(expr, context, follow_context)[3])

    digest.original = original
    ops.digest = digest  # the interpreter calls it as `ops.digest`


def apply() -> None:
    global _applied
    if _applied:
        return
    _silence_regex_debug_print()
    _silence_result_access_print()
    _eos_inside_prompt_is_not_the_end()
    _count_allowed_tokens_once()
    _hash_follow_map_values_in_c()
    _score_a_lone_distribution_variable()
    _draw_the_where_graph_only_for_a_debugger()
    _reuse_follow_maps_of_token_limits()
    _applied = True
