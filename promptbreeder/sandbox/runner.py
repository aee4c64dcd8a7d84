"""Run untrusted, generated Python code in a throw-away subprocess and report what happened.

`run_code(source, entry, args, limits=..., files=...)` writes `source` to `candidate.py` in a fresh
temporary folder, starts a separate interpreter there and returns a `SandboxResult`. Everything the
candidate does - raise, loop forever, eat memory, exit, segfault, touch the network, return junk - is a
RESULT (`ok=False`, a `failure` kind and `feedback` an LLM can act on), never an exception. Only bad
arguments raise, and they raise ValueError.

Isolation (`isolation.py`): where bubblewrap works, the candidate and every process it starts run in
namespaces of their own: a filesystem where only the run's folder is writable and only the interpreter and
system libraries are readable, no network but the loopback hosts the limits allow (through a broker), and a
PID namespace, so the whole tree dies with the run. Where it does not work, `run_code` refuses with
`SandboxUnavailable` unless the caller passes `allow_weak=True`; the weak sandbox is what remains without it:
a fresh session/process group SIGKILLed after the run, the in-interpreter network guard and, when
`allow_hosts` is empty and unprivileged `unshare --net` works, an empty network namespace. It stops
accidents and naive code, not a determined attacker (no filesystem isolation; setsid() escapes the kill).
Both ways: rlimits for address space, CPU, file size and core dumps, and a minimal environment.
`SandboxResult.isolation` says which one ran.
"""

from __future__ import annotations

import functools
import json
import math
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from promptbreeder.errors import UsageError
from promptbreeder.sandbox._child import NETWORK_MARKER, is_loopback, normalize_host
from promptbreeder.sandbox.isolation import LoopbackBroker, bwrap_command, weakness

FAILURES = ("timeout", "memory", "crash", "network", "bad_return", "syntax")
_BOOTSTRAP = Path(__file__).with_name("_child.py")
_FSIZE_BYTES = 64 * 1024 * 1024  # largest file (stdout included) the candidate may write
_DUMP_GRACE_S = 0.25  # how long before the timeout the child writes its stacks (stacks.txt)
_RESERVED = {"candidate.py"}
STRONG = "bubblewrap"


