"""Figures of what the model did inside a run: next-token entropy per generation (`calculate_entropy`)
and the attention of saved answers over their prompts (`return_attention`)."""

from __future__ import annotations

import json
from typing import Any

from matplotlib.figure import Figure

from promptbreeder.reporting.load import RunData

MAX_HEATMAPS = 4  # attention records drawn (the first ones saved); the rest stay in attention/
MAX_COLUMNS = 120  # prompt tokens shown per heatmap: the last ones, where the question and answer are


def entropy_points(run: RunData) -> dict[str, list[tuple[int, float]]]:
    """(generation, mean entropy) of fitness answers and of mutations, from the "generation" events."""
    series: dict[str, list[tuple[int, float]]] = {"fitness answers": [], "mutations": []}
    for event in run.events:
        if event.get("event") != "generation":
            continue
        for key, name in (("fitness_entropy", "fitness answers"), ("mutation_entropy", "mutations")):
            if isinstance(event.get(key), (int, float)):
                series[name].append((int(event["generation"]), float(event[key])))
    return {name: points for name, points in series.items() if points}


def entropy_figure(run: RunData) -> Figure | str:
    series = entropy_points(run)
    if not series:
        return "the run did not measure entropy (calculate_entropy off, or a model outside our engine)"
    figure = Figure(figsize=(6.4, 3.4))
    ax = figure.add_subplot()
    for name, points in series.items():
        ax.plot([g for g, _ in points], [e for _, e in points], marker="o", label=name)
    ax.set_xlabel("generation")
    ax.set_ylabel("mean next-token entropy (nats)")
    ax.legend()
    return figure


def attention_records(run: RunData) -> list[dict[str, Any]]:
    records = []
    for path in sorted((run.folder / "attention").glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a record torn by a kill: the others still show
        if record.get("weights") and record.get("tokens"):
            records.append(record | {"file": path.name})
    return records


def attention_figure(run: RunData) -> Figure | str:
    records = attention_records(run)[:MAX_HEATMAPS]
    if not records:
        return "no attention was saved (return_attention off)"
    figure = Figure(figsize=(11, 2.6 * len(records)))
    for i, record in enumerate(records):
        ax = figure.add_subplot(len(records), 1, i + 1)
        _heatmap(ax, record)
    figure.tight_layout()
    return figure


def _heatmap(ax, record: dict[str, Any]) -> None:
    tokens, start = record["tokens"], int(record["answer_start"])
    weights = record["weights"]
    first = max(0, start - MAX_COLUMNS)  # the prompt's end and the answer: the part worth reading
    matrix = [row[first:start + len(weights)] for row in weights]
    # the sequence's first token soaks up most attention (an attention sink): scaling the colours to it
    # would leave the rest of the prompt uniformly dark, so it is clipped to the largest other weight
    rest = [w for row in matrix for w in (row[1:] if first == 0 else row)]
    image = ax.imshow(matrix, aspect="auto", cmap="viridis", vmin=0, vmax=max(rest, default=None) or None)
    columns = tokens[first:start + len(weights)]
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels([_label(t) for t in columns], rotation=90, fontsize=5)
    ax.set_yticks(range(len(weights)))
    ax.set_yticklabels([_label(t) for t in tokens[start:start + len(weights)]], fontsize=6)
    ax.set_title(f"{record.get('query', '?')} ({record.get('file', '')}): the attention that predicted each answer"
                 " token (rows) over the prompt"
                 + (" (colours clipped at the first token, an attention sink)" if first == 0 else ""), fontsize=8)
    ax.figure.colorbar(image, ax=ax, fraction=0.02, pad=0.01)


def _label(token: str) -> str:
    return token.replace("\n", "\\n") or "␣"
