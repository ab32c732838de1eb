"""Processes the stack started, tracked by pid files (never found by name matching)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from taskfactory_stack.errors import StackError

__all__ = [
    "TrackedProcess",
    "free_port",
    "logged_port",
    "port_taken",
    "reported_port",
    "run_tool",
    "tail",
]


def run_tool(
    argv: Sequence[str],
    failed: str,
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run ``argv`` to its end and return its standard output; a non-zero exit raises
    :class:`StackError` ``failed`` followed by the exit status and the end of its output."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False, cwd=cwd, env=env)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()[-400:]
        raise StackError(f"{failed} (exit {proc.returncode}): {output}")
    return proc.stdout


def _start_ticks(pid: int) -> str | None:
    # Field 22 of /proc/PID/stat is the start time; with the pid it names one process for ever,
    # so a recycled pid is never mistaken for ours.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # zombie: exited, waiting for its parent
        return None
    return fields[19]


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something already listens on (or holds) ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port() -> int:
    """A loopback port nothing listens on right now.

    Only for programs that cannot report the port they bound (Kafka, Temporal, Keycloak): the
    port is free when this returns, but another process may take it before the program binds
    it. Our services take port 0 instead and report theirs (:func:`reported_port`).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def logged_port(log: str, key: str = "http_port") -> int | None:
    """The port in the first JSON line of the log text ``log`` that has a ``key`` field, if any.

    Each service logs ``http_port`` as soon as its health server listens (and the codec server
    ``port``), so a service started with port 0 tells which port it bound.
    """
    for line in log.splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:  # a line still being written, or not ours
            continue
        port = record.get(key) if isinstance(record, dict) else None
        if isinstance(port, int) and not isinstance(port, bool) and port > 0:
            return port
    return None


def reported_port(process: TrackedProcess, *, key: str = "http_port", timeout: float = 90) -> int:
    """Wait for the port ``process`` reports in its log (:func:`logged_port`) and return it.

    Raises :class:`StackError` with the end of its log if it exits first (e.g. its port was
    taken) or ``timeout`` seconds pass.
    """

    def logged() -> int | None:
        try:
            return logged_port(process.log_file.read_text(errors="replace"), key)
        except OSError:  # not created yet
            return None

    deadline = time.monotonic() + timeout
    while True:
        port = logged()
        if port is not None:
            return port
        if process.pid() is None:
            # It may have logged the port just before it exited.
            port = logged()
            if port is not None:
                return port
            raise StackError(
                f"{process.name}: exited before it reported its port ({key}); last log lines "
                f"({process.log_file}):\n{tail(process.log_file)}"
            )
        if time.monotonic() > deadline:
            raise StackError(
                f"{process.name}: reported no port ({key}) within {timeout:.0f} s; last log "
                f"lines ({process.log_file}):\n{tail(process.log_file)}"
            )
        time.sleep(0.1)  # polling interval of the condition above, not a synchronisation


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file ('' if it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


@dataclass(frozen=True)
class TrackedProcess:
    """A process started by the stack, remembered in ``<run>/<name>.pid``."""

    name: str
    pid_file: Path
    log_file: Path

    def pid(self) -> int | None:
        """The pid if our process is alive, else ``None`` (a stale pid file is removed)."""
        try:
            pid_text, ticks = self.pid_file.read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        if _start_ticks(pid) != ticks:
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def start(self, argv: list[str], *, env: dict[str, str] | None = None, cwd: Path) -> int:
        """Start ``argv`` in its own session, logging to the log file; returns the pid."""
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        ticks = None
        deadline = time.monotonic() + 5
        while ticks is None and time.monotonic() < deadline and proc.poll() is None:
            ticks = _start_ticks(proc.pid)
        self.pid_file.write_text(f"{proc.pid} {ticks}\n")
        return proc.pid

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM the process group, SIGKILL after ``timeout``; True if something was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _start_ticks(pid) is not None:
            time.sleep(0.1)
        if _start_ticks(pid) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            while _start_ticks(pid) is not None:
                time.sleep(0.05)
        # Reap it if we are its parent (same process ran `up` and `down`).
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        self.pid_file.unlink(missing_ok=True)
        return True
