"""The executor's activities: run a task by type, publish task results and run events."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import KafkaError
from temporalio import activity
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError

from taskfactory_contracts import (
    AvroCodec,
    PublishResultInput,
    PublishRunEventInput,
    TaskFactoryError,
    TaskInput,
    TaskOutput,
    names,
)
from taskfactory_executor import metrics
from taskfactory_executor.registry import TaskContext, TaskRegistry
from taskfactory_runtime.errors import LeaseExpired
from taskfactory_runtime.formats import RecordFormat
from taskfactory_runtime.logging import get_logger
from taskfactory_runtime.once import OnceRecord, Published, PublishOnce
from taskfactory_runtime.outbound import shrink_result

__all__ = ["ExecutorActivities"]

log = get_logger(__name__)
#: aiokafka's default ``max_request_size``: a larger result record is published as a failure.
MAX_RECORD_BYTES = 1_048_576


@dataclass
class ExecutorActivities:
    """Activities bound to their dependencies (built in ``worker.py``)."""

    registry: TaskRegistry
    #: Publishes results and run events (runs started before the orchestrator's fast path).
    publisher: PublishOnce
    #: Shared clients tasks reach through ``TaskContext.resource`` (``http``, ``kafka``).
    resources: Mapping[str, Any] = field(default_factory=dict)
    codec: AvroCodec = field(default_factory=AvroCodec)
    #: The wire format of results and run events (``TASKFACTORY_RESULTS__*``).
    format: RecordFormat = field(default_factory=RecordFormat)
    #: A task output larger than this once serialized fails the task (``PayloadTooLarge``).
    max_output_bytes: int = 1024 * 1024

    @activity.defn(name=names.ACTIVITY_RUN_TASK)
    async def run_task(self, task: TaskInput) -> TaskOutput:
        """Run ``task`` with the function registered for its type."""
        spec = self.registry.get(task)
        info = activity.info()
        context = TaskContext(
            task=task,
            attempt=info.attempt,
            heartbeat_details=tuple(info.heartbeat_details),
            _heartbeat=_heartbeater(task.type),
            resources=self.resources,
        )
        bound = {"run_id": task.run_id, "task_id": task.task_id, "type": task.type}
        outcome = "error"
        began = time.monotonic()
        metrics.IN_FLIGHT.labels(task.type).inc()
        try:
            result = TaskOutput(
                output=await self.registry.invoke(spec, context), attempt=info.attempt
            )
            _check_size(result, self.max_output_bytes, task)
            outcome = "succeeded"
        except ApplicationError as exc:
            outcome = "failed" if exc.non_retryable else "error"
            log.warning("task attempt failed", attempt=info.attempt, error=str(exc), **bound)
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except TaskFactoryError as exc:
            outcome = "error" if exc.retryable else "failed"
            raise ApplicationError(
                f"task {task.task_id} ({task.type}): {exc}",
                type=type(exc).__name__,
                non_retryable=not exc.retryable,
            ) from exc
        finally:
            seconds = time.monotonic() - began
            metrics.IN_FLIGHT.labels(task.type).dec()
            metrics.TASKS.labels(task.type, outcome).inc()
            metrics.TASK_DURATION.labels(task.type, outcome).observe(seconds)
        log.info("task succeeded", attempt=info.attempt, seconds=round(seconds, 3), **bound)
        return result

    @activity.defn(name=names.ACTIVITY_PUBLISH_RESULT)
    async def publish_result(self, arg: PublishResultInput) -> None:
        """Publish the task result (idempotent producer, key = subject, trace headers)."""
        result, size = shrink_result(self.codec, arg.result, max_bytes=MAX_RECORD_BYTES)
        if size is not None:  # never retried forever: the consumer learns what did not fit
            log.warning(
                "result too large for kafka, published as failed",
                run_id=result.run_id,
                task_id=result.task_id,
                size=size,
            )
        record = await self.format.result(
            result,
            topic=arg.topic,
            traceparent=arg.traceparent,
            format=arg.results_format,
            subject_strategy=arg.subject_strategy,
        )
        published = await self._publish(record)
        log.info(
            "result published",
            run_id=result.run_id,
            task_id=result.task_id,
            status=result.status.value,
            topic=arg.topic,
            partition=published.partition,
            offset=published.offset,
            sent=published.sent,
        )

    @activity.defn(name=names.ACTIVITY_PUBLISH_RUN_EVENT)
    async def publish_run_event(self, arg: PublishRunEventInput) -> None:
        """Publish a run's started/finished event to the runs topic (key = subject)."""
        event = arg.event
        record = await self.format.run_event(event, topic=arg.topic, traceparent=arg.traceparent)
        await self._publish(record)
        log.info("run event published", run_id=event.run_id, kind=event.kind.value)

    async def _publish(self, record: OnceRecord) -> Published:
        info = activity.info()
        if info.attempt > 1:
            metrics.PUBLISH_RETRIES.labels(record.kind).inc()
        # An attempt begins sending only before its own timeout: Temporal starts the next
        # attempt after it, which then waits one lease and looks (taskfactory_runtime.once).
        send_before = None
        if info.start_to_close_timeout:
            elapsed = (datetime.now(UTC) - info.started_time).total_seconds()
            send_before = time.monotonic() + info.start_to_close_timeout.total_seconds() - elapsed
        try:
            published = await self.publisher.publish(
                record,
                # Temporal records every attempt of an activity: attempt 1 never follows another.
                may_have_sent=info.attempt > 1,
                since=info.scheduled_time,
                send_before=send_before,
            )
        except (LeaseExpired, KafkaError) as exc:
            # Retryable: the workflow's retry policy brings us back with the same record id.
            metrics.PUBLISH_FAILURES.labels(record.kind).inc()
            log.warning("publish failed", kind=record.kind, topic=record.topic, error=repr(exc))
            raise ApplicationError(
                f"sending to {record.topic} failed: {exc!r}", type=type(exc).__name__
            ) from exc
        if published.sent:
            metrics.PUBLISHED.labels(record.kind).inc()
        return published


def _check_size(result: TaskOutput, limit: int, task: TaskInput) -> None:
    """Fail the task, non-retryably, if its output would exceed ``limit`` bytes as a payload.

    Temporal refuses a payload over its blob limit (2 MB by default) when the activity
    completes; that failure is retried and never succeeds. Measured with the converter the
    workers use, on the same value the SDK is about to send.
    """
    [payload] = pydantic_data_converter.payload_converter.to_payloads([result])
    size = len(payload.data)
    if size > limit:
        raise ApplicationError(
            f"task {task.task_id} ({task.type}): output is {size} bytes serialized, above the "
            f"{limit}-byte limit (TASKFACTORY_EXECUTOR__MAX_OUTPUT_BYTES)",
            {"size_bytes": size, "limit_bytes": limit},
            type="PayloadTooLarge",
            non_retryable=True,
        )


def _heartbeater(task_type: str) -> Callable[..., None]:
    """A heartbeat function usable from the event loop and from pool threads."""
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()
    context = contextvars.copy_context()

    def heartbeat(*details: Any) -> None:
        metrics.HEARTBEATS.labels(task_type).inc()
        if threading.get_ident() == loop_thread:
            activity.heartbeat(*details)
        else:
            loop.call_soon_threadsafe(activity.heartbeat, *details, context=context)

    return heartbeat
