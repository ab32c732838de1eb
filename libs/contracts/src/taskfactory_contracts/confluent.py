"""Confluent wire format (magic byte 0 + 4-byte big-endian schema id) and its registry client.

The codec depends only on the :class:`SchemaRegistry` protocol; :class:`ConfluentSchemaRegistry`
adapts ``confluent_kafka.schema_registry`` (install ``taskfactory-contracts[registry]``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from taskfactory_contracts.errors import (
    MalformedRecordError,
    TaskFactoryError,
    TransientError,
    UnknownSchemaError,
    UnknownSchemaIdError,
)

__all__ = [
    "CONFLUENT_HEADER_LEN",
    "CONFLUENT_MAGIC",
    "SCHEMA_NOT_FOUND",
    "ConfluentSchemaRegistry",
    "InMemorySchemaRegistry",
    "SchemaRegistry",
    "avro_schema_text",
    "confluent_frame",
    "confluent_schema_id",
    "record_name_subject",
    "registry_error",
    "topic_name_subject",
]

CONFLUENT_MAGIC = 0
#: The Confluent Schema Registry API's error codes for an unknown schema id: 40403 (Confluent's
#: server, Apicurio) and 40400 (confluent-kafka's in-process mock registry).
SCHEMA_NOT_FOUND = frozenset({40403, 40400})
CONFLUENT_HEADER_LEN = 5


class SchemaRegistry(Protocol):
    """What the codec needs from a schema registry: schema text by id, id by schema."""

    def schema_text(self, schema_id: int) -> str:
        """The Avro schema (JSON text) registered under ``schema_id``."""
        ...

    def register(self, subject: str, schema_text: str) -> int:
        """The id of ``schema_text`` under ``subject``, registering it when new."""
        ...


class InMemorySchemaRegistry:
    """A :class:`SchemaRegistry` in a list, for tests and benchmarks; ids start at 1."""

    def __init__(self) -> None:
        self.schemas: list[str] = []

    def schema_text(self, schema_id: int) -> str:
        """The schema registered under ``schema_id``."""
        if not 1 <= schema_id <= len(self.schemas):
            raise UnknownSchemaIdError(f"no schema with id {schema_id}", where="value")
        return self.schemas[schema_id - 1]

    def register(self, subject: str, schema_text: str) -> int:
        """The id of ``schema_text``, added when new (subjects are not tracked)."""
        if schema_text not in self.schemas:
            self.schemas.append(schema_text)
        return self.schemas.index(schema_text) + 1


def record_name_subject(record_name: str) -> str:
    """RecordNameStrategy: the subject is the record's full name, whatever the topic."""
    return record_name


def topic_name_subject(topic: str) -> str:
    """TopicNameStrategy (the Confluent serializers' default): ``<topic>-value``."""
    return f"{topic}-value"


def registry_error(exc: Exception, what: str) -> TaskFactoryError:
    """What a failed schema-registry call means for the record that needed it.

    A schema id the registry does not know (HTTP 404 with the API's error code for it) is the
    record's fault: ``UnknownSchemaIdError``, dead-letter it. Anything else, a 404 without that
    code included (a wrong registry URL or path answers so), auth, 5xx, rate limits and
    transport errors, is the registry's or the operator's problem: ``TransientError``, back
    off rather than dead-letter every record.
    """
    from confluent_kafka.schema_registry.error import SchemaRegistryError  # optional extra

    if isinstance(exc, SchemaRegistryError):
        if exc.http_status_code == 404 and exc.error_code in SCHEMA_NOT_FOUND:
            return UnknownSchemaIdError(
                f"the schema registry does not know {what}: {exc}", where="value"
            )
        return TransientError(f"schema registry failed on {what}: {exc}")
    return TransientError(f"schema registry call for {what} failed: {type(exc).__name__}: {exc}")


def avro_schema_text(schema: Any, schema_id: int) -> str:
    """The text of a registry ``Schema``; ``UnknownSchemaError`` unless it is Avro."""
    kind = getattr(schema, "schema_type", None) or "AVRO"
    if kind != "AVRO":
        raise UnknownSchemaError(
            f"schema id {schema_id} is a {kind} schema, not Avro", where="value"
        )
    text = schema.schema_str
    if not isinstance(text, str):
        raise UnknownSchemaError(f"schema id {schema_id} has no schema text", where="value")
    return text


def confluent_frame(schema_id: int, body: bytes) -> bytes:
    """``body`` prefixed with the Confluent magic byte and ``schema_id``."""
    return bytes((CONFLUENT_MAGIC,)) + schema_id.to_bytes(4, "big") + body


def confluent_schema_id(value: bytes) -> int:
    """The schema id of a Confluent-framed ``value``; raises ``MalformedRecordError``."""
    if len(value) <= CONFLUENT_HEADER_LEN or value[0] != CONFLUENT_MAGIC:
        raise MalformedRecordError(
            "not Confluent wire format (expected magic byte 00, a 4-byte schema id and a body, "
            f"got {value[:5].hex(' ') or 'empty'})",
            where="value",
        )
    return int.from_bytes(value[1:CONFLUENT_HEADER_LEN], "big")


class ConfluentSchemaRegistry:
    """A :class:`SchemaRegistry` over ``confluent_kafka``'s client (which caches too).

    An id the registry does not know (HTTP 404) raises ``UnknownSchemaError`` (dead-letter the
    record); every other failure, including auth errors, raises ``TransientError`` (back off).
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ConfluentSchemaRegistry:
        """A client for ``config`` (``url``, auth, TLS keys of ``confluent_kafka``)."""
        from confluent_kafka.schema_registry import SchemaRegistryClient  # optional extra

        return cls(SchemaRegistryClient.new_client(dict(config)))

    def schema_text(self, schema_id: int) -> str:
        """The schema registered under ``schema_id``."""
        schema = self._call(lambda: self.client.get_schema(schema_id), f"schema id {schema_id}")
        return avro_schema_text(schema, schema_id)

    def register(self, subject: str, schema_text: str) -> int:
        """Register ``schema_text`` under ``subject`` (idempotent) and return its id."""
        from confluent_kafka.schema_registry import Schema

        schema_id = self._call(
            lambda: self.client.register_schema(subject, Schema(schema_text, "AVRO")),
            f"subject {subject}",
        )
        return int(schema_id)

    @staticmethod
    def _call(fn: Callable[[], Any], what: str) -> Any:
        try:
            return fn()
        except Exception as exc:  # mapped: unknown id → dead-letter, the rest → back off
            raise registry_error(exc, what) from exc
