"""The dead-letter path cannot wedge: size derived from the record limit, a stub when the topic
refuses the record, non-retriable errors final, an outage reported as a dead-letter outage."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from aiokafka.errors import (
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    TopicAuthorizationFailedError,
)
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from taskfactory_contracts import MalformedRecordError, names
from taskfactory_ingress import metrics
from taskfactory_ingress.dead_letter import HEADER_STUB, DeadLetterSender, producer_request_bytes
from taskfactory_ingress.errors import DeadLetterFailedError
from taskfactory_ingress.settings import IngressSection, IngressSettings

SETTINGS = IngressSettings(
    ingress=IngressSection(
        max_record_bytes=1_048_576, retry_initial_seconds=0.001, retry_max_seconds=0.002
    )
)


class Producer:
    """Raises the queued errors first, then accepts; keeps what it accepted."""

    def __init__(self, *errors: Exception, refuse_larger_than: int | None = None) -> None:
        self.errors = list(errors)
        self.refuse_larger_than = refuse_larger_than
        self.sent: list[dict[str, Any]] = []

    async def send_and_wait(self, topic: str, **kwargs: Any) -> None:
        if self.errors:
            raise self.errors.pop(0)
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(
            kwargs["key"], kwargs["value"], kwargs["headers"]
        )
        if self.refuse_larger_than is not None and size > self.refuse_larger_than:
            raise MessageSizeTooLargeError("MESSAGE_SIZE_TOO_LARGE")
        self.sent.append({"topic": topic, **kwargs})


def _record(value: bytes | None, key: bytes | None = b"k") -> ConsumerRecord[bytes, bytes]:
    headers = [("x-origin", b"upstream"), ("traceparent", b"00-" + b"a" * 50)]
    size = len(value or b"")
    return ConsumerRecord("events", 3, 17, 0, 0, key, value, None, 1, size, headers)


def test_any_accepted_record_with_headers_fits_one_dead_letter_request() -> None:
    section = SETTINGS.ingress
    value = b"x" * section.max_record_bytes
    key = b"k" * 100
    headers = [("h", b"v" * (section.max_key_and_headers_bytes - 200))]
    ours = [(n, b"y" * 1000) for n in ("a", "b", "c", "d", "e", "f", "g", "h", "i")]
    size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers + ours)
    assert size <= producer_request_bytes(SETTINGS)


async def test_a_record_the_topic_refuses_whole_is_dead_lettered_as_a_stub() -> None:
    producer = Producer(refuse_larger_than=1_048_588)  # the broker's default message limit
    sender = DeadLetterSender(SETTINGS, producer)
    value = b"x" * 1_048_576
    before = metrics.DEAD_LETTER_STUBS._value.get()
    await sender.send(_record(value), MalformedRecordError("no", where="value"))
    [stub] = producer.sent
    headers = dict(stub["headers"])
    assert stub["value"] == b""
    assert stub["key"] == b"k"
    assert headers[HEADER_STUB]
    assert headers["taskfactory-original-size"] == b"1048576"
    assert headers["taskfactory-original-sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert headers["x-origin"] == b"upstream"  # the original headers travel with the stub
    assert headers[names.HEADER_ERROR_TYPE] == b"malformed"
    assert metrics.DEAD_LETTER_STUBS._value.get() == before + 1


async def test_an_outage_is_a_dead_letter_outage_retried_until_the_topic_answers() -> None:
    producer = Producer(KafkaTimeoutError(), KafkaTimeoutError())
    sender = DeadLetterSender(SETTINGS, producer)
    seen: list[bool] = []

    async def watch() -> None:
        while not producer.sent:
            seen.append(sender.unavailable)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    await sender.send(_record(b"v"), ValueError("boom"))
    await watcher
    assert True in seen, "reported unavailable while it was"
    assert not sender.unavailable
    [letter] = producer.sent
    headers = dict(letter["headers"])
    assert headers[names.HEADER_ERROR_TYPE] == b"ValueError"  # the exception's class
    assert headers["taskfactory-error-class"] == b"builtins.ValueError"
    assert headers[names.HEADER_ERROR_MESSAGE] == b"boom"


async def test_a_non_retriable_error_is_final_the_stub_goes_and_if_refused_too_it_says_so() -> None:
    # Authorization refused for the record and its stub: no endless retry; a clear error.
    denied = TopicAuthorizationFailedError()
    sender = DeadLetterSender(SETTINGS, Producer(denied, denied))
    with pytest.raises(DeadLetterFailedError, match="refused the record and its stub"):
        await asyncio.wait_for(sender.send(_record(b"v"), ValueError("x")), 5)


async def test_a_record_with_neither_key_nor_value_is_dead_lettered() -> None:
    producer = Producer()
    sender = DeadLetterSender(SETTINGS, producer)
    await sender.send(_record(None, key=None), MalformedRecordError("empty"))
    [letter] = producer.sent
    assert (letter["key"], letter["value"]) == (None, b"")
    assert dict(letter["headers"])["taskfactory-null-value"] == b"1"


async def test_the_error_message_is_bounded_and_valid_utf8() -> None:
    producer = Producer()
    sender = DeadLetterSender(SETTINGS, producer)
    await sender.send(_record(b"v"), ValueError("\ud800" + "x" * 5000))
    message = dict(producer.sent[0]["headers"])[names.HEADER_ERROR_MESSAGE]
    assert len(message) <= 1010
    message.decode("utf-8")
