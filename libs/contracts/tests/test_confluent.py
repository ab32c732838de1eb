"""Confluent wire format through confluent-kafka's registry client, with the codec's id cache."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from taskfactory_contracts import (
    ENVELOPE,
    AvroCodec,
    ConfluentSchemaRegistry,
    Envelope,
    MalformedRecordError,
    TaskResult,
    TransientError,
    UnknownSchemaError,
    UnknownSchemaIdError,
)
from taskfactory_contracts.confluent import confluent_frame, confluent_schema_id


class Counting:
    """Wraps a registry and counts the calls that reach it."""

    def __init__(self, inner: ConfluentSchemaRegistry) -> None:
        self.inner = inner
        self.lookups = 0
        self.registrations = 0

    def schema_text(self, schema_id: int) -> str:
        self.lookups += 1
        return self.inner.schema_text(schema_id)

    def register(self, subject: str, schema_text: str) -> int:
        self.registrations += 1
        return self.inner.register(subject, schema_text)


@pytest.fixture
def registry() -> Counting:
    # confluent-kafka's in-memory registry (its mock:// URL): the real client API, no server.
    return Counting(ConfluentSchemaRegistry.from_config({"url": "mock://taskfactory-tests"}))


def test_registry_configured_encodes_confluent(registry: Counting, envelope: Envelope) -> None:
    codec = AvroCodec(registry=registry)
    value = codec.encode_envelope(envelope)
    assert value[0] == 0
    schema_id = confluent_schema_id(value)
    assert registry.inner.client.get_latest_version("taskfactory.Envelope").schema_id == schema_id
    assert AvroCodec(registry=registry).decode_envelope(value) == envelope


def test_id_cache_asks_the_registry_once(registry: Counting, task_result: TaskResult) -> None:
    writer = AvroCodec(registry=registry)
    values = [writer.encode_task_result(task_result) for _ in range(5)]
    reader = AvroCodec(registry=registry)

    decoded = [reader.decode_task_result(v) for v in values]

    assert decoded == [task_result] * 5
    assert registry.registrations == 1
    assert registry.lookups == 1


def test_v1_writer_in_registry_resolves_to_v2(registry: Counting, envelope: Envelope) -> None:
    value = AvroCodec(registry=registry).encode_confluent(ENVELOPE, envelope, version=1)
    assert AvroCodec(registry=registry).decode_envelope(value).extensions == {}


def test_v2_writer_read_by_v1_only_consumer(registry: Counting, envelope: Envelope) -> None:
    value = AvroCodec(registry=registry).encode_envelope(envelope)
    v1 = AvroCodec(registry=registry, reader_versions={ENVELOPE: 1})
    assert "extensions" not in v1.decode_dict(ENVELOPE, value)


def test_single_object_still_decodes_with_a_registry(
    registry: Counting, envelope: Envelope
) -> None:
    value = AvroCodec().encode_envelope(envelope)
    assert AvroCodec(registry=registry).decode_envelope(value) == envelope
    assert registry.lookups == 0


def test_unknown_schema_id_is_a_contract_error(registry: Counting) -> None:
    with pytest.raises(UnknownSchemaError, match="schema id 4242"):
        AvroCodec(registry=registry).decode_envelope(confluent_frame(4242, b"\x02x"))


def test_schema_of_another_record_is_rejected(registry: Counting, task_result: TaskResult) -> None:
    value = AvroCodec(registry=registry).encode_task_result(task_result)
    with pytest.raises(UnknownSchemaError, match=r"expected a taskfactory\.Envelope"):
        AvroCodec(registry=registry).decode_envelope(value)


def test_confluent_without_registry_is_unknown_schema() -> None:
    with pytest.raises(UnknownSchemaError, match="no schema registry is configured"):
        AvroCodec().decode_envelope(confluent_frame(1, b"\x02x"))


def test_encode_confluent_without_registry_is_refused(envelope: Envelope) -> None:
    with pytest.raises(ValueError, match="needs a schema registry"):
        AvroCodec().encode_confluent(ENVELOPE, envelope)


@pytest.mark.parametrize("value", [b"", b"\x00", b"\x00\x00\x00\x00\x01", b"\x01abcdef"])
def test_framing_errors(value: bytes) -> None:
    with pytest.raises(MalformedRecordError):
        confluent_schema_id(value)


def test_frame_layout() -> None:
    assert confluent_frame(258, b"body") == b"\x00\x00\x00\x01\x02body"
    assert confluent_schema_id(b"\x00\x00\x00\x01\x02body") == 258


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_registry_is_transient() -> None:
    config: dict[str, Any] = {
        "url": f"http://127.0.0.1:{_closed_port()}",
        "max.retries": 0,
        "timeout": 2,
    }
    codec = AvroCodec(registry=ConfluentSchemaRegistry.from_config(config))
    with pytest.raises(TransientError, match="schema id 7"):
        codec.decode_envelope(confluent_frame(7, b"\x02x"))


class FailingClient:
    """A confluent-kafka client stand-in whose every call fails with one HTTP status."""

    def __init__(self, status: int, code: int) -> None:
        self.status = status
        self.code = code

    def get_schema(self, schema_id: int) -> Any:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        raise SchemaRegistryError(self.status, self.code, "registry said no")


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (404, 40403, UnknownSchemaIdError),
        # A 404 without "schema not found" is a wrong URL or path: every record would fail.
        (404, -1, TransientError),
        (401, 40100, TransientError),
        (403, 40300, TransientError),
        (503, 50300, TransientError),
    ],
)
def test_registry_status_maps_to_dead_letter_or_backoff(
    status: int, code: int, error: type[Exception]
) -> None:
    codec = AvroCodec(registry=ConfluentSchemaRegistry(FailingClient(status, code)))
    with pytest.raises(error, match="registry said no"):
        codec.decode_envelope(confluent_frame(3, b"\x02x"))
