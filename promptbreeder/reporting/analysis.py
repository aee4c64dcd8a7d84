"""What a report shows, computed from a loaded run (`load.RunData`) as plain numbers and rows.

Every function works for every genome kind and for a run with a single snapshot; the figures and the
HTML page only draw what these return.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Any

from promptbreeder.genomes.base import COPY_OPERATOR
from promptbreeder.reporting.load import RunData

WORD_RE = re.compile(r"\w+")


@dataclass(frozen=True)
class GenerationPoint:
    generation: int
    best: float | None
    mean: float | None


@dataclass(frozen=True)
class OperatorRate:
    name: str
    used: int
    beat_parent: int

    @property
    def rate(self) -> float:
        return self.beat_parent / self.used if self.used else 0.0


# -- labels ----------------------------------------------------------------------------------------


def unit_text(run: RunData, unit: dict[str, Any]) -> str:
    """What was bred, in full: the task prompts, the configuration or the text."""
    return run.genome.unit_text(unit, run.space)


def short_label(text: str, limit: int = 90) -> str:
    """One line of at most `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def unit_score(run: RunData, unit: dict[str, Any]) -> float | None:
    """The objective's score where the genome keeps one (config, text), else the fitness. A unit born in
    the last step has none in the snapshot; the end-of-run report may have scored it (on a copy)."""
    value = unit.get("score", unit.get("fitness"))
    if value is None:
        value = reported_scores(run).get(unit.get("id"))
    return None if value is None else float(value)


def reported_scores(run: RunData) -> dict[str, float]:
    """Scores by unit id from the last snapshot's evaluations and report.json (best, top, rows)."""
    report = run.report or {}
    entries = list(run.last.state.get("evaluations") or []) + list(report.get("top") or [])
    entries += [report["best"]] if isinstance(report.get("best"), dict) else []
    scores = {e["unit"]: e["score"] for e in entries if isinstance(e, dict) and "unit" in e and "score" in e}
    scores |= {r["id"]: r["train_fitness"] for r in report.get("rows") or []
               if isinstance(r, dict) and r.get("id") is not None and r.get("train_fitness") is not None}
    return scores


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


# -- 1. fitness per generation ---------------------------------------------------------------------


def fitness_curve(run: RunData) -> list[GenerationPoint]:
    """Best and mean fitness per generation: the "generation" events, and the snapshots for steps whose
    events were lost (a crash between a snapshot and its events, or a deleted events.jsonl)."""
    points = {}
    for event in run.events:
        if event.get("event") == "generation" and isinstance(event.get("generation"), int):
            # a step logged twice (a replayed run) counts once: the later record wins
            points[event["generation"]] = GenerationPoint(event["generation"], _number(event.get("best")),
                                                          _number(event.get("mean")))
    for snapshot in run.snapshots:
        if snapshot.step not in points:
            scores = [u["fitness"] for u in snapshot.state["population"] if finite(u.get("fitness"))]
            points[snapshot.step] = GenerationPoint(snapshot.step, max(scores, default=None),
                                                    sum(scores) / len(scores) if scores else None)
    return [points[g] for g in sorted(points)]


def _number(value: Any) -> float | None:
    return float(value) if finite(value) else None


# -- 3. operator success rates ---------------------------------------------------------------------


def operator_rates(run: RunData) -> list[OperatorRate]:
    """Per operator: times used, and how many of its children beat their parent at their first score.

    The prompt genome counts these itself (`operator_stats` in the snapshot); for the other genomes the
    same counts are rebuilt from the tournament events, the way the engine credits operators: an
    attempt counts as a use, the operator that made a child (never "copy") and the post-mutation
    operators are credited when the child's first score beats the parent's score at its birth.
    """
    stats = run.last.state.get("operator_stats")
    if isinstance(stats, dict) and stats:
        return sorted((OperatorRate(name, int(s.get("used", 0)), int(s.get("beat_parent", 0)))
                       for name, s in stats.items()), key=lambda r: r.name)
    used: dict[str, int] = {}
    beat: dict[str, int] = {}
    births: dict[str, tuple[float, list[str]]] = {}  # child id -> (parent's fitness, operators credited)
    tournaments = [e for e in run.events if e.get("event") == "tournament"]
    for event in tournaments:
        for unit, fitness in zip(event.get("pair", []), event.get("fitness", [])):
            birth = births.pop(unit, None)
            if birth is not None and finite(fitness) and finite(birth[0]) and fitness > birth[0]:
                for name in birth[1]:
                    beat[name] = beat.get(name, 0) + 1
        if event.get("child") is None:
            continue
        post = list(event.get("post") or [])
        for name in list(event.get("tried") or []) + post:
            used[name] = used.get(name, 0) + 1
        operator = event.get("operator")
        credited = ([] if operator in (None, COPY_OPERATOR) else [operator]) + post
        winner = event["pair"].index(event["winner"]) if event.get("winner") in event.get("pair", []) else None
        if winner is not None and credited:
            births[event["child"]] = (event["fitness"][winner], credited)
    return [OperatorRate(name, used[name], beat.get(name, 0)) for name in sorted(used)]


# -- 4. diversity ----------------------------------------------------------------------------------


def diversity_curve(run: RunData) -> list[tuple[int, float]]:
    """Mean pairwise distance between the units of each snapshot's population, in [0, 1].

    Prompts and texts: 1 - Jaccard similarity of their word sets. Configurations: the mean over
    parameters of the distance in the unit cube (the search space's bounds and log scales, else the
    range seen in the run), a categorical counting 1 when the choices differ.
    """
    if run.genome.configurations:
        distance = _config_distance(run)
    else:
        def distance(a: dict, b: dict) -> float:
            return _jaccard_distance(_words(run, a), _words(run, b))
    curve = []
    for snapshot in run.snapshots:
        pairs = list(itertools.combinations(snapshot.state["population"], 2))
        if pairs:
            curve.append((snapshot.step, sum(distance(a, b) for a, b in pairs) / len(pairs)))
    return curve


def _words(run: RunData, unit: dict[str, Any]) -> frozenset[str]:
    return frozenset(w.lower() for w in WORD_RE.findall(unit_text(run, unit)))


def _jaccard_distance(a: frozenset[str], b: frozenset[str]) -> float:
    union = a | b
    return 1.0 - len(a & b) / len(union) if union else 0.0


def _config_distance(run: RunData):
    configs = [u.get("config", {}) for s in run.snapshots for u in s.state["population"]]
    names = sorted({name for c in configs for name in c})
    params = {p.name: p for p in run.space.params} if run.space is not None else {}
    scales = {}
    for name in names:
        values = [c[name] for c in configs if name in c]
        param = params.get(name)
        numeric = all(finite(v) and not isinstance(v, bool) for v in values)
        if param is not None and param.kind != "categorical":
            log = param.log and param.low > 0
            scales[name] = (_scaled(param.low, log), _scaled(param.high, log), log)
        elif param is None and numeric and values:
            log = min(values) > 0 and max(values) / min(values) > 100  # orders of magnitude apart: compare ratios
            scales[name] = (_scaled(min(values), log), _scaled(max(values), log), log)

    def distance(a: dict, b: dict) -> float:
        a, b = a.get("config", {}), b.get("config", {})
        total = 0.0
        for name in names:
            x, y = a.get(name), b.get(name)
            if name in scales and finite(x) and finite(y):
                low, high, log = scales[name]
                total += min(abs(_scaled(x, log) - _scaled(y, log)) / (high - low), 1.0) if high > low else 0.0
            else:
                total += 0.0 if x == y else 1.0
        return total / len(names) if names else 0.0

    return distance


def _scaled(value: float, log: bool) -> float:
    return math.log(value) if log and value > 0 else float(value)


# -- 5. lineage and the top units ------------------------------------------------------------------


def units_by_id(run: RunData) -> dict[str, dict[str, Any]]:
    """Every unit any snapshot holds, in its latest saved form (ancestors may be long gone from the
    last population, so earlier snapshots are searched too)."""
    index: dict[str, dict[str, Any]] = {}
    for snapshot in run.snapshots:
        for unit in snapshot.state["population"]:
            index[unit["id"]] = unit
    return index


def ranked_units(run: RunData) -> list[dict[str, Any]]:
    """The last population, fittest first (population order among equals), unscored units last. A unit
    only the report scored ranks by that score (its fitness: negated when minimising)."""
    sign = -1.0 if run.genome.configurations and run.direction == "minimize" else 1.0
    reported = reported_scores(run)

    def fitness(unit: dict[str, Any]) -> float | None:
        if unit.get("fitness") is not None:
            return unit["fitness"]
        return None if reported.get(unit["id"]) is None else sign * reported[unit["id"]]

    scored = sorted((u for u in run.population if fitness(u) is not None), key=lambda u: -fitness(u))
    return scored + [u for u in run.population if fitness(u) is None]


def best_unit_id(run: RunData) -> str | None:
    """The report's best unit when report.json names one that a snapshot holds, else the fittest of the
    last population (the report also scores the last generation's children, so it may know better)."""
    best = (run.report or {}).get("best") or {}
    reported = best.get("id", best.get("unit")) if isinstance(best, dict) else None
    if reported in units_by_id(run):
        return reported
    ranked = ranked_units(run)
    return ranked[0]["id"] if ranked else None


def lineage(run: RunData, unit_id: str | None = None) -> list[dict[str, Any]]:
    """The best unit (or `unit_id`) and its ancestors, oldest first. An ancestor no readable snapshot
    holds appears as {"id", "missing": True} and ends the chain."""
    index = units_by_id(run)
    current = unit_id if unit_id is not None else best_unit_id(run)
    chain: list[dict[str, Any]] = []
    seen: set[str] = set()
    while current is not None and current not in seen:  # `seen` guards against a corrupted parent cycle
        seen.add(current)
        unit = index.get(current)
        if unit is None:
            chain.append({"id": current, "missing": True})
            break
        chain.append(unit)
        current = unit.get("parent")
    return chain[::-1]


# -- the genome's own report text ------------------------------------------------------------------


def report_text(run: RunData) -> str | None:
    """The genome's end-of-run text of report.json, as the run printed it (no model or task needed)."""
    if run.report is None:
        return None
    try:
        return run.genome.format_saved_report(run.report, run.space)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a report.json from another version
        run.problems.append(f"report.json cannot be formatted ({type(exc).__name__}: {exc})")
        return None
