"""Trusted evaluator of the code-golf task (llm_optimize's example): correct first, then short.

A correct program scores 1000 minus its length in characters (surrounding whitespace not counted), so
every character saved is a point; a wrong or failing one scores 0, with the first wrong item as feedback.
"""

N = 100


def make_args():
    return N


def expected(n):
    return ["FizzBuzz" if i % 15 == 0 else "Fizz" if i % 3 == 0 else "Buzz" if i % 5 == 0 else str(i)
            for i in range(1, n + 1)]


def score(returned, source):
    want = expected(N)
    length = len(source.strip())
    if not isinstance(returned, list):
        return 0, f"wrong: returned a {type(returned).__name__}, expected a list of {N} strings ({length} characters)"
    for i, (got, right) in enumerate(zip(returned, want), 1):
        if got != right:
            return 0, f"wrong at {i}: got {got!r}, expected {right!r} ({length} characters)"
    if len(returned) != N:
        return 0, f"wrong: {len(returned)} items, expected {N} ({length} characters)"
    return max(1000 - length, 1), f"correct, {length} characters; shorter is better"
