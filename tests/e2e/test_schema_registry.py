"""Interop with the ecosystem's standard clients, through the three services and a real registry.

Events written by confluent-kafka's ``AvroSerializer`` against the stack's schema registry
(Apicurio Registry, Confluent-compatible API) and by the CloudEvents SDK become runs; their
results come back. The outage test runs a registry of its own so it can stop it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v1.event import CloudEvent
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from conftest import Topics
from support.registry import registry_client

from taskfactory_contracts import ENVELOPE, AvroCodec, Envelope, default_store, names
from taskfactory_contracts.confluent import confluent_frame
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.process import free_port
from taskfactory_stack.registry import RegistryComponent
from taskfactory_stack.running import RunningServices
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.traffic import (
    Record,
    consume,
    echo_definition,
    end_offsets_total,
    envelope,
    produce,
)
from taskfactory_stack.waiting import hold_for, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _serializer(url: str, version: int | None = None) -> AvroSerializer:
    """confluent-kafka's own serializer of our envelope schema (TopicNameStrategy)."""
    serializer: AvroSerializer = AvroSerializer(
        registry_client(url),
        default_store().get(ENVELOPE, version).json,
        lambda e, _: e.model_dump(mode="python"),
    )
    return serializer


def _framed(serializer: AvroSerializer, topic: str, events: list[Envelope]) -> list[bytes]:
    context = SerializationContext(topic, MessageField.VALUE)
    framed: list[bytes] = []
    for e in events:
        value = serializer(e, context)
        assert value is not None  # None only for a None message
        framed.append(value)
    return framed


def _record(message: ce_kafka.KafkaMessage) -> Record:
    """The SDK's binary-mode message as a raw record (its key: bytes, or none)."""
    assert not isinstance(message.key, str)
    return (message.key, message.value, list(message.headers.items()))


def _data(event: BaseCloudEvent) -> dict[str, Any]:
    """The event's data as a mapping (the SDK decodes only some JSON data itself)."""
    data = event.get_data()
    if isinstance(data, dict):
        return data
    assert data is not None
    decoded: dict[str, Any] = json.loads(data)
    return decoded


#: The definition asks for its results in the Confluent format (the deployment's is the default).
CONFLUENT_RESULTS = "results:\n  format: confluent\n"


async def test_avro_serializer_events_become_runs_read_back_by_the_avro_deserializer(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    schema_registry_url: str,
    uid: str,
) -> None:
    """In: confluent-kafka's AvroSerializer. Out (the definition's results.format: confluent):
    its AvroDeserializer. An id the registry does not know is dead-lettered as such."""
    services.env["TASKFACTORY_KAFKA__SCHEMA_REGISTRY_URL"] = schema_registry_url
    (services.definitions / "echo.yaml").write_text(
        echo_definition("registry-echo", uid) + CONFLUENT_RESULTS
    )
    services.start()

    events = [envelope(i, uid=uid) for i in range(10)]
    values = _framed(_serializer(schema_registry_url), topics.events, events)
    assert all(v[0] == 0 for v in values)  # Confluent framing: magic byte 0 + schema id
    unknown = confluent_frame(2_000_000_000, values[0][5:])
    sent: list[Record] = [(e.subject.encode(), v, []) for e, v in zip(events, values, strict=True)]
    await produce(kafka_settings, topics.events, [*sent, (b"stray", unknown, [])])

    records = await consume(kafka_settings, topics.results, at_least=10, timeout=120)
    deserializer = AvroDeserializer(registry_client(schema_registry_url))
    context = SerializationContext(topics.results, MessageField.VALUE)
    results = [deserializer(r.value, context) for r in records]
    assert sorted(r["causation_id"] for r in results) == sorted(e.id for e in events)
    assert {r["status"] for r in results} == {"succeeded"}
    assert (
        f"{topics.results}-value" in registry_client(schema_registry_url).get_subjects()
    )  # TopicNameStrategy

    dead = await consume(kafka_settings, topics.dead_letter, at_least=1, timeout=60)
    assert len(dead) == 1
    assert dead[0].value == unknown  # the original bytes
    assert dict(dead[0].headers)[names.HEADER_ERROR_TYPE] == b"unknown_schema_id"


