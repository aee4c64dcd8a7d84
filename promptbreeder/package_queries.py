"""The `.lmql` queries the package ships, found where their users live.

Each genome kind keeps its queries beside its code (`genomes/prompt/queries/`, `genomes/hpo/queries/`,
`genomes/text/queries/`, `scorers/queries/`); a query is named by its file stem, and names are unique
across the package. A day care overrides a query by name (`<day_care>/queries/NAME.lmql`,
`<day_care>/<task>/queries/NAME.lmql`, see `daycare.loader`). This module imports nothing of ours
beyond errors, so any layer may ask it for a query.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from promptbreeder.errors import UsageError

PACKAGE_DIR = Path(__file__).resolve().parent
QUERY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@functools.cache
def package_query_paths() -> dict[str, Path]:
    """Query name -> file, for every `queries/*.lmql` inside the package."""
    paths: dict[str, Path] = {}
    for path in sorted(PACKAGE_DIR.glob("**/queries/*.lmql")):
        if path.stem in paths:  # two homes for one name would make overrides ambiguous
            raise RuntimeError(f"query {path.stem!r} is shipped twice: {paths[path.stem]} and {path}")
        paths[path.stem] = path
    return paths


def package_query_names() -> list[str]:
    return sorted(package_query_paths())


def package_query_path(name: str) -> Path | None:
    return package_query_paths().get(name)


@functools.cache
def package_query_text(name: str) -> str:
    """The text of the package's query NAME (read once per process). Raises UsageError."""
    path = package_query_path(name) if QUERY_NAME.match(name) else None
    if path is None:
        raise UsageError(f"unknown query {name!r}; available: {', '.join(package_query_names()) or '(none)'}")
    return path.read_text(encoding="utf-8")
