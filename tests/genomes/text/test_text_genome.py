"""The text and code genome (`genomes/text/genome.py`) without a model: creation from x0, scoring each distinct
candidate once with its feedback, LLM-guided improvement (one batch per generation, one retry for replies
without a candidate, then a copy), the bounded history of attempts the LLM sees, reports, state round trips
and whole runs through the GA engine (a continued run ends where an uninterrupted one does).

The fake backend answers `optimize_step` the way the LMQL query fills its holes: REASONING is the rest of the
"Reasoning:" line (leading space, ending at the newline) and SOLUTION the fenced block's content.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from promptbreeder.backends.base import DecoderOptions, query_holes
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.config import RunConfig
from promptbreeder.package_queries import package_query_text
from promptbreeder.evolution import Breeder
from promptbreeder.genomes.base import COPY_OPERATOR
from promptbreeder.genomes.text.genome import FEEDBACK_CHARS, IMPROVE, TextGenome, TextUnit
from promptbreeder.store.run_store import RunStore

TASK = "Write a slogan for a bicycle shop."
QUESTION = "Make it longer: every word counts."
X0 = "ride"


def Backend(responder) -> FakeBackend:
    """A fake backend answering with `responder`; it records each call's query names in `batches`."""
    return FakeBackend(responder=responder)


class WordCount:
    """evaluate(x) -> (number of words, feedback), counting its calls."""

    def __init__(self):
        self.calls: list[str] = []

    def __call__(self, text: str):
        self.calls.append(text)
        n = len(text.split())
        return n, f"{n} words; add more"


def appender(word="more", reasoning="add one word"):
    """Improves a candidate by appending `word` (as the model would write it: reasoning line and fenced block)."""

    def respond(request):
        assert request.name == "optimize_step", request.name
        return {"REASONING": f" {reasoning}\n", "SOLUTION": request.inputs["current"] + f" {word}\n"}

    return respond


def seeded_appender(request):
    """A deterministic improvement derived from the request seed (for whole runs and resumes)."""
    return {"REASONING": f" seed {request.seed % 100}\n",
            "SOLUTION": request.inputs["current"] + f" w{request.seed % 1000}\n"}


def scripted(*replies):
    """Replies handed out in order; an Exception instance makes that query fail."""
    queue = list(replies)

    def respond(request):
        entry = queue.pop(0)
        if isinstance(entry, Exception):
            raise entry
        return entry(request) if callable(entry) else entry

    return respond


def make_genome(responder=None, evaluate=None, kind="text", **options):
    backend = Backend(responder if responder is not None else appender())
    genome = TextGenome(None, TASK, QUESTION, evaluate if evaluate is not None else WordCount(), X0,
                        backend=backend, query_text=package_query_text, kind=kind, **options)
    return genome, backend


def id_counter(start=100):
    counter = iter(range(start, 10_000))
    return lambda: f"u{next(counter)}"


def scored(genome, texts, generation=0):
    units = [TextUnit(id=f"u{i}", text=t) for i, t in enumerate(texts)]
    genome.score([(units, None)], generation)
    return units


# -- creation ----------------------------------------------------------------------------------------


def test_a_population_of_one_is_x0_alone_and_sends_nothing():
    genome, backend = make_genome()
    units, events = genome.create(["u0"], random.Random(0))
    assert [(u.id, u.text, u.operator, u.parent, u.fitness) for u in units] == [("u0", X0, "x0", None, None)]
    assert events == [] and backend.batches == [] and backend.requests == []


