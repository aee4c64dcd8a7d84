"""The HPO genome with an Optuna sampler as its proposal core (`sampler`): every child is the sampler's, no model
is asked, and a run stopped after any generation continues to the state an uninterrupted run reaches."""

from __future__ import annotations

import json
import random
import statistics

import pytest

from promptbreeder.backends.fake import FakeBackend
from promptbreeder.config import RunConfig
from promptbreeder.evolution import Breeder
from promptbreeder.genomes.hpo.genome import ConfigGenome, ConfigOptions
from promptbreeder.genomes.hpo.space import SearchSpace
from promptbreeder.package_queries import package_query_text
from promptbreeder.store.run_store import RunStore

SPACE = SearchSpace.from_spec({
    "x": {"type": "float", "low": 0, "high": 1},
    "y": {"type": "float", "low": 0, "high": 1},
    "n": {"type": "int", "low": 1, "high": 32, "log": True},
    "kind": {"type": "categorical", "choices": ["a", "b", "c"]},
})


def toy_score(config: dict) -> float:
    return (-(config["x"] - 0.3) ** 2 - (config["y"] - 0.6) ** 2 - 0.01 * abs(config["n"] - 8)
            + (0.05 if config["kind"] == "b" else 0.0))


def run(tmp_path, sampler, seed, generations=4, store=None):
    config = RunConfig(task="toy", population_size=6, evolution_generations=generations, seed=seed)
    store = store or RunStore.create(tmp_path, config.to_dict())

    def no_model(request):
        raise AssertionError(f"a sampler run asked the model: {request.name}")

    genome = ConfigGenome(config, "Tune a toy.", SPACE, toy_score, backend=FakeBackend(responder=no_model),
                          query_text=package_query_text,
                          options=ConfigOptions(warm_start="random", proposal="none", sampler=sampler))
    return Breeder(config, genome, store=store, log_line=lambda line: None)


@pytest.mark.parametrize("sampler", ["tpe", "cmaes", "gp", "qmc"])
def test_a_sampler_run_continues_where_it_stopped_and_the_seed_decides_it(tmp_path, sampler):
    whole = run(tmp_path / "whole", sampler, seed=5).run()
    first = run(tmp_path / "stopped", sampler, seed=5, generations=2)
    first.run()
    continued = run(tmp_path / "unused", sampler, seed=5, store=first.store).run()
    other = run(tmp_path / "other", sampler, seed=6).run()
    assert whole == continued
    assert whole["evaluations"] != other["evaluations"]
    configs = [SPACE.key(e["config"]) for e in whole["evaluations"]]
    assert len(configs) == len(set(configs)) >= 12, "every evaluation is a new configuration"


def test_every_child_is_the_samplers_and_tpe_beats_random_at_the_same_budget(tmp_path):
    ours, uniform = [], []
    for seed in range(6):
        breeder = run(tmp_path / f"s{seed}", "tpe", seed=seed, generations=10)
        final = breeder.run()
        children = [u for u in breeder.population if u.operator != "init"]
        assert children and all(u.operator == "sampler" for u in children)
        scores = [e["score"] for e in final["evaluations"]]
        ours.append(max(scores))
        rng = random.Random(seed)
        uniform.append(max(toy_score(SPACE.sample(rng)) for _ in scores))
    assert statistics.fmean(ours) > statistics.fmean(uniform)
    assert sum(o > u for o, u in zip(ours, uniform)) >= 4


def test_the_flag_overrides_the_task_options(tmp_path):
    from types import SimpleNamespace

    from promptbreeder.genomes.hpo.kind import HPO
    from promptbreeder.genomes.hpo.task import ConfigTask

    task = ConfigTask(name="toy", dir=tmp_path, description="Tune a toy.", space=SPACE, objective_spec={},
                      objective=toy_score, options=ConfigOptions(sampler="qmc"))
    day_care = SimpleNamespace(query_text=lambda name, task_name: package_query_text(name))
    build = lambda **flags: HPO.build(RunConfig(task="toy", **flags), day_care, task, FakeBackend())  # noqa: E731
    assert build().options.sampler == "qmc"
    assert build(sampler="gp").options.sampler == "gp"
    with pytest.raises(Exception, match="'tpe', 'cmaes', 'gp', 'qmc'"):
        RunConfig(task="toy", sampler="bohb").validate()


