"""The text and code genomes: LLM-guided black-box optimisation of a text or a program.

A unit is one candidate x. Scoring calls the task's `evaluate(x) -> (score, feedback)` once per distinct
candidate (for code, evaluate runs the program only in the sandbox: see `promptbreeder.genomes.text.task`).
Breeding asks the LLM (`optimize_step.lmql`) for an improved candidate: it sees the task, the question,
a bounded window of earlier attempts with their scores and feedback, the candidate to improve and its
feedback; it writes one line of reasoning (kept with the child) and then the whole new candidate. A
reply without a usable candidate is retried once, then the child is a copy. Creation: x0, and for
larger populations LLM improvements of x0 (one backend call).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from promptbreeder.backends.base import Backend, DecoderOptions, QueryRequest
from promptbreeder.config import RunConfig
from promptbreeder.genomes.base import (COPY_OPERATOR, FAILED_FITNESS, Birth, Genome, guarded_call, history_window,
                                       running_best)

Evaluate = Callable[[str], "tuple[float, str]"]
IMPROVE = "llm_improve"
FEEDBACK_CHARS = 600  # feedback shown per attempt: enough for an error's last lines
REPORT_TOP, REPORT_CHARS = 3, 4000  # the best candidates a dashboard shows, and how much of each


@dataclass
class TextUnit:
    id: str
    text: str
    generation: int = 0
    parent: str | None = None
    operator: str | None = None
    reasoning: str = ""
    fitness: float | None = None
    score: float | None = None
    feedback: str = ""
    fitness_history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TextUnit":
        return cls(**data)


class TextGenome(Genome):
    STATE_KEYS = ("evaluations",)

    def __init__(self, config: RunConfig | None, task_description: str, question: str, evaluate: Evaluate, x0: str, *,
                 backend: Backend, query_text: Callable[[str], str], kind: str = "text",
                 decoder: DecoderOptions | None = None, history_window: int = 5, max_solution_tokens: int = 512,
                 stop_score: float | None = None, sandbox: str | None = None):
        self.sandbox = sandbox  # code: the isolation its candidates run under ("bubblewrap" or "weak: why")
        self.config, self.task_description, self.question = config, task_description, question
        self.evaluate, self.x0, self.backend, self.query_text = evaluate, x0, backend, query_text
        self.kind = kind
        self.fence = "python" if kind == "code" else "text"
        self.decoder = decoder or DecoderOptions.parse("sample(temperature=0.7)")
        self.history_window, self.max_solution_tokens = history_window, max_solution_tokens
        self.stop_score = stop_score  # a score at which the search is done
        self.evaluations: list[dict[str, Any]] = []  # {"text", "score", "feedback", "unit", "reasoning"}
        self._known: dict[str, tuple[float, str]] = {}

    # -- the genome contract ------------------------------------------------------------------------

    def create(self, ids: list[str], rng: random.Random) -> tuple[list[TextUnit], list[tuple[str, dict]]]:
        first = TextUnit(id=ids[0], text=self.x0, operator="x0")
        if len(ids) == 1:
            return [first], []
        seed = TextUnit(id="", text=self.x0, feedback="not evaluated yet")
        replies = self.backend.run_many([self._request(seed, rng) for _ in ids[1:]])
        units, events = [first], []
        for unit_id, reply in zip(ids[1:], replies):
            text, reasoning = self._solution(reply)
            if text is None:
                events.append(("init_failed", {"unit": unit_id}))
                text, reasoning = self.x0, ""
            units.append(TextUnit(id=unit_id, text=text, operator="init", reasoning=reasoning))
        return units, events

    def draw_batch(self, rng: random.Random) -> None:
        return None

    def score(self, groups: list[tuple[list[TextUnit], Any]], generation: int) -> None:
        for units, _ in groups:
            for unit in units:
                if unit.text not in self._known:
                    score, feedback = self._evaluate(unit.text)
                    self._known[unit.text] = (score, feedback)
                    self.evaluations.append({"text": unit.text, "score": score, "feedback": feedback,
                                             "unit": unit.id, "reasoning": unit.reasoning})
                unit.score, unit.feedback = self._known[unit.text]
                unit.fitness = unit.score
                unit.fitness_history.append({"generation": generation, "fitness": unit.fitness})

    def _evaluate(self, text: str) -> tuple[float, str]:
        """`evaluate(text)`, or the worst score with the reason as feedback when it raised or returned garbage."""
        outcome, error = guarded_call(self.evaluate, text, "the evaluator")
        if error is None:
            try:
                score, feedback = outcome
                score = float(score)
            except (TypeError, ValueError):
                error = f"the evaluator returned {outcome!r:.80}, expected (score, feedback)"
            else:
                error = "the evaluator returned a nan score" if score != score else None
        return (score, str(feedback)) if error is None else (FAILED_FITNESS, error)

    def breed(self, winners: list[TextUnit], population: list[TextUnit], generation: int,
              new_id: Callable[[], str], rng: random.Random) -> list[Birth]:
        children: list[tuple[str, str] | None] = [None] * len(winners)
        attempts = [0] * len(winners)
        todo = list(range(len(winners)))
        for _ in range(2):  # a reply without a candidate is asked again once
            if not todo:
                break
            replies = self.backend.run_many([self._request(winners[i], rng) for i in todo])
            for i, reply in zip(todo, replies):
                attempts[i] += 1
                text, reasoning = self._solution(reply)
                children[i] = None if text is None else (text, reasoning)
            todo = [i for i in todo if children[i] is None]
        births = []
        for winner, made, tries in zip(winners, children, attempts):
            operator = IMPROVE if made is not None else COPY_OPERATOR
            text, reasoning = made if made is not None else (winner.text, "")
            child = TextUnit(id=new_id(), text=text, generation=generation, parent=winner.id, operator=operator,
                             reasoning=reasoning)
            births.append(Birth(winner, child, operator, tried=[IMPROVE] * tries))
        return births

    def report(self, population: Sequence[TextUnit], generation: int) -> dict[str, Any]:
        # the last generation's children meet no tournament: evaluate them (copies; the state is saved)
        self.score([([TextUnit.from_dict(u.to_dict()) for u in population if u.fitness is None], None)], generation)
        best = max(self.evaluations, key=lambda e: e["score"], default=None)
        curve = running_best([e["score"] for e in self.evaluations])
        top = sorted(self.evaluations, key=lambda e: -e["score"])[:REPORT_TOP]
        return {"genome": self.kind, "evaluations": len(self.evaluations), "best": best, "best_so_far": curve,
                "top": top} | ({"sandbox": self.sandbox} if self.sandbox else {})

    def format_report(self, report: dict[str, Any]) -> str:
        return format_report(report)

    def stand_in_objective(self, score: Callable[[str], float]) -> Callable[[], None]:
        real = self.evaluate
        self.evaluate = lambda text: (score(text), "stand-in")
        return lambda: real(self.evaluations[0]["text"]) if self.evaluations else None

    def report_rows(self, report: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"name": f"unit {e['unit']}", "prompt": e["text"][:REPORT_CHARS], "score": e["score"]}
                for e in report.get("top", [])]

    def individual_from_dict(self, data: dict[str, Any]) -> TextUnit:
        return TextUnit.from_dict(data)

    def target_reached(self) -> str | None:
        best = self.best_score()
        if self.stop_score is None or best is None or best < self.stop_score:
            return None
        return f"stop_score {self.stop_score:g} reached (best {best:g})"

    def metric_calls(self) -> int:
        return len(self.evaluations)

    def best_score(self) -> float | None:
        return max((e["score"] for e in self.evaluations), default=None)

    def label(self, unit: TextUnit) -> str:
        first = unit.text.strip().splitlines()[0] if unit.text.strip() else ""
        return first[:100] + (" …" if len(unit.text.strip().splitlines()) > 1 or len(first) > 100 else "")

    def state(self) -> dict[str, Any]:
        return {"evaluations": [dict(e) for e in self.evaluations]}

    def load_state(self, state: dict[str, Any]) -> None:
        self.evaluations = [dict(e) for e in state["evaluations"]]
        self._known = {e["text"]: (float(e["score"]), e["feedback"]) for e in self.evaluations}

    # -- queries ------------------------------------------------------------------------------------

    def history(self) -> str:
        """The best attempts and the latest ones, at most `history_window`, with score and feedback."""
        if not self.evaluations:
            return "No attempt has been scored yet."
        shown = history_window(self.evaluations, self.history_window)
        lines = ["Earlier attempts (score, higher is better):"]
        for e in sorted(shown, key=lambda e: e["score"]):
            score = f"{e['score']:.4f}" if e["score"] != FAILED_FITNESS else "failed"
            lines.append(f"--- score {score}; feedback: {e['feedback'][:FEEDBACK_CHARS]}\n"
                         f"```{self.fence}\n{e['text']}\n```")
        return "\n".join(lines)

    def _request(self, unit: TextUnit, rng: random.Random) -> QueryRequest:
        inputs = {"task_description": self.task_description, "question": self.question, "history": self.history(),
                  "current": unit.text, "feedback": (unit.feedback or "none")[:FEEDBACK_CHARS], "fence": self.fence,
                  "max_solution_tokens": self.max_solution_tokens}
        return QueryRequest(query=self.query_text("optimize_step"), inputs=inputs, decoder=self.decoder,
                            seed=rng.randrange(2**31), name="optimize_step")

    @staticmethod
    def _solution(reply) -> tuple[str | None, str]:
        if not reply.ok:
            return None, ""
        text = reply.variables.get("SOLUTION", "").strip("\n")
        return (text if text.strip() else None), reply.variables.get("REASONING", "").strip()


def format_report(report: dict[str, Any]) -> str:
    """The end-of-run text of report.json: the best candidate, its score and its feedback."""
    best = report["best"]
    if best is None:
        return "nothing was evaluated"
    sandbox = report.get("sandbox", "")
    warning = f"\nsandbox: {sandbox} (the candidates were NOT isolated from this machine)" \
        if sandbox.startswith("weak") else ""
    return (f"{report['evaluations']} candidates evaluated; best {best['score']:.4f} ({best['unit']}):\n"
            f"{best['text']}\nfeedback: {best['feedback']}{warning}")
