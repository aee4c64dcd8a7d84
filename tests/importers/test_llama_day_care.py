"""`promptbreeder convert-day-care`: a LLaMA Day Care folder and its suite become a day care that loads and
runs; the original's queries are kept, not translated; bad input is one line and leaves nothing behind."""

from __future__ import annotations

import json
import shutil

import pytest

from promptbreeder import cli
from promptbreeder.daycare.loader import load_day_care
from promptbreeder.errors import DayCareError, UsageError
from promptbreeder.importers.llama_day_care import KEPT_DIR, convert_day_care


def test_the_original_folder_is_refused_with_a_line_that_names_the_converter(llama_day_care):
    folder, _ = llama_day_care
    with pytest.raises(DayCareError, match="breeder.lmql.*promptbreeder convert-day-care"):
        load_day_care(folder)
    (folder / "breeder.lmql").unlink()
    with pytest.raises(DayCareError, match=r"arithmetic/task_description.json: at \$: expected fitness_test_suite"
                                           r" and answer_type .*convert-day-care"):
        load_day_care(folder).task("arithmetic")


def test_a_converted_day_care_loads_with_every_task_that_has_examples(llama_day_care, tmp_path):
    folder, suite = llama_day_care
    done = convert_day_care(folder, tmp_path / "ours", suite)
    day_care = load_day_care(tmp_path / "ours")
    assert day_care.task_names == ["answer_quality", "arithmetic"]
    assert done.skipped == {"unlabelled": "no example of the suite has gold_unlabelled"}
    assert [p.text for p in day_care.mutation_prompts] == ["Rewrite the instruction so a beginner could follow it.",
                                                           "Make the instruction shorter."]
    arithmetic = day_care.task("arithmetic")
    rows = arithmetic.load_suite()
    assert len(rows) == 20 and rows[0] == {"input": "What is 0 plus 0?", "reference": "0", "gold_arithmetic": 0}
    assert arithmetic.answer_type == "number"
    assert arithmetic.scorer_spec == {"type": "exact_match"}, "the original's ExactMatch type is ours"
    assert arithmetic.description == "Add two one-digit numbers and answer with the sum."
    assert arithmetic.fixed_system_prompt is None
    quality = day_care.task("answer_quality")
    assert quality.fixed_system_prompt == "You are a friendly expert."
    assert quality.answer_type == "text" and quality.scorer_spec["type"] == "llm_rubric", "chosen from free-text golds"
    assert quality.decoder.method == "sample"
    notes = {t.name: " ".join(t.notes) for t in done.tasks}
    assert "'AnswerQuality'" in notes["answer_quality"] and "no equivalent here" in notes["answer_quality"]
    assert "--breed_system_prompt" in notes["arithmetic"] and "--breed_system_prompt" not in notes["answer_quality"]
    assert "read question, reference" in notes["arithmetic"]


def test_the_original_queries_are_kept_split_out_and_mapped_to_ours(llama_day_care, tmp_path):
    folder, suite = llama_day_care
    done = convert_day_care(folder, tmp_path / "ours", suite)
    kept = tmp_path / "ours" / KEPT_DIR
    assert sorted(p.name for p in kept.iterdir()) == ["breeder.lmql", "fitness_test.lmql",
                                                      "hypermutation_first_order_direct.lmql", "mutation_direct.lmql"]
    assert (kept / "breeder.lmql").read_text() == (folder / "breeder.lmql").read_text()
    assert "[MUTATED_TASK_PROMPT]" in (kept / "hypermutation_first_order_direct.lmql").read_text()
    said = " ".join(done.notes)
    assert "not translated" in said and "hypermutation_first_order_direct -> first_order_hyper" in said
    assert "fitness_test -> fitness_noCoT" in said


def test_the_extra_fields_of_the_examples_reach_the_fitness_queries(llama_day_care, tmp_path):
    from promptbreeder.backends.fake import FakeBackend
    from promptbreeder.genomes.prompt.evaluator import Candidate, FitnessEvaluator

    folder, suite = llama_day_care
    convert_day_care(folder, tmp_path / "ours", suite)
    day_care = load_day_care(tmp_path / "ours")
    task = day_care.task("arithmetic")
    backend = FakeBackend(responder=lambda r: {"ANSWER": r.inputs["reference"]})
    [result] = FitnessEvaluator(day_care, task, backend, day_care.build_scorer(task)).evaluate(
        [Candidate("Add.")], task.load_suite()[:5], "noCoT")
    assert result.fitness == 1.0, "the answer read from the example's own field is right"


