"""Several LMQL inference servers (`lmql-serve:<model>@host:port,...`): the spec, the rotation, failover
when a server dies, and (integration) a breeding run through two real servers, one killed mid-run."""

from __future__ import annotations

import asyncio
import io
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from promptbreeder.backends.base import QueryRequest, QueryResult
from promptbreeder.backends.lmql.servers import LMQLServersBackend, server_alive
from promptbreeder.backends.models import EMBEDDED_MODEL, resolve_model
from promptbreeder.errors import ModelError

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("value, message", [
    ("lmql-serve:127.0.0.1:8080", "expected 'lmql-serve:<model>@<host:port>"),
    ("lmql-serve:smollm2-135m@", "expected 'lmql-serve:<model>@<host:port>"),
    ("lmql-serve:smollm2-135m@localhost", "not host:port: localhost"),
    ("lmql-serve:openai/gpt-4@127.0.0.1:1", "the served model must be local weights"),
])
def test_a_bad_servers_spec_is_one_clear_error(value, message):
    with pytest.raises(ModelError, match=message.replace("(", r"\(")):
        resolve_model(value)


def test_a_servers_spec_names_the_model_folder_and_the_endpoints(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    spec = resolve_model(f"lmql-serve:{tmp_path}@127.0.0.1:8080, localhost:8081")
    assert spec.kind == "servers" and spec.identifier == str(tmp_path)
    assert spec.endpoints == ("127.0.0.1:8080", "localhost:8081")


def test_server_alive_is_whether_the_port_accepts_connections():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert server_alive(f"127.0.0.1:{port}")
    assert not server_alive(f"127.0.0.1:{port}")


class ScriptedServers(LMQLServersBackend):
    """The rotation and failover logic, with servers simulated: `dead` lists servers whose port is closed."""

    def __init__(self, n, dead=()):
        self.endpoints, self.models = [f"127.0.0.1:{9000 + i}" for i in range(n)], list(range(n))
        self.timeout, self.probe_seconds = 5.0, 0.05
        self.down, self.served, self._turn, self.dead, self.asked = {}, [0] * n, 0, set(dead), []
        self.concurrency = 8
        from promptbreeder.backends.base import Backend

        Backend.__init__(self)

    async def _run_on(self, request, model):
        self.asked.append(model)
        if model in self.dead:
            await asyncio.sleep(10)  # a dead server never answers: the watchdog must notice
        return QueryResult(variables={"X": f"from {model}"})


@pytest.fixture
def alive(monkeypatch):
    def check(endpoint, wait=1.0):
        return int(endpoint.rsplit(":", 1)[1]) - 9000 not in backend_ref[0].dead

    backend_ref = []
    monkeypatch.setattr("promptbreeder.backends.lmql.servers.server_alive", check)
    return backend_ref


def test_queries_take_turns_over_the_servers(alive):
    backend = ScriptedServers(2)
    alive.append(backend)
    results = backend.run_many([QueryRequest('"[X]"') for _ in range(6)])
    assert sorted(r.variables["X"] for r in results) == ["from 0"] * 3 + ["from 1"] * 3
    assert backend.served == [3, 3] and backend.down == {}


def test_a_dead_server_is_left_and_its_queries_are_asked_again_elsewhere(alive):
    backend = ScriptedServers(3, dead={1})
    alive.append(backend)
    started = time.monotonic()
    results = backend.run_many([QueryRequest('"[X]"') for _ in range(6)])
    assert all(r.ok and r.variables["X"] in ("from 0", "from 2") for r in results)
    assert backend.down == {1: "stopped accepting connections"} and time.monotonic() - started < 5
    assert backend.served[1] == 0 and backend.served[0] + backend.served[2] == 6


def test_when_every_server_is_gone_the_query_fails_with_the_reasons(alive):
    backend = ScriptedServers(2, dead={0, 1})
    alive.append(backend)
    [result] = backend.run_many([QueryRequest('"[X]"')])
    assert not result.ok and "no LMQL server left to ask" in result.error and "127.0.0.1:9001" in result.error


def start_server(port: int) -> subprocess.Popen:
    import os

    # one thread each: two servers and the client share the CI machine's two cores
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "promptbreeder.commands.serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.integration
def test_a_run_through_two_real_servers_survives_one_dying(tmp_path, monkeypatch, real_model_dir, small_report):
    from promptbreeder import app
    from promptbreeder.backends import create_backend
    from promptbreeder.config import resolve_config

    ports = [free_port(), free_port()]
    servers = [start_server(p) for p in ports]
    try:
        deadline = time.time() + 300
        while not all(server_alive(f"127.0.0.1:{p}") for p in ports) and time.time() < deadline:
            assert all(s.poll() is None for s in servers), "a server did not start"
            time.sleep(0.5)
        day_care = tmp_path / "day_care"
        shutil.copytree(ROOT / "day_care", day_care, ignore=shutil.ignore_patterns("runs", "debug_runs"))
        made = []

        def backend_for(config, spec=None):
            made.append(create_backend(config, spec))
            return made[-1]

        monkeypatch.setattr(app, "create_backend", backend_for)
        model = f"lmql-serve:{EMBEDDED_MODEL}@" + ",".join(f"127.0.0.1:{p}" for p in ports)
        config = resolve_config({"task": "arithmetic_1_digit_addition", "day_care_dir": str(day_care),
                                 "model_name_or_path": model, "evolution_generations": 1, "fitness_batch_size": 2,
                                 **small_report},
                                "smoke")
        snapshots = day_care / "arithmetic_1_digit_addition" / "runs" / "run_1" / "snapshots"

        def kill_second_server_after_step_0():
            while not (snapshots / "step_000000.json").exists():
                time.sleep(0.2)
            servers[1].kill()

        import threading

        killer = threading.Thread(target=kill_second_server_after_step_0, daemon=True)
        killer.start()
        out = io.StringIO()
        assert app.run(config, out=out) == 0
        backend = made[0]
        assert backend.served[0] > 0 and backend.served[1] > 0, "both servers answered"
        assert 1 in backend.down and 0 not in backend.down, backend.down
        assert (snapshots / "step_000001.json").is_file() and "held-out comparison" in out.getvalue()
    finally:
        for server in servers:
            server.kill()
            server.wait()