def test_creation_improves_x0_for_every_other_unit_in_one_batch():
    genome, backend = make_genome(scripted(*({"REASONING": f" idea {i}\n", "SOLUTION": f"ride {i}\n"}
                                             for i in range(3))))
    units, events = genome.create(["u0", "u1", "u2", "u3"], random.Random(0))
    assert backend.batches == [["optimize_step"] * 3]
    assert [u.id for u in units] == ["u0", "u1", "u2", "u3"]
    assert [u.text for u in units] == [X0, "ride 0", "ride 1", "ride 2"]
    assert [u.operator for u in units] == ["x0", "init", "init", "init"]
    assert [u.reasoning for u in units] == ["", "idea 0", "idea 1", "idea 2"]
    assert all(u.fitness is None and u.generation == 0 for u in units) and events == []
    for request in backend.requests:
        assert request.inputs["current"] == X0 and request.inputs["history"] == "No attempt has been scored yet."
    assert len({r.seed for r in backend.requests}) == 3, "each improvement of x0 is its own sample"


def test_creation_falls_back_to_x0_for_empty_or_failed_replies():
    genome, backend = make_genome(scripted({"REASONING": " fine\n", "SOLUTION": "ride fast\n"},
                                           {"REASONING": " nothing\n", "SOLUTION": "  \n"},
                                           RuntimeError("model fell over")))
    units, events = genome.create(["u0", "u1", "u2", "u3"], random.Random(0))
    assert len(backend.batches) == 1, "creation is one backend call, without retries"
    assert [u.text for u in units] == [X0, "ride fast", X0, X0]
    assert [u.reasoning for u in units] == ["", "fine", "", ""]
    assert events == [("init_failed", {"unit": "u2"}), ("init_failed", {"unit": "u3"})]


# -- scoring -----------------------------------------------------------------------------------------


def test_score_evaluates_each_distinct_text_once_and_records_it():
    evaluate = WordCount()
    genome, _ = make_genome(evaluate=evaluate)
    a, b, c, d = (TextUnit(id="u0", text="ride"), TextUnit(id="u1", text="ride on", reasoning="longer"),
                  TextUnit(id="u2", text="ride"), TextUnit(id="u3", text="ride on and on"))
    genome.score([([a, b], None), ([c, d], None)], 0)
    assert evaluate.calls == ["ride", "ride on", "ride on and on"]
    assert [(u.score, u.fitness) for u in (a, b, c, d)] == [(1.0, 1.0), (2.0, 2.0), (1.0, 1.0), (4.0, 4.0)]
    assert all(isinstance(u.fitness, float) for u in (a, b, c, d))
    assert c.feedback == "1 words; add more"
    assert genome.evaluations == [
        {"text": "ride", "score": 1.0, "feedback": "1 words; add more", "unit": "u0", "reasoning": ""},
        {"text": "ride on", "score": 2.0, "feedback": "2 words; add more", "unit": "u1", "reasoning": "longer"},
        {"text": "ride on and on", "score": 4.0, "feedback": "4 words; add more", "unit": "u3", "reasoning": ""},
    ]
    genome.score([([a, d], None)], 1)
    assert len(evaluate.calls) == 3, "a text scored before is never evaluated again"
    assert a.fitness_history == [{"generation": 0, "fitness": 1.0}, {"generation": 1, "fitness": 1.0}]
    assert genome.draw_batch(random.Random(0)) is None


# -- breeding ----------------------------------------------------------------------------------------


def test_breeding_asks_once_per_winner_in_one_batch_with_everything_the_query_needs():
    genome, backend = make_genome(appender(reasoning="say where"), max_solution_tokens=77)
    winners = scored(genome, ["ride", "ride on", "ride on and on"])
    winners[1].feedback = "x" * (FEEDBACK_CHARS + 400)
    history = genome.history()
    births = genome.breed(winners, list(winners), 3, id_counter(), random.Random(1))
    assert backend.batches == [["optimize_step"] * 3]
    query = package_query_text("optimize_step")
    for winner, request in zip(winners, backend.requests):
        assert request.query == query and request.decoder == genome.decoder
        assert set(request.inputs) == {"task_description", "question", "history", "current", "feedback", "fence",
                                       "max_solution_tokens"}
        assert request.inputs["task_description"] == TASK and request.inputs["question"] == QUESTION
        assert request.inputs["current"] == winner.text and request.inputs["history"] == history
        assert request.inputs["feedback"] == winner.feedback[:FEEDBACK_CHARS]
        assert request.inputs["fence"] == "text" and request.inputs["max_solution_tokens"] == 77
    assert len(backend.requests[1].inputs["feedback"]) == FEEDBACK_CHARS
    assert [b.child.id for b in births] == ["u100", "u101", "u102"]
    for winner, birth in zip(winners, births):
        child = birth.child
        assert birth.parent is winner and birth.operator == IMPROVE and birth.tried == [IMPROVE]
        assert (child.text, child.parent, child.generation, child.operator) == (
            winner.text + " more", winner.id, 3, IMPROVE)
        assert child.reasoning == "say where" and child.fitness is None and child.feedback == ""


