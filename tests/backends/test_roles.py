"""Models per role (backends/roles.py): each query goes to its role's model, named in cache, events and report."""

from __future__ import annotations

import io
import json
import sqlite3

from promptbreeder import app
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.backends.roles import role_of

ARITHMETIC_TASK = "arithmetic_1_digit_addition"  # breeding_config's task


def test_query_names_decide_the_role():
    assert [role_of(n) for n in ("fitness_noCoT", "fitness_CoT_likelihood", "rubric_score", "zero_order",
                                 "init_prompt", "first_order_hyper", "config_propose", "optimize_step")] == [
        "task", "task", "scorer", "mutation", "mutation", "mutation", "mutation", "mutation"]


def test_a_mutation_model_writes_the_prompts_and_the_task_model_answers(breeding_config, shipped_day_care,
                                                                         arithmetic_world, tmp_path, monkeypatch):
    stronger = tmp_path / "stronger-model"
    stronger.mkdir()
    (stronger / "config.json").write_text("{}")
    backends = {"smollm2-135m": FakeBackend(responder=arithmetic_world),
                str(stronger.resolve()): FakeBackend(responder=arithmetic_world)}
    monkeypatch.setattr(app, "create_backend", lambda config, spec=None: backends[spec.identity])
    out = io.StringIO()
    assert app.run(breeding_config(mutation_model=str(stronger)), out=out) == 0
    task_names = {r.name for r in backends["smollm2-135m"].requests}
    mutation_names = {r.name for r in backends[str(stronger.resolve())].requests}
    assert task_names and all(n.startswith("fitness_") for n in task_names)
    assert {"init_prompt"} <= mutation_names and not any(n.startswith("fitness_") for n in mutation_names)

    run_dir = shipped_day_care / ARITHMETIC_TASK / "runs" / "run_1"
    with sqlite3.connect(run_dir / "cache.sqlite") as db:  # answers are keyed by the model that gave them
        models = {name: model for name, model in db.execute("SELECT name, model FROM calls")}
    assert models["fitness_noCoT"] == "smollm2-135m" and models["init_prompt"] == str(stronger.resolve())
    report = json.loads((run_dir / "report.json").read_text())
    assert {role: r["model"] for role, r in report["models"].items()} == {
        "task": "smollm2-135m", "mutation": str(stronger), "scorer": "smollm2-135m"}
    usage = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()][-1]
    assert usage["event"] == "usage" and usage["mutation"]["model"] == str(stronger)
    assert usage["mutation"]["calls"] + usage["mutation"]["cached_calls"] >= len(mutation_names) > 0
    text = out.getvalue()
    assert f"model task smollm2-135m; mutation {stronger}; scorer smollm2-135m" in text
    assert f"model queries by role: task (smollm2-135m) {usage['task']['calls']}, mutation ({stronger})" in text
