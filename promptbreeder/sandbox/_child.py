"""Bootstrap of the sandbox child: `python -s -P _child.py CONFIG.json`, cwd = the candidate's work dir.

Contract with `runner.py` (the only caller):
  * CONFIG is JSON: entry (str | None), args (JSON value), allow (normalised host strings the code may
    connect to), root (the sandbox folder; AF_UNIX sockets must live under it), memory_bytes, cpu_seconds,
    fsize_bytes, result (path of the result file), stacks and stacks_after (where and after how many
    seconds every thread's stack is written, just before the runner's timeout), broker (the loopback
    broker's socket under bubblewrap, else null).
  * Before any candidate code runs: resource limits, a network guard (`sys.addaudithook`, which user code
    cannot remove) and faulthandler (every thread's stack is written to the `stacks` file just before the timeout).
  * With an entry, `candidate.py` is imported as module `candidate` and `entry(args)` is called; without
    one it is run as `__main__`, like `python candidate.py`.
  * Exactly one JSON object is written to the result file (never to stdout, which belongs to the
    candidate): {"ok", "failure", "value", "error", "traceback", "network"}; then the process `os._exit`s
    so the candidate's atexit handlers and non-daemon threads cannot hang it.

Only the standard library is used, and the runner imports `normalize_host`/`is_loopback` from here, so
both sides agree on what a host is. This is a guard against accidents and naive code, not a jail for
hostile code: ctypes can still write memory, and programs the candidate starts do not inherit the audit
hook (bubblewrap's namespaces, or the runner's network namespace in a weak sandbox, cover those).
"""

from __future__ import annotations

import errno
import faulthandler
import gc
import importlib
import ipaddress
import json
import os
import resource
import runpy
import sys
import traceback

NETWORK_MARKER = "sandbox refused network access"
MAX_RESULT_BYTES = 32 * 1024 * 1024  # a bigger return value is a bad_return, not a failed write
_BALLAST_BYTES = 4 * 1024 * 1024  # freed on MemoryError so the report itself can still be written
_RESOLVE_EVENTS = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"}
_SEND_EVENTS = {"socket.connect", "socket.sendto", "socket.sendmsg"}
# libc entry points that would let ctypes talk to the network behind the audit hook's back.
_CTYPES_DENY = {"connect", "sendto", "sendmsg", "sendmmsg", "bind", "getaddrinfo", "gethostbyname",
                "gethostbyname2", "gethostbyname_r", "gethostbyname2_r", "gethostbyaddr", "getnameinfo",
                "res_query", "res_search", "res_nquery", "res_nsearch", "syscall"}


def normalize_host(host) -> str:
    """Canonical text of a host: IP literals compressed ("::0001" -> "::1"), names lower-cased."""
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode("ascii", "replace")
    host = str(host).strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.split("%", 1)[0]  # IPv6 zone id
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host.rstrip(".")


def is_loopback(host) -> bool:
    """True for "localhost", 127.0.0.0/8, ::1 (and IPv4-mapped loopback)."""
    host = normalize_host(host)
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def network_guard(allow: frozenset[str], root: str, refusals: list[str]):
    """The audit hook: raise PermissionError for network use outside `allow`, noting each refusal."""
    root = os.path.realpath(root) + os.sep

    def refuse(event: str, target) -> None:
        allowed = ", ".join(sorted(allow)) or "none"
        message = f"{NETWORK_MARKER}: {event} to {target!r} is not allowed (allowed hosts: {allowed})"
        if len(refusals) < 20:
            refusals.append(message)
        raise PermissionError(errno.EACCES, message)

    def unix_path_ok(address) -> bool:
        # AF_UNIX: a file path, or "\0name" in the abstract namespace. multiprocessing puts its
        # sockets under TMPDIR, which is inside root; anything else (docker.sock, dbus) is outside.
        if isinstance(address, (bytes, bytearray)):
            address = os.fsdecode(bytes(address))
        return os.path.realpath(address.lstrip("\0")).startswith(root)

    def hook(event: str, args: tuple) -> None:
        if not event.startswith(("socket.", "ctypes.dlsym")):  # every audited event passes here: be quick
            return
        if event in _SEND_EVENTS:
            address = args[1]
            if address is None:  # sendmsg on an already connected socket
                return
            if isinstance(address, (str, bytes, bytearray)):
                if not unix_path_ok(address):
                    refuse(event, address)
                return
            host = address[0] if isinstance(address, tuple) and address else None
            if not isinstance(host, (str, bytes)) or normalize_host(host) not in allow:
                refuse(event, address)
        elif event == "socket.bind":
            address = args[1]
            if isinstance(address, (str, bytes, bytearray)):
                return  # binding a unix socket file is local
            host = address[0] if isinstance(address, tuple) and address else None
            if not isinstance(host, (str, bytes)) or not is_loopback(host):
                refuse(event, address)
        elif event in _RESOLVE_EVENTS:
            host = args[0]
            # Resolving loopback names never leaves the machine; everything else may reach a DNS server.
            if host is not None and not (normalize_host(host) in allow or is_loopback(host)):
                refuse(event, host)
        elif event == "socket.getnameinfo":
            address = args[0]
            host = address[0] if isinstance(address, tuple) and address else address
            if not (normalize_host(host) in allow or is_loopback(host)):
                refuse(event, address)
        elif event.startswith("ctypes.dlsym") and len(args) > 1 and args[1] in _CTYPES_DENY:
            refuse(event, args[1])

    return hook


