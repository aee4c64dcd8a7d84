"""run_code: values come back, every way a candidate can fail is a classified result, nothing leaks or lingers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from promptbreeder.sandbox import SandboxLimits, SandboxResult, run_code
from promptbreeder.sandbox import runner

FAST = SandboxLimits(timeout_s=1)


@pytest.fixture(params=["with-netns", "hook-only"])
def layers(request, monkeypatch):
    """Run a test with the network namespace layer (where this machine has it) and with the audit hook alone."""
    if request.param == "hook-only":
        monkeypatch.setattr(runner, "_netns_prefix", lambda: ())
    elif not runner._netns_prefix():
        pytest.skip("unprivileged `unshare --net --map-root-user` does not work here")
    return request.param


@pytest.fixture
def http_url():
    """A tiny HTTP server on the host's 127.0.0.1 (port chosen by the OS)."""
    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"hello from the host"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_returns_the_entry_value():
    result = run_code("def f(x):\n    return {'y': x['a'] * 2}\n", "f", {"a": 21})
    assert isinstance(result, SandboxResult)
    assert (result.ok, result.value, result.failure) == (True, {"y": 42}, None)
    assert 0 < result.seconds < 5


def test_prints_do_not_corrupt_the_value():
    source = ("import sys\n"
              "def f(x):\n"
              "    print('{\"y\": -1}')\n"
              "    print('to stderr', file=sys.stderr)\n"
              "    print('no newline at the end', end='')\n"
              "    return [1, 'two', None]\n")
    result = run_code(source, "f")
    assert result.ok and result.value == [1, "two", None]
    assert result.stdout == '{"y": -1}\nno newline at the end'
    assert result.stderr == "to stderr\n"


def test_exception_is_a_crash_with_message_and_traceback():
    result = run_code("def helper():\n    raise ValueError('the answer is not 42')\ndef f(x):\n    helper()\n", "f")
    assert (result.ok, result.failure, result.value) == (False, "crash", None)
    assert "ValueError: the answer is not 42" in result.feedback
    assert 'File "candidate.py", line 2, in helper' in result.feedback
    assert "_child.py" not in result.feedback and "pb-sandbox-" not in result.feedback


def test_syntax_error():
    result = run_code("def f(x) return 1\n", "f")
    assert result.failure == "syntax" and not result.ok
    assert "SyntaxError" in result.feedback and "line 1" in result.feedback


def test_missing_entry_is_a_crash():
    result = run_code("def g(x):\n    return 1\n", "f")
    assert result.failure == "crash" and "no function 'f'" in result.feedback


def test_without_entry_the_file_runs_as_a_script():
    result = run_code("print('top')\nif __name__ == '__main__':\n    print('main')\n")
    assert (result.ok, result.value, result.stdout) == (True, None, "top\nmain\n")


def test_endless_loop_times_out_and_says_where():
    result = run_code("def f(x):\n    while True:\n        pass\n", "f", limits=FAST)
    assert result.failure == "timeout" and not result.ok
    assert result.seconds < FAST.timeout_s + 1
    assert "candidate.py" in result.feedback and "in f" in result.feedback


def test_sleep_times_out_and_keeps_output_printed_before():
    result = run_code("import time\ndef f(x):\n    print('starting')\n    time.sleep(100)\n", "f", limits=FAST)
    assert result.failure == "timeout" and result.seconds < FAST.timeout_s + 1
    assert result.stdout == "starting\n"
    assert "Current thread" not in result.stderr  # the stack dump goes to feedback, not to the candidate's stderr


@pytest.mark.parametrize("source", [
    "def f(x):\n    x = bytearray(4 * 1024**3)\n",
    "def f(x):\n    grow = []\n    while True:\n        grow.append([0] * 10**6)\n",
], ids=["bytearray-4GB", "growing-list"])
def test_memory_bomb_is_a_memory_failure(source):
    result = run_code(source, "f", limits=SandboxLimits(memory_mb=256, timeout_s=10))
    assert result.failure == "memory", result.feedback
    assert "256 MB" in result.feedback and result.seconds < 5


