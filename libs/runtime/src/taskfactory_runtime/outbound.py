"""The records taskfactory publishes (task results, run events): bytes, key and headers.

Built in one place, so the executor (runs already in flight) and the orchestrator (the fast
path) put the same record on the topic for the same result.
"""

from __future__ import annotations

from taskfactory_contracts import AvroCodec, RunEvent, TaskResult, TaskStatus, names
from taskfactory_runtime.once import OnceRecord

__all__ = [
    "AVRO_CONTENT_TYPE",
    "Encoded",
    "result_record",
    "run_event_record",
    "shrink_result",
]

AVRO_CONTENT_TYPE = b"application/vnd.apache.avro+single-object"
#: A record's value in a chosen format: (bytes, content type, extra headers).
Encoded = tuple[bytes, bytes, tuple[tuple[str, bytes], ...]]
#: Room left under the producer's largest request for the record's headers and batch framing.
_FRAMING = 16 * 1024


def _record(
    kind: str,
    item: TaskResult | RunEvent,
    encoded: Encoded,
    record_id: tuple[str, str],
    *,
    topic: str,
    traceparent: str | None,
) -> OnceRecord:
    """The record of ``item``: key = subject, its id in the ``record_id`` header."""
    value, content_type, extra_headers = encoded
    id_header, rid = record_id
    definition = f"{item.definition_id}@{item.definition_version}"
    headers = [
        (names.HEADER_EVENT_ID, item.causation_id.encode()),
        (names.HEADER_RUN_ID, item.run_id.encode()),
        (id_header, rid.encode()),
        (names.HEADER_DEFINITION, definition.encode()),
        (names.HEADER_CONTENT_TYPE, content_type),
        *extra_headers,
    ]
    if traceparent:
        headers.append((names.HEADER_TRACEPARENT, traceparent.encode()))
    return OnceRecord(kind, topic, item.subject.encode(), value, headers, rid, id_header)


def result_record(
    codec: AvroCodec,
    result: TaskResult,
    *,
    topic: str,
    traceparent: str | None,
    encoded: Encoded | None = None,
) -> OnceRecord:
    """The result record: key = subject, the result id in ``taskfactory-result-id``.

    ``encoded`` is the value in another format (:mod:`taskfactory_runtime.formats`); the
    default is Avro single-object encoding.
    """
    value = encoded or (codec.encode_task_result(result), AVRO_CONTENT_TYPE, ())
    record_id = (names.HEADER_RESULT_ID, result.result_id)
    return _record("result", result, value, record_id, topic=topic, traceparent=traceparent)


def run_event_record(
    codec: AvroCodec,
    event: RunEvent,
    *,
    topic: str,
    traceparent: str | None,
    encoded: Encoded | None = None,
) -> OnceRecord:
    """The run event record: key = subject, the event id in ``taskfactory-run-event-id``."""
    value = encoded or (codec.encode_run_event(event), AVRO_CONTENT_TYPE, ())
    record_id = (names.HEADER_RUN_EVENT_ID, event.event_id)
    return _record("run_event", event, value, record_id, topic=topic, traceparent=traceparent)


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