def route_through_broker(path: str, allow: frozenset[str]) -> None:
    """Under bubblewrap the sandbox's network is its own empty loopback: a TCP connect to an allowed host
    asks the runner's broker (a Unix socket at `path`) for a connection made outside, and puts the
    descriptor it sends back in place of the socket's own. Anything else connects as usual (and finds
    nothing to reach)."""
    import socket

    original_connect, original_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def brokered(sock, address) -> bool:
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM \
                or not isinstance(address, tuple) or len(address) < 2 or normalize_host(address[0]) not in allow:
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as channel:
            original_connect(channel, path)
            channel.sendall(json.dumps({"host": str(address[0]), "port": int(address[1])}).encode())
            reply, fds, _, _ = socket.recv_fds(channel, 64, 1)
        if reply != b"ok" or not fds:
            for fd in fds:
                os.close(fd)
            code = int(reply.split()[-1]) if reply.startswith(b"error ") else errno.ECONNREFUSED
            raise OSError(code, f"{os.strerror(code)} ({address[0]}:{address[1]})")
        timeout = sock.gettimeout()
        os.dup2(fds[0], sock.fileno())
        os.close(fds[0])
        sock.settimeout(timeout)  # the descriptor came blocking; the socket's own mode applies again
        return True

    def connect(self, address):
        if not brokered(self, address):
            original_connect(self, address)

    def connect_ex(self, address):
        try:
            return 0 if brokered(self, address) else original_connect_ex(self, address)
        except OSError as exc:
            return exc.errno or errno.ECONNREFUSED

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex


def _set_limits(cfg: dict) -> None:
    def cap(kind: int, value: int) -> None:
        _, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        # soft == hard, so the candidate cannot raise it again
        resource.setrlimit(kind, (value, value))

    cap(resource.RLIMIT_AS, cfg["memory_bytes"])
    cap(resource.RLIMIT_FSIZE, cfg["fsize_bytes"])
    cap(resource.RLIMIT_CORE, 0)
    # SIGXCPU at the soft limit (reported as a timeout); SIGKILL one second later if that is ignored.
    soft, (_, hard) = cfg["cpu_seconds"], resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, min(soft + 1, hard)))
    else:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))


def _traceback_text(exc: BaseException, only_exception: bool = False) -> str:
    te = traceback.TracebackException.from_exception(exc)
    # The bootstrap's and importlib's frames are noise for whoever fixes the candidate.
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if f.filename != __file__ and not f.filename.startswith("<frozen ")])
    text = "".join(te.format_exception_only() if only_exception else te.format())
    return text[-4000:]


def _error_line(exc: BaseException) -> str:
    try:
        return "".join(traceback.format_exception_only(exc)).strip()[-2000:]
    except Exception:  # a candidate exception whose __str__ itself raises
        return type(exc).__name__


