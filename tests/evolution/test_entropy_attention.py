"""calculate_entropy and return_attention: what the engine measures, where it is kept, how it is drawn.

Without a model: a fake backend that reports per-step entropies stands in for our engine; attention
records are written by hand. With the embedded model (integration): the engine's entropy matches a
plain forward pass, and a real run keeps entropy and attention that `promptbreeder report` draws.
"""

from __future__ import annotations

import functools
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from promptbreeder import app
from promptbreeder.backends.base import QueryRequest
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.config import resolve_config
from promptbreeder.daycare.loader import load_day_care
from promptbreeder.errors import UsageError
from promptbreeder.genomes.prompt.evaluator import Candidate, FitnessEvaluator

ROOT = Path(__file__).resolve().parents[2]
TASK = "arithmetic_1_digit_addition"


class EntropyBackend(FakeBackend):
    """A fake backend whose results carry per-step entropies, as our engine's do with calculate_entropy."""

    def __init__(self, responder, entropy=lambda request: [0.5, 1.5]):
        super().__init__(responder=responder)
        self.entropy = entropy

    async def run_batch(self, requests):
        results = await super().run_batch(requests)
        for request, result in zip(requests, results):
            result.entropy = list(self.entropy(request))
        return results


def test_fitness_results_keep_each_answers_mean_entropy_also_from_the_cache(tmp_path):
    from promptbreeder.store.cache import CallCache

    day_care = load_day_care(ROOT / "day_care")
    task = day_care.task(TASK)
    examples = task.load_suite()[:3]
    cache = CallCache(tmp_path / "cache.sqlite")
    backend = EntropyBackend(lambda r: "4", entropy=lambda r: [1.0, 3.0])
    evaluator = FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task), cache=cache, model="m")
    [result] = evaluator.evaluate([Candidate("Add.")], examples, "noCoT")
    assert result.entropies == [2.0, 2.0, 2.0] and result.entropy == 2.0
    again = FitnessEvaluator(day_care, task, FakeBackend(responder=lambda r: "4"), day_care.build_scorer(task),
                             cache=cache, model="m")
    assert again.evaluate([Candidate("Add.")], examples, "noCoT")[0].entropy == 2.0, "kept with the cached result"
    plain = FitnessEvaluator(day_care, task, FakeBackend(responder=lambda r: "4"), day_care.build_scorer(task))
    assert plain.evaluate([Candidate("Add.")], examples, "noCoT")[0].entropy is None
    cache.close()


@pytest.fixture
def day_care(shipped_day_care):
    """The shipped day care copied into tmp (tests/conftest.py), not tests/evolution/conftest.py's loaded one."""
    return shipped_day_care


@pytest.fixture
def breeding_config(breeding_config):
    """tests/conftest.py's, with 4 fitness examples."""
    return functools.partial(breeding_config, fitness_batch_size=4)


def world(request):
    if request.name.startswith("fitness"):
        return "3"
    return {"PROMPT": f"Add the numbers, take {request.seed % 97}.", "MUTATION": "Rewrite it."}


def test_a_run_logs_fitness_and_mutation_entropy_per_generation_and_keeps_them_on_units(monkeypatch, day_care,
                                                                                        breeding_config):
    backend = EntropyBackend(world, entropy=lambda r: [0.25] if r.name.startswith("fitness") else [2.0, 4.0])
    monkeypatch.setattr(app, "create_backend", lambda c, spec=None: backend)
    assert app.run(breeding_config(), out=io.StringIO()) == 0
    run_dir = day_care / TASK / "runs" / "run_1"
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    steps = [e for e in events if e["event"] == "generation"]
    assert all(e["fitness_entropy"] == pytest.approx(0.25) for e in steps)
    assert all(e["mutation_entropy"] == pytest.approx(3.0) for e in steps[1:]), "children of generations 1, 2"
    state = json.loads(sorted((run_dir / "snapshots").iterdir())[-1].read_text())["state"]
    assert any(u["mutation_entropy"] == pytest.approx(3.0) for u in state["population"])
    assert all(h["entropy"] == pytest.approx(0.25) for u in state["population"] for h in u["fitness_history"])

    from promptbreeder.reporting.figures import figures_for_run

    assert "entropy" in figures_for_run(run_dir)


