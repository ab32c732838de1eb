"""A per-test orchestrator worker with the executor's activities mocked by name."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from taskfactory_contracts import (
    ActivityDefinition,
    Envelope,
    PublishResultInput,
    PublishRunEventInput,
    RunActivityInput,
    RunEvent,
    TaskInput,
    TaskOutput,
    TaskResult,
    TriggerEvent,
    names,
)
from taskfactory_orchestrator.models import PublishRecordInput, ResolveContextInput, RunOutcome
from taskfactory_orchestrator.worker import SANDBOX, WORKFLOWS

TaskFn = Callable[[TaskInput, int], Awaitable[Any]]


@dataclass
class FakeExecutor:
    """Records every task call and published result; task types behave as the test says."""

    behaviours: dict[str, TaskFn] = field(default_factory=dict)
    calls: list[TaskInput] = field(default_factory=list)
    results: list[TaskResult] = field(default_factory=list)
    run_events: list[RunEvent] = field(default_factory=list)
    running: int = 0
    max_running: int = 0
    gates: dict[str, asyncio.Event] = field(default_factory=dict)

    @activity.defn(name=names.ACTIVITY_RUN_TASK)
    async def run_task(self, task: TaskInput) -> TaskOutput:
        attempt = activity.info().attempt
        self.calls.append(task)
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            gate = self.gates.get(task.type)
            if gate is not None:
                await gate.wait()
            fn = self.behaviours.get(task.type)
            output = await fn(task, attempt) if fn else {"echo": task.params}
        finally:
            self.running -= 1
        return TaskOutput(output=output, attempt=attempt)

    @activity.defn(name=names.ACTIVITY_PUBLISH_RESULT)
    async def publish_result(self, arg: PublishResultInput) -> None:
        self.results.append(arg.result)

    @activity.defn(name=names.ACTIVITY_PUBLISH_RUN_EVENT)
    async def publish_run_event(self, arg: PublishRunEventInput) -> None:
        self.run_events.append(arg.event)

    @activity.defn(name=names.ACTIVITY_PUBLISH_LOCAL)
    async def publish_local(self, arg: PublishRecordInput) -> None:
        """The orchestrator's local publish (fast path), recorded like the executor's."""
        self.results.extend(arg.results)
        self.run_events.extend(arg.events)

    @activity.defn(name=names.ACTIVITY_RESOLVE_CONTEXT)
    async def resolve_context(self, arg: ResolveContextInput) -> Any:
        return {"source": arg.name, "url": getattr(arg.source, "url", None)}

    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.run_task,
            self.publish_result,
            self.publish_run_event,
            self.publish_local,
            self.resolve_context,
        ]

    def result(self, task_id: str) -> TaskResult:
        found = [r for r in self.results if r.task_id == task_id]
        assert len(found) == 1, f"{task_id}: {len(found)} results in {self.task_ids()}"
        return found[0]

    def task_ids(self) -> list[str]:
        return [r.task_id for r in self.results]

    def call_order(self) -> list[str]:
        return [c.task_id for c in self.calls]


def fail(error_type: str, *, non_retryable: bool = True, until: int | None = None) -> TaskFn:
    """A task that fails (until attempt ``until``, then succeeds)."""

    async def run(task: TaskInput, attempt: int) -> Any:
        if until is not None and attempt >= until:
            return {"ok": task.task_id, "attempt": attempt}
        raise ApplicationError(
            f"{task.task_id} broke", type=error_type, non_retryable=non_retryable
        )

    return run


def definition(doc: dict[str, Any]) -> ActivityDefinition:
    base = {
        "id": "wf-test",
        "version": 3,
        "trigger": {"event_types": ["test.happened"]},
        "correlation": {"workflow_id": "wf-test/{id}"},
    }
    return ActivityDefinition.model_validate({**base, **doc})


def trigger(data: dict[str, Any] | None = None, *, event_id: str | None = None) -> TriggerEvent:
    env = Envelope(
        id=event_id or uuid.uuid4().hex,
        source="/tests",
        type="test.happened",
        subject="subject-1",
        time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        data=json.dumps(data or {}).encode(),
    )
    return TriggerEvent(envelope=env)


@dataclass
class Harness:
    client: Client
    queue: str
    executor: FakeExecutor

    async def start(
        self,
        defn: ActivityDefinition,
        trig: TriggerEvent | None = None,
        *,
        wid: str | None = None,
        runs_topic: str | None = None,
        results_topic: str = "results",
    ) -> WorkflowHandle[Any, Any]:
        trig = trig or trigger()
        return await self.client.start_workflow(
            names.WORKFLOW_RUN_ACTIVITY,
            RunActivityInput(
                definition=defn,
                trigger=trig,
                results_topic=results_topic,
                executor_task_queue=self.queue,
                runs_topic=runs_topic,
            ),
            id=wid or f"{self.queue}/{trig.envelope.id}",
            task_queue=self.queue,
            result_type=RunOutcome,
        )


@asynccontextmanager
async def harness(
    client: Client,
    queue: str,
    executor: FakeExecutor,
    *,
    publish_local: Callable[..., Any] | None = None,
) -> AsyncIterator[Harness]:
    """A worker for ``queue``; ``publish_local``: the real publishing instead of the fake's."""
    activities = executor.activities()
    if publish_local is not None:
        activities = [a for a in activities if a != executor.publish_local] + [publish_local]
    async with Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=activities,
        workflow_runner=SANDBOX,
        max_concurrent_activities=200,
    ):
        yield Harness(client, queue, executor)
