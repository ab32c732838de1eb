"""One record → its workflow starts (or signals), or the dead-letter topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiokafka import AIOKafkaProducer, ConsumerRecord
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from taskfactory_contracts import (
    ActivityDefinition,
    AvroCodec,
    Envelope,
    RecordTooLargeError,
    RunActivityInput,
    TransientError,
    TriggerEvent,
    UnknownSchemaIdError,
    names,
)
from taskfactory_contracts.event_data import check_event_data
from taskfactory_ingress import metrics
from taskfactory_ingress.availability import SCHEMA_REGISTRY, TEMPORAL, Availability
from taskfactory_ingress.dead_letter import DeadLetterSender
from taskfactory_ingress.errors import FilterTimeoutError, RejectedByTemporal
from taskfactory_ingress.routing import route, workflow_id_for
from taskfactory_ingress.settings import IngressSettings
from taskfactory_runtime.errors import RegistryMiss
from taskfactory_runtime.logging import get_logger
from taskfactory_runtime.producer import RenewingProducer
from taskfactory_runtime.schema_registry import RegistryLookup
from taskfactory_runtime.search_attributes import envelope_search_attributes

__all__ = ["Outcome", "RecordHandler", "RejectedByTemporal"]

log = get_logger(__name__)

#: How a record ended; exactly one per record.
Outcome = Literal["started", "duplicate", "skipped", "dead_lettered"]
tracer = trace.get_tracer("taskfactory.ingress")

# Temporal refuses these requests for what they are, not for the server's state: retrying
# cannot help, so the record is dead-lettered.
_PERMANENT = frozenset(
    {RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.OUT_OF_RANGE}
)


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
    duplicate), skipped, or on the dead-letter topic. Transient failures of Temporal or the
    schema registry are retried here with capped exponential backoff and jitter, and reported
    to ``availability`` (down, then up again) for the consumer and readiness to follow.
    """

    settings: IngressSettings
    producer: AIOKafkaProducer | RenewingProducer
    client: Client
    definitions: list[ActivityDefinition]
    #: The schema registry, when one is configured (Confluent-framed events need it).
    registry: RegistryLookup | None = None
    #: Where Temporal's and the registry's outages are reported (shared with the consumer).
    availability: Availability = field(default_factory=Availability)
    codec: AvroCodec = field(init=False)
    dead_letters: DeadLetterSender = field(init=False)

    _slots: asyncio.Semaphore = field(init=False)
    _calls: asyncio.Semaphore = field(init=False)
    _named_types: tuple[object, frozenset[str]] = (None, frozenset())

    def __post_init__(self) -> None:
        self.codec = AvroCodec(
            max_bytes=self.settings.ingress.max_record_bytes,
            registry=self.registry.cache if self.registry else None,
        )
        self.dead_letters = DeadLetterSender(self.settings, self.producer)
        self._slots = asyncio.Semaphore(self.settings.ingress.max_in_flight)
        # Bounded separately: thousands of records may wait in flight, but thousands of
        # concurrent calls on one connection overload the frontend (HTTP/2 stream errors).
        self._calls = asyncio.Semaphore(self.settings.ingress.max_concurrent_starts)

    def use_definitions(self, definitions: list[ActivityDefinition]) -> None:
        """Route the next records by ``definitions`` (runs already started keep theirs)."""
        # Routing reads ``self.definitions`` per record: the next record sees the new set.
        self.definitions = definitions
        metrics.DEFINITIONS.set(len(definitions))

    async def handle(self, record: ConsumerRecord[bytes, bytes]) -> Outcome:
        """Handle ``record`` until it is done (see the class docstring); its outcome."""
        async with self._slots:
            metrics.IN_FLIGHT.inc()
            try:
                return await self._handle(record)
            finally:
                metrics.IN_FLIGHT.dec()

    async def _handle(self, record: ConsumerRecord[bytes, bytes]) -> Outcome:
        metrics.CONSUMED.labels(record.topic).inc()
        received = time.monotonic()
        headers = list(record.headers or ())
        try:
            parent = propagate.extract(headers, getter=_GETTER)
        except Exception:  # a hostile traceparent must not stop the record
            parent = None
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
            # Total handling: whatever any step raises, the record ends on the dead-letter
            # topic (error type: our reason, or the exception's class) and its key moves on.
            try:
                outcome = await self._process(record, headers, span)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure is dead-lettered
                await self.dead_letters.send(record, exc)
                outcome = "dead_lettered"
            if outcome == "started":
                metrics.START_LATENCY.observe(time.monotonic() - received)
            span.set_attribute("taskfactory.outcome", outcome)
            return outcome

    def _check_size(self, record: ConsumerRecord[bytes, bytes]) -> None:
        section = self.settings.ingress
        value = record.value or b""
        if len(value) > section.max_record_bytes:
            raise RecordTooLargeError(
                f"record is {len(value)} bytes, the limit is {section.max_record_bytes}",
                where="value",
            )
        overhead = len(record.key or b"") + sum(
            len(k) + len(v or b"") for k, v in record.headers or ()
        )
        if overhead > section.max_key_and_headers_bytes:
            raise RecordTooLargeError(
                f"key and headers are {overhead} bytes, the limit is "
                f"{section.max_key_and_headers_bytes}",
                where="headers",
            )

    async def _process(
        self,
        record: ConsumerRecord[bytes, bytes],
        headers: list[tuple[str, bytes]],
        span: trace.Span,
    ) -> Outcome:
        """Start (or signal) the runs ``record`` triggers; its outcome, or raise to dead-letter."""
        self._check_size(record)
        envelope = await self._decode(record.value or b"", headers)
        span.set_attribute("taskfactory.event.id", envelope.id)
        # Bounded before any expression sees it: strict JSON, depth, int64, valid Unicode.
        check_event_data(envelope.data, max_depth=self.settings.ingress.max_data_depth)
        wanted = await self._route(envelope)
        if not wanted:
            metrics.SKIPPED.labels(self._type_label(envelope.type)).inc()
            log.debug("skipped: no definition wants this type", event_id=envelope.id)
            return "skipped"
        trigger = TriggerEvent(
            envelope=envelope,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            traceparent=_traceparent(),
        )
        # Every id first: an event one definition cannot take is dead-lettered before any
        # run starts, rather than after some did.
        planned = [(d, workflow_id_for(d, envelope)) for d in wanted]
        outcomes = [await self._start(d, wid, trigger) for d, wid in planned]
        return "started" if "started" in outcomes else "duplicate"

    async def _route(self, envelope: Envelope) -> list[ActivityDefinition]:
        definitions = self.definitions
        if not any(
            d.trigger.filter is not None and envelope.type in d.trigger.event_types
            for d in definitions
        ):
            return route(envelope, definitions)  # no expression runs: cheap, stay on the loop
        # A filter converts the event to CEL and evaluates it: off the event loop, with a
        # time budget (the thread finishes on its own; its input is bounded in size and depth).
        timeout = self.settings.ingress.filter_timeout_seconds
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(route, envelope, definitions), timeout=timeout
            )
        except TimeoutError:
            raise FilterTimeoutError(
                f"the trigger filters took longer than {timeout}s for this event"
            ) from None

    def _type_label(self, event_type: str) -> str:
        definitions = self.definitions
        if self._named_types[0] is not definitions:
            names_ = frozenset(t for d in definitions for t in d.trigger.event_types)
            self._named_types = (definitions, names_)
        return event_type if event_type in self._named_types[1] else "other"

    async def _decode(self, value: bytes, headers: list[tuple[str, bytes]]) -> Envelope:
        # A schema registry that does not answer is transient (pause, back off and retry, as
        # for Temporal); an id it does not know, and every other contract error, is final and
        # goes to the dead-letter topic. New ids are looked up on the loop, never blocking it;
        # every other record decodes without leaving this call.
        attempt = 0
        while True:
            try:
                envelope = self.codec.decode_envelope(value, headers=headers)
            except RegistryMiss as miss:
                assert self.registry is not None  # only a registry-backed codec misses
                try:
                    await self.registry.load(miss)
                except UnknownSchemaIdError:
                    # The registry answered; the id is the record's fault (dead-lettered).
                    self.availability.up(SCHEMA_REGISTRY)
                    raise
                except TransientError as exc:
                    attempt += 1
                    await self._backoff(attempt, SCHEMA_REGISTRY, str(exc))
                continue
            if attempt:
                self.availability.up(SCHEMA_REGISTRY)
            return envelope

    async def _start(
        self, definition: ActivityDefinition, workflow_id: str, trigger: TriggerEvent
    ) -> Outcome:
        envelope = trigger.envelope
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
        outcome: Outcome
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
                outcome = "started"
                break
            except WorkflowAlreadyStartedError:
                metrics.DUPLICATES.labels(definition.id).inc()
                log.debug("duplicate", workflow_id=workflow_id, event_id=envelope.id)
                outcome = "duplicate"
                break
            except RPCError as exc:
                if exc.status in _PERMANENT:
                    self.availability.up(TEMPORAL)  # it answered: the request is at fault
                    raise RejectedByTemporal(f"{exc.status.name}: {exc.message}") from exc
                attempt += 1
                await self._backoff(attempt, TEMPORAL, f"{exc.status.name}: {exc.message}")
        self.availability.up(TEMPORAL)
        return outcome

    async def _backoff(self, attempt: int, dependency: str, reason: str) -> None:
        self.availability.down(dependency, reason)
        metrics.START_RETRIES.inc()
        await asyncio.sleep(self.settings.ingress.backoff_seconds(attempt))

    def _search_attributes(
        self, definition: ActivityDefinition, envelope: Envelope
    ) -> TypedSearchAttributes:
        if not self.settings.ingress.search_attributes:
            return TypedSearchAttributes.empty
        return envelope_search_attributes(definition.id, envelope)


def _traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get(names.HEADER_TRACEPARENT)
