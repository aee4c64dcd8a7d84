"""Role tags rendered with a model's chat template (backends/chat.py), on template strings alone."""

from __future__ import annotations

import ast
import re

import jinja2
import pytest

from promptbreeder.backends.chat import ChatFormat, lmql_literal, query_roles
from promptbreeder.errors import ModelError, UsageError
from promptbreeder.package_queries import package_query_names, package_query_text

# Two shipped queries as they were written before role tags, ChatML spelt out (their strings only)
OLD_FIRST_ORDER_HYPER = r'''
"<|im_start|>system\nYou write short, practical instructions for solving problems. Reply with the requested text only.<|im_end|>\n"
"<|im_start|>user\nPlease summarize and improve the following instruction:\n{mutation_prompt}\n\n"
"Reply with the improved instruction only, on one line.<|im_end|>\n"
"<|im_start|>assistant\n[MUTATION]"
"<|im_end|>\n<|im_start|>user\n{MUTATION}\n\nInstruction to work on:\n{task_prompt}\n\n"
"Reply with the new instruction only, on one line.<|im_end|>\n"
"<|im_start|>assistant\nNew instruction:\n[PROMPT]"
"<|im_end|>\n<|im_start|>user\n{MUTATION}\n\nInstruction to work on:\n{task_prompt_after}\n\n"
"Reply with the new instruction only, on one line.<|im_end|>\n"
"<|im_start|>assistant\nNew instruction:\n[PROMPT_AFTER]"
'''
OLD_FITNESS_COT = r'''
"<|im_start|>system\n{system_prompt}<|im_end|>\n<|im_start|>user\n{task_prompt}\n\n{question}"
"\n- {choice}"
"\n\n{task_prompt_after}"
"<|im_end|>\n<|im_start|>assistant\nLet's think step by step. [REASONING]"
"\nSo the answer is: [ANSWER]"
"\nSo the answer is: [ANSWER]"
"\nSo the answer is: [ANSWER]"
'''

# Templates as the model families ship them (shortened: no tools, no date lines)
LLAMA3 = ("{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
          "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
          "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")
GEMMA = ("{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
         "{% endif %}{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
         "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
         "{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
         "<start_of_turn>{{ role }}\n{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}"
         "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")
MISTRAL = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]"
           "{% elif m['role'] == 'assistant' %}{{ m['content'] }}{{ eos_token }}"
           "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}")
SMOLLM2 = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
           "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
           "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
           "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def jinja_template(source: str, bos: str = "<s>", eos: str = "</s>"):
    """`render(messages, add_generation_prompt)` as transformers renders a chat template."""
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    template = jinja2.Environment().from_string(source)
    return lambda messages, add_generation_prompt: template.render(
        messages=messages, add_generation_prompt=add_generation_prompt, bos_token=bos, eos_token=eos,
        raise_exception=raise_exception)


def prompt_text(query: str) -> str:
    """What a query's prompt strings say, joined (comments and where clauses left out)."""
    strings = []
    for line in query.splitlines():
        if not line.lstrip().startswith('"'):  # comments and control flow
            continue
        for literal in re.findall(r'"(?:[^"\\]|\\.)*"', line.split(" where ")[0]):
            strings.append(ast.literal_eval(literal))
    return "".join(strings)


@pytest.mark.parametrize("name", package_query_names())
def test_no_shipped_query_spells_out_a_chat_template(name):
    text = package_query_text(name)
    assert "<|im_start|>" not in text and "<|im_end|>" not in text
    assert query_roles(text)[:2] in (["system", "user"], ["user", "assistant"])


@pytest.mark.parametrize("name, old", [("first_order_hyper", OLD_FIRST_ORDER_HYPER), ("fitness_CoT", OLD_FITNESS_COT)])
@pytest.mark.parametrize("chat", [ChatFormat.chatml(), ChatFormat.from_template(jinja_template(SMOLLM2), "SmolLM2")])
def test_chatml_renders_the_shipped_queries_as_they_were_written(name, old, chat):
    assert prompt_text(chat.render(package_query_text(name))) == prompt_text(old)


