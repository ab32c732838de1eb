"""What one partition holds: per-key queues, deferred offsets, bytes, and where to re-read.

Pure bookkeeping (no I/O), so one flooding key cannot hold the others back: a key whose queue
is full does not pause the partition; its further records are *deferred* (only their offset is
kept, not their bytes) and fetching goes on for the other keys. When that key's queue empties,
the partition is re-read from its first deferred offset (:meth:`PartitionBuffer.done` returns
where), records already handled or in flight are skipped, and as soon as no deferred record
ahead can be queued the reading jumps back to where it was (:meth:`PartitionBuffer.after_batch`).

Invariants: a key's records are queued in offset order; every fetched offset stays in the
:class:`OffsetTracker` until handled, so nothing deferred is ever committed past; memory is
bounded by queued records and bytes (the caller pauses on :attr:`queued`, :attr:`bytes` and
``tracker.in_flight``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from aiokafka import ConsumerRecord

from taskfactory_ingress.offsets import OffsetTracker

__all__ = ["PartitionBuffer", "record_bytes"]

Record: TypeAlias = ConsumerRecord[bytes, bytes]
Key: TypeAlias = bytes | None
Offered = Literal["new_queue", "queued", "deferred", "skipped"]


def record_bytes(record: Record) -> int:
    """Bytes a buffered record holds: key, value and headers."""
    return (
        len(record.key or b"")
        + len(record.value or b"")
        + sum(len(k) + len(v or b"") for k, v in record.headers or ())
    )


@dataclass
class PartitionBuffer:
    """The records of one partition between fetch and commit."""

    tracker: OffsetTracker
    max_per_key: int
    keys: dict[Key, deque[Record]] = field(default_factory=dict)
    #: Highest offset ever fetched; a record at or below it is a re-read.
    highest: int = -1
    #: Each key's deferred offsets, ascending; a key with any defers all its new records, and
    #: only its first deferred record may be queued (per-key order).
    deferred: dict[Key, deque[int]] = field(default_factory=dict)
    queued: int = 0
    bytes: int = 0
    rewinding: bool = False

    def offer(self, record: Record) -> Offered:
        """Take one fetched record: queue it, defer it, or skip a re-read one."""
        offset, key = record.offset, record.key
        if offset <= self.highest:
            waiting = self.deferred.get(key)
            if not waiting or waiting[0] != offset or not self._room(key):
                return "skipped"  # handled or in flight already, or not its turn yet
            waiting.popleft()
            if not waiting:
                del self.deferred[key]
            return self._enqueue(record)
        self.tracker.add(offset)
        self.highest = offset
        if key in self.deferred or not self._room(key):
            self.deferred.setdefault(key, deque()).append(offset)
            return "deferred"
        return self._enqueue(record)

    def done(self, record: Record) -> int | None:
        """``record`` (its key's queue head) is handled; an offset to re-read from, if any."""
        queue = self.keys[record.key]
        queue.popleft()
        self.tracker.ack(record.offset)
        self.queued -= 1
        self.bytes -= record_bytes(record)
        if queue:
            return None
        del self.keys[record.key]
        waiting = self.deferred.get(record.key)
        if waiting and not self.rewinding:
            self.rewinding = True
            return waiting[0]
        return None

    def after_batch(self, last_offset: int) -> int | None:
        """After a fetched batch ending at ``last_offset``: where to read next, when a re-read
        should jump (back to the first deferred offset, or ahead past ``highest``)."""
        # The next record each key with room may take (its first deferred one).
        room = [waiting[0] for key, waiting in self.deferred.items() if self._room(key)]
        if not self.rewinding:
            # A safety net (done() starts re-reads itself): a key with deferred records and
            # no queue has no worker to ask for them.
            stranded = [
                waiting[0] for key, waiting in self.deferred.items() if key not in self.keys
            ]
            if not stranded:
                return None
            self.rewinding = True
            return min(stranded)
        if last_offset < self.highest and any(offset > last_offset for offset in room):
            return None  # the re-read will reach records it can queue: read on
        if room:  # a key drained meanwhile whose next record the re-read passed
            return min(room)
        self.rewinding = False
        return self.highest + 1 if last_offset < self.highest else None

    def _room(self, key: Key) -> bool:
        queue = self.keys.get(key)
        return queue is None or len(queue) < self.max_per_key

    def _enqueue(self, record: Record) -> Offered:
        queue = self.keys.get(record.key)
        created = queue is None
        if queue is None:
            queue = self.keys[record.key] = deque()
        queue.append(record)
        self.queued += 1
        self.bytes += record_bytes(record)
        return "new_queue" if created else "queued"
