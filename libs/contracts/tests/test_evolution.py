"""Envelope v1 <-> v2 resolution gives the values the v2 schema documents."""

from __future__ import annotations

import io
import json
from typing import Any

from fastavro import parse_schema, schemaless_writer

from taskfactory_contracts import ENVELOPE, AvroCodec, Envelope, default_store
from taskfactory_contracts.confluent import InMemorySchemaRegistry, confluent_frame


def test_v1_record_read_as_v2_gets_empty_extensions(codec: AvroCodec, envelope: Envelope) -> None:
    v1_bytes = codec.encode_single_object(ENVELOPE, envelope, version=1)
    assert v1_bytes[2:10] == default_store().get(ENVELOPE, 1).fingerprint

    read = codec.decode_envelope(v1_bytes)

    assert read.extensions == {}
    assert read == envelope.model_copy(update={"extensions": {}})


def test_v2_record_read_as_v1_drops_extensions(codec: AvroCodec, envelope: Envelope) -> None:
    v2_bytes = codec.encode_envelope(envelope)
    v1_reader = AvroCodec(reader_versions={ENVELOPE: 1})

    shaped = v1_reader.decode_dict(ENVELOPE, v2_bytes)

    assert "extensions" not in shaped
    assert shaped["correlation_id"] == "corr-7"
    assert v1_reader.decode_envelope(v2_bytes) == envelope.model_copy(update={"extensions": {}})


def test_v1_reader_and_writer_need_no_resolution(envelope: Envelope) -> None:
    v1_codec = AvroCodec(reader_versions={ENVELOPE: 1})
    v1_bytes = v1_codec.encode_single_object(ENVELOPE, envelope, version=1)
    assert v1_codec.decode_dict(ENVELOPE, v1_bytes)["tenant"] == "acme"


def _cloudevents_spelling_schema() -> str:
    raw: dict[str, Any] = json.loads(default_store().get(ENVELOPE, 1).json)
    for field in raw["fields"]:
        if field["name"] in ("correlation_id", "causation_id"):
            field["name"] = field["name"].replace("_", "")
    return json.dumps(raw)


def test_alias_reads_cloudevents_spelling_written_by_another_producer(envelope: Envelope) -> None:
    # A producer registered its own schema naming the fields correlationid / causationid.
    registry = InMemorySchemaRegistry()
    schema_id = registry.register("taskfactory.Envelope", _cloudevents_spelling_schema())

    record = envelope.model_dump(exclude={"extensions"})
    record["correlationid"] = record.pop("correlation_id")
    record["causationid"] = record.pop("causation_id")
    body = io.BytesIO()
    schemaless_writer(body, parse_schema(json.loads(registry.schemas[0])), record)

    read = AvroCodec(registry=registry).decode_envelope(confluent_frame(schema_id, body.getvalue()))

    assert read.correlation_id == "corr-7"
    assert read.causation_id == "evt-0"
