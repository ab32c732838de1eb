"""Task type of the monitoring example: compare an observation with the previous one, store it.

The previous state of each monitor lives in a compacted Kafka topic, one record per
observation keyed by the monitor's key, so the latest record of a key is its state. Why
there: every firing of a schedule is its own run (its workflow id carries the firing time),
so a run has no memory of the last one; any executor replica may run the next firing; and
Kafka is the one store taskfactory already depends on. Compaction keeps the topic at about
one record per monitor.

The read-compare-write is safe because the schedule's overlap policy (``skip``) never runs two
firings of one monitor at once, and idempotent across retries: each record names the firing
that wrote it, and an attempt that finds its own firing's record returns that record's answer
instead of comparing the value with itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from taskfactory_executor.plugin import (
    KafkaSettings,
    SendOnce,
    TaskContext,
    ensure_topics,
    kafka_settings,
    make_consumer,
    topic_partitions,
)

__all__ = [
    "CompareInput",
    "Observation",
    "StateRecord",
    "compare",
    "compare_and_store",
    "latest_state",
]

_IN = ConfigDict(frozen=True, extra="forbid")


class CompareInput(BaseModel):
    """One observation of one monitor, and where its state is kept."""

    model_config = _IN

    key: str = Field(min_length=1, description="The monitor (one state per key).")
    value: Any = Field(description="What was observed (any JSON value).")
    firing: str = Field(min_length=1, description="The firing observing it (the trigger id).")
    topic: str = Field(default="taskfactory.monitoring.state", min_length=1)


class StateRecord(BaseModel):
    """What the state topic holds for a key: the last observation and the answer it got."""

    value: Any
    firing: str
    previous: Any = None
    changed: bool
    first: bool
    observed_at: datetime


class Observation(BaseModel):
    """The task's output: the value now, the one before, and whether it changed."""

    key: str
    current: Any
    previous: Any = None
    changed: bool
    first: bool = Field(description="No earlier state: this observation is the baseline.")


def compare(key: str, value: Any, firing: str, last: StateRecord | None) -> StateRecord:
    """The record this observation writes (pure: the whole decision lives here).

    The first observation of a key is its baseline, not a change. A retry of the same firing
    finds its own record and gets the same answer again.
    """
    if last is not None and last.firing == firing:
        return last
    if last is None:
        return StateRecord(
            value=value, firing=firing, changed=False, first=True, observed_at=datetime.now(UTC)
        )
    return StateRecord(
        value=value,
        firing=firing,
        previous=last.value,
        changed=value != last.value,
        first=False,
        observed_at=datetime.now(UTC),
    )


async def latest_state(kafka: KafkaSettings, topic: str, key: str) -> StateRecord | None:
    """The latest record of ``key`` in ``topic`` (read up to the end offsets at call time)."""
    consumer = make_consumer(kafka, group_id=None, name="monitoring-state")
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        if not tps:
            return None
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        wanted = key.encode()
        found: StateRecord | None = None
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset < ends[tp] and record.key == wanted and record.value:
                        found = StateRecord.model_validate_json(record.value)
            # Position, not the last offset seen: compaction leaves gaps in the offsets.
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return found
    finally:
        await consumer.stop()


async def compare_and_store(params: CompareInput, context: TaskContext) -> Observation:
    """Compare ``value`` with the monitor's last state, store it, say whether it changed."""
    kafka = kafka_settings()
    # Another replica may create it at the same time: that is fine.
    compacted = {"cleanup.policy": "compact"}
    await ensure_topics(
        kafka, [params.topic], partitions=1, replication_factor=1, configs=compacted
    )
    last = await latest_state(kafka, params.topic, params.key)
    record = compare(params.key, params.value, params.firing, last)
    if record is not last:
        sender: SendOnce = context.resource("kafka")
        await sender.send(
            f"state:{context.idempotency_key}",
            params.topic,
            key=params.key.encode(),
            value=record.model_dump_json().encode(),
            headers=[("taskfactory-firing", params.firing.encode())],
        )
    return Observation(
        key=params.key,
        current=record.value,
        previous=record.previous,
        changed=record.changed,
        first=record.first,
    )
