"""Pid-file tracking: only processes we started, recognised even if a pid is recycled."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from taskfactory_stack.errors import StackError
from taskfactory_stack.process import TrackedProcess, port_taken, run_tool


def test_a_started_process_is_tracked_and_stopped(tmp_path: Path) -> None:
    proc = TrackedProcess("sleeper", tmp_path / "run" / "s.pid", tmp_path / "logs" / "s.log")
    pid = proc.start([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path)
    assert proc.pid() == pid
    assert proc.stop(timeout=10) is True
    assert proc.pid() is None
    assert not proc.pid_file.exists()
    assert proc.stop() is False  # nothing of ours left to stop


def test_a_pid_file_naming_another_process_is_stale(tmp_path: Path) -> None:
    proc = TrackedProcess("x", tmp_path / "x.pid", tmp_path / "x.log")
    # Our own pid, but with a start time that is not ours: a recycled pid, not our process.
    proc.pid_file.write_text(f"{__import__('os').getpid()} 1\n")
    assert proc.pid() is None
    assert not proc.pid_file.exists()


def test_port_taken_sees_a_listening_socket() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert port_taken(port)
    assert not port_taken(port)


def test_run_tool_returns_the_output_or_names_what_failed_with_its_last_output() -> None:
    assert run_tool(["sh", "-c", "echo built"], "never") == "built\n"
    with pytest.raises(StackError) as err:
        run_tool(["sh", "-c", "echo half; echo broken >&2; exit 3"], "demo: building failed")
    assert str(err.value) == "demo: building failed (exit 3): half\nbroken"
