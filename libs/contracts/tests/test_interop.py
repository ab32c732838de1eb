"""Records written by other implementations decode: Apache avro, the CloudEvents SDK."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import avro.io
import avro.schema
import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v1.event import CloudEvent

from taskfactory_contracts import ENVELOPE, TASK_RESULT, AvroCodec, Envelope, default_store
from taskfactory_contracts.cloudevents_kafka import to_binary, to_structured
from taskfactory_contracts.schemas import parsing_canonical_form

WHEN = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)


def _apache_single_object(name: str, version: int, datum: dict[str, object]) -> bytes:
    """Single-object encoding done entirely by the Apache avro package."""
    schema = avro.schema.parse(default_store().get(name, version).path.read_text())
    out = io.BytesIO()
    out.write(b"\xc3\x01")
    out.write(schema.fingerprint())  # CRC-64-AVRO of Apache Python's canonical form
    avro.io.DatumWriter(schema).write(datum, avro.io.BinaryEncoder(out))
    return out.getvalue()


def _envelope_datum() -> dict[str, object]:
    return {
        "id": "evt-apache",
        "source": "svc://java-shop",
        "type": "com.example.order.placed",
        "subject": "order-9",
        "time": WHEN,
        "datacontenttype": "application/json",
        "dataschema": None,
        "specversion": "1.0",
        "tenant": "acme",
        "correlation_id": "corr-1",
        "causation_id": None,
        "data": b'{"total": 12}',
    }


@pytest.mark.parametrize("version", [1, 2])
def test_apache_avro_single_object_envelope_decodes(codec: AvroCodec, version: int) -> None:
    datum = _envelope_datum()
    if version == 2:
        datum["extensions"] = {"partitionkey": "order-9"}

    read = codec.decode_envelope(_apache_single_object(ENVELOPE, version, datum))

    assert read.id == "evt-apache"
    assert read.time == WHEN
    assert read.data == b'{"total": 12}'
    assert read.extensions == ({"partitionkey": "order-9"} if version == 2 else {})


def test_apache_fingerprint_differs_from_spec_and_both_are_known() -> None:
    stored = default_store().get(ENVELOPE, 1)
    apache = avro.schema.parse(stored.path.read_text())
    assert apache.fingerprint() != stored.fingerprint  # the timestamp-micros wrapper
    assert stored.fingerprints == (stored.fingerprint, apache.fingerprint())
    assert default_store().by_fingerprint(apache.fingerprint()) is stored


@pytest.mark.parametrize("name", sorted(default_store().names()))
def test_canonical_forms_differ_only_by_the_logical_type_wrappers(name: str) -> None:
    """The spec's form (fastavro) and the Apache package's differ in one way only, which is
    why the store knows two fingerprints for a schema with logical types."""
    for stored in default_store().versions(name):
        spec = parsing_canonical_form(stored.raw)
        apache = avro.schema.parse(stored.path.read_text()).canonical_form
        assert parsing_canonical_form(stored.raw, keep_logical_wrappers=True) == apache
        for base in ("long", "int", "bytes", "string", "fixed"):
            apache = apache.replace(f'{{"type":"{base}"}}', f'"{base}"')
        assert spec == apache


def test_apache_avro_reads_what_we_write(codec: AvroCodec, envelope: Envelope) -> None:
    value = codec.encode_envelope(envelope)
    schema = avro.schema.parse(default_store().get(ENVELOPE).path.read_text())
    datum = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(value[10:])))
    assert isinstance(datum, dict)
    assert datum["subject"] == "loan-42"
    assert datum["extensions"] == {"partitionkey": "loan-42"}


def test_apache_avro_task_result_decodes(codec: AvroCodec) -> None:
    datum = {
        "result_id": "r",
        "run_id": "run",
        "task_id": "t",
        "task_type": "echo",
        "definition_id": "d",
        "definition_version": 1,
        "subject": "s",
        "status": "succeeded",
        "output_json": '{"ok": true}',
        "error_type": None,
        "error_message": None,
        "attempts": 1,
        "started_at": WHEN,
        "finished_at": WHEN,
        "causation_id": "evt",
        "tenant": None,
    }
    read = codec.decode_task_result(_apache_single_object(TASK_RESULT, 1, datum))
    assert read.output_json == '{"ok": true}'
    assert read.started_at == WHEN


def _sdk_event() -> CloudEvent:
    return CloudEvent(
        attributes={
            "id": "evt-ce",
            "source": "/orders",
            "type": "com.example.order.placed",
            "subject": "order-9",
            "time": WHEN,
            "datacontenttype": "application/json",
            "tenant": "acme",
            "correlationid": "corr-1",
            "partitionkey": "order-9",
        },
        data={"total": 12},
    )


def _headers(message: ce_kafka.KafkaMessage) -> list[tuple[str, bytes]]:
    return list(message.headers.items())  # aiokafka gives a list of (str, bytes)


def test_cloudevents_sdk_binary_mode_decodes(codec: AvroCodec) -> None:
    message = ce_kafka.to_binary_event(_sdk_event())

    read = codec.decode_envelope(message.value, headers=_headers(message))

    assert (read.id, read.source, read.subject, read.time) == (
        "evt-ce",
        "/orders",
        "order-9",
        WHEN,
    )
    assert json.loads(read.data) == {"total": 12}
    assert read.tenant == "acme"
    assert read.correlation_id == "corr-1"
    assert read.extensions == {"partitionkey": "order-9"}


def test_cloudevents_sdk_structured_mode_decodes(codec: AvroCodec) -> None:
    message = ce_kafka.to_structured_event(_sdk_event())

    read = codec.decode_envelope(message.value, headers=_headers(message))

    assert read.id == "evt-ce"
    assert read.time == WHEN
    assert json.loads(read.data) == {"total": 12}
    assert read.correlation_id == "corr-1"


def test_structured_mode_without_headers_decodes(codec: AvroCodec) -> None:
    message = ce_kafka.to_structured_event(_sdk_event())
    assert codec.decode_envelope(message.value).subject == "order-9"


def test_cloudevents_sdk_reads_our_binary_and_structured(envelope: Envelope) -> None:
    headers, value = to_binary(envelope)
    event = ce_kafka.from_binary_event(ce_kafka.KafkaMessage(dict(headers), None, value))
    assert event.get_id() == "evt-1"
    assert event.get_extension("correlationid") == "corr-7"
    assert event.get_data() == {"amount": 1000}

    headers, value = to_structured(envelope)
    event = ce_kafka.from_structured_event(ce_kafka.KafkaMessage(dict(headers), None, value))
    assert event.get_subject() == "loan-42"
    assert event.get_extension("partitionkey") == "loan-42"


def test_our_bindings_round_trip(codec: AvroCodec, envelope: Envelope) -> None:
    headers, value = to_binary(envelope)
    assert codec.decode_envelope(value, headers=headers) == envelope
    headers, value = to_structured(envelope)
    assert codec.decode_envelope(value, headers=headers) == envelope


def test_binary_data_survives_structured_mode(codec: AvroCodec, envelope: Envelope) -> None:
    raw = envelope.model_copy(update={"datacontenttype": "application/avro", "data": b"\x00\xff"})
    headers, value = to_structured(raw)
    assert b"data_base64" in value
    assert codec.decode_envelope(value, headers=headers) == raw
