"""Genome kinds by name (`genomes/registry.py`): every kind answers the whole `GenomeKind` contract, a
saved run's kind is recognised, and a new kind plugs in with its registry entry alone: the day care
loads its task folders, the app breeds it, --dry-run projects it and `promptbreeder report` reads it back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from promptbreeder import cli
from promptbreeder.backends.base import DecoderOptions
from promptbreeder.config import RunConfig
from promptbreeder.daycare import load_day_care
from promptbreeder.errors import UsageError
from promptbreeder.genomes import registry
from promptbreeder.genomes.base import Birth, Genome
from promptbreeder.genomes.kind import GenomeKind
from promptbreeder.jsonio import fail
from promptbreeder.reporting.analysis import report_text, unit_text
from promptbreeder.reporting.load import load_run

SHIPPED = Path(__file__).resolve().parents[2] / "day_care"


def test_each_kind_is_registered_under_its_own_name():
    assert list(registry.KINDS) == ["prompt", "config", "generation", "code", "text"]
    for name, kind in registry.KINDS.items():
        assert isinstance(kind, GenomeKind) and kind.name == name


def test_an_unknown_kind_lists_the_kinds():
    with pytest.raises(UsageError, match="genome 'dna'; available genomes: prompt, config, generation, code, text"):
        registry.genome_kind("dna")


@pytest.mark.parametrize("task, kind", [("arithmetic_1_digit_addition", "prompt"), ("arithmetic_decoding", "generation"),
                                        ("hpo_random_forest_wine", "config"), ("text_tagline", "text"),
                                        ("automl_digits", "code")])
def test_shipped_tasks_load_through_their_kind(task, kind):
    loaded = load_day_care(SHIPPED).task(task)
    assert loaded.genome == kind and loaded.name == task and loaded.description
    assert isinstance(loaded.decoder, DecoderOptions) and loaded.dir == SHIPPED / task
    assert registry.KINDS[kind].size(loaded) >= 1


@pytest.mark.parametrize("unit, declared, expected", [
    ({"task_prompts": ["a"]}, None, "prompt"),
    ({"config": {"x": 1}}, None, "config"),
    ({"config": {"x": 1}}, "generation", "generation"),
    ({"text": "x"}, "code", "code"),
    ({"text": "x"}, None, "code"),  # code is registered before text; both read a saved unit the same way
    ({"text": "x"}, "prompt", "code"),  # a declaration the units do not fit loses to the units
    ({}, None, "prompt"),
])
def test_a_saved_run_is_recognised_by_its_units(unit, declared, expected):
    assert registry.saved_kind([unit] if unit else [], declared).name == expected


# -- a kind the package does not have: counting words -------------------------------------------------


@dataclass
class WordsUnit:
    id: str
    words: list[str]
    generation: int = 0
    parent: str | None = None
    operator: str | None = None
    fitness: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class WordsGenome(Genome):
    """Individuals are lists of words; fitness is their number; a child has one word more."""

    def __init__(self, vocabulary: list[str]):
        self.vocabulary = vocabulary

    def create(self, ids, rng):
        return [WordsUnit(i, [rng.choice(self.vocabulary)]) for i in ids], []

    def draw_batch(self, rng):
        return None

    def score(self, groups, generation):
        for units, _ in groups:
            for unit in units:
                unit.fitness = float(len(unit.words))

    def breed(self, winners, population, generation, new_id, rng):
        return [Birth(w, WordsUnit(new_id(), w.words + [rng.choice(self.vocabulary)], generation, w.id, "grow"), "grow")
                for w in winners]

    def report(self, population, generation):
        best = max(population, key=lambda u: len(u.words))
        return {"genome": "words", "best": {"unit": best.id, "words": best.words}}

    def format_report(self, report):
        return format_words_report(report)

    def individual_from_dict(self, data):
        return WordsUnit(**data)

    def label(self, unit):
        return " ".join(unit.words)


def format_words_report(report: dict) -> str:
    return f"longest: {' '.join(report['best']['words'])} ({report['best']['unit']})"


@dataclass
class WordsTask:
    name: str
    dir: Path
    description: str
    vocabulary: list[str]
    genome: str = "words"
    decoder: DecoderOptions = field(default_factory=DecoderOptions)


class WordsKind(GenomeKind):
    name = "words"
    unit_fields = ("words",)

    def load_task(self, task_dir, data, file):
        if not isinstance(data.get("vocabulary"), list) or not data["vocabulary"]:
            raise fail(file, "$.vocabulary", "expected a non-empty list of words")
        return WordsTask(task_dir.name, task_dir, data["task_description"], data["vocabulary"])

    def build(self, config, day_care, task, backend, cache=None):
        return WordsGenome(task.vocabulary)

    def size(self, task):
        return len(task.vocabulary)

    def unit_text(self, unit, space):
        return " ".join(unit["words"])

    def format_saved_report(self, report, space):
        return format_words_report(report)


@pytest.fixture
def words_day_care(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.KINDS, "words", WordsKind())  # the one registry line
    day_care = tmp_path / "day_care"
    for name in ("mutation_prompts.json", "thinking_styles.json"):
        (day_care / name).parent.mkdir(parents=True, exist_ok=True)
        (day_care / name).write_text((SHIPPED / name).read_text())
    (day_care / "grow").mkdir()
    (day_care / "grow" / "task_description.json").write_text(json.dumps(
        {"genome": "words", "task_description": "Say more.", "vocabulary": ["red", "green", "blue"]}))
    (day_care / "bad").mkdir()
    (day_care / "bad" / "task_description.json").write_text(json.dumps({"genome": "words", "task_description": "?"}))
    return day_care


def test_a_new_kind_needs_only_its_registry_entry(words_day_care, run_app, capfd):
    loaded = load_day_care(words_day_care)
    assert loaded.task("grow").vocabulary == ["red", "green", "blue"]
    with pytest.raises(Exception, match=r"bad/task_description.json: at \$.vocabulary: expected a non-empty list"):
        loaded.task("bad")

    config = RunConfig(day_care_dir=str(words_day_care), task="grow", population_size=4, evolution_generations=3,
                       seed=5).validate()
    code, printed, backend = run_app(config)
    assert code == 0 and "longest: " in printed and backend.requests == []  # this kind never asks the model
    run_folder = words_day_care / "grow" / "runs" / "run_1"
    run = load_run(run_folder)
    assert run.kind == "words" and report_text(run).startswith("longest: ")
    assert all(unit_text(run, u) == " ".join(u["words"]) for u in run.population)
    assert max(len(u["words"]) for u in run.population) >= 3  # children have one word more than their parent

    assert cli.main(["--day_care_dir", str(words_day_care), "--task", "grow", "--population_size", "4",
                     "--evolution_generations", "2", "--dry-run"]) == 0
    assert "dry run of grow: 4 units, 2 generations" in capfd.readouterr().out
    assert cli.main(["report", str(run_folder)]) == 0
    assert (run_folder / "report" / "report.html").is_file()


def test_the_new_kind_is_reproducible(words_day_care, run_app):
    # same seed, same run: the kind draws only from the RNG the engine passes in
    def final(folder_number: int) -> list:
        config = RunConfig(day_care_dir=str(words_day_care), task="grow", population_size=4, evolution_generations=2,
                           seed=9).validate()
        run_app(config)
        return load_run(words_day_care / "grow" / "runs" / f"run_{folder_number}").population

    assert final(1) == final(2)
