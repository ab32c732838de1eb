"""The local stack command: idempotent up, clean down, clear errors (a second, private stack)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from taskfactory_stack.process import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(400)]

STACK = [sys.executable, "-m", "taskfactory_stack"]


def _env(tmp_path: Path, **ports: int) -> dict[str, str]:
    env = dict(os.environ)
    env["TASKFACTORY_STACK_DIR"] = str(tmp_path / "stack")
    # Share the jars the session stack already fetched, so this test downloads nothing.
    env["TASKFACTORY_STACK_JARS_DIR"] = str(Path(".stack/kafka").resolve())
    # Kafka, Temporal and the registry are what this test is about; Jaeger is covered by the
    # tracing e2e.
    env["TASKFACTORY_STACK_JAEGER"] = "false"
    for name, port in ports.items():
        env[f"TASKFACTORY_STACK_{name.upper()}"] = str(port)
    return env


def _stack(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STACK, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_taken_port_gives_a_one_line_error_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        env = _env(
            tmp_path,
            kafka_port=taken,
            kafka_controller_port=free_port(),
            temporal_port=free_port(),
            temporal_ui_port=free_port(),
        )
        result = _stack(env, "up")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: kafka: port {taken} on 127.0.0.1 is already taken by another process "
        "(choose another with TASKFACTORY_STACK_KAFKA_PORT or stop what holds it)"
    ]
    assert not list((tmp_path / "stack" / "run").glob("*.pid"))


def test_up_is_idempotent_down_leaves_no_process_and_jars_are_reused(
    stack: object, tmp_path: Path
) -> None:
    # `stack` makes sure the session stack fetched the jars this private stack reuses.
    env = _env(
        tmp_path,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
        registry_port=free_port(),
        registry_management_port=free_port(),
    )
    first = _stack(env, "up")
    assert first.returncode == 0, first.stderr
    assert "started: kafka, temporal, registry" in first.stdout
    assert "fetching" not in first.stdout  # the cached jars were used
    pids = {
        p.stem: int(p.read_text().split()[0]) for p in (tmp_path / "stack" / "run").glob("*.pid")
    }
    try:
        assert set(pids) == {"kafka", "temporal", "registry"}
        assert all(_alive(pid) for pid in pids.values())

        second = _stack(env, "up")
        assert second.returncode == 0
        assert "already running; nothing to do" in second.stdout
        # Same processes: nothing was started twice.
        again = {
            p.stem: int(p.read_text().split()[0])
            for p in (tmp_path / "stack" / "run").glob("*.pid")
        }
        assert again == pids

        status = _stack(env, "status")
        assert status.returncode == 0
        assert status.stdout.count("healthy") == 3
    finally:
        down = _stack(env, "down")
    assert down.returncode == 0
    assert "stopped: registry, temporal, kafka" in down.stdout
    assert not any(_alive(pid) for pid in pids.values())
    after = _stack(env, "status")
    assert after.returncode == 3
    assert after.stdout.count("stopped") == 3