def test_several_question_fields_become_one_input_and_the_question_field_can_be_named(llama_day_care, tmp_path):
    folder, suite = llama_day_care
    rows = json.loads(suite.read_text())
    suite.write_text(json.dumps([{("problem" if k == "question" else k): v for k, v in r.items()} for r in rows]))
    (folder / "breeder.lmql").unlink()  # without the original's args, every text field is shown
    convert_day_care(folder, tmp_path / "a", suite)
    row = load_day_care(tmp_path / "a").task("arithmetic").load_suite()[1]
    assert row["input"] == "Problem: What is 0 plus 1?\nReference: 1"
    convert_day_care(folder, tmp_path / "b", suite, input_field="problem")
    row = load_day_care(tmp_path / "b").task("arithmetic").load_suite()[1]
    assert row == {"input": "What is 0 plus 1?", "reference": "1", "gold_arithmetic": 1}


def test_fields_named_like_our_own_inputs_are_renamed_not_lost(llama_day_care, tmp_path):
    folder, suite = llama_day_care
    rows = json.loads(suite.read_text())
    for row in rows:
        row["task_prompt"] = "a field of the example"
        row["bad key"] = 1
    suite.write_text(json.dumps(rows))
    done = convert_day_care(folder, tmp_path / "ours", suite, input_field="question")
    row = load_day_care(tmp_path / "ours").task("arithmetic").load_suite()[0]
    assert row["example_task_prompt"] == "a field of the example" and row["example_bad_key"] == 1
    assert any("example_bad_key, example_task_prompt" in n for n in done.tasks[0].notes)


@pytest.mark.parametrize("break_it, match", [
    (lambda f, s: (f / "breeder.lmql").write_text("{ fitness_test_template: [1, 2"), r"breeder.lmql: at line \d+"),
    (lambda f, s: (f / "breeder.lmql").write_text("{ mutation_direct_args: 'x' }"),
     r"breeder.lmql: at \$.mutation_direct_args: expected a list of input names"),
    (lambda f, s: s.write_text("[1, 2]"), r"fitness_test_suite.json: at \$\[0\]: expected an example object"),
    (lambda f, s: s.write_text(json.dumps([{"question": "q", "gold_other": 1}])),
     r"expected examples for at least one task"),
    (lambda f, s: (f / "arithmetic" / "task_description.json").write_text('{"task_description": "x"}'),
     r"arithmetic/task_description.json: at \$.decoder_options: expected a non-empty text"),
    (lambda f, s: (f / "mutation_prompts.json").write_text('{"0": ""}'),
     r'mutation_prompts.json: at \$\["0"\]: expected a non-empty prompt text'),
])
def test_bad_input_is_one_line_and_leaves_nothing(llama_day_care, tmp_path, break_it, match):
    folder, suite = llama_day_care
    break_it(folder, suite)
    with pytest.raises(DayCareError, match=match):
        convert_day_care(folder, tmp_path / "ours", suite)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fitness_test_suite.json", "llama_day_care"]


def test_an_existing_destination_is_refused(llama_day_care, tmp_path):
    folder, suite = llama_day_care
    (tmp_path / "ours").mkdir()
    with pytest.raises(UsageError, match="already exists"):
        convert_day_care(folder, tmp_path / "ours", suite)


def test_the_command_prints_what_it_did_and_how_to_run_it(llama_day_care, tmp_path, capsys):
    folder, suite = llama_day_care
    code = cli.main(["convert-day-care", str(folder), str(tmp_path / "ours"), "--fitness_test_suite", str(suite)])
    out = capsys.readouterr().out
    assert code == 0
    assert "task arithmetic: 20 examples, question from field 'question'" in out
    assert "skipped unlabelled" in out and f"--day_care_dir {tmp_path / 'ours'}" in out
    shutil.rmtree(tmp_path / "ours")
    code = cli.main(["convert-day-care", str(folder), str(tmp_path / "ours")])
    err = capsys.readouterr().err
    assert code == 2 and "--fitness_test_suite" in err and "Traceback" not in err
