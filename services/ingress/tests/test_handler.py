"""The record handler bounds its calls to Temporal separately from the records in flight."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord

from taskfactory_contracts import ActivityDefinition, AvroCodec, Envelope
from taskfactory_ingress.handler import RecordHandler
from taskfactory_ingress.settings import IngressSection, IngressSettings

DEFINITION = ActivityDefinition.model_validate(
    {
        "id": "greet",
        "version": 1,
        "trigger": {"event_types": ["com.example.greet"]},
        "correlation": {"workflow_id": "greet/{id}"},
        "tasks": [{"id": "t", "type": "echo"}],
    }
)


class GatedTemporal:
    """Stands in for the Temporal client: every start waits at a gate; counts calls at once."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.now = 0
        self.peak = 0
        self.started: list[str] = []

    async def start_workflow(self, *_: Any, id: str, **__: Any) -> Any:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await self.gate.wait()
        finally:
            self.now -= 1
        self.started.append(id)
        return type("Handle", (), {"id": id})()


def _record(offset: int) -> ConsumerRecord[bytes, bytes]:
    envelope = Envelope(
        id=f"e-{offset}",
        source="/test",
        type="com.example.greet",
        subject=f"s-{offset}",
        time=datetime.now(UTC),
    )
    value = AvroCodec().encode_envelope(envelope)
    return ConsumerRecord(
        topic="events",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=envelope.subject.encode(),
        value=value,
        checksum=None,
        serialized_key_size=len(envelope.subject),
        serialized_value_size=len(value),
        headers=[],
    )


async def test_many_records_in_flight_make_at_most_max_concurrent_starts_calls() -> None:
    temporal = GatedTemporal()
    handler = RecordHandler(
        settings=IngressSettings(ingress=IngressSection(max_in_flight=40, max_concurrent_starts=3)),
        producer=None,  # nothing is dead-lettered here
        client=temporal,  # type: ignore[arg-type]
        definitions=[DEFINITION],
    )
    tasks = [asyncio.create_task(handler.handle(_record(offset))) for offset in range(40)]
    for _ in range(100):  # let every task run until it blocks (no time passes)
        await asyncio.sleep(0)
    assert temporal.now == 3, "three calls in progress, the other 37 records wait for a slot"
    assert not any(task.done() for task in tasks)
    temporal.gate.set()
    await asyncio.gather(*tasks)
    assert temporal.peak == 3
    assert sorted(temporal.started) == sorted(f"greet/e-{i}" for i in range(40))
