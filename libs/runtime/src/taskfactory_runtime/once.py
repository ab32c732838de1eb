"""Publishing a record with a deterministic id so that it is on its topic once.

The guarantee (effectively once, per record id) rests on four parts:

1. every record carries its id in a header and goes to the partition its key hashes to, sent
   by an idempotent producer with ``acks=all`` (no duplicates from the producer's own retries);
2. inside one process, a second publish of an id joins the first one's pending send or returns
   its acknowledgement (``_pending`` / ``_done``);
3. every send is bounded by a *lease*: a send is only begun while its attempt may still
   send (``send_before``), and the producer's request timeout (half the lease) makes a begun
   send either written or failed within the lease;
4. a publish that *may* repeat an earlier attempt's send (the caller says so: a retried
   activity, a replayed workflow) first waits one lease, so that every earlier attempt's send
   has been written or has failed, then reads the key's partition from the earliest moment an
   earlier attempt could have written (minus the allowed clock skew) to the end offset, and
   sends only if neither the id nor a record with the same key and bytes is there.

Limits: the partition count of the topic must not change between the attempts (the key would
hash elsewhere); the topic must retain records for longer than the retry window; the hosts'
clocks must agree within ``clock_skew``; and an attempt must not stall (a paused, not crashed,
process) between beginning its attempt and beginning its send for longer than its own timeout
plus a lease, since the "earlier sends began before this attempt began" rule rests on
Temporal starting the next attempt only after the previous one's timeout.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client import Counter

from taskfactory_runtime.errors import LeaseExpired
from taskfactory_runtime.logging import get_logger

__all__ = [
    "CHECKS",
    "KILL_AFTER_ACK_ENV",
    "OnceRecord",
    "PartitionReader",
    "PublishOnce",
    "Published",
    "RecordSender",
]

log = get_logger(__name__)

#: Test hook: ``result`` or ``run_event`` makes the process SIGKILL itself right after Kafka
#: acknowledged a record of that kind (before the activity reports it done); chaos tests only.
KILL_AFTER_ACK_ENV = "TASKFACTORY_CHAOS_KILL_AFTER_ACK"

CHECKS = Counter(
    "taskfactory_publish_checks_total",
    "Reads of a partition before a publish that may repeat an earlier attempt "
    "(found: the record was there already and was not sent again).",
    ["kind", "found"],
)
for _kind in ("result", "run_event"):
    for _found in ("true", "false"):
        CHECKS.labels(_kind, _found)

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class OnceRecord:
    """One record to publish once: its id travels in the ``id_header`` header."""

    kind: str
    topic: str
    key: bytes
    value: bytes
    headers: Headers
    record_id: str
    id_header: str


@dataclass(frozen=True)
class Published:
    """Where the record is; ``sent`` is False when an earlier attempt had written it."""

    partition: int
    offset: int
    sent: bool


class RecordSender(Protocol):
    """What :class:`PublishOnce` needs of a producer (``RenewingProducer`` or aiokafka's):
    a send of one record to a partition chosen here, and the topic's partitions."""

    async def send_and_wait(
        self, topic: str, *, value: bytes, key: bytes, headers: Headers, partition: int
    ) -> Any: ...

    async def partitions_for(self, topic: str) -> set[int]: ...


@dataclass
class PartitionReader:
    """Looks for a record id in one partition between a moment and the end offset."""

    consumer_factory: Callable[[], AIOKafkaConsumer]
    _consumer: AIOKafkaConsumer | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def find(
        self, record: OnceRecord, partition: int, *, since: datetime
    ) -> tuple[int, int] | None:
        """(partition, offset) of ``record`` in ``partition`` at or after ``since``, or None.

        A record is the one whose ``id_header`` carries ``record_id``, or one with the same key
        and value bytes: the release before the fast path sent run events without that header,
        and this release retries the publishes of the runs it started (a run event's value
        holds the event's own id, so equal bytes are the same record).
        """
        wanted = record.record_id.encode()
        tp = TopicPartition(record.topic, partition)
        async with self._lock:  # rare (after crashes): one check at a time is plenty
            consumer = await self._started()
            consumer.assign([tp])
            found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000)})
            first = found.get(tp)
            if first is None:  # nothing written at or after ``since``
                return None
            end = (await consumer.end_offsets([tp]))[tp]
            consumer.seek(tp, first.offset)
            while await consumer.position(tp) < end:
                batches = await consumer.getmany(tp, timeout_ms=1000, max_records=500)
                for seen in batches.get(tp, []):
                    if seen.offset >= end:
                        break
                    if any(k == record.id_header and v == wanted for k, v in seen.headers) or (
                        seen.key == record.key and seen.value == record.value
                    ):
                        return partition, seen.offset
            return None

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = self.consumer_factory()
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


