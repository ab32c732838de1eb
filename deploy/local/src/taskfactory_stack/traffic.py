"""Records on a stack's topics: a test event, a definition it triggers, producing, consuming,
counting, and a topic that refuses writes (for tests, chaos scenarios and benchmarks)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from taskfactory_contracts import AvroCodec, Envelope
from taskfactory_runtime.kafka import client_kwargs, make_admin, topic_partitions
from taskfactory_runtime.settings import KafkaSettings

__all__ = [
    "ACCEPT_WRITES",
    "REJECT_WRITES",
    "consume",
    "definition_yaml",
    "echo_definition",
    "end_offsets_total",
    "envelope",
    "produce",
    "produce_envelopes",
    "set_topic_config",
]

Record = tuple[bytes | None, bytes, list[tuple[str, bytes]]]

#: Per-topic configs under which the broker rejects every write to the topic, and the restore.
REJECT_WRITES = {"max.message.bytes": "1"}
ACCEPT_WRITES = {"max.message.bytes": "1048588"}


def envelope(
    i: int, *, uid: str, type_: str = "com.example.test.requested", **kw: object
) -> Envelope:
    """A valid test envelope with a distinct id and subject."""
    fields: dict[str, object] = {
        "id": f"{uid}-event-{i}",
        "source": "/tests",
        "type": type_,
        "subject": f"subject-{i}",
        "time": datetime.now(UTC),
        "data": json.dumps({"n": i}).encode(),
    }
    fields.update(kw)
    return Envelope.model_validate(fields)


def definition_yaml(definition_id: str, uid: str, tasks: str) -> str:
    """YAML of a definition for test events whose run ids start with ``uid/``; ``tasks`` is
    the YAML of its task list, indented by two."""
    return f"""
id: {definition_id}
version: 1
trigger:
  event_types: [com.example.test.requested]
correlation:
  workflow_id: "{uid}/{{subject}}/{{id}}"
tasks:
{tasks}"""


def echo_definition(definition_id: str, uid: str) -> str:
    """YAML of a one-task (echo) definition for test events; run ids start with ``uid/``."""
    return definition_yaml(definition_id, uid, "  - id: echo-it\n    type: echo\n")


async def produce(kafka: KafkaSettings, topic: str, records: list[Record]) -> None:
    """Publish raw (key, value, headers) records and wait for every ack."""
    kwargs = client_kwargs(kafka)
    kwargs.pop("request_timeout_ms")
    producer = AIOKafkaProducer(**kwargs, acks="all")
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=value, key=key, headers=headers)
            for key, value, headers in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def produce_envelopes(kafka: KafkaSettings, topic: str, envelopes: list[Envelope]) -> None:
    """Publish envelopes as Avro single-object records keyed by subject."""
    codec = AvroCodec()
    await produce(
        kafka, topic, [(e.subject.encode(), codec.encode_envelope(e), []) for e in envelopes]
    )


async def consume(
    kafka: KafkaSettings,
    topic: str,
    *,
    at_least: int,
    timeout: float,  # noqa: ASYNC109 (a deadline that names what it waited for)
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` from the beginning, once there are ``at_least`` of them."""
    consumer = AIOKafkaConsumer(
        topic, **client_kwargs(kafka), auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    out: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(out) < at_least:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f}s: {len(out)} of {at_least} records on {topic}"
                )
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                out.extend(records)
    finally:
        await consumer.stop()
    return out


async def end_offsets_total(kafka: KafkaSettings, topic: str) -> int:
    """How many records ``topic`` holds (sum of end offsets; topics are never compacted here)."""
    consumer = AIOKafkaConsumer(**client_kwargs(kafka), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        ends = await consumer.end_offsets(tps)
        return int(sum(ends.values()))
    finally:
        await consumer.stop()


async def set_topic_config(kafka: KafkaSettings, name: str, configs: dict[str, str]) -> None:
    """Change per-topic configs (``REJECT_WRITES`` makes the topic unavailable to producers:
    every batch is too large; only this topic is affected)."""
    admin = make_admin(kafka, name="topic-config")
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs)])
    finally:
        await admin.close()
