"""The saga of a run that failed or was cancelled."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from taskfactory_contracts import TaskInput, TaskStatus, TriggerEvent
    from taskfactory_orchestrator.plan import (
        idempotency_key,
        render_params,
    )
    from taskfactory_orchestrator.workflows.execution import (
        Finished,
        run_activity_task,
    )
    from taskfactory_orchestrator.workflows.run_tasks import RunTasks
    from taskfactory_orchestrator.workflows.task_runner import error_of

__all__ = ["Saga"]


class Saga(RunTasks):
    """Compensation: completed tasks that declare ``compensate`` are undone, most recent first."""

    async def _compensate(self, base: dict[str, Any], trigger: TriggerEvent) -> None:
        """Undo completed tasks that declare ``compensate``, most recent first."""
        workflow_id = workflow.info().workflow_id
        for done in reversed(self._completed):
            spec = done.template.compensate
            if spec is None:
                continue
            scope = {**base, "tasks": self._ledger.views(), "output": done.output}
            if done.index is not None:
                scope.update(item=done.item, index=done.index)
            cid = f"{done.task_id}.compensate"
            started = workflow.now()
            since = None
            try:
                params = render_params(spec.type, spec.params, scope)
            except Exception as exc:  # any failure of outside input fails this task
                finished = Finished(TaskStatus.FAILED, None, *error_of(exc))
            else:
                since = started
                task = TaskInput(
                    run_id=workflow_id,
                    task_id=cid,
                    type=spec.type,
                    params=params,
                    idempotency_key=idempotency_key(workflow_id, trigger.envelope.id, cid),
                    subject=trigger.envelope.subject,
                    event_id=trigger.envelope.id,
                )
                finished = await run_activity_task(
                    task,
                    task_queue=self._arg.executor_task_queue,
                    retry=spec.retry,
                    start_to_close=spec.start_to_close_timeout,
                )
            await self._record(
                done.template,
                trigger,
                done.index,
                done.item,
                finished,
                started=started,
                task_id=cid,
                task_type=spec.type,
                compensation=True,
                since=since,
            )
            if finished.status is TaskStatus.SUCCEEDED and done.index is None:
                self._ledger.compensated(done.template.id)
