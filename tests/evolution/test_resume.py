"""A run continued from any saved step ends exactly where the uninterrupted run ends."""

from __future__ import annotations

import pytest

from promptbreeder.errors import RunError

N = 5


def snapshots(store):
    return {step: store._read_versioned(store.folder / "snapshots" / f"step_{step:06d}.json")["state"]
            for step in store.steps()}


def operators(fakes):
    # a failing operator and one without model calls too, so retries and copies are part of the state
    return [fakes.AppendWord(), fakes.Failing("bad"), fakes.NoCall()]


@pytest.fixture(params=["random", "debug", "context", "gate", "pareto"])
def reference(request, make_breeder, fakes, world):
    """The uninterrupted run: its settings, final state and every step's snapshot ("context": units show
    two of their correct workings-out in fitness tests, and their contexts change as the paper's do;
    "gate": the backend scores text, so the quality gate rejects some children and its counts, like the
    elites, are part of the state; "pareto": Pareto selection on a fixed set of 6 examples)."""
    world.scores_text = request.param == "gate"
    settings = {"evolution_generations": N, "debug_mode": request.param == "debug",
                "fitness_context_examples": 2 if request.param == "context" else 0,
                **({"selection": "pareto", "pareto_examples": 6} if request.param == "pareto" else {})}
    breeder = make_breeder(operators=operators(fakes), runs="reference", **settings)
    final = breeder.run()
    if request.param == "gate":
        assert any(q["rejected"] for q in final["quality_stats"].values()), final["quality_stats"]
    assert final["elites"]
    return settings, final, snapshots(breeder.store)


def test_the_reference_run_saves_every_step(reference):
    _, final, steps = reference
    assert sorted(steps) == list(range(N + 1))
    assert steps[N] == final and final["generation"] == N


@pytest.mark.parametrize("k", range(N + 1))
def test_a_run_stopped_after_step_k_and_continued_ends_in_the_same_state(reference, make_breeder, fakes, k):
    settings, final, steps = reference
    first = make_breeder(operators=operators(fakes), runs=f"stopped_{k}", **{**settings, "evolution_generations": k})
    assert first.run()["generation"] == k
    continued = make_breeder(store=first.store, operators=operators(fakes), **settings)
    assert continued.run() == final
    assert snapshots(first.store) == steps
    assert continued.population[0].to_dict() == final["population"][0]
    assert [e["step"] for e in first.store.events() if e["event"] == "resumed"] == [k]


@pytest.mark.parametrize("k", range(N))
def test_a_run_that_crashes_in_a_hook_after_step_k_continues_to_the_same_state(reference, make_breeder, fakes, k):
    settings, final, _ = reference

    def crash_after_k(generation, total, best, mean):
        if generation == k:
            raise fakes.Crash(f"interrupted after step {k}")

    first = make_breeder(operators=operators(fakes), runs=f"hook_{k}", progress=crash_after_k, **settings)
    with pytest.raises(fakes.Crash):
        first.run()
    assert first.store.steps()[-1] == k
    assert make_breeder(store=first.store, operators=operators(fakes), **settings).run() == final


def test_a_run_killed_during_any_backend_call_continues_to_the_same_state(reference, make_breeder, fakes, world):
    settings, final, _ = reference
    probe = make_breeder(operators=operators(fakes), runs="probe", **settings)
    probe.run()
    total_calls = len(probe.genome.backend.batches)
    assert total_calls >= 2 * N + 2
    for call in range(1, total_calls + 1):
        crashing = fakes.CountingBackend(world, crash_on_call=call)
        first = make_breeder(operators=operators(fakes), backend=crashing, runs=f"killed_{call}", **settings)
        with pytest.raises(fakes.Crash):
            first.run()
        # a fresh process: new breeder, new backend, only the run folder survives
        assert make_breeder(store=first.store, operators=operators(fakes), **settings).run() == final, call


def test_a_continued_run_with_a_larger_budget_goes_further(make_breeder):
    first = make_breeder(evolution_generations=2)
    first.run()
    more = make_breeder(store=first.store, evolution_generations=4)
    assert more.run()["generation"] == 4
    assert first.store.steps() == [0, 1, 2, 3, 4]
    assert make_breeder(store=first.store, evolution_generations=3).run()["generation"] == 4, \
        "a smaller budget than what is done does nothing"


def test_resume_needs_a_breeder_snapshot(make_breeder):
    breeder = make_breeder()
    with pytest.raises(RunError, match="no saved step"):
        breeder.resume()
    breeder.store.save_step(0, {"population": []})
    with pytest.raises(RunError, match="step 0: the snapshot is not a breeder state"):
        breeder.resume()


def test_the_context_reference_run_does_show_and_update_contexts(reference):
    settings, final, _ = reference
    if settings["fitness_context_examples"]:
        assert any(u["context"] for u in final["population"]), "the fake world's workings-out reach the contexts"
