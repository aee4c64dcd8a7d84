"""The sandbox holds against hostile code and every process it starts (bubblewrap): each case a canary that
must not appear, a process that must not survive, a file that must not be read, a server that must not be
reached. And without bubblewrap: a refusal, unless the caller allows the weak sandbox."""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path

import pytest

from promptbreeder.sandbox import SandboxLimits, SandboxUnavailable, isolation_in_use, run_code
from promptbreeder.sandbox import isolation

REPO = Path(__file__).resolve().parents[2]


def test_this_machine_has_the_strong_sandbox():
    # `make setup` installs bubblewrap; every test below is about the strong sandbox
    assert isolation.weakness() is None, isolation.weakness()
    assert isolation_in_use() == "bubblewrap"


@pytest.mark.parametrize("how", [
    "open(CANARY, 'w').write('x')",
    "os.system(f'echo x > {CANARY}')",
    "subprocess.run(['sh', '-c', f'echo x > {CANARY}'])",
    "subprocess.run([sys.executable, '-c', f'open({CANARY!r}, \"w\").write(\"x\")'])",
])
@pytest.mark.parametrize("where", ["tmp", "home", "repo"])
def test_nothing_is_written_outside_the_runs_folder(tmp_path, how, where):
    folder = {"tmp": tmp_path, "home": Path.home(), "repo": REPO}[where]
    canary = folder / f"pb-canary-{where}-{abs(hash(how)) % 10**8}"
    canary.unlink(missing_ok=True)
    source = f"import os, subprocess, sys\nCANARY = {str(canary)!r}\ndef f(x):\n    try:\n        {how}\n" \
             "    except OSError as exc:\n        return str(exc)\n    return 'done'\n"
    result = run_code(source, "f")
    assert result.isolation == "bubblewrap"
    assert not canary.exists(), f"{how} wrote {canary}"


def test_nothing_of_the_machine_is_readable_but_the_interpreter_and_libraries():
    source = ("import os\ndef f(paths):\n    out = {}\n    for p in paths:\n        try:\n"
              "            open(p, 'rb').read(1)\n            out[p] = 'read'\n        except OSError as exc:\n"
              "            out[p] = type(exc).__name__\n    return out\n")
    secret = [str(Path.home() / ".bashrc"), "/etc/passwd", "/etc/shadow", str(REPO / "README.md"), __file__]
    result = run_code(source, "f", secret + [sys.executable, "/etc/hosts"])
    assert result.ok, result.feedback
    assert all(result.value[p] != "read" for p in secret), result.value
    assert result.value[sys.executable] == "read" and result.value["/etc/hosts"] == "read"


def test_a_process_that_leaves_the_group_does_not_outlive_the_run(alive):
    source = ("import os, subprocess, time\ndef f(x):\n"
              "    subprocess.Popen(['setsid', 'sleep', '1000.404'])\n"
              "    if os.fork() == 0:\n        os.setsid()\n        os.execvp('sleep', ['sleep', '1000.405'])\n"
              "    time.sleep(0.3)\n    return 'left'\n")
    result = run_code(source, "f")
    assert result.ok, result.feedback
    assert not alive("1000.404") and not alive("1000.405")


class _Server:
    """A TCP server on the host's 127.0.0.1 that counts connections and answers 'hello'."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            with conn:
                conn.sendall(b"hello")

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


CONNECT = ("import socket, subprocess, sys\n"
           "PROBE = 'import socket,sys\\ntry:\\n s=socket.create_connection((\"127.0.0.1\", int(sys.argv[1])), 2)\\n"
           " print(s.recv(5).decode())\\nexcept OSError as e:\\n print(\"refused\", e)'\n"
           "def f(port):\n"
           "    try:\n        own = socket.create_connection(('127.0.0.1', port), 2).recv(5).decode()\n"
           "    except OSError as exc:\n        own = f'refused {exc}'\n"
           "    child = subprocess.run([sys.executable, '-c', PROBE, str(port)], capture_output=True, text=True)\n"
           "    return {'own': own, 'child': child.stdout.strip()}\n")


def test_without_allowed_hosts_no_process_reaches_the_hosts_loopback(server):
    result = run_code(CONNECT, "f", server.port)
    assert result.ok, result.feedback
    assert not result.value["own"].startswith("hello") and result.value["child"].startswith("refused")
    assert server.accepted == 0


def test_an_allowed_loopback_host_is_reached_by_the_candidate_only(server):
    result = run_code(CONNECT, "f", server.port, limits=SandboxLimits(allow_hosts=("127.0.0.1",)))
    assert result.ok, result.feedback
    assert result.value["own"] == "hello", "the candidate's own connection goes through the broker"
    assert result.value["child"].startswith("refused"), "a program it starts has no route"
    assert server.accepted == 1


def test_urllib_reaches_an_allowed_local_http_server():
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"ok": 1}')

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        source = ("import json, urllib.request\ndef f(url):\n"
                  "    return json.loads(urllib.request.urlopen(url, timeout=5).read())\n")
        result = run_code(source, "f", f"http://127.0.0.1:{httpd.server_port}/state",
                          limits=SandboxLimits(allow_hosts=("127.0.0.1",)))
        assert result.ok and result.value == {"ok": 1}, result.feedback
    finally:
        httpd.shutdown()


def test_without_bubblewrap_the_sandbox_is_refused_unless_the_weak_one_is_allowed(monkeypatch, tmp_path):
    monkeypatch.setattr(isolation, "_probe", lambda: (None, "bubblewrap (bwrap) is not installed: install it"))
    with pytest.raises(SandboxUnavailable, match="not installed.*--allow_weak_sandbox"):
        run_code("def f(x):\n    return 1\n", "f")
    result = run_code("def f(x):\n    return x + 1\n", "f", 41, allow_weak=True)
    assert result.ok and result.value == 42
    assert result.isolation == "weak: bubblewrap (bwrap) is not installed: install it"
