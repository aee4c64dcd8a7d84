"""The HPO genome with an Optuna sampler as its proposal core (`sampler`): every child is the sampler's, no model
is asked, and a run stopped after any generation continues to the state an uninterrupted run reaches."""

from __future__ import annotations

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
