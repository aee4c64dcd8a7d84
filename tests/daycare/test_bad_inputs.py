"""Every kind of bad day care input gives one DayCareError line naming file, JSON path and expectation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptbreeder.daycare import load_day_care
from promptbreeder.errors import DayCareError, UsageError

GOOD_PROMPTS = [{"category": "rephrase", "text": "Say it differently."}]
CHOICE_TASK = {
    "task_description": "Pick the right colour.",
    "fitness_scorer": {"type": "multiple_choice"},
    "decoder_options": "sample(temperature=0.8, top_p=0.95)",
    "fitness_decoder_options": "argmax",
    "fixed_system_prompt": None,
    "fitness_test_suite": "fitness_suite.jsonl",
    "answer_type": "choice",
    "seed_prompts": ["Choose one."],
}
CHOICE_EXAMPLES = [
    {"input": "Sky?", "choices": ["blue", "green"], "gold_colours": "blue"},
    {"input": "Grass?", "choices": ["blue", "green"], "gold_colours": "green"},
]
NUMBER_TASK = {**CHOICE_TASK, "fitness_scorer": {"type": "numeric"}, "answer_type": "number",
               "fitness_test_suite": "suite.json"}
NUMBER_EXAMPLES = [{"input": "1+1?", "gold_sums": "2"}, {"input": "2+2?", "gold_sums": 4}]


def _write_jsonl(path: Path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def dc(tmp_path):
    """A good day care with a choice task (`colours`, JSONL suite) and a number task (`sums`, JSON suite)."""
    root = tmp_path / "dc"
    (root / "colours").mkdir(parents=True)
    (root / "sums").mkdir()
    for name in ("mutation_prompts.json", "thinking_styles.json"):
        (root / name).write_text(json.dumps(GOOD_PROMPTS))
    (root / "colours" / "task_description.json").write_text(json.dumps(CHOICE_TASK, indent=2))
    _write_jsonl(root / "colours" / "fitness_suite.jsonl", CHOICE_EXAMPLES)
    (root / "sums" / "task_description.json").write_text(json.dumps(NUMBER_TASK, indent=2))
    (root / "sums" / "suite.json").write_text(json.dumps(NUMBER_EXAMPLES))
    return root


def test_the_base_fixture_is_good(dc):
    day_care = load_day_care(dc)
    assert len(day_care.task("colours").load_suite()) == 2
    assert len(day_care.task("sums").load_suite()) == 2


def spec(task="colours", **changes):
    """Mutation: rewrite a task_description.json with keys changed (value None for `_drop` keys removed)."""
    def apply(root):
        base = CHOICE_TASK if task == "colours" else NUMBER_TASK
        data = {k: v for k, v in {**base, **changes}.items() if k not in changes.get("_drop", ())}
        data.pop("_drop", None)
        (root / task / "task_description.json").write_text(json.dumps(data))
    return apply


def scorer(task="colours", **fields):
    base = CHOICE_TASK if task == "colours" else NUMBER_TASK
    return spec(task, fitness_scorer={**base["fitness_scorer"], **fields})


def examples(*rows, task="colours"):
    def apply(root):
        if task == "colours":
            _write_jsonl(root / "colours" / "fitness_suite.jsonl", rows)
        else:
            (root / "sums" / "suite.json").write_text(json.dumps(list(rows)))
    return apply


def write(rel, text):
    def apply(root):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return apply


def remove(rel):
    return lambda root: (root / rel).unlink()


TD = "colours/task_description.json"
ND = "sums/task_description.json"
SUITE = "colours/fitness_suite.jsonl"
NSUITE = "sums/suite.json"

# (id, mutation, what to load, file relative to the day care ("" = the folder itself), JSON path, expectation)
CASES = [
    ("missing_field", spec(_drop=("answer_type",)), "colours", TD, "$.answer_type",
     "expected required field 'answer_type'"),
    ("missing_scorer", spec(_drop=("fitness_scorer",)), "colours", TD, "$.fitness_scorer", "missing"),
    ("wrong_type_max_tokens", spec(answer_max_tokens="many"), "colours", TD, "$.answer_max_tokens",
     "expected an integer (got string 'many')"),
    ("max_tokens_zero", spec(answer_max_tokens=0), "colours", TD, "$.answer_max_tokens", "expected a value >= 1"),
    ("empty_description", spec(task_description=""), "colours", TD, "$.task_description",
     "expected a non-empty description"),
    ("blank_description", spec(task_description="   \n"), "colours", TD, "$.task_description", "non-empty"),
    ("description_not_string", spec(task_description=["a"]), "colours", TD, "$.task_description",
     "expected a string (got list"),
    ("unknown_scorer_type", scorer(type="bogus"), "colours", TD, "$.fitness_scorer.type",
     "expected one of exact_match, llm_rubric, multiple_choice, numeric, python, regex (got 'bogus')"),
    ("scorer_not_object", spec(fitness_scorer="numeric"), "colours", TD, "$.fitness_scorer",
     "expected an object"),
    ("bad_scorer_arg_type", scorer("sums", tolerance="0.5"), "sums", ND, "$.fitness_scorer.tolerance",
     "expected a number (got string '0.5')"),
    ("negative_tolerance", scorer("sums", tolerance=-1), "sums", ND, "$.fitness_scorer.tolerance",
     "expected a value >= 0"),
    ("unknown_scorer_arg", scorer("sums", tol=1), "sums", ND, "$.fitness_scorer.tol",
     "unknown key 'tol'"),
    ("bool_arg_wrong_type", scorer(accept_letters="yes"), "colours", TD, "$.fitness_scorer.accept_letters",
     "expected true or false"),
    ("rubric_missing", spec(answer_type="text", fitness_scorer={"type": "llm_rubric"}), "colours", TD,
     "$.fitness_scorer.rubric", "expected required field 'rubric'"),
    ("bad_regex", spec(answer_type="text", fitness_scorer={"type": "regex", "pattern": "(unclosed"}), "colours",
     TD, "$.fitness_scorer.pattern", "expected a valid Python regular expression"),
    ("python_not_importable", spec(fitness_scorer={"type": "python", "function": "no_such_mod_x:f"}), "colours",
     TD, "$.fitness_scorer.function", "expected an importable 'module:function'"),
    ("python_bad_reference", spec(fitness_scorer={"type": "python", "function": "not a ref"}), "colours",
     TD, "$.fitness_scorer.function", "expected an importable 'module:function' reference"),
    ("scorer_wrong_answer_type", scorer("sums", type="multiple_choice"), "sums", ND, "$.fitness_scorer.type",
     "expected a scorer for answer_type 'number'"),
    ("bad_decoder", spec(decoder_options="greedy"), "colours", TD, "$.decoder_options",
     "expected a valid LMQL decoder (decoder 'greedy' is not one of argmax, sample, beam"),
    ("unknown_decoder_option", spec(fitness_decoder_options="sample(temp=0.5)"), "colours", TD,
     "$.fitness_decoder_options", "unknown option(s) temp"),
    ("bad_decoder_value", spec(decoder_options="sample(temperature=0)"), "colours", TD, "$.decoder_options",
     "temperature must be > 0"),
    ("empty_decoder", spec(decoder_options=" "), "colours", TD, "$.decoder_options", "an LMQL decoder"),
    ("suite_file_missing", remove(SUITE), "colours", TD, "$.fitness_test_suite", "not found"),
    ("suite_bad_extension", spec(fitness_test_suite="suite.csv"), "colours", TD, "$.fitness_test_suite",
     "ending in .json or .jsonl"),
    ("invalid_json", write(TD, '{\n  "task_description": "x",\n}\n'), "colours", TD, "line 3, column 1",
     "expected valid JSON"),
    ("task_file_is_list", write(TD, "[]"), "colours", TD, "$", "expected an object (got list"),
    ("unknown_top_level_key", spec(colour="red"), "colours", TD, "$.colour",
     "expected one of the allowed keys task_description, fitness_scorer,"),
    ("bad_answer_type", spec(answer_type="boolean"), "colours", TD, "$.answer_type",
     "expected one of choice, number, text (got 'boolean')"),
    ("empty_seed_prompts", spec(seed_prompts=[]), "colours", TD, "$.seed_prompts", "at least 1 item"),
    ("blank_seed_prompt", spec(seed_prompts=["ok", ""]), "colours", TD, "$.seed_prompts[1]",
     "non-empty seed prompt"),
    ("bad_genome", spec(genome="dna"), "colours", TD, "$.genome",
     "expected one of prompt, config, generation, code, text (got 'dna')"),
    ("system_prompt_wrong_type", spec(fixed_system_prompt=5), "colours", TD, "$.fixed_system_prompt",
     "expected a string or null"),
    ("bad_jsonl_line", write(SUITE, json.dumps(CHOICE_EXAMPLES[0]) + "\n{oops\n"), "colours", SUITE,
     "line 2, column 2", "expected one JSON value per line"),
    ("empty_suite", write(SUITE, "\n\n"), "colours", SUITE, "$", "the suite is empty"),
    ("example_missing_gold", examples({"input": "Sky?", "choices": ["a", "b"]}), "colours", SUITE,
     "line 1, $.gold_colours", "expected required field 'gold_colours'"),
    ("example_missing_input", examples({"choices": ["a", "b"], "gold_colours": "a"}), "colours", SUITE,
     "line 1, $.input", "missing"),
    ("example_not_object", examples(CHOICE_EXAMPLES[0], ["x"]), "colours", SUITE, "line 2, $",
     "expected an example object"),
    ("gold_not_in_choices", examples(CHOICE_EXAMPLES[0], {**CHOICE_EXAMPLES[1], "gold_colours": "red"}),
     "colours", SUITE, "line 2, $.gold_colours", "expected one of the example's choices 'blue', 'green' (got 'red')"),
    ("too_few_choices", examples({"input": "Sky?", "choices": ["blue"], "gold_colours": "blue"}), "colours", SUITE,
     "line 1, $.choices", "expected a list of at least 2 item(s) (got 1)"),
    ("duplicate_choices", examples({"input": "Sky?", "choices": ["blue", "blue"], "gold_colours": "blue"}),
     "colours", SUITE, "line 1, $.choices", "expected distinct items"),
    ("choices_missing", examples({"input": "Sky?", "gold_colours": "blue"}), "colours", SUITE,
     "line 1, $.choices", "expected required field 'choices'"),
    ("non_numeric_gold", examples(NUMBER_EXAMPLES[0], {"input": "2+2?", "gold_sums": "four"}, task="sums"),
     "sums", NSUITE, "$[1].gold_sums", "expected a number or a string holding a number (got 'four')"),
    ("boolean_gold", examples({"input": "2+2?", "gold_sums": True}, task="sums"), "sums", NSUITE,
     "$[0].gold_sums", "expected a number or a string (got boolean True)"),
    ("json_suite_not_list", write(NSUITE, '{"examples": []}'), "sums", NSUITE, "$",
     "expected a JSON list of example objects (got an object)"),
    ("json_suite_bad_syntax", write(NSUITE, '[{"input": "a" "gold_sums": 1}]'), "sums", NSUITE,
     "line 1, column 16", "expected valid JSON (Expecting ',' delimiter)"),
    ("unknown_task", lambda root: None, "nope", "", "$",
     "expected one of the day care's tasks: colours, sums (got 'nope')"),
    ("day_care_missing", lambda root: root.rename(root.with_name("elsewhere")), "colours", "", "$",
     "expected an existing day care folder (not found)"),
    ("mutation_prompts_wrong_shape", write("mutation_prompts.json", '{"category": "a", "text": "b"}'), "colours",
     "mutation_prompts.json", "$", "expected a list (got object"),
    ("mutation_prompt_missing_text", write("mutation_prompts.json", '[{"category": "a"}]'), "colours",
     "mutation_prompts.json", "$[0].text", "expected required field 'text'"),
    ("mutation_prompts_missing", remove("mutation_prompts.json"), "colours", "mutation_prompts.json", "$",
     "(file not found)"),
    ("thinking_style_extra_key", write("thinking_styles.json", '[{"category": "a", "text": "b", "x": 1}]'),
     "colours", "thinking_styles.json", "$[0].x", "unknown key 'x'"),
    ("query_override_with_decoder", write("queries/rubric_score.lmql", 'argmax\n"[SCORE]"\n'), "query", 
     "queries/rubric_score.lmql", "line 1", "expected a query without a decoder clause"),
    ("query_override_missing_hole", write("colours/queries/rubric_score.lmql", '"no score here [X]"\n'), "query",
     "colours/queries/rubric_score.lmql", "$", "missing [SCORE]"),
    ("query_override_empty", write("queries/rubric_score.lmql", "\n"), "query", "queries/rubric_score.lmql", "$",
     "the file is empty"),
]


def _load(root: Path, what: str):
    day_care = load_day_care(root)
    if what == "query":
        return day_care.query_text("rubric_score", task="colours")
    return day_care.task(what).load_suite()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_day_care_error(dc, case):
    _, mutate, what, rel, path, expected = case
    mutate(dc)
    with pytest.raises(DayCareError) as info:
        _load(dc, what)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(f"{dc / rel if rel else dc}: at {path}: "), message
    assert expected in message, message
    assert info.value.path == path and "expected" in info.value.expected
    assert isinstance(info.value, UsageError) and info.value.exit_code == 2


def test_at_least_twenty_distinct_cases():
    assert len({c[0] for c in CASES}) == len(CASES) >= 20


def test_day_care_path_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DayCareError, match="at \\$: expected a day care folder \\(it is a file\\)"):
        load_day_care(tmp_path / "file")


def test_missing_override_suite(dc, tmp_path):
    missing = tmp_path / "nowhere.jsonl"
    with pytest.raises(DayCareError) as info:
        load_day_care(dc).task("colours").load_suite(missing)
    message = str(info.value)
    assert message.startswith(f"{missing}: at $: expected a fitness test suite") and "not found" in message
    with pytest.raises(DayCareError, match="ending in .json or .jsonl"):
        load_day_care(dc).task("colours").load_suite(tmp_path / "suite.csv")


def test_bad_utf8_is_reported(dc):
    (dc / "colours" / "fitness_suite.jsonl").write_bytes(b'{"input": "\xff"}\n')
    with pytest.raises(DayCareError, match="expected UTF-8 text"):
        load_day_care(dc).task("colours").load_suite()


def test_one_broken_task_does_not_block_another(dc):
    spec(genome="dna")(dc)
    day_care = load_day_care(dc)
    assert len(day_care.task("sums").load_suite()) == 2
    with pytest.raises(DayCareError):
        day_care.validate()
