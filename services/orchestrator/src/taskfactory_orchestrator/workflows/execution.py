"""Workflow-side helpers: run one task on the executor and publish its result (deterministic).

Two ways to publish: ``publish``/``publish_run_event`` (an activity on the executor's queue,
the path of runs started before the fast path) and ``publish_local`` (a local activity of the
orchestrator: one marker event for any number of records).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    RetryState,
    TimeoutError,
)

with workflow.unsafe.imports_passed_through():
    from taskfactory_contracts import (
        ActivityDefinition,
        Envelope,
        PublishResultInput,
        PublishRunEventInput,
        ResultsSpec,
        RetrySpec,
        RunEvent,
        TaskInput,
        TaskOutput,
        TaskResult,
        TaskStatus,
        names,
    )
    from taskfactory_orchestrator.models import PublishRecordInput
    from taskfactory_orchestrator.plan import result_id

__all__ = [
    "FAST_PATH",
    "Finished",
    "Freshness",
    "publish",
    "publish_local",
    "publish_run_event",
    "retry_policy",
    "run_activity_task",
    "task_result",
]

#: The patch id of the fast path where it is a patch: batches (local-activity publishing) and
#: schedule firings (which start the new run type). Runs are a new type instead.
FAST_PATH = "fast-path-v1"
# Publishing a result must not give up: it is the only way downstream learns the outcome. The
# retries are counted (taskfactory_*_publish_retries_total) and alerted on
# (TaskfactoryPublishRetrying), so "forever" is never silent.
_PUBLISH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
#: Long enough for a lease wait, the partition check and the send (see taskfactory_runtime.once).
_LOCAL_PUBLISH_TIMEOUT = timedelta(seconds=60)


class Freshness:
    """Whether a local publish scheduled now may repeat an earlier attempt's send.

    A local activity leaves no trace in the history until its workflow task completes; when
    that task fails, the next one runs it again, at attempt 1. That next task is the first
    one a workflow instance runs live (it was rebuilt from the history, or it is the run's
    first task again), so a publish scheduled in an instance's first live activation may
    repeat one, unless that activation is the run's first workflow task, untouched (history
    length at most 4: started, maybe a start signal, task scheduled, task started). Later
    activations of the same instance follow a workflow task this instance completed itself.
    ``observe`` is called on every activation (from a wait condition), so the first live
    activation is known even when it publishes nothing.
    """

    def __init__(self) -> None:
        self._first_live: int | None = None
        self._pristine = False

    def observe(self) -> None:
        """Note the current activation (replayed ones do not count)."""
        if self._first_live is None and not workflow.unsafe.is_replaying():
            self._first_live = workflow.info().get_current_history_length()
            self._pristine = self._first_live <= 4

    def may_have_sent(self) -> bool:
        """True if a publish scheduled in the current activation may have been sent before."""
        if workflow.unsafe.is_replaying():
            return True  # the marker holds the outcome; the input is not used
        self.observe()
        length = workflow.info().get_current_history_length()
        return length == self._first_live and not self._pristine


@dataclass
class Finished:
    """How one task ended, before it becomes a ``TaskResult``."""

    status: TaskStatus
    output: Any = None
    error_type: str | None = None
    error_message: str | None = None
    attempts: int = 1


def retry_policy(spec: RetrySpec) -> RetryPolicy:
    """The Temporal retry policy a template declares."""
    return RetryPolicy(
        initial_interval=spec.initial_interval,
        backoff_coefficient=spec.backoff_coefficient,
        maximum_interval=spec.maximum_interval,
        maximum_attempts=spec.maximum_attempts,
        non_retryable_error_types=list(spec.non_retryable_error_types),
    )


async def run_activity_task(
    task: TaskInput,
    *,
    task_queue: str,
    retry: RetrySpec,
    start_to_close: timedelta,
    schedule_to_close: timedelta | None = None,
    schedule_to_start: timedelta | None = None,
    heartbeat: timedelta | None = None,
) -> Finished:
    """Run ``task`` on the executor; failures become a ``Finished``, cancellation propagates."""
    try:
        out = await workflow.execute_activity(
            names.ACTIVITY_RUN_TASK,
            task,
            result_type=TaskOutput,
            task_queue=task_queue,
            start_to_close_timeout=start_to_close,
            schedule_to_close_timeout=schedule_to_close,
            schedule_to_start_timeout=schedule_to_start,
            heartbeat_timeout=heartbeat,
            retry_policy=retry_policy(retry),
        )
    except ActivityError as exc:
        status, error_type, message = _classify(exc)
        attempts = 1
        if exc.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED and retry.maximum_attempts:
            attempts = retry.maximum_attempts
        return Finished(status, None, error_type, message, attempts)
    return Finished(TaskStatus.SUCCEEDED, out.output, attempts=out.attempt)


def task_result(
    definition: ActivityDefinition,
    envelope: Envelope,
    *,
    run_id: str,
    task_id: str,
    task_type: str,
    key: str,
    finished: Finished,
    started: datetime,
) -> TaskResult:
    """The result record of one finished task of run ``run_id``."""
    output_json = None
    if finished.status is TaskStatus.SUCCEEDED and definition.results.include_output:
        output_json = json.dumps(finished.output, sort_keys=True, separators=(",", ":"))
    return TaskResult(
        result_id=result_id(key),
        run_id=run_id,
        task_id=task_id,
        task_type=task_type,
        definition_id=definition.id,
        definition_version=definition.version,
        subject=envelope.subject,
        status=finished.status,
        output_json=output_json,
        error_type=finished.error_type,
        error_message=finished.error_message,
        attempts=max(1, finished.attempts),
        started_at=started,
        finished_at=max(started, workflow.now()),
        causation_id=envelope.id,
        tenant=envelope.tenant,
    )


async def publish(
    result: TaskResult,
    *,
    topic: str,
    task_queue: str,
    traceparent: str | None,
    spec: ResultsSpec | None = None,
) -> None:
    """Publish one task result through the executor's publish activity."""
    await workflow.execute_activity(
        names.ACTIVITY_PUBLISH_RESULT,
        PublishResultInput(
            result=result,
            topic=topic,
            traceparent=traceparent,
            results_format=spec.format if spec else None,
            subject_strategy=spec.subject_strategy if spec else None,
        ),
        task_queue=task_queue,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=_PUBLISH_RETRY,
    )


