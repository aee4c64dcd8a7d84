"""The OpenAI-compatible client's error handling, against a scripted HTTP server on 127.0.0.1.

(The real-server test is tests/integration/test_openai_server.py, with `transformers serve`.)
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from promptbreeder.backends.server.http import ServerClient, ServerError, ServerUnavailable
from promptbreeder.errors import ModelError

COMPLETION = {"choices": [{"text": " 5", "finish_reason": "stop"}], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}
MODELS = {"object": "list", "data": [{"id": "tiny", "object": "model"}]}


@pytest.fixture
def server():
    """A server answering each request with the next (status, body) of `script` (the last one repeats)."""
    script: list[tuple[int, object]] = []
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            seen.append({"path": self.path, "body": body, "auth": self.headers.get("authorization")})
            status, answer = script.pop(0) if len(script) > 1 else script[0]
            data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", script, seen
    httpd.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def complete(client: ServerClient, body: dict):
    async def go():
        try:
            return await client.complete(body)
        finally:
            await client.aclose()
    return asyncio.run(go())


def test_a_completion_carries_the_model_and_key_and_counts_the_servers_usage(server, monkeypatch):
    url, script, seen = server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    script.append((200, COMPLETION))
    client = ServerClient([url], "tiny")
    assert complete(client, {"prompt": "2+3=", "max_tokens": 2})["choices"][0]["text"] == " 5"
    assert seen[0]["path"] == "/v1/completions" and seen[0]["body"]["model"] == "tiny"
    assert seen[0]["auth"] == "Bearer sk-test"
    assert (client.usage.requests, client.usage.prompt_tokens, client.usage.completion_tokens) == (1, 9, 2)
    assert client.usage.cost is None  # this server does not say what a request cost
    script[:] = [(200, {**COMPLETION, "usage": {"prompt_tokens": 9, "completion_tokens": 2, "cost": 0.0004}})]
    complete(client, {"prompt": "2+3="})
    complete(client, {"prompt": "2+4="})
    assert client.usage.cost == pytest.approx(0.0008) and client.usage.requests == 3


def test_busy_and_failing_answers_are_retried_with_backoff(server):
    url, script, seen = server
    script += [(429, {"error": {"message": "slow down"}}), (503, {"detail": "loading"}), (200, COMPLETION)]
    client = ServerClient([url], "tiny", backoff=0.01)
    assert complete(client, {"prompt": "x"})["choices"][0]["text"] == " 5"
    assert len(seen) == 3 and client.usage.retries == 2


def test_a_server_that_keeps_failing_is_unavailable_and_a_refused_request_is_an_error_at_once(server):
    url, script, seen = server
    script.append((500, {"detail": "boom"}))
    with pytest.raises(ServerUnavailable, match=r"no answer after 3 tries .*completions: 500 boom"):
        complete(ServerClient([url], "tiny", backoff=0.01, max_retries=2), {"prompt": "x"})
    script[:] = [(400, {"error": {"message": "unexpected field 'logit_bias'"}})]
    with pytest.raises(ServerError, match="answered 400: unexpected field 'logit_bias'"):
        complete(ServerClient([url], "tiny", backoff=0.01), {"prompt": "x"})
    script[:] = [(200, b"<html>not json</html>")]
    with pytest.raises(ServerError, match="not an OpenAI completion: '<html>not json"):
        complete(ServerClient([url], "tiny"), {"prompt": "x"})


def test_a_dead_base_url_is_skipped_for_a_live_one(server):
    url, script, seen = server
    script.append((200, COMPLETION))
    client = ServerClient([f"http://127.0.0.1:{free_port()}/v1", url], "tiny", backoff=0.01)
    assert complete(client, {"prompt": "x"})["choices"][0]["text"] == " 5"
    assert client.usage.by_url == {f"{url}/completions": 1}


@pytest.mark.parametrize("status, answer, message", [
    (401, {"error": {"message": "bad key"}}, r"/v1/models answered 401 \(bad key\): set PROMPTBREEDER_API_KEY or"
                                             r" OPENAI_API_KEY"),
    (200, {"object": "list", "data": [{"id": "other"}]}, r"/v1/models does not serve 'tiny'; it serves: other"),
    (200, b"{garbled", r"/v1/models did not answer with an OpenAI model list \(got '\{garbled'\)"),
    (404, {"detail": "Not Found"}, r"/v1/models answered 404: Not Found"),
])
def test_the_check_before_a_run_names_the_endpoint_and_the_problem(server, status, answer, message):
    url, script, _ = server
    script.append((status, answer))
    with pytest.raises(ModelError, match=message):
        ServerClient([url], "tiny").check()


def test_an_unreachable_server_is_named():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ModelError, match=rf"cannot reach the server at {url}/models: ConnectError"):
        ServerClient([url], "tiny").check()


def test_a_run_against_an_unreachable_server_stops_with_one_line_before_a_run_folder(shipped_day_care, tmp_path,
                                                                                     capsys):
    from promptbreeder import cli

    served = tmp_path / "tiny"
    served.mkdir()
    (served / "config.json").write_text("{}")
    url = f"http://127.0.0.1:{free_port()}/v1"
    code = cli.main(["--day_care_dir", str(shipped_day_care), "--task", "arithmetic_1_digit_addition",
                     "--model_name_or_path", f"openai-compat:{served}@{url}"])
    message = capsys.readouterr().err.strip()
    assert code == 2 and len(message.splitlines()) == 1
    assert message.startswith(f"promptbreeder: error: cannot reach the server at {url}/models: ConnectError")
    assert not (shipped_day_care / "arithmetic_1_digit_addition" / "runs").exists()
