"""The watermark never passes an unacknowledged offset and reaches the end once all are acked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskfactory_ingress.offsets import OffsetTracker


def test_the_watermark_waits_for_the_oldest_unacked_offset() -> None:
    tracker = OffsetTracker(start=10)
    for offset in (10, 11, 12):
        tracker.add(offset)
    tracker.ack(12)
    tracker.ack(11)
    assert tracker.watermark == 10  # 10 is still in flight: committing 11+ would lose it
    tracker.ack(10)
    assert tracker.watermark == 13
    assert tracker.in_flight == 0


def test_an_idle_partition_commits_its_start_position() -> None:
    assert OffsetTracker(start=42).watermark == 42


def test_gaps_in_offsets_are_skipped() -> None:
    tracker = OffsetTracker(start=0)
    tracker.add(5)  # 0-4 were transaction markers or compacted away
    tracker.add(9)
    tracker.ack(5)
    assert tracker.watermark == 9
    tracker.ack(9)
    assert tracker.watermark == 10


def test_out_of_order_adds_and_unknown_acks_are_refused() -> None:
    tracker = OffsetTracker(start=0)
    tracker.add(3)
    with pytest.raises(ValueError, match="must increase"):
        tracker.add(3)
    with pytest.raises(ValueError, match="not in flight"):
        tracker.ack(7)


@given(
    st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=200),
    st.randoms(use_true_random=False),
    st.integers(min_value=0, max_value=10),
)
def test_the_watermark_is_the_smallest_unacked_offset_for_any_ack_order(
    steps: list[int], rnd: object, start: int
) -> None:
    import random

    assert isinstance(rnd, random.Random)
    offsets: list[int] = []
    offset = start
    for step in steps:
        offset += step - 1 if offsets else 0
        offsets.append(offset)
        offset += 1
    tracker = OffsetTracker(start=start)
    for o in offsets:
        tracker.add(o)
    order = offsets[:]
    rnd.shuffle(order)
    acked: set[int] = set()
    for o in order:
        tracker.ack(o)
        acked.add(o)
        unacked = [x for x in offsets if x not in acked]
        expected = min(unacked) if unacked else offsets[-1] + 1
        assert tracker.watermark == expected
        # Everything below the watermark is acknowledged: committing it loses nothing.
        assert all(x in acked for x in offsets if x < tracker.watermark)
    assert tracker.in_flight == 0
