"""The dead-letter path: a record that cannot be started goes to the dead-letter topic, whole
or, when even that topic refuses it, as a stub that names it.

It cannot wedge: a retriable Kafka error is a *dead-letter outage* (reported as such, with
capped backoff); a non-retriable one is final for that copy of the record, which is then sent
as a stub (its headers, size and the SHA-256 of its value). Only when the stub is refused too
does the caller get :class:`DeadLetterFailedError`; the record stays unacknowledged and the
partition reports itself stuck.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from taskfactory_contracts import TaskFactoryError, names
from taskfactory_ingress import metrics
from taskfactory_ingress.errors import DeadLetterFailedError
from taskfactory_ingress.settings import IngressSettings
from taskfactory_runtime import __version__
from taskfactory_runtime.logging import get_logger
from taskfactory_runtime.producer import FATAL_PRODUCER_STATE, RenewingProducer

__all__ = [
    "HEADER_ERROR_CLASS",
    "HEADER_NULL_VALUE",
    "HEADER_STUB",
    "DeadLetterSender",
    "error_type",
    "producer_request_bytes",
]

log = get_logger(__name__)

HEADER_ERROR_CLASS = "taskfactory-error-class"
#: Set on a stub: the original value was too large for the dead-letter topic.
HEADER_STUB = "taskfactory-stub"
HEADER_ORIGINAL_SIZE = "taskfactory-original-size"
HEADER_ORIGINAL_SHA256 = "taskfactory-original-sha256"
#: Set when the original record had neither key nor value (Kafka needs one of them).
HEADER_NULL_VALUE = "taskfactory-null-value"
#: Our own headers, generously: error message (≤ 1000 characters, ≤ 4 bytes each) and ids.
_OWN_HEADERS_BYTES = 8192
#: A record batch's framing around one record.
_BATCH_OVERHEAD = 1024
_MESSAGE_CHARS = 1000
_STUB_KEEPS_KEY_BYTES = 1024
_STUB_KEEPS_HEADERS_BYTES = 16_384

Headers = list[tuple[str, bytes | None]]


def producer_request_bytes(settings: IngressSettings) -> int:
    """The dead-letter producer's ``max_request_size``: any accepted record plus our headers."""
    section = settings.ingress
    return (
        section.max_record_bytes
        + section.max_key_and_headers_bytes
        + _OWN_HEADERS_BYTES
        + _BATCH_OVERHEAD
    )


def error_type(exc: BaseException) -> str:
    """The ``taskfactory-error-type`` header: our stable reason, else the exception's class."""
    if isinstance(exc, TaskFactoryError):
        return exc.reason
    return type(exc).__name__


def _message(exc: BaseException) -> bytes:
    try:
        text = str(exc)
    except Exception:  # a hostile __str__ must not stop the dead letter
        text = f"<{type(exc).__name__}: message unavailable>"
    return text[:_MESSAGE_CHARS].encode("utf-8", "backslashreplace")


def _retriable(err: KafkaError) -> bool:
    # KafkaTimeoutError (no metadata, broker away) has no retriable flag but is an outage;
    # a lost producer id is renewed by RenewingProducer and the send repeated.
    return bool(err.retriable) or isinstance(
        err, (KafkaTimeoutError, KafkaConnectionError, *FATAL_PRODUCER_STATE)
    )


def _size(headers: Sequence[tuple[str, bytes | None]]) -> int:
    return sum(len(k.encode("utf-8", "backslashreplace")) + len(v or b"") for k, v in headers)


