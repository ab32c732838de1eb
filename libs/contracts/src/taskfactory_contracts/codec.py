"""Encode and decode taskfactory records: Avro single-object, Confluent, CloudEvents binding.

Decoding resolves the writer's schema (by fingerprint, or by registry id) against the reader's
(the latest shipped version of the record), so older and newer producers interoperate. Every
failure is a ``ContractError`` subclass naming what is wrong and where; an unreachable schema
registry is a ``TransientError``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import fastavro
from pydantic import BaseModel, ValidationError

from taskfactory_contracts import cloudevents_kafka as ce
from taskfactory_contracts.confluent import (
    CONFLUENT_HEADER_LEN,
    CONFLUENT_MAGIC,
    SchemaRegistry,
    confluent_frame,
    confluent_schema_id,
    record_name_subject,
)
from taskfactory_contracts.errors import (
    MalformedRecordError,
    RecordTooLargeError,
    SchemaValidationError,
    UnknownSchemaError,
)
from taskfactory_contracts.projection import Projection, plan_projection
from taskfactory_contracts.records import Envelope, RunEvent, TaskResult
from taskfactory_contracts.schemas import (
    SchemaStore,
    StoredSchema,
    crc64_avro,
    default_store,
    parse_schema,
    parsing_canonical_form,
)

__all__ = [
    "ENVELOPE",
    "RUN_EVENT",
    "SINGLE_OBJECT_MARKER",
    "TASK_RESULT",
    "AvroCodec",
]

SINGLE_OBJECT_MARKER = b"\xc3\x01"
ENVELOPE = "taskfactory.Envelope"
TASK_RESULT = "taskfactory.TaskResult"
RUN_EVENT = "taskfactory.RunEvent"
_HEADER_LEN = len(SINGLE_OBJECT_MARKER) + 8
_AVRO_FIRST_BYTES = (SINGLE_OBJECT_MARKER[:1], bytes((CONFLUENT_MAGIC,)))

M = TypeVar("M", bound=BaseModel)
# (label, schema to read with, reader schema for fastavro to resolve against or None,
# timestamp-micros fields to turn into datetimes, projection to apply or None)
_Resolver = tuple[str, dict[str, Any], dict[str, Any] | None, tuple[str, ...], Projection | None]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class AvroCodec:
    """Turns pydantic records into bytes and bytes into validated records.

    ``reader_versions`` pins the reader schema of a record (``{ENVELOPE: 1}`` reads every
    envelope as v1, as a consumer not yet upgraded would); by default the latest is the reader.
    ``registry`` switches encoding to the Confluent wire format (schemas registered under
    ``subject_for(record name)``) and lets decoding read it; without one, records are written
    with single-object encoding and Confluent input is rejected as an unknown schema.
    """

    def __init__(
        self,
        store: SchemaStore | None = None,
        *,
        max_bytes: int = 1_048_576,
        registry: SchemaRegistry | None = None,
        subject_for: Callable[[str], str] = record_name_subject,
        reader_versions: Mapping[str, int] | None = None,
    ) -> None:
        self.store = store or default_store()
        self.max_bytes = max_bytes
        self.registry = registry
        self.subject_for = subject_for
        self.reader_versions = dict(reader_versions or {})
        self._by_fingerprint: dict[tuple[str, bytes], _Resolver] = {}
        self._by_schema_id: dict[tuple[str, int], _Resolver] = {}
        self._schema_ids: dict[tuple[str, int], int] = {}

    # -- encoding ---------------------------------------------------------------------------

    def encode(self, name: str, record: BaseModel, *, version: int | None = None) -> bytes:
        """``record`` written with schema ``name`` (latest version): Confluent when a registry
        is configured, else single-object encoding."""
        if self.registry is not None:
            return self.encode_confluent(name, record, version=version)
        return self.encode_single_object(name, record, version=version)

    def encode_single_object(
        self, name: str, record: BaseModel, *, version: int | None = None
    ) -> bytes:
        """Single-object bytes (marker, spec fingerprint, body) of ``record``."""
        schema = self.store.get(name, version)
        return SINGLE_OBJECT_MARKER + schema.fingerprint + _body(schema, record)

    def encode_confluent(
        self, name: str, record: BaseModel, *, version: int | None = None
    ) -> bytes:
        """Confluent wire-format bytes of ``record``; registers the schema once per codec."""
        if self.registry is None:
            raise ValueError("Confluent wire format needs a schema registry")
        schema = self.store.get(name, version)
        key = (schema.name, schema.version)
        schema_id = self._schema_ids.get(key)
        if schema_id is None:
            schema_id = self.registry.register(self.subject_for(schema.name), schema.json)
            self._schema_ids[key] = schema_id
        return confluent_frame(schema_id, _body(schema, record))

    def encode_with_schema_id(self, name: str, record: BaseModel, schema_id: int) -> bytes:
        """Confluent wire-format bytes of ``record`` (latest ``name``) under ``schema_id``."""
        return confluent_frame(schema_id, _body(self.store.get(name), record))

    # -- decoding ---------------------------------------------------------------------------

    def decode_dict(self, name: str, value: bytes) -> dict[str, Any]:
        """The Avro record in ``value`` (single-object or Confluent) as a dict shaped by the
        reader schema of ``name``."""
        self._check_size(value)
        return self._decode_avro(name, value)

    def decode(
        self,
        name: str,
        model: type[M],
        value: bytes,
        headers: ce.Headers | None = None,
    ) -> M:
        """The record in ``value`` validated as ``model``.

        With CloudEvents headers (binary mode) or a structured CloudEvent in ``value``, the
        record is read through the CloudEvents Kafka binding (envelopes only).
        """
        self._check_size(value)
        if name == ENVELOPE:
            if headers and ce.is_binary_mode(headers):
                return _validate(model, ce.envelope_fields_from_binary(headers, value))
            first = value[:1]
            if first not in _AVRO_FIRST_BYTES and ce.is_structured_mode(headers, value):
                return _validate(model, ce.envelope_fields_from_structured(value))
        return _validate(model, self._decode_avro(name, value))

    def decode_envelope(self, value: bytes, headers: ce.Headers | None = None) -> Envelope:
        """An envelope from any accepted wire format; raises a ``ContractError`` subclass."""
        return self.decode(ENVELOPE, Envelope, value, headers)

    def encode_envelope(self, envelope: Envelope) -> bytes:
        """Avro bytes of ``envelope`` (latest envelope schema)."""
        return self.encode(ENVELOPE, envelope)

    def decode_task_result(self, value: bytes) -> TaskResult:
        """A task result from Avro bytes."""
        return self.decode(TASK_RESULT, TaskResult, value)

    def encode_task_result(self, result: TaskResult) -> bytes:
        """Avro bytes of ``result``."""
        return self.encode(TASK_RESULT, result)

    def decode_run_event(self, value: bytes) -> RunEvent:
        """A run event from Avro bytes."""
        return self.decode(RUN_EVENT, RunEvent, value)

    def encode_run_event(self, event: RunEvent) -> bytes:
        """Avro bytes of ``event``."""
        return self.encode(RUN_EVENT, event)

    # -- internals --------------------------------------------------------------------------

    def _check_size(self, value: bytes) -> None:
        if len(value) > self.max_bytes:
            raise RecordTooLargeError(
                f"record is {len(value)} bytes, the limit is {self.max_bytes}", where="value"
            )

    def _decode_avro(self, name: str, value: bytes) -> dict[str, Any]:
        if value[:2] == SINGLE_OBJECT_MARKER:
            resolver = self._by_fingerprint.get((name, value[2:_HEADER_LEN]))
            if resolver is None:
                resolver = self._fingerprint_resolver(name, value)
            return self._read(value, _HEADER_LEN, resolver)
        if value[:1] == b"\x00" and len(value) > CONFLUENT_HEADER_LEN:
            resolver = self._schema_id_resolver(name, confluent_schema_id(value))
            return self._read(value, CONFLUENT_HEADER_LEN, resolver)
        raise MalformedRecordError(
            "not Avro single-object encoding (marker C3 01 + 8-byte fingerprint) nor "
            f"Confluent wire format (00 + 4-byte schema id): got {value[:10].hex(' ') or 'empty'}",
            where="value",
        )

    def _fingerprint_resolver(self, name: str, value: bytes) -> _Resolver:
        fingerprint = value[2:_HEADER_LEN]
        resolver = self._by_fingerprint.get((name, fingerprint))
        if resolver is not None:
            return resolver
        if len(value) < _HEADER_LEN:
            raise MalformedRecordError(
                "single-object record shorter than its header", where="value"
            )
        writer = self.store.by_fingerprint(fingerprint)
        if writer is None:
            raise UnknownSchemaError(
                f"unknown schema fingerprint {fingerprint.hex()}", where="value"
            )
        if writer.name != name:
            raise UnknownSchemaError(
                f"record is a {writer.name} v{writer.version}, expected a {name}", where="value"
            )
        resolver = self._resolver(f"{writer.name} v{writer.version}", writer.raw, writer, name)
        self._by_fingerprint[(name, fingerprint)] = resolver
        return resolver

    def _schema_id_resolver(self, name: str, schema_id: int) -> _Resolver:
        resolver = self._by_schema_id.get((name, schema_id))
        if resolver is not None:
            return resolver
        if self.registry is None:
            raise UnknownSchemaError(
                f"Confluent wire format (schema id {schema_id}) but no schema registry is "
                "configured",
                where="value",
            )
        text = self.registry.schema_text(schema_id)
        try:
            raw = json.loads(text)
            fingerprint = crc64_avro(parsing_canonical_form(raw).encode("utf-8"))
            # The registry's copy of a shipped schema reuses it (and its fast paths).
            shipped = self.store.by_fingerprint(fingerprint)
            parsed = shipped.parsed if shipped is not None else parse_schema(raw)
        except Exception as exc:  # fastavro raises several types for a bad schema
            raise UnknownSchemaError(
                f"registry schema id {schema_id} is not a usable Avro schema: {exc}",
                where="value",
            ) from exc
        if parsed.get("name") != name:
            raise UnknownSchemaError(
                f"registry schema id {schema_id} is a {parsed.get('name')}, expected a {name}",
                where="value",
            )
        label = f"{name} (registry id {schema_id})"
        resolver = self._resolver(label, raw, shipped or parsed, name)
        self._by_schema_id[(name, schema_id)] = resolver
        return resolver

    def _resolver(
        self, label: str, raw: dict[str, Any], writer: StoredSchema | dict[str, Any], name: str
    ) -> _Resolver:
        reader: StoredSchema = self.store.get(name, self.reader_versions.get(name))
        parsed = writer.parsed if isinstance(writer, StoredSchema) else writer
        projection = None if parsed is reader.parsed else plan_projection(raw, reader.raw)
        if parsed is not reader.parsed and projection is None:
            return (label, parsed, reader.parsed, (), None)  # fastavro resolves
        if isinstance(writer, StoredSchema):  # a shipped writer: its faster plain-long form
            return (label, writer.fast_parsed, None, writer.micros_fields, projection)
        return (label, parsed, None, (), projection)

    @staticmethod
    def _read(value: bytes, offset: int, resolver: _Resolver) -> dict[str, Any]:
        label, writer, reader, micros, projection = resolver
        stream = io.BytesIO(value)
        stream.seek(offset)
        try:
            decoded: Any = fastavro.schemaless_reader(stream, writer, reader)
            for field in micros:  # as fastavro's timestamp-micros reader does
                decoded[field] = _EPOCH + timedelta(microseconds=decoded[field])
        except Exception as exc:  # fastavro raises many types on corrupt input
            raise MalformedRecordError(
                f"cannot decode as {label}: {type(exc).__name__}: {exc}", where="value"
            ) from exc
        if stream.tell() != len(value):
            raise MalformedRecordError(
                f"{len(value) - stream.tell()} trailing bytes after the {label} record",
                where="value",
            )
        if not isinstance(decoded, dict):
            raise MalformedRecordError(f"{label} did not decode to a record", where="value")
        return decoded if projection is None else projection.apply(decoded)


def _body(schema: StoredSchema, record: BaseModel) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema.parsed, record.model_dump(mode="python"))
    return buf.getvalue()


def _validate(model: type[M], fields: dict[str, Any]) -> M:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise SchemaValidationError(
            f"{first['msg']} ({exc.error_count()} error(s))",
            where=f"value.{field}" if field else "value",
        ) from exc
