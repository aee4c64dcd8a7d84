"""LMQL backend running a Hugging Face model in this process (CPU, or GPU when present).

Queries are compiled once per (decoder, query text) and run concurrently on one event loop;
`client_batch_size` bounds how many are in flight and `server_batch_size` how many rows one
generate call takes. The model sits behind `InProcessLMTPClient`, which batches the calls of
all in-flight queries.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from promptbreeder.backends import models
from promptbreeder.backends.lmql import fixes as lmql_fixes
from promptbreeder.backends.chat import ChatFormat
from promptbreeder.backends.base import (Backend, QueryRequest, QueryResult, cut_at_stops, longest_hole, query_holes,
                                         stop_phrases)
from promptbreeder.backends.hf.engine import HFEngine
from promptbreeder.backends.lmql.lmtp_inprocess import (CURRENT_SEED, END_TEXTS, ENGINE_SAMPLING, ENTROPY_SINK,
                                                   HOLE_BUDGET, STOP_HINTS, HoleBudget, InProcessLMTPClient,
                                                   StopHints, track_variable_stops)
from promptbreeder.errors import ModelError
from promptbreeder.store.atomic import write_json_atomic, write_npz_atomic


class LMQLBackend(Backend):
    """Runs queries through LMQL against `self.model` (an `lmql.LLM`); subclasses provide the model."""

    name = "lmql"
    # whether the model is our HFEngine, which reads tfs/top_a from ENGINE_SAMPLING; LMQL's own
    # models would silently sample without them
    engine_sampling = False
    calculate_entropy = False  # per-step next-token entropy into QueryResult.entropy (our engine only)

    def __init__(self, model, *, chat_format: ChatFormat | None = None, client_batch_size: int = 16,
                 chunk_size: int = 32, is_async: bool = True):
        super().__init__()
        models.offline()
        lmql_fixes.apply()
        track_variable_stops()
        self.model = model
        # how role tags become the model's chat markers (see backends/chat.py)
        self.chat_format = chat_format or ChatFormat.chatml()
        self.chunk_size = chunk_size
        # without is_async, queries run one at a time (easier to follow in a debugger)
        self.concurrency = client_batch_size if is_async else 1
        self._compiled: dict[str, object] = {}

    @classmethod
    def from_model_string(cls, model_string: str, **options) -> "LMQLBackend":
        """Any model LMQL itself knows (`openai/...`, `random`, `local:<hub name>`, ...)."""
        import lmql

        models.offline()
        _check_tokenizer_offline(model_string)
        lmql_fixes.apply()
        return cls(lmql.model(model_string), **options)

    def _query_function(self, request: QueryRequest):
        decoder = request.decoder.to_lmql(engine_options=False)  # LMQL rejects tfs/top_a; see _run_one
        decoder = decoder[:-1] + f", chunksize={self.chunk_size})" if decoder.endswith(")") else f"{decoder}(chunksize={self.chunk_size})"
        text = f"{decoder}\n{self.chat_format.render(request.query, request.name or 'query').strip()}\n"
        if text not in self._compiled:
            from lmql.api.queries import query_from_string

            self._compiled[text] = query_from_string(text)
        return self._compiled[text]

    def _filled_holes(self, request: QueryRequest) -> list[str]:
        """The holes every result has (empty where the query's control flow skipped them)."""
        return query_holes(request.query)

    async def run_batch(self, requests: list[QueryRequest]) -> list[QueryResult]:
        gate = asyncio.Semaphore(self.concurrency)

        async def guarded(request):
            async with gate:
                return await self._run_one(request)

        return list(await asyncio.gather(*(guarded(r) for r in requests)))

    async def _run_one(self, request: QueryRequest) -> QueryResult:
        return await self._run_on(request, self.model)

    async def _run_on(self, request: QueryRequest, model) -> QueryResult:
        """`request` through LMQL on `model`; every failure becomes an error result."""
        started = time.perf_counter()
        CURRENT_SEED.set(request.seed if request.seed is not None else 0)
        STOP_HINTS.set(StopHints(stop_phrases(request.query)))
        limit = longest_hole(request.query, request.inputs)
        HOLE_BUDGET.set(None if limit is None else HoleBudget(limit))
        END_TEXTS.set(request.decoder.stop)
        sink: list | None = [] if self.calculate_entropy else None
        ENTROPY_SINK.set(sink)
        extra = request.decoder.engine_options()
        if extra and not self.engine_sampling:
            return QueryResult(variables={name: "" for name in query_holes(request.query)},
                               error=f"decoder option(s) {', '.join(extra)} need the lmql-local backend",
                               seconds=time.perf_counter() - started)
        ENGINE_SAMPLING.set(extra)
        try:
            function = self._query_function(request)
            result = await function(model=model, **request.inputs)
        except Exception as exc:  # LMQL raises many types; a failed query must not sink the batch
            return QueryResult(variables={name: "" for name in query_holes(request.query)},
                               error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - started)
        if isinstance(result, list):  # sample(n>1) and beam return several results, best first
            if not result:
                return QueryResult(variables={name: "" for name in query_holes(request.query)},
                                   error="LMQL returned no result", seconds=time.perf_counter() - started)
            result = result[0]
        variables = {name: "" if value is None else str(value) for name, value in result.variables.items()
                     if "P(" not in name}
        for name in self._filled_holes(request):
            variables.setdefault(name, "")
        generated = sum(self.count_tokens(v) for v in variables.values())  # what was generated, stops included
        variables = cut_at_stops(variables, request.decoder.stop)
        return QueryResult(variables=variables, prompt=result.prompt,
                           prompt_tokens=max(self.count_tokens(result.prompt) - generated, 0),
                           generated_tokens=generated, seconds=time.perf_counter() - started, entropy=sink or [])


ATTENTION_LIMIT = 4  # answers whose attention is saved, per query name and run process


class LMQLLocalBackend(LMQLBackend):
    """LMQL on a local Hugging Face folder, computed by our batched `HFEngine` in this process."""

    name = "lmql-local"
    engine_sampling = True
    _attention: dict | None = None  # what capture_attention asked for

    def __init__(self, model_dir: str, *, chat_format: ChatFormat | None = None, device: str = "auto",
                 client_batch_size: int = 32, server_batch_size: int = 32, chunk_size: int = 32,
                 is_async: bool = True, calculate_entropy: bool = False, dtype: str = "auto"):
        models.offline()
        self.calculate_entropy = calculate_entropy
        self.model_dir = str(model_dir)
        self.engine = HFEngine(self.model_dir, device=device, max_batch_size=server_batch_size, dtype=dtype)
        self.client = InProcessLMTPClient(self.engine, self.model_dir)
        super().__init__(self._lmql_model(),
                         chat_format=chat_format or ChatFormat.from_tokenizer(self.engine.tokenizer, self.model_dir),
                         client_batch_size=client_batch_size, chunk_size=chunk_size, is_async=is_async)

    def _lmql_model(self):
        import lmql
        from lmql.models.lmtp.lmtp_dcmodel import lmtp_model

        factory = lmtp_model(self.model_dir, inprocess=True, tokenizer=self.model_dir)
        # every query of this backend shares our one client (and so one loaded model)
        factory.inprocess_client_constructor_factory = lambda identifier, **kwargs: self.client
        adapter = factory()
        return lmql.LLM(self.model_dir, adapter=adapter, configuration={})

    async def _run_one(self, request: QueryRequest) -> QueryResult:
        self.client.active_queries += 1  # lets the client batch every query that is in flight
        try:
            return await super()._run_one(request)
        finally:
            self.client.active_queries -= 1

    def count_tokens(self, text: str) -> int:
        return len(self.engine.tokenizer(text, add_special_tokens=False).input_ids)

    can_score_text = True

    def text_logprobs(self, pairs: list[tuple[str, str]]) -> list[list[float]]:
        tokenize = self.engine.tokenizer
        sequences = [(tokenize(context, add_special_tokens=False).input_ids,
                      tokenize(text, add_special_tokens=False).input_ids) for context, text in pairs]
        return self.client.run_in_engine_thread(self.engine.score, sequences) if sequences else []

    can_embed_text = True

    def text_embeddings(self, texts: list[str]) -> list[list[float]]:
        sequences = [self.engine.tokenizer(t, add_special_tokens=False).input_ids for t in texts]
        return self.client.run_in_engine_thread(self.engine.embed, sequences) if sequences else []

    # -- return_attention -------------------------------------------------------------------------

    def capture_attention(self, names, folder: Path, limit: int = ATTENTION_LIMIT) -> None:
        """Save the attention of the first `limit` answers of each query named in `names` into `folder`."""
        # a continued run numbers its records after the ones already there
        self._attention = {"names": set(names), "folder": Path(folder), "limit": limit,
                           "taken": {n: 0 for n in names},
                           "offset": {n: len(list(Path(folder).glob(f"{n}_*.json"))) for n in names}}

    async def _run_on(self, request: QueryRequest, model) -> QueryResult:
        result = await super()._run_on(request, model)
        wanted = self._attention
        if wanted and result.ok and request.name in wanted["names"] and wanted["taken"][request.name] < wanted["limit"]:
            wanted["taken"][request.name] += 1
            index = wanted["offset"][request.name] + wanted["taken"][request.name]
            try:
                await asyncio.get_running_loop().run_in_executor(None, self._save_attention, request, result, index)
            except Exception as exc:  # introspection must never cost the query its answer
                print(f"promptbreeder: attention of {request.name} not saved: {type(exc).__name__}: {exc}",
                      file=sys.stderr)
        return result

    def _save_attention(self, request: QueryRequest, result: QueryResult, index: int) -> None:
        """One record: the tokens, where the answer starts, and for each answer token the attention of the
        position that predicted it (the one before) over the tokens up to that position: in the JSON the
        last layer's, averaged over heads; in the `.npz` beside it (`layers_file`) every layer's and head's,
        float16, (layers, heads, answer tokens, tokens)."""
        tokenizer = self.engine.tokenizer
        ids = tokenizer(result.prompt, add_special_tokens=False).input_ids
        holes = [h for h in query_holes(request.query) if result.variables.get(h)]
        answer = result.variables[holes[-1]] if holes else ""
        prefix = result.prompt[: len(result.prompt) - len(answer)] if answer and result.prompt.endswith(answer) \
            else result.prompt
        start = max(1, min(len(tokenizer(prefix, add_special_tokens=False).input_ids), len(ids) - 1))
        every = self.engine.attention(ids, slice(start - 1, len(ids) - 1))
        weights = every[-1].mean(dim=0)
        name = f"{request.name}_{index:03d}"
        record = {"query": request.name, "seed": request.seed, "answer_variable": holes[-1] if holes else None,
                  "tokens": [tokenizer.decode([t]) for t in ids], "answer_start": start,
                  "weights": [[round(float(w), 5) for w in row] for row in weights],
                  "layers": every.shape[0], "heads": every.shape[1], "layers_file": f"{name}.npz"}
        folder = self._attention["folder"]
        folder.mkdir(parents=True, exist_ok=True)
        # the arrays first: a record names its .npz only once that is whole
        write_npz_atomic(folder / record["layers_file"], attention=every.half().numpy())
        write_json_atomic(folder / f"{name}.json", record)

    def close(self) -> None:
        super().close()  # cancels the dispatcher task with the loop
        self.client.shutdown()


def _check_tokenizer_offline(model_string: str) -> None:
    """Fail fast where LMQL would look for a tokenizer on the network (and retry for a minute)."""
    if model_string.startswith(("openai/", "replicate:", "llama.cpp:")):
        return  # remote APIs by the user's choice, or llama.cpp with its own tokenizer file
    tokenizer = "gpt2" if model_string == "random" else model_string.removeprefix("local:")
    from transformers import AutoTokenizer

    try:
        AutoTokenizer.from_pretrained(tokenizer, local_files_only=True)
    except Exception:  # transformers raises OSError or ValueError depending on what is missing
        raise ModelError(
            f"LMQL model {model_string!r} needs the tokenizer {tokenizer!r}, which is not on this machine and"
            f" nothing is downloaded at run time; {models.ACCEPTED_FORMS_HINT}"
        ) from None
