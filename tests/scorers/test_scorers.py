"""Fitness scorers: each built-in type, the registry, and llm_rubric against a fake backend (no model)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from promptbreeder.backends.chat import query_roles
from promptbreeder.backends.roles import role_of

from promptbreeder.backends.base import Backend, DecoderOptions, QueryRequest, QueryResult, query_holes
from promptbreeder.package_queries import package_query_text
from promptbreeder.errors import UsageError
from promptbreeder.scorers import Scorer, available_scorers, build_scorer, clip01, register
from promptbreeder.scorers import registry
from promptbreeder.scorers.rubric import parse_score

QUERY_FILE = Path(__file__).resolve().parents[2] / "promptbreeder" / "scorers" / "queries" / "rubric_score.lmql"


def ex(gold, task="t", **more):
    return {"input": "q?", f"gold_{task}": gold, **more}


def test_available_scorers():
    assert available_scorers() == ["exact_match", "llm_rubric", "multiple_choice", "numeric", "python", "regex"]


def test_clip01():
    assert clip01(1.5) == 1.0 and clip01(-2) == 0.0 and clip01("0.25") == 0.25
    assert clip01(float("nan")) == 0.0 and clip01(None) == 0.0 and clip01("x") == 0.0
    assert clip01(float("inf")) == 1.0


# --- exact_match -----------------------------------------------------------------------------------------


def test_exact_match_defaults_ignore_case_and_spaces():
    scorer = build_scorer({"type": "exact_match"}, "t")
    assert scorer.score("  Paris\n", ex("paris")) == 1.0
    assert scorer.score("Paris.", ex("paris")) == 0.0
    assert scorer.score("Paris", ex("Lyon")) == 0.0
    assert scorer.score("Paris", {"input": "q", "gold_other": "Paris"}) == 0.0  # gold of another task
    assert scorer.score("3", ex(3)) == 1.0


def test_exact_match_options():
    strict = build_scorer({"type": "exact_match", "case_sensitive": True, "strip": False}, "t")
    assert strict.score("Paris", ex("Paris")) == 1.0
    assert strict.score("paris", ex("Paris")) == 0.0
    assert strict.score(" Paris", ex("Paris")) == 0.0


# --- multiple_choice -------------------------------------------------------------------------------------

CHOICES = ["The red book is leftmost.", "The blue book is leftmost.", "The green book is leftmost."]


def test_multiple_choice_normalises_whitespace_case_and_edges():
    scorer = build_scorer({"type": "multiple_choice"}, "t")
    gold = ex(CHOICES[1], choices=CHOICES)
    assert scorer.score("the  BLUE book\nis leftmost.", gold) == 1.0
    assert scorer.score('"The blue book is leftmost"', gold) == 1.0
    assert scorer.score("The red book is leftmost.", gold) == 0.0
    assert scorer.score("(b)", gold) == 0.0  # letters only when asked for
    assert scorer.score("", gold) == 0.0


def test_multiple_choice_letters():
    scorer = build_scorer({"type": "multiple_choice", "accept_letters": True}, "t")
    gold = ex(CHOICES[1], choices=CHOICES)
    for guess in ("(b)", "b", "B", " (B). ", "b)"):
        assert scorer.score(guess, gold) == 1.0, guess
    assert scorer.score("(a)", gold) == 0.0
    assert scorer.score("(z)", gold) == 0.0  # no such choice
    assert scorer.score(CHOICES[1], gold) == 1.0
    assert scorer.score("b", ex("b", choices=["a", "b"])) == 1.0  # a choice named "b" is taken literally
    assert scorer.score("a", ex("b", choices=["a", "b"])) == 0.0


# --- numeric ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prediction, gold, expected",
    [
        ("12", "12", 1.0),
        ("The answer is 12.", "12", 1.0),
        ("-10", "-10", 1.0),
        ("It is -10, I think", -10, 1.0),
        ("10", "-10", 0.0),
        ("1,000 apples", "1000", 1.0),
        ("3.50", "3.5", 1.0),
        ("2e3", "2000", 1.0),
        ("12 apples and 3 pears", "3", 0.0),  # only the first number counts
        ("no idea", "4", 0.0),
        ("", "4", 0.0),
        ("0.30000000000000004", "0.3", 1.0),
        ("4", None, 0.0),
    ],
)
def test_numeric(prediction, gold, expected):
    scorer = build_scorer({"type": "numeric"}, "t")
    assert scorer.score(prediction, ex(gold)) == expected


def test_numeric_tolerance():
    scorer = build_scorer({"type": "numeric", "tolerance": 0.5}, "t")
    assert scorer.score("10.4", ex("10")) == 1.0
    assert scorer.score("9.5", ex("10")) == 1.0
    assert scorer.score("10.6", ex("10")) == 0.0


# --- regex -----------------------------------------------------------------------------------------------


def test_regex_with_gold_is_escaped():
    scorer = build_scorer({"type": "regex", "pattern": r"\b{gold}\b"}, "t")
    assert scorer.score("it is 3.5 metres", ex("3.5")) == 1.0
    assert scorer.score("it is 345 metres", ex("3.5")) == 0.0  # "." in the gold is not a wildcard
    assert scorer.score("anything", {"input": "q"}) == 0.0


def test_regex_braces_and_flags():
    scorer = build_scorer({"type": "regex", "pattern": r"^\d{2}$"}, "t")
    assert scorer.score("42", ex("x")) == 1.0 and scorer.score("421", ex("x")) == 0.0
    loose = build_scorer({"type": "regex", "pattern": "answer: {gold}", "ignore_case": True}, "t")
    assert loose.score("ANSWER: Yes", ex("yes")) == 1.0
    strict = build_scorer({"type": "regex", "pattern": "answer: {gold}"}, "t")
    assert strict.score("ANSWER: Yes", ex("yes")) == 0.0


# --- python ----------------------------------------------------------------------------------------------


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_scoring.py").write_text(
        "def half(prediction, example):\n    return 0.5\n"
        "def big(prediction, example):\n    return 7\n"
        "def length(prediction, example):\n    return len(prediction) / 10\n"
        "def boom(prediction, example):\n    raise RuntimeError('bad')\n"
        "def word(prediction, example):\n    return 'high'\n"
        "def gold_match(prediction, example):\n    return prediction == example['gold_t']\n"
        "NOT_CALLABLE = 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_scoring"


def test_python_scorer(user_module):
    def make(name):
        return build_scorer({"type": "python", "function": f"{user_module}:{name}"}, "t")

    assert make("half").score("x", ex("y")) == 0.5
    assert make("big").score("x", ex("y")) == 1.0
    assert make("length").score("abc", ex("y")) == pytest.approx(0.3)
    assert make("boom").score("x", ex("y")) == 0.0
    assert make("word").score("x", ex("y")) == 0.0
    assert make("gold_match").score_many(["a", "b"], [ex("a"), ex("a")]) == [1.0, 0.0]


def test_python_scorer_import_errors(user_module):
    with pytest.raises(UsageError, match="argument function: expected an importable 'module:function'.*ModuleNotFound"):
        build_scorer({"type": "python", "function": "no_such_module_zz:f"}, "t")
    with pytest.raises(UsageError, match="AttributeError"):
        build_scorer({"type": "python", "function": f"{user_module}:missing"}, "t")
    with pytest.raises(UsageError, match="not callable"):
        build_scorer({"type": "python", "function": f"{user_module}:NOT_CALLABLE"}, "t")
    with pytest.raises(UsageError, match="argument function"):
        build_scorer({"type": "python", "function": "no colon"}, "t")


# --- registry --------------------------------------------------------------------------------------------


def test_unknown_type_lists_available():
    names = "exact_match, llm_rubric, multiple_choice, numeric, python, regex"
    with pytest.raises(UsageError, match=f"expected one of {names}"):
        build_scorer({"type": "bogus"}, "t")
    with pytest.raises(UsageError, match="argument type: expected required field 'type'"):
        build_scorer({}, "t")
    with pytest.raises(UsageError, match="unknown fitness scorer 'bogus'; available: exact_match"):
        registry.scorer_class("bogus")


@pytest.mark.parametrize(
    "spec, arg",
    [
        ({"type": "numeric", "tolerance": "x"}, "tolerance"),
        ({"type": "numeric", "tolerance": -1}, "tolerance"),
        ({"type": "exact_match", "case_sensitive": "no"}, "case_sensitive"),
        ({"type": "exact_match", "ignore": True}, "ignore"),
        ({"type": "regex"}, "pattern"),
        ({"type": "regex", "pattern": "(["}, "pattern"),
        ({"type": "llm_rubric", "rubric": ""}, "rubric"),
        ({"type": "llm_rubric", "rubric": "r", "scale": 0}, "scale"),
        ({"type": "llm_rubric", "rubric": "r", "scale": 2.5}, "scale"),
        ({"type": "multiple_choice", "accept_letters": 1}, "accept_letters"),
    ],
)
def test_bad_args_name_the_argument(spec, arg):
    with pytest.raises(UsageError) as info:
        build_scorer(spec, "t")
    assert f"fitness scorer {spec['type']} argument {arg}: expected" in str(info.value)
    assert "\n" not in str(info.value)


def test_register_custom_scorer_and_duplicates():
    class Always(Scorer):
        type = "always_one_test"
        args_schema = {"type": "object", "properties": {"value": {"type": "number"}}}

        def score(self, prediction, example):
            return self.args.get("value", 1)

    try:
        register(Always)
        assert "always_one_test" in available_scorers()
        scorer = build_scorer({"type": "always_one_test", "value": 3}, "t")
        assert scorer.score_many(["a", "b"], [ex(1), ex(2)]) == [1.0, 1.0]  # score_many clips
        with pytest.raises(TypeError, match="already registered"):
            register(type("Other", (Always,), {}))
        with pytest.raises(ValueError):
            scorer.score_many(["a"], [])
    finally:
        registry._REGISTRY.pop("always_one_test", None)
    with pytest.raises(TypeError, match="non-empty `type`"):
        register(type("Nameless", (Scorer,), {"score": lambda self, p, e: 0.0}))


def test_args_schema_closed_and_typed():
    schema = registry.args_schema("numeric")
    assert schema["additionalProperties"] is False and schema["properties"]["type"] == {"const": "numeric"}


# --- llm_rubric ------------------------------------------------------------------------------------------


class FakeBackend(Backend):
    """Answers every rubric request with the next canned result; records each batch it gets."""

    name = "fake-rubric"

    def __init__(self, results):
        super().__init__()
        self.results = list(results)
        self.batches: list[list[QueryRequest]] = []

    async def run_batch(self, requests):
        self.batches.append(list(requests))
        return [self.results.pop(0) for _ in requests]


def rubric(backend, **args):
    return build_scorer({"type": "llm_rubric", "rubric": "Be correct and brief.", **args}, "qa", backend)


def test_llm_rubric_one_batch_and_scores():
    backend = FakeBackend([
        QueryResult(variables={"SCORE": "7"}),
        QueryResult(variables={"SCORE": "abc"}),
        QueryResult(variables={"SCORE": ""}, error="generation failed"),
        QueryResult(variables={"SCORE": " 10 "}),
        QueryResult(variables={"SCORE": "15"}),
        QueryResult(variables={}),
    ])
    examples = [ex("ref answer", task="qa", input=f"question {i}") for i in range(5)] + [{"input": "no gold"}]
    scores = rubric(backend).score_many(["a0", "a1", "a2", "a3", "a4", "a5"], examples)
    assert scores == [0.7, 0.0, 0.0, 1.0, 1.0, 0.0]
    assert len(backend.batches) == 1 and len(backend.batches[0]) == 6
    first = backend.batches[0][0]
    assert first.name == "rubric_score" and first.decoder == DecoderOptions()
    assert first.query == QUERY_FILE.read_text()
    assert set(first.inputs) == {"question", "answer", "rubric", "reference"}
    assert first.inputs["question"] == "question 0" and first.inputs["answer"] == "a0"
    assert first.inputs["reference"] == "ref answer"
    assert first.inputs["rubric"].startswith("Be correct and brief.")
    assert "0 (worst) to 10 (best)" in first.inputs["rubric"]
    assert backend.batches[0][5].inputs["reference"] == ""
    assert backend.usage.calls == 6 and backend.usage.failed_calls == 1


def test_llm_rubric_scale_and_single_score():
    backend = FakeBackend([QueryResult(variables={"SCORE": "3"}), QueryResult(variables={"SCORE": "-2"})])
    scorer = rubric(backend, scale=4)
    assert scorer.score("x", ex("r", task="qa")) == 0.75
    assert scorer.score("x", ex("r", task="qa")) == 0.0
    assert len(backend.batches) == 2 and "to 4 (best)" in backend.batches[0][0].inputs["rubric"]


def test_llm_rubric_never_raises_on_backend_trouble():
    class Broken(FakeBackend):
        async def run_batch(self, requests):
            from promptbreeder.errors import BackendError

            raise BackendError("server gone")

    assert rubric(Broken([])).score_many(["a", "b"], [ex("r", task="qa")] * 2) == [0.0, 0.0]
    assert rubric(FakeBackend([])).score_many([], []) == []


def test_llm_rubric_needs_a_backend_only_to_score():
    scorer = rubric(None)  # building (e.g. while validating a day care) needs no model
    with pytest.raises(UsageError, match="needs a backend"):
        scorer.score("x", ex("r", task="qa"))


def test_parse_score():
    assert parse_score("7", 10) == 0.7 and parse_score(" 3\n", 10) == 0.3
    assert parse_score("7/10", 10) == 0.0 and parse_score(None, 10) == 0.0 and parse_score("1.5", 10) == 0.0


def test_rubric_query_file():
    text = package_query_text("rubric_score")
    assert text == QUERY_FILE.read_text()
    assert query_holes(text) == ["SCORE"]
    for name in ("{question}", "{answer}", "{rubric}", "{reference}"):
        assert name in text
    assert "where INT(SCORE) and len(TOKENS(SCORE)) < 3" in text
    assert query_roles(text) == ["system", "user", "assistant"]
    assert '"""' not in text, "LMQL drops blank lines inside triple-quoted strings"
    assert not text.lstrip().startswith(("argmax", "sample", "beam"))


