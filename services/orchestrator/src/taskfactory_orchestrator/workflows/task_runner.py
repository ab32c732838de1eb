"""``TaskRunner``: one task (or ``for_each`` item) of a run — render, run, result, publish.

The run workflow and ``TaskBatchWorkflow`` (a slice of a large fan-out, in a child workflow)
both run tasks through it, so a task's input, idempotency key and result record (its ``run_id``
is the run's, also in a batch) are the same whichever of them runs it. Only where a result goes
differs: the run's fast path collects it in the run's outbox, a batch publishes each at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from taskfactory_contracts import (
        ActivityDefinition,
        TaskInput,
        TaskResult,
        TaskStatus,
        TaskTemplate,
        TriggerEvent,
    )
    from taskfactory_contracts.expressions import ExpressionError
    from taskfactory_orchestrator.plan import idempotency_key, render_task
    from taskfactory_orchestrator.workflows.execution import (
        Finished,
        Freshness,
        publish,
        publish_local,
        run_activity_task,
        task_result,
    )

__all__ = ["TaskRunner", "error_of"]


def error_of(exc: Exception) -> tuple[str, str]:
    """The error type and message a task fails with when evaluating its template raised."""
    if isinstance(exc, ExpressionError):
        return "ExpressionError", str(exc)
    return type(exc).__name__, str(exc)[:2000] or type(exc).__name__


@dataclass(frozen=True)
class TaskRunner:
    """Runs the tasks of one run for one trigger on the executor, and publishes their results."""

    definition: ActivityDefinition
    trigger: TriggerEvent
    #: The run's workflow id (a batch's parent): in task ids' keys and every result.
    run_id: str
    results_topic: str
    executor_task_queue: str

    def render(
        self, template: TaskTemplate, scope: Mapping[str, Any], index: int | None, item: Any
    ) -> TaskInput | Finished:
        """The executor input of one task (or item); a failed ``Finished`` if it cannot render."""
        try:
            return render_task(
                template,
                scope,
                workflow_id=self.run_id,
                envelope=self.trigger.envelope,
                index=index,
                item=item,
            )
        except Exception as exc:  # any failure of outside input fails this task
            return Finished(TaskStatus.FAILED, None, *error_of(exc))

    async def run(self, template: TaskTemplate, task: TaskInput) -> Finished:
        """Run a rendered task on the executor with its template's retry and timeouts."""
        return await run_activity_task(
            task,
            task_queue=self.executor_task_queue,
            retry=template.retry,
            start_to_close=template.start_to_close_timeout,
            schedule_to_close=template.schedule_to_close_timeout,
            schedule_to_start=template.schedule_to_start_timeout,
            heartbeat=template.heartbeat_timeout,
        )

    def result(
        self, task_id: str, task_type: str, finished: Finished, started: datetime
    ) -> TaskResult:
        """The result record of one finished task (its key derived as the task's input's)."""
        envelope = self.trigger.envelope
        return task_result(
            self.definition,
            envelope,
            run_id=self.run_id,
            task_id=task_id,
            task_type=task_type,
            key=idempotency_key(self.run_id, envelope.id, task_id),
            finished=finished,
            started=started,
        )

    async def publish(self, result: TaskResult) -> None:
        """Publish a result through the executor (the path of runs before the fast path)."""
        await publish(
            result,
            topic=self.results_topic,
            task_queue=self.executor_task_queue,
            traceparent=self.trigger.traceparent,
            spec=self.definition.results,
        )

    async def publish_local(
        self, result: TaskResult, *, since: datetime, freshness: Freshness
    ) -> None:
        """Publish a result at once from the orchestrator (a local activity)."""
        await publish_local(
            results=(result,),
            results_topic=self.results_topic,
            traceparent=self.trigger.traceparent,
            since=since,
            freshness=freshness,
            spec=self.definition.results,
        )
