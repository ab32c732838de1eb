"""``TaskBatchWorkflow``: one slice of a large ``for_each`` fan-out, as a child workflow.

Each batch has its own bounded history, so a 10 000-item fan-out never grows the parent's.
Once an item fails, no further item of the batch starts (the parent then compensates).
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from taskfactory_contracts import TaskStatus, names
    from taskfactory_contracts.expressions import ExpressionError, Scope
    from taskfactory_orchestrator.models import TaskBatchInput, TaskBatchOutput
    from taskfactory_orchestrator.plan import instance_id, render_task
    from taskfactory_orchestrator.workflows.execution import (
        FAST_PATH,
        Finished,
        Freshness,
        publish,
        publish_local,
        run_activity_task,
        task_result,
    )

__all__ = ["TaskBatchWorkflow"]


@workflow.defn(name=names.WORKFLOW_TASK_BATCH)
class TaskBatchWorkflow:
    """Runs and publishes one task per item of its slice, at most ``max_parallel`` at once."""

    def __init__(self) -> None:
        self._out = TaskBatchOutput()
        self._freshness = Freshness()

    @workflow.run
    async def run(self, arg: TaskBatchInput) -> TaskBatchOutput:
        """Run every item; counts of succeeded and failed ones."""
        template = next(t for t in arg.definition.tasks if t.id == arg.template_id)
        sem = asyncio.Semaphore(arg.max_parallel)
        envelope = arg.trigger.envelope
        scope = Scope(arg.variables)
        # Batches started before the fast path publish through the executor.
        fast = workflow.patched(FAST_PATH)

        async def one(index: int, item: Any) -> None:
            async with sem:
                if self._out.failed:
                    return
                started = workflow.now()
                since = workflow.info().start_time
                try:
                    task = render_task(
                        template,
                        scope,
                        workflow_id=arg.key_prefix,
                        envelope=envelope,
                        index=index,
                        item=item,
                    )
                except Exception as exc:  # outside input fails this item, not the batch
                    error_type = (
                        "ExpressionError"
                        if isinstance(exc, ExpressionError)
                        else type(exc).__name__
                    )
                    finished = Finished(TaskStatus.FAILED, None, error_type, str(exc)[:2000])
                    key = f"{arg.key_prefix}/{envelope.id}/{instance_id(template.id, index)}"
                else:
                    since = started
                    key = task.idempotency_key
                    finished = await run_activity_task(
                        task,
                        task_queue=arg.executor_task_queue,
                        retry=template.retry,
                        start_to_close=template.start_to_close_timeout,
                        schedule_to_close=template.schedule_to_close_timeout,
                        schedule_to_start=template.schedule_to_start_timeout,
                        heartbeat=template.heartbeat_timeout,
                    )
            result = task_result(
                arg.definition,
                envelope,
                task_id=instance_id(template.id, index),
                task_type=template.type,
                key=key,
                finished=finished,
                started=started,
            ).model_copy(update={"run_id": arg.key_prefix})
            if fast:
                await publish_local(
                    results=(result,),
                    results_topic=arg.results_topic,
                    traceparent=arg.trigger.traceparent,
                    since=since,
                    freshness=self._freshness,
                    spec=arg.definition.results,
                )
            else:
                await publish(
                    result,
                    topic=arg.results_topic,
                    task_queue=arg.executor_task_queue,
                    traceparent=arg.trigger.traceparent,
                    spec=arg.definition.results,
                )
            ok = finished.status is TaskStatus.SUCCEEDED
            self._out = self._out.model_copy(
                update={
                    "succeeded": self._out.succeeded + (1 if ok else 0),
                    "failed": self._out.failed + (0 if ok else 1),
                    "attempts": max(self._out.attempts, finished.attempts),
                    "first_error": self._out.first_error
                    or (None if ok else f"{finished.error_type}: {finished.error_message}"),
                }
            )

        await asyncio.gather(*(one(arg.first_index + i, item) for i, item in enumerate(arg.items)))
        return self._out
