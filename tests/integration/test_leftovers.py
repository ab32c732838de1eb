"""What a test session or a benchmark leaves in Temporal is ended at its end, and only that.

The session's end calls ``end_session_runs``: ``end_leftovers`` with the session's marks, which
start every test's uid. Here one test's uid is the mark: a run nobody will ever finish and a
schedule, both under it, are ended; a neighbour's run and schedule are left alone.
"""

from __future__ import annotations

import pytest
from support.session import new_uid, session_marks
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleSpec,
    WorkflowExecutionStatus,
)
from temporalio.service import RPCError, RPCStatusCode

from taskfactory_stack.leftovers import Ended, end_leftovers
from taskfactory_stack.waiting import wait_for

pytestmark = pytest.mark.integration


async def _leave(client: Client, mark: str) -> tuple[str, str]:
    """A run on a task queue nobody polls (running for ever) and a schedule, under ``mark``;
    returns their ids once visibility lists both."""
    run_id, schedule_id = f"{mark}/left-running", f"{mark}-left-behind"
    await client.start_workflow("NobodyRunsThis", id=run_id, task_queue=f"{mark}-orchestrator")
    await client.create_schedule(
        schedule_id,
        Schedule(
            action=ScheduleActionStartWorkflow(
                "NobodyRunsThis", id=f"{mark}/fired", task_queue=f"{mark}-orchestrator"
            ),
            spec=ScheduleSpec(cron_expressions=["0 3 1 1 *"]),
        ),
    )

    async def listed() -> bool:
        running = await client.count_workflows(
            f"WorkflowId = '{run_id}' AND ExecutionStatus = 'Running'"
        )
        schedules = [s.id async for s in await client.list_schedules()]
        return running.count == 1 and schedule_id in schedules

    await wait_for(listed, timeout=30, what=f"{run_id} and {schedule_id} in visibility")
    return run_id, schedule_id


async def _schedule_exists(client: Client, schedule_id: str) -> bool:
    try:
        await client.get_schedule_handle(schedule_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def test_the_runs_and_schedules_under_a_mark_are_ended_and_no_others(
    temporal_client: Client, uid: str
) -> None:
    assert any(uid.startswith(mark) for mark in session_marks()), "the session end misses it"
    neighbour = new_uid()
    try:
        run_id, schedule_id = await _leave(temporal_client, uid)
        other_run, other_schedule = await _leave(temporal_client, neighbour)

        ended = await end_leftovers(temporal_client, [uid], reason="this test ended")

        assert ended == Ended(runs=1, schedules=1)
        described = await temporal_client.get_workflow_handle(run_id).describe()
        assert described.status == WorkflowExecutionStatus.TERMINATED
        assert not await _schedule_exists(temporal_client, schedule_id)
        untouched = await temporal_client.get_workflow_handle(other_run).describe()
        assert untouched.status == WorkflowExecutionStatus.RUNNING
        assert await _schedule_exists(temporal_client, other_schedule)
    finally:
        await end_leftovers(temporal_client, [neighbour], reason="this test ended")
