"""Watermark bookkeeping of one partition: which offset may be committed.

Records are added in offset order and acknowledged in any order (different keys finish at
different times). The watermark is the offset to commit: every offset below it has been
acknowledged. It never passes an unacknowledged record, so a crash re-reads exactly the
records whose workflow start was not yet confirmed.
"""

from __future__ import annotations

from collections import deque

__all__ = ["OffsetTracker"]


class OffsetTracker:
    """In-flight offsets of one partition and the commit watermark they allow."""

    __slots__ = ("_acked", "_next", "_pending")

    def __init__(self, start: int) -> None:
        # ``start`` is the position the partition is read from (the last committed offset).
        self._pending: deque[int] = deque()
        self._acked: set[int] = set()
        self._next = start

    def add(self, offset: int) -> None:
        """Track ``offset`` as in flight; offsets must arrive in increasing order."""
        last = self._pending[-1] if self._pending else self._next - 1
        if offset <= last:
            raise ValueError(f"offset {offset} added after {last}: offsets must increase")
        if not self._pending:
            # Offsets may skip (compaction, transaction markers): nothing in between is ours.
            self._next = offset
        self._pending.append(offset)

    def ack(self, offset: int) -> None:
        """Mark ``offset`` done (started, duplicate, skipped or dead-lettered)."""
        if offset not in self._acked and offset in self._pending:
            self._acked.add(offset)
        elif offset not in self._pending:
            raise ValueError(f"offset {offset} is not in flight")
        while self._pending and self._pending[0] in self._acked:
            done = self._pending.popleft()
            self._acked.discard(done)
            self._next = done + 1

    @property
    def watermark(self) -> int:
        """The offset to commit: every tracked offset below it is acknowledged."""
        return self._pending[0] if self._pending else self._next

    @property
    def in_flight(self) -> int:
        """How many tracked offsets are not yet below the watermark."""
        return len(self._pending)