def test_cma_es_keeps_its_search_distribution_across_breeds(tmp_path):
    """CMA-ES stores its optimizer in the trial that starts each of its generations; kept with the evaluation and
    told back when the study is rebuilt, it moves on from generation to generation instead of restarting."""
    final = run(tmp_path, "cmaes", seed=1, generations=10).run()
    states = [e.get("sampler_state") or {} for e in final["evaluations"]]
    assert any(any(key.startswith("cma:optimizer") for key in state) for state in states)
    assert max(state.get("cma:generation", 0) for state in states) >= 2


# -- the hybrid: the LLM's candidates compete with TPE's draws under TPE's acquisition ---------------------


def near_optimum(request) -> dict:
    """A config_propose reply close to the toy's optimum (x 0.3, y 0.6, n 8, kind b), varied by the seed."""
    s = request.seed
    return {"P0": f"{0.3 + (s % 7 - 3) / 100:.2f}\n", "P1": f"{0.6 + (s % 5 - 2) / 100:.2f}\n",
            "P2": f"{8 + s % 3 - 1}\n", "P3": "b"}


def far_from_optimum(request) -> dict:
    s = request.seed
    return {"P0": f"{0.95 + (s % 5) / 100:.2f}\n", "P1": f"{(s % 5) / 100:.2f}\n", "P2": "32\n", "P3": "a"}


def hybrid(tmp_path, propose, seed, generations=8, share=1.0, store=None):
    config = RunConfig(task="toy", population_size=6, evolution_generations=generations, seed=seed)
    store = store or RunStore.create(tmp_path, config.to_dict())
    holder: dict = {}

    def responder(request):
        assert request.name == "config_propose", request.name
        complete = len(holder["genome"].evaluations)
        assert complete >= 10, f"the LLM was asked with {complete} evaluations: TPE would not look at its answer"
        return propose(request)

    backend = FakeBackend(responder=responder)
    genome = ConfigGenome(config, "Tune a toy.", SPACE, toy_score, backend=backend, query_text=package_query_text,
                          options=ConfigOptions(warm_start="random", proposal="none", surrogate="none",
                                                sampler="tpe", llm_candidates=share, num_candidates=3))
    holder["genome"] = genome
    return Breeder(config, genome, store=store, log_line=lambda line: None), backend


def test_tpe_takes_the_llms_candidates_when_its_acquisition_rates_them_and_not_otherwise(tmp_path):
    taken = {}
    for name, propose in (("near", near_optimum), ("far", far_from_optimum)):
        chosen = []
        for seed in range(4):
            breeder, backend = hybrid(tmp_path / f"{name}{seed}", propose, seed)
            final = breeder.run()
            assert backend.requests, "the LLM was asked once TPE had its start-up trials"
            evaluated = {SPACE.key(e["config"]) for e in final["evaluations"]}
            proposed = [SPACE.coerce({p.name: propose(r)[f"P{i}"] for i, p in enumerate(SPACE.params)})
                        for r in backend.requests]
            chosen.append(sum(SPACE.key(c) in evaluated for c in proposed))
        taken[name] = chosen
    # near the optimum TPE's density of good configurations is high: its candidates win some draws
    assert sum(taken["near"]) >= 4 and all(n >= 1 for n in taken["near"]), taken
    assert sum(taken["far"]) < sum(taken["near"]), taken


