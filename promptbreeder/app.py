"""What `python -m promptbreeder` does with a resolved `RunConfig`: breed, store, report.

A run lives in `<day_care>/<task>/runs/run_<n>/` (debug runs in `debug_runs/`). Every model call goes
through the run's SQLite cache, so a continued or repeated run never pays twice for the same query.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import time
from typing import Any, Callable, TextIO

from promptbreeder.backends import chat_format, check_reachable, check_runnable, create_backend
from promptbreeder.backends.server.http import ServerUnavailable
from promptbreeder.backends.caching import CachingBackend
from promptbreeder.backends.roles import ROLES, RoleBackend, role_of
from promptbreeder.backends.models import ModelSpec
from promptbreeder.config import RunConfig, changeable_settings
from promptbreeder.daycare.loader import DayCare, load_day_care
from promptbreeder.genomes.kind import TaskFolder
from promptbreeder.evolution import Breeder
from promptbreeder.evolution.projection import PROBE_PER_KIND, format_projection, measure, simulate
from promptbreeder.evolution.stopping import Budgets, StopSignals, first_reason, metric_budget
from promptbreeder.errors import RunError, UsageError
from promptbreeder.genomes.registry import KINDS, build_genome, genome_kind
from promptbreeder.store.cache import CallCache
from promptbreeder.store.run_store import RunStore
from promptbreeder.tracking.base import RunInfo, Trackers
from promptbreeder.tracking.console import ConsoleTracker
from promptbreeder.tracking.wandb_tracker import WandbTracker


def open_store(task: TaskFolder, config: RunConfig) -> RunStore:
    """The run's store, claimed for this process (a run another process is running is refused)."""
    runs_dir = task.dir / ("debug_runs" if config.debug_mode else "runs")
    if config.continue_run_number is None:
        store = RunStore.create(runs_dir, config.to_dict())
        store.claim()
        return store
    store = RunStore.open(runs_dir, config.continue_run_number)
    store.claim()
    try:
        store.check_continue(config.to_dict(), changeable_settings(), defaults=dataclasses.asdict(RunConfig()))
        store.update_budget(config.to_dict())
    except BaseException:
        store.release()  # refused: the run stays free for a continue with the right settings
        raise
    return store