def test_rubric_query_compiles_in_lmql():
    lmql = pytest.importorskip("lmql")
    lmql.query("argmax\n" + package_query_text("rubric_score"), is_async=False)  # compiles; runs no model


def test_score_values_are_floats_in_range():
    scorer = build_scorer({"type": "numeric"}, "t")
    values = scorer.score_many(["1", "x", "2"], [ex("1"), ex("1"), ex("3")])
    assert values == [1.0, 0.0, 0.0] and all(isinstance(v, float) and 0 <= v <= 1 and not math.isnan(v) for v in values)


# --- feedback (reflective mutation) -----------------------------------------------------------------------


@pytest.mark.parametrize("spec, prediction, example, expected", [
    ({"type": "exact_match"}, "Paris", ex("Paris"), (1.0, "right")),
    ({"type": "exact_match"}, "Lyon", ex("Paris"), (0.0, "wrong: expected 'Paris', the answer was 'Lyon'")),
    ({"type": "exact_match"}, "", ex("Paris"), (0.0, "wrong: expected 'Paris', the answer was empty")),
    ({"type": "numeric"}, "8", ex(7), (0.0, "wrong: expected the number 7; the answer gave the number 8")),
    ({"type": "numeric", "tolerance": 0.5}, "no idea", ex(7),
     (0.0, "wrong: expected the number 7 (within 0.5); the answer gave no number")),
    ({"type": "multiple_choice"}, "no", ex("yes", choices=["yes", "no"]),
     (0.0, "wrong: expected the choice 'yes'; the model chose 'no', another choice")),
    ({"type": "multiple_choice"}, "maybe", ex("yes", choices=["yes", "no"]),
     (0.0, "wrong: expected the choice 'yes'; the model answered 'maybe', not one of the choices")),
    ({"type": "regex", "pattern": r"^{gold}\.$"}, "7", ex("7"),
     (0.0, r"wrong: expected an answer matching the pattern '^7\\.$'; the answer was '7'")),
])
def test_each_scorer_says_what_was_expected(spec, prediction, example, expected):
    assert build_scorer(spec, "t").judge_many([prediction], [example]) == [expected]


