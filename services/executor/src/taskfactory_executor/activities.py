"""The executor's activities: run a task by type, publish task results and run events."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
from taskfactory_executor.sending import Headers, SendOnce
from taskfactory_runtime.logging import get_logger

__all__ = ["ExecutorActivities"]

log = get_logger(__name__)
_AVRO = b"application/vnd.apache.avro+single-object"


@dataclass
class ExecutorActivities:
    """Activities bound to their dependencies (built in ``worker.py``)."""

    registry: TaskRegistry
    sender: SendOnce
    #: Shared clients tasks reach through ``TaskContext.resource`` (``http``, ``kafka``).
    resources: Mapping[str, Any] = field(default_factory=dict)
    codec: AvroCodec = field(default_factory=AvroCodec)
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
        result = arg.result
        headers = [
            (names.HEADER_EVENT_ID, result.causation_id.encode()),
            (names.HEADER_RUN_ID, result.run_id.encode()),
            (names.HEADER_RESULT_ID, result.result_id.encode()),
            (
                names.HEADER_DEFINITION,
                f"{result.definition_id}@{result.definition_version}".encode(),
            ),
            (names.HEADER_CONTENT_TYPE, _AVRO),
        ]
        metadata = await self._publish(
            "result",
            f"result:{result.result_id}",
            arg.topic,
            key=result.subject.encode(),
            value=self.codec.encode_task_result(result),
            headers=_with_trace(headers, arg.traceparent),
        )
        log.info(
            "result published",
            run_id=result.run_id,
            task_id=result.task_id,
            status=result.status.value,
            topic=arg.topic,
            partition=metadata.partition,
            offset=metadata.offset,
        )

    @activity.defn(name=names.ACTIVITY_PUBLISH_RUN_EVENT)
    async def publish_run_event(self, arg: PublishRunEventInput) -> None:
        """Publish a run's started/finished event to the runs topic (key = subject)."""
        event = arg.event
        headers = [
            (names.HEADER_EVENT_ID, event.causation_id.encode()),
            (names.HEADER_RUN_ID, event.run_id.encode()),
            (names.HEADER_DEFINITION, f"{event.definition_id}@{event.definition_version}".encode()),
            (names.HEADER_CONTENT_TYPE, _AVRO),
        ]
        await self._publish(
            "run_event",
            f"run-event:{event.event_id}",
            arg.topic,
            key=event.subject.encode(),
            value=self.codec.encode_run_event(event),
            headers=_with_trace(headers, arg.traceparent),
        )
        log.info("run event published", run_id=event.run_id, kind=event.kind.value)

    async def _publish(
        self, kind: str, dedupe_key: str, topic: str, *, key: bytes, value: bytes, headers: Headers
    ) -> Any:
        if activity.info().attempt > 1:
            metrics.PUBLISH_RETRIES.labels(kind).inc()
        try:
            metadata = await self.sender.send(
                dedupe_key, topic, key=key, value=value, headers=headers
            )
        except ApplicationError as exc:
            # Retryable: the workflow's retry policy brings us back with the same record id.
            metrics.PUBLISH_FAILURES.labels(kind).inc()
            log.warning("publish failed", kind=kind, topic=topic, error=str(exc))
            raise
        metrics.PUBLISHED.labels(kind).inc()
        return metadata


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


def _with_trace(headers: Headers, traceparent: str | None) -> Headers:
    if traceparent:
        headers.append((names.HEADER_TRACEPARENT, traceparent.encode()))
    return headers


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
