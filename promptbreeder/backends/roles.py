"""Models per role: the task model answers the fitness questions, the mutation model writes prompts, the
scorer model grades (GEPA's `reflection_lm`, DSPy's `prompt_model` beside its `task_model`).

A query's role follows from its name (`role_of`): the fitness tests (`fitness_*`) are the task model's,
the LLM rubric grader (`rubric_score`, `rubric_reason`) the scorer model's, and every other query, the mutation operators,
initial prompts, hyper-mutations and the HPO and text genomes' proposal queries, the mutation model's.
Text scoring and embeddings (the quality gate, EDA's filter) ask the task model: the prompts are written
for it. `RoleBackend` sends each request to its role's backend; roles that share a model share one
backend, so a run with one model loads it once.
"""

from __future__ import annotations

from promptbreeder.backends.base import Backend, QueryRequest, QueryResult, Usage

ROLES = ("task", "mutation", "scorer")
SCORER_QUERIES = ("rubric_score", "rubric_reason")


def role_of(query_name: str) -> str:
    if query_name.startswith("fitness_"):
        return "task"
    return "scorer" if query_name in SCORER_QUERIES else "mutation"


class RoleBackend(Backend):
    """One backend per role (`backends[role]`, the same object where roles share a model); `models[role]`
    names each role's model for reports. `role_usage` counts what each role's queries cost."""

    name = "roles"

    def __init__(self, backends: dict[str, Backend], models: dict[str, str]):
        super().__init__()
        self.backends, self.models = backends, models
        self.role_usage = {role: Usage() for role in ROLES}

    async def run_batch(self, requests: list[QueryRequest]) -> list[QueryResult]:
        results: list[QueryResult | None] = [None] * len(requests)
        by_backend: dict[int, list[int]] = {}
        for i, request in enumerate(requests):
            by_backend.setdefault(id(self.backends[role_of(request.name)]), []).append(i)
        for indices in by_backend.values():  # one batch per model: a local model batches them together
            backend = self.backends[role_of(requests[indices[0]].name)]
            for i, result in zip(indices, await backend.run_batch([requests[i] for i in indices])):
                results[i] = result
                self.role_usage[role_of(requests[i].name)].record(requests[i], result)
        return results

    @property
    def chat_format(self):
        return self.backends["task"].chat_format

    def count_tokens(self, text: str) -> int:
        return self.backends["task"].count_tokens(text)

    @property
    def can_score_text(self) -> bool:
        return self.backends["task"].can_score_text

    def text_logprobs(self, pairs: list[tuple[str, str]]) -> list[list[float]]:
        return self.backends["task"].text_logprobs(pairs)

    @property
    def can_embed_text(self) -> bool:
        return self.backends["task"].can_embed_text

    def text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.backends["task"].text_embeddings(texts)

    def describe(self) -> str:
        """"task X; mutation Y; scorer Z" (one name where all roles share a model)."""
        if len(set(self.models.values())) == 1:
            return next(iter(self.models.values()))
        return "; ".join(f"{role} {self.models[role]}" for role in ROLES)

    def close(self) -> None:
        super().close()
        for backend in {id(b): b for b in self.backends.values()}.values():
            backend.close()
