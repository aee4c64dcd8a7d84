"""Figures of what the model did inside a run: next-token entropy per generation (`calculate_entropy`)
and the attention of saved answers over their prompts (`return_attention`): the last layer's per answer
token, and every layer's and head's (from the record's `.npz`) as where in the prompt each one looks."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

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


def layer_attention(run: RunData, record: dict[str, Any]) -> np.ndarray | None:
    """A record's attention of every layer and head, (layers, heads, answer tokens, tokens) in float32, or
    None where the record has none (saved before all layers were kept) or its file cannot be read."""
    name = record.get("layers_file")
    if not name:
        return None
    try:
        with np.load(run.folder / "attention" / name) as data:
            return data["attention"].astype(np.float32)
    except (OSError, ValueError, KeyError):
        return None


def layer_views(weights: np.ndarray, answer_start: int, layer: int = -1) -> tuple[np.ndarray, np.ndarray, int]:
    """(per layer, per head of `layer`, first column): where in the end of the prompt each layer (averaged
    over heads) and each head of one layer look, averaged over the answer's tokens; columns are the last
    MAX_COLUMNS prompt tokens before the answer."""
    first = max(0, answer_start - MAX_COLUMNS)
    per_layer = weights.mean(axis=(1, 2))[:, first:answer_start]
    per_head = weights[layer].mean(axis=1)[:, first:answer_start]
    return per_layer, per_head, first


def layers_figure(run: RunData, record_index: int = 0, layer: int = -1) -> Figure | str:
    """Per-layer and per-head view of one saved answer (the first, unless `record_index` says)."""
    records = [r for r in attention_records(run) if r.get("layers_file")]
    if not records:
        return "no attention of every layer was saved (return_attention off, or a run from before it was kept)"
    record = records[min(record_index, len(records) - 1)]
    weights = layer_attention(run, record)
    if weights is None:
        return f"the attention file of {record['file']} cannot be read"
    start = int(record["answer_start"])
    per_layer, per_head, first = layer_views(weights, start, layer)
    columns = record["tokens"][first:start]
    figure = Figure(figsize=(11, 0.16 * (len(per_layer) + len(per_head)) + 3.2))
    shown = layer if layer >= 0 else len(weights) + layer
    for i, (matrix, rows, what) in enumerate([(per_layer, "layer", "each layer (mean over heads)"),
                                              (per_head, "head", f"each head of layer {shown}")]):
        ax = figure.add_subplot(2, 1, i + 1)
        rest = matrix[:, 1:] if first == 0 else matrix  # clip colours at the attention sink, as above
        image = ax.imshow(matrix, aspect="auto", cmap="viridis", vmin=0, vmax=float(rest.max()) if rest.size else None)
        ax.set_xticks(range(len(columns)))
        ax.set_xticklabels([_label(t) for t in columns], rotation=90, fontsize=5)
        ax.set_yticks(range(len(matrix)))
        ax.set_yticklabels([f"{rows} {j}" for j in range(len(matrix))], fontsize=5)
        ax.set_title(f"{record.get('query', '?')} ({record['file']}): where in the prompt {what} looks while"
                     " writing the answer (mean over its tokens)", fontsize=8)
        figure.colorbar(image, ax=ax, fraction=0.02, pad=0.01)
    figure.tight_layout()
    return figure


def _label(token: str) -> str:
    return token.replace("\n", "\\n") or "␣"
