"""CSV and TSV files: a header line naming the columns, then one example per row.

The user names the input, target and optional choices columns; a choices cell holds the choices joined
by `--choices_separator` (default "|"), because a CSV cell cannot hold a list.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterator

from promptbreeder.jsonio import fail
from promptbreeder.importers.base import Importer, ImportOptions, Source, read_text
from promptbreeder.importers.record_fields import records_from_rows

SUFFIXES = (".csv", ".tsv")


def csv_column(where: str, name: str) -> str:
    return f"{where}, column {name!r}"


class CsvImporter(Importer):
    name = "csv"
    summary = "a CSV or TSV file with a header line; choices in one cell joined by --choices_separator"
    flags = ("--input_field", "--target_field", "--choices_field", "--delimiter")

    def claims(self, path: Path) -> bool:
        return path.is_file() and path.suffix.lower() in SUFFIXES

    def read(self, path: Path, options: ImportOptions) -> Source:
        records, fields = records_from_rows(csv_rows(path, options.delimiter), path, options, word="column",
                                            locate=csv_column, limit=options.limit)
        if not records:
            raise fail(path, "line 2", "expected at least one row of data below the header (the file has none)")
        return Source(file=path, kind="CSV file", records=records, fields=fields.describe("column"))


def csv_rows(path: Path, delimiter: str | None = None) -> Iterator[tuple[str, dict[str, str]]]:
    """`("line N", {column: cell})` for each data row; N is the line the row starts on."""
    text = read_text(path, "a CSV file with a header line")
    delimiter = delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
    if len(delimiter) != 1:
        raise fail(path, "$", f"expected a one-character --delimiter (got {delimiter!r})")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    start = 1
    try:
        for cells in reader:
            where, start = f"line {start}", reader.line_num + 1  # a quoted cell may span several lines
            if not any(cell.strip() for cell in cells):
                continue  # blank lines carry no example
            if header is None:
                header = [cell.strip() for cell in cells]
                _check_header(header, path, where)
                continue
            if len(cells) != len(header):
                raise fail(path, where, f"expected {len(header)} cells as in the header line (got {len(cells)})")
            yield where, dict(zip(header, cells))
    except csv.Error as exc:
        raise fail(path, f"line {reader.line_num}", f"expected valid CSV ({exc})") from None
    if header is None:
        raise fail(path, "line 1", "expected a header line naming the columns (the file is empty)")


def _check_header(header: list[str], path: Path, where: str) -> None:
    if not all(header):
        raise fail(path, f"{where} (header)", f"expected a name for every column (column {header.index('') + 1} has none)")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise fail(path, f"{where} (header)", f"expected distinct column names (repeated: {', '.join(duplicates)})")
