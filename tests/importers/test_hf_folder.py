"""Local Hugging Face datasets folders: plain data-file folders by split, save_to_disk layouts, ClassLabels.

`datasets` is never imported; `.arrow`/`.parquet` need pyarrow, which may be missing: then the import
is one line naming it (tested here when it is missing, and the real reading when it is installed).
"""

from __future__ import annotations

import json

import pytest

from promptbreeder.daycare import load_task_folder
from promptbreeder.errors import DayCareError, UsageError
from promptbreeder.importers.base import ImportOptions
from promptbreeder.importers.hf_folder import HfFolderImporter


def read(path, **options):
    return HfFolderImporter().read(path, ImportOptions(**options))


@pytest.fixture
def split_folder(tmp_path, write_jsonl, write_csv):
    """A dataset repository: data/train-*.jsonl (two shards), data/test.csv, README with a licence."""
    root = tmp_path / "my_set"
    write_jsonl(root / "data" / "train-00000-of-00002.jsonl", [{"text": "t1", "label": "yes"}])
    write_jsonl(root / "data" / "train-00001-of-00002.jsonl", [{"text": "t2", "label": "no"}])
    write_csv(root / "data" / "test.csv", ["text", "label"], [["e1", "no"]])
    (root / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n# My set\nlicense: not this one\n")
    return root


def test_train_split_by_default_over_all_its_shards(split_folder):
    source = read(split_folder, input_field="text", target_field="label")
    assert [(r.input, r.target) for r in source.records] == [("t1", "yes"), ("t2", "no")]
    assert source.records[1].file.name == "train-00001-of-00002.jsonl"  # errors name the shard
    assert source.licence == "cc-by-4.0"
    assert "split 'train' of test, train" in source.fields


def test_split_flag_and_limit(split_folder):
    assert [r.input for r in read(split_folder, input_field="text", target_field="label", split="test").records] == ["e1"]
    assert len(read(split_folder, input_field="text", target_field="label", limit=1).records) == 1
    with pytest.raises(UsageError, match=r"no split 'dev' \(--split\); its splits are test, train"):
        read(split_folder, input_field="text", target_field="label", split="dev")


def test_datasets_to_json_output_in_a_save_to_disk_dict(tmp_path, write_jsonl):
    """A DatasetDict folder whose splits are read through their data files' names (to_json writes JSON Lines)."""
    root = tmp_path / "dd"
    (root / "validation").mkdir(parents=True)
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["validation"]}))
    write_jsonl(root / "validation" / "validation.json", [{"input": "Is it?", "target": 3}])
    (root / "validation" / "dataset_info.json").write_text(json.dumps({"license": "mit", "description": "Tiny."}))
    source = read(root)
    assert source.records[0].target == 3 and source.licence == "mit"
    assert source.notes == ["Dataset description: Tiny."] and source.fields.startswith("split 'validation'")


def test_class_labels_become_names_and_choices(tmp_path, write_jsonl, run_import):
    root = tmp_path / "sentiment"
    write_jsonl(root / "train.jsonl", [{"sentence": "Great film", "label": 1}, {"sentence": "Dull", "label": 0}])
    features = {"sentence": {"dtype": "string", "_type": "Value"},
                "label": {"names": ["negative", "positive"], "_type": "ClassLabel"}}
    (root / "dataset_info.json").write_text(json.dumps({"features": features}))
    code, out, _ = run_import(root, "--input_field", "sentence", "--target_field", "label",
                              "--day_care_dir", tmp_path / "dc")
    assert code == 0 and "answer type  choice" in out
    suite = load_task_folder(tmp_path / "dc" / "sentiment").load_suite()
    assert suite[0] == {"input": "Great film", "gold_sentiment": "positive", "choices": ["negative", "positive"]}


def test_a_folder_without_data_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DayCareError, match="expected a datasets folder"):
        read(tmp_path / "empty")


def _save_to_disk_layout(folder, arrow_bytes: bytes) -> None:
    folder.mkdir(parents=True)
    (folder / "data-00000-of-00001.arrow").write_bytes(arrow_bytes)
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    (folder / "dataset_info.json").write_text(json.dumps({"features": {}}))


def test_save_to_disk_without_pyarrow_is_one_line_naming_it(tmp_path, one_line_error, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail as if it were absent
    _save_to_disk_layout(tmp_path / "saved", b"not read")
    message = one_line_error(tmp_path / "saved", "--day_care_dir", tmp_path / "dc")
    assert "needs the pyarrow package, which is not installed" in message and "Dataset.to_json" in message
    assert not (tmp_path / "dc" / "saved").exists()


def test_save_to_disk_arrow_files_with_pyarrow(tmp_path):
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"question": ["1+1?", "2+2?"], "answer": ["2", "4"]})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:  # the format save_to_disk writes
        writer.write_table(table)
    (tmp_path / "dd").mkdir()
    (tmp_path / "dd" / "dataset_dict.json").write_text(json.dumps({"splits": ["train"]}))
    _save_to_disk_layout(tmp_path / "dd" / "train", sink.getvalue().to_pybytes())
    source = read(tmp_path / "dd", input_field="question", target_field="answer")
    assert [(r.input, r.target, r.where) for r in source.records] == [("1+1?", "2", "row 1"), ("2+2?", "4", "row 2")]
