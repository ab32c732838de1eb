"""Results and run events in each format, read back by the ecosystem's own clients."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from support.registry import async_registry_client, registry_client

from taskfactory_contracts import RunEvent, RunEventKind, TaskResult, TaskStatus, names
from taskfactory_runtime.errors import ConfigurationError
from taskfactory_runtime.formats import RecordFormat
from taskfactory_runtime.schema_registry import RegistryLookup
from taskfactory_runtime.settings import ResultsSettings

pytestmark = pytest.mark.integration

WHEN = datetime(2026, 5, 1, 8, 0, 0, 123456, tzinfo=UTC)


def _result(uid: str) -> TaskResult:
    return TaskResult(
        result_id=f"{uid}-result",
        run_id=f"{uid}-run",
        task_id="echo-it",
        task_type="echo",
        definition_id="formats",
        definition_version=1,
        subject="order-9",
        status=TaskStatus.SUCCEEDED,
        output_json='{"ok":true}',
        started_at=WHEN,
        finished_at=WHEN,
        causation_id=f"{uid}-event",
    )


@pytest.mark.parametrize("strategy", ["topic", "record"])
async def test_confluent_results_are_read_by_the_avro_deserializer(
    schema_registry_url: str, uid: str, strategy: str
) -> None:
    lookup = RegistryLookup(async_registry_client(schema_registry_url))
    fmt = RecordFormat(ResultsSettings(format="confluent", subject_strategy=strategy), lookup)
    topic = f"{uid}.results"
    try:
        record = await fmt.result(_result(uid), topic=topic, traceparent=None)
        again = await fmt.result(_result(uid), topic=topic, traceparent=None)
    finally:
        await lookup.aclose()
    assert record.value == again.value  # the id is cached, the bytes deterministic
    assert record.value[0] == 0
    headers = dict(record.headers)
    assert headers[names.HEADER_RESULT_ID] == f"{uid}-result".encode()  # exactly-once key kept

    client = registry_client(schema_registry_url)
    read = AvroDeserializer(client)(record.value, SerializationContext(topic, MessageField.VALUE))
    assert read["result_id"] == f"{uid}-result"
    assert read["status"] == "succeeded"
    assert read["finished_at"] == WHEN
    subject = f"{topic}-value" if strategy == "topic" else "taskfactory.TaskResult"
    assert subject in client.get_subjects()


async def test_cloudevents_binary_mode_is_read_by_the_sdk(uid: str) -> None:
    fmt = RecordFormat(ResultsSettings(format="cloudevents"))
    record = await fmt.result(_result(uid), topic="t", traceparent=None)
    event = ce_kafka.from_binary_event(
        ce_kafka.KafkaMessage(dict(record.headers), record.key, record.value)
    )
    assert event.get_type() == "io.taskfactory.task.result"
    assert event.get_id() == f"{uid}-result"
    assert event.get_subject() == "order-9"
    assert event.get_time() == WHEN
    data = event.get_data()
    assert data is not None
    assert (data if isinstance(data, dict) else json.loads(data))["status"] == "succeeded"

    started = RunEvent(
        event_id=f"{uid}-started",
        kind=RunEventKind.STARTED,
        run_id=f"{uid}-run",
        definition_id="formats",
        definition_version=1,
        subject="order-9",
        causation_id=f"{uid}-event",
        occurred_at=WHEN,
    )
    record = await fmt.run_event(started, topic="runs", traceparent=None)
    assert dict(record.headers)["ce_type"] == b"io.taskfactory.run.started"


def test_confluent_without_a_registry_is_a_clear_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="SCHEMA_REGISTRY_URL"):
        RecordFormat(ResultsSettings(format="confluent"))
