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
    from taskfactory_contracts.expressions import Scope
    from taskfactory_orchestrator.models import TaskBatchInput, TaskBatchOutput
    from taskfactory_orchestrator.plan import instance_id
    from taskfactory_orchestrator.workflows.execution import FAST_PATH, Finished, Freshness
    from taskfactory_orchestrator.workflows.task_runner import TaskRunner

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
        scope = Scope(arg.variables)
        # The run's own runner, under the run's id: the same inputs, keys and result records.
        runner = TaskRunner(
            definition=arg.definition,
            trigger=arg.trigger,
            run_id=arg.key_prefix,
            results_topic=arg.results_topic,
            executor_task_queue=arg.executor_task_queue,
        )
        # Batches started before the fast path publish through the executor.
        fast = workflow.patched(FAST_PATH)

        async def one(index: int, item: Any) -> None:
            async with sem:
                if self._out.failed:
                    return
                started = workflow.now()
                since = workflow.info().start_time
                task = runner.render(template, scope, index, item)
                if isinstance(task, Finished):  # outside input fails this item, not the batch
                    finished = task
                else:
                    since = started
                    finished = await runner.run(template, task)
            result = runner.result(
                instance_id(template.id, index), template.type, finished, started
            )
            if fast:
                await runner.publish_local(result, since=since, freshness=self._freshness)
            else:
                await runner.publish(result)
            self._count(finished)

        await asyncio.gather(*(one(arg.first_index + i, item) for i, item in enumerate(arg.items)))
        return self._out

    def _count(self, finished: Finished) -> None:
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