def test_the_query_inputs_are_exactly_the_holes_of_the_query_text():
    query = package_query_text("optimize_step")
    assert query_holes(query) == ["REASONING", "SOLUTION"]
    genome, backend = make_genome()
    genome.breed(scored(genome, ["ride"]), [], 1, id_counter(), random.Random(0))
    for name in backend.requests[0].inputs:
        assert "{" + name + "}" in query or name == "max_solution_tokens", name


def test_a_code_genome_fences_python_and_a_text_genome_text():
    for kind, fence in (("code", "python"), ("text", "text")):
        genome, backend = make_genome(kind=kind)
        assert genome.kind == kind
        genome.breed(scored(genome, ["def f(): pass"]), [], 1, id_counter(), random.Random(0))
        assert backend.requests[0].inputs["fence"] == fence
        assert f"```{fence}\n" in genome.history()


def test_a_reply_without_a_candidate_is_retried_once_then_the_child_is_a_copy():
    calls = {}

    def respond(request):
        current = request.inputs["current"]
        calls[current] = calls.get(current, 0) + 1
        if current == "a":  # never gives a candidate
            return {"REASONING": " hmm\n", "SOLUTION": "\n  \n"} if calls[current] == 1 else RuntimeError("down")
        if current == "b" and calls[current] == 1:
            return {"REASONING": " first\n", "SOLUTION": ""}
        return {"REASONING": f" fixed {current}\n", "SOLUTION": current + " x\n"}

    def responder(request):
        reply = respond(request)
        if isinstance(reply, Exception):
            raise reply
        return reply

    genome, backend = make_genome(responder)
    winners = scored(genome, ["a", "b", "c"])
    births = genome.breed(winners, list(winners), 2, id_counter(), random.Random(0))
    assert backend.batches == [["optimize_step"] * 3, ["optimize_step"] * 2], "the retry asks only for the failed"
    assert [r.inputs["current"] for r in backend.requests] == ["a", "b", "c", "a", "b"]
    copy, retried, first = births
    assert (copy.operator, copy.tried, copy.child.operator) == (COPY_OPERATOR, [IMPROVE, IMPROVE], COPY_OPERATOR)
    assert (copy.child.text, copy.child.reasoning, copy.child.parent, copy.child.fitness) == ("a", "", "u0", None)
    assert copy.child.id != winners[0].id
    assert (retried.operator, retried.child.text, retried.child.reasoning) == (IMPROVE, "b x", "fixed b")
    assert (first.operator, first.tried, first.child.text) == (IMPROVE, [IMPROVE], "c x")


def test_a_child_made_by_the_retry_lists_both_attempts():
    replies = iter([{"REASONING": " first\n", "SOLUTION": ""}, {"REASONING": " again\n", "SOLUTION": "b x\n"}])
    genome, _ = make_genome(lambda request: next(replies))
    [birth] = genome.breed(scored(genome, ["b"]), [], 1, id_counter(), random.Random(0))
    assert birth.operator == IMPROVE and birth.child.text == "b x"
    assert birth.tried == [IMPROVE, IMPROVE]


