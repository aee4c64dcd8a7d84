"""Compiling a query with LMQL before a run: a syntax error in a query override is found before anything is
made, not when the query first runs (after generation 0 was paid for). Light: no model, no torch."""

from __future__ import annotations

from promptbreeder.backends.chat import ChatFormat
from promptbreeder.backends.lmql import fixes as lmql_fixes
from promptbreeder.errors import UsageError


def check_compiles(query: str, source: str) -> None:
    """Raise UsageError naming `source` when LMQL cannot compile `query` (rendered with ChatML role markers,
    under argmax: the decoder and the model's own markers do not change what parses)."""
    from lmql.api.queries import query_from_string

    lmql_fixes.apply()
    try:
        query_from_string("argmax\n" + ChatFormat.chatml().render(query, source).strip() + "\n")
    except Exception as exc:  # LMQL's compiler raises tokenizer, syntax and its own errors
        raise UsageError(f"{source}: LMQL cannot compile this query ({type(exc).__name__}: {exc})") from None
