"""SIGTERM to a real executor process with tasks in flight: they finish (within the drain
deadline) or are handed back to another executor (past it); nothing is lost; exit code 0."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from support.executor_harness import DriveInput, DriveOutput, DriveTaskWorkflow, task_input
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from taskfactory_stack.process import logged_port
from taskfactory_stack.running import RunningServices
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TASKS = 3


def _reported_port(log: Path) -> int | None:
    """The HTTP port the executor logged once it listened (it binds port 0)."""
    return logged_port(log.read_text(errors="replace"))


@asynccontextmanager
async def executor_process(
    services: RunningServices, log: Path, *, drain_seconds: float
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python -m taskfactory_executor`` on the test's queue, ready (its /readyz says so)."""
    env = {
        **os.environ,
        **services.env,
        "TASKFACTORY_HTTP__PORT": "0",  # any free port: it logs the one it bound
        "TASKFACTORY_DRAIN_SECONDS": str(drain_seconds),
    }
    with log.open("wb") as out:  # a new log: the port it reports is the first in it
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "taskfactory_executor", env=env, stdout=out, stderr=out
        )

    async def ready() -> bool:
        assert process.returncode is None, f"the executor exited; see {log}"
        port = _reported_port(log)
        if port is None:  # not listening yet
            return False
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    try:
        await wait_for(ready, timeout=90, what="the executor ready")
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _start_tasks(
    client: Client, services: RunningServices, uid: str, seconds: float, heartbeat: float
) -> list[WorkflowHandle[DriveTaskWorkflow, DriveOutput]]:
    queue = services.env["TASKFACTORY_TEMPORAL__EXECUTOR_TASK_QUEUE"]
    handles = []
    for n in range(TASKS):
        arg = DriveInput(
            task=task_input(uid, "sleep", {"seconds": seconds, "checkpoint_every": 0.5}, n=n),
            task_queue=queue,
            start_to_close_seconds=120,
            heartbeat_seconds=heartbeat,
            initial_interval_seconds=0.5,
        )
        handles.append(
            await client.start_workflow(
                DriveTaskWorkflow.run, arg, id=f"{uid}-drain-{n}", task_queue=f"{uid}-driver"
            )
        )
    return handles


async def _all_running(handles: list[WorkflowHandle[DriveTaskWorkflow, DriveOutput]]) -> bool:
    for handle in handles:
        pending = (await handle.describe()).raw_description.pending_activities
        started = PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        if not pending or pending[0].state != started or not pending[0].heartbeat_details:
            return False
    return True


@asynccontextmanager
async def _driver(client: Client, uid: str) -> AsyncIterator[None]:
    async with Worker(
        client,
        task_queue=f"{uid}-driver",
        workflows=[DriveTaskWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield


async def test_sigterm_lets_tasks_in_flight_finish_and_exits_0(
    services: RunningServices, temporal_client: Client, uid: str, tmp_path: Path
) -> None:
    log = tmp_path / "executor.log"
    async with (
        _driver(temporal_client, uid),
        executor_process(services, log, drain_seconds=30) as executor,
    ):
        handles = await _start_tasks(temporal_client, services, uid, seconds=4, heartbeat=10)

        async def running() -> bool:
            return await _all_running(handles)

        await wait_for(running, timeout=60, what="every task running on the executor")
        executor.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(executor.wait(), 60) == 0, log.read_text()
        # Each task finished on its first attempt, inside the drain: nothing retried, none lost.
        outcomes = [await h.result() for h in handles]
    assert [o.status for o in outcomes] == ["succeeded"] * TASKS
    assert [o.output["attempt"] for o in outcomes] == [1] * TASKS
    assert [o.output["resumed_from"] for o in outcomes] == [0.0] * TASKS
    text = log.read_text()
    assert '"draining"' in text
    assert '"executor stopped"' in text


async def test_sigterm_past_the_drain_deadline_hands_tasks_back_and_exits_0(
    services: RunningServices, temporal_client: Client, uid: str, tmp_path: Path
) -> None:
    async with _driver(temporal_client, uid):
        async with executor_process(services, tmp_path / "first.log", drain_seconds=1) as first:
            handles = await _start_tasks(temporal_client, services, uid, seconds=8, heartbeat=3)

            async def running() -> bool:
                return await _all_running(handles)

            await wait_for(running, timeout=60, what="every task running on the executor")
            first.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(first.wait(), 60)
            assert code == 0, (tmp_path / "first.log").read_text()
        # The tasks were cancelled at the deadline, not lost: a second executor takes them
        # over and resumes each from its last heartbeat checkpoint.
        async with executor_process(services, tmp_path / "second.log", drain_seconds=20):
            outcomes = [await h.result() for h in handles]
    assert [o.status for o in outcomes] == ["succeeded"] * TASKS
    for outcome in outcomes:
        assert outcome.output["attempt"] >= 2
        assert outcome.output["resumed_from"] > 0
        assert outcome.output["slept_seconds"] == 8
