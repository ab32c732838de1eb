"""The look before a repeated publish, against the real broker: it finds a record by its id
header, and a run event the release before the fast path sent (no id header) by its bytes.

A live upgrade retries, on the new executor, run-event publishes the old executor had sent but
not reported done; without the second rule the runs topic got that event twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.partitioner import DefaultPartitioner
from conftest import Topics

from taskfactory_contracts import names
from taskfactory_runtime.kafka import make_consumer, make_producer
from taskfactory_runtime.once import OnceRecord, PartitionReader
from taskfactory_runtime.settings import KafkaSettings

pytestmark = pytest.mark.integration

ID_HEADER = names.HEADER_RUN_EVENT_ID


def _record(topic: str, *, value: bytes, record_id: str = "run-event-1") -> OnceRecord:
    return OnceRecord(
        kind="run_event",
        topic=topic,
        key=b"subject-1",
        value=value,
        headers=[(ID_HEADER, record_id.encode())],
        record_id=record_id,
        id_header=ID_HEADER,
    )


async def _send(kafka: KafkaSettings, record: OnceRecord, headers: list[tuple[str, bytes]]) -> int:
    producer = make_producer(kafka, name="test-check")
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(record.topic))
        partition: int = DefaultPartitioner()(record.key, partitions, partitions)
        await producer.send_and_wait(
            record.topic, value=record.value, key=record.key, headers=headers, partition=partition
        )
    finally:
        await producer.stop()
    return partition


@pytest.fixture
async def reader(kafka_settings: KafkaSettings) -> PartitionReader:
    return PartitionReader(
        lambda: make_consumer(
            kafka_settings, group_id=None, name="test-check", isolation_level="read_uncommitted"
        )
    )


async def test_a_record_is_found_by_its_id_header_and_another_id_is_not(
    kafka_settings: KafkaSettings, topics: Topics, reader: PartitionReader
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=60)
    sent = _record(topics.runs, value=b"started")
    partition = await _send(kafka_settings, sent, sent.headers)
    try:
        assert await reader.find(sent, partition, since=since) == (partition, 0)
        other = _record(topics.runs, value=b"finished", record_id="run-event-2")
        assert await reader.find(other, partition, since=since) is None
    finally:
        await reader.stop()


async def test_a_record_sent_without_the_id_header_is_found_by_its_key_and_bytes(
    kafka_settings: KafkaSettings, topics: Topics, reader: PartitionReader
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=60)
    old = _record(topics.runs, value=b"\xc3\x01started-by-the-old-release")
    # The old release's headers: the causing event and the run, no record id.
    partition = await _send(
        kafka_settings, old, [(names.HEADER_RUN_ID, b"run-1"), (names.HEADER_EVENT_ID, b"e-1")]
    )
    try:
        assert await reader.find(old, partition, since=since) == (partition, 0)
        finished = _record(topics.runs, value=b"\xc3\x01finished", record_id="run-event-2")
        assert await reader.find(finished, partition, since=since) is None, (
            "another event of the same run (same key and headers) is not taken for it"
        )
    finally:
        await reader.stop()
