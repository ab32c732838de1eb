"""The executor's activities: run a task by type, publish a task result to Kafka."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from taskfactory_contracts import (
    AvroCodec,
    PublishResultInput,
    TaskInput,
    TaskOutput,
    names,
)
from taskfactory_executor.tasks import TaskFunction
from taskfactory_runtime.logging import get_logger

__all__ = ["ExecutorActivities"]

log = get_logger(__name__)


@dataclass
class ExecutorActivities:
    """Activities bound to their dependencies (built in ``worker.py``)."""

    producer: AIOKafkaProducer
    tasks: Mapping[str, TaskFunction]
    codec: AvroCodec = field(default_factory=AvroCodec)

    @activity.defn(name=names.ACTIVITY_RUN_TASK)
    async def run_task(self, task: TaskInput) -> TaskOutput:
        """Run ``task`` with the function registered for its type."""
        function = self.tasks.get(task.type)
        if function is None:
            raise ApplicationError(
                f"unknown task type {task.type!r} (task {task.task_id} of run {task.run_id}); "
                f"installed: {', '.join(sorted(self.tasks))}",
                type="UnknownTaskType",
                non_retryable=True,
            )
        output = await function(task.params)
        return TaskOutput(output=output, attempt=activity.info().attempt)

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
            (names.HEADER_CONTENT_TYPE, b"application/vnd.apache.avro+single-object"),
        ]
        if arg.traceparent:
            headers.append((names.HEADER_TRACEPARENT, arg.traceparent.encode()))
        try:
            metadata = await self.producer.send_and_wait(
                arg.topic,
                value=self.codec.encode_task_result(result),
                key=result.subject.encode(),
                headers=headers,
            )
        except KafkaError as exc:
            # Retryable: the workflow's retry policy brings us back; the result id stays the same.
            raise ApplicationError(
                f"publishing to {arg.topic} failed: {exc}", type="KafkaError"
            ) from exc
        log.info(
            "result published",
            run_id=result.run_id,
            task_id=result.task_id,
            status=result.status.value,
            topic=arg.topic,
            partition=metadata.partition,
            offset=metadata.offset,
        )