class SandboxUnavailable(UsageError):
    """Strong isolation is not available here and the caller did not allow the weak sandbox."""


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one run. Only loopback hosts ("localhost", 127.0.0.0/8, ::1) can be allowed: anything
    else raises ValueError here, so a config can never open the sandbox to the outside world."""

    timeout_s: float = 10.0  # wall clock; the whole process group is killed after it
    memory_mb: int = 1024  # RLIMIT_AS of the child
    allow_hosts: tuple[str, ...] = ()  # loopback addresses the code may connect to, e.g. ("127.0.0.1",)
    max_output_chars: int = 20000  # stdout/stderr kept (tail)

    def __post_init__(self):
        if isinstance(self.timeout_s, bool) or not isinstance(self.timeout_s, (int, float)) \
                or not math.isfinite(self.timeout_s) or self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be a positive number of seconds, got {self.timeout_s!r}")
        for name, least in (("memory_mb", 1), ("max_output_chars", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        if isinstance(self.allow_hosts, (str, bytes)):  # ("127.0.0.1") without the comma
            raise ValueError(f"allow_hosts must be a tuple of hosts, got the string {self.allow_hosts!r}")
        hosts = tuple(self.allow_hosts)
        for host in hosts:
            if not isinstance(host, str) or not is_loopback(host):
                raise ValueError(f"allow_hosts may only name loopback hosts (localhost, 127.0.0.0/8, ::1), "
                                 f"got {host!r}")
        object.__setattr__(self, "allow_hosts", hosts)


@dataclass
class SandboxResult:
    """What happened. `value` is the JSON-decoded return value of the entry (None when not ok or no entry);
    `failure` is None or one of FAILURES; `feedback` is a short paragraph for an LLM; stdout/stderr are
    tails of at most `max_output_chars`; `seconds` is the wall time of the child."""

    ok: bool
    value: Any
    failure: str | None
    feedback: str
    stdout: str
    stderr: str
    seconds: float
    isolation: str = STRONG  # "bubblewrap", or "weak: <why the strong one is unavailable>"


def isolation_in_use(allow_weak: bool = False) -> str:
    """What `run_code` would run under here: "bubblewrap", or "weak: <why>" when allowed; otherwise
    raises SandboxUnavailable (one line saying why and how to get it)."""
    why = weakness()
    if why is None:
        return STRONG
    if not allow_weak:
        raise SandboxUnavailable(f"generated code runs only in an isolated sandbox, and {why}; or accept a weaker"
                                 " one (rlimits and a network guard, no filesystem isolation) with"
                                 " --allow_weak_sandbox")
    return f"weak: {why}"


def run_code(source: str, entry: str | None = None, args: Any = None, *, limits: SandboxLimits = SandboxLimits(),
             files: dict[str, str] | None = None, allow_weak: bool = False) -> SandboxResult:
    """Run `source` as `candidate.py` and, with `entry`, call `entry(args)` in a sandboxed subprocess.

    `args` must be JSON-serialisable (the callee gets the JSON round trip, so tuples arrive as lists);
    `files` maps relative paths to text written next to candidate.py. Without `entry` the file runs as
    `__main__`. The temporary folder is always removed. Raises ValueError for bad arguments, and
    SandboxUnavailable when bubblewrap cannot run here and `allow_weak` is False.
    """
    isolation = isolation_in_use(allow_weak)
    if not isinstance(source, str):
        raise ValueError(f"source must be a str, got {type(source).__name__}")
    if entry is not None and (not isinstance(entry, str) or not entry.isidentifier()):
        raise ValueError(f"entry must be None or a Python identifier, got {entry!r}")
    if not isinstance(limits, SandboxLimits):
        raise ValueError(f"limits must be a SandboxLimits, got {type(limits).__name__}")
    try:
        args_json = json.loads(json.dumps(args))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"args must be JSON-serialisable: {exc}") from None
    extra = _checked_files(files)

    root = Path(tempfile.mkdtemp(prefix="pb-sandbox-")).resolve()
    try:
        work, tmp = root / "work", root / "tmp"
        work.mkdir()
        tmp.mkdir()
        (work / "candidate.py").write_text(source, encoding="utf-8")
        for name, text in extra.items():
            target = work / name
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
                raise ValueError(f"files: {name!r} clashes with another entry ({exc.strerror})") from None
        allow = {normalize_host(h) for h in limits.allow_hosts}
        if "localhost" in allow:  # a connect() to "localhost" reaches one of these
            allow |= {"127.0.0.1", "::1"}
        strong = isolation == STRONG
        config = {"entry": entry, "args": args_json, "allow": sorted(allow), "root": str(root),
                  "memory_bytes": limits.memory_mb * 1024 * 1024, "cpu_seconds": math.ceil(limits.timeout_s) + 1,
                  "fsize_bytes": _FSIZE_BYTES, "result": str(root / "result.json"),
                  "stacks": str(root / "stacks.txt"), "stacks_after": max(limits.timeout_s - _DUMP_GRACE_S, 0.05),
                  "broker": str(root / "net.sock") if strong and allow else None}
        (root / "config.json").write_text(json.dumps(config), encoding="utf-8")
        shutil.copyfile(_BOOTSTRAP, root / _BOOTSTRAP.name)  # the package's folder is not visible in the jail
        if strong and allow:
            with LoopbackBroker(root, allow):
                result = _execute(root, work, tmp, limits, strong)
        else:
            result = _execute(root, work, tmp, limits, strong)
        result.isolation = isolation
        return result
    finally:
        _remove_tree(root)


def _checked_files(files: dict[str, str] | None) -> dict[str, str]:
    """`files` with normalised relative names; ValueError for anything that could land outside."""
    if files is None:
        return {}
    if not isinstance(files, dict):
        raise ValueError(f"files must be a dict of relative name -> text, got {type(files).__name__}")
    out: dict[str, str] = {}
    for name, text in files.items():
        if not isinstance(name, str) or not name or "\0" in name or "\\" in name:
            raise ValueError(f"files: bad file name {name!r}")
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or not path.parts or path.name in ("", "."):
            raise ValueError(f"files: {name!r} must be a relative path without '..'")
        if str(path) in _RESERVED:
            raise ValueError(f"files: {name!r} is reserved for the candidate's source")
        if not isinstance(text, str):
            raise ValueError(f"files: the content of {name!r} must be a str, got {type(text).__name__}")
        out[str(path)] = text
    return out


@functools.lru_cache(maxsize=1)
def _netns_prefix() -> tuple[str, ...]:
    """`unshare --net --map-root-user` when it works here without privileges, else (); probed once."""
    exe = shutil.which("unshare")
    if exe is None:
        return ()
    prefix = (exe, "--net", "--map-root-user")
    try:
        probe = subprocess.run([*prefix, "true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ()
    return prefix if probe.returncode == 0 else ()


def _environment(work: Path, tmp: Path) -> dict[str, str]:
    # Built from scratch: no proxies, tokens or PYTHON* variables of the parent reach the candidate.
    return {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(work), "TMPDIR": str(tmp),
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONUTF8": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            # One BLAS/OpenMP thread: per-thread buffers would eat RLIMIT_AS, and threads burn RLIMIT_CPU.
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _execute(root: Path, work: Path, tmp: Path, limits: SandboxLimits, strong: bool) -> SandboxResult:
    # -s -P instead of -I: -I implies -E, which would ignore PYTHONHASHSEED; the environment is ours anyway.
    command = [sys.executable, "-s", "-P", str(root / _BOOTSTRAP.name), str(root / "config.json")]
    if strong:
        command = bwrap_command(root, work, command)
    elif not limits.allow_hosts:
        command = [*_netns_prefix(), *command]
    out_path, err_path = root / "stdout.txt", root / "stderr.txt"
    timed_out = False
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        # Files, not pipes: a grandchild holding a pipe open could never make us hang on it.
        start = time.monotonic()
        proc = subprocess.Popen(command, cwd=work, env=_environment(work, tmp), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, start_new_session=True, close_fds=True)
    try:
        timed_out = not _wait_exit(proc.pid, start + limits.timeout_s)
    finally:
        # The child is a zombie or alive here, so its pid (= the group id) cannot have been reused.
        _kill_group(proc.pid)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # unkillable (D state): leave it, do not hang the caller
            pass
    seconds = time.monotonic() - start
    stdout = _tail(out_path, limits.max_output_chars)
    stderr = _tail(err_path, limits.max_output_chars)
    dump = _read_head(root / "stacks.txt") if timed_out and (root / "stacks.txt").is_file() else ""
    report = _read_result(root / "result.json")
    returncode = proc.returncode
    if strong and returncode is not None and returncode > 128:  # bwrap exits 128 + N for a child killed by N
        returncode = -(returncode - 128)
    failure, value, feedback = _classify(report, returncode, timed_out, dump, stderr, limits)
    for prefix in (str(work) + os.sep, str(root) + os.sep):  # candidate.py, not /tmp/pb-sandbox-xyz/...
        feedback = feedback.replace(prefix, "")
    return SandboxResult(ok=failure is None, value=value if failure is None else None, failure=failure,
                         feedback=feedback, stdout=stdout, stderr=stderr, seconds=round(seconds, 3))


def _wait_exit(pid: int, deadline: float) -> bool:
    """Wait until `pid` exits or `deadline` passes, WITHOUT reaping it. True if it exited."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            while (remaining := deadline - time.monotonic()) > 0:
                if poller.poll(max(1, math.ceil(remaining * 1000))):
                    return True
            return bool(poller.poll(0))
        finally:
            os.close(fd)
    delay = 0.001
    while True:  # no pidfd (old kernel): poll, with WNOWAIT so the pid stays ours
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored by the host application)
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.05)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_head(path: Path) -> str:
    with open(path, "rb") as fh:
        return fh.read(64 * 1024).decode("utf-8", "replace")


