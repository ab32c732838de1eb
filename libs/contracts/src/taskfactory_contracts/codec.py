"""Avro single-object encoding of taskfactory records, with writer→reader schema resolution."""

from __future__ import annotations

import io
from typing import Any, TypeVar

import fastavro
from pydantic import BaseModel, ValidationError

from taskfactory_contracts.errors import (
    ContractError,
    MalformedRecordError,
    RecordTooLargeError,
    SchemaValidationError,
    UnknownSchemaError,
)
from taskfactory_contracts.records import Envelope, TaskResult
from taskfactory_contracts.schemas import SchemaStore, default_store

__all__ = [
    "ENVELOPE",
    "SINGLE_OBJECT_MARKER",
    "TASK_RESULT",
    "AvroCodec",
]

SINGLE_OBJECT_MARKER = b"\xc3\x01"
ENVELOPE = "taskfactory.Envelope"
TASK_RESULT = "taskfactory.TaskResult"
_HEADER_LEN = len(SINGLE_OBJECT_MARKER) + 8

M = TypeVar("M", bound=BaseModel)


class AvroCodec:
    """Encodes pydantic records to Avro single-object bytes and decodes them back.

    Decoding resolves the writer's schema (found by fingerprint) against the reader's
    (the latest shipped version of the record), so older and newer producers interoperate.
    """

    def __init__(self, store: SchemaStore | None = None, *, max_bytes: int = 1_048_576) -> None:
        self.store = store or default_store()
        self.max_bytes = max_bytes

    def encode(self, name: str, record: BaseModel, *, version: int | None = None) -> bytes:
        """Single-object bytes of ``record`` written with schema ``name`` (latest version)."""
        schema = self.store.get(name, version)
        buf = io.BytesIO()
        buf.write(SINGLE_OBJECT_MARKER)
        buf.write(schema.fingerprint)
        fastavro.schemaless_writer(buf, schema.parsed, record.model_dump(mode="python"))
        return buf.getvalue()

    def decode_dict(self, name: str, value: bytes) -> dict[str, Any]:
        """The record in ``value`` as a dict shaped by the latest schema of ``name``."""
        if len(value) > self.max_bytes:
            raise RecordTooLargeError(
                f"record is {len(value)} bytes, the limit is {self.max_bytes}", where="value"
            )
        if len(value) < _HEADER_LEN or not value.startswith(SINGLE_OBJECT_MARKER):
            raise MalformedRecordError(
                "not Avro single-object encoding (expected marker C3 01 and an 8-byte "
                f"fingerprint, got {value[:10].hex(' ') or 'empty'})",
                where="value",
            )
        writer = self.store.by_fingerprint(value[2:_HEADER_LEN])
        if writer is None:
            raise UnknownSchemaError(
                f"unknown schema fingerprint {value[2:_HEADER_LEN].hex()}", where="value"
            )
        if writer.name != name:
            raise UnknownSchemaError(
                f"record is a {writer.name} v{writer.version}, expected a {name}", where="value"
            )
        reader = self.store.get(name)
        stream = io.BytesIO(value)
        stream.seek(_HEADER_LEN)
        try:
            decoded = fastavro.schemaless_reader(stream, writer.parsed, reader.parsed)
        except Exception as exc:  # fastavro raises many types on corrupt input
            raise MalformedRecordError(
                f"cannot decode as {writer.name} v{writer.version}: {type(exc).__name__}: {exc}",
                where="value",
            ) from exc
        if stream.tell() != len(value):
            raise MalformedRecordError(
                f"{len(value) - stream.tell()} trailing bytes after the record", where="value"
            )
        if not isinstance(decoded, dict):
            raise MalformedRecordError("record did not decode to a record", where="value")
        return decoded

    def decode(self, name: str, model: type[M], value: bytes) -> M:
        """The record in ``value`` validated as ``model``."""
        decoded = self.decode_dict(name, value)
        try:
            return model.model_validate(decoded)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise SchemaValidationError(first["msg"], where=f"value.{field}") from exc

    def decode_envelope(self, value: bytes) -> Envelope:
        """An envelope from single-object bytes; raises a ``ContractError`` subclass."""
        return self.decode(ENVELOPE, Envelope, value)

    def encode_envelope(self, envelope: Envelope) -> bytes:
        """Single-object bytes of ``envelope`` (latest envelope schema)."""
        return self.encode(ENVELOPE, envelope)

    def decode_task_result(self, value: bytes) -> TaskResult:
        """A task result from single-object bytes."""
        return self.decode(TASK_RESULT, TaskResult, value)

    def encode_task_result(self, result: TaskResult) -> bytes:
        """Single-object bytes of ``result``."""
        return self.encode(TASK_RESULT, result)


