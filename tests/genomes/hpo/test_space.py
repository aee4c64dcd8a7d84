"""SearchSpace: spec validation with JSON paths, sampling, checking/coercing configs, unit maps, text forms."""

from __future__ import annotations

import json
import math
import random
import statistics

import pytest

from promptbreeder.jsonio import schema
from promptbreeder.genomes.hpo.space import Param, SearchSpace, SearchSpaceError

SPEC = {
    "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    "momentum": {"type": "float", "low": 0.0, "high": 1.0},
    "depth": {"type": "int", "low": 1, "high": 15},
    "batch": {"type": "int", "low": 8, "high": 512, "log": True},
    "kernel": {"type": "categorical", "choices": ["rbf", "linear", None, True, 3]},
}
VALID = {"lr": 1e-3, "momentum": 0.9, "depth": 7, "batch": 64, "kernel": "rbf"}


@pytest.fixture
def space() -> SearchSpace:
    return SearchSpace.from_spec(SPEC)


def test_schema_is_valid_draft_2020_12_with_descriptions():
    import jsonschema

    doc = schema("search_space")
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["$schema"].endswith("2020-12/schema")
    assert all("description" in field for field in doc["$defs"]["param"]["properties"].values())


def test_spec_round_trip(space):
    assert space.names == list(SPEC)
    assert SearchSpace.from_spec(space.to_spec()) == space
    assert space.params[2] == Param("depth", "int", 1, 15)
    assert space.to_spec()["kernel"] == {"type": "categorical", "choices": ["rbf", "linear", None, True, 3]}
    assert isinstance(space.params[2].low, int)  # int bounds come back as ints even from 1.0


