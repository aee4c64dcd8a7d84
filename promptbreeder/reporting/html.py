"""The report page: one self-contained HTML file (figures as base64 data URIs, inline CSS, no script),
so it can be mailed, archived or opened offline without the PNGs beside it."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from promptbreeder.reporting import analysis
from promptbreeder.reporting.figures import FIGURES, FigureSet
from promptbreeder.reporting.load import RunData

TOP_UNITS = 5
TITLES = {
    "fitness": ("Fitness per generation", "Best and mean fitness of each generation's scored units."),
    "heldout": ("Held-out comparison", "Prompt runs: the best bred units and the baselines scored on the held-out "
                "examples. Config, text and code runs: the best score so far over the evaluations."),
    "operators": ("Operator success rates", "Children that beat their parent at their first score, over the "
                  "times each operator was used (failed attempts count as uses)."),
    "diversity": ("Population diversity", "Mean pairwise distance between the units of each generation."),
    "lineage": ("Lineage of the best unit", "The best unit and its ancestors back to generation 0; the arrows "
                "carry the operator that made each child."),
    "entropy": ("Next-token entropy", "Mean entropy of the model's next-token distribution over the generated "
                "steps, per generation: of the fitness answers and of the mutations (calculate_entropy)."),
    "attention": ("Attention of answers over their prompts", "Last-layer attention, averaged over heads, of each "
                  "answer token (rows: the attention at the position that predicted it) over the end of its prompt "
                  "(return_attention; the first records saved)."),
    "attention_layers": ("Attention of every layer and head", "Where in the end of the prompt each layer (mean over "
                         "heads) and each head of the last layer look while the first saved answer is written, "
                         "averaged over its tokens (return_attention)."),
}
STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.text { max-width: 700px; white-space: pre-wrap; word-break: break-word; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; white-space: pre-wrap; }
img { max-width: 100%; border: 1px solid #ddd; }
.note { background: #fff3cd; padding: 0.5em 0.8em; border-left: 4px solid #e0a800; }
.caption { color: #555; font-size: 0.9em; }
"""


def render_page(run: RunData, figures: FigureSet) -> str:
    config = run.config
    task = config.get("task") or run.folder.parent.parent.name
    parts = [f"<h1>{_e(task)}: {_e(run.folder.name)}</h1>", _summary(run)]
    if run.problems:
        parts.append("<p class='note'>Read with problems: " + "; ".join(_e(p) for p in run.problems) + "</p>")
    parts.append("<h2>Figures</h2>")
    for name in FIGURES:
        title, caption = TITLES[name]
        parts.append(f"<h3 id='{name}'>{_e(title)}</h3>")
        if name in figures.paths:
            parts.append(f"<img alt='{_e(title)}' src='{_data_uri(figures.paths[name])}'>"
                         f"<p class='caption'>{_e(caption)}</p>")
        else:
            parts.append(f"<p class='note'>Not drawn: {_e(figures.skipped.get(name, 'no data'))}.</p>")
    parts += [_lineage_table(run), _top_units(run), _report_section(run), _config_table(config)]
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>promptbreeder report: {_e(task)} {_e(run.folder.name)}</title>"
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")


def _summary(run: RunData) -> str:
    total = run.config.get("evolution_generations", "?")
    status = ("finished: report.json written at the end of the run" if run.report is not None else
              "no report.json: the run is still going or was stopped before its end; everything below comes"
              " from the snapshots and events saved so far")
    items = [f"genome <b>{_e(run.kind)}</b>", f"last saved step {run.last.step} of {_e(total)}",
             f"{len(run.snapshots)} snapshot(s)", f"population {len(run.population)}"]
    text = f"<p>{', '.join(items)}; folder <code>{_e(run.folder)}</code></p>"
    return text + (f"<p>{_e(status)}</p>" if run.report is not None else f"<p class='note'>{_e(status)}</p>")


def _lineage_table(run: RunData) -> str:
    chain = analysis.lineage(run)
    rows = []
    for step, unit in enumerate(chain):
        if unit.get("missing"):
            rows.append(f"<tr data-unit='{_e(unit['id'])}'><td>{step}</td><td>?</td><td>{_e(unit['id'])}</td>"
                        "<td>?</td><td>?</td><td class='text'>not in any readable snapshot</td></tr>")
            continue
        rows.append(f"<tr data-unit='{_e(unit['id'])}'><td>{step}</td><td>{_e(unit.get('generation', '?'))}</td>"
                    f"<td>{_e(unit['id'])}</td><td>{_e(unit.get('operator') or '?')}</td>"
                    f"<td>{_score(analysis.unit_score(run, unit))}</td>"
                    f"<td class='text'>{_e(analysis.unit_text(run, unit))}</td></tr>")
    head = "<tr><th>#</th><th>generation</th><th>unit</th><th>made by</th><th>score</th><th>what was bred</th></tr>"
    return ("<h2>Lineage of the best unit</h2><p class='caption'>Oldest ancestor first; the last row is the best"
            " unit.</p>" + f"<table id='lineage-table'>{head}{''.join(rows)}</table>")


def _top_units(run: RunData) -> str:
    units = analysis.ranked_units(run)[:TOP_UNITS]
    extra = any("mutation_prompt" in u for u in units)  # units bred with a mutation prompt (prompt genome)
    head = ("<tr><th>unit</th><th>score</th><th>generation</th><th>made by</th><th>parent</th><th>what was bred</th>"
            + ("<th>mutation prompt</th>" if extra else "") + "</tr>")
    rows = [f"<tr><td>{_e(u['id'])}</td><td>{_score(analysis.unit_score(run, u))}</td>"
            f"<td>{_e(u.get('generation', '?'))}</td><td>{_e(u.get('operator') or '?')}</td>"
            f"<td>{_e(u.get('parent') or '-')}</td>"
            f"<td class='text'>{_e(analysis.unit_text(run, u))}</td>"
            + (f"<td class='text'>{_e(u.get('mutation_prompt', ''))}</td>" if extra else "") + "</tr>"
            for u in units]
    return (f"<h2>Top units of step {run.last.step}</h2><p class='caption'>The last saved population by training"
            " score; children born in the last step have one only when the end-of-run report scored them.</p>"
            f"<table id='top-units'>{head}{''.join(rows)}</table>")


def _report_section(run: RunData) -> str:
    if run.report is None:
        return "<h2>End-of-run report</h2><p class='note'>No report.json: the run has not finished.</p>"
    text = analysis.report_text(run)
    shown = _e(text) if text is not None else "report.json could not be formatted"
    return f"<h2>End-of-run report</h2><pre id='format-report'>{shown}</pre>"


def _config_table(config: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v if isinstance(v, str) else json.dumps(v, default=str))}</td></tr>"
                   for k, v in sorted(config.items()))
    return f"<h2>Run configuration</h2><table id='config'>{rows}</table>"


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
