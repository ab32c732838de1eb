"""Offsets reach Kafka even when a commit fails or a partition is revoked mid-commit.

The consumer and the handler are stand-ins here (the integration and chaos suites run the same
pipeline against a real broker); these cases need a commit to fail at an exact moment.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import RequestTimedOutError

from taskfactory_ingress.availability import Availability
from taskfactory_ingress.consumer import IngressConsumer
from taskfactory_ingress.settings import IngressSection, IngressSettings

TP0, TP1 = TopicPartition("events", 0), TopicPartition("events", 1)


def _records(tp: TopicPartition, count: int) -> list[ConsumerRecord[bytes, bytes]]:
    return [
        ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, b"k%d" % offset, b"v", None, 2, 1, [])
        for offset in range(count)
    ]


class Handler:
    """Acknowledges every record at once."""

    async def handle(self, _: ConsumerRecord[bytes, bytes]) -> None:
        await asyncio.sleep(0)


class Broker:
    """Stands in for the consumer: hands out ``batches`` once, records what gets committed."""

    def __init__(self, batches: list[dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]]):
        self.batches = batches
        self.offsets: dict[TopicPartition, int] = {}
        self.changed = asyncio.Event()
        self.fail_next = 0
        self.gate: asyncio.Event | None = None
        self.in_commit = asyncio.Event()

    async def getmany(self, **_: Any) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        if self.batches:
            return self.batches.pop(0)
        await asyncio.sleep(0.01)  # an empty poll, as the real one waits for records
        return {}

    def assignment(self) -> set[TopicPartition]:
        return {TP0, TP1}

    def pause(self, *_: TopicPartition) -> None:
        pass

    def resume(self, *_: TopicPartition) -> None:
        pass

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {}

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.offsets.get(tp)

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 0)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.in_commit.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_next:
            self.fail_next -= 1
            raise RequestTimedOutError()
        self.offsets.update(offsets)
        self.changed.set()

    async def until(self, wanted: dict[TopicPartition, int]) -> None:
        while any(self.offsets.get(tp) != offset for tp, offset in wanted.items()):
            self.changed.clear()
            await self.changed.wait()


def _consumer(broker: Broker, stop: asyncio.Event) -> IngressConsumer:
    settings = IngressSettings(ingress=IngressSection(commit_interval_seconds=0.01))
    return IngressConsumer(settings, broker, Handler(), stop, Availability())  # type: ignore[arg-type]


async def test_a_failed_commit_is_retried_although_no_record_arrives_after_it() -> None:
    broker = Broker([{TP0: _records(TP0, 50)}])
    broker.fail_next = 2  # e.g. the coordinator moving: the request times out
    stop = asyncio.Event()
    running = asyncio.create_task(_consumer(broker, stop).run())
    await asyncio.wait_for(broker.until({TP0: 50}), timeout=10)
    stop.set()
    await running


async def test_a_partition_revoked_while_its_commit_is_on_the_way_stops_no_commit() -> None:
    broker = Broker([{TP0: _records(TP0, 10), TP1: _records(TP1, 10)}])
    broker.gate = asyncio.Event()
    stop = asyncio.Event()
    consumer = _consumer(broker, stop)
    running = asyncio.create_task(consumer.run())
    await asyncio.wait_for(broker.in_commit.wait(), timeout=10)
    consumer.partitions.pop(TP0)  # what a revoke does while the commit request is out
    broker.gate.set()
    await asyncio.wait_for(broker.until({TP1: 10}), timeout=10)
    broker.batches.append({TP1: _records(TP1, 20)[10:]})
    await asyncio.wait_for(broker.until({TP1: 20}), timeout=10)
    stop.set()
    await running


class FailingHandler(Handler):
    """Raises for one offset until ``healed`` is set (a failure even dead-lettering missed)."""

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.healed = asyncio.Event()
        self.failed = asyncio.Event()

    async def handle(self, record: ConsumerRecord[bytes, bytes]) -> None:
        await asyncio.sleep(0)
        if record.offset == self.offset and not self.healed.is_set():
            self.failed.set()
            raise RuntimeError("the dead-letter topic refused the record and its stub")


async def test_a_record_that_cannot_end_anywhere_reports_its_partition_stuck_not_dead() -> None:
    from taskfactory_ingress import metrics

    broker = Broker([{TP0: _records(TP0, 10)}])
    stop = asyncio.Event()
    handler = FailingHandler(offset=4)
    settings = IngressSettings(
        ingress=IngressSection(
            commit_interval_seconds=0.01, retry_initial_seconds=0.01, retry_max_seconds=0.02
        )
    )
    consumer = IngressConsumer(settings, broker, handler, stop, Availability())  # type: ignore[arg-type]
    running = asyncio.create_task(consumer.run())
    await asyncio.wait_for(broker.until({TP0: 4}), timeout=10)  # committed up to the bad one
    await asyncio.wait_for(handler.failed.wait(), timeout=10)
    assert consumer.stuck() == (
        "events/0 stuck at offset 4: RuntimeError: the dead-letter topic refused the record "
        "and its stub"
    )
    assert metrics.STUCK.labels("events/0")._value.get() == 1
    assert broker.offsets[TP0] == 4, "nothing committed past the record"
    handler.healed.set()  # e.g. the topic's ACL fixed: the key's worker is still there
    await asyncio.wait_for(broker.until({TP0: 10}), timeout=10)
    assert consumer.stuck() is None
    assert metrics.STUCK.labels("events/0")._value.get() == 0
    stop.set()
    await running


class StuckHandler(Handler):
    """Never finishes a record: everything fetched stays buffered."""

    async def handle(self, _: ConsumerRecord[bytes, bytes]) -> None:
        await asyncio.Event().wait()


async def test_a_partition_pauses_on_buffered_bytes_before_its_record_limit() -> None:
    big = [
        ConsumerRecord("events", 0, offset, 0, 0, b"k%d" % offset, b"x" * 1_000_000, None, 2, 0, [])
        for offset in range(10)
    ]
    broker = Broker([{TP0: big}])
    paused: list[TopicPartition] = []
    pausing = asyncio.Event()

    def pause(*tps: TopicPartition) -> None:
        paused.extend(tps)
        pausing.set()

    broker.pause = pause  # type: ignore[method-assign]
    settings = IngressSettings(
        ingress=IngressSection(
            max_buffered_per_partition=1000, max_buffered_bytes_per_partition=4_000_000
        )
    )
    stop = asyncio.Event()
    consumer = IngressConsumer(settings, broker, StuckHandler(), stop, Availability())  # type: ignore[arg-type]
    running = asyncio.create_task(consumer.run())
    await asyncio.wait_for(pausing.wait(), timeout=10)
    assert paused == [TP0], "10 MB buffered against a 4 MB bound: fetching stops"
    assert consumer.partitions[TP0].buffer.bytes >= 4_000_000
    stop.set()
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running


async def test_fetching_pauses_while_a_dependency_is_down_and_resumes_when_all_are_up() -> None:
    broker = Broker([{TP0: _records(TP0, 3)}])
    paused: list[TopicPartition] = []
    resumed: list[TopicPartition] = []
    broker.pause = lambda *tps: paused.extend(tps)  # type: ignore[method-assign]
    broker.resume = lambda *tps: resumed.extend(tps)  # type: ignore[method-assign]
    availability = Availability()
    stop = asyncio.Event()
    settings = IngressSettings(ingress=IngressSection(commit_interval_seconds=0.01))
    consumer = IngressConsumer(settings, broker, Handler(), stop, availability)  # type: ignore[arg-type]
    running = asyncio.create_task(consumer.run())
    await asyncio.wait_for(broker.until({TP0: 3}), timeout=10)

    availability.down("temporal", "UNAVAILABLE")
    availability.down("schema-registry", "refused")
    assert paused == [TP0]
    availability.up("temporal")
    assert resumed == [], "the registry is still down"
    availability.up("schema-registry")
    assert resumed == [TP0]
    stop.set()
    await running
