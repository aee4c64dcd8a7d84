"""Show what temperature and top-k do to the embedded model's next-token distribution.

    promptbreeder explain-sampling --prompt "Name a colour." \
        [--temperatures 0.3 1.0 1.5] [--top_k 0 5 50] [--samples 5] [--out sampling.png]

(`python -m promptbreeder.commands.explain_sampling ...` works too.)

Draws one panel per temperature with the top tokens' probabilities after temperature and, per
top_k, which of them can still be drawn; then samples short continuations for every (temperature,
top_k) and prints them. Both go through our engine's code (BatchSampler for the survivors, HFEngine
for the samples), so what is shown is what a breeding run's `sample(...)` decoder does. Sample i of
every setting uses seed `--seed + i`: the same random numbers meet different settings, so a row of
the table changes only where the setting changes the draw. Nothing is downloaded; a model that cannot
be resolved is a `ModelError`, bad values are argparse usage errors (exit 2).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import torch

from promptbreeder.backends.chat import ChatFormat
from promptbreeder.backends.hf.sampling import BatchSampler, RowSampling


def chat_prompt(tokenizer, prompt: str) -> str:
    """`prompt` as a user turn in the model's own chat template, ready for the assistant's reply."""
    return ChatFormat.from_tokenizer(tokenizer, "the model").prompt(None, prompt)


def distribution(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Next-token probabilities after temperature, scaled as BatchSampler scales them."""
    return torch.softmax(logits.float() / temperature, dim=-1)


def survivors(logits: torch.Tensor, temperature: float, top_k: int) -> torch.Tensor:
    """Which tokens a row with this temperature and top_k (0: off) can draw, by the engine's own filter."""
    setting = RowSampling(temperature, top_k=top_k or None)
    sampler = BatchSampler([setting], [torch.Generator()], logits.device)
    return torch.isfinite(sampler.filtered(logits.float()[None] / sampler.temperature)[0])


def top_tokens(probs: torch.Tensor, n: int) -> list[tuple[int, float]]:
    """The n most probable (token id, probability) pairs, most probable first."""
    values, ids = torch.topk(probs, min(n, probs.shape[-1]))
    return list(zip(ids.tolist(), values.tolist()))


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def probability_rows(logits: torch.Tensor, temperatures: Sequence[float], labels: dict[int, str], n: int):
    """Rows of (rank, token, p at each temperature) for the n tokens most probable at T=1."""
    order = top_tokens(distribution(logits, 1.0), n)
    by_t = [distribution(logits, t) for t in temperatures]
    return [[rank + 1, repr(labels[i])] + [f"{p[i].item():.3f}" for p in by_t] for rank, (i, _) in enumerate(order)]


