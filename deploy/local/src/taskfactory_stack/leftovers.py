"""End what a test session or a benchmark left in Temporal, so the Temporal that ``make run``
shows next holds none of it: its running runs (terminated by one batch operation, awaited) and
its schedules (deleted). Both are found by a mark that starts their ids or task queues."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from temporalio.api.batch.v1 import BatchOperationTermination
from temporalio.api.enums.v1 import BatchOperationState
from temporalio.api.workflowservice.v1 import (
    DescribeBatchOperationRequest,
    StartBatchOperationRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from taskfactory_stack.waiting import wait_for

__all__ = ["Ended", "end_leftovers", "ending_leftovers", "new_mark", "running_query"]

#: Seconds a batch termination of leftover runs may take (thousands after a bench).
TERMINATION_TIMEOUT = 300.0


def new_mark(letter: str) -> str:
    """A short mark (``letter`` and 4 hex digits) to start every id and task queue with."""
    return letter + uuid.uuid4().hex[:4]


@dataclass(frozen=True)
class Ended:
    """What :func:`end_leftovers` ended."""

    runs: int
    schedules: int


def running_query(marks: Sequence[str]) -> str:
    """The visibility query of the running runs whose task queue or id starts with a mark."""
    if not marks or any(not m or "'" in m or "\\" in m for m in marks):
        raise ValueError(f"marks must be non-empty and unquoted: {marks!r}")
    mine = " OR ".join(
        f"TaskQueue STARTS_WITH '{m}' OR WorkflowId STARTS_WITH '{m}'" for m in marks
    )
    return f"ExecutionStatus = 'Running' AND ({mine})"


async def end_leftovers(
    client: Client,
    marks: Sequence[str],
    *,
    reason: str,
    namespace: str = "default",
) -> Ended:
    """Terminate the running runs and delete the schedules whose ids (or task queues) start
    with one of ``marks``; returns how many of each."""
    schedules = 0
    async for entry in await client.list_schedules():
        if entry.id.startswith(tuple(marks)):
            await client.get_schedule_handle(entry.id).delete()
            schedules += 1
    query = running_query(marks)
    runs = (await client.count_workflows(query)).count
    if runs:
        await _terminate(client, query, namespace=namespace, reason=reason)
    return Ended(runs=runs, schedules=schedules)


@asynccontextmanager
async def ending_leftovers(
    client: Client, marks: Sequence[str], *, who: str, say: Callable[[str], None] = print
) -> AsyncIterator[None]:
    """Whatever ``who`` (a benchmark, say) started under ``marks`` is ended when the block
    ends, however it ends; says how much that was."""
    try:
        yield
    finally:
        ended = await end_leftovers(client, marks, reason=f"{who}, which started them, ended")
        say(
            f"{who}: terminated {ended.runs} runs left running, "
            f"deleted {ended.schedules} schedules ({', '.join(marks)}*)"
        )


async def _terminate(client: Client, query: str, *, namespace: str, reason: str) -> None:
    """Terminate every run ``query`` finds by one batch operation; wait until it is done."""
    job = f"leftovers-{uuid.uuid4().hex[:8]}"
    service = client.workflow_service
    try:
        await service.start_batch_operation(
            StartBatchOperationRequest(
                namespace=namespace,
                job_id=job,
                visibility_query=query,
                reason=reason,
                termination_operation=BatchOperationTermination(),
            )
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.RESOURCE_EXHAUSTED:
            raise
        # The server runs one batch at a time (an earlier script's may still be terminating).
        print(f"leftovers: not terminated now ({exc.message}): {query}")
        return

    async def finished() -> bool:
        described = await service.describe_batch_operation(
            DescribeBatchOperationRequest(namespace=namespace, job_id=job)
        )
        return described.state != BatchOperationState.BATCH_OPERATION_STATE_RUNNING

    try:
        await wait_for(
            finished, timeout=TERMINATION_TIMEOUT, what=f"terminating runs ({query})", interval=1
        )
    except AssertionError:
        # The batch goes on in the server; what the caller measured must not be lost to it.
        print(
            f"leftovers: batch job {job} still terminating after {TERMINATION_TIMEOUT:.0f}s "
            f"({query}); the server finishes it"
        )