def test_the_same_winner_twice_gets_two_requests_and_two_children():
    genome, backend = make_genome(seeded_appender)
    [winner] = scored(genome, ["ride"])
    births = genome.breed([winner, winner], [winner], 1, id_counter(), random.Random(0))
    assert len(backend.requests) == 2 and backend.requests[0].seed != backend.requests[1].seed
    assert [b.child.id for b in births] == ["u100", "u101"]


# -- the history the LLM sees -------------------------------------------------------------------------


def test_the_history_before_any_attempt():
    genome, _ = make_genome()
    assert genome.history() == "No attempt has been scored yet."


def test_the_history_shows_the_best_and_the_latest_attempts_within_the_window():
    scores = {"t0": 5, "t1": 1, "t2": 7, "t3": 2, "t4": 3, "t5": 0, "t6": 4, "t7": 6}
    genome, _ = make_genome(evaluate=lambda text: (scores[text], f"feedback of {text}"), history_window=4)
    scored(genome, list(scores))
    history = genome.history()
    assert history.startswith("Earlier attempts (score, higher is better):\n")
    assert history.count("--- score") == 4
    # the best two (t2, t7) and the latest two others (t6, t5), worst first
    shown = [line.strip() for line in history.splitlines() if line.startswith("t")]
    assert shown == ["t5", "t6", "t7", "t2"]
    assert "--- score 7.0000; feedback: feedback of t2\n```text\nt2\n```" in history
    assert "--- score 0.0000; feedback: feedback of t5" in history


def test_a_short_history_shows_every_attempt_and_truncates_feedback():
    long_feedback = "y" * (FEEDBACK_CHARS + 100)
    genome, _ = make_genome(evaluate=lambda text: (len(text), long_feedback), history_window=5)
    scored(genome, ["bb", "a", "ccc"])
    history = genome.history()
    assert history.count("--- score") == 3
    assert [line for line in history.splitlines() if line in ("a", "bb", "ccc")] == ["a", "bb", "ccc"]
    assert f"feedback: {'y' * FEEDBACK_CHARS}\n" in history and "y" * (FEEDBACK_CHARS + 1) not in history


def test_the_history_window_bounds_a_long_run():
    genome, _ = make_genome(history_window=5)
    scored(genome, [" ".join(["w"] * n) for n in range(1, 31)])
    history = genome.history()
    assert history.count("--- score") == 5
    assert "--- score 30.0000" in history and "--- score 1.0000" not in history


# -- reports, labels, state --------------------------------------------------------------------------


def test_an_empty_report():
    genome, _ = make_genome()
    report = genome.report([], 0)
    assert report == {"genome": "text", "evaluations": 0, "best": None, "best_so_far": [], "top": []}
    assert genome.report_rows(report) == []
    assert genome.format_report(report) == "nothing was evaluated"


def test_the_report_names_the_best_candidate_and_the_best_so_far_curve():
    genome, _ = make_genome(kind="code")
    units = scored(genome, ["a b", "a", "a b c d", "a b c"])
    report = genome.report(units, 4)
    assert report["genome"] == "code" and report["evaluations"] == 4
    assert report["best"] == {"text": "a b c d", "score": 4.0, "feedback": "4 words; add more", "unit": "u2",
                              "reasoning": ""}
    assert report["best_so_far"] == [2.0, 2.0, 4.0, 4.0]
    assert genome.format_report(report) == ("4 candidates evaluated; best 4.0000 (u2):\na b c d\n"
                                            "feedback: 4 words; add more")
    json.dumps(report)


def test_labels_show_the_first_line():
    genome, _ = make_genome()
    assert genome.label(TextUnit(id="u0", text="one line")) == "one line"
    assert genome.label(TextUnit(id="u0", text="\ndef f():\n    return 1\n")) == "def f(): …"
    assert genome.label(TextUnit(id="u0", text="z" * 150)) == "z" * 100 + " …"
    assert genome.label(TextUnit(id="u0", text="  ")) == ""


