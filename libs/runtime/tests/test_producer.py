"""RenewingProducer: a producer whose state the broker lost is replaced, once, by a new one."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError, OutOfOrderSequenceNumber, UnknownProducerId

from taskfactory_runtime.producer import RenewingProducer


class StandIn:
    """Stands in for one aiokafka producer: fails its sends with ``error`` while it is set."""

    def __init__(self, number: int, error: type[Exception] | None) -> None:
        self.number = number
        self.error = error
        self.started = self.stopped = False
        self.sent: list[bytes | None] = []

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def send_and_wait(self, topic: str, value: bytes | None = None, **_: Any) -> int:
        await asyncio.sleep(0)
        if self.error is not None:
            raise self.error()
        self.sent.append(value)
        return self.number


class Factory:
    def __init__(self, errors: list[type[Exception] | None]) -> None:
        self.errors = errors
        self.made: list[StandIn] = []

    def __call__(self) -> AIOKafkaProducer:
        made = StandIn(len(self.made), self.errors[len(self.made)])
        self.made.append(made)
        return cast(AIOKafkaProducer, made)


@pytest.mark.parametrize("error", [OutOfOrderSequenceNumber, UnknownProducerId])
async def test_lost_producer_state_fails_that_send_and_the_next_goes_through_a_new_producer(
    error: type[Exception],
) -> None:
    factory = Factory([error, None])
    producer = RenewingProducer(factory, name="test")
    await producer.start()

    with pytest.raises(error):
        await producer.send_and_wait("t", b"first")
    assert await producer.send_and_wait("t", b"again") == 1  # the second producer's answer
    await producer.stop()

    old, new = factory.made
    assert (old.stopped, new.started, new.stopped) == (True, True, True)
    assert new.sent == [b"again"]
    assert producer.renewals == 1


async def test_many_sends_failing_at_once_renew_the_producer_once() -> None:
    factory = Factory([OutOfOrderSequenceNumber, None])
    producer = RenewingProducer(factory, name="test")
    await producer.start()

    outcomes = await asyncio.gather(
        *(producer.send_and_wait("t", b"%d" % i) for i in range(20)), return_exceptions=True
    )

    assert all(isinstance(o, OutOfOrderSequenceNumber) for o in outcomes)
    assert len(factory.made) == 2
    assert producer.renewals == 1


async def test_other_errors_keep_the_producer() -> None:
    factory = Factory([KafkaTimeoutError, None])
    producer = RenewingProducer(factory, name="test")
    await producer.start()

    with pytest.raises(KafkaTimeoutError):
        await producer.send_and_wait("t", b"x")

    assert len(factory.made) == 1
    assert producer.renewals == 0
