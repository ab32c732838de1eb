"""The wire format of published results and run events: single-object, Confluent, CloudEvents.

``single-object`` is Avro single-object encoding (the schema's fingerprint in the value).
``confluent`` is Avro behind the magic byte and the schema registry's id, the schema registered
(or looked up) under the topic's subject (``<topic>-value``, TopicNameStrategy) or the record's
full name (RecordNameStrategy), so confluent-kafka's ``AvroDeserializer`` reads it.
``cloudevents`` is the CloudEvents Kafka binding's binary mode: ``ce_*`` headers and the record
as JSON data. Every format keeps taskfactory's own headers (result or run-event id first), so
publishing stays exactly-once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from taskfactory_contracts import RUN_EVENT, TASK_RESULT, AvroCodec, RunEvent, TaskResult
from taskfactory_contracts.confluent import record_name_subject, topic_name_subject
from taskfactory_contracts.definition_parts import ResultsFormatName, SubjectStrategy
from taskfactory_runtime.errors import ConfigurationError
from taskfactory_runtime.once import OnceRecord
from taskfactory_runtime.outbound import Encoded, result_record, run_event_record
from taskfactory_runtime.schema_registry import RegistryLookup, with_registry
from taskfactory_runtime.settings import ResultsSettings

__all__ = [
    "CE_RESULT_TYPE",
    "CE_RUN_EVENT_TYPES",
    "CONFLUENT_CONTENT_TYPE",
    "RecordFormat",
]

CONFLUENT_CONTENT_TYPE = b"application/vnd.apache.avro+confluent"
_JSON = b"application/json"
#: CloudEvents ``type`` of a task result, and of a run's started / finished events.
CE_RESULT_TYPE = "io.taskfactory.task.result"
CE_RUN_EVENT_TYPES = {
    "started": "io.taskfactory.run.started",
    "finished": "io.taskfactory.run.finished",
}

Format = ResultsFormatName
Strategy = SubjectStrategy


@dataclass
class RecordFormat:
    """Builds the result and run-event records in the configured format."""

    settings: ResultsSettings = field(default_factory=ResultsSettings)
    registry: RegistryLookup | None = None
    codec: AvroCodec = field(default_factory=AvroCodec)

    def __post_init__(self) -> None:
        if self.settings.format == "confluent" and self.registry is None:
            raise ConfigurationError(
                "results.format confluent needs a schema registry "
                "(TASKFACTORY_KAFKA__SCHEMA_REGISTRY_URL)"
            )
        # The Confluent ids come from the registry cache, loaded on the event loop.
        self._registered = AvroCodec(
            self.codec.store,
            max_bytes=self.codec.max_bytes,
            registry=self.registry.cache if self.registry else None,
        )

    async def result(
        self,
        result: TaskResult,
        *,
        topic: str,
        traceparent: str | None,
        format: Format | None = None,
        subject_strategy: Strategy | None = None,
    ) -> OnceRecord:
        """The record of ``result`` for ``topic``; ``format`` and ``subject_strategy`` are the
        definition's choice (``None``: the deployment's)."""
        encoded = await self._encode(
            TASK_RESULT,
            result,
            topic,
            (CE_RESULT_TYPE, result.result_id, result.definition_id),
            format or self.settings.format,
            subject_strategy or self.settings.subject_strategy,
        )
        return result_record(
            self.codec, result, topic=topic, traceparent=traceparent, encoded=encoded
        )

    async def run_event(
        self, event: RunEvent, *, topic: str, traceparent: str | None
    ) -> OnceRecord:
        """The record of ``event`` for ``topic``."""
        encoded = await self._encode(
            RUN_EVENT,
            event,
            topic,
            (CE_RUN_EVENT_TYPES[event.kind.value], event.event_id, event.definition_id),
            self.settings.format,
            self.settings.subject_strategy,
        )
        return run_event_record(
            self.codec, event, topic=topic, traceparent=traceparent, encoded=encoded
        )

    async def _encode(
        self,
        name: str,
        record: TaskResult | RunEvent,
        topic: str,
        cloudevent: tuple[str, str, str],
        kind: Format,
        strategy: Strategy,
    ) -> Encoded | None:
        if kind == "single-object":
            return None
        if kind == "cloudevents":
            return _cloudevent(record, *cloudevent)
        if self.registry is None:
            raise ConfigurationError(
                f"a definition asks for confluent results on {topic}, but no schema registry "
                "is configured (TASKFACTORY_KAFKA__SCHEMA_REGISTRY_URL)"
            )
        subject = topic_name_subject(topic) if strategy == "topic" else record_name_subject(name)
        schema = self.codec.store.get(name)

        def encode() -> bytes:
            assert self._registered.registry is not None
            schema_id = self._registered.registry.register(subject, schema.json)
            return self._registered.encode_with_schema_id(name, record, schema_id)

        value = await with_registry(encode, self.registry)
        return value, CONFLUENT_CONTENT_TYPE, ()


def _cloudevent(record: BaseModel, ce_type: str, record_id: str, definition: str) -> Encoded:
    """Binary mode: attributes as ``ce_*`` headers, the record as JSON data."""
    subject = getattr(record, "subject", "")
    when = getattr(record, "finished_at", None) or getattr(record, "occurred_at", None)
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", record_id.encode()),
        ("ce_source", f"/taskfactory/definitions/{definition}".encode()),
        ("ce_type", ce_type.encode()),
    ]
    if subject:
        headers.append(("ce_subject", subject.encode()))
    if when is not None:
        headers.append(("ce_time", when.isoformat().replace("+00:00", "Z").encode()))
    return record.model_dump_json().encode(), _JSON, tuple(headers)
