"""bench/hpo.py: the resume key (a stored run is reused only when everything that defines it matches), the
worst-case line against random search, and `--model` refused in one line before any run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
SPEC = importlib.util.spec_from_file_location("bench_hpo", BENCH / "hpo.py")
hpo = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(hpo)


def key(method="llambo", task="hpo_svm_iris", seed=0, budget=30, surrogate="forest"):
    return hpo.run_key(method, task, seed, hpo.run_settings(method, budget, surrogate))


def test_the_key_changes_with_every_setting_that_changes_a_run():
    base = key()
    assert key() == base
    for other in (key(method="ga_forest"), key(task="hpo_svm_wine"), key(seed=1), key(budget=20), key(surrogate="llm")):
        assert other != base


def test_the_key_holds_the_package_version(monkeypatch):
    base = key()
    monkeypatch.setattr(hpo, "__version__", "999.0")
    assert key() != base


def test_the_key_holds_the_config_genome_options_of_our_methods():
    settings = hpo.run_settings("ga_forest", 30, "llm")
    assert settings["options"]["surrogate"] == "forest"  # ga_forest always screens by the forest
    assert settings["options"]["proposal"] == "none" and settings["population"] == hpo.POPULATION
    assert "options" not in hpo.run_settings("tpe", 30, "forest")  # baselines have no genome options
    assert hpo.run_settings("llambo", 30, "forest")["model"] == hpo.MODEL
    # a sampler on our engine runs one child per generation, and the key says so
    assert hpo.run_settings("ours_gp", 30, "forest")["population"] == hpo.SAMPLER_POPULATION != hpo.POPULATION


def test_a_row_saved_before_an_option_existed_matches_the_value_it_ran_with():
    """ga_forest's rows predate `sampler`, and ran without one; the default sampler is now tpe, and they still
    match ga_forest (which sets none), while a row of a sampler run at another population does not."""
    for method in ("ga_forest", "llambo"):
        settings = hpo.run_settings(method, 30, "forest")
        old = settings | {"options": {k: v for k, v in settings["options"].items()
                                      if k not in hpo.OPTIONS_BEFORE_THEY_EXISTED}}
        assert hpo.run_key(method, "hpo_svm_iris", 0, old) == key(method)
    settings = hpo.run_settings("ours_gp", 30, "forest")
    assert hpo.run_key("ours_gp", "hpo_svm_iris", 0, settings | {"population": hpo.POPULATION}) != key("ours_gp")


def test_rows_of_other_settings_are_not_reported(tmp_path, monkeypatch):
    """A row written under other settings (an older version) is neither reused nor counted."""
    rows = []
    for method in ("random", "tpe"):
        for seed in range(2):
            settings = hpo.run_settings(method, 30, "forest")
            rows.append({"method": method, "task": "hpo_svm_iris", "seed": seed, "budget": 30,
                         "settings": settings if seed == 0 else {**settings, "version": "0.0.1"},
                         "curve": [0.5, 0.9], "seconds": 1.0})
    (tmp_path / "runs.jsonl").write_text("".join(hpo.json.dumps(r) + "\n" for r in rows))
    reported = {}
    monkeypatch.setattr(hpo, "report", lambda done, tasks, args, out: reported.update(done))
    monkeypatch.setattr(sys, "argv", ["hpo.py", "--tasks", "hpo_svm_iris", "--methods", "random", "tpe", "--seeds", "1",
                                      "--out", str(tmp_path)])
    hpo.main()
    assert sorted((r["method"], r["seed"]) for r in reported.values()) == [("random", 0), ("tpe", 0)]
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 4  # seed 0 of each was reused, not run again


def test_the_splits_are_disjoint_and_cover_every_hpo_task():
    from promptbreeder.daycare.loader import load_day_care

    every = {n for n in load_day_care(BENCH.parent / "day_care").task_names if n.startswith("hpo_")}
    assert set(hpo.DEV_TASKS) <= every and len(every - set(hpo.DEV_TASKS)) == 20


def test_the_llm_methods_key_holds_their_model_and_the_others_do_not():
    assert hpo.run_settings("ours_tpe_hybrid", 30, "forest")["model"] == hpo.MODEL  # the embedded one by default
    stronger = hpo.run_settings("ours_tpe_hybrid", 30, "forest", "openai-compat:qwen@http://127.0.0.1:8000/v1")
    assert hpo.run_key("ours_tpe_hybrid", "hpo_svm_iris", 0, stronger) != key("ours_tpe_hybrid")
    assert hpo.run_settings("ours_gp", 30, "forest", "openai-compat:qwen@http://127.0.0.1:8000/v1") == \
        hpo.run_settings("ours_gp", 30, "forest")


def bench_refusal(monkeypatch, out, methods: list[str], model: str) -> str:
    """The one-line message bench/hpo.py exits with for `--model model`; fails if it ran anything instead."""
    monkeypatch.setattr(sys, "argv", ["hpo.py", "--tasks", "hpo_svm_iris", "--methods", *methods, "--seeds", "1",
                                      "--model", model, "--out", str(out / "results")])
    with pytest.raises(SystemExit) as stop:
        hpo.main()
    assert not (out / "results").exists()  # nothing ran, not even the methods without a model, and no folder was made
    message = str(stop.value.code)
    assert "\n" not in message
    return message


def test_a_model_no_form_accepts_stops_the_bench_in_one_line_before_any_run(tmp_path, monkeypatch):
    message = bench_refusal(monkeypatch, tmp_path, ["random", "ours_tpe_hybrid"], "no-such-model")
    assert message.startswith("bench/hpo.py: --model no-such-model:")
    assert "smollm2-135m" in message  # the forms that exist are listed


def test_a_server_that_does_not_answer_stops_the_bench_in_one_line_before_any_run(tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    message = bench_refusal(monkeypatch, tmp_path, ["ours_tpe_hybrid"], f"openai-compat:{hpo.MODEL}@http://127.0.0.1:{port}/v1")
    assert f"cannot reach the server at http://127.0.0.1:{port}/v1" in message


def test_the_worst_case_line_pairs_seeds_and_says_which_losses_to_random_are_significant():
    random_regrets = {"a": {0: 0.5, 1: 0.5, 2: 0.5, 3: 0.5}, "b": {0: 0.2, 1: 0.4, 2: 0.2, 3: 0.4}, "c": {0: 0.3}}
    method = {"a": {0: 0.6, 1: 0.7, 2: 0.6, 3: 0.7},  # above random on every seed
              "b": {0: 0.4, 1: 0.2, 2: 0.4, 3: 0.2},  # the same mean as random's: not above
              "c": {0: 0.1}}  # below
    line = hpo.above_random("m", method, random_regrets)
    assert line.startswith("- m: 1 of 3, 1 significantly: a (0.650 vs 0.500; difference +0.150 [+0.100, +0.200]")
    assert "b (" not in line and "c (" not in line
    method["a"] = {0: 0.9, 1: 0.1, 2: 0.9, 3: 0.2}  # above on the mean, below on two seeds
    assert "0 significantly: a (" in hpo.above_random("m", method, random_regrets)


def test_equal_regrets_up_to_rounding_are_not_a_loss_to_random():
    same = {"a": {0: 0.1 + 0.2, 1: 0.25}}
    assert hpo.above_random("m", same, {"a": {0: 0.3, 1: 0.25}}) == "- m: 0 of 1, 0 significantly"