def test_state_round_trip_restores_the_evaluations_without_evaluating_again():
    genome, _ = make_genome()
    units = scored(genome, ["a", "a b", "a b c"])
    units[1].reasoning = "kept"
    state = json.loads(json.dumps(genome.state()))
    assert set(state) == set(TextGenome.STATE_KEYS) == {"evaluations"}
    again = WordCount()
    restored, _ = make_genome(evaluate=again)
    restored.load_state(state)
    assert restored.evaluations == genome.evaluations and restored.history() == genome.history()
    copies = [restored.individual_from_dict(json.loads(json.dumps(u.to_dict()))) for u in units]
    assert copies == units
    fresh = [TextUnit(id=f"v{i}", text=u.text) for i, u in enumerate(units)]
    restored.score([(fresh, None)], 1)
    assert again.calls == [] and [u.score for u in fresh] == [u.score for u in units]
    assert [u.feedback for u in fresh] == [u.feedback for u in units]
    new = TextUnit(id="v9", text="a b c d e")
    restored.score([([new], None)], 1)
    assert again.calls == ["a b c d e"] and len(restored.evaluations) == 4
    assert restored.report([], 1)["best"]["text"] == "a b c d e"


def test_the_state_does_not_share_lists_with_the_genome():
    genome, _ = make_genome()
    scored(genome, ["a"])
    state = genome.state()
    state["evaluations"][0]["score"] = 99.0
    assert genome.evaluations[0]["score"] == 1.0


# -- a whole run through the engine ------------------------------------------------------------------


def breeder(store_dir: Path, seed=5, generations=3, store=None, evaluate=None):
    config = RunConfig(task="toy_text", population_size=4, evolution_generations=generations, seed=seed)
    store = store if store is not None else RunStore.create(store_dir, config.to_dict())
    backend = Backend(seeded_appender)
    genome = TextGenome(config, TASK, QUESTION, evaluate if evaluate is not None else WordCount(), X0,
                        backend=backend, query_text=package_query_text, history_window=4,
                        decoder=DecoderOptions.parse("sample(temperature=0.9)"))
    return Breeder(config, genome, store=store, log_line=lambda line: None), backend


def snapshots(store):
    return {step: json.loads((store.folder / "snapshots" / f"step_{step:06d}.json").read_text())["state"]
            for step in store.steps()}


def test_a_run_through_the_engine_improves_the_best_candidate(tmp_path):
    evaluate = WordCount()
    run, backend = breeder(tmp_path / "runs", evaluate=evaluate)
    final = run.run()
    assert final["generation"] == 3 and run.store.steps() == [0, 1, 2, 3] and len(final["population"]) == 4
    step0 = snapshots(run.store)[0]
    best0 = max(u["fitness"] for u in step0["population"])
    assert best0 == 2.0, "x0 plus one appended word"
    saved_calls = list(evaluate.calls)
    unscored = {u["text"] for u in final["population"] if u["fitness"] is None} - set(saved_calls)
    report = run.report()
    assert report["best"]["score"] > best0, "breeding made the best candidate longer"
    assert report["best"]["score"] >= max(e["score"] for e in final["evaluations"])
    # the report also evaluates the last generation's children, which met no tournament
    assert report["generation"] == 3 and report["evaluations"] == len(final["evaluations"]) + len(unscored)
    assert set(evaluate.calls[len(saved_calls):]) == unscored
    assert json.loads((run.store.folder / "report.json").read_text())["best"] == report["best"]
    assert saved_calls == [e["text"] for e in final["evaluations"]], "each distinct text evaluated once"
    assert len(set(evaluate.calls)) == len(evaluate.calls)
    assert backend.batches[0] == ["optimize_step"] * 3
    assert all(1 <= len(batch) <= 2 and set(batch) == {"optimize_step"} for batch in backend.batches[1:]), \
        "one batch per generation, one request per tournament that breeds"
    tournaments = [e for e in run.store.events() if e["event"] == "tournament"]
    assert len(tournaments) == 6
    assert {e["operator"] for e in tournaments if not e["elite_saved"]} == {IMPROVE}
    bred = [e for e in final["evaluations"] if e["reasoning"].startswith("seed ")]
    assert len(bred) == len(final["evaluations"]) - 1, "every candidate but x0 keeps the reasoning of its reply"


