"""What turns prompts into answers for the tuner: a Hugging Face model + tokenizer, or any promptbreeder backend.

Both take the same `GenerationParams`; each applies all it can and refuses (UsageError) a parameter it
cannot apply rather than ignoring it, so a search never compares configurations that silently ran alike.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteriaList

from promptbreeder.backends.base import Backend, DecoderOptions, QueryRequest, cut_at_stops
from promptbreeder.backends.hf.engine import is_out_of_memory
from promptbreeder.backends.hf.sampling import tail_free, top_a
from promptbreeder.errors import UsageError
from promptbreeder.tuning.params import GenerationParams
from promptbreeder.tuning.stopping import StopStringsCriteria

ANSWER = "ANSWER"
COMPLETION_QUERY = '"{prompt}[ANSWER]" where len(TOKENS(ANSWER)) < answer_max_tokens'
CHAT_QUERY = '"{:user}{prompt}{:assistant}[ANSWER]" where len(TOKENS(ANSWER)) < answer_max_tokens'


class TailFreeTopA(LogitsProcessor):
    """tfs and top-a for `model.generate` (which has neither), the same filters our engine applies.

    `generate` runs custom processors after its own temperature, top-k and top-p warpers: the same order
    as the engine's sampler (temperature, top_k, top_p, tfs, top_a)."""

    def __init__(self, tfs: float, top_a: float):
        self.tfs, self.top_a = tfs, top_a

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.tfs < 1:
            scores = tail_free(scores, self.tfs)
        if self.top_a > 0:
            scores = top_a(scores, self.top_a)
        return scores


class HFGenerator:
    """Batched `model.generate` with left padding, prompts sorted by length, and the batch size halved
    (until the tuner's next fit) whenever a batch runs out of memory."""

    def __init__(self, model, tokenizer, batch_size: int, encode_args: dict[str, Any] | None = None,
                 decode_args: dict[str, Any] | None = None, chat: bool = False):
        if tokenizer is None:
            raise UsageError("GenerationTuner: a Hugging Face model needs its tokenizer (tokenizer=...)")
        self.model, self.tokenizer = model, tokenizer
        self.batch_size = batch_size
        self.encode_args = dict(encode_args or {})
        self.decode_args = {"skip_special_tokens": True, **(decode_args or {})}
        self.chat = chat
        self.oom_halvings = 0

    def generate(self, prompts: Sequence[str], params: GenerationParams, stop: tuple[str, ...],
                 criteria: Sequence, callbacks: Sequence[Callable[[], Any]]) -> list[str]:
        if self.chat:  # each prompt is the user's turn of a chat in the model's own template
            prompts = [self.tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                                          add_generation_prompt=True) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # less padding per batch
        answers: list[str] = [""] * len(prompts)
        device = self.model.device
        # the seed decides the draws without touching the caller's own random state
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(int(params.seed))
            start = 0
            while start < len(order):
                batch = order[start : start + self.batch_size]
                try:
                    texts = self._generate_batch([prompts[i] for i in batch], params, stop, criteria)
                except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
                    if len(batch) == 1 or not is_out_of_memory(exc):
                        raise
                    self.batch_size = max(1, len(batch) // 2)
                    self.oom_halvings += 1
                    continue
                finally:
                    for callback in callbacks:
                        callback()
                for i, text in zip(batch, texts):
                    answers[i] = text
                start += len(batch)
        return answers

    @torch.inference_mode()
    def _generate_batch(self, prompts: list[str], params: GenerationParams, stop: tuple[str, ...],
                        criteria: Sequence) -> list[str]:
        for criterion in criteria:  # a criterion that keeps state per call starts afresh
            if hasattr(criterion, "reset"):
                criterion.reset()
        encoded = self.tokenizer(list(prompts), return_tensors="pt", padding=True, padding_side="left",
                                 **self.encode_args).to(self.model.device)
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.model.generation_config.eos_token_id
            pad = pad[0] if isinstance(pad, (list, tuple)) else pad
        options: dict[str, Any] = dict(
            max_new_tokens=int(params.max_new_tokens), num_beams=int(params.num_beams),
            repetition_penalty=float(params.repetition_penalty),
            no_repeat_ngram_size=int(params.no_repeat_ngram_size), do_sample=params.sampling, pad_token_id=pad)
        if params.sampling:
            options.update(temperature=float(params.temperature), top_k=int(params.top_k), top_p=float(params.top_p))
            if params.tfs < 1 or params.top_a > 0:
                options["logits_processor"] = LogitsProcessorList([TailFreeTopA(params.tfs, params.top_a)])
        else:  # greedy: the model's own sampling defaults (if it has any) must not leak in
            options.update(temperature=None, top_k=None, top_p=None)
        criteria = [*criteria, *([StopStringsCriteria(self.tokenizer, stop)] if stop else [])]
        if criteria:
            options["stopping_criteria"] = StoppingCriteriaList(criteria)
        output = self.model.generate(**encoded, **options)
        new_tokens = output[:, encoded["input_ids"].shape[1]:]
        texts = self.tokenizer.batch_decode(new_tokens, **self.decode_args)
        return [cut_at_stops({ANSWER: text}, stop)[ANSWER] for text in texts]


class BackendGenerator:
    """Any promptbreeder backend (the embedded model through LMQL, an OpenAI-compatible server, the fake
    backend): one completion query per prompt, all sent at once, decoded with the backend's own sampler."""

    supported = frozenset({"temperature", "top_k", "top_p", "tfs", "top_a"})

    def __init__(self, backend: Backend, chat: bool = False):
        self.backend = backend
        self.query = CHAT_QUERY if chat else COMPLETION_QUERY
        self.failures = 0  # queries the backend could not answer (scored as empty answers)

    def generate(self, prompts: Sequence[str], params: GenerationParams, stop: tuple[str, ...],
                 criteria: Sequence, callbacks: Sequence[Callable[[], Any]]) -> list[str]:
        unsupported = sorted(set(params.changed()) - self.supported)
        if unsupported:
            raise UsageError(
                f"GenerationTuner: the {self.backend.name} backend cannot apply {', '.join(unsupported)}; it applies"
                f" {', '.join(sorted(self.supported | {'max_new_tokens', 'seed'}))} (pass model= and tokenizer="
                " for the others)")
        if criteria:
            raise UsageError("GenerationTuner: stopping_criteria (token ids) need model= and tokenizer=; "
                             "with a backend, stop at text with stop=[...]")
        decoder = DecoderOptions.from_settings(params.temperature, params.top_k, params.top_p, params.tfs,
                                               params.top_a, stop=stop)
        requests = [QueryRequest(query=self.query, name="tuner", decoder=decoder, seed=int(params.seed),
                                 inputs={"prompt": prompt, "answer_max_tokens": int(params.max_new_tokens) + 1})
                    for prompt in prompts]
        results = self.backend.run_many(requests)
        for callback in callbacks:
            callback()
        self.failures += sum(not r.ok for r in results)
        return [r.variables.get(ANSWER, "") if r.ok else "" for r in results]