def test_return_attention_names_must_exist_and_need_a_local_model(day_care, breeding_config):
    with pytest.raises(UsageError, match=r"return_attention: unknown query 'fitness_nope'; queries: .*fitness_noCoT"):
        app.run(breeding_config(return_attention="fitness_nope"), out=io.StringIO())
    with pytest.raises(UsageError, match="return_attention needs a local model"):
        app.run(breeding_config(return_attention="fitness_noCoT", model_name_or_path="random"), out=io.StringIO())
    assert not (day_care / TASK / "runs").exists(), "refused before a run folder is made"


def test_saved_attention_is_drawn_as_heatmaps(tmp_path):
    from promptbreeder.reporting.introspection import attention_figure, attention_records

    run = type("Run", (), {"folder": tmp_path})()
    assert isinstance(attention_figure(run), str), "nothing saved: the reason, not a figure"
    (tmp_path / "attention").mkdir()
    record = {"query": "fitness_noCoT", "tokens": ["Q", ":", " 2", "+", "2", "A", ":", " 4"], "answer_start": 7,
              "weights": [[0.1, 0.1, 0.2, 0.1, 0.2, 0.1, 0.1, 0.1]]}
    (tmp_path / "attention" / "fitness_noCoT_001.json").write_text(json.dumps(record))
    (tmp_path / "attention" / "fitness_noCoT_002.json").write_text('{"query": "torn')
    assert [r["file"] for r in attention_records(run)] == ["fitness_noCoT_001.json"]
    assert not isinstance(attention_figure(run), str)


def test_every_layers_attention_is_drawn_per_layer_and_per_head(tmp_path):
    from promptbreeder.reporting.introspection import layer_attention, layer_views, layers_figure
    from promptbreeder.store.atomic import write_npz_atomic

    run = type("Run", (), {"folder": tmp_path})()
    (tmp_path / "attention").mkdir()
    tokens = ["Q", ":", " 2", "+", "2", "A", ":", " 4", "!"]
    weights = np.zeros((3, 2, 2, 9), dtype=np.float16)  # 3 layers, 2 heads, 2 answer tokens over 9 tokens
    weights[:, 0, :, 2] = 1.0  # head 0 of every layer reads " 2"
    weights[2, 1, :, 4] = 1.0  # head 1 of the last layer reads "2"
    write_npz_atomic(tmp_path / "attention" / "fitness_noCoT_001.npz", attention=weights)
    record = {"query": "fitness_noCoT", "tokens": tokens, "answer_start": 7, "weights": [[0.1] * 9] * 2,
              "layers": 3, "heads": 2, "layers_file": "fitness_noCoT_001.npz"}
    (tmp_path / "attention" / "fitness_noCoT_001.json").write_text(json.dumps(record))
    loaded = layer_attention(run, record | {"file": "fitness_noCoT_001.json"})
    assert loaded.shape == (3, 2, 2, 9) and loaded.dtype == np.float32
    per_layer, per_head, first = layer_views(loaded, 7)
    assert first == 0 and per_layer.shape == (3, 7) and per_head.shape == (2, 7)
    assert per_layer[0].tolist() == [0, 0, 0.5, 0, 0, 0, 0] and per_layer[2][4] == 0.5
    assert per_head[0].argmax() == 2 and per_head[1].argmax() == 4
    assert not isinstance(layers_figure(run), str)
    del record["layers_file"]  # a record saved before every layer was kept: the reason, not a figure
    (tmp_path / "attention" / "fitness_noCoT_001.json").write_text(json.dumps(record))
    assert "no attention of every layer" in layers_figure(run)


# -- on the embedded model -----------------------------------------------------------------------------


