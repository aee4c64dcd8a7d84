"""The LMQL fixes that can be checked without a model (the rest: tests/integration/test_lmql_fixes.py)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from promptbreeder.backends.lmql import fixes


def test_the_where_graph_is_drawn_only_for_a_debugger():
    fixes.apply()
    from lmql.runtime.interpreter import PromptInterpreter

    draw = PromptInterpreter.where_graph_with_trace
    without_debugger = SimpleNamespace(output_writer=None)
    assert asyncio.run(draw(without_debugger, None, None, None)) is None
    with_debugger = SimpleNamespace(output_writer=object())
    graph = asyncio.run(draw(with_debugger, None, None, None))
    assert isinstance(graph, dict), "with an output writer LMQL's graph is drawn as before"


def test_only_token_limit_and_stop_clauses_reuse_their_follow_maps():
    from lmql.ops.booleans import AndOp
    from lmql.ops.node import Var
    from lmql.ops.ops import LenOp, Lt, RegexOp, StopAtOp, TokensOp

    def limit(name, bound):
        return Lt([LenOp([TokensOp([Var(name)])]), bound])

    shape = fixes._token_limit_shape
    assert shape(limit("A", 12))
    assert shape(limit("A", Var("n", python_variable=True)))
    assert shape(AndOp([limit("A", 12), StopAtOp([Var("A"), "\n"])]))
    assert shape(AndOp([AndOp([limit("A", 12), StopAtOp([Var("A"), "\n"])]), limit("B", 5)]))
    assert not shape(Lt([LenOp([Var("A")]), 12])), "a character count depends on the text"
    assert not shape(Lt([LenOp([TokensOp([Var("A")])]), Var("B")])), "a limit read from the generated text"
    assert not shape(AndOp([limit("A", 12), RegexOp([Var("A"), "[0-9]+"])])), "a mask depends on the text"
    assert not shape(StopAtOp([Var("A"), Var("phrase", python_variable=True)]))
