"""The import formats by name, and telling a source's format from its name.

Auto-detection asks each importer in FORMATS order whether it claims the path; the order matters where
names overlap: a `.json` file is a BIG-bench task when it holds an `examples` list (bigbench first), else
records (jsonl); a folder holding `task.json` is a BIG-bench task, any other folder a datasets folder.
"""

from __future__ import annotations

from pathlib import Path

from promptbreeder.jsonio import fail
from promptbreeder.errors import UsageError
from promptbreeder.importers.base import Importer
from promptbreeder.importers.bigbench_task import BigBenchImporter
from promptbreeder.importers.csv_file import CsvImporter
from promptbreeder.importers.hf_folder import HfFolderImporter
from promptbreeder.importers.jsonl_file import JsonLinesImporter

FORMATS: dict[str, Importer] = {
    importer.name: importer
    for importer in (BigBenchImporter(), JsonLinesImporter(), CsvImporter(), HfFolderImporter())
}


def format_names() -> list[str]:
    return sorted(FORMATS)


def importer_named(name: str) -> Importer:
    if name not in FORMATS:
        raise UsageError(f"unknown import format {name!r}; available: {', '.join(format_names())}")
    return FORMATS[name]


def detect_importer(path: Path) -> Importer:
    """The importer for `path` by its name (and, for .json files, a look inside). Raises UsageError."""
    if not path.exists():
        raise fail(path, "$", "expected an existing file or folder to import (not found)")
    for importer in FORMATS.values():
        if importer.claims(path):
            return importer
    raise UsageError(f"{path}: cannot tell its format from the name (expected task.json, .jsonl, .ndjson, .json, "
                     f".csv, .tsv, .parquet, .arrow or a folder); pass --format, one of {', '.join(format_names())}")