@dataclass
class DeadLetterSender:
    """Sends records to the dead-letter topic; ``unavailable`` while that topic cannot be
    reached."""

    settings: IngressSettings
    producer: AIOKafkaProducer | RenewingProducer
    unavailable: bool = False

    async def send(self, record: ConsumerRecord[bytes, bytes], exc: BaseException) -> None:
        """Dead-letter ``record`` because of ``exc``; returns once the broker acknowledged it."""
        kind = error_type(exc)
        message = _message(exc)
        ours: Headers = [
            (names.HEADER_ERROR_TYPE, kind.encode("utf-8", "backslashreplace")),
            (names.HEADER_ERROR_MESSAGE, message),
            (HEADER_ERROR_CLASS, f"{type(exc).__module__}.{type(exc).__qualname__}".encode()),
            (names.HEADER_SOURCE_TOPIC, record.topic.encode()),
            (names.HEADER_SOURCE_PARTITION, str(record.partition).encode()),
            (names.HEADER_SOURCE_OFFSET, str(record.offset).encode()),
            (names.HEADER_SOURCE_TIMESTAMP, str(record.timestamp).encode()),
            ("taskfactory-ingress-version", __version__.encode()),
            ("taskfactory-dead-lettered-at", datetime.now(UTC).isoformat().encode()),
        ]
        # Header names as sendable text (a name Python holds with a lone surrogate would make
        # the producer raise before anything is sent); values are bytes as they came.
        original: Headers = [
            (k.encode("utf-8", "backslashreplace").decode("utf-8"), v)
            for k, v in record.headers or ()
        ]
        value = record.value
        if value is None and record.key is None:
            value = b""
            ours.append((HEADER_NULL_VALUE, b"1"))
        stub = False
        try:
            await self._send(record.key, value, [*original, *ours])
        except KafkaError as err:  # final for the whole record: send what names it instead
            log.warning(
                "dead-letter topic refused the record; sending a stub",
                error=f"{type(err).__name__}: {err}",
                partition=f"{record.topic}/{record.partition}",
                offset=record.offset,
            )
            stub = True
            await self._send_stub(record, original, ours)
        metrics.DEAD_LETTERED.labels(
            exc.reason if isinstance(exc, TaskFactoryError) else "unexpected"
        ).inc()
        if stub:
            metrics.DEAD_LETTER_STUBS.inc()
        fields = {
            "error_type": kind,
            "error": message.decode("utf-8", "replace"),
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "stub": stub,
        }
        if isinstance(exc, TaskFactoryError):
            log.warning("dead-lettered", **fields)
        else:  # not an error we raise on purpose: a bug, or an input no check foresaw
            log.error("dead-lettered after an unexpected error", exc_info=exc, **fields)

    async def _send_stub(
        self, record: ConsumerRecord[bytes, bytes], original: Headers, ours: Headers
    ) -> None:
        value = record.value or b""
        key = record.key
        described: Headers = [
            (HEADER_STUB, b"value too large for the dead-letter topic"),
            (HEADER_ORIGINAL_SIZE, str(len(value)).encode()),
            (HEADER_ORIGINAL_SHA256, hashlib.sha256(value).hexdigest().encode()),
        ]
        if key is not None and len(key) > _STUB_KEEPS_KEY_BYTES:
            described.append(
                ("taskfactory-original-key-sha256", hashlib.sha256(key).hexdigest().encode())
            )
            key = None
        if _size(original) > _STUB_KEEPS_HEADERS_BYTES:
            described.append(("taskfactory-original-headers", str(len(original)).encode()))
            original = []
        try:
            await self._send(key, b"", [*original, *ours, *described])
        except KafkaError as err:
            raise DeadLetterFailedError(
                f"the dead-letter topic refused the record and its stub: "
                f"{type(err).__name__}: {err}"
            ) from err

    async def _send(self, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        """One send, retried while the error is retriable (an outage); raises a final one."""
        attempt = 0
        while True:
            try:
                await self.producer.send_and_wait(
                    self.settings.topics.dead_letter,
                    value=value,
                    key=key,
                    headers=headers,  # type: ignore[arg-type]
                )
                break
            except KafkaError as err:
                if not _retriable(err):
                    raise
                attempt += 1
                await self._backoff(attempt, f"{type(err).__name__}: {err}")
        if self.unavailable:
            log.info("dead-letter topic reachable again")
            self._set_unavailable(False)

    def _set_unavailable(self, value: bool) -> None:
        self.unavailable = value
        metrics.DEAD_LETTER_UNAVAILABLE.set(1 if value else 0)

    async def _backoff(self, attempt: int, reason: str) -> None:
        if not self.unavailable:
            log.warning("dead-letter topic unavailable, retrying", reason=reason)
            self._set_unavailable(True)
        metrics.DEAD_LETTER_RETRIES.inc()
        await asyncio.sleep(self.settings.ingress.backoff_seconds(attempt))