def run(config: RunConfig, out: TextIO | None = None) -> int:
    out = out or sys.stdout  # looked up per call: whoever redirected stdout since import gets the text
    day_care = load_day_care(config.day_care_dir)
    task = day_care.task(config.task)
    kind = genome_kind(task.genome)
    if config.max_metric_calls is not None and not kind.counts_metric_calls:
        raise UsageError(f"max_metric_calls: {task.genome} tasks do not count fitness evaluations one by one"
                         " (a configuration's evaluation scores many examples); use max_llm_calls or max_seconds")
    if config.selection == "pareto" and not kind.per_example_scores:
        able = ", ".join(k.name for k in KINDS.values() if k.per_example_scores)
        raise UsageError(f"selection: pareto needs a score per training example, which {task.genome} tasks do not"
                         f" have (kinds that do: {able}); use selection tournament")
    if config.second_objective and config.second_objective not in kind.second_objectives:
        able = ", ".join(k.name for k in KINDS.values() if config.second_objective in k.second_objectives)
        raise UsageError(f"second_objective: {config.second_objective} is not an objective of {task.genome} tasks"
                         f" (kinds that weigh it: {able})")
    kind.check_config(config, task)  # before any folder or model
    if config.dry_run:
        return dry_run(config, day_care, task, out)
    specs = config.role_specs  # resolved once; a bad model name must not leave an empty run behind
    attention = _attention_queries(config, specs["task"], day_care, task)  # checked before a run folder exists
    # so is every query override's chat format (under the model of its role), and every server
    day_care.check_chat_format(lambda name: chat_format(specs[role_of(name)]), task.name)
    day_care.check_overrides(task.name, lambda name, text, path: check_runnable(specs[role_of(name)], text, path))
    for spec in {s.identity: s for s in specs.values()}.values():
        check_reachable(spec)
    store = open_store(task, config)
    models = {role: _model_name(config, role) for role in ROLES}
    print(f"run {store.number} of {task.name} in {store.folder}: {config.population_size} units,"
          f" {config.evolution_generations} generations, model {RoleBackend({}, models).describe()}",
          file=out, flush=True)
    started = time.perf_counter()
    cache = None
    try:
        cache = CallCache(store.cache_path)
        with StopSignals() as signals, _role_backends(config, attention, store, cache, models) as backend:
            stop = first_reason(lambda: signals.reason, Budgets(config, lambda: backend.usage).reached)
            try:
                report, text, reused, stopped = _breed(config, day_care, task, store, backend, cache, out, stop)
            except ServerUnavailable as exc:
                raise RunError(f"the model server stopped answering: {exc}; the run keeps its last saved step:"
                               f" continue it with --task {task.name} --continue_run_number {store.number}"
                               " once the server is back") from None
            usage, role_usage = backend.usage, backend.role_usage
            store.log("usage", **{role: {"model": models[role], "calls": role_usage[role].calls,
                                         "cached_calls": role_usage[role].cached_calls,
                                         "generated_tokens": role_usage[role].generated_tokens,
                                         **_server_usage(backend.backends[role])} for role in ROLES})
    finally:
        if cache is not None:
            cache.close()
        store.release()
    if usage.calls and usage.failed_calls == usage.calls:
        raise RunError(f"every one of {usage.calls} model queries failed; see {store.folder / 'events.jsonl'}")
    print(text, file=out)
    if len(set(models.values())) > 1:
        print("model queries by role: " + ", ".join(
            f"{role} ({models[role]}) {role_usage[role].calls}" for role in ROLES), file=out)
    print(f"{usage.calls} model queries ({usage.cached_calls} answered and {reused} fitness results reused from the"
          f" run's cache),"
          f" {usage.generated_tokens} generated tokens, {usage.failed_calls} failed,"
          f" {time.perf_counter() - started:.1f} s; run folder {store.folder}", file=out)
    if report.get("target_reached"):
        print(f"done early: {report['target_reached']} after generation {report.get('generation')} of"
              f" {config.evolution_generations}", file=out)
    if stopped:
        print(f"stopped early: {stopped}, after generation {report.get('generation')} of"
              f" {config.evolution_generations}; go on with --task {task.name} --continue_run_number {store.number}",
              file=out)
    return 0


def _attention_queries(config: RunConfig, model: ModelSpec, day_care: DayCare, task: TaskFolder) -> list[str]:
    names = [n.strip() for n in (config.return_attention or "").split(",") if n.strip()]
    known = day_care.query_names(task.name)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"return_attention: unknown query {', '.join(map(repr, unknown))}; queries: {', '.join(known)}")
    if names and model.kind in ("lmql", "servers"):
        raise UsageError("return_attention needs a local model (our engine computes the weights); "
                         f"{config.model_name_or_path!r} runs elsewhere")
    return names


def _server_usage(backend) -> dict[str, Any]:
    """What an OpenAI-compatible server reported in `usage` (its own token counts) and the retries it
    needed, for the run's usage event; nothing for other backends."""
    server = getattr(getattr(backend, "inner", None), "server", None)
    return {"server": dataclasses.asdict(server.usage)} if server is not None else {}


def _model_name(config: RunConfig, role: str) -> str:
    return {"mutation": config.mutation_model, "scorer": config.scorer_model}.get(role) or config.model_name_or_path