async def test_cloudevents_sdk_events_become_runs_and_cloudevents_results(
    services: RunningServices, topics: Topics, kafka_settings: KafkaSettings, uid: str
) -> None:
    """In and out through the CloudEvents SDK's Kafka binding (binary mode), the results'
    format set for the whole deployment."""
    services.env["TASKFACTORY_RESULTS__FORMAT"] = "cloudevents"
    (services.definitions / "echo.yaml").write_text(echo_definition("ce-echo", uid))
    services.start()
    messages = [
        ce_kafka.to_binary_event(
            CloudEvent(
                attributes={
                    "id": f"{uid}-ce-{i}",
                    "source": "/sdk",
                    "type": "com.example.test.requested",
                    "subject": f"subject-{i}",
                    "time": datetime.now(UTC),
                    "datacontenttype": "application/json",
                },
                data={"n": i},
            )
        )
        for i in range(5)
    ]
    await produce(kafka_settings, topics.events, [_record(m) for m in messages])
    records = await consume(kafka_settings, topics.results, at_least=5, timeout=120)
    results = [
        ce_kafka.from_binary_event(ce_kafka.KafkaMessage(dict(r.headers), r.key, r.value))
        for r in records
    ]
    assert {e.get_type() for e in results} == {"io.taskfactory.task.result"}
    data = [_data(e) for e in results]
    assert sorted(d["causation_id"] for d in data) == [f"{uid}-ce-{i}" for i in range(5)]
    assert {d["status"] for d in data} == {"succeeded"}
    runs = await consume(kafka_settings, topics.runs, at_least=10, timeout=60)
    assert {dict(r.headers)["ce_type"] for r in runs} == {
        b"io.taskfactory.run.started",
        b"io.taskfactory.run.finished",
    }
    assert await end_offsets_total(kafka_settings, topics.dead_letter) == 0


@pytest.fixture
def private_registry(tmp_path: Path) -> Iterator[RegistryComponent]:
    """A registry of this test's own on free ports (the server is shared from the cache)."""
    shared = StackSettings()
    registry = RegistryComponent(
        StackSettings(
            dir=tmp_path / "registry-stack",
            jars_dir=shared.jars_dir or shared.root / "kafka",
            registry_port=free_port(),
            registry_management_port=free_port(),
        )
    )
    registry.up()
    try:
        yield registry
    finally:
        registry.down()


async def test_a_registry_outage_pauses_the_ingress_and_nothing_is_dead_lettered(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    private_registry: RegistryComponent,
    uid: str,
) -> None:
    services.env["TASKFACTORY_KAFKA__SCHEMA_REGISTRY_URL"] = private_registry.url
    services.env["TASKFACTORY_INGRESS__RETRY_MAX_SECONDS"] = "1"
    (services.definitions / "echo.yaml").write_text(echo_definition("outage-echo", uid))
    services.start()

    before = [envelope(i, uid=uid) for i in range(5)]
    during = [envelope(i, uid=uid) for i in range(5, 10)]
    # The second batch carries a schema id the ingress has not seen (envelope v1), so it
    # needs the registry; both are serialised while the registry is up.
    first = _framed(_serializer(private_registry.url), topics.events, before)
    second = _framed(_serializer(private_registry.url, version=1), topics.events, during)
    assert first[0][:5] != second[0][:5]
    await produce(kafka_settings, topics.events, [(None, v, []) for v in first])
    await consume(kafka_settings, topics.results, at_least=5, timeout=120)

    assert await asyncio.to_thread(private_registry.down)
    await produce(kafka_settings, topics.events, [(None, v, []) for v in second])

    async def paused() -> bool:
        return await services.metric("ingress", "taskfactory_ingress_paused") == 1

    await wait_for(paused, timeout=60, what="the ingress to pause on the registry outage")
    ready = await services.get("ingress", "/readyz")
    assert ready.status_code == 503
    assert "schema registry" in ready.text

    async def nothing_lost() -> None:
        assert await end_offsets_total(kafka_settings, topics.dead_letter) == 0
        assert await end_offsets_total(kafka_settings, topics.results) == 5

    await hold_for(3, nothing_lost)

    assert await asyncio.to_thread(private_registry.up)  # same data folder: the same ids
    records = await consume(kafka_settings, topics.results, at_least=10, timeout=120)
    results = [AvroCodec().decode_task_result(r.value) for r in records]
    assert sorted(r.causation_id for r in results) == sorted(e.id for e in before + during)
    assert await end_offsets_total(kafka_settings, topics.dead_letter) == 0

    async def resumed() -> bool:
        return await services.metric("ingress", "taskfactory_ingress_paused") == 0

    await wait_for(resumed, timeout=30, what="the ingress to resume")
    ready = await services.get("ingress", "/readyz")
    assert "schema registry" not in ready.text