def test_a_python_scorer_may_return_its_own_feedback(user_module, tmp_path):
    (tmp_path / "my_feedback.py").write_text(
        "def graded(prediction, example):\n    return 0.25, 'too long by 3 words'\n"
        "def boom(prediction, example):\n    raise ValueError('cannot parse')\n")
    graded = build_scorer({"type": "python", "function": "my_feedback:graded"}, "t")
    assert graded.score("x", ex("y")) == 0.25
    assert graded.judge_many(["x"], [ex("y")]) == [(0.25, "too long by 3 words")]
    boom = build_scorer({"type": "python", "function": "my_feedback:boom"}, "t")
    assert boom.judge_many(["x"], [ex("y")]) == [(0.0, "the scoring function failed: ValueError: cannot parse")]
    plain = build_scorer({"type": "python", "function": f"{user_module}:half"}, "t")
    assert plain.judge_many(["x"], [ex("y")]) == [(0.5, "partly right: expected 'y', the answer was 'x'")]


def test_the_rubric_scorer_gives_its_grade_and_rubric():
    backend = FakeBackend([QueryResult(variables={"SCORE": "6"})])
    [(score, said)] = rubric(backend).judge_many(["an answer"], [ex("ref", task="qa")])
    assert score == 0.6 and said.startswith("the grader gave 6 of 10 against the rubric: Be correct and brief.")


