"""An idempotent producer that survives the broker forgetting its producer id."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    OutOfOrderSequenceNumber,
    UnknownProducerId,
)

from taskfactory_runtime.kafka import make_producer
from taskfactory_runtime.logging import get_logger
from taskfactory_runtime.settings import KafkaSettings

__all__ = ["RenewingProducer", "renewing_producer"]

log = get_logger(__name__)

Headers = list[tuple[str, bytes]]

#: Errors after which aiokafka's idempotent producer never sends again (aio-libs/aiokafka#1017):
#: the broker lost or no longer accepts its producer state, e.g. after a broker restart.
FATAL_PRODUCER_STATE = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch)


class RenewingProducer:
    """Sends through an idempotent producer and replaces it when its producer state is lost.

    The send that hit the error still fails (its caller retries, as with any failed send);
    sends after it go through a new producer, which the broker gives a new producer id. Sends
    already under way on the old producer finish or fail on it before it is closed.
    """

    def __init__(self, factory: Callable[[], AIOKafkaProducer], *, name: str) -> None:
        self._factory = factory
        self._name = name
        self._producer = factory()
        self._lock = asyncio.Lock()
        self.renewals = 0
        self._closing: set[asyncio.Future[None]] = set()

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def __aenter__(self) -> RenewingProducer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def partitions_for(self, topic: str) -> set[int]:
        """The partition ids of ``topic`` (from the current producer's metadata)."""
        partitions: set[int] = await self._producer.partitions_for(topic)
        return partitions

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> Any:
        """Send one record and wait for its acknowledgement; returns its metadata."""
        producer = self._producer
        try:
            return await producer.send_and_wait(
                topic, value=value, key=key, headers=headers, partition=partition
            )
        except FATAL_PRODUCER_STATE as exc:
            await self._renew(producer, exc)
            raise

    async def _renew(self, failed: AIOKafkaProducer, exc: Exception) -> None:
        async with self._lock:
            if self._producer is not failed:  # another send renewed it already
                return
            fresh = self._factory()
            await fresh.start()
            self._producer = fresh
            self.renewals += 1
        log.warning(
            "kafka producer renewed",
            producer=self._name,
            reason=type(exc).__name__,
            renewals=self.renewals,
        )
        # Closed in the background: its own pending sends finish or fail on it meanwhile.
        closing = asyncio.ensure_future(_close(failed))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)


async def _close(producer: AIOKafkaProducer) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(producer.stop(), 30)


def renewing_producer(settings: KafkaSettings, *, name: str, **overrides: Any) -> RenewingProducer:
    """A :class:`RenewingProducer` over :func:`make_producer` (idempotent, acks=all)."""
    return RenewingProducer(lambda: make_producer(settings, name=name, **overrides), name=name)