async def publish_run_event(
    event: RunEvent, *, topic: str, task_queue: str, traceparent: str | None
) -> None:
    """Publish a run's lifecycle record through the executor's run-event activity."""
    await workflow.execute_activity(
        names.ACTIVITY_PUBLISH_RUN_EVENT,
        PublishRunEventInput(event=event, topic=topic, traceparent=traceparent),
        task_queue=task_queue,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=_PUBLISH_RETRY,
    )


async def publish_local(
    *,
    results: tuple[TaskResult, ...] = (),
    results_topic: str,
    events: tuple[RunEvent, ...] = (),
    runs_topic: str | None = None,
    traceparent: str | None,
    since: datetime,
    freshness: Freshness,
    spec: ResultsSpec | None = None,
) -> None:
    """Publish results, then run events, in one local activity of the orchestrator."""
    if not results and not (events and runs_topic):
        return
    await workflow.execute_local_activity(
        names.ACTIVITY_PUBLISH_LOCAL,
        PublishRecordInput(
            results=results,
            results_topic=results_topic,
            events=events if runs_topic else (),
            runs_topic=runs_topic,
            traceparent=traceparent,
            may_have_sent=freshness.may_have_sent(),
            since=since,
            results_format=spec.format if spec else None,
            subject_strategy=spec.subject_strategy if spec else None,
        ),
        start_to_close_timeout=_LOCAL_PUBLISH_TIMEOUT,
        retry_policy=_PUBLISH_RETRY,
    )


def _classify(exc: ActivityError) -> tuple[TaskStatus, str, str]:
    cause = exc.cause
    if isinstance(cause, TimeoutError):
        return TaskStatus.TIMED_OUT, "TimeoutError", str(cause)
    if isinstance(cause, CancelledError):
        return TaskStatus.CANCELLED, "CancelledError", str(cause)
    if isinstance(cause, ApplicationError):
        return TaskStatus.FAILED, cause.type or "ApplicationError", cause.message
    return TaskStatus.FAILED, type(cause).__name__, str(cause or exc)