def test_the_rubric_scorer_explains_only_when_asked():
    backend = FakeBackend([QueryResult(variables={"SCORE": "4", "REASON": " It skips   the units.\n"}),
                           QueryResult(variables={"SCORE": "x"}, error="grader down")])
    judged = rubric(backend).judge_many(["a", "b"], [ex("ref", task="qa")] * 2, explain=True)
    assert judged == [(0.4, "the grader gave 4 of 10: It skips the units."),
                      (0.0, "the grader gave 0 of 10 against the rubric: Be correct and brief.")]
    [batch] = backend.batches
    assert [r.name for r in batch] == ["rubric_reason"] * 2
    assert batch[0].query == package_query_text("rubric_reason")
    plain = FakeBackend([QueryResult(variables={"SCORE": "4"})])
    rubric(plain).judge_many(["a"], [ex("ref", task="qa")])  # no reason wanted: the short grading query
    assert [r.name for r in plain.batches[0]] == ["rubric_score"]


def test_the_reason_query_grades_word_for_word_as_the_plain_one():
    # a greedy grader then gives the same grade with or without the reason: the score never depends on it
    plain, reasoned = package_query_text("rubric_score"), package_query_text("rubric_reason")
    body = [line for line in plain.splitlines() if not line.startswith("#")]
    assert [line for line in reasoned.splitlines() if not line.startswith("#")][: len(body)] == body
    assert query_holes(reasoned) == ["SCORE", "REASON"]
    assert 'STOPS_AT(REASON, "\\n")' in reasoned and "len(TOKENS(REASON)) <" in reasoned
    assert role_of("rubric_reason") == role_of("rubric_score") == "scorer"


def test_the_reason_query_runs_on_a_text_only_server():
    from promptbreeder.backends.server.constraints import split_constraints

    text, validators = split_constraints(package_query_text("rubric_reason"))
    assert [v.kind for v in validators] == ["int"] and "REASON" in text


def test_rubric_reason_query_compiles_in_lmql():
    lmql = pytest.importorskip("lmql")
    lmql.query("argmax\n" + package_query_text("rubric_reason"), is_async=False)


@pytest.mark.integration
def test_the_real_grader_gives_the_same_grade_with_its_reason(real_backend):
    examples = [ex("4", task="qa", input="What is 2 plus 2?")] * 2
    rubric_args = {"rubric": "10 if the answer is the reference number, else 0."}
    scorer = rubric(real_backend, **rubric_args)
    plain = scorer.score_many(["4", "7"], examples)
    judged = scorer.judge_many(["4", "7"], examples, explain=True)
    assert [score for score, _ in judged] == plain
    # SmolLM2-135M grades both 4 and writes "4" as its reason: a weak grader, but the reason reaches the
    # feedback and never changes the grade
    for score, said in judged:
        head = f"the grader gave {round(score * 10)} of 10: "
        assert said.startswith(head) and said[len(head):].strip() and "against the rubric" not in said
