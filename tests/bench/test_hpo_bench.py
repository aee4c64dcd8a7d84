"""bench/hpo.py's resume key: a stored run is reused only when everything that defines it matches."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

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
    """ga_forest's rows predate `sampler`, and ran without one; the default sampler is now gp, and they still
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
