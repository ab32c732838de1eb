"""The records taskfactory publishes (task results, run events): bytes, key and headers.

Built in one place, so the executor (runs already in flight) and the orchestrator (the fast
path) put the same record on the topic for the same result.
"""

from __future__ import annotations

from taskfactory_contracts import AvroCodec, RunEvent, TaskResult, TaskStatus, names
from taskfactory_runtime.once import OnceRecord

__all__ = ["AVRO_CONTENT_TYPE", "result_record", "run_event_record", "shrink_result"]

AVRO_CONTENT_TYPE = b"application/vnd.apache.avro+single-object"
#: Room left under the producer's largest request for the record's headers and batch framing.
_FRAMING = 16 * 1024


def _with_trace(headers: list[tuple[str, bytes]], traceparent: str | None) -> None:
    if traceparent:
        headers.append((names.HEADER_TRACEPARENT, traceparent.encode()))


def result_record(
    codec: AvroCodec, result: TaskResult, *, topic: str, traceparent: str | None
) -> OnceRecord:
    """The result record: key = subject, the result id in ``taskfactory-result-id``."""
    headers = [
        (names.HEADER_EVENT_ID, result.causation_id.encode()),
        (names.HEADER_RUN_ID, result.run_id.encode()),
        (names.HEADER_RESULT_ID, result.result_id.encode()),
        (names.HEADER_DEFINITION, f"{result.definition_id}@{result.definition_version}".encode()),
        (names.HEADER_CONTENT_TYPE, AVRO_CONTENT_TYPE),
    ]
    _with_trace(headers, traceparent)
    return OnceRecord(
        kind="result",
        topic=topic,
        key=result.subject.encode(),
        value=codec.encode_task_result(result),
        headers=headers,
        record_id=result.result_id,
        id_header=names.HEADER_RESULT_ID,
    )


def run_event_record(
    codec: AvroCodec, event: RunEvent, *, topic: str, traceparent: str | None
) -> OnceRecord:
    """The run event record: key = subject, the event id in ``taskfactory-run-event-id``."""
    headers = [
        (names.HEADER_EVENT_ID, event.causation_id.encode()),
        (names.HEADER_RUN_ID, event.run_id.encode()),
        (names.HEADER_RUN_EVENT_ID, event.event_id.encode()),
        (names.HEADER_DEFINITION, f"{event.definition_id}@{event.definition_version}".encode()),
        (names.HEADER_CONTENT_TYPE, AVRO_CONTENT_TYPE),
    ]
    _with_trace(headers, traceparent)
    return OnceRecord(
        kind="run_event",
        topic=topic,
        key=event.subject.encode(),
        value=codec.encode_run_event(event),
        headers=headers,
        record_id=event.event_id,
        id_header=names.HEADER_RUN_EVENT_ID,
    )


def shrink_result(
    codec: AvroCodec, result: TaskResult, *, max_bytes: int
) -> tuple[TaskResult, int | None]:
    """``result`` if its record fits in ``max_bytes``; else a failed result naming the size.

    A record the broker refuses as too large would be retried forever; the consumer learns
    instead that the task's output did not fit (its size, and the limit).
    """
    size = len(codec.encode_task_result(result))
    if size + _FRAMING <= max_bytes:
        return result, None
    message = (
        f"the result record of task {result.task_id} is {size} bytes, more than Kafka accepts "
        f"({max_bytes - _FRAMING} bytes with its headers); its output was dropped"
        + (
            f" (the task had {result.status.value})"
            if result.status is not TaskStatus.SUCCEEDED
            else ""
        )
    )
    return (
        result.model_copy(
            update={
                "status": TaskStatus.FAILED,
                "output_json": None,
                "error_type": "ResultTooLarge",
                "error_message": message
                + (f"; error was: {result.error_message[:500]}" if result.error_message else ""),
            }
        ),
        size,
    )
