"""`taskfactory-stack reset`: a stopped stack is emptied, downloads stay; a running one is kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from taskfactory_stack.settings import StackSettings
from taskfactory_stack.stack import Stack


def _reset(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKFACTORY_STACK_")}
    env |= {
        "TASKFACTORY_STACK_DIR": str(root),
        "TASKFACTORY_STACK_CLUSTER_POSTGRES_DIR": str(root / "pg"),
    }
    return subprocess.run(
        [sys.executable, "-m", "taskfactory_stack", "reset", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _fill(stack: Stack) -> list[Path]:
    """Something in every place a component keeps state; returns those places."""
    kept = [p for c in stack.components for p in c.state]
    for path in kept:
        if path.suffix or path.name.endswith(("-wal", "-shm")):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"state")
        else:
            (path / "sub").mkdir(parents=True)
            (path / "sub" / "segment.log").write_bytes(b"state")
    return kept


def test_reset_empties_topics_runs_and_schemas_and_keeps_the_downloads(tmp_path: Path) -> None:
    stack = Stack(StackSettings(dir=tmp_path))
    kept = _fill(stack)
    names = {p.relative_to(tmp_path).as_posix() for p in kept}
    assert names == {
        "kafka/data",
        "temporal/temporal.db",
        "temporal/temporal.db-wal",
        "temporal/temporal.db-shm",
        "registry/data",
    }
    jar = tmp_path / "kafka" / stack.settings.kafka_version / "libs" / "kafka.jar"
    jar.parent.mkdir(parents=True)
    jar.write_bytes(b"jar")

    done = _reset(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("removed: ")
    assert not any(p.exists() for p in kept)
    assert jar.read_bytes() == b"jar"
    again = _reset(tmp_path)
    assert (again.returncode, again.stdout) == (0, "nothing to remove\n")


def test_the_cluster_profile_resets_postgres_and_every_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKFACTORY_STACK_CLUSTER_POSTGRES_DIR", str(tmp_path / "pg"))
    stack = Stack(StackSettings(dir=tmp_path, profile="cluster"))
    kept = _fill(stack)
    assert tmp_path / "pg" in kept
    assert sum(p.name.startswith("data-") for p in kept) == 3
    done = _reset(tmp_path, "--profile", "cluster")
    assert done.returncode == 0, done.stderr
    assert not any(p.exists() for p in kept)


def test_a_running_stack_is_refused_in_one_line_and_keeps_its_state(tmp_path: Path) -> None:
    stack = Stack(StackSettings(dir=tmp_path))
    kept = _fill(stack)
    kafka = stack.components[0].process
    kafka.start([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path)
    try:
        refused = _reset(tmp_path)
    finally:
        kafka.stop(timeout=10)
    assert refused.returncode == 1
    assert refused.stderr == (
        "error: kafka still running; stop the stack first (taskfactory-stack down)\n"
    )
    assert all(p.exists() for p in kept)
