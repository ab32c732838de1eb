"""The ingress pipeline: many records in flight, per-key order, watermark commits, backpressure.

Each fetched record joins the queue of its key within its partition; one worker per busy key
handles that queue in offset order while different keys proceed in parallel, bounded by the
handler's in-flight limit. A key whose queue is full has its further records deferred and
re-read later (:mod:`taskfactory_ingress.partition`), so one flooding key never holds back the
other keys of its partition; a partition pauses only when it buffers too many records or bytes
or tracks too many offsets, and resumes when it drains. Offsets are committed per partition at
the watermark of an :class:`OffsetTracker`: only records whose workflow start Temporal
acknowledged (or that were dead-lettered) lie below it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from taskfactory_ingress import metrics
from taskfactory_ingress.availability import Availability
from taskfactory_ingress.handler import RecordHandler
from taskfactory_ingress.offsets import OffsetTracker
from taskfactory_ingress.partition import PartitionBuffer
from taskfactory_ingress.settings import IngressSettings
from taskfactory_runtime.logging import get_logger

__all__ = ["IngressConsumer"]

log = get_logger(__name__)

Record: TypeAlias = ConsumerRecord[bytes, bytes]

_COMMIT_RETRY_MAX_SECONDS = 5.0


@dataclass
class _Partition:
    buffer: PartitionBuffer
    workers: set[asyncio.Task[None]] = field(default_factory=set)
    committed: int = -1
    paused: bool = False
    handled: int = 0
    #: (offset, error) of a record that could be neither started nor dead-lettered.
    stuck: tuple[int, str] | None = None


class IngressConsumer(ConsumerRebalanceListener):  # type: ignore[misc]
    """Runs the pipeline on one consumer until ``stop`` is set, then drains and commits.

    Fetching pauses while ``availability`` reports a dependency down (the handler reports
    there) and resumes when all are up again.
    """

    def __init__(
        self,
        settings: IngressSettings,
        consumer: AIOKafkaConsumer,
        handler: RecordHandler,
        stop: asyncio.Event,
        availability: Availability,
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.handler = handler
        self.stop = stop
        self.availability = availability
        self.partitions: dict[TopicPartition, _Partition] = {}
        self._wake = asyncio.Event()
        self.availability.subscribe(self._on_availability)

    # -- the loop -------------------------------------------------------------------------
    async def run(self) -> None:
        """Fetch and dispatch until ``stop``; then drain in-flight records and commit."""
        committer = asyncio.create_task(self._commit_loop(), name="ingress-commit")
        lag = asyncio.create_task(self._lag_loop(), name="ingress-lag")
        try:
            while not self.stop.is_set():
                if committer.done() or lag.done():
                    # Never go on fetching without committing: a crash restarts the process.
                    for task in (committer, lag):
                        if task.done():
                            task.result()  # raises what ended it
                    raise RuntimeError("the ingress's commit or lag loop ended")
                batches = await self.consumer.getmany(
                    timeout_ms=200, max_records=self.settings.ingress.max_batch
                )
                for tp, records in batches.items():
                    self._dispatch(tp, records)
            await self._drain()
        finally:
            for task in (committer, lag):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._commit_all()
            for state in self.partitions.values():
                for worker in state.workers:
                    worker.cancel()

    def _state(self, tp: TopicPartition, first_offset: int) -> _Partition:
        state = self.partitions.get(tp)
        if state is None:
            buffer = PartitionBuffer(
                OffsetTracker(first_offset),
                max_per_key=self.settings.ingress.max_buffered_per_key,
                highest=first_offset - 1,
            )
            state = _Partition(buffer, committed=first_offset)
            self.partitions[tp] = state
        return state

    def _dispatch(self, tp: TopicPartition, records: list[Record]) -> None:
        state = self._state(tp, records[0].offset)
        buffer = state.buffer
        for record in records:
            if buffer.offer(record) == "new_queue":
                worker = asyncio.create_task(self._work(tp, state, record.key))
                state.workers.add(worker)
                worker.add_done_callback(state.workers.discard)
        jump = buffer.after_batch(records[-1].offset)
        if jump is not None:
            self._seek(tp, jump)
        if self._over_limits(buffer):
            self._pause(tp, state, reason="buffer full")

    def _over_limits(self, buffer: PartitionBuffer) -> bool:
        section = self.settings.ingress
        return (
            buffer.queued >= section.max_buffered_per_partition
            or buffer.bytes >= section.max_buffered_bytes_per_partition
            or (
                buffer.tracker.in_flight >= section.max_tracked_per_partition
                and not buffer.rewinding
            )
        )

    def _seek(self, tp: TopicPartition, offset: int) -> None:
        # Re-reading is how a deferred record comes back (see PartitionBuffer).
        with contextlib.suppress(IllegalStateError):
            self.consumer.seek(tp, offset)

    async def _work(self, tp: TopicPartition, state: _Partition, key: bytes | None) -> None:
        buffer = state.buffer
        while (queue := buffer.keys.get(key)) and state is self.partitions.get(tp):
            record = queue[0]
            await self._handle_until_done(tp, state, record)
            if state is not self.partitions.get(tp):
                return  # revoked meanwhile: the new owner re-reads from the last commit
            rewind = buffer.done(record)
            state.handled += 1
            if rewind is not None:
                self._seek(tp, rewind)
            self._wake.set()
            self._maybe_resume(tp, state)

    async def _handle_until_done(
        self, tp: TopicPartition, state: _Partition, record: Record
    ) -> None:
        """Handle ``record`` until it has an outcome; never let its key's worker die.

        The handler dead-letters whatever fails; should even that fail (the dead-letter topic
        refusing the record and its stub), the record is not acknowledged: the partition is
        reported stuck (log, metric, ``/readyz``) at its offset and the record retried.
        """
        attempt = 0
        while True:
            try:
                await self.handler.handle(record)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                where = f"{tp.topic}/{tp.partition}"
                if state.stuck is None:
                    log.error(
                        "partition stuck: a record could be neither started nor dead-lettered",
                        partition=where,
                        offset=record.offset,
                        error=f"{type(exc).__name__}: {exc}",
                        exc_info=exc,
                    )
                state.stuck = (record.offset, f"{type(exc).__name__}: {exc}"[:300])
                metrics.STUCK.labels(where).set(1)
                await asyncio.sleep(self.settings.ingress.backoff_seconds(attempt + 1))
                continue
            if state.stuck is not None and state.stuck[0] == record.offset:
                state.stuck = None
                metrics.STUCK.labels(f"{tp.topic}/{tp.partition}").set(0)
                log.info("partition moving again", partition=f"{tp.topic}/{tp.partition}")
            return

    def stuck(self) -> str | None:
        """Why ``/readyz`` fails: the partitions that cannot make progress, or ``None``."""
        found = [
            f"{tp.topic}/{tp.partition} stuck at offset {state.stuck[0]}: {state.stuck[1]}"
            for tp, state in self.partitions.items()
            if state.stuck is not None
        ]
        return "; ".join(found) or None

    # -- backpressure ----------------------------------------------------------------------
    def _pause(self, tp: TopicPartition, state: _Partition, *, reason: str) -> None:
        if not state.paused:
            state.paused = True
            with contextlib.suppress(IllegalStateError):
                self.consumer.pause(tp)
            log.debug("partition paused", partition=f"{tp.topic}/{tp.partition}", reason=reason)

    def _maybe_resume(self, tp: TopicPartition, state: _Partition) -> None:
        section = self.settings.ingress
        if not state.paused or not self.availability.all_up:
            return
        buffer = state.buffer
        if (
            buffer.queued <= section.max_buffered_per_partition // 2
            and buffer.bytes <= section.max_buffered_bytes_per_partition // 2
            and (
                buffer.rewinding
                or buffer.tracker.in_flight < section.max_tracked_per_partition * 9 // 10
            )
        ):
            state.paused = False
            if tp in self.consumer.assignment():
                self.consumer.resume(tp)

    def _on_availability(self, all_up: bool) -> None:
        # While Temporal (or the registry) is unreachable nothing more is fetched; records in
        # flight keep retrying and nothing past them is committed.
        metrics.PAUSED.set(0 if all_up else 1)
        for tp, state in self.partitions.items():
            if not all_up:
                self._pause(tp, state, reason="a dependency unavailable")
            else:
                self._maybe_resume(tp, state)

    # -- commits ---------------------------------------------------------------------------
    async def _commit_loop(self) -> None:
        interval = self.settings.ingress.commit_interval_seconds
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            if await self._commit_all():
                failures = 0
                await asyncio.sleep(interval)
                continue
            # Retried by itself: when the last records of a burst are acknowledged before a
            # commit fails, no later acknowledgement would ever wake this loop again.
            failures += 1
            self._wake.set()
            await asyncio.sleep(min(_COMMIT_RETRY_MAX_SECONDS, interval * 2**failures))

    async def _commit_all(self, only: list[TopicPartition] | None = None) -> bool:
        """Commit every owned partition's watermark; False when the commit failed."""
        offsets: dict[TopicPartition, int] = {}
        for tp, state in self.partitions.items():
            if only is not None and tp not in only:
                continue
            watermark = state.buffer.tracker.watermark
            if watermark > state.committed:
                offsets[tp] = watermark
        if not offsets:
            return True
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # A transient broker error is retried; partitions taken away meanwhile are re-read
            # by their new owner from the last commit, and deterministic workflow ids make the
            # re-read records duplicates.
            log.warning("commit failed; retrying for the partitions still owned", error=str(exc))
            return False
        for tp, offset in offsets.items():
            # A partition may have been revoked while the commit was on its way.
            if (owned := self.partitions.get(tp)) is not None:
                owned.committed = max(owned.committed, offset)
        for tp, state in self.partitions.items():
            metrics.COMMIT_LAG.labels(f"{tp.topic}/{tp.partition}").set(
                state.buffer.tracker.in_flight
            )
        return True

    # -- lag -------------------------------------------------------------------------------
    async def _lag_loop(self) -> None:
        while True:
            try:
                await self._refresh_lag()
            except (KafkaError, IllegalStateError) as exc:  # the broker away: try again later
                log.debug("consumer lag not refreshed", error=str(exc))
            await asyncio.sleep(self.settings.ingress.lag_refresh_seconds)

    async def _refresh_lag(self) -> None:
        """Set the lag gauge of every assigned partition from the broker's end offsets.

        Asked of the broker rather than taken from fetch responses, so the gauge keeps
        growing while fetching is paused (Temporal away, backpressure): that is when it
        matters.
        """
        assigned = list(self.consumer.assignment())
        if not assigned:
            return
        ends = await self.consumer.end_offsets(assigned)
        for tp in assigned:
            state = self.partitions.get(tp)
            if state is not None:
                committed = state.committed
            else:  # nothing fetched yet: the group's commit, or the log start
                found = await self.consumer.committed(tp)
                if found is None:
                    found = (await self.consumer.beginning_offsets([tp]))[tp]
                committed = found
            if tp in ends:
                lag = max(0, ends[tp] - committed)
                metrics.CONSUMER_LAG.labels(f"{tp.topic}/{tp.partition}").set(lag)

    # -- rebalance and shutdown ------------------------------------------------------------
    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Commit what is safe for the revoked partitions, then drop their in-flight work."""
        revoked = [tp for tp in revoked if tp in self.partitions]
        if not revoked:
            return
        await self._commit_all(only=revoked)
        for tp in revoked:
            state = self.partitions.pop(tp)
            for worker in list(state.workers):
                worker.cancel()
            for gauge in (metrics.COMMIT_LAG, metrics.CONSUMER_LAG):
                with contextlib.suppress(KeyError):
                    gauge.remove(f"{tp.topic}/{tp.partition}")
        log.info("partitions revoked", partitions=[f"{tp.topic}/{tp.partition}" for tp in revoked])

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """New partitions start from their committed offset (state is created on first fetch)."""
        log.info(
            "partitions assigned", partitions=[f"{tp.topic}/{tp.partition}" for tp in assigned]
        )

    async def _drain(self) -> None:
        """Let in-flight records finish within the drain deadline; stop fetching meanwhile."""
        for tp, state in self.partitions.items():
            self._pause(tp, state, reason="shutdown")
        deadline = time.monotonic() + self.settings.drain_seconds
        workers = [w for s in self.partitions.values() for w in s.workers]
        if workers:
            log.info(
                "draining",
                in_flight=sum(s.buffer.tracker.in_flight for s in self.partitions.values()),
            )
            _, pending = await asyncio.wait(workers, timeout=max(0.0, deadline - time.monotonic()))
            if pending:
                log.warning(
                    "drain deadline passed; uncommitted records will be re-read",
                    records=len(pending),
                )

    def in_flight(self) -> int:
        """Records fetched but not yet below the commit watermark."""
        return sum(s.buffer.tracker.in_flight for s in self.partitions.values())