@pytest.mark.parametrize(
    "spec, path, words",
    [
        ({"lr": {"type": "float", "low": 0.1, "high": "x"}}, "$.lr.high", "expected a number"),
        ({"lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}, "$.lr.low", "low > 0"),
        ({"lr": {"type": "float", "low": 1.0, "high": 1.0}}, "$.lr.high", "high > low"),
        ({"lr": {"type": "real", "low": 0, "high": 1}}, "$.lr.type", "float, int, categorical"),
        ({"lr": {"type": "float", "low": 0}}, "$.lr.high", "required field 'high'"),
        ({"lr": {"type": "float", "low": 0, "high": 1, "step": 2}}, "$.lr.step", "unknown key 'step'"),
        ({"lr": {"type": "float", "low": 0, "high": 1, "choices": [1]}}, "$.lr.choices", "no 'choices'"),
        ({"lr": {"type": "float", "low": 0, "high": 1, "log": "yes"}}, "$.lr.log", "true or false"),
        ({"n": {"type": "int", "low": 0.5, "high": 3}}, "$.n.low", "whole number"),
        ({"k": {"type": "categorical"}}, "$.k.choices", "required field 'choices'"),
        ({"k": {"type": "categorical", "choices": []}}, "$.k.choices", "at least 1"),
        ({"k": {"type": "categorical", "choices": ["a", "a"]}}, "$.k.choices", "distinct"),
        ({"k": {"type": "categorical", "choices": ["1", 1]}}, "$.k.choices[1]", "as text"),
        ({"k": {"type": "categorical", "choices": ["a"], "low": 0}}, "$.k.low", "no 'low'"),
        ({"k": {"type": "categorical", "choices": [[1]]}}, "$.k.choices[0]", "a string or a number"),
        ({"bad name": {"type": "float", "low": 0, "high": 1}}, '$["bad name"]', "Python identifier"),
        ({"lr": "float"}, "$.lr", "an object"),
        ({}, "$", "at least one parameter"),
        ([], "$", "an object"),
    ],
)
def test_bad_specs_name_the_json_path(spec, path, words):
    with pytest.raises(SearchSpaceError) as info:
        SearchSpace.from_spec(spec)
    assert info.value.path == path
    assert words in info.value.message
    assert isinstance(info.value, ValueError) and path in str(info.value)


def test_error_paths_can_start_below_a_root():
    with pytest.raises(SearchSpaceError) as info:
        SearchSpace.from_spec({"lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}, root="$.search_space")
    assert info.value.path == "$.search_space.lr.low"


def test_direct_params_are_checked_too():
    with pytest.raises(SearchSpaceError, match="high > low"):
        SearchSpace([Param("x", "float", 2.0, 1.0)])
    with pytest.raises(SearchSpaceError, match="distinct parameter names"):
        SearchSpace([Param("x", "float", 0.0, 1.0), Param("x", "int", 0, 1)])


def test_sampling_is_in_range_log_uniform_integral_and_reproducible(space):
    configs = [space.sample(random.Random(7)) for _ in range(2)]
    assert configs[0] == configs[1]
    rng = random.Random(0)
    samples = [space.sample(rng) for _ in range(4000)]
    assert samples[0] != samples[1]
    assert not any(space.problems(c) for c in samples)
    lrs = [c["lr"] for c in samples]
    # log-uniform on [1e-5, 1e-1]: the median is the geometric midpoint 1e-3 (uniform would give ~0.05).
    assert 5e-4 < statistics.median(lrs) < 2e-3
    assert min(lrs) < 2e-5 and max(lrs) > 5e-2
    depths = [c["depth"] for c in samples]
    assert all(type(d) is int for d in depths) and set(depths) == set(range(1, 16))
    batches = [c["batch"] for c in samples]
    assert all(type(b) is int and 8 <= b <= 512 for b in batches) and min(batches) == 8
    assert 40 < statistics.median(batches) < 90  # geometric midpoint of 8..512 is 64
    kernels = [c["kernel"] for c in samples]
    assert {repr(k) for k in kernels} == {repr(k) for k in SPEC["kernel"]["choices"]}


def test_problems(space):
    assert space.problems(VALID) == []
    found = space.problems({"lr": 1.0, "momentum": True, "depth": 7.0, "kernel": "RBF", "extra": 1})
    text = "\n".join(found)
    assert len(found) == 6
    assert "lr: expected a float in [1e-05, 0.1] (got 1.0)" in found
    assert "momentum: expected a float" in text  # True is not a number here
    assert "depth: expected an int in [1, 15] (got 7.0)" in found
    assert "batch: missing" in text
    assert 'kernel: expected one of ["rbf", "linear", null, true, 3] (got "RBF")' in found
    assert "extra: unknown hyperparameter" in text
    assert space.problems({**VALID, "kernel": 1}) != []  # 1 is not the choice True
    assert space.problems([1, 2]) == ["expected an object of hyperparameters (got [1, 2])"]


def test_coerce_llm_strings_and_clipping(space):
    raw = {"lr": "0.5", "momentum": " -3 ", "depth": "12.0", "batch": 1e9, "kernel": "RBF", "note": "ignored"}
    assert space.coerce(raw) == {"lr": 0.1, "momentum": 0.0, "depth": 12, "batch": 512, "kernel": "rbf"}
    assert space.coerce({**VALID, "depth": "6.6", "kernel": "true"}) == {**VALID, "depth": 7, "kernel": True}
    assert space.coerce({**VALID, "kernel": "None"})["kernel"] is None
    assert space.coerce({**VALID, "kernel": "3.0"})["kernel"] == 3
    assert space.coerce({**VALID, "lr": "1e-4"})["lr"] == pytest.approx(1e-4)
    assert space.problems(space.coerce(raw)) == []
    assert space.coerce(VALID) == VALID


@pytest.mark.parametrize(
    "change",
    [{"kernel": "poly"}, {"lr": "fast"}, {"depth": None}, {"momentum": True}, {"lr": "nan"}, {"depth": [3]}],
)
def test_coerce_impossible_is_none(space, change):
    assert space.coerce({**VALID, **change}) is None


def test_coerce_missing_key_or_not_a_dict_is_none(space):
    assert space.coerce({k: v for k, v in VALID.items() if k != "lr"}) is None
    assert space.coerce("lr=0.1") is None


def test_unit_round_trip(space):
    rng = random.Random(3)
    for _ in range(200):
        config = space.sample(rng)
        unit = space.to_unit(config)
        assert len(unit) == len(SPEC) and all(0.0 <= u <= 1.0 for u in unit)
        back = space.from_unit(unit)
        assert space.problems(back) == []
        assert space.key(back) == space.key(config)
        assert back["lr"] == pytest.approx(config["lr"], rel=1e-9)
    assert space.to_unit({**VALID, "lr": 1e-3})[0] == pytest.approx(0.5)  # log-scaled coordinate
    assert space.to_unit({**VALID, "kernel": "linear"})[4] == pytest.approx(0.25)
    assert space.from_unit([-1, 2, 0.5, 1, 0.99])["momentum"] == 1.0  # clipped
    one = SearchSpace.from_spec({"k": {"type": "categorical", "choices": ["only"]}})
    assert one.to_unit({"k": "only"}) == [0.5] and one.from_unit([0.0]) == {"k": "only"}


def test_unit_maps_reject_bad_input(space):
    with pytest.raises(SearchSpaceError) as info:
        space.to_unit({**VALID, "depth": 99})
    assert info.value.path == "$.depth"
    with pytest.raises(SearchSpaceError, match="vector of 5"):
        space.from_unit([0.5])
    with pytest.raises(SearchSpaceError):
        space.from_unit([0.5, math.nan, 0.5, 0.5, 0.5])


def test_describe(space):
    lines = space.describe().splitlines()
    assert lines == [
        "- lr: float in [1e-05, 0.1], log scale",
        "- momentum: float in [0, 1]",
        "- depth: int in [1, 15]",
        "- batch: int in [8, 512], log scale",
        '- kernel: categorical, one of ["rbf", "linear", null, true, 3]',
    ]


def test_format_config_and_key(space):
    config = {"kernel": None, "depth": 7.0, "batch": 64, "momentum": 0.123456789, "lr": 0.00012345678}
    text = space.format_config(config)
    assert text == '{"lr": 0.0001235, "momentum": 0.1235, "depth": 7, "batch": 64, "kernel": null}'
    assert json.loads(text)["depth"] == 7
    same = {**config, "lr": 0.00012345678 * (1 + 1e-13), "depth": 7}
    assert space.key(same) == space.key(config)
    assert space.key({**config, "lr": 0.0001235}) != space.key(config)
    assert space.key({**config, "extra": 1}) == space.key(config)
    assert space.key({**VALID, "kernel": True}) != space.key({**VALID, "kernel": 3})
