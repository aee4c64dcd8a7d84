"""clean_prompt: what survives of a model's reply, and what is thrown away as garbled or an echo."""

from __future__ import annotations

import pytest

from promptbreeder.genomes.prompt.operators.base import MAX_PROMPT_CHARS
from promptbreeder.genomes.prompt.operators.cleaning import clean_prompt, is_near_echo, jaccard, normalised_tokens

GOOD = "Work through the problem one step at a time."


@pytest.mark.parametrize("raw", [
    GOOD,
    f"  {GOOD}  \n",
    f'"{GOOD}"',
    f"\u201c{GOOD}\u201d",
    f"'{GOOD}'",
    f"`{GOOD}`",
    f"1. {GOOD}",
    f"12) {GOOD}",
    f"- {GOOD}",
    f"* {GOOD}",
    f"Prompt: {GOOD}",
    f"Instruction: {GOOD}",
    f"New instruction: {GOOD}",
    f"Improved prompt 2: {GOOD}",
    f"**Instruction:** {GOOD}",
    f'1. "Prompt: {GOOD}"',
    f"\n\nInstruction:\n\n{GOOD}",
    f"{GOOD}<|im_end|>\n<|im_start|>user",
])
def test_wrapping_is_removed(raw):
    assert clean_prompt(raw, echoes=[]) == GOOD


def test_cut_at_first_blank_line_and_whitespace_collapsed():
    raw = "Read the question twice,\n   then   answer.\n\nHere is why this instruction works: ..."
    assert clean_prompt(raw, echoes=[]) == "Read the question twice, then answer."


def test_inner_quotes_numbers_and_punctuation_are_kept():
    raw = 'Say "I checked" after you verify 3.5 times 2 is 7.'
    assert clean_prompt(raw, echoes=[]) == raw
    assert clean_prompt("1.5 times the width is the answer you want.", echoes=[]).startswith("1.5 times")


def test_length_is_capped_on_a_word_boundary():
    raw = " ".join(["careful"] * 200)
    out = clean_prompt(raw, echoes=[])
    assert len(out) <= MAX_PROMPT_CHARS and out.endswith("careful") and raw.startswith(out)
    assert not out.endswith(" ")


def test_a_single_huge_word_is_cut_hard():
    out = clean_prompt("Think " + "x" * 2000, echoes=[])
    assert out is not None and len(out) == MAX_PROMPT_CHARS


@pytest.mark.parametrize("raw", [None, "", "   \n  ", '""', "1.", "Prompt:", "Go now", "!!!???...,,,;;;", "12345 6789 000",
                                 "\n\n\nPrompt:\n", "Simplify.", 42])
def test_empty_short_or_garbled_gives_none(raw):
    assert clean_prompt(raw, echoes=[]) is None


def test_exact_echo_is_rejected_whatever_the_wrapping():
    instruction = "Rewrite the instruction so that it is more specific."
    assert clean_prompt(instruction, echoes=[instruction]) is None
    assert clean_prompt(f'Prompt: "{instruction.upper()}"', echoes=[instruction]) is None
    assert clean_prompt("rewrite the instruction, so that it is MORE specific", echoes=["x", instruction]) is None


def test_near_echo_needs_jaccard_above_095():
    base = " ".join(f"word{i}" for i in range(40)) + " done"
    near = base + " extra"  # 41 of 42 words shared: 0.976
    far = " ".join(f"word{i}" for i in range(30)) + " other words here now"
    assert jaccard(near, base) > 0.95 and clean_prompt(near, echoes=[base]) is None
    assert jaccard(far, base) < 0.95 and clean_prompt(far, echoes=[base]) == far


def test_a_real_change_is_not_an_echo():
    instruction = "Solve the problem."
    assert clean_prompt("Solve the problem and check your answer.", echoes=[instruction]) is not None


def test_empty_echoes_are_ignored():
    assert clean_prompt(GOOD, echoes=["", "   "]) == GOOD


def test_similarity_helpers():
    assert normalised_tokens("Step-by-step, THINK!") == ["step", "by", "step", "think"]
    assert jaccard("a b c", "c b a") == 1.0 and jaccard("", "") == 1.0 and jaccard("a", "") == 0.0
    assert jaccard("a b", "b c") == pytest.approx(1 / 3)
    assert is_near_echo("The  Answer.", "the answer") and not is_near_echo("the answer", "")


def test_free_text_holes_do_not_follow_a_space():
    """A prompt ending in a space makes a BPE model answer with a newline first (measured on the
    embedded model: 10 of 12 sampled init prompts came back empty with "New instruction: [PROMPT]",
    3 of 12 with "New instruction:[PROMPT]"). The operators' holes start right after the label."""
    import re

    from promptbreeder.package_queries import package_query_names, package_query_text

    for name in package_query_names():
        text = package_query_text(name)
        for hole in ("PROMPT", "MUTATION"):
            assert not re.search(r" \[" + hole + r"\]", text), f"{name}.lmql: a space before [{hole}]"