def test_a_hybrid_run_continues_where_it_stopped(tmp_path):
    whole, _ = hybrid(tmp_path / "whole", near_optimum, seed=3)
    whole = whole.run()
    first, _ = hybrid(tmp_path / "stopped", near_optimum, seed=3, generations=4)
    first.run()
    continued, _ = hybrid(tmp_path / "unused", near_optimum, seed=3, store=first.store)
    assert continued.run() == whole


def test_without_the_hybrid_the_tpe_run_draws_what_it_drew_before(tmp_path):
    """llm_candidates 0 sends no query and leaves the run's random stream as a plain TPE run's."""
    plain = run(tmp_path / "plain", "tpe", seed=2).run()
    breeder, backend = hybrid(tmp_path / "zero", near_optimum, seed=2, generations=4, share=0.0)
    assert breeder.run() == plain and not backend.requests


def test_candidates_need_a_sampler_that_can_score_them(tmp_path):
    from types import SimpleNamespace

    from promptbreeder.errors import ConfigError
    from promptbreeder.genomes.hpo.kind import HPO
    from promptbreeder.genomes.hpo.task import ConfigTask

    assert ConfigOptions(sampler="tpe", llm_candidates=0.5).problem() is None
    assert ConfigOptions(llm_candidates=0.0).problem() is None
    field, expected = ConfigOptions(sampler="gp", llm_candidates=0.5).problem()
    assert field == "llm_candidates" and "tpe" in expected and "'gp'" in expected
    task = ConfigTask(name="toy", dir=tmp_path, description="Tune a toy.", space=SPACE, objective_spec={},
                      objective=toy_score, options=ConfigOptions(sampler="tpe", llm_candidates=0.25))
    day_care = SimpleNamespace(query_text=lambda name, task_name: package_query_text(name))
    with pytest.raises(ConfigError, match=r"--sampler cmaes: task toy's config_options.llm_candidates must be 0"):
        HPO.build(RunConfig(task="toy", sampler="cmaes"), day_care, task, FakeBackend())
    with pytest.raises(ConfigError, match=r"--sampler cmaes: task toy's config_options.llm_candidates must be 0"):
        HPO.check_config(RunConfig(task="toy", sampler="cmaes"), task)  # the CLI's check, before any run folder


def test_the_report_leaves_out_the_samplers_state(tmp_path):
    breeder = run(tmp_path, "cmaes", seed=1, generations=6)
    final = breeder.run()
    assert any("sampler_state" in e for e in final["evaluations"]), "the state is kept for resuming"
    assert breeder.report() == json.loads((breeder.store.folder / "report.json").read_text())
    report = breeder.report()
    entries = [report["best"], *report["top"]]
    assert entries and not any("sampler_state" in e for e in entries)


@pytest.mark.integration
def test_the_hybrid_asks_the_real_model_for_candidates_that_tpe_weighs(real_backend):
    from itertools import count

    from promptbreeder.backends.fake import Recorder

    recorder = Recorder(real_backend)
    genome = ConfigGenome(None, "Tune x, y, n and kind of a toy model.", SPACE, toy_score, backend=recorder,
                          query_text=package_query_text,
                          options=ConfigOptions(warm_start="random", proposal="none", surrogate="none", sampler="tpe",
                                                llm_candidates=1.0, num_candidates=2))
    rng, ids = random.Random(0), count()
    population, _ = genome.create([f"u{i}" for i in range(12)], rng)
    genome.score([(population, None)], 0)
    births = genome.breed(population[:2], population, 1, lambda: f"c{next(ids)}", rng)
    replies = list(recorder.transcript.values())
    assert len(replies) >= 3, "most of the 4 proposal queries came back"
    configs = [SPACE.coerce({p.name: reply[f"P{i}"] for i, p in enumerate(SPACE.params)}) for reply in replies]
    assert all(c is not None and not SPACE.problems(c) for c in configs), replies
    assert [b.tried for b in births] == [["sampler", "llm_proposal"]] * 2
    assert all(b.operator in ("sampler", "llm_proposal") and not SPACE.problems(b.child.config) for b in births)
