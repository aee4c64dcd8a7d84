"""Role tags rendered with the model's own chat template, on the real embedded model.

Besides SmolLM2's own ChatML template, two offline folders hold the same SmolLM2 weights with another
family's template in `chat_template.jinja` (Llama-3 style, and Gemma style, which refuses a system turn):
the shipped queries must come out in that template's markers and the model must still answer them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from promptbreeder import cli
from promptbreeder.backends.base import DecoderOptions, QueryRequest
from promptbreeder.backends.lmql.backend import LMQLLocalBackend
from promptbreeder.backends.models import chat_format, resolve_model
from promptbreeder.package_queries import package_query_text
from promptbreeder.scorers.builtin import final_number

pytestmark = pytest.mark.integration

LLAMA3 = ("{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
          "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
          "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")
GEMMA = ("{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
         "{% endif %}{% for m in messages %}{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
         "<start_of_turn>{{ role }}\n{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}"
         "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")

INPUTS = {"system_prompt": "You are a helpful assistant.", "task_prompt": "Add the two numbers and reply with only"
          " the result.", "task_prompt_after": "", "question": "What is 2 plus 3?", "choices": [],
          "answer_type": "number", "answer_max_tokens": 16}


def fitness_request() -> QueryRequest:
    return QueryRequest(query=package_query_text("fitness_noCoT"), inputs=INPUTS, decoder=DecoderOptions(),
                        name="fitness_noCoT")


def model_with_template(real_model_dir: str, folder: Path, template: str) -> str:
    """The embedded model's weights (linked, not copied) with `template` as its chat template."""
    folder.mkdir()
    for item in Path(real_model_dir).iterdir():
        if item.name != "chat_template.jinja":
            os.symlink(item, folder / item.name)
    (folder / "chat_template.jinja").write_text(template)
    return str(folder)


def test_the_embedded_model_gets_the_prompt_text_the_queries_always_had(real_backend):
    assert real_backend.chat_format.is_chatml and "chat template of" in real_backend.chat_format.name
    result = real_backend.run(fitness_request())
    assert result.prompt == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                             "Add the two numbers and reply with only the result.\n\nWhat is 2 plus 3?<|im_end|>\n"
                             "<|im_start|>assistant\n" + result.variables["ANSWER"])


@pytest.mark.parametrize("template, opening, between, system_folded", [
    (LLAMA3, "<|im_start|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
             "<|start_header_id|>user<|end_header_id|>\n\n",
     "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", False),
    (GEMMA, "<|im_start|><start_of_turn>user\nYou are a helpful assistant.\n\n",
     "<end_of_turn>\n<start_of_turn>model\n", True),
], ids=["llama3", "gemma"])
def test_another_template_renders_the_shipped_queries_in_its_markers_and_the_model_answers(
        real_model_dir, tmp_path, template, opening, between, system_folded):
    folder = model_with_template(real_model_dir, tmp_path / "model", template)
    spec = resolve_model(folder)
    chat = chat_format(spec)
    assert not chat.is_chatml and ("folded" in chat.name) == system_folded
    backend = LMQLLocalBackend(folder, chat_format=chat, device="cpu", client_batch_size=4, server_batch_size=4,
                               chunk_size=16)
    try:
        fitness = backend.run(fitness_request())
        hyper = backend.run(QueryRequest(query=package_query_text("first_order_hyper"), name="first_order_hyper",
                                         inputs={"mutation_prompt": "Make the instruction shorter.",
                                                 "task_prompt": "Add the numbers.", "task_prompt_after": ""}))
    finally:
        backend.close()
    # the bos token text (SmolLM2's is <|im_start|>) is the template's own; no ChatML turn is left
    question = "Add the two numbers and reply with only the result.\n\nWhat is 2 plus 3?"
    assert fitness.prompt == opening + question + between + fitness.variables["ANSWER"]
    assert "<|im_start|>system" not in fitness.prompt and "<|im_end|>" not in fitness.prompt
    answer = fitness.variables["ANSWER"]
    # the model answered with a number, on one line, as the query asks (STOPS_AT keeps the line break)
    assert final_number(answer) is not None and "\n" not in answer.rstrip("\n")
    # a two-turn query: both assistant turns opened with the template's markers (what the 135M model writes
    # in a template it was not trained on is its own business: under Llama-3's it often starts with "\n")
    assert hyper.prompt.count(between) == 2 and "<|im_start|>user" not in hyper.prompt


def test_an_old_chatml_override_on_a_model_with_another_template_stops_before_a_run_folder(
        real_model_dir, shipped_day_care, tmp_path, capsys):
    folder = model_with_template(real_model_dir, tmp_path / "model", LLAMA3)
    task = shipped_day_care / "arithmetic_1_digit_addition"
    override = task / "queries" / "zero_order.lmql"
    override.parent.mkdir()
    override.write_text('"<|im_start|>user\\nTips for {task_description}:<|im_end|>\\n<|im_start|>assistant\\n'
                        '1.[PROMPT]" where STOPS_AT(PROMPT, "\\n")\n')
    code = cli.main(["--day_care_dir", str(shipped_day_care), "--task", task.name, "--model_name_or_path", folder])
    message = capsys.readouterr().err.strip()
    assert code == 2 and len(message.splitlines()) == 1
    assert re.search(re.escape(str(override)) + r".*spells out ChatML markers.*chat template of " + re.escape(folder),
                     message)
    assert not (task / "runs").exists()
    assert json.loads((Path(folder) / "config.json").read_text())  # the linked weights are untouched