@pytest.mark.parametrize("source", [
    "import socket\ndef f(x):\n    socket.socket().connect(('10.255.255.1', 80))\n",
    "import socket\ndef f(x):\n    socket.create_connection(('10.255.255.1', 80), timeout=60)\n",
    "import socket\ndef f(x):\n    return socket.socket().connect_ex(('8.8.8.8', 53))\n",
    "import socket\ndef f(x):\n    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'q', ('8.8.8.8', 53))\n",
    "import socket\ndef f(x):\n    return socket.getaddrinfo('example.com', 80)\n",
    "import socket\ndef f(x):\n    return socket.gethostbyname('example.com')\n",
    "import socket\ndef f(x):\n    socket.socket().bind(('0.0.0.0', 0))\n",
    "import socket\ndef f(x):\n    socket.socket(socket.AF_UNIX).connect('/var/run/docker.sock')\n",
    "import ctypes\ndef f(x):\n    return ctypes.CDLL(None).connect\n",
], ids=["connect", "create_connection", "connect_ex", "udp-sendto", "getaddrinfo", "gethostbyname",
        "bind-any", "unix-socket-outside", "ctypes-connect"])
def test_network_is_refused_quickly(source, layers):
    result = run_code(source, "f", limits=SandboxLimits(timeout_s=10))
    assert result.failure == "network", result.feedback
    assert "sandbox refused network access" in result.feedback
    assert result.seconds < 3  # refused on the spot, no connect timeout


def test_caught_refusal_still_reports_network():
    source = ("import urllib.request\n"
              "def f(x):\n"
              "    try:\n"
              "        urllib.request.urlopen('http://example.com/', timeout=5)\n"
              "    except OSError as exc:\n"
              "        raise RuntimeError('download failed') from exc\n")
    result = run_code(source, "f")
    assert result.failure == "network" and "download failed" in result.feedback


def test_loopback_server_reachable_only_when_allowed(http_url, layers):
    source = "import urllib.request\ndef f(url):\n    return urllib.request.urlopen(url, timeout=5).read().decode()\n"
    allowed = run_code(source, "f", http_url, limits=SandboxLimits(allow_hosts=("127.0.0.1",)))
    assert allowed.ok and allowed.value == "hello from the host", allowed.feedback
    refused = run_code(source, "f", http_url, limits=SandboxLimits(allow_hosts=()))
    assert refused.failure == "network" and "127.0.0.1" in refused.feedback


def test_local_server_inside_the_candidate_can_bind_loopback():
    source = "import socket\ndef f(x):\n    s = socket.socket()\n    s.bind(('127.0.0.1', 0))\n    return True\n"
    assert run_code(source, "f", limits=SandboxLimits(allow_hosts=("127.0.0.1",))).value is True


def test_programs_started_by_the_candidate_cannot_reach_the_host_in_the_netns(http_url):
    if not runner._netns_prefix():
        pytest.skip("unprivileged `unshare --net --map-root-user` does not work here")
    # A child interpreter has no audit hook; only the network namespace stops it.
    source = ("import subprocess, sys\n"
              "def f(url):\n"
              "    code = f'import urllib.request; print(urllib.request.urlopen({url!r}, timeout=3).read())'\n"
              "    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=8)\n"
              "    return [p.returncode, p.stdout]\n")
    result = run_code(source, "f", http_url)
    assert result.ok, result.feedback
    assert result.value[0] != 0 and "hello" not in result.value[1]


@pytest.mark.parametrize("hosts", [("10.0.0.1",), ("example.com",), ("0.0.0.0",), ("127.0.0.1", "8.8.8.8"),
                                   "127.0.0.1", (None,)])
def test_allow_hosts_must_be_loopback(hosts):
    with pytest.raises(ValueError):
        SandboxLimits(allow_hosts=hosts)


def test_loopback_hosts_are_accepted():
    assert SandboxLimits(allow_hosts=["127.0.0.1", "localhost", "::1", "127.0.0.2"]).allow_hosts == \
        ("127.0.0.1", "localhost", "::1", "127.0.0.2")


@pytest.mark.parametrize("kwargs", [dict(entry="not an identifier"), dict(args={"x": object()}),
                                    dict(limits="fast"), dict(files={"a.txt": b"bytes"})])
def test_bad_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        run_code("def f(x):\n    return 1\n", **{"entry": "f", **kwargs})