def test_a_template_gives_the_text_between_roles():
    chat = ChatFormat.from_template(jinja_template(LLAMA3, bos="<|begin_of_text|>"), "Llama-3")
    assert chat.glue[(None, "system")] == "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
    assert chat.glue[("system", "user")] == "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
    assert chat.glue[("user", "assistant")] == "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    assert chat.glue[("assistant", "user")] == "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
    assert not chat.is_chatml
    rendered = prompt_text(chat.render('"{:system}Be brief.{:user}Hi {name}.{:assistant}Answer: [A]"'))
    assert rendered == ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                        "<|start_header_id|>user<|end_header_id|>\n\nHi {name}.<|eot_id|>"
                        "<|start_header_id|>assistant<|end_header_id|>\n\nAnswer: [A]")
    # the template's own default system message appears where a query has none (SmolLM2 writes one)
    smol = ChatFormat.from_template(jinja_template(SMOLLM2), "SmolLM2")
    assert smol.glue[(None, "user")].startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert smol.is_chatml


@pytest.mark.parametrize("source, opening, between", [
    (GEMMA, "<s><start_of_turn>user\n", "<end_of_turn>\n<start_of_turn>model\n"),
    (MISTRAL, "<s>[INST] ", " [/INST]"),
])
def test_a_template_that_refuses_a_system_turn_gets_the_system_text_in_the_first_user_turn(source, opening, between):
    chat = ChatFormat.from_template(jinja_template(source), "no-system model")
    assert "folded into the first user turn" in chat.name
    assert chat.glue[(None, "system")] == opening and chat.glue[("system", "user")] == "\n\n"
    assert chat.glue[("user", "assistant")] == between
    rendered = chat.render('"{:system}Be brief.{:user}Hi.{:assistant}[A]"')
    assert prompt_text(rendered.replace("[[", "[").replace("]]", "]")) == f"{opening}Be brief.\n\nHi.{between}[A]"


@pytest.mark.parametrize("name", package_query_names())
def test_every_shipped_query_compiles_in_a_template_with_brackets_and_quotes(name, query_compiles):
    quoting = MISTRAL.replace("[INST] ", '[INST] "').replace(" [/INST]", '" [/INST]')
    query_compiles(package_query_text(name), ChatFormat.from_template(jinja_template(quoting), "Mistral-like"))


def test_template_text_is_escaped_for_an_lmql_string():
    assert lmql_literal('[INST] "a"\\\n') == '[[INST]] \\"a\\"\\\\\\n'
    with pytest.raises(ModelError, match="braces"):
        lmql_literal("{x}")


def test_a_template_that_cannot_render_a_conversation_is_named():
    with pytest.raises(ModelError, match="chat template of Broken cannot render"):
        ChatFormat.from_template(jinja_template("{{ raise_exception('no chat here') }}"), "the chat template of Broken")


def test_a_tokenizer_without_a_template_gets_chatml():
    class Base:
        chat_template = None

    chat = ChatFormat.from_tokenizer(Base(), "gpt2")
    assert chat.is_chatml and "gpt2 has no chat template" in chat.name


def test_queries_written_with_chatml_markers_run_only_where_the_model_uses_chatml():
    old = '"<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n[A]"'
    assert ChatFormat.chatml().render(old) == old
    llama = ChatFormat.from_template(jinja_template(LLAMA3), "the chat template of llama-folder")
    with pytest.raises(UsageError, match=r"my\.lmql: spells out ChatML markers .* uses the chat template of llama-folder"):
        llama.render(old, "my.lmql")
    with pytest.raises(UsageError, match="mixes role tags"):
        ChatFormat.chatml().render('"{:user}Hi<|im_end|>\\n<|im_start|>assistant\\n[A]"', "mixed.lmql")


def test_a_role_order_the_template_cannot_render_is_an_error_and_comments_are_not_roles():
    chat = ChatFormat.chatml()
    with pytest.raises(UsageError, match="an assistant part follows the start"):
        chat.render('"{:assistant}[A]"', "q")
    query = '# roles are written {:user} ... {:assistant}\n"{:user}Hi{:assistant}[A]"'
    assert query_roles(query) == ["user", "assistant"]
    assert "# roles are written {:user}" in chat.render(query)


def test_native_formats_leave_the_tags_to_lmql():
    query = '"{:system}Be brief.{:user}Hi{:assistant}[A]"'
    assert ChatFormat.native_messages("openai").render(query) == query
