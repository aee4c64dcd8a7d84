"""The shipped day care loads and validates; loader defaults, query resolution and the BIG-bench converter."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest

from promptbreeder.backends.base import DecoderOptions
from promptbreeder import cli
from promptbreeder.daycare import load_day_care, load_task_folder, loader
from promptbreeder.package_queries import package_query_names, package_query_text
from promptbreeder.jsonio import SCHEMA_DIR, json_path, schema, schema_names
from promptbreeder.errors import DayCareError, UsageError

REPO = Path(__file__).resolve().parents[2]
DAY_CARE = REPO / "day_care"
BIGBENCH = Path("/work/shared/data/bigbench")
EXPECTED_COUNTS = {
    "answer_quality": 24,
    "arithmetic_1_digit_addition": 100,
    "arithmetic_2_digit_subtraction": 200,
    "logical_deduction_three_objects": 300,
}


@pytest.fixture(scope="module")
def day_care():
    return load_day_care(DAY_CARE)


def test_shipped_day_care_lists_its_tasks(day_care):
    others = {"automl_digits": "code", "text_tagline": "text", "arithmetic_decoding": "generation",
              "paperclip_factory": "code", "code_golf": "code", "text_palindrome": "text"}
    assert [n for n in day_care.task_names if not n.startswith("hpo_") and n not in others] == sorted(EXPECTED_COUNTS)
    assert {n: day_care.task(n).genome for n in others} == others
    assert len([n for n in day_care.task_names if n.startswith("hpo_")]) == 25, "5 models x 5 datasets"
    assert day_care.dir == DAY_CARE


def test_shipped_prompts_cover_the_paper_kinds(day_care):
    assert len(day_care.mutation_prompts) >= 30 and len(day_care.thinking_styles) >= 30
    mutation = {p.category for p in day_care.mutation_prompts}
    assert {"rephrase", "simplify", "specify", "examples", "persona", "shorten", "step_by_step",
            "creative", "critique_improve"} <= mutation
    styles = {p.category for p in day_care.thinking_styles}
    assert {"step_by_step", "critical_thinking", "creative", "systems_thinking", "risk_analysis", "reflective",
            "simplification", "analogy", "experimentation", "collaboration"} <= styles
    for prompt in day_care.mutation_prompts + day_care.thinking_styles:
        assert prompt.text.strip() and prompt.category.strip()
    assert len({p.text for p in day_care.mutation_prompts}) == len(day_care.mutation_prompts)


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_every_shipped_task_loads_and_its_suite_validates(day_care, name):
    task = day_care.task(name)
    assert task.name == name and task.dir == DAY_CARE / name
    assert task.description.strip()
    assert task.fitness_decoder == DecoderOptions.parse("argmax")
    assert task.decoder.method == "sample" and task.decoder.temperature == 0.8
    assert task.fixed_system_prompt is None
    assert task.suite_path == DAY_CARE / name / "fitness_suite.jsonl"
    assert task.genome == "prompt"
    assert task.seed_prompts and all(s.strip() for s in task.seed_prompts)
    suite = task.load_suite()
    assert len(suite) == EXPECTED_COUNTS[name]
    assert all(task.gold_key in example and example["input"] for example in suite)
    assert (task.dir / "README.md").is_file()


def test_task_specific_settings(day_care):
    addition = day_care.task("arithmetic_1_digit_addition")
    assert addition.answer_type == "number" and addition.scorer_spec["type"] == "numeric"
    assert addition.load_suite()[0] == {"input": "What is 0 plus 0?", "gold_arithmetic_1_digit_addition": "0"}
    logic = day_care.task("logical_deduction_three_objects")
    assert logic.answer_type == "choice" and logic.scorer_spec["type"] == "multiple_choice"
    assert all(len(e["choices"]) == 3 for e in logic.load_suite())
    quality = day_care.task("answer_quality")
    assert quality.answer_type == "text" and quality.answer_max_tokens == 64
    assert quality.scorer_spec["type"] == "llm_rubric" and quality.scorer_spec["rubric"].strip()
    counts = day_care.validate()
    assert {n: c for n, c in counts.items() if n in EXPECTED_COUNTS} == EXPECTED_COUNTS
    assert counts["hpo_random_forest_wine"] == 6, "an HPO task counts its parameters"


@pytest.mark.skipif(not BIGBENCH.is_dir(), reason="BIG-bench source data not present")
def test_shipped_suites_match_bigbench_source(day_care):
    source = json.loads((BIGBENCH / "arithmetic_2_digit_subtraction" / "task.json").read_text())["examples"]
    suite = day_care.task("arithmetic_2_digit_subtraction").load_suite()
    assert [e["gold_arithmetic_2_digit_subtraction"] for e in suite] == [s["target"] for s in source[:200]]
    logic_source = json.loads((BIGBENCH / "logical_deduction_three_objects" / "task.json").read_text())["examples"]
    logic = day_care.task("logical_deduction_three_objects").load_suite()
    for got, raw in zip(logic, logic_source):
        assert got["choices"] == list(raw["target_scores"])
        assert raw["target_scores"][got["gold_logical_deduction_three_objects"]] == 1


def test_task_is_cached(day_care):
    assert day_care.task("answer_quality") is day_care.task("answer_quality")


def test_schemas_are_valid_package_data():
    assert set(schema_names()) == {"config_task", "example", "prompt_list", "search_space", "task_description", "text_task"}
    for name in schema_names():
        jsonschema.Draft202012Validator.check_schema(schema(name))
        assert schema(name)["$schema"].endswith("2020-12/schema")
    assert SCHEMA_DIR.parent.name == "promptbreeder"
    assert '"schemas/*.json"' in (REPO / "pyproject.toml").read_text()


def test_json_path_rendering():
    assert json_path([]) == "$"
    assert json_path(["a", "b", 3]) == "$.a.b[3]"
    assert json_path(["odd key"]) == '$["odd key"]'
    assert json_path(["x"], root="line 4, $") == "line 4, $.x"


# --- defaults and overrides, on a small copy ------------------------------------------------------------


@pytest.fixture
def small(tmp_path):
    root = tmp_path / "dc"
    root.mkdir()
    for name in ("mutation_prompts.json", "thinking_styles.json"):
        shutil.copy(DAY_CARE / name, root / name)
    task = root / "toy"
    task.mkdir()
    (task / "task_description.json").write_text(json.dumps({
        "task_description": "Say the word.",
        "fitness_scorer": {"type": "exact_match"},
        "decoder_options": "sample(temperature=0.5, top_k=20)",
        "fitness_decoder_options": "argmax",
        "fixed_system_prompt": "Be brief.",
        "fitness_test_suite": "suite.json",
        "answer_type": "text",
    }))
    (task / "suite.json").write_text(json.dumps([{"input": "word?", "gold_toy": "bird", "extra": 1}]))
    return root


def test_defaults_for_optional_fields(small):
    task = load_day_care(small).task("toy")
    assert task.seed_prompts == []
    assert task.answer_max_tokens == 48 and task.genome == "prompt"
    assert task.decoder == DecoderOptions(method="sample", temperature=0.5, top_k=20)
    assert task.fixed_system_prompt == "Be brief."
    assert task.load_suite() == [{"input": "word?", "gold_toy": "bird", "extra": 1}]
    assert load_task_folder(small / "toy").name == "toy"


def test_suite_override_from_command_line(small, tmp_path):
    other = tmp_path / "other.jsonl"
    other.write_text('{"input": "a", "gold_toy": "b"}\n\n{"input": "c", "gold_toy": "d"}\n')
    assert [e["gold_toy"] for e in load_day_care(small).task("toy").load_suite(other)] == ["b", "d"]
    assert len(load_day_care(small).task("toy").load_suite(str(other))) == 2


def test_folders_without_task_description_are_not_tasks(small):
    (small / "notes").mkdir()
    (small / "queries").mkdir()
    assert load_day_care(small).task_names == ["toy"]


def test_query_resolution_order(small):
    day_care = load_day_care(small)
    package = package_query_text("rubric_score")
    assert day_care.query_text("rubric_score") == package
    assert day_care.query_text("rubric_score.lmql", task="toy") == package
    (small / "queries").mkdir()
    (small / "queries" / "rubric_score.lmql").write_text('"day care [SCORE]" where INT(SCORE)\n')
    day_care = load_day_care(small)  # a day care reads each query once: look again with a fresh one
    assert day_care.query_text("rubric_score", task="toy").startswith('"day care')
    (small / "toy" / "queries").mkdir()
    (small / "toy" / "queries" / "rubric_score.lmql").write_text('"task [SCORE]" where INT(SCORE)\n')
    (small / "toy" / "queries" / "extra_query.lmql").write_text('"extra [X]"\n')
    day_care = load_day_care(small)
    assert day_care.query_text("rubric_score", task="toy").startswith('"task')
    assert day_care.query_text("rubric_score").startswith('"day care')
    assert "extra_query" in day_care.query_names("toy") and "extra_query" not in day_care.query_names()
    assert set(package_query_names()) <= set(day_care.query_names())


def test_a_query_is_read_and_checked_once(small, monkeypatch):
    (small / "queries").mkdir()
    (small / "queries" / "rubric_score.lmql").write_text('"day care [SCORE]" where INT(SCORE)\n')
    day_care = load_day_care(small)
    reads = []
    real = loader._read_query
    monkeypatch.setattr(loader, "_read_query", lambda *a: reads.append(a) or real(*a))
    texts = {day_care.query_text("rubric_score", task="toy") for _ in range(5)}
    assert len(texts) == 1 and len(reads) == 1


def test_an_override_with_chatml_markers_runs_only_on_a_chatml_model(small):
    from promptbreeder.backends.chat import CHATML_GLUE, ChatFormat

    (small / "toy" / "queries").mkdir()
    override = small / "toy" / "queries" / "rubric_score.lmql"
    override.write_text('"<|im_start|>user\\nGrade.<|im_end|>\\n<|im_start|>assistant\\n[SCORE]" where INT(SCORE)\n')
    day_care = load_day_care(small)
    day_care.check_chat_format(ChatFormat.chatml(), "toy")  # written for ChatML, run on ChatML: fine
    llama = ChatFormat("the chat template of ./llama", {k: v.replace("im_", "x_") for k, v in CHATML_GLUE.items()})
    with pytest.raises(DayCareError, match=rf"{re.escape(str(override))}: at \$: spells out ChatML markers .*"
                                           r"uses the chat template of \./llama; write the roles as \{:system\}"):
        day_care.check_chat_format(llama, "toy")


def test_an_override_mixing_role_tags_and_chatml_markers_is_refused_on_reading(small):
    (small / "queries").mkdir()
    override = small / "queries" / "rubric_score.lmql"
    override.write_text('"{:user}Grade.<|im_end|>\\n<|im_start|>assistant\\n[SCORE]" where INT(SCORE)\n')
    with pytest.raises(DayCareError, match=rf"{re.escape(str(override))}: at \$: mixes role tags"):
        load_day_care(small).query_text("rubric_score")


def test_unknown_query_lists_available(small):
    day_care = load_day_care(small)
    with pytest.raises(UsageError, match="unknown query 'nope'; available: .*rubric_score"):
        day_care.query_text("nope")
    with pytest.raises(UsageError, match="unknown query"):
        day_care.query_text("../toy/task_description")
    with pytest.raises(DayCareError, match="tasks: toy"):
        day_care.query_text("rubric_score", task="missing")
    with pytest.raises(UsageError, match="available: .*rubric_score"):
        package_query_text("nope")


def test_day_care_scorer_uses_query_overrides(small):
    (small / "queries").mkdir()
    (small / "queries" / "rubric_score.lmql").write_text('"override [SCORE]" where INT(SCORE)\n')
    spec = {"type": "llm_rubric", "rubric": "be right"}
    data = json.loads((small / "toy" / "task_description.json").read_text())
    (small / "toy" / "task_description.json").write_text(json.dumps({**data, "fitness_scorer": spec}))
    scorer = load_day_care(small).build_scorer("toy")
    assert scorer.query.startswith('"override')


# --- BIG-bench converter --------------------------------------------------------------------------------


def _bigbench_file(tmp_path):
    source = tmp_path / "src" / "task.json"
    source.parent.mkdir()
    source.write_text(json.dumps({
        "canary": "CANARY-123", "name": "toy", "description": "A toy task.",
        "examples": [
            {"input": "What is 1 plus 2?", "target": "3", "target_scores": {"3": 1, "4": 0}},
            {"input": "What is 2 plus 2?", "target": ["4", "four"], "target_scores": {"5": 0, "4": 1}},
            {"input": "What is 0 plus 1?", "target_scores": {"1": 1, "7": 0}},
        ],
    }))
    return source


def _import(source, day_care, *args):
    # `promptbreeder import` replaced the old promptbreeder.daycare.bigbench module
    return cli.main(["import", str(source), "--day_care_dir", str(day_care), *args])


def test_bigbench_number_and_choice(tmp_path):
    source = _bigbench_file(tmp_path)
    assert _import(source, tmp_path / "dc", "--name", "sums", "--answer_type", "number", "--seed_prompt", "Add.") == 0
    folder = tmp_path / "dc" / "sums"
    task = load_task_folder(folder)
    assert [e["gold_sums"] for e in task.load_suite()] == ["3", "4", "1"]
    assert task.scorer_spec == {"type": "numeric"} and task.seed_prompts == ["Add."]
    readme = (folder / "README.md").read_text()
    assert "Apache License 2.0" in readme and "CANARY-123" in readme
    assert _import(source, tmp_path / "dc", "--name", "pick", "--answer_type", "choice", "--limit", "2") == 0
    suite = load_task_folder(tmp_path / "dc" / "pick").load_suite()
    assert suite == [
        {"input": "What is 1 plus 2?", "choices": ["3", "4"], "gold_pick": "3"},
        {"input": "What is 2 plus 2?", "choices": ["5", "4"], "gold_pick": "4"},
    ]


def test_bigbench_refuses_to_overwrite_and_bad_args(tmp_path, capsys):
    source = _bigbench_file(tmp_path)
    assert _import(source, tmp_path / "dc", "--name", "sums", "--answer_type", "number") == 0
    assert _import(source, tmp_path / "dc", "--name", "sums", "--answer_type", "number") == 2
    assert "already exists" in capsys.readouterr().err
    assert _import(source, tmp_path / "dc", "--name", "sums", "--answer_type", "number", "--force", "--limit", "1") == 0
    assert _import(source, tmp_path / "dc", "--name", "x", "--answer_type", "boolean") == 2  # argparse: not a type
    assert "answer_type" in capsys.readouterr().err
    assert _import(tmp_path / "missing.json", tmp_path / "dc", "--name", "y") == 2
    assert "missing.json" in capsys.readouterr().err


# -- a day care from LLaMA Day Care ---------------------------------------------------------------------


def llama_day_care(tmp_path, shipped=DAY_CARE):
    """The shipped day care with LLaMA Day Care's prompt lists: objects of id -> prompt text."""
    import shutil

    folder = tmp_path / "old_day_care"
    shutil.copytree(shipped, folder, ignore=shutil.ignore_patterns("runs", "debug_runs"))
    for name in ("mutation_prompts.json", "thinking_styles.json"):
        items = json.loads((folder / name).read_text())
        (folder / name).write_text(json.dumps({str(i): item["text"] for i, item in enumerate(items)}))
    return folder


