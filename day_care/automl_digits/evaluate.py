"""Trusted evaluator of the AutoML-on-digits code task: builds the candidate's input and scores its output.

The candidate sees the training split and the test images, never the test labels; its predictions are
scored here, in the parent process, so a candidate cannot report its own accuracy.
"""

from collections import Counter

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def _split():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


def make_args():
    X_train, X_test, y_train, _ = _split()
    return {"X_train": X_train.tolist(), "y_train": y_train.tolist(), "X_test": X_test.tolist()}


def score(returned):
    _, _, _, y_test = _split()
    if not isinstance(returned, list) or len(returned) != len(y_test):
        return 0.0, f"expected a list of {len(y_test)} predicted labels, got {type(returned).__name__}" + (
            f" of length {len(returned)}" if isinstance(returned, list) else "")
    try:
        predicted = [int(p) for p in returned]
    except (TypeError, ValueError):
        return 0.0, "the predictions must be integers 0..9"
    right = sum(p == t for p, t in zip(predicted, y_test))
    accuracy = right / len(y_test)
    mistakes = Counter((int(t), p) for p, t in zip(predicted, y_test) if p != t).most_common(3)
    worst = ", ".join(f"{t} read as {p} ({n}x)" for (t, p), n in mistakes) or "none"
    return accuracy, f"held-out accuracy {accuracy:.3f} ({right}/{len(y_test)}); most frequent mistakes: {worst}"
