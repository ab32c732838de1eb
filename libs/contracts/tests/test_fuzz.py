"""Decoding hostile bytes raises only ContractError subclasses, and quickly."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskfactory_contracts import (
    AvroCodec,
    ContractError,
    Envelope,
    MalformedRecordError,
    RecordTooLargeError,
    SchemaValidationError,
    TaskResult,
    UnknownSchemaError,
)
from taskfactory_contracts.cloudevents_kafka import to_binary, to_structured
from taskfactory_contracts.confluent import InMemorySchemaRegistry

CODEC = AvroCodec(max_bytes=64 * 1024)
BUDGET_SECONDS = 2.0  # wall clock, generous for a loaded CI machine; a decode takes ~20 µs
WHEN = datetime(2026, 3, 1, tzinfo=UTC)


def _decode_only_contract_errors(decode: Callable[[], object]) -> None:
    started = time.monotonic()
    with contextlib.suppress(ContractError):
        decode()
    assert time.monotonic() - started < BUDGET_SECONDS, "decoding must not hang"


def _registry() -> InMemorySchemaRegistry:
    """A registry that knows every shipped schema under ids 1.."""
    registry = InMemorySchemaRegistry()
    for name in CODEC.store.names():
        for schema in CODEC.store.versions(name):
            registry.register(name, schema.json)
    return registry


REGISTRY_CODEC = AvroCodec(max_bytes=64 * 1024, registry=_registry())


def _real_records(envelope: Envelope) -> list[bytes]:
    return [
        CODEC.encode_envelope(envelope),
        CODEC.encode_single_object("taskfactory.Envelope", envelope, version=1),
        REGISTRY_CODEC.encode_envelope(envelope),
        to_structured(envelope)[1],
    ]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes(value: bytes) -> None:
    _decode_only_contract_errors(lambda: CODEC.decode_envelope(value))
    _decode_only_contract_errors(lambda: REGISTRY_CODEC.decode_task_result(value))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([b"\xc3\x01", b"\x00\x00\x00\x00\x01", b"{"]))
def test_random_bodies_behind_real_headers(body: bytes, prefix: bytes) -> None:
    fingerprint = (
        CODEC.store.get("taskfactory.Envelope").fingerprint if prefix == b"\xc3\x01" else b""
    )
    value = prefix + fingerprint + body
    _decode_only_contract_errors(lambda: REGISTRY_CODEC.decode_envelope(value))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupted_real_records(data: st.DataObject) -> None:

    envelope = Envelope(id="e", source="s", type="t", subject="k", time=WHEN, data=b"{}")
    for original in _real_records(envelope):
        raw = bytearray(original)
        for _ in range(data.draw(st.integers(1, 4))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        _decode_only_contract_errors(partial(REGISTRY_CODEC.decode_envelope, bytes(raw)))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "ce_id",
                    "ce_time",
                    "ce_specversion",
                    "ce_type",
                    "content-type",
                    "ce_source",
                    "ce_subject",
                    "ce_Bad",
                    "ce_tenant",
                ]
            ),
            st.binary(max_size=40),
        ),
        max_size=8,
    ),
    st.binary(max_size=64),
)
def test_random_cloudevents_headers(headers: list[tuple[str, bytes]], value: bytes) -> None:
    headers = [("ce_specversion", b"1.0"), *headers]
    _decode_only_contract_errors(lambda: CODEC.decode_envelope(value, headers=headers))


def test_every_truncation_of_real_records_fails_cleanly(envelope: Envelope) -> None:
    for original in _real_records(envelope):
        for cut in range(len(original)):
            with pytest.raises(ContractError):
                REGISTRY_CODEC.decode_envelope(original[:cut])


def test_truncated_single_object_is_malformed(codec: AvroCodec, envelope: Envelope) -> None:
    value = codec.encode_envelope(envelope)
    with pytest.raises(MalformedRecordError, match=r"cannot decode as taskfactory\.Envelope v2"):
        codec.decode_envelope(value[:-3])


def test_trailing_bytes_are_malformed(codec: AvroCodec, envelope: Envelope) -> None:
    with pytest.raises(MalformedRecordError, match="2 trailing bytes"):
        codec.decode_envelope(codec.encode_envelope(envelope) + b"\x00\x00")


def test_unknown_fingerprint(codec: AvroCodec) -> None:
    with pytest.raises(UnknownSchemaError, match="unknown schema fingerprint 0102030405060708"):
        codec.decode_envelope(b"\xc3\x01\x01\x02\x03\x04\x05\x06\x07\x08\x00")


def test_oversized_records_in_every_format(envelope: Envelope) -> None:
    small = AvroCodec(max_bytes=100, registry=_registry())
    big = envelope.model_copy(update={"data": b"x" * 200})
    headers, value = to_binary(big)
    for args in [
        (small.encode_envelope(big), None),
        (AvroCodec().encode_envelope(big), None),
        (to_structured(big)[1], None),
        (value, headers),
    ]:
        with pytest.raises(RecordTooLargeError, match="limit is 100"):
            small.decode_envelope(*args)


def test_huge_declared_lengths_do_not_allocate_or_hang(codec: AvroCodec) -> None:
    fingerprint = codec.store.get("taskfactory.Envelope").fingerprint
    # id: string of length 2**62 (zig-zag varint), then nothing.
    value = b"\xc3\x01" + fingerprint + b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f"
    _decode_only_contract_errors(lambda: codec.decode_envelope(value))
    with pytest.raises(MalformedRecordError):
        codec.decode_envelope(value)


def test_validation_error_names_the_field(codec: AvroCodec, envelope: Envelope) -> None:
    value = codec.encode_single_object(
        "taskfactory.Envelope", envelope.model_construct(**{**envelope.__dict__, "subject": ""})
    )
    with pytest.raises(SchemaValidationError, match=r"value\.subject"):
        codec.decode_envelope(value)


def test_structured_mode_errors(codec: AvroCodec) -> None:
    for value, error in [
        (b"{not json", "not a structured CloudEvent"),
        (b'{"id": 5}', "must be a string"),
        (b'{"id": "x", "data_base64": "!!"}', "not base64"),
        (b"[1]", "not Avro single-object"),
    ]:
        with pytest.raises(ContractError, match=error):
            codec.decode_envelope(value)


def test_wrong_record_type(codec: AvroCodec, task_result: TaskResult) -> None:
    with pytest.raises(UnknownSchemaError, match=r"expected a taskfactory\.Envelope"):
        codec.decode_envelope(codec.encode_task_result(task_result))
