"""Kafka sends that a retried activity never duplicates.

``SendOnce`` (the ``kafka_publish`` task type): one pending send per dedupe key in a process.
``result_publisher`` (results and run events): :class:`~taskfactory_runtime.once.PublishOnce`,
which also looks for the record before a retried attempt sends it again.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from temporalio.exceptions import ApplicationError

from taskfactory_runtime.kafka import make_consumer
from taskfactory_runtime.once import PartitionReader, PublishOnce, RecordSender
from taskfactory_runtime.producer import RenewingProducer
from taskfactory_runtime.settings import KafkaSettings

__all__ = ["SendOnce", "result_publisher"]

Headers = list[tuple[str, bytes]]


@dataclass
class SendOnce:
    """Sends through one idempotent producer, at most one pending send per dedupe key.

    A send that is not acknowledged within ``timeout`` fails the activity (so Temporal retries
    it) but is not abandoned: the producer keeps trying, and the retry waits for that same send
    instead of producing a second record. Acknowledged sends are remembered (the last
    ``remember`` of them), so a retry after a late acknowledgement does not send again.
    """

    producer: AIOKafkaProducer | RenewingProducer
    timeout: float
    remember: int = 10_000
    _pending: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    _done: OrderedDict[str, Any] = field(default_factory=OrderedDict)

    async def send(
        self, dedupe_key: str, topic: str, *, key: bytes | None, value: bytes, headers: Headers
    ) -> Any:
        """Send (or join the pending send of ``dedupe_key``); returns the record metadata."""
        if dedupe_key in self._done:
            return self._done[dedupe_key]
        future = self._pending.get(dedupe_key)
        if future is None:
            future = asyncio.ensure_future(
                self.producer.send_and_wait(topic, value=value, key=key, headers=headers)
            )
            self._pending[dedupe_key] = future
            future.add_done_callback(lambda f: self._forget(dedupe_key, f))
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError:
            raise ApplicationError(
                f"sending to {topic} not acknowledged within {self.timeout:.0f}s; "
                "the send stays pending and the retry waits for it",
                type="KafkaSendTimeout",
            ) from None
        except KafkaError as exc:
            raise ApplicationError(
                f"sending to {topic} failed: {exc!r}",
                type="KafkaError",
                non_retryable=not getattr(exc, "retriable", True)
                and "Authorization" in type(exc).__name__,
            ) from exc

    def _forget(self, dedupe_key: str, future: asyncio.Future[Any]) -> None:
        if self._pending.get(dedupe_key) is future:
            del self._pending[dedupe_key]
        if future.cancelled():
            return
        if future.exception() is None:  # retrieved, so a failure is not logged as lost
            self._done[dedupe_key] = future.result()
            while len(self._done) > self.remember:
                self._done.popitem(last=False)

    @property
    def pending(self) -> int:
        """Sends not acknowledged yet."""
        return len(self._pending)


def result_publisher(
    producer: RecordSender, kafka: KafkaSettings, *, lease_seconds: float, clock_skew_seconds: float
) -> PublishOnce:
    """The publisher of results and run events; its partition check reads with its own client."""
    reader = PartitionReader(
        lambda: make_consumer(
            kafka, group_id=None, name="executor-check", isolation_level="read_uncommitted"
        )
    )
    return PublishOnce(
        producer,
        reader,
        lease=timedelta(seconds=lease_seconds),
        clock_skew=timedelta(seconds=clock_skew_seconds),
    )