def draw_figure(logits: torch.Tensor, temperatures: Sequence[float], top_ks: Sequence[int],
                labels: dict[int, str], path: str, n: int = 15, title: str = "") -> None:
    """One horizontal bar panel per temperature; a marker column per top_k: ● can be drawn, ○ cut."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers
    import matplotlib.pyplot as plt
    from matplotlib.transforms import blended_transform_factory

    ks = [k for k in top_ks if k > 0]
    fig, axes = plt.subplots(1, len(temperatures), figsize=(4.6 * len(temperatures), 0.32 * n + 1.8), squeeze=False)
    for ax, t in zip(axes[0], temperatures):
        probs = distribution(logits, t)
        top = top_tokens(probs, n)
        ids, values = [i for i, _ in top], [p for _, p in top]
        ax.barh(range(len(top)), values, color="tab:blue")
        ax.set_yticks(range(len(top)), [repr(labels[i]) for i in ids], fontsize=8)  # repr: spaces and newlines show
        ax.invert_yaxis()
        ax.set_xlim(0, max(values) * 1.15)
        ax.set_xlabel("probability after temperature")
        ax.set_title(f"T = {t:g}: top {len(top)} hold {sum(values):.0%}", fontsize=10)
        for y, p in enumerate(values):
            ax.text(p, y, f" {p:.2f}", va="center", fontsize=7)
        place = blended_transform_factory(ax.transAxes, ax.transData)
        for j, k in enumerate(ks):
            kept = survivors(logits, t, k)
            x = 1.04 + 0.09 * j
            ax.text(x, -1, f"k={k}", transform=place, ha="center", fontsize=7)
            for y, i in enumerate(ids):
                ax.text(x, y, "●" if kept[i] else "○", transform=place, ha="center", va="center", fontsize=8,
                        color="tab:green" if kept[i] else "tab:red")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def sample_rows(engine, prompt_ids: list[int], temperatures: Sequence[float], top_ks: Sequence[int],
                samples: int, tokens: int, seed: int) -> list[list[object]]:
    """(T, top_k, sample, continuation) rows, all generated by the engine in shared batches."""
    from promptbreeder.backends.hf.rows import GenerateRow

    settings = [(t, k, s) for t in temperatures for k in top_ks for s in range(samples)]
    rows = [GenerateRow(prompt_ids=list(prompt_ids), max_tokens=tokens, temperature=t, top_k=k or None,
                        seed=seed + s, tag=n) for n, (t, k, s) in enumerate(settings)]
    generated: list[list[int]] = [[] for _ in rows]

    def collect(events):
        for row, payload in events:
            if payload["token"] != engine.eos_token_id:
                generated[row.tag].append(payload["token"])

    engine.generate(rows, collect)
    return [[f"{t:g}", k or "off", s + 1, repr(engine.tokenizer.decode(out))]
            for (t, k, s), out in zip(settings, generated)]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The arguments; argparse exits 2 with the usage line on a bad one."""
    parser = argparse.ArgumentParser(prog="promptbreeder explain-sampling", description=__doc__.split("\n")[0])
    parser.add_argument("--prompt", required=True, help="user message (wrapped in SmolLM2's chat template)")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.3, 1.0, 1.5])
    parser.add_argument("--top_k", type=int, nargs="+", default=[0, 5, 50], help="0: no top-k")
    parser.add_argument("--samples", type=int, default=5, help="continuations per (temperature, top_k)")
    parser.add_argument("--tokens", type=int, default=12, help="tokens per continuation")
    parser.add_argument("--top", type=int, default=15, help="tokens shown per panel")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="smollm2-135m", help="embedded model name or local HF folder")
    parser.add_argument("--out", default="explain_sampling.png", help="figure file (PNG)")
    parser.add_argument("--verbose", action="store_true", help="show a traceback when something fails")
    args = parser.parse_args(argv)
    if any(t <= 0 for t in args.temperatures):
        parser.error("--temperatures must be > 0 (temperature 0 is greedy: nothing to sample)")
    if any(k < 0 for k in args.top_k):
        parser.error("--top_k values must be >= 0 (0: no top-k)")
    if args.samples < 1 or args.tokens < 1 or args.top < 1:
        parser.error("--samples, --tokens and --top must be >= 1")
    return args


def main(argv: Sequence[str]) -> int:
    """Print the tables and samples, write the figure; returns 0."""
    args = parse_args(argv)
    from promptbreeder.backends.hf.engine import HFEngine
    from promptbreeder.backends.models import offline, resolve_model

    offline()  # before transformers loads anything: never download
    engine = HFEngine(resolve_model(args.model).local_dir(), device="cpu", max_batch_size=16)
    prompt_ids = engine.tokenizer(chat_prompt(engine.tokenizer, args.prompt), add_special_tokens=False).input_ids
    with torch.inference_mode():
        logits = engine.model(input_ids=torch.tensor([prompt_ids])).logits[0, -1].float()
    shown = {i for t in args.temperatures for i, _ in top_tokens(distribution(logits, t), args.top)}
    labels = {i: engine.tokenizer.decode([i]) for i in shown}

    print(f"prompt: {args.prompt!r} ({len(prompt_ids)} tokens with the chat template)\n")
    print("next-token probabilities after temperature:")
    print(format_table(["#", "token"] + [f"T={t:g}" for t in args.temperatures],
                       probability_rows(logits, args.temperatures, labels, args.top)))
    kept_mass = [[f"{t:g}"] + [f"{distribution(logits, t)[survivors(logits, t, k)].sum().item():.3f}"
                               for k in args.top_k] for t in args.temperatures]
    print("\nprobability mass top_k keeps:")
    print(format_table(["T"] + [f"top_k={k or 'off'}" for k in args.top_k], kept_mass))
    draw_figure(logits, args.temperatures, args.top_k, labels, args.out, n=args.top, title=f"prompt: {args.prompt!r}")
    print(f"\nfigure: {args.out}")

    print(f"\n{args.samples} continuations of {args.tokens} tokens per setting (sample i uses seed {args.seed}+i-1):")
    samples = sample_rows(engine, prompt_ids, args.temperatures, args.top_k, args.samples, args.tokens, args.seed)
    print(format_table(["T", "top_k", "#", "continuation"], samples))
    return 0


if __name__ == "__main__":
    from promptbreeder import cli  # errors become one line and an exit code there, as for the command

    sys.exit(cli.main(["explain-sampling", *sys.argv[1:]]))
