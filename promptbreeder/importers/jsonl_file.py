"""JSON Lines files: one JSON object per line (`.jsonl`, `.ndjson`), or a `.json` file holding a list of
such objects. The user names the input, target and optional choices fields (see `record_fields`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from promptbreeder.jsonio import fail
from promptbreeder.importers.base import Importer, ImportOptions, Source, read_text
from promptbreeder.importers.record_fields import records_from_rows

SUFFIXES = (".jsonl", ".ndjson", ".json")


class JsonLinesImporter(Importer):
    name = "jsonl"
    flags = ("--input_field", "--target_field", "--choices_field")
    summary = "a JSON Lines file (.jsonl/.ndjson, or a .json list of objects): one example object per line"

    def claims(self, path: Path) -> bool:
        # a .json file that is a BIG-bench task is claimed first by the bigbench importer (registry order)
        return path.is_file() and path.suffix.lower() in SUFFIXES

    def read(self, path: Path, options: ImportOptions) -> Source:
        records, fields = records_from_rows(json_rows(path), path, options, limit=options.limit)
        if not records:
            raise fail(path, "$", "expected at least one example object (the file has none)")
        return Source(file=path, kind="JSON Lines file", records=records, fields=fields.describe("field"))


def json_rows(path: Path) -> Iterator[tuple[str, Any]]:
    """`(where, value)` for each record of a JSON Lines file or of a JSON list; `where` is "line N" / "$[i]"."""
    text = read_text(path, "a JSON Lines file with one example object per line")
    if text.lstrip().startswith("["):
        # a JSON list (what `json.dump(list_of_dicts)` writes); a file that only starts like one is an error here
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise fail(path, f"line {exc.lineno}, column {exc.colno}", f"expected a valid JSON list ({exc.msg})") from None
        yield from ((f"$[{i}]", value) for i, value in enumerate(data))
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise fail(path, f"line {number}, column {exc.colno}",
                       f"expected one JSON object per line ({exc.msg})") from None
        yield f"line {number}", value