def test_llama_day_cares_prompt_lists_load_as_they_are(tmp_path):
    folder = llama_day_care(tmp_path)
    day_care = load_day_care(folder)
    shipped = load_day_care(DAY_CARE)
    assert [p.text for p in day_care.mutation_prompts] == [p.text for p in shipped.mutation_prompts]
    assert [p.text for p in day_care.thinking_styles] == [p.text for p in shipped.thinking_styles]
    assert {p.category for p in day_care.mutation_prompts} == {"paper"}


def test_a_bad_prompt_in_llama_day_cares_form_is_one_line_naming_it(tmp_path):
    folder = llama_day_care(tmp_path)
    (folder / "thinking_styles.json").write_text(json.dumps({"1": "Think twice.", "2": ""}))
    with pytest.raises(DayCareError, match=r'thinking_styles.json: at \$\["2"\]: expected a non-empty prompt text'):
        load_day_care(folder)


def test_breeder_lmql_is_refused_with_what_to_change(tmp_path):
    folder = llama_day_care(tmp_path)
    (folder / "breeder.lmql").write_text('{fitness_test_template: "argmax ..."}')
    with pytest.raises(DayCareError) as caught:
        load_day_care(folder)
    message = str(caught.value)
    assert "breeder.lmql" in message and "queries/NAME.lmql" in message and "fitness_noCoT" in message
    assert "\n" not in message
