"""``RunActivityWorkflow``: one run of an ActivityDefinition: its tasks and their results."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from taskfactory_contracts import (
        PublishResultInput,
        RunActivityInput,
        RunOutcome,
        TaskInput,
        TaskOutput,
        TaskResult,
        TaskStatus,
        TaskTemplate,
        names,
    )

__all__ = ["RunActivityWorkflow"]

# Publishing a result must not give up: it is the only way downstream learns the outcome.
_PUBLISH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
_RESULT_NAMESPACE = uuid.UUID("6f1c2a4e-8d0b-4f6e-9a53-2b7e1d9c0f11")


@workflow.defn(name=names.WORKFLOW_RUN_ACTIVITY)
class RunActivityWorkflow:
    """Runs every task of the definition snapshot in its input and publishes every result."""

    def __init__(self) -> None:
        self._statuses: dict[str, TaskStatus] = {}

    @workflow.run
    async def run(self, arg: RunActivityInput) -> RunOutcome:
        """Spawn the tasks in order; each ends with exactly one published result."""
        started = workflow.now()
        for template in arg.definition.tasks:
            result = await self._run_task(arg, template)
            self._statuses[template.id] = result.status
            await workflow.execute_activity(
                names.ACTIVITY_PUBLISH_RESULT,
                PublishResultInput(
                    result=result, topic=arg.results_topic, traceparent=arg.trigger.traceparent
                ),
                task_queue=arg.executor_task_queue,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_PUBLISH_RETRY,
            )
        return RunOutcome(
            run_id=workflow.info().workflow_id,
            definition_id=arg.definition.id,
            tasks=dict(self._statuses),
            started_at=started,
            finished_at=workflow.now(),
        )

    async def _run_task(self, arg: RunActivityInput, template: TaskTemplate) -> TaskResult:
        run_id = workflow.info().workflow_id
        envelope = arg.trigger.envelope
        task = TaskInput(
            run_id=run_id,
            task_id=template.id,
            type=template.type,
            params=template.params,
            idempotency_key=f"{run_id}/{template.id}",
            subject=envelope.subject,
            event_id=envelope.id,
        )
        retry = template.retry
        started = workflow.now()
        status = TaskStatus.SUCCEEDED
        output_json: str | None = None
        error_type: str | None = None
        error_message: str | None = None
        attempts = 1
        try:
            out = await workflow.execute_activity(
                names.ACTIVITY_RUN_TASK,
                task,
                result_type=TaskOutput,
                task_queue=arg.executor_task_queue,
                start_to_close_timeout=template.start_to_close_timeout,
                retry_policy=RetryPolicy(
                    initial_interval=retry.initial_interval,
                    backoff_coefficient=retry.backoff_coefficient,
                    maximum_interval=retry.maximum_interval,
                    maximum_attempts=retry.maximum_attempts,
                    non_retryable_error_types=list(retry.non_retryable_error_types),
                ),
            )
            output_json = json.dumps(out.output, sort_keys=True, separators=(",", ":"))
            attempts = out.attempt
        except ActivityError as exc:
            status, error_type, error_message = _classify(exc)
            attempts = retry.maximum_attempts or attempts
        return TaskResult(
            result_id=str(uuid.uuid5(_RESULT_NAMESPACE, f"{run_id}/{template.id}")),
            run_id=run_id,
            task_id=template.id,
            task_type=template.type,
            definition_id=arg.definition.id,
            definition_version=arg.definition.version,
            subject=envelope.subject,
            status=status,
            output_json=output_json,
            error_type=error_type,
            error_message=error_message,
            attempts=attempts,
            started_at=started,
            finished_at=_later(started, workflow.now()),
            causation_id=envelope.id,
            tenant=envelope.tenant,
        )

    @workflow.query(name="taskfactory.tasks")
    def tasks(self) -> dict[str, TaskStatus]:
        """Status of each task finished so far."""
        return dict(self._statuses)


def _classify(exc: ActivityError) -> tuple[TaskStatus, str, str]:
    cause = exc.cause
    if isinstance(cause, TimeoutError):
        return TaskStatus.TIMED_OUT, "TimeoutError", str(cause)
    if isinstance(cause, CancelledError):
        return TaskStatus.CANCELLED, "CancelledError", str(cause)
    if isinstance(cause, ApplicationError):
        return TaskStatus.FAILED, cause.type or "ApplicationError", cause.message
    return TaskStatus.FAILED, type(cause).__name__, str(cause or exc)


def _later(start: datetime, end: datetime) -> datetime:
    return max(start, end)
