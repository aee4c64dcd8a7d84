"""Evaluator of the palindrome task (llm_optimize's rubric example, scored by rule instead of by an LLM).

Up to 10 points: 6 for how much of the text mirrors itself (letters only, case ignored), 2 for at
least 5 words, 2 for naming machine learning (or a word of its vocabulary). The feedback says which
part is missing, and where the mirror first breaks.
"""

import re

TOPIC = ("machine", "learning", "model", "data", "train", "neural", "algorithm", "predict", "ml", "ai")


def evaluate(text):
    letters = re.sub(r"[^a-z]", "", text.lower())
    words = re.findall(r"[A-Za-z']+", text)
    if not letters:
        return 0.0, "no letters: write a sentence"
    mirrored = sum(a == b for a, b in zip(letters, reversed(letters))) / len(letters)
    on_topic = any(w.lower() in TOPIC for w in words)
    score = 6 * mirrored + (2 if len(words) >= 5 else 0) + (2 if on_topic else 0)
    notes = [f"{mirrored:.0%} of the letters mirror"]
    if mirrored < 1:
        i = next(i for i, (a, b) in enumerate(zip(letters, reversed(letters))) if a != b)
        notes.append(f"the mirror breaks at letter {i + 1} ({letters[i]!r} vs {letters[-1 - i]!r})")
    if len(words) < 5:
        notes.append(f"only {len(words)} words (at least 5)")
    if not on_topic:
        notes.append("it does not mention machine learning")
    return round(score, 3), "; ".join(notes)
