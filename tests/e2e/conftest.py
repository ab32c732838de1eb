"""Run the three services as real processes against the test stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import StackInfo, Topics
from tf_testing import RunningServices


@pytest.fixture
def services(
    stack: StackInfo, topics: Topics, uid: str, tmp_path: Path
) -> Iterator[RunningServices]:
    """Orchestrator, executor and ingress on this test's topics, group and task queues.

    The test writes its definitions into ``services.definitions`` and then calls ``start()``.
    """
    env = {
        "TASKFACTORY_KAFKA__BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "TASKFACTORY_TEMPORAL__ADDRESS": stack.temporal_address,
        "TASKFACTORY_TEMPORAL__ORCHESTRATOR_TASK_QUEUE": f"{uid}-orchestrator",
        "TASKFACTORY_TEMPORAL__EXECUTOR_TASK_QUEUE": f"{uid}-executor",
        "TASKFACTORY_INGRESS__GROUP_ID": f"{uid}-ingress",
        "TASKFACTORY_DEFINITIONS_DIR": str(tmp_path / "definitions"),
        **topics.env(),
    }
    running = RunningServices(tmp_path, env, group=f"{uid}-ingress")
    try:
        yield running
    finally:
        running.set.stop()
        for name, process in running.set.processes.items():
            if process.log_file.exists():
                # pytest shows captured output only when the test failed.
                print(f"==> {name} log (last 40 lines) <==")
                print("\n".join(process.log_file.read_text().splitlines()[-40:]))