def _role_backends(config: RunConfig, names: list[str], store: RunStore, cache: CallCache,
                   models: dict[str, str]) -> RoleBackend:
    """One cached backend per distinct model, each role pointing at its model's; the task model's captures
    attention for the queries `names` (return_attention)."""
    specs, made = config.role_specs, {}
    try:
        for spec in specs.values():
            if spec.identity not in made:
                made[spec.identity] = CachingBackend(create_backend(config, spec), cache, model=spec.identity)
    except BaseException:  # a model that cannot be loaded: the ones loaded already are let go
        for backend in made.values():
            backend.close()
        raise
    if names:
        made[specs["task"].identity].inner.capture_attention(names, store.folder / "attention")
    return RoleBackend({role: made[spec.identity] for role, spec in specs.items()}, models)


def dry_run(config: RunConfig, day_care: DayCare, task: TaskFolder, out: TextIO) -> int:
    """Project the run's model queries, tokens and time (see evolution/projection.py); starts nothing."""
    print(f"dry run: simulating {config.evolution_generations} generations of {task.name}, then timing real queries",
          file=out, flush=True)
    projection, simulated, objective = simulate(config, day_care, task, genome_kind(task.genome))
    measure(projection, simulated, lambda: create_backend(config), min(PROBE_PER_KIND, config.client_batch_size),
            objective)
    print(format_projection(projection, config, task.name), file=out)
    return 0


def _breed(config: RunConfig, day_care: DayCare, task: TaskFolder, store: RunStore, backend: RoleBackend,
           cache: CallCache, out: TextIO, stop: Callable[[], str | None] | None = None,
           ) -> tuple[dict[str, Any], str, int, str | None]:
    genome = build_genome(config, day_care, task, backend, cache)
    trackers = Trackers(ConsoleTracker(verbose=config.verbose),
                        *([WandbTracker(config.wandb_project)] if config.use_wandb else []))
    models = {role: {"model": _model_name(config, role), "chat_format": backend.backends[role].chat_format.name}
              for role in ROLES}
    store.log("models", **models)
    breeder = Breeder(config, genome, store=store, report_extras={"models": models},
                      progress=lambda g, total, best, mean: trackers.generation(g, total, _summary(breeder, best, mean),
                                                                                 _population_rows(breeder)),
                      log_line=lambda line: print(line, file=out))
    start = breeder.resume() if store.steps() else 0
    run_id = f"{task.name}-run{store.number}-{hashlib.sha1(str(store.folder.resolve()).encode()).hexdigest()[:6]}"
    trackers.start(RunInfo(id=run_id, task=task.name, number=store.number, folder=str(store.folder),
                           config=config.to_dict(), start_generation=start))
    stop = first_reason(*([stop] if stop else []), metric_budget(config.max_metric_calls, genome.metric_calls))
    try:
        breeder.run(stop)
        report = breeder.report()
        trackers.heldout(genome.report_rows(report))
        if config.use_wandb:
            _send_figures(store, trackers)
    finally:
        trackers.finish()
    return report, genome.format_report(report), genome.reused_results(), breeder.stopped


def _send_figures(store: RunStore, trackers: Trackers) -> None:
    """The report's figures (drawn into <run>/report/) to the dashboards; plotting can cost the run its
    figures, never its result."""
    try:
        from promptbreeder.reporting.figures import figures_for_run  # deferred: matplotlib only when asked

        paths = figures_for_run(store.folder)
    except Exception as exc:  # noqa: BLE001 - a figure that cannot be drawn is not worth a failed run
        print(f"promptbreeder: report figures skipped: {type(exc).__name__}: {exc}", file=sys.stderr)
        return
    trackers.figures(paths)


def _summary(breeder: Breeder, best: float | None, mean: float | None) -> dict[str, Any]:
    return {"best": best or 0.0, "mean": mean or 0.0, "operator_stats": breeder.genome.state().get("operator_stats", {}),
            **breeder.step_entropy}


def _population_rows(breeder: Breeder) -> list[dict[str, Any]]:
    return [{"id": u.id, "prompt": breeder.genome.label(u), "fitness": u.fitness, "operator": u.operator, "parent": u.parent}
            for u in breeder.population]
