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

import threading
import time

import torch

from promptbreeder.backends.hf.heap import HeapTrimmer, freeze_loaded_objects
from promptbreeder.backends.hf.prefix_cache import CachedPrefix, LiveBatch, PrefixCache, shared_prefixes
from promptbreeder.backends.hf.rows import Emit, GenerateRow
from promptbreeder.backends.hf.sampling import BatchSampler
from promptbreeder.backends.hf.stats import EngineStats
from promptbreeder.errors import ModelError

class HFEngine:
    """Owns one model and tokenizer. Thread-safe: one batch at a time runs under `self.lock`."""

    MIN_SHARED_PREFIX = 8  # shorter shared prefixes are not worth an extra forward pass
    LOGITS_BYTES = 128 * 2**20  # the most logits one scoring batch may hold
    ROOM_TO_GENERATE = 64  # spare cache positions after a batch's prompts: a chunk (32) fits without growing
    RETIRE_SHARE = 4  # finished rows leave a generating batch once they are 1/4 of it (0: never)

    def __init__(self, model_dir: str, device: str = "auto", max_batch_size: int = 32, prefix_cache_mb: int = 1024,
                 dtype: str = "auto"):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from promptbreeder.backends.models import offline

        offline()
        self.model_dir = str(model_dir)
        spread = device == "multi-gpu"  # every visible GPU, layers placed by accelerate's device_map="auto"
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device in ("auto", "multi-gpu") else device
        self.max_batch_size = max_batch_size
        self.stats = EngineStats()
        self.lock = threading.Lock()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
            # auto: half precision on a GPU, full on the CPU (where half is slow and bfloat16 is emulated)
            torch_dtype = getattr(torch, dtype) if dtype != "auto" else (
                torch.float16 if self.device.startswith("cuda") else torch.float32)
            if spread and self.device == "cuda":
                self.model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=torch_dtype, device_map="auto")
                self.device = str(self.model.device)  # where inputs go: the first layers' device
            else:
                self.model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=torch_dtype).to(self.device)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load a Hugging Face model from {self.model_dir}: {exc}") from None
        self.model.eval()
        self.stats.model_loads += 1
        eos = self.model.config.eos_token_id
        self.eos_token_id = eos[0] if isinstance(eos, list) else eos
        self.pad_token_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_token_id
        self.vocab_size = self.model.config.vocab_size
        # a sliding-window layer keeps only recent keys, so stored states could not be split per token
        sliding = getattr(self.model.config.get_text_config(decoder=True), "sliding_window", None) and getattr(
            self.model.config, "use_sliding_window", True)
        self.prefix_cache = PrefixCache(0 if sliding else prefix_cache_mb * 2**20)
        self._live: LiveBatch | None = None  # the last batch's cache, kept for LMQL's next call
        self.heap = HeapTrimmer()  # freed buffers of differently sized batches go back to the OS
        freeze_loaded_objects()  # full collections no longer walk the libraries and the weights

    def reset_caches(self) -> None:
        """Forget every computed prompt state: the prefix cache and the last batch's live states (which the
        next call would otherwise continue, and store back into the prefix cache). After this the engine
        computes every prompt token again, as a cold one does: what a benchmark's repeats must start from."""
        with self.lock:
            self._live = None
            self.prefix_cache.clear()

    # -- generation -------------------------------------------------------------------------------

    def attention(self, token_ids: list[int], rows: slice = slice(None)) -> torch.Tensor:
        """Every layer's and head's attention of the tokens `rows` over the tokens up to each:
        (layers, heads, len(rows), n), in float32 on the CPU.

        The batched loop uses SDPA, which computes no weights to return; this one forward pass switches
        the model to eager attention, which does, and back.
        """
        with self.lock:
            previous = self.model.config._attn_implementation
            self.model.set_attn_implementation("eager")
            try:
                with torch.no_grad():
                    out = self.model(input_ids=torch.tensor([token_ids], device=self.device), use_cache=False,
                                     output_attentions=True)
            finally:
                self.model.set_attn_implementation(previous)
        return torch.stack([layer[0, :, rows] for layer in out.attentions]).float().cpu()

    def generate(self, rows: list[GenerateRow], emit: Emit) -> None:
        """Generate for all rows in batches of `max_batch_size`, streaming tokens via `emit`.

        Rows are sorted by prompt so that those sharing a prefix (one unit's fitness questions) share
        a batch and compute that prefix once. When a batch runs out of memory, the batch size halves
        (for the rest of the run) and the batch is tried again.
        """
        rows = sorted(rows, key=lambda r: r.prompt_ids)
        start = 0
        while start < len(rows):
            batch = rows[start : start + self.max_batch_size]
            try:
                self._generate_batch(batch, emit)
            except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
                # out of memory: halve the batch size for the rest of the run and try again (a batch
                # emits nothing until it is done, so nothing is delivered twice)
                if len(batch) == 1 or not is_out_of_memory(exc):
                    raise
                self.max_batch_size = max(1, len(batch) // 2)
                self.stats.oom_halvings += 1
                self._live = None
                continue
            start += len(batch)
        self.heap.maybe_trim()

    @torch.inference_mode()
    def _generate_batch(self, rows: list[GenerateRow], emit: Emit) -> None:
        started = time.perf_counter()
        batch = len(rows)
        prompts = [r.prompt_ids for r in rows]
        cache, step_ids, step_attention, step_positions = self._continue_live(prompts) or self._prefill_inputs(prompts)
        bias = self._bias_tensor(rows)
        generators = [r.generator() if r.temperature > 0 else None for r in rows]
        sampler = BatchSampler([r.sampling() for r in rows], generators, self.device)
        max_tokens = max(r.max_tokens for r in rows)
        top_n = max(max(r.top_logprobs for r in rows), 1)
        done = [False] * batch
        tokens: list[list[int]] = [[] for _ in rows]
        texts = [""] * batch
        events = []
        active = list(range(batch))  # the row behind each row of the cache (finished rows leave it)

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
            in_cache = [rows[i] for i in active]
            if any(r.entropy_sink is not None for r in in_cache):
                entropies = _entropy(logits).tolist()
                for j, i in enumerate(active):
                    if rows[i].entropy_sink is not None and not done[i]:
                        rows[i].entropy_sink.append(entropies[j])
            preferred = logits.argmax(dim=-1) if bias is not None else None  # what the model wants, unmasked
            if bias is not None:
                logits = logits + bias
            # log-probabilities only where LMQL needs them: the chosen token and the top alternatives
            normaliser = torch.logsumexp(logits, dim=-1, keepdim=True)
            chosen = sampler.choose(logits)
            if preferred is not None:
                chosen = self._end_where_the_model_leaves(in_cache, bias, preferred, chosen)
            chosen_logprobs = (logits.gather(-1, chosen[:, None]) - normaliser)[:, 0]
            if top_n == 1 and not sampler.sampled:
                top_values, top_indices = chosen_logprobs[:, None], chosen[:, None]
            else:
                top_logits, top_indices = torch.topk(logits, top_n, dim=-1)
                top_values = top_logits - normaliser

            chosen_list, chosen_lp = chosen.tolist(), chosen_logprobs.tolist()
            top_v, top_i = top_values.tolist(), top_indices.tolist()
            for j, i in enumerate(active):
                if done[i]:
                    continue
                row, token = rows[i], chosen_list[j]
                tokens[i].append(token)
                finish = "stop" if token == self.eos_token_id else ("length" if len(tokens[i]) >= row.max_tokens else None)
                ended = False
                if finish is None and (row.stop_texts or row.end_texts):
                    texts[i] += self.tokenizer.decode([token])
                    ended = any(phrase in texts[i] for phrase in row.end_texts)
                    if ended or any(phrase in texts[i] for phrase in row.stop_texts):
                        finish = "stop"
                n = max(row.top_logprobs, 1)
                events.append((row, {
                    "token": token,
                    "logprob": chosen_lp[j],
                    "top_logprobs": {token: chosen_lp[j], **dict(zip(top_i[j][:n], top_v[j][:n]))},
                    "finish_reason": None if ended else finish,
                }))
                if ended and self.eos_token_id is not None:  # not part of the cache: nothing after it is fed
                    events.append((row, {"token": self.eos_token_id, "logprob": 0.0,
                                         "top_logprobs": {self.eos_token_id: 0.0}, "finish_reason": "stop"}))
                if finish is not None:
                    done[i] = True
            if all(done):
                break
            step_ids = chosen[:, None]
            step_attention = torch.cat([step_attention, step_attention.new_ones(len(active), 1)], dim=-1)
            step_positions = step_positions[:, -1:] + 1
            finished = [j for j, i in enumerate(active) if done[i]]
            if len(finished) * self.RETIRE_SHARE >= len(active):
                # Finished rows would be computed on to the batch's longest answer: retire them (their states go
                # to the prefix cache, where a later call that continues them finds them) and go on without.
                self._remember([rows[active[j]].prompt_ids + tokens[active[j]][:step] for j in finished],
                               cache, step_attention, finished)
                keep = [j for j in range(len(active)) if not done[active[j]]]
                selection = torch.tensor(keep, device=step_attention.device)
                cache.batch_select_indices(selection)
                step_ids, step_attention = step_ids[keep], step_attention[keep]
                step_positions = step_positions[keep]
                bias = bias[keep] if bias is not None else None
                active = [active[j] for j in keep]
                sampler = BatchSampler([rows[i].sampling() for i in active], [generators[i] for i in active],
                                       self.device)
                self.stats.retired_rows += len(finished)

        # the cache holds each prompt and the tokens fed back so far: all but the last step's; a row that
        # finished early was fed filler after its end, which the kept mask hides
        fed = [min(len(tokens[i]), step) for i in active]
        for j, n in enumerate(fed):
            if n < step:
                step_attention[j, step_attention.shape[1] - (step - n):] = 0
        self._live = LiveBatch([rows[i].prompt_ids + tokens[i][:n] for i, n in zip(active, fed)], cache, step_attention)
        # Tokens go out once the batch is done: LMQL checking them on the main thread while the
        # batch computes would compete with torch's threads for the cores, which costs more than it saves.
        emit(events)
        self.stats.generate_calls += 1
        self.stats.rows += batch
        self.stats.longest_request = max(self.stats.longest_request, max_tokens)
        self.stats.prompt_tokens += sum(len(r.prompt_ids) for r in rows)
        self.stats.generated_tokens += sum(len(t) for t in tokens)
        self.stats.seconds += time.perf_counter() - started

    # -- prompt states: computed once, reused across batches and calls ----------------------------

    def _continue_live(self, prompts: list[list[int]]):
        """Inputs that continue the last batch's cache, or None (after retiring it to the prefix cache).

        LMQL asks again with each prompt plus the tokens it accepted, usually for the same queries:
        when every prompt extends a row of the last batch, that batch's cache is used as it is (rows
        selected when some queries have finished) and only the new tokens are computed.
        """
        live, self._live = self._live, None
        if live is None or not self.prefix_cache.max_bytes:
            return None
        picked: list[int] = []
        for prompt in prompts:
            match = next((i for i, tokens in enumerate(live.tokens) if len(prompt) > len(tokens)
                          and i not in picked and prompt[: len(tokens)] == tokens), None)
            if match is None:
                break
            picked.append(match)
        if len(picked) < len(prompts):
            self._remember(live.tokens, live.cache, live.attention)
            return None
        cache, attention = live.cache, live.attention
        if picked != list(range(len(live.tokens))):
            selection = torch.tensor(picked, device=attention.device)
            cache.batch_select_indices(selection)
            attention = attention.index_select(0, selection)
        covered = [len(live.tokens[i]) for i in picked]
        ids, suffix_attention = self._left_pad([p[n:] for p, n in zip(prompts, covered)])
        positions = torch.tensor(covered, device=self.device)[:, None] + (suffix_attention.cumsum(-1) - 1).clamp(min=0)
        self.stats.shared_prefix_tokens += sum(covered)
        return cache, ids, torch.cat([attention, suffix_attention], dim=-1), positions

    def _prefill_inputs(self, prompts: list[list[int]], continuations: list[list[int]] | None = None):
        """Cache and inputs for the first forward pass, computing as few prompt tokens as possible.

        Each prompt starts from the longest prefix the prefix cache holds. Before that, prefixes that
        several prompts of the batch share (a unit's prompt before each fitness question) and that the
        cache does not hold yet are computed once, in one forward pass, and stored. `continuations`
        (scoring) are appended to the inputs after each prompt; they are never taken from the cache.
        """
        rows = prompts if continuations is None else [p + c for p, c in zip(prompts, continuations)]
        if not self.prefix_cache.max_bytes:
            return self._assemble(rows, [(None, 0)] * len(prompts))
        hits = [self.prefix_cache.lookup(p) for p in prompts]
        if len(prompts) > 1:
            prefixes = shared_prefixes(prompts, [n for _, n in hits], self.MIN_SHARED_PREFIX)
            if prefixes:
                cache, ids, attention, positions = self._assemble(prefixes, [self.prefix_cache.lookup(p) for p in prefixes])
                out = self.model(input_ids=ids, attention_mask=attention, position_ids=positions,
                                 past_key_values=cache, use_cache=True, logits_to_keep=1)
                self.stats.forward_passes += 1
                self._remember(prefixes, out.past_key_values, attention)
                hits = [self.prefix_cache.lookup(p) for p in prompts]
        self.stats.shared_prefix_tokens += sum(n for _, n in hits)
        return self._assemble(rows, hits)

    def _assemble(self, prompts: list[list[int]], hits: list[tuple[CachedPrefix | None, int]]):
        """A batch cache of the rows' cached prefixes and inputs of their remaining tokens.

        Layout of row i: [padding | its n_i cached tokens | padding | its remaining tokens]; the
        attention mask hides the padding and positions continue from n_i.
        """
        covered = [n for _, n in hits]
        ids, suffix_attention = self._left_pad([p[n:] for p, n in zip(prompts, covered)])
        suffix_positions = (suffix_attention.cumsum(-1) - 1).clamp(min=0)
        width = max(covered)
        if width == 0:  # the first forward pass fills the layers with the prompts: room for a call's tokens
            return self._new_cache(self.ROOM_TO_GENERATE), ids, suffix_attention, suffix_positions
        reserve = ids.shape[1] + self.ROOM_TO_GENERATE  # room for the rest of the prompts and a call's tokens
        prefix_attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, n in enumerate(covered):
            prefix_attention[i, width - n :] = 1
        reference = next(entry for entry, n in hits if n).layers
        cache = self._new_cache(reserve)
        for layer, (reference_keys, _) in enumerate(reference):
            # written straight into the cache's buffers: no assembled copy beside them
            shape = (len(prompts), reference_keys.shape[0], width + reserve, reference_keys.shape[2])
            keys, values = reference_keys.new_zeros(shape), reference_keys.new_zeros(shape)
            for i, (entry, n) in enumerate(hits):
                if n:
                    entry_keys, entry_values = entry.layers[layer]
                    keys[i, :, width - n : width] = entry_keys[:, :n]
                    values[i, :, width - n : width] = entry_values[:, :n]
            cache.layers[layer].adopt(keys, values, width)
        attention = torch.cat([prefix_attention.to(self.device), suffix_attention], dim=-1)
        positions = torch.tensor(covered, device=self.device)[:, None] + suffix_positions
        return cache, ids, attention, positions

    def _new_cache(self, reserve: int):
        from promptbreeder.backends.hf.kv_cache import growing_cache  # transformers: only once a model runs

        return growing_cache(self.model.config, reserve=reserve)

    def _remember(self, sequences: list[list[int]], cache, attention: torch.Tensor,
                  batch_rows: list[int] | None = None) -> None:
        """Store each row's states: the columns its attention mask keeps, in order, one per token. Sequence k
        is row `batch_rows[k]` of the cache (default: row k)."""
        if not self.prefix_cache.max_bytes or cache is None:
            return
        for k, tokens in enumerate(sequences):
            i = k if batch_rows is None else batch_rows[k]
            columns = attention[i].nonzero()[:, 0][: len(tokens)]
            if len(columns) == len(tokens):
                self.prefix_cache.store(tokens, [(layer.keys[i][:, columns], layer.values[i][:, columns])
                                                 for layer in cache.layers])

    # -- scoring ----------------------------------------------------------------------------------

    @torch.inference_mode()
    def score(self, sequences: list[tuple[list[int], list[int]]]) -> list[list[float]]:
        """Log-probability of each continuation token given its prompt, batched.

        Choice scoring sends one prompt per choice, and one unit's prompt before every question: the
        prompts' shared prefixes are computed once through the prefix cache (as for generation), and
        the vocabulary projection covers only the continuation positions. Both matter on CPU: the
        projection of every prompt position was a fifth of the work, recomputing each prompt per
        choice most of the rest.
        """
        started = time.perf_counter()
        order = sorted(range(len(sequences)), key=lambda i: sequences[i][0])  # shared prompts, one batch
        results: list[list[float] | None] = [None] * len(sequences)
        for picked in self._score_batches(order, sequences):
            chunk = [sequences[i] for i in picked]
            for i, logprobs in zip(picked, self._score_batch(chunk)):
                results[i] = logprobs
        self.stats.score_calls += 1
        self.stats.seconds += time.perf_counter() - started
        self.heap.maybe_trim()
        return results

    def _score_batches(self, order: list[int], sequences: list[tuple[list[int], list[int]]]) -> list[list[int]]:
        """`order` cut into batches of at most `max_batch_size` rows whose logits (rows x longest continuation
        x vocabulary) fit in LOGITS_BYTES: scoring a population's 150-token prompts 16 at a time made ~0.6 GB
        of logits, the largest allocation of a run."""
        batches: list[list[int]] = []
        longest = 0
        for i in order:
            width = len(sequences[i][1]) + 1
            if batches and len(batches[-1]) < self.max_batch_size and (
                    (len(batches[-1]) + 1) * max(longest, width) * self.vocab_size * 4 <= self.LOGITS_BYTES):
                batches[-1].append(i)
                longest = max(longest, width)
            else:
                batches.append([i])
                longest = width
        return batches

    def _score_batch(self, chunk: list[tuple[list[int], list[int]]]) -> list[list[float]]:
        prompts = [list(p) for p, _ in chunk]
        # every cached prefix stops before its prompt's last token, whose logits give the first
        # continuation token's probability
        cache, ids, attention, positions = self._prefill_inputs(prompts, [list(c) for _, c in chunk])
        keep = max(len(c) for _, c in chunk) + 1
        logits = self.model(input_ids=ids, attention_mask=attention, position_ids=positions,
                            past_key_values=cache, use_cache=True, logits_to_keep=keep).logits
        self.stats.forward_passes += 1
        targets = ids[:, ids.shape[1] - keep + 1 :]
        out = []
        for i, (_, c) in enumerate(chunk):  # a row at a time: the batch's log-softmax would double its logits
            if not c:
                out.append([])
                continue
            row = logits[i, keep - 1 - len(c) : keep - 1].float()  # the positions that predict c
            out.append(torch.log_softmax(row, dim=-1).gather(-1, targets[i, -len(c) :, None])[:, 0].tolist())
        return out

    @torch.inference_mode()
    def embed(self, sequences: list[list[int]]) -> list[list[float]]:
        """One vector per token sequence: the mean of the last layer's hidden states over its tokens,
        unit length. (Middle layers are dominated by a few outlier dimensions: every pair of texts is
        >0.99 similar there; the last layer separates paraphrases from different instructions.)"""
        started = time.perf_counter()
        vectors: list[list[float]] = []
        for start in range(0, len(sequences), self.max_batch_size):
            chunk = [s or [self.eos_token_id] for s in sequences[start : start + self.max_batch_size]]
            input_ids, attention = self._left_pad(chunk)
            positions = (attention.cumsum(-1) - 1).clamp(min=0)
            hidden = self.model(input_ids=input_ids, attention_mask=attention, position_ids=positions,
                                output_hidden_states=True).hidden_states[-1].float()
            mask = attention[..., None].float()
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            vectors += torch.nn.functional.normalize(pooled, dim=-1).tolist()
            self.stats.forward_passes += 1
        self.stats.seconds += time.perf_counter() - started
        return vectors

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

    def _end_where_the_model_leaves(self, rows: list[GenerateRow], bias: torch.Tensor, preferred: torch.Tensor,
                                    chosen: torch.Tensor) -> torch.Tensor:
        """A greedy row whose constraint would mask away the token the model wants, where the constraint
        lets the variable end, ends instead (end-of-sequence).

        A number answer (`REGEX(ANSWER, r"-?[0-9]+")`) then ends where the model leaves the number, e.g.
        "94" before the " +" it wanted, instead of being pushed on to more digits ("9400000"); a choice or an
        integer grade likewise. Only greedy rows: a sampled row keeps drawing from the masked
        distribution, so its random stream is what it was. LMQL sends a mask either as +100 on the allowed
        tokens or as -100 on the forbidden ones (lmtp_dcmodel.py).
        """
        if self.eos_token_id is None:
            return chosen
        chosen = chosen.clone()
        for i, row in enumerate(rows):
            if not row.logit_bias or row.temperature > 0:
                continue
            whitelist = any(v > 0 for v in row.logit_bias.values())

            def allowed(token: int) -> bool:
                value = row.logit_bias.get(token, 0.0)
                return value > 0 if whitelist else value >= 0

            if not allowed(int(preferred[i])) and allowed(self.eos_token_id):
                chosen[i] = self.eos_token_id
        return chosen

    def _bias_tensor(self, rows: list[GenerateRow]) -> torch.Tensor | None:
        if not any(r.logit_bias for r in rows):
            return None
        bias = torch.zeros((len(rows), self.vocab_size), dtype=torch.float32)
        for i, row in enumerate(rows):
            if row.logit_bias:
                index = torch.tensor(list(row.logit_bias.keys()), dtype=torch.long)
                bias[i, index] = torch.tensor(list(row.logit_bias.values()), dtype=torch.float32)
        return bias.to(self.device)


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of each row's softmax distribution."""
    logp = torch.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)