@pytest.mark.parametrize("limits", [dict(timeout_s=0), dict(timeout_s=float("inf")), dict(memory_mb=0),
                                    dict(max_output_chars=-1)])
def test_bad_limits_raise_value_error(limits):
    with pytest.raises(ValueError):
        SandboxLimits(**limits)


def test_temp_dir_is_removed_afterwards():
    result = run_code("import os\ndef f(x):\n    open('scratch.txt', 'w').write('x')\n    return os.getcwd()\n", "f")
    assert result.ok and "pb-sandbox-" in result.value
    assert not Path(result.value).exists() and not Path(result.value).parent.exists()


def test_timeout_kills_the_process_group_and_removes_the_temp_dir(alive):
    source = ("import os, subprocess, time\n"
              "def f(x):\n"
              "    subprocess.Popen(['sleep', '1000.101'])\n"
              "    print(os.getcwd(), flush=True)\n"
              "    time.sleep(100)\n")
    result = run_code(source, "f", limits=FAST)
    assert result.failure == "timeout"
    assert not alive("1000.101"), "the grandchild survived the timeout"
    assert "pb-sandbox-" in result.stdout and not Path(result.stdout.strip()).exists()


def test_background_processes_are_killed_after_a_normal_return(alive):
    source = "import subprocess\ndef f(x):\n    return subprocess.Popen(['sleep', '1000.202']).pid\n"
    result = run_code(source, "f")
    assert result.ok and not alive("1000.202")


def test_files_are_readable_by_the_candidate():
    source = "def f(x):\n    return [open('data/in.txt').read(), open('notes.md').read()]\n"
    result = run_code(source, "f", files={"data/in.txt": "héllo", "notes.md": "# hi"})
    assert result.ok and result.value == ["héllo", "# hi"]


@pytest.mark.parametrize("name", ["/etc/passwd", "../escape.txt", "data/../../escape.txt", "", "candidate.py"])
def test_bad_file_names_raise(name):
    with pytest.raises(ValueError):
        run_code("x = 1\n", files={name: "text"})


def test_parent_environment_is_not_visible(monkeypatch):
    monkeypatch.setenv("PB_TEST_SECRET", "hunter2")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    source = "import os\ndef f(x):\n    return [dict(os.environ), os.getcwd(), hash('deterministic?')]\n"
    first, second = run_code(source, "f"), run_code(source, "f")
    env, cwd, _ = first.value
    assert "PB_TEST_SECRET" not in env and "hunter2" not in str(env) and "HTTPS_PROXY" not in env
    assert env["HOME"] == cwd and env["PYTHONHASHSEED"] == "0"
    assert first.value[2] == second.value[2]  # string hashing is seeded, so runs are reproducible


def test_sys_exit_is_a_crash_with_the_code():
    result = run_code("import sys\ndef f(x):\n    sys.exit(3)\n", "f")
    assert result.failure == "crash" and "exit code 3" in result.feedback


def test_hard_exit_and_segfault_are_crashes():
    exited = run_code("import os\nos._exit(5)\n")
    assert exited.failure == "crash" and "code 5" in exited.feedback
    segfault = run_code("import ctypes\nctypes.string_at(0)\n")
    assert segfault.failure == "crash" and "SIGSEGV" in segfault.feedback


@pytest.mark.parametrize("value", ["{1, 2}", "object()", "float('nan') if False else (lambda: 1)"])
def test_non_json_return_is_bad_return(value):
    result = run_code(f"def f(x):\n    return {{'v': {value}}}\n", "f")
    assert (result.ok, result.failure, result.value) == (False, "bad_return", None)
    assert "not JSON-serialisable" in result.feedback


def test_output_keeps_only_the_tail():
    source = "for i in range(20000):\n    print(i)\n"
    result = run_code(source, limits=SandboxLimits(max_output_chars=100))
    assert len(result.stdout) == 100 and result.stdout.endswith("19999\n")


def test_concurrent_runs_do_not_mix():
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: run_code("def f(n):\n    print(n)\n    return n * n\n", "f", n), range(8)))
    assert [r.value for r in results] == [n * n for n in range(8)]
    assert [r.stdout for r in results] == [f"{n}\n" for n in range(8)]