@pytest.mark.integration
def test_the_engines_entropy_is_the_entropy_of_the_models_distribution(real_backend):
    import torch

    engine = real_backend.engine
    real_backend.calculate_entropy = True
    try:
        query = '"<|im_start|>user\\nName a colour.<|im_end|>\\n<|im_start|>assistant\\n[X]" where len(TOKENS(X)) < 4'
        [result] = real_backend.run_many([QueryRequest(query, name="colour")])
    finally:
        real_backend.calculate_entropy = False
    assert result.ok and len(result.entropy) >= 1 and all(e > 0 for e in result.entropy)
    prompt = "<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n"
    ids = engine.tokenizer(prompt, add_special_tokens=False).input_ids
    with torch.no_grad():
        logits = engine.model(input_ids=torch.tensor([ids])).logits[0, -1].float()
    logp = torch.log_softmax(logits, -1)
    assert result.entropy[0] == pytest.approx(float(-(logp.exp() * logp).sum()), rel=1e-3)


@pytest.mark.integration
def test_a_real_run_keeps_entropy_and_attention_and_the_report_draws_them(day_care, small_report, capsys):
    from promptbreeder import cli

    cfg = resolve_config({"task": TASK, "day_care_dir": str(day_care), "evolution_generations": 1,
                          "fitness_batch_size": 4, **small_report,
                          "calculate_entropy": True, "return_attention": "fitness_noCoT"},
                         "smoke")
    assert app.run(cfg, out=io.StringIO()) == 0
    run_dir = day_care / TASK / "runs" / "run_1"
    steps = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    steps = [e for e in steps if e["event"] == "generation"]
    assert all(e["fitness_entropy"] > 0 for e in steps) and steps[-1].get("mutation_entropy", 1) > 0
    records = sorted((run_dir / "attention").glob("fitness_noCoT_*.json"))
    assert len(records) == 4
    record = json.loads(records[0].read_text())
    assert 0 < record["answer_start"] < len(record["tokens"]) and record["weights"]
    assert len(record["weights"]) == len(record["tokens"]) - record["answer_start"], "a row per answer token"
    for i, row in enumerate(record["weights"]):  # causal softmax rows: sum 1 over the tokens before the answer's
        assert math.isclose(sum(row), 1.0, rel_tol=1e-3)
        assert all(w == 0 for w in row[record["answer_start"] + i:]), "the predicting position sees no answer token"
    layers = np.load(run_dir / "attention" / record["layers_file"])["attention"].astype(np.float32)
    assert layers.shape == (record["layers"], record["heads"], len(record["weights"]), len(record["tokens"]))
    assert np.allclose(layers[-1].mean(axis=0), np.array(record["weights"]), atol=2e-3), "the JSON's is the last layer's"
    assert np.allclose(layers.sum(axis=-1), 1.0, atol=1e-2), "every head's rows are softmax rows"
    assert cli.main(["report", str(run_dir)]) == 0
    assert {"entropy.png", "attention.png", "attention_layers.png"} <= {p.name for p in (run_dir / "report").iterdir()}


def test_a_failing_attention_capture_keeps_the_answer(tmp_path, capsys, monkeypatch):
    """The capture runs after the query; if it fails the query's result still comes back."""
    import asyncio

    from promptbreeder.backends.base import QueryResult
    from promptbreeder.backends.lmql.backend import LMQLBackend, LMQLLocalBackend

    class Stub(LMQLLocalBackend):
        def __init__(self):  # no model: only the capture path around a finished query
            self._attention = None

        def _save_attention(self, request, result, index):
            raise RuntimeError("no eager attention here")

    async def answered(self, request, model):
        return QueryResult(variables={"ANSWER": "4"})

    backend = Stub()
    backend.capture_attention(["fitness_noCoT"], tmp_path / "attention")
    monkeypatch.setattr(LMQLBackend, "_run_on", answered)
    result = asyncio.run(backend._run_on(QueryRequest('"[ANSWER]"', name="fitness_noCoT"), None))
    assert result.variables == {"ANSWER": "4"}
    assert "attention of fitness_noCoT not saved: RuntimeError: no eager attention here" in capsys.readouterr().err
