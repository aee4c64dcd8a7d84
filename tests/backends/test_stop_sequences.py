"""Decoder stop sequences: `stop=[...]` in a decoder ends every generated variable before the first of
them; the fake backend and the LMQL backends cut there, and our engine stops generating at the phrase
(an end-of-sequence token ends the LMQL variable) instead of running to the token limit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from promptbreeder.backends.base import DecoderOptions, QueryRequest, cut_at_stops
from promptbreeder.backends.fake import FakeBackend
from promptbreeder.errors import UsageError


@pytest.mark.parametrize("text, stop", [
    ("argmax(stop=['\\n'])", ("\n",)),
    ("sample(temperature=0.7, stop=['\\n\\n', 'Question:'])", ("\n\n", "Question:")),
    ("beam(n=2, stop='.')", (".",)),
    ("sample(temperature=0.7)", ()),
])
def test_stop_sequences_parse_and_round_trip(text, stop):
    options = DecoderOptions.parse(text)
    assert options.stop == stop
    assert DecoderOptions.parse(options.to_lmql()) == options
    assert "stop" not in options.to_lmql(engine_options=False), "LMQL rejects unknown decoder arguments"


@pytest.mark.parametrize("text", ["argmax(stop=[1])", "argmax(stop=[''])", "argmax(stop={'a': 1})"])
def test_bad_stop_sequences_are_usage_errors(text):
    with pytest.raises(UsageError, match="stop"):
        DecoderOptions.parse(text)


def test_cut_at_stops_keeps_what_comes_before_the_earliest_stop():
    variables = {"A": "7\nQuestion: 3+4", "B": "no stop here", "C": "x. y\n"}
    assert cut_at_stops(variables, ("\n", ".")) == {"A": "7", "B": "no stop here", "C": "x"}
    assert cut_at_stops(variables, ()) is variables


def test_the_fake_backend_cuts_at_the_decoders_stops():
    backend = FakeBackend(responder=lambda request: {"ANSWER": "12\nQ: what next"})
    decoder = DecoderOptions.parse("argmax(stop=['\\n'])")
    [result] = backend.run_many([QueryRequest('"A: [ANSWER]"', decoder=decoder)])
    assert result.variables == {"ANSWER": "12"}


def test_the_generation_genome_decodes_with_the_tasks_stop_sequences(tmp_path):
    from promptbreeder.config import RunConfig
    from promptbreeder.daycare.loader import load_day_care
    from promptbreeder.genomes.registry import build_genome

    day_care = load_day_care(Path(__file__).resolve().parents[2] / "day_care")
    task = day_care.task("arithmetic_decoding")
    task = dataclasses.replace(task, fitness_decoder=DecoderOptions.parse("argmax(stop=['\\n'])"))
    backend = FakeBackend(responder=lambda r: {"ANSWER": "3\n"} if r.name == "fitness_noCoT" else
                          {f"P{i}": "1\n" for i in range(6)})
    genome = build_genome(RunConfig(task=task.name, population_size=2, fitness_batch_size=2), day_care, task, backend)
    genome.objective({"temperature": 0.5, "top_k": 10, "top_p": 0.9, "tfs": 1.0, "top_a": 0.0, "seed": 1})
    fitness = [r for r in backend.requests if r.name == "fitness_noCoT"]
    assert fitness and all(r.decoder.stop == ("\n",) and r.decoder.temperature == 0.5 for r in fitness)


@pytest.mark.integration
def test_the_engine_stops_at_a_stop_sequence_and_the_answer_is_the_greedy_prefix(real_backend):
    query = ('"<|im_start|>user\\nList three fruits, one per line.<|im_end|>\\n<|im_start|>assistant\\n[X]"'
             ' where len(TOKENS(X)) < 40\n')
    whole, cut = real_backend.run_many([QueryRequest(query, decoder=DecoderOptions(), name="free"),
                                        QueryRequest(query, decoder=DecoderOptions(stop=("\n",)), name="stopped")])
    assert whole.ok and cut.ok and "\n" in whole.variables["X"], whole.variables
    assert cut.variables["X"] == whole.variables["X"].split("\n")[0]
    assert cut.generated_tokens < whole.generated_tokens, "generation ended at the stop, not at the limit"
