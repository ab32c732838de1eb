"""The record handler bounds its calls to Temporal separately from the records in flight."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord

from taskfactory_contracts import ActivityDefinition, AvroCodec, Envelope
from taskfactory_ingress.availability import Availability
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


class Producer:
    """The dead-letter producer: keeps what it was sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_and_wait(self, topic: str, **kwargs: Any) -> None:
        self.sent.append(kwargs)


def _typed(offset: int, event_type: str, data: bytes = b"{}") -> ConsumerRecord[bytes, bytes]:
    envelope = Envelope(
        id=f"e-{offset}",
        source="/test",
        type=event_type,
        subject=f"s-{offset}",
        time=datetime.now(UTC),
        data=data,
    )
    value = AvroCodec().encode_envelope(envelope)
    return ConsumerRecord("events", 0, offset, 0, 0, b"k", value, None, 1, len(value), [])


def _label_values(metric: Any) -> set[str]:
    return {s.labels["type"] for family in metric.collect() for s in family.samples if s.labels}


async def test_skipped_types_no_definition_names_share_one_label_value() -> None:
    from taskfactory_ingress import metrics

    handler = RecordHandler(IngressSettings(), Producer(), GatedTemporal(), [DEFINITION])  # type: ignore[arg-type]
    before = _label_values(metrics.SKIPPED)
    for i in range(200_000):  # an outsider choosing types (the figure the issue reproduced)
        assert await handler.handle(_typed(i, f"com.attacker.type-{i}")) == "skipped"
    assert _label_values(metrics.SKIPPED) - before <= {"other"}


async def test_a_filter_runs_off_the_event_loop_within_its_time_budget() -> None:
    import json

    slow = ActivityDefinition.model_validate(
        {
            "id": "slow",
            "version": 1,
            "trigger": {
                "event_types": ["com.example.greet"],
                "filter": "event.data.l.map(x, event.data.l.map(y, x + y)).size() > 0",
            },
            "tasks": [{"id": "t", "type": "echo"}],
        }
    )
    producer = Producer()
    handler = RecordHandler(
        IngressSettings(ingress=IngressSection(filter_timeout_seconds=0.05)),
        producer,
        GatedTemporal(),  # type: ignore[arg-type]
        [slow],
    )
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    running = asyncio.create_task(ticker())
    data = json.dumps({"l": list(range(60))}).encode()
    outcome = await handler.handle(_typed(1, "com.example.greet", data))
    running.cancel()
    assert outcome == "dead_lettered"
    assert dict(producer.sent[0]["headers"])["taskfactory-error-type"] == b"filter_timeout"
    assert ticks >= 3, "the event loop kept running while the filter was evaluated"


class FlakyTemporal(GatedTemporal):
    """Refuses ``failures`` starts as UNAVAILABLE, then answers at once."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.gate.set()

    async def start_workflow(self, *args: Any, id: str, **kwargs: Any) -> Any:
        from temporalio.service import RPCError, RPCStatusCode

        if self.failures:
            self.failures -= 1
            raise RPCError("frontend away", RPCStatusCode.UNAVAILABLE, b"")
        return await super().start_workflow(*args, id=id, **kwargs)


async def test_a_temporal_outage_is_reported_down_with_its_reason_then_up_when_a_start_lands() -> (
    None
):
    availability = Availability()
    heard: list[tuple[bool, str | None]] = []
    availability.subscribe(lambda up: heard.append((up, availability.reason("temporal"))))
    handler = RecordHandler(
        IngressSettings(ingress=IngressSection(retry_max_seconds=0.01)),
        None,
        FlakyTemporal(failures=2),  # type: ignore[arg-type]
        [DEFINITION],
        availability=availability,
    )
    assert await handler.handle(_record(0)) == "started"
    assert heard == [(False, "temporal unavailable: UNAVAILABLE: frontend away"), (True, None)]
    assert availability.all_up
