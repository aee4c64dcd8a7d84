"""The report's figures as PNG files, drawn with matplotlib's object API on the Agg canvas.

No pyplot: it keeps global state and may pick an interactive backend, and these figures are also drawn
inside a breeding run (for wandb) where neither is welcome. A figure with nothing to show is skipped
with the reason, which the HTML page prints in its place.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from promptbreeder.reporting import analysis
from promptbreeder.reporting.introspection import attention_figure, entropy_figure, layers_figure
from promptbreeder.reporting.load import RunData, load_run

CORE_FIGURES = ("fitness", "heldout", "operators", "diversity", "lineage")  # file stems, in page order
# drawn when the run measured them (calculate_entropy, return_attention); the page says so otherwise
INTROSPECTION_FIGURES = ("entropy", "attention", "attention_layers")
FIGURES = CORE_FIGURES + INTROSPECTION_FIGURES
BRED, BASELINE, MEAN = "#1f77b4", "#999999", "#ff7f0e"
DPI = 110
MAX_LINEAGE_BOXES = 24  # a longer chain is drawn with its middle elided; the HTML table lists it all


@dataclass
class FigureSet:
    paths: dict[str, Path] = field(default_factory=dict)  # name -> PNG, for the figures drawn
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why it was not drawn


def draw_figures(run: RunData, out_dir: str | Path) -> FigureSet:
    """Draw every figure of FIGURES that has data into `out_dir` (created)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = FigureSet()
    for name in FIGURES:
        drawn = DRAWERS[name](run)
        if isinstance(drawn, str):
            result.skipped[name] = drawn
            continue
        path = out_dir / f"{name}.png"
        FigureCanvasAgg(drawn)  # attaches the Agg canvas: savefig then needs no backend selection
        drawn.savefig(path, dpi=DPI, bbox_inches="tight")
        result.paths[name] = path
    return result


def figures_for_run(folder: str | Path, out_dir: str | Path | None = None) -> dict[str, str]:
    """The figures of the run in `folder`, written to `out_dir` (default `<folder>/report/`), by name."""
    run = load_run(folder)
    drawn = draw_figures(run, out_dir if out_dir is not None else Path(folder) / "report")
    return {name: str(path) for name, path in drawn.paths.items()}


# -- one function per figure: a Figure, or the reason there is none ------------------------------------


def fitness_figure(run: RunData) -> Figure | str:
    curve = analysis.fitness_curve(run)
    if not any(p.best is not None or p.mean is not None for p in curve):
        return "no unit has a score yet"
    figure = Figure(figsize=(7, 4))
    ax = figure.add_subplot()
    generations = [p.generation for p in curve]
    ax.plot(generations, [_nan(p.best) for p in curve], marker="o", color=BRED, label="best")
    ax.plot(generations, [_nan(p.mean) for p in curve], marker="s", color=MEAN, label="mean (units scored)")
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness" + (" (negated score)" if run.direction == "minimize" else ""))
    ax.set_title("Fitness per generation")
    _integer_ticks(ax, generations)
    ax.grid(alpha=0.3)
    ax.legend()
    return figure


def heldout_figure(run: RunData) -> Figure | str:
    if run.report is None:
        return "report.json is missing: the run is still going or was stopped before its end"
    if "rows" in run.report:  # bred individuals against baselines on held-out examples (prompt genome)
        return _heldout_bars(run.report)
    return _best_so_far(run)


def _heldout_bars(report: dict) -> Figure | str:
    rows = [r for r in report.get("rows", []) if analysis.finite(r.get("heldout_fitness"))]
    if not rows:
        return "the report has no held-out scores (the task kept no examples back)"
    figure = Figure(figsize=(8, 0.45 * len(rows) + 1.4))
    ax = figure.add_subplot()
    positions = range(len(rows))[::-1]  # first row on top
    colors = [BRED if r.get("id") is not None else BASELINE for r in rows]
    ax.barh(list(positions), [r["heldout_fitness"] for r in rows], color=colors)
    labels = [analysis.short_label(f"{r['name']}: {' … '.join(p for p in r.get('task_prompts', [])[:2] if p)}", 60)
              for r in rows]
    ax.set_yticks(list(positions), labels, fontsize=8)
    for y, row in zip(positions, rows):
        ax.text(row["heldout_fitness"], y, f" {row['heldout_fitness']:.3f}", va="center", fontsize=8)
    ax.set_xlabel(f"held-out score ({report.get('heldout_examples', '?')} examples)")
    ax.set_title("Bred units (blue) against the baselines (grey) on the held-out split")
    ax.set_xlim(0, max(max(r["heldout_fitness"] for r in rows) * 1.15, 1e-9))
    return figure


def _best_so_far(run: RunData) -> Figure | str:
    curve = [_nan(v) for v in run.report.get("best_so_far", [])]
    if not any(not math.isnan(v) for v in curve):
        return "the report has no successful evaluation"
    figure = Figure(figsize=(7, 4))
    ax = figure.add_subplot()
    ax.step(range(1, len(curve) + 1), curve, where="post", marker=".", color=BRED)
    ax.set_xlabel("evaluation")
    ax.set_ylabel(f"best score so far ({run.direction})")
    ax.set_title("Best score over the evaluations")
    ax.grid(alpha=0.3)
    return figure


