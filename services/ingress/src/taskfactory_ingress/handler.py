"""One record → its workflow starts (or signals), or the dead-letter topic."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from taskfactory_contracts import (
    ActivityDefinition,
    AvroCodec,
    ContractError,
    Envelope,
    RecordTooLargeError,
    RunActivityInput,
    TaskFactoryError,
    TransientError,
    TriggerEvent,
    names,
)
from taskfactory_ingress import metrics
from taskfactory_ingress.routing import route, workflow_id_for
from taskfactory_ingress.settings import IngressSettings
from taskfactory_runtime import __version__
from taskfactory_runtime.logging import get_logger
from taskfactory_runtime.producer import RenewingProducer

__all__ = ["RecordHandler", "RejectedByTemporal"]

log = get_logger(__name__)
tracer = trace.get_tracer("taskfactory.ingress")

# Temporal refuses these requests for what they are, not for the server's state: retrying
# cannot help, so the record is dead-lettered.
_PERMANENT = frozenset(
    {RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.OUT_OF_RANGE}
)


class RejectedByTemporal(TaskFactoryError):
    """Temporal refused the start as invalid; the record goes to the dead-letter topic."""

    reason = "rejected"


class _HeaderGetter(Getter[Sequence[tuple[str, bytes]]]):
    def get(self, carrier: Sequence[tuple[str, bytes]], key: str) -> list[str] | None:
        values = [v.decode("latin-1") for k, v in carrier if k.lower() == key]
        return values or None

    def keys(self, carrier: Sequence[tuple[str, bytes]]) -> list[str]:
        return [k for k, _ in carrier]


_GETTER = _HeaderGetter()


@dataclass
class RecordHandler:
    """Handles one record: decode, route, start (or signal) its runs, or dead-letter it.

    Returns only when the record is done: every run acknowledged by Temporal (started or a
    duplicate), skipped, or on the dead-letter topic. Transient failures are retried here with
    capped exponential backoff and jitter while ``outage`` is set.
    """

    settings: IngressSettings
    producer: AIOKafkaProducer | RenewingProducer
    client: Client
    definitions: list[ActivityDefinition]
    codec: AvroCodec = field(init=False)
    outage: bool = False
    _outage_changed: list[Callable[[bool], None]] = field(default_factory=list)

    _slots: asyncio.Semaphore = field(init=False)
    _calls: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.codec = AvroCodec(max_bytes=self.settings.ingress.max_record_bytes)
        self._slots = asyncio.Semaphore(self.settings.ingress.max_in_flight)
        # Bounded separately: thousands of records may wait in flight, but thousands of
        # concurrent calls on one connection overload the frontend (HTTP/2 stream errors).
        self._calls = asyncio.Semaphore(self.settings.ingress.max_concurrent_starts)

    def on_outage(self, callback: Callable[[bool], None]) -> None:
        """Call ``callback(True)`` when Temporal becomes unavailable, ``(False)`` when back."""
        self._outage_changed.append(callback)

    def _set_outage(self, value: bool) -> None:
        if self.outage == value:
            return
        self.outage = value
        metrics.PAUSED.set(1 if value else 0)
        for callback in self._outage_changed:
            callback(value)

    async def handle(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """Handle ``record`` until it is done (see the class docstring)."""
        async with self._slots:
            metrics.IN_FLIGHT.inc()
            try:
                await self._handle(record)
            finally:
                metrics.IN_FLIGHT.dec()

    async def _handle(self, record: ConsumerRecord[bytes, bytes]) -> None:
        metrics.CONSUMED.labels(record.topic).inc()
        received = time.monotonic()
        headers = list(record.headers or ())
        parent = propagate.extract(headers, getter=_GETTER)
        with tracer.start_as_current_span(
            f"{record.topic} process",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": record.topic,
                "messaging.destination.partition.id": str(record.partition),
                "messaging.kafka.offset": record.offset,
                "messaging.consumer.group.name": self.settings.ingress.group_id,
            },
        ) as span:
            value = record.value or b""
            try:
                if len(value) > self.settings.ingress.max_record_bytes:
                    raise RecordTooLargeError(
                        f"record is {len(value)} bytes, the limit is "
                        f"{self.settings.ingress.max_record_bytes}",
                        where="value",
                    )
                envelope = await self._decode(value, headers)
            except ContractError as exc:
                await self._dead_letter(record, exc)
                return
            span.set_attribute("taskfactory.event.id", envelope.id)
            wanted = route(envelope, self.definitions)
            if not wanted:
                metrics.SKIPPED.labels(envelope.type).inc()
                log.debug("skipped: no definition wants this type", event_id=envelope.id)
                return
            traceparent = _traceparent()
            trigger = TriggerEvent(
                envelope=envelope,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                traceparent=traceparent,
            )
            for definition in wanted:
                try:
                    await self._start(definition, trigger)
                except RejectedByTemporal as exc:
                    await self._dead_letter(record, exc)
                    return
            metrics.START_LATENCY.observe(time.monotonic() - received)

    async def _decode(self, value: bytes, headers: list[tuple[str, bytes]]) -> Envelope:
        # A schema registry that does not answer is transient (back off and retry); every
        # other contract error is final and goes to the dead-letter topic.
        attempt = 0
        while True:
            try:
                return self.codec.decode_envelope(value, headers=headers)
            except TransientError as exc:
                attempt += 1
                await self._backoff(attempt, f"schema registry: {exc}")

    async def _start(self, definition: ActivityDefinition, trigger: TriggerEvent) -> None:
        envelope = trigger.envelope
        workflow_id = workflow_id_for(definition, envelope)
        arg = RunActivityInput(
            definition=definition,
            trigger=trigger,
            results_topic=definition.results.topic or self.settings.topics.results,
            executor_task_queue=self.settings.temporal.executor_task_queue,
            runs_topic=self.settings.topics.runs,
        )
        correlation = definition.correlation
        signal = correlation.mode == "signal"
        # Correlation mode: signal-with-start delivers later events to the running workflow,
        # in offset order (records of one key are handled one after the other).
        options: dict[str, Any] = (
            {
                "start_signal": names.SIGNAL_EVENT,
                "start_signal_args": [trigger],
                "id_reuse_policy": WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            }
            if signal
            else {
                "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE
                if correlation.on_duplicate == "ignore"
                else WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                "id_conflict_policy": WorkflowIDConflictPolicy.FAIL,
            }
        )
        attempt = 0
        while True:
            try:
                async with self._calls:
                    handle: WorkflowHandle[Any, Any] = await self.client.start_workflow(
                        names.WORKFLOW_RUN_ACTIVITY,
                        arg,
                        id=workflow_id,
                        task_queue=self.settings.temporal.orchestrator_task_queue,
                        search_attributes=self._search_attributes(definition, envelope),
                        static_summary=f"{definition.id} v{definition.version} · {envelope.type} · {envelope.subject}",  # noqa: E501
                        **options,
                    )
                (metrics.SIGNALLED if signal else metrics.STARTED).labels(definition.id).inc()
                log.debug("started", workflow_id=handle.id, event_id=envelope.id, signal=signal)
                break
            except WorkflowAlreadyStartedError:
                metrics.DUPLICATES.labels(definition.id).inc()
                log.debug("duplicate", workflow_id=workflow_id, event_id=envelope.id)
                break
            except RPCError as exc:
                if exc.status in _PERMANENT:
                    raise RejectedByTemporal(f"{exc.status.name}: {exc.message}") from exc
                attempt += 1
                await self._backoff(attempt, f"{exc.status.name}: {exc.message}")
        if self.outage:
            log.info("temporal reachable again, resuming")
            self._set_outage(False)

    async def _backoff(self, attempt: int, reason: str) -> None:
        section = self.settings.ingress
        if not self.outage:
            log.warning("temporal unavailable, pausing", reason=reason)
            self._set_outage(True)
        metrics.START_RETRIES.inc()
        ceiling = min(section.retry_max_seconds, section.retry_initial_seconds * 2 ** (attempt - 1))
        await asyncio.sleep(random.uniform(ceiling / 2, ceiling))  # full jitter, halved floor

    def _search_attributes(
        self, definition: ActivityDefinition, envelope: Envelope
    ) -> TypedSearchAttributes:
        if not self.settings.ingress.search_attributes:
            return TypedSearchAttributes.empty
        pairs = [
            SearchAttributePair(SearchAttributeKey.for_keyword(names.SA_DEFINITION), definition.id),
            SearchAttributePair(SearchAttributeKey.for_keyword(names.SA_EVENT_TYPE), envelope.type),
            SearchAttributePair(SearchAttributeKey.for_keyword(names.SA_SUBJECT), envelope.subject),
        ]
        if envelope.tenant:
            pairs.append(
                SearchAttributePair(
                    SearchAttributeKey.for_keyword(names.SA_TENANT), envelope.tenant
                )
            )
        return TypedSearchAttributes(pairs)

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], exc: TaskFactoryError
    ) -> None:
        reason = exc.reason
        headers = [
            *list(record.headers or ()),
            (names.HEADER_ERROR_TYPE, reason.encode()),
            (names.HEADER_ERROR_MESSAGE, str(exc)[:1000].encode()),
            (names.HEADER_SOURCE_TOPIC, record.topic.encode()),
            (names.HEADER_SOURCE_PARTITION, str(record.partition).encode()),
            (names.HEADER_SOURCE_OFFSET, str(record.offset).encode()),
            (names.HEADER_SOURCE_TIMESTAMP, str(record.timestamp).encode()),
            ("taskfactory-ingress-version", __version__.encode()),
            ("taskfactory-dead-lettered-at", datetime.now(UTC).isoformat().encode()),
        ]
        attempt = 0
        while True:
            try:
                await self.producer.send_and_wait(
                    self.settings.topics.dead_letter,
                    value=record.value,
                    key=record.key,
                    headers=headers,
                )
                break
            except KafkaError as err:
                attempt += 1
                await self._backoff(attempt, f"dead-letter topic: {err}")
        metrics.DEAD_LETTERED.labels(reason).inc()
        log.warning(
            "dead-lettered",
            reason=reason,
            error=str(exc),
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )


def _traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get(names.HEADER_TRACEPARENT)
