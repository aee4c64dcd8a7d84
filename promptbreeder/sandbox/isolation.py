"""Strong isolation of a sandbox run by bubblewrap (`bwrap`), and the loopback broker that lets it reach
the hosts its task allows.

Under bubblewrap the candidate and every process it starts:
- see a filesystem of their own: read-only the interpreter, its standard library and site-packages, the
  system's libraries (/usr, /lib...) and /etc/hosts; writable only the run's temporary folder and a
  private /tmp; nothing else of the machine (no home folder, no /etc/passwd, no project files);
- live in new PID, network, IPC, UTS and user namespaces with every capability dropped: when the run ends
  its whole process tree dies (a setsid() child included: it is in the same PID namespace, whose init
  dies with the runner's bwrap), and the only network is an empty loopback of its own;
- reach the host's loopback only through the broker: a Unix socket in the run's folder where the runner,
  outside, opens a TCP connection to an allowed loopback host and hands the connected descriptor back
  (SCM_RIGHTS). The candidate's own `socket.connect` is routed there by the bootstrap; a program the
  candidate starts has no route at all.
Why bubblewrap: it is a small, audited setuid-free tool (Flatpak's) that builds exactly these namespaces
and mounts, so the jail does not depend on checks of our own inside the interpreter. `weakness()` says
why it is not available; the runner then falls back to rlimits, a process group, the in-interpreter network
guard and `unshare --net` where that works, and only when the caller allows a weak sandbox.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

from promptbreeder.sandbox._child import normalize_host

INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt install bubblewrap; Fedora: dnf install bubblewrap)"
BROKER_SOCKET = "net.sock"
# what the interpreter and the libraries it loads need from the machine, read-only (missing ones skipped)
SYSTEM_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache", "/etc/ld.so.conf",
                "/etc/ld.so.conf.d", "/etc/hosts", "/etc/localtime")


@functools.lru_cache(maxsize=1)
def _probe() -> tuple[str | None, str | None]:
    """(bwrap path, None) when bubblewrap runs a process in its namespaces here, else (None, why not)."""
    exe = shutil.which("bwrap")
    if exe is None:
        return None, f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}"
    try:
        probe = subprocess.run([exe, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "--cap-drop", "ALL",
                                "true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"bubblewrap could not be started ({exc})"
    if probe.returncode != 0:
        why = probe.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        return None, f"bubblewrap cannot create namespaces here ({why[0]}; unprivileged user namespaces may be off)"
    return exe, None


def weakness() -> str | None:
    """None when strong isolation (bubblewrap) works on this machine, else why not, in one line."""
    return _probe()[1]


def readable_paths() -> list[str]:
    """Paths the sandboxed interpreter may read: the system's, and this interpreter's prefixes."""
    own = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
           os.path.dirname(os.path.realpath(sys.executable)), os.path.dirname(sys.executable)}
    paths = {p for p in (*SYSTEM_PATHS, *own) if p and os.path.exists(p)}
    return sorted(paths, key=lambda p: (p.count(os.sep), p))  # parents before the paths inside them


def bwrap_command(root: Path, work: Path, command: list[str]) -> list[str]:
    """`command` run under bubblewrap: the filesystem, namespaces and capabilities the module describes."""
    exe = _probe()[0]
    if exe is None:
        raise RuntimeError(weakness())
    args = [exe, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for path in readable_paths():
        args += ["--ro-bind", path, path]
    args += ["--bind", str(root), str(root), "--chdir", str(work)]
    return [*args, *command]


class LoopbackBroker:
    """Listens on `<root>/net.sock` while the run lasts; each request {"host", "port"} for an allowed loopback
    host gets a TCP connection made here, outside the sandbox, and its descriptor sent back."""

    def __init__(self, root: Path, allow: set[str]):
        self.path = root / BROKER_SOCKET
        self.allow = {normalize_host(h) for h in allow}
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(self.path))
        self._server.listen(16)
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sandbox-broker", daemon=True)

    def __enter__(self) -> "LoopbackBroker":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._server.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                channel, _ = self._server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with channel:
                try:
                    self._answer(channel)
                except (OSError, ValueError):
                    pass  # a broken request is the candidate's failed connect, never the runner's

    def _answer(self, channel: socket.socket) -> None:
        channel.settimeout(5)
        request = json.loads(channel.recv(4096).decode("utf-8"))
        host, port = normalize_host(request["host"]), int(request["port"])
        if host not in self.allow or not 0 < port < 65536:
            channel.sendall(b"refused")
            return
        target = "127.0.0.1" if host == "localhost" else host
        try:
            connection = socket.create_connection((target, port), timeout=5)
        except OSError as exc:
            channel.sendall(f"error {exc.errno or 111}".encode())
            return
        with connection:
            socket.send_fds(channel, [b"ok"], [connection.fileno()])