def _tail(path: Path, chars: int) -> str:
    """The last `chars` characters of a text file, read without loading all of it."""
    if chars <= 0:
        return ""
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        start = max(0, size - 4 * chars)  # UTF-8 is at most 4 bytes a character
        fh.seek(start)
        text = fh.read(size - start).decode("utf-8", "replace")
    return text[-chars:]


def _read_result(path: Path) -> dict | None:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) and report.get("failure") in (None, *FAILURES) else None


def _last_lines(text: str, n: int) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-n:])


def _classify(report: dict | None, returncode: int, timed_out: bool, dump: str, stderr: str,
              limits: SandboxLimits) -> tuple[str | None, Any, str]:
    """(failure, value, feedback) from the child's report, or from how it died when there is none."""
    if report is not None:
        failure = report.get("failure")
        if failure is None:
            return None, report.get("value"), "OK: the code ran to the end" + \
                (" and returned a JSON-serialisable value." if "value" in report else ".")
        error, tb = report.get("error", ""), _last_lines(report.get("traceback", ""), 12)
        network = report.get("network") or []
        if failure == "syntax":
            text = f"The code does not compile, so nothing ran.\n{tb or error}"
        elif failure == "memory":
            text = (f"The code ran out of memory (limit {limits.memory_mb} MB): {error}. Use less memory: "
                    f"avoid huge lists, strings or arrays; stream or use generators.\n{tb}")
        elif failure == "network":
            refused = network[0] if network else NETWORK_MARKER
            ended = "" if refused in error else f"\nIt ended with: {error}"
            text = (f"The code tried to use the network, which is not allowed here ({refused}). Work offline: "
                    f"no sockets, HTTP or DNS.{ended}\n{tb}")
        elif failure == "bad_return":
            text = (f"The code ran, but {error}. Return only dict, list, str, int, float, bool or None "
                    f"(dict keys as str).")
        else:
            exit_code = report.get("exit_code")
            code_note = f" (exit code {exit_code})" if exit_code is not None else ""
            text = f"The code failed{code_note}: {error}\n{tb}"
        return failure, None, _trimmed(text)
    if timed_out:
        where = [line.strip() for line in dump.splitlines()
                 if line.strip().startswith("File") and "_child.py" not in line and "<frozen" not in line]
        text = (f"The code did not finish within {limits.timeout_s:g} s (wall clock) and was killed: an endless "
                f"loop, a blocking call (sleep, input, waiting on a lock or a process) or a too slow algorithm.")
        if where:
            text += " Where it was (innermost call first):\n" + "\n".join(where[:8])
        return "timeout", None, _trimmed(text)
    # Drop the bootstrap's frames from a faulthandler dump: they are noise to whoever fixes the code.
    detail = _last_lines("\n".join(line for line in stderr.splitlines()
                                   if "_child.py" not in line and "<frozen" not in line), 8)
    if returncode == -signal.SIGXCPU:
        return "timeout", None, _trimmed(f"The code used up its CPU-time limit ({math.ceil(limits.timeout_s) + 1} "
                                         f"s, all threads together) and was killed.\n{detail}")
    if "MemoryError" in stderr or returncode == -signal.SIGKILL:  # SIGKILL we did not send: the OOM killer
        return "memory", None, _trimmed(f"The code ran out of memory (limit {limits.memory_mb} MB) and died.\n"
                                        f"{detail}")
    if NETWORK_MARKER in stderr:
        return "network", None, _trimmed(f"The code tried to use the network, which is not allowed here, and "
                                         f"died.\n{detail}")
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        how = f"was killed by {name}" + (" (a segmentation fault, e.g. in a C extension)"
                                           if name == "SIGSEGV" else "")
    else:
        how = f"exited with code {returncode} without reporting a result (os._exit or a crash of the interpreter)"
    return "crash", None, _trimmed(f"The code {how}.\n{detail}")


def _trimmed(text: str, limit: int = 2000) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit // 2] + "\n[...]\n" + text[-limit // 2:]


def _remove_tree(root: Path) -> None:
    """rmtree that also copes with folders the candidate made unreadable or read-only (as a non-root user)."""
    def make_writable(folder: str) -> None:
        try:
            if stat.S_ISDIR(os.lstat(folder).st_mode):  # lstat: never chmod through a symlink
                os.chmod(folder, 0o700)
        except OSError:
            pass

    make_writable(str(root))
    for folder, subfolders, _ in os.walk(root):  # top-down: each folder is opened before we descend into it
        for name in subfolders:
            make_writable(os.path.join(folder, name))
    shutil.rmtree(root, ignore_errors=True)