def operators_figure(run: RunData) -> Figure | str:
    rates = [r for r in analysis.operator_rates(run) if r.used]
    if not rates:
        return "no operator has been used yet"
    figure = Figure(figsize=(7, 0.4 * len(rates) + 1.4))
    ax = figure.add_subplot()
    positions = range(len(rates))[::-1]
    ax.barh(list(positions), [r.rate for r in rates], color=BRED)
    ax.set_yticks(list(positions), [r.name for r in rates], fontsize=9)
    for y, r in zip(positions, rates):
        ax.text(r.rate, y, f" {r.beat_parent}/{r.used}", va="center", fontsize=8)
    ax.set_xlim(0, max(max(r.rate for r in rates) * 1.25, 0.1))
    ax.set_xlabel("children that beat their parent / times used")
    ax.set_title("Operator success rates")
    return figure


def diversity_figure(run: RunData) -> Figure | str:
    curve = analysis.diversity_curve(run)
    if not curve:
        return "a population of one unit has no diversity to measure"
    figure = Figure(figsize=(7, 4))
    ax = figure.add_subplot()
    ax.plot([g for g, _ in curve], [d for _, d in curve], marker="o", color=BRED)
    measure = ("mean distance of normalised configurations" if run.genome.configurations
               else "mean 1 - Jaccard of word sets")
    ax.set_xlabel("generation")
    ax.set_ylabel(measure)
    ax.set_ylim(0, 1.05)
    ax.set_title("Population diversity (mean pairwise distance)")
    _integer_ticks(ax, [g for g, _ in curve])
    ax.grid(alpha=0.3)
    return figure


def lineage_figure(run: RunData) -> Figure | str:
    chain = analysis.lineage(run)
    if not chain:
        return "the last population is empty"
    nodes: list[dict | None] = list(chain)
    if len(nodes) > MAX_LINEAGE_BOXES:  # None marks the elided middle
        head = MAX_LINEAGE_BOXES // 2
        nodes = nodes[:head] + [None] + nodes[-(MAX_LINEAGE_BOXES - head - 1):]
    texts = [_box_text(run, node, len(chain) - MAX_LINEAGE_BOXES + 1) for node in nodes]
    heights = [text.count("\n") + 1 for text in texts]
    figure = Figure(figsize=(8, 0.2 * sum(heights) + 0.55 * len(nodes) + 0.6))
    ax = figure.add_subplot()
    ax.set_axis_off()
    total = sum(heights) + 2.2 * len(nodes)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, total)
    y, artists = total, []
    for node, text, height in zip(nodes, texts, heights):
        y -= (height + 2.2) / 2
        colour = "#fff3cd" if node is chain[-1] else ("#eeeeee" if node is None or node.get("missing") else "#e8f0fb")
        artists.append(ax.text(0.5, y, text, ha="center", va="center", fontsize=8, family="monospace",
                               bbox={"boxstyle": "round,pad=0.5", "facecolor": colour, "edgecolor": "#555555"}))
        y -= (height + 2.2) / 2
    for parent, child, node in zip(artists, artists[1:], nodes[1:]):
        operator = "…" if node is None else node.get("operator") or "?"
        ax.annotate("", xy=child.get_position(), xytext=parent.get_position(),
                    arrowprops={"arrowstyle": "-|>", "color": "#555555", "patchA": parent.get_bbox_patch(),
                                "patchB": child.get_bbox_patch(), "shrinkA": 2, "shrinkB": 2})
        middle = (parent.get_position()[1] + child.get_position()[1]) / 2
        ax.text(0.52, middle, operator, fontsize=7, style="italic", color="#333333", va="center")
    ax.set_title("Lineage of the best unit (oldest ancestor on top)")
    return figure


def _box_text(run: RunData, node: dict | None, elided: int) -> str:
    if node is None:
        return f"… {elided} more ancestors …"
    if node.get("missing"):
        return f"{node['id']}: not in any readable snapshot"
    score = analysis.unit_score(run, node)
    score_text = "unscored" if score is None else f"{'score' if 'score' in node else 'fitness'} {score:.4g}"
    head = f"{node['id']} · generation {node.get('generation', '?')} · {node.get('operator') or '?'} · {score_text}"
    body = textwrap.wrap(analysis.short_label(analysis.unit_text(run, node), 200), 70)[:3] or ["(empty)"]
    return "\n".join([head] + body)


def _integer_ticks(ax, generations: list[int]) -> None:
    if len(generations) <= 12:
        ax.set_xticks(generations)


def _nan(value) -> float:
    return float(value) if analysis.finite(value) else math.nan


DRAWERS = {"fitness": fitness_figure, "heldout": heldout_figure, "operators": operators_figure,
           "diversity": diversity_figure, "lineage": lineage_figure, "entropy": entropy_figure,
           "attention": attention_figure, "attention_layers": layers_figure}
