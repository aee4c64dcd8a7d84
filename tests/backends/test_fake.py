from __future__ import annotations

from promptbreeder.backends.base import QueryRequest
from promptbreeder.backends.fake import FakeBackend, Recorder

Q = '"Say {word}: [ANSWER]" where len(TOKENS(ANSWER)) < 5'


def test_replies_cycle_in_order_and_per_name():
    fake = FakeBackend(["one", {"ANSWER": "two"}])
    answers = [r.variables["ANSWER"] for r in fake.run_many([QueryRequest(Q, {"word": "x"})] * 3)]
    assert answers == ["one", "two", "one"]
    named = FakeBackend({"a": ["A1", "A2"], "b": ["B1"]})
    assert named.run(QueryRequest(Q, name="a")).variables["ANSWER"] == "A1"
    assert named.run(QueryRequest(Q, name="b")).variables["ANSWER"] == "B1"
    assert named.run(QueryRequest(Q, name="a")).variables["ANSWER"] == "A2"


def test_prompt_is_rendered_and_tokens_counted():
    result = FakeBackend(["hello there"]).run(QueryRequest(Q, {"word": "hi"}))
    assert result.prompt == "Say hi: hello there"
    assert result.generated_tokens == 2 and result.prompt_tokens == 2


def test_default_and_strict():
    assert FakeBackend(default="?").run(QueryRequest(Q)).variables == {"ANSWER": "?"}
    assert not FakeBackend(strict=True).run_many([QueryRequest(Q)])[0].ok


def test_recorder_transcript_replays(tmp_path):
    source = FakeBackend(responder=lambda r: f"echo {r.inputs['word']}")
    recorder = Recorder(source)
    requests = [QueryRequest(Q, {"word": w}) for w in ("a", "b")]
    recorded = recorder.run_many(requests)
    path = tmp_path / "transcript.jsonl"
    recorder.save(path)
    replay = FakeBackend(transcript=path, strict=True)
    assert [r.variables for r in replay.run_many(requests)] == [r.variables for r in recorded]
    assert requests[0].key() != requests[1].key()
