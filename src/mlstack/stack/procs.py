"""Process and port helpers shared by the service launchers."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable


class StackError(RuntimeError):
    """A problem the user can act on; the CLI prints it without a traceback."""


class PortTakenError(StackError):
    def __init__(self, service: str, host: str, port: int):
        super().__init__(
            f"port {port} on {host} (wanted by {service}) is already in use by another "
            f"process; stop that process or choose another port "
            f"(e.g. {PORT_ENV_VARS.get(service, 'the MLSTACK_*_PORT variables')})"
        )
        self.service, self.port = service, port


PORT_ENV_VARS = {
    "PostgreSQL": "MLSTACK_PG_PORT",
    "S3 server": "MLSTACK_S3_PORT",
    "MinIO console": "MLSTACK_S3_CONSOLE_PORT",
    "MLflow server": "MLSTACK_MLFLOW_PORT",
}


def port_is_free(host: str, port: int) -> bool:
    # SO_REUSEADDR as servers set it, so sockets lingering in TIME_WAIT after a
    # `down` do not count as "taken"; a listening socket still does.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def ensure_port_free(service: str, host: str, port: int) -> None:
    if not port_is_free(host, port):
        raise PortTakenError(service, host, port)


def pick_free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _reap_if_our_child(pid: int) -> None:
    # Processes spawned by this Python process turn into zombies when they
    # exit; reap them so liveness checks see them as gone.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def process_is_running(pid: int | None, cmdline_marker: str) -> bool:
    """True if `pid` is alive and its command line contains `cmdline_marker`.

    The marker guards against a recycled pid: a stale pid file must never
    make us report, or signal, somebody else's process.
    """
    if not pid:
        return False
    _reap_if_our_child(pid)
    proc = Path("/proc") / str(pid)
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z" and cmdline_marker in cmdline


def spawn_detached(cmd: list[str], log_file: Path, env: dict[str, str], cwd: Path) -> int:
    """Start `cmd` in its own session (so it outlives us and Ctrl-C in the
    calling shell) with output appended to `log_file`; return its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    return proc.pid


def stop_process_group(pid: int, cmdline_marker: str, timeout: float = 15.0) -> bool:
    """SIGTERM the process group led by `pid` (servers fork workers), then
    SIGKILL what is left after `timeout`. Returns False if it was not running."""
    if not process_is_running(pid, cmdline_marker):
        return False
    _signal_group(pid, signal.SIGTERM)
    if wait_for(lambda: not process_is_running(pid, cmdline_marker), timeout):
        _signal_group(pid, signal.SIGTERM)  # stray workers of an exited leader
        return True
    _signal_group(pid, signal.SIGKILL)
    wait_for(lambda: not process_is_running(pid, cmdline_marker), 5.0)
    return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
        interval = min(interval * 1.5, 0.25)


def log_tail(log_file: Path, lines: int = 20) -> str:
    try:
        text = log_file.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:])


def wait_until_ready(
    service: str,
    is_ready: Callable[[], bool],
    pid: int,
    cmdline_marker: str,
    log_file: Path,
    timeout: float,
) -> None:
    """Wait for readiness, failing fast (with the log) if the process dies."""
    died = False

    def ready_or_dead() -> bool:
        nonlocal died
        if is_ready():
            return True
        died = not process_is_running(pid, cmdline_marker)
        return died

    if wait_for(ready_or_dead, timeout) and not died:
        return
    reason = "exited during startup" if died else f"not ready after {timeout:.0f}s"
    raise StackError(f"{service} {reason}; last lines of {log_file}:\n{log_tail(log_file)}")
