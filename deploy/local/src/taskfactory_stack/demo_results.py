"""What ``make run`` watches and prints: the results of its runs as they arrive from the results
topic, which runs have closed, and the progress line."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
)

from taskfactory_contracts import (
    AvroCodec,
    TaskResult,
)
from taskfactory_runtime.kafka import topic_partitions
from taskfactory_stack.screen import Screen

__all__ = [
    "SCREEN",
    "Progress",
    "Watch",
    "assign_at_end",
    "drain",
    "output_of",
    "poll",
    "run_closed",
    "say",
]

# ---- what the demo watches --------------------------------------------------------------------
#: Everything the demo prints goes through here (lines above one progress line; a closed
#: stdout noticed, see :mod:`taskfactory_stack.screen`).
SCREEN = Screen()


def say(text: str = "") -> None:
    SCREEN.line(text)


def output_of(result: TaskResult) -> Any:
    return json.loads(result.output_json) if result.output_json else None


@dataclass
class Watch:
    """The results of this demo's runs as they arrive, and which runs have closed."""

    tracked: set[str]
    monitor_id: str
    by_run: dict[str, dict[str, TaskResult]] = field(default_factory=dict)
    runs_of: dict[str, set[str]] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    received: int = 0
    t0: float = field(default_factory=time.monotonic)
    first: float | None = None

    def take(self, result: TaskResult) -> None:
        if result.causation_id not in self.tracked and result.definition_id != self.monitor_id:
            return  # someone else's run publishing to the same topic
        self.received += 1
        if self.first is None:
            self.first = time.monotonic() - self.t0
        self.by_run.setdefault(result.run_id, {})[result.task_id] = result
        self.runs_of.setdefault(result.causation_id, set()).add(result.run_id)
        say(
            f"  result  {result.run_id}  task={result.task_id}  "
            f"status={result.status.value}  output={result.output_json}"
        )

    def done(self, event_id: str) -> bool:
        runs = self.runs_of.get(event_id, set())
        return bool(runs) and runs <= self.closed

    def results_of(self, event_id: str) -> dict[str, TaskResult]:
        out: dict[str, TaskResult] = {}
        for run_id in sorted(self.runs_of.get(event_id, ())):
            out.update(self.by_run.get(run_id, {}))
        return out


async def assign_at_end(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    tps = await topic_partitions(consumer, topic)
    while not tps:  # just created: its metadata is on its way
        tps = await topic_partitions(consumer, topic)
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)
    return tps


async def poll(consumer: AIOKafkaConsumer, codec: AvroCodec, watch: Watch) -> None:
    batch = await consumer.getmany(timeout_ms=300)
    for records in batch.values():
        for record in records:
            watch.take(codec.decode_task_result(record.value or b""))


async def drain(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], codec: AvroCodec, watch: Watch
) -> None:
    """Read up to the end offsets of now: every result of a closed run has been seen."""
    ends = await consumer.end_offsets(tps)
    for tp in tps:
        while await consumer.position(tp) < ends[tp]:
            await poll(consumer, codec, watch)


async def run_closed(client: Client, run_id: str) -> bool:
    description = await client.get_workflow_handle(run_id).describe()
    return description.status != WorkflowExecutionStatus.RUNNING


class Progress:
    def __init__(self, watch: Watch, awaited: set[str]) -> None:
        self.watch = watch
        self.awaited = awaited
        self.started = 0

    def line(self) -> str:
        done = sum(self.watch.done(e) for e in self.awaited)
        return (
            f"  events awaited {len(self.awaited)} · runs started {self.started} · "
            f"results received {self.watch.received} · events done {done}/{len(self.awaited)}"
        )