def test_a_continued_run_ends_in_the_state_of_the_uninterrupted_run(tmp_path):
    reference, _ = breeder(tmp_path / "reference")
    final = reference.run()
    first, _ = breeder(tmp_path / "stopped", generations=1)
    assert first.run()["generation"] == 1
    evaluate = WordCount()
    continued, _ = breeder(tmp_path / "unused", store=first.store, evaluate=evaluate)
    assert continued.run() == final
    assert snapshots(first.store) == snapshots(reference.store)
    assert [e["step"] for e in first.store.events() if e["event"] == "resumed"] == [1]
    before = {e["text"] for e in snapshots(first.store)[1]["evaluations"]}
    assert evaluate.calls, "the continued run evaluated the new children"
    assert not before & set(evaluate.calls), "nothing evaluated before the stop is evaluated again"
    assert len(before) + len(evaluate.calls) == len(final["evaluations"])


# -- an evaluator that fails ---------------------------------------------------------------------------


@pytest.mark.parametrize("outcome, reason", [
    (ZeroDivisionError("division by zero"), "the evaluator raised ZeroDivisionError: division by zero"),
    ("not a pair", "the evaluator returned 'not a pair', expected (score, feedback)"),
    (("high", "ok"), "the evaluator returned ('high', 'ok'), expected (score, feedback)"),
    ((float("nan"), "?"), "the evaluator returned a nan score"),
])
def test_an_evaluator_that_raises_or_returns_garbage_fails_that_candidate_only(outcome, reason):
    def evaluate(text):
        if text.startswith("bad"):
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        return WordCount()(text)

    genome, _ = make_genome(evaluate=evaluate)
    good, bad = scored(genome, ["two words", "bad one"])
    assert (good.score, good.fitness) == (2.0, 2.0)
    assert bad.score == bad.fitness == float("-inf") and bad.feedback == reason
    assert genome.evaluations[1]["feedback"] == reason
    assert f"score failed; feedback: {reason}" in genome.history(), "the LLM is told why the attempt failed"
    assert genome.report([good, bad], 1)["best"]["text"] == "two words"


def test_a_stop_score_ends_the_run_at_the_first_step_that_reaches_it_and_a_continued_run_stays_there(tmp_path):
    config = RunConfig(task="toy_text", population_size=4, evolution_generations=6, seed=5)
    store = RunStore.create(tmp_path / "runs", config.to_dict())

    def run(generations):
        genome = TextGenome(config, TASK, QUESTION, WordCount(), X0, backend=Backend(seeded_appender),
                            query_text=package_query_text, decoder=DecoderOptions.parse("sample(temperature=0.9)"),
                            stop_score=3.0)
        return Breeder(dataclasses.replace(config, evolution_generations=generations), genome, store=store,
                       log_line=lambda line: None)

    first = run(6)
    final = first.run()
    bests = {step: max(e["score"] for e in state["evaluations"]) for step, state in snapshots(store).items()}
    reached = min(step for step, best in bests.items() if best >= 3.0)
    assert final["generation"] == reached < 6 and store.steps()[-1] == reached
    assert first.target == f"stop_score 3 reached (best {bests[reached]:g})"
    assert first.report()["target_reached"] == first.target
    again = run(10)
    assert again.run()["generation"] == reached and store.steps()[-1] == reached, "continuing does not go on"
    assert [e["step"] for e in store.events() if e["event"] == "target_reached"] == [reached, reached]
