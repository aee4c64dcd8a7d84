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
