"""PublishOnce's own rules: one send per record id, a look before a repeated send, the lease.

The producer and the partition reader are stand-ins here (the rules are about what
``PublishOnce`` decides); tests/chaos proves the guarantee with a real broker and SIGKILL.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner

from taskfactory_contracts import AvroCodec, TaskResult, TaskStatus
from taskfactory_runtime.errors import LeaseExpired
from taskfactory_runtime.once import OnceRecord, PartitionReader, PublishOnce
from taskfactory_runtime.outbound import result_record, shrink_result

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@dataclass
class Sender:
    sent: list[tuple[str, int | None, bytes]] = field(default_factory=list)
    gate: asyncio.Event | None = None

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2, 3, 4, 5}

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: Any = None,
        partition: int | None = None,
    ) -> Any:
        if self.gate is not None:
            await self.gate.wait()
        self.sent.append((topic, partition, value or b""))

        @dataclass
        class Meta:
            partition: int
            offset: int

        return Meta(partition or 0, len(self.sent) - 1)


class Reader(PartitionReader):
    def __init__(self, found: tuple[int, int] | None) -> None:
        super().__init__(consumer_factory=lambda: None)
        self.found = found
        self.asked: list[tuple[str, int, datetime, str]] = []

    async def find(
        self, record: OnceRecord, partition: int, *, since: datetime
    ) -> tuple[int, int] | None:
        self.asked.append((record.topic, partition, since, record.record_id))
        return self.found


def _record(rid: str = "r-1", key: bytes = b"subject-1") -> OnceRecord:
    return OnceRecord(
        kind="result",
        topic="results",
        key=key,
        value=b"v",
        headers=[("taskfactory-result-id", rid.encode())],
        record_id=rid,
        id_header="taskfactory-result-id",
    )


def _once(sender: Sender, reader: Reader, slept: list[float]) -> PublishOnce:
    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    return PublishOnce(sender, reader, lease=timedelta(seconds=15), sleep=sleep)


async def test_a_first_attempt_sends_to_the_partition_its_key_hashes_to_without_looking() -> None:
    sender, reader, slept = Sender(), Reader(None), list[float]()
    published = await _once(sender, reader, slept).publish(
        _record(key=b"order-7"), may_have_sent=False, since=NOW
    )
    expected = DefaultPartitioner()(b"order-7", [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5])
    assert sender.sent == [("results", expected, b"v")]
    assert published.sent
    assert published.partition == expected
    assert reader.asked == []
    assert slept == []


async def test_concurrent_publishes_of_one_id_send_once() -> None:
    sender, slept = Sender(gate=asyncio.Event()), list[float]()
    once = _once(sender, Reader(None), slept)
    first = asyncio.ensure_future(once.publish(_record(), may_have_sent=False, since=NOW))
    second = asyncio.ensure_future(once.publish(_record(), may_have_sent=True, since=NOW))
    await asyncio.sleep(0)
    assert sender.gate is not None
    sender.gate.set()
    assert (await first) == (await second)
    again = await once.publish(_record(), may_have_sent=True, since=NOW)
    assert len(sender.sent) == 1
    assert again == await first


async def test_a_repeated_publish_waits_a_lease_then_finds_the_earlier_send_and_sends_nothing() -> (
    None
):
    sender, reader, slept = Sender(), Reader((2, 41)), list[float]()
    published = await _once(sender, reader, slept).publish(_record(), may_have_sent=True, since=NOW)
    assert sender.sent == []
    assert published.sent is False
    assert (published.partition, published.offset) == (2, 41)
    assert slept == [15.0], "the look comes one lease after this attempt began"
    ((_, _, since, rid),) = reader.asked
    assert rid == "r-1"
    assert since == NOW - timedelta(seconds=60), "the look starts before the earliest send"


async def test_a_repeated_publish_that_finds_nothing_sends_once() -> None:
    sender, reader, slept = Sender(), Reader(None), list[float]()
    published = await _once(sender, reader, slept).publish(_record(), may_have_sent=True, since=NOW)
    assert published.sent
    assert len(sender.sent) == 1
    assert len(reader.asked) == 1


async def test_an_attempt_past_its_lease_sends_nothing() -> None:
    sender, slept = Sender(), list[float]()
    with pytest.raises(LeaseExpired):
        await _once(sender, Reader(None), slept).publish(
            _record(), may_have_sent=False, since=NOW, send_before=time.monotonic() - 1
        )
    assert sender.sent == []


def _result(output: str, status: TaskStatus = TaskStatus.SUCCEEDED) -> TaskResult:
    return TaskResult(
        result_id="res-1",
        run_id="run-1",
        task_id="t",
        task_type="echo",
        definition_id="d",
        definition_version=1,
        subject="s",
        status=status,
        output_json=output,
        attempts=1,
        started_at=NOW,
        finished_at=NOW,
        causation_id="e-1",
    )


def test_a_result_too_large_for_kafka_becomes_a_failed_result_naming_its_size() -> None:
    codec = AvroCodec()
    big = _result('"' + "x" * 2_000_000 + '"')
    shrunk, size = shrink_result(codec, big, max_bytes=1_048_576)
    assert size is not None
    assert size > 2_000_000
    assert shrunk.status is TaskStatus.FAILED
    assert shrunk.output_json is None
    assert shrunk.error_type == "ResultTooLarge"
    assert str(size) in (shrunk.error_message or "")
    assert shrunk.result_id == big.result_id, "the same result id: a retry finds it"
    record = result_record(codec, shrunk, topic="results", traceparent=None)
    assert len(record.value) < 10_000


def test_a_result_that_fits_is_published_as_it_is() -> None:
    codec = AvroCodec()
    small = _result('{"ok":true}')
    assert shrink_result(codec, small, max_bytes=1_048_576) == (small, None)