@dataclass
class PublishOnce:
    """Publishes :class:`OnceRecord` s so that each record id is on its topic once.

    ``lease`` bounds each send (the producer's request timeout must be at most half of it);
    ``clock_skew`` is how far the producing hosts' clocks may be apart from the moment the
    caller passes as ``since`` (a Temporal server time).
    """

    producer: RecordSender
    reader: PartitionReader
    lease: timedelta = timedelta(seconds=15)
    clock_skew: timedelta = timedelta(seconds=60)
    remember: int = 10_000
    #: Waits before a check (replaced in unit tests).
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _pending: dict[str, asyncio.Future[Published]] = field(default_factory=dict)
    _done: OrderedDict[str, Published] = field(default_factory=OrderedDict)

    async def publish(
        self,
        record: OnceRecord,
        *,
        may_have_sent: bool,
        since: datetime,
        send_before: float | None = None,
    ) -> Published:
        """Publish ``record`` unless it is there already.

        ``may_have_sent``: an earlier attempt (of another process, or of this one before a
        restart) may have sent it. ``since``: the earliest moment such an attempt could have
        sent. ``send_before``: a ``time.monotonic()`` after which this attempt may no longer
        begin a send (its own deadline, so that a stalled attempt cannot send late).
        """
        done = self._done.get(record.record_id)
        if done is not None:
            return done
        pending = self._pending.get(record.record_id)
        if pending is None:
            pending = asyncio.ensure_future(
                self._publish(record, may_have_sent, since, send_before)
            )
            self._pending[record.record_id] = pending
            pending.add_done_callback(lambda f: self._forget(record.record_id, f))
        return await asyncio.shield(pending)

    async def _publish(
        self, record: OnceRecord, may_have_sent: bool, since: datetime, send_before: float | None
    ) -> Published:
        partitions = sorted(await self.producer.partitions_for(record.topic))
        partition = DefaultPartitioner()(record.key, partitions, partitions)
        if may_have_sent:
            # Every earlier attempt began its send before this one began: one lease later, each
            # such send is written or failed, so what the partition holds is final.
            await self.sleep(self.lease.total_seconds())
            where = await self.reader.find(record, partition, since=since - self.clock_skew)
            CHECKS.labels(record.kind, "true" if where else "false").inc()
            if where is not None:
                log.info(
                    "record already published, not sent again",
                    kind=record.kind,
                    record_id=record.record_id,
                    topic=record.topic,
                    partition=where[0],
                    offset=where[1],
                )
                return Published(where[0], where[1], sent=False)
        if send_before is not None and time.monotonic() >= send_before:
            raise LeaseExpired(f"{record.kind} {record.record_id}: the attempt's lease ended")
        try:
            metadata = await asyncio.wait_for(
                self.producer.send_and_wait(
                    record.topic,
                    value=record.value,
                    key=record.key,
                    headers=record.headers,
                    partition=partition,
                ),
                self.lease.total_seconds(),
            )
        except TimeoutError:
            raise LeaseExpired(
                f"{record.kind} {record.record_id}: not acknowledged within the lease "
                f"({self.lease.total_seconds():.0f}s)"
            ) from None
        if os.environ.get(KILL_AFTER_ACK_ENV) == record.kind:
            os.kill(os.getpid(), signal.SIGKILL)
        return Published(metadata.partition, metadata.offset, sent=True)

    def _forget(self, record_id: str, future: asyncio.Future[Published]) -> None:
        if self._pending.get(record_id) is future:
            del self._pending[record_id]
        if future.cancelled() or future.exception() is not None:
            return
        self._done[record_id] = future.result()
        while len(self._done) > self.remember:
            self._done.popitem(last=False)
