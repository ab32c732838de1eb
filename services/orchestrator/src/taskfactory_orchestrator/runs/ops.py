"""What a person does to runs, for ``taskfactory runs`` and the admin API alike.

A run is this taskfactory's when it has one of the run workflow types and runs on the
orchestrator's task queue; every other workflow id is :class:`NotOurs`, whatever Temporal holds.
Filters go into a visibility query only through :func:`literal`, the one safe way in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from taskfactory_contracts import TaskStatus, names
from taskfactory_orchestrator.errors import NotOurs, NotRunning, UnsafeValue
from taskfactory_orchestrator.models import ApprovalDecision, RunStatusView, TaskState
from taskfactory_orchestrator.plan import idempotency_key, result_id

__all__ = [
    "RPC_TIMEOUT",
    "SAFE_PATTERN",
    "NotOurs",
    "NotRunning",
    "RunFilter",
    "RunOps",
    "RunStatusName",
    "UnsafeValue",
    "literal",
    "produced_result_id",
    "runs_query",
]

#: Values end up inside a visibility query string: no quotes, backslashes or control
#: characters (a NUL cuts the query short in the dev server's SQLite: an error, not a match),
#: and no "?": Temporal's SQL visibility on PostgreSQL rebinds every "?" of the query as a
#: placeholder, even inside a string literal, and the query fails (found on the cluster profile).
SAFE_PATTERN = r"^[^'\"\\?\x00-\x1f\x7f]*$"
_SAFE = re.compile(SAFE_PATTERN)
RPC_TIMEOUT = timedelta(seconds=20)
_TYPES = (names.WORKFLOW_RUN_ACTIVITY, names.WORKFLOW_RUN_ACTIVITY_V1)

_Rows = list[dict[str, Any]]  # (the name ``list`` is a method of RunOps)
RunStatusName = Literal[
    "Running", "Completed", "Failed", "Canceled", "Terminated", "TimedOut", "ContinuedAsNew"
]


def literal(value: str) -> str:
    """``value`` as a quoted visibility-query literal; :class:`UnsafeValue` if it cannot be one."""
    if not _SAFE.fullmatch(value):  # (match would let a final newline through `$`)
        raise UnsafeValue(
            f"{value!r} holds a quote, backslash, '?' or control character, "
            "which a visibility query cannot take"
        )
    return f"'{value}'"


@dataclass(frozen=True)
class RunFilter:
    """Which runs to list: every field narrows (``None``: any)."""

    definition: str | None = None
    subject: str | None = None
    status: RunStatusName | None = None
    since: datetime | None = None
    until: datetime | None = None


def runs_query(task_queue: str, where: RunFilter) -> str:
    """The visibility query for this taskfactory's runs on ``task_queue`` that match ``where``
    (every value through :func:`literal`)."""
    # Runs of both types: the fast path's and those started before it.
    types = ", ".join(literal(t) for t in _TYPES)
    query = [f"WorkflowType IN ({types})", f"TaskQueue = {literal(task_queue)}"]
    filters = (
        (names.SA_DEFINITION, "=", where.definition),
        (names.SA_SUBJECT, "=", where.subject),
        ("ExecutionStatus", "=", where.status),
        ("StartTime", ">=", where.since.isoformat() if where.since else None),
        ("StartTime", "<=", where.until.isoformat() if where.until else None),
    )
    query += [f"{field} {op} {literal(value)}" for field, op, value in filters if value]
    return " AND ".join(query)


def produced_result_id(
    workflow_id: str, event_id: str, task_id: str, state: TaskState
) -> str | None:
    """The id of the result record the task published for the event, ``None`` while it has
    published none (still pending or running) or published one per ``for_each`` item."""
    if state.items_total is not None or state.phase.value not in {s.value for s in TaskStatus}:
        return None
    return result_id(idempotency_key(workflow_id, event_id, task_id))


@dataclass
class RunOps:
    """The operations on this taskfactory's runs."""

    client: Client
    #: The orchestrator task queue: a run is taskfactory's when it runs there.
    task_queue: str = names.TASK_QUEUE_ORCHESTRATOR

    async def list(self, where: RunFilter, *, limit: int) -> list[dict[str, Any]]:
        """The matching runs, newest first: id, run id, status, start and close times."""
        out: list[dict[str, Any]] = []
        async for wf in self.client.list_workflows(
            runs_query(self.task_queue, where), limit=limit, rpc_timeout=RPC_TIMEOUT
        ):
            out.append(
                {
                    "workflow_id": wf.id,
                    "run_id": wf.run_id,
                    "status": wf.status.name if wf.status else None,
                    "start_time": wf.start_time.isoformat(),
                    "close_time": wf.close_time.isoformat() if wf.close_time else None,
                }
            )
        return out

    async def run(self, workflow_id: str, *, running: bool = False) -> WorkflowHandle[Any, Any]:
        """The handle of a run this taskfactory started (:class:`NotOurs` otherwise;
        :class:`NotRunning` if ``running`` is asked and it has closed)."""
        handle = self.client.get_workflow_handle(workflow_id)
        described = await handle.describe(rpc_timeout=RPC_TIMEOUT)
        if described.workflow_type not in _TYPES or described.task_queue != self.task_queue:
            raise NotOurs(f"no taskfactory run {workflow_id!r}")
        if running and described.status != WorkflowExecutionStatus.RUNNING:
            status = described.status.name.lower() if described.status else "closed"
            raise NotRunning(f"run {workflow_id!r} is {status}")
        return handle

    async def status(self, workflow_id: str) -> RunStatusView:
        """The run's state and each task's phase, attempts and last error."""
        handle = await self.run(workflow_id)
        view: RunStatusView = await handle.query(
            names.QUERY_STATUS, result_type=RunStatusView, rpc_timeout=RPC_TIMEOUT
        )
        return view

    async def decide(self, workflow_id: str, decision: ApprovalDecision) -> Any:
        """Give a waiting task a person's decision; the task's state once it took effect."""
        handle = await self.run(workflow_id, running=True)
        return await handle.execute_update(names.UPDATE_APPROVAL, decision, rpc_timeout=RPC_TIMEOUT)

    async def cancel(self, workflow_id: str) -> None:
        """Ask the run to cancel: running tasks are cancelled, completed ones compensated."""
        handle = await self.run(workflow_id, running=True)
        await handle.cancel(rpc_timeout=RPC_TIMEOUT)

    async def produced(self, event_id: str, where: RunFilter, *, limit: int) -> _Rows:
        """What the event ``event_id`` produced: each run it started among the newest ``limit``
        runs matching ``where``, with its state and each task's phase and result id.

        Visibility cannot search by event id, so each listed run's status query says which
        event started it; ``where`` (definition, subject, time) keeps that list short."""
        out: _Rows = []
        for run in await self.list(where, limit=limit):
            view = await self.status(run["workflow_id"])
            if view.event_id != event_id:
                continue
            tasks = {
                task_id: {
                    "phase": state.phase.value,
                    "result_id": produced_result_id(run["workflow_id"], event_id, task_id, state),
                }
                for task_id, state in view.tasks.items()
            }
            out.append(
                {
                    **run,
                    "definition_id": view.definition_id,
                    "state": view.state.value,
                    "tasks": tasks,
                }
            )
        return out
