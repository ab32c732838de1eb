"""How a run runs its tasks: context, one task (or item), batches, and the record of each."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from taskfactory_contracts import (
        ActivityDefinition,
        Envelope,
        HttpContext,
        PluginContext,
        StaticContext,
        TaskStatus,
        TaskTemplate,
        TriggerEvent,
        names,
    )
    from taskfactory_contracts.expressions import (
        ExpressionError,
        render,
        render_url,
    )
    from taskfactory_orchestrator.models import (
        ResolveContextInput,
        TaskBatchInput,
        TaskBatchOutput,
    )
    from taskfactory_orchestrator.plan import (
        instance_id,
        variables,
    )
    from taskfactory_orchestrator.workflows.execution import (
        Finished,
        retry_policy,
    )
    from taskfactory_orchestrator.workflows.run_core import (
        Completed,
        RunCore,
    )
    from taskfactory_orchestrator.workflows.task_runner import TaskRunner

__all__ = ["BATCH_SIZE", "INLINE_ITEMS", "RunTasks"]

#: Fan-outs up to this many items run inline; larger ones in child workflows of BATCH_SIZE.
INLINE_ITEMS = 50
BATCH_SIZE = 100


class RunTasks(RunCore):
    """Resolving the context, running one task or item on the executor, large fan-outs in child
    workflows, and recording each result into the run's state and outbox."""

    async def _resolve_context(
        self, definition: ActivityDefinition, envelope: Envelope
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        scope: dict[str, Any] | None = None
        for name, source in definition.context.items():
            if isinstance(source, StaticContext):
                out[name] = source.value
                continue
            try:
                scope = scope if scope is not None else variables(definition, envelope)
                rendered: HttpContext | PluginContext
                if isinstance(source, HttpContext):
                    rendered = source.model_copy(
                        update={
                            "url": render_url(source.url, scope),
                            "headers": {
                                k: str(v) for k, v in render(source.headers, scope).items()
                            },
                            "body": render(source.body, scope),
                        }
                    )
                else:
                    rendered = source.model_copy(update={"params": render(source.params, scope)})
            except Exception as exc:  # outside input fails the run, not the task
                error_type = "ExpressionError" if isinstance(exc, ExpressionError) else None
                raise ApplicationError(
                    str(exc) if error_type else f"{type(exc).__name__}: {exc}",
                    type=error_type or type(exc).__name__,
                ) from None
            arg = ResolveContextInput(name=name, source=rendered)
            if self._fast:
                # On the orchestrator itself: a marker instead of an activity task.
                out[name] = await workflow.execute_local_activity(
                    names.ACTIVITY_RESOLVE_CONTEXT,
                    arg,
                    start_to_close_timeout=source.timeout,
                    retry_policy=retry_policy(source.retry),
                )
                continue
            out[name] = await workflow.execute_activity(
                names.ACTIVITY_RESOLVE_CONTEXT,
                arg,
                task_queue=workflow.info().task_queue,
                start_to_close_timeout=source.timeout,
                retry_policy=retry_policy(source.retry),
            )
        return out

    def _runner(self, trigger: TriggerEvent) -> TaskRunner:
        return TaskRunner(
            definition=self._definition,
            trigger=trigger,
            run_id=workflow.info().workflow_id,
            results_topic=self._arg.results_topic,
            executor_task_queue=self._arg.executor_task_queue,
        )

    async def _one(
        self,
        template: TaskTemplate,
        scope: Mapping[str, Any],
        trigger: TriggerEvent,
        index: int | None,
        item: Any,
    ) -> Finished | None:
        """One task (or item): render, run on the executor, publish; None if never started."""
        runner = self._runner(trigger)
        task = runner.render(template, scope, index, item)
        if isinstance(task, Finished):  # it cannot render: failed
            await self._record(template, trigger, index, item, task)
            return task
        began = False
        try:
            async with self._sem:
                if self._stopping():
                    if index is None:
                        self._ledger.not_started(template.id)
                    return None
                if index is None:
                    self._ledger.start(template.id)
                started = workflow.now()
                began = True
                finished = await runner.run(template, task)
        except asyncio.CancelledError:
            if not began:
                if index is None:
                    self._ledger.not_started(template.id)
                return None
            finished = Finished(TaskStatus.CANCELLED, None, "CancelledError", "run cancelled")
            await self._record(template, trigger, index, item, finished, started=workflow.now())
            return finished
        await self._record(template, trigger, index, item, finished, started=started, since=started)
        return finished

    async def _record(
        self,
        template: TaskTemplate,
        trigger: TriggerEvent,
        index: int | None,
        item: Any,
        finished: Finished,
        *,
        started: Any = None,
        task_id: str | None = None,
        task_type: str | None = None,
        compensation: bool = False,
        since: datetime | None = None,
    ) -> None:
        """Publish one task's result and fold it into the run state.

        ``since``: the earliest moment the result can have been decided (its task's start).
        """
        runner = self._runner(trigger)
        tid = task_id or instance_id(template.id, index)
        result = runner.result(tid, task_type or template.type, finished, started or workflow.now())
        if self._fast:
            self._out_results.append(result)
            self._note_since(since)
        else:
            await runner.publish(result)
        if compensation:
            return
        ok = finished.status is TaskStatus.SUCCEEDED
        error = None if ok else f"{finished.error_type}: {finished.error_message}"
        if index is None:
            self._ledger.finish(template.id, finished.status, finished.attempts, error)
        else:
            self._ledger.items_finished(
                template.id, done=1, failed=0 if ok else 1, attempts=finished.attempts, error=error
            )
        if ok:
            self._completed.append(Completed(template, tid, index, item, finished.output))
        elif finished.status is not TaskStatus.CANCELLED and self._failure is None:
            self._failure = f"task {tid} {finished.status.value}: {error}"

    async def _finish_failed(
        self, template: TaskTemplate, trigger: TriggerEvent, error_type: str, message: str
    ) -> None:
        finished = Finished(TaskStatus.FAILED, None, error_type, message)
        await self._record(template, trigger, None, None, finished)

    async def _batches(
        self,
        template: TaskTemplate,
        scope: Mapping[str, Any],
        trigger: TriggerEvent,
        items: list[Any],
    ) -> None:
        """Large fan-outs: one child workflow per BATCH_SIZE items, one after another."""
        workflow_id = workflow.info().workflow_id
        for number, first in enumerate(range(0, len(items), BATCH_SIZE)):
            if self._stopping():
                break
            batch = TaskBatchInput(
                definition=self._definition,
                trigger=trigger,
                template_id=template.id,
                first_index=first,
                items=items[first : first + BATCH_SIZE],
                variables=dict(scope),
                key_prefix=workflow_id,
                results_topic=self._arg.results_topic,
                executor_task_queue=self._arg.executor_task_queue,
                max_parallel=self._definition.max_parallel,
            )
            try:
                out = await workflow.execute_child_workflow(
                    names.WORKFLOW_TASK_BATCH,
                    batch,
                    id=f"{workflow_id}/{trigger.envelope.id}/{template.id}/batch-{number}",
                    task_queue=workflow.info().task_queue,
                    result_type=TaskBatchOutput,
                )
            except asyncio.CancelledError:
                self._ledger.cancel(template.id)
                return
            self._ledger.items_finished(
                template.id,
                done=out.succeeded + out.failed,
                failed=out.failed,
                attempts=out.attempts,
                error=out.first_error,
            )
            if out.failed and self._failure is None:
                self._failure = (
                    f"task {template.id}: {out.failed} item(s) failed: {out.first_error}"
                )
