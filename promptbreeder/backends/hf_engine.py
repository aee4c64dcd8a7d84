"""Batched generation and scoring on a Hugging Face causal LM: the compute under our LMQL backend.

Why not `model.generate`: LMQL needs per-row logit biases, per-token log-probabilities and top-k
alternatives streamed while generating; and we want sampling that is reproducible whatever rows
share a batch. A lean KV-cached loop gives all of that and runs faster than `generate` on CPU.

Reproducible sampling: each row draws from its own `torch.Generator`, seeded from the request seed
and the row's prompt tokens, so a sampled continuation depends on (seed, prompt) and not on timing
or on which other queries share its batch (up to float rounding of batched matrix products, which
the tests check does not change the tokens).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from promptbreeder.errors import ModelError

# a token payload as LMQL's LMTP protocol streams it: token, logprob, top_logprobs, finish_reason;
# `emit` receives all (row, payload) pairs of a batch, in generation order
TokenPayload = dict
Emit = Callable[[list[tuple["GenerateRow", TokenPayload]]], None]


@dataclass
class GenerateRow:
    prompt_ids: list[int]
    max_tokens: int
    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    logit_bias: dict[int, float] | None = None
    top_logprobs: int = 1
    seed: int = 0
    tag: object = None  # opaque handle of the caller (its token queue)

    def generator(self) -> torch.Generator:
        digest = hashlib.blake2b(repr((self.seed, self.prompt_ids)).encode(), digest_size=8).digest()
        return torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))

    def mode(self) -> tuple:
        """Rows with the same mode can share one decoding pass."""
        return (self.temperature > 0, self.temperature, self.top_k, self.top_p)


@dataclass
class EngineStats:
    generate_calls: int = 0
    score_calls: int = 0
    rows: int = 0
    forward_passes: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    model_loads: int = 0
    shared_prefix_tokens: int = 0  # prompt tokens not recomputed thanks to a prefix shared in a batch
    longest_request: int = 0  # most tokens one row asked for (LMQL asks for at most its chunk size)
    batch_sizes: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "batch_sizes"} | {
            "mean_batch_size": sum(self.batch_sizes) / len(self.batch_sizes) if self.batch_sizes else 0.0
        }


class HFEngine:
    """Owns one model and tokenizer. Thread-safe: one batch at a time runs under `self.lock`."""

    MIN_SHARED_PREFIX = 8  # shorter shared prefixes are not worth an extra forward pass

    def __init__(self, model_dir: str, device: str = "auto", max_batch_size: int = 16):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from promptbreeder.backends.models import offline

        offline()
        self.model_dir = str(model_dir)
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.max_batch_size = max_batch_size
        self.stats = EngineStats()
        self.lock = threading.Lock()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
            dtype = torch.float16 if self.device == "cuda" else torch.float32
            self.model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=dtype).to(self.device)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load a Hugging Face model from {self.model_dir}: {exc}") from None
        self.model.eval()
        self.stats.model_loads += 1
        eos = self.model.config.eos_token_id
        self.eos_token_id = eos[0] if isinstance(eos, list) else eos
        self.pad_token_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_token_id
        self.vocab_size = self.model.config.vocab_size

    # -- generation -------------------------------------------------------------------------------

    def generate(self, rows: list[GenerateRow], emit: Emit) -> None:
        """Generate for all rows (split by decoding mode and batch size), streaming tokens via `emit`."""
        by_mode: dict[tuple, list[GenerateRow]] = {}
        for row in rows:
            by_mode.setdefault(row.mode(), []).append(row)
        for group in by_mode.values():
            for start in range(0, len(group), self.max_batch_size):
                self._generate_batch(group[start : start + self.max_batch_size], emit)

    @torch.inference_mode()
    def _generate_batch(self, rows: list[GenerateRow], emit: Emit) -> None:
        started = time.perf_counter()
        batch = len(rows)
        cache, step_ids, step_attention, step_positions = self._prefill_inputs([r.prompt_ids for r in rows])
        bias = self._bias_tensor(rows)
        generators = [r.generator() for r in rows] if rows[0].temperature > 0 else None
        max_tokens = max(r.max_tokens for r in rows)
        top_n = max(max(r.top_logprobs for r in rows), 1)
        done = [False] * batch
        produced = [0] * batch
        events = []

        for step in range(max_tokens):
            out = self.model(
                input_ids=step_ids,
                attention_mask=step_attention,
                position_ids=step_positions,
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            self.stats.forward_passes += 1
            cache = out.past_key_values
            logits = out.logits[:, -1, :].float()
            if bias is not None:
                logits = logits + bias
            # log-probabilities only where LMQL needs them: the chosen token and the top alternatives
            normaliser = torch.logsumexp(logits, dim=-1, keepdim=True)
            chosen = self._choose(rows, logits, generators)
            chosen_logprobs = (logits.gather(-1, chosen[:, None]) - normaliser)[:, 0]
            if top_n == 1 and generators is None:
                top_values, top_indices = chosen_logprobs[:, None], chosen[:, None]
            else:
                top_logits, top_indices = torch.topk(logits, top_n, dim=-1)
                top_values = top_logits - normaliser

            chosen_list, chosen_lp = chosen.tolist(), chosen_logprobs.tolist()
            top_v, top_i = top_values.tolist(), top_indices.tolist()
            for i, row in enumerate(rows):
                if done[i]:
                    continue
                produced[i] += 1
                token = chosen_list[i]
                finish = "stop" if token == self.eos_token_id else ("length" if produced[i] >= row.max_tokens else None)
                n = max(row.top_logprobs, 1)
                events.append((row, {
                    "token": token,
                    "logprob": chosen_lp[i],
                    "top_logprobs": {token: chosen_lp[i], **dict(zip(top_i[i][:n], top_v[i][:n]))},
                    "finish_reason": finish,
                }))
                if finish is not None:
                    done[i] = True
            if all(done):
                break
            step_ids = chosen[:, None]
            step_attention = torch.cat([step_attention, step_attention.new_ones(batch, 1)], dim=-1)
            step_positions = step_positions[:, -1:] + 1

        # Tokens go out once the batch is done: LMQL checking them on the main thread while the
        # batch computes would compete with torch's threads for the cores, which costs more than it saves.
        emit(events)
        self.stats.generate_calls += 1
        self.stats.rows += batch
        self.stats.batch_sizes.append(batch)
        self.stats.longest_request = max(self.stats.longest_request, max_tokens)
        self.stats.prompt_tokens += sum(len(r.prompt_ids) for r in rows)
        self.stats.generated_tokens += sum(produced)
        self.stats.seconds += time.perf_counter() - started

    def _prefill_inputs(self, prompts: list[list[int]]):
        """Cache and inputs for the first forward pass; a prefix shared by every row is computed once.

        Fitness queries put the same system and task prompt before each question, so most of a
        batch's prompt tokens are usually shared. The shared part runs as one row, its KV cache is
        repeated for every row, and only the differing suffixes (left-padded) run batched; each row
        keeps at least one token of its own to produce its first logits.
        """
        shared = _common_prefix_length(prompts)
        shared = min(shared, min(len(p) for p in prompts) - 1)
        if len(prompts) < 2 or shared < self.MIN_SHARED_PREFIX:
            ids, attention = self._left_pad(prompts)
            return None, ids, attention, (attention.cumsum(-1) - 1).clamp(min=0)
        prefix = torch.tensor([prompts[0][:shared]], dtype=torch.long, device=self.device)
        cache = self.model(input_ids=prefix, use_cache=True, logits_to_keep=1).past_key_values
        cache.batch_repeat_interleave(len(prompts))
        self.stats.forward_passes += 1
        self.stats.shared_prefix_tokens += shared * (len(prompts) - 1)
        ids, suffix_attention = self._left_pad([p[shared:] for p in prompts])
        attention = torch.cat([suffix_attention.new_ones(len(prompts), shared), suffix_attention], dim=-1)
        positions = shared + (suffix_attention.cumsum(-1) - 1).clamp(min=0)
        return cache, ids, attention, positions

    def _choose(self, rows, logits, generators) -> torch.Tensor:
        if generators is None:
            return logits.argmax(dim=-1)
        row = rows[0]  # a batch shares its decoding mode
        scaled = logits / row.temperature
        if row.top_k is not None:
            kth = torch.topk(scaled, min(row.top_k, scaled.shape[-1]), dim=-1).values[:, -1:]
            scaled = scaled.masked_fill(scaled < kth, float("-inf"))
        if row.top_p is not None and row.top_p < 1.0:
            sorted_logits, order = torch.sort(scaled, descending=True, dim=-1)
            cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(-1)
            drop_sorted = cumulative - torch.softmax(sorted_logits, dim=-1) >= row.top_p
            drop = drop_sorted.scatter(-1, order, drop_sorted)
            scaled = scaled.masked_fill(drop, float("-inf"))
        probs = torch.softmax(scaled, dim=-1)
        picks = [torch.multinomial(probs[i], 1, generator=g) for i, g in enumerate(generators)]
        return torch.cat(picks).to(logits.device)

    # -- scoring ----------------------------------------------------------------------------------

    @torch.inference_mode()
    def score(self, sequences: list[tuple[list[int], list[int]]]) -> list[list[float]]:
        """Log-probability of each continuation token given its prompt, batched."""
        started = time.perf_counter()
        results: list[list[float]] = []
        for start in range(0, len(sequences), self.max_batch_size):
            chunk = sequences[start : start + self.max_batch_size]
            input_ids, attention = self._left_pad([p + c for p, c in chunk])
            positions = (attention.cumsum(-1) - 1).clamp(min=0)
            logits = self.model(input_ids=input_ids, attention_mask=attention, position_ids=positions).logits.float()
            logprobs = torch.log_softmax(logits[:, :-1, :], dim=-1).gather(-1, input_ids[:, 1:, None])[..., 0]
            width = input_ids.shape[1]
            for i, (_, continuation) in enumerate(chunk):
                n = len(continuation)
                results.append(logprobs[i, width - 1 - n :].tolist())
            self.stats.forward_passes += 1
        self.stats.score_calls += 1
        self.stats.seconds += time.perf_counter() - started
        return results

    # -- helpers ----------------------------------------------------------------------------------

    def _left_pad(self, sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for i, seq in enumerate(sequences):
            if seq:
                ids[i, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
                mask[i, width - len(seq) :] = 1
        return ids.to(self.device), mask.to(self.device)

    def _bias_tensor(self, rows: list[GenerateRow]) -> torch.Tensor | None:
        if not any(r.logit_bias for r in rows):
            return None
        bias = torch.zeros((len(rows), self.vocab_size), dtype=torch.float32)
        for i, row in enumerate(rows):
            if row.logit_bias:
                index = torch.tensor(list(row.logit_bias.keys()), dtype=torch.long)
                bias[i, index] = torch.tensor(list(row.logit_bias.values()), dtype=torch.float32)
        return bias.to(self.device)


def _common_prefix_length(sequences: list[list[int]]) -> int:
    first, length = sequences[0], min(len(s) for s in sequences)
    for i in range(length):
        token = first[i]
        if any(s[i] != token for s in sequences):
            return i
    return length