def _describe(exc: BaseException, phase: str, entry, refusals: list[str]) -> dict:
    """The result for a candidate that ended with `exc` while in `phase` ("import" or "call")."""
    report = {"ok": False, "value": None, "error": _error_line(exc), "network": refusals}
    if isinstance(exc, SystemExit):
        code = exc.code
        if code in (None, 0) and entry is None:  # a script that ends with sys.exit(0) succeeded
            return {"ok": True, "failure": None, "network": refusals}
        where = "before returning a value" if entry else ""
        report.update(failure="crash", exit_code=code if isinstance(code, int) else 1,
                      error=f"the code called sys.exit({code!r}) {where}".strip())
    elif isinstance(exc, SyntaxError) and phase == "import":
        report.update(failure="syntax", traceback=_traceback_text(exc, only_exception=True))
        return report
    elif isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno == errno.ENOMEM):
        report.update(failure="memory")
    else:
        report.update(failure="crash")
    if report["failure"] == "crash" and refusals:
        # Whatever the final error (a library wrapping our PermissionError, a sys.exit), the refused
        # network access is the cause worth reporting.
        report["failure"] = "network"
    report["traceback"] = _traceback_text(exc)
    return report


def _run(cfg: dict, refusals: list[str]) -> dict:
    entry = cfg["entry"]
    ballast = bytearray(_BALLAST_BYTES)
    phase = "import"
    try:
        if entry is None:
            runpy.run_path("candidate.py", run_name="__main__")
            return {"ok": True, "failure": None, "network": refusals}  # no "value": there is no entry
        module = importlib.import_module("candidate")
        phase = "call"
        function = getattr(module, entry, None)
        if not callable(function):
            return {"ok": False, "failure": "crash", "value": None, "network": refusals,
                    "error": f"candidate.py defines no function {entry!r} (the entry point that is called)"}
        value = function(cfg["args"])
    except BaseException as exc:  # noqa: BLE001 - whatever the candidate does is a result
        ballast = None
        return _describe(exc, phase, entry, refusals)
    ballast = None
    try:
        encoded = json.dumps(value)
    except BaseException as exc:  # noqa: BLE001 - TypeError, ValueError (circular), RecursionError, ...
        return {"ok": False, "failure": "bad_return", "value": None, "network": refusals,
                "error": f"the entry function returned a {type(value).__name__} that is not JSON-serialisable: "
                         f"{_error_line(exc)}"}
    if len(encoded) > MAX_RESULT_BYTES:
        return {"ok": False, "failure": "bad_return", "value": None, "network": refusals,
                "error": f"the entry function's return value is too large ({len(encoded)} bytes of JSON)"}
    return {"ok": True, "failure": None, "value_json": encoded, "network": refusals}


def main(config_path: str) -> None:
    with open(config_path, encoding="utf-8") as fh:
        cfg = json.load(fh)
    result_file = open(cfg["result"], "w", encoding="utf-8")  # opened now: no file-open needed at the end
    _set_limits(cfg)
    refusals: list[str] = []
    sys.addaudithook(network_guard(frozenset(cfg["allow"]), cfg["root"], refusals))
    if cfg.get("broker"):
        route_through_broker(cfg["broker"], frozenset(cfg["allow"]))
    faulthandler.enable(all_threads=True)  # a segfault still leaves a stack on stderr
    # the stacks of a run about to time out, written by the child itself: under bubblewrap the runner's
    # signal would reach bwrap, not this process
    stacks = open(cfg["stacks"], "w", encoding="utf-8")
    faulthandler.dump_traceback_later(cfg["stacks_after"], file=stacks)
    # Line-buffered, so the output before a hang survives the SIGKILL of a timeout.
    sys.stdout.reconfigure(line_buffering=True)
    sys.path.insert(0, os.getcwd())  # -P keeps it off sys.path; candidate.py and `files` live here
    sys.argv = ["candidate.py"]

    status = 0
    try:
        result = _run(cfg, refusals)
        gc.collect()  # a memory bomb's garbage may still be in reference cycles
        if "value_json" in result:  # splice the already-encoded value in, do not encode it twice
            value_json = result.pop("value_json")
            text = json.dumps(result)[:-1] + ', "value": ' + value_json + "}"
        else:
            text = json.dumps(result)
        result_file.write(text)
        result_file.close()
    except BaseException as exc:  # noqa: BLE001 - e.g. MemoryError while reporting; the runner reads stderr
        status = 70
        os.write(2, f"\nsandbox bootstrap could not write its result: {_error_line(exc)}\n".encode())
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - the candidate may have replaced or closed them
            pass
    os._exit(status)


if __name__ == "__main__":
    main(sys.argv[1])
