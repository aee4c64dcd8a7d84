"""An LMTP client for LMQL whose tokens come from an OpenAI-compatible completions endpoint.

LMQL asks its model for the next `max_tokens` tokens after a prompt of token ids. This client writes the
ids back as text (the served model's own tokenizer, on the client), asks the server's `/completions` for
that many tokens, and hands LMQL the reply's tokens. The server needs no token ids, log-probabilities or
logit bias, so every OpenAI-compatible server works; constraints that need a mask while decoding are
checked on the client instead (constraints.py). LMQL never sends this client a mask for the queries the
backend rewrites, except end-of-sequence at a token limit, which LMQL resolves itself.

Stop phrases are not sent to the server: servers differ in whether the phrase comes back, and LMQL must
see it to end the variable. A chunk runs to its token count or the model's end-of-sequence instead.
"""

from __future__ import annotations

import json

from promptbreeder.backends.lmql.lmtp_inprocess import CURRENT_SEED
from promptbreeder.backends.server.http import ServerClient, ServerError


class ServerLMTPClient:
    def __init__(self, client: ServerClient, tokenizer, model_identifier: str, dialect: str = "openai"):
        self.client, self.tokenizer, self.model_identifier = client, tokenizer, model_identifier
        self.dialect = dialect
        self.eos_token_id = tokenizer.eos_token_id
        # LMQL puts the beginning-of-sequence token first; a tokenizer that adds it by itself would get
        # it twice from the server, so the prompt text leaves it out then
        bos = tokenizer.bos_token_id
        self._drop_bos = bos is not None and tokenizer("a").input_ids[:1] == [bos]
        self.bos_token_id = bos

    def ref(self):
        return self

    async def close(self):
        """LMQL closes clients when a query ends; the connection pool lives as long as the backend."""

    async def request(self, name, payload):
        return {"model_info": {"model": self.model_identifier, "engine": "openai-compatible server"}}

    async def generate(self, prompt, max_tokens=32, temperature=0.0, logit_bias=None, top_logprobs=1, **kwargs):
        bias = {int(k): float(v) for k, v in (logit_bias or {}).items()}
        if bias and min(bias.values()) > 0 and set(bias) != {self.eos_token_id}:
            raise ServerError("this query needs a token mask while decoding, which a text-completion server"
                              " cannot apply; its constraint should have been checked on the client")
        if bias and min(bias.values()) > 0:  # only end-of-sequence allowed: the variable is at its limit
            yield {"token": self.eos_token_id, "logprob": 0.0, "top_logprobs": {self.eos_token_id: 0.0},
                   "finish_reason": "stop"}
            return
        ids = [int(t) for t in prompt]
        if self._drop_bos and ids[:1] == [self.bos_token_id]:
            ids = ids[1:]
        body = {"prompt": self.tokenizer.decode(ids, skip_special_tokens=False), "max_tokens": int(max_tokens),
                "temperature": float(temperature or 0.0), "seed": CURRENT_SEED.get()}
        sampling = {name: kwargs[name] for name in ("top_p", "top_k") if kwargs.get(name) is not None}
        if self.dialect == "transformers-serve":  # it samples only when a generation config says so
            if body["temperature"] > 0:
                body["generation_config"] = json.dumps({"do_sample": True, "temperature": body["temperature"],
                                                        **sampling})
        else:  # top_k is not OpenAI's, but vLLM, SGLang and llama.cpp read it
            body.update(sampling)
        reply = (await self.client.complete(body))["choices"][0]
        tokens = self.tokenizer(reply["text"], add_special_tokens=False).input_ids
        ended = reply.get("finish_reason") == "stop"  # end-of-sequence: no stop phrases were sent
        for i, token in enumerate(tokens):
            last = i == len(tokens) - 1 and not ended
            yield {"token": int(token), "logprob": 0.0, "top_logprobs": {int(token): 0.0},
                   "finish_reason": "length" if last else None}
        if ended or not tokens:
            yield {"token": self.eos_token_id, "logprob": 0.0, "top_logprobs": {self.eos_token_id: 0.0},
                   "finish_reason": "stop"}

    async def score(self, prompt, scored_prompt, **kwargs):
        raise ServerError("scoring text needs log-probabilities, which this server backend does not ask for;"
                          " choice tasks are answered by generation on servers")
        yield  # pragma: no cover - makes this an async generator like LMTP's
