"""Local Hugging Face `datasets` folders, read without the `datasets` package (it is never required).

Two layouts:
- what `Dataset.save_to_disk` writes (`state.json`, `dataset_info.json`, `data-*.arrow`) and what
  `DatasetDict.save_to_disk` writes (`dataset_dict.json` and one such folder per split). The `.arrow`
  files need `pyarrow`, imported only then; without it the error says so and how to export instead;
- a folder of data files (`.jsonl`, `.json`, `.csv`, `.tsv`; `.parquet` and `.arrow` with pyarrow), as a
  dataset repository holds them. The split of a file comes from its name or folder (`train.jsonl`,
  `data/test-00000-of-00001.parquet`, `validation/part.csv`).
One split is imported: `--split`, else `train`, else `validation`, else the first by name. A ClassLabel
target (integers with names in `dataset_info.json`) becomes its names, offered as the choices.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from promptbreeder.jsonio import fail, read_json
from promptbreeder.errors import UsageError
from promptbreeder.importers.base import Importer, ImportOptions, Record, Source
from promptbreeder.importers.csv_file import csv_column, csv_rows
from promptbreeder.importers.jsonl_file import json_rows
from promptbreeder.importers.record_fields import FieldNames, json_field, records_from_rows

TEXT_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv")
ARROW_SUFFIXES = (".parquet", ".arrow")
SAVE_TO_DISK_FILES = ("state.json", "dataset_info.json", "dataset_dict.json")
PREFERRED_SPLITS = ("train", "validation")
_SPLIT_WORD = re.compile(r"^(train|training|validation|valid|val|dev|test|testing)(?=$|[-_.])", re.I)
_LICENSE_LINE = re.compile(r"^licen[cs]e:\s*(\S.*?)\s*$", re.M | re.I)


def pyarrow_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyarrow") is not None


class HfFolderImporter(Importer):
    name = "hf"
    summary = ("a local Hugging Face datasets folder: save_to_disk output (.arrow, needs pyarrow) or a folder "
               "of .jsonl/.json/.csv/.tsv files (.parquet with pyarrow); --split picks the split")
    flags = ("--input_field", "--target_field", "--choices_field", "--delimiter", "--split")

    def claims(self, path: Path) -> bool:
        # folders the bigbench importer did not claim, and single Arrow/Parquet files
        return path.is_dir() or (path.is_file() and path.suffix.lower() in ARROW_SUFFIXES)

    def read(self, path: Path, options: ImportOptions) -> Source:
        folder, split_note = path, ""
        if path.is_dir() and (path / "dataset_dict.json").is_file():
            split = choose_split(_dict_splits(path), options.split, path)
            folder, split_note = path / split, f"split {split!r}"
        info = _dataset_info(folder) if folder.is_dir() else {}
        if path.is_file():
            files = [path]
        elif (folder / "state.json").is_file():
            files = _state_files(folder)
        else:
            files, note = _data_files(folder, options.split)
            split_note = split_note or note
        class_labels = _class_labels(info)
        records: list[Record] = []
        fields: FieldNames | None = None
        for file in files:
            remaining = None if options.limit is None else options.limit - len(records)
            if remaining == 0:
                break
            word, locate = ("column", csv_column) if file.suffix.lower() in (".csv", ".tsv") else ("field", json_field)
            found, file_fields = records_from_rows(_rows(file, options), file, options, word=word, locate=locate,
                                                   limit=remaining, class_labels=class_labels)
            for record in found:
                record.file = file  # errors found later name the data file, not the folder
            records += found
            fields = fields or file_fields
        if not records or fields is None:
            raise fail(path, "$", "expected at least one example (the dataset is empty)")
        shown = ", ".join(str(f.relative_to(path)) if f != path else f.name for f in files[:3])
        more = f" and {len(files) - 3} more" if len(files) > 3 else ""
        labels = class_labels.get(fields.target or "")
        return Source(
            file=path,
            kind="Hugging Face datasets folder" if path.is_dir() else f"{path.suffix[1:]} file",
            records=records,
            fields="; ".join(filter(None, [split_note, f"from {shown}{more}", fields.describe("field"),
                                           f"ClassLabel names {labels} as choices" if labels else ""])),
            licence=_licence(path, info),
            notes=[f"Dataset description: {info['description'].strip()}"]
            if isinstance(info.get("description"), str) and info["description"].strip() else [],
        )


def choose_split(splits: list[str], wanted: str | None, where: Path) -> str:
    if not splits:
        raise fail(where, "$", "expected at least one split")
    if wanted is not None:
        if wanted not in splits:
            raise UsageError(f"{where}: no split {wanted!r} (--split); its splits are {', '.join(splits)}")
        return wanted
    return next((s for s in PREFERRED_SPLITS if s in splits), sorted(splits)[0])


def _dict_splits(folder: Path) -> list[str]:
    file = folder / "dataset_dict.json"
    data = read_json(file, "a DatasetDict's dataset_dict.json")
    splits = data.get("splits") if isinstance(data, dict) else None
    if not isinstance(splits, list) or not all(isinstance(s, str) and (folder / s).is_dir() for s in splits):
        raise fail(file, "$.splits", "expected a list of split names, each a folder beside this file")
    return splits


def _dataset_info(folder: Path) -> dict[str, Any]:
    file = folder / "dataset_info.json"
    if not file.is_file():
        return {}
    info = read_json(file, "a dataset_info.json")
    return info if isinstance(info, dict) else {}


def _state_files(folder: Path) -> list[Path]:
    file = folder / "state.json"
    state = read_json(file, "a save_to_disk state.json")
    entries = state.get("_data_files") if isinstance(state, dict) else None
    names = [e.get("filename") for e in entries or [] if isinstance(e, dict)]
    if not names or not all(isinstance(n, str) and (folder / n).is_file() for n in names):
        raise fail(file, "$._data_files", "expected [{\"filename\": ...}] naming the folder's .arrow files")
    return [folder / n for n in names]


def _split_of(relative: Path) -> str:
    for part in (*relative.parent.parts, relative.name):
        match = _SPLIT_WORD.match(part)
        if match:
            return match.group(1).lower()
    return ""


def _data_files(folder: Path, wanted: str | None) -> tuple[list[Path], str]:
    """The data files of one split of a plain folder, and the split in words ("" when files have none)."""
    usable = TEXT_SUFFIXES + ARROW_SUFFIXES
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in usable
                   and p.name not in SAVE_TO_DISK_FILES
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        kinds = ", ".join(usable)
        raise fail(folder, "$", f"expected a datasets folder: save_to_disk output (state.json or "
                                f"dataset_dict.json) or data files ({kinds})")
    by_split: dict[str, list[Path]] = {}
    for file in files:
        by_split.setdefault(_split_of(file.relative_to(folder)), []).append(file)
    named = sorted(s for s in by_split if s)
    if not named:
        if wanted is not None:
            raise UsageError(f"{folder}: no split {wanted!r} (--split); its files are not named by split")
        return files, ""
    split = choose_split(named, wanted, folder)
    return by_split[split], f"split {split!r} of {', '.join(named)}"


def _class_labels(info: dict[str, Any]) -> dict[str, list[str]]:
    features = info.get("features")
    if not isinstance(features, dict):
        return {}
    return {name: [str(n) for n in spec["names"]] for name, spec in features.items()
            if isinstance(spec, dict) and isinstance(spec.get("names"), list) and len(spec["names"]) >= 2}


def _licence(path: Path, info: dict[str, Any]) -> str | None:
    licence = info.get("license")
    if isinstance(licence, str) and licence.strip():
        return licence.strip()
    readme = path / "README.md" if path.is_dir() else None
    if readme is not None and readme.is_file():
        # a dataset card's YAML header carries `license: ...`; only the header counts, not the prose
        try:
            text = readme.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None  # the licence is only reported, so an unreadable card is no reason to stop
        if text.startswith("---"):
            match = _LICENSE_LINE.search(text.split("---", 2)[1] if text.count("---") >= 2 else "")
            if match:
                return match.group(1).strip("'\"")
    return None


def _rows(file: Path, options: ImportOptions) -> Iterator[tuple[str, Any]]:
    suffix = file.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return csv_rows(file, options.delimiter)
    if suffix in ARROW_SUFFIXES:
        return _arrow_rows(file, options.limit)
    return json_rows(file)


def _arrow_rows(file: Path, limit: int | None) -> Iterator[tuple[str, Any]]:
    try:
        import pyarrow as pa
    except ImportError:
        raise UsageError(f"{file}: reading {file.suffix} files needs the pyarrow package, which is not installed; "
                         "install it, or write the data with Dataset.to_json(...) and import that file") from None
    try:
        if file.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(str(file))
        else:
            data = pa.py_buffer(file.read_bytes())
            try:  # save_to_disk writes the Arrow stream format; accept the file format as well
                table = pa.ipc.open_stream(data).read_all()
            except pa.ArrowInvalid:
                table = pa.ipc.open_file(data).read_all()
    except (pa.ArrowException, OSError) as exc:
        raise fail(file, "$", f"expected a readable {file.suffix[1:]} file ({exc})") from None
    if limit is not None:
        table = table.slice(0, limit)
    return ((f"row {i + 1}", row) for i, row in enumerate(table.to_pylist()))
