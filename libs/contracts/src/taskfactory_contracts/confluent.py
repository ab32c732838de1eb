"""Confluent wire format (magic byte 0 + 4-byte big-endian schema id) and its registry client.

The codec depends only on the :class:`SchemaRegistry` protocol; :class:`ConfluentSchemaRegistry`
adapts ``confluent_kafka.schema_registry`` (install ``taskfactory-contracts[registry]``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from taskfactory_contracts.errors import (
    MalformedRecordError,
    TransientError,
    UnknownSchemaError,
)

__all__ = [
    "CONFLUENT_HEADER_LEN",
    "CONFLUENT_MAGIC",
    "ConfluentSchemaRegistry",
    "InMemorySchemaRegistry",
    "SchemaRegistry",
    "confluent_frame",
    "confluent_schema_id",
    "record_name_subject",
]

CONFLUENT_MAGIC = 0
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
            raise UnknownSchemaError(f"no schema with id {schema_id}", where="value")
        return self.schemas[schema_id - 1]

    def register(self, subject: str, schema_text: str) -> int:
        """The id of ``schema_text``, added when new (subjects are not tracked)."""
        if schema_text not in self.schemas:
            self.schemas.append(schema_text)
        return self.schemas.index(schema_text) + 1


def record_name_subject(record_name: str) -> str:
    """RecordNameStrategy: the subject is the record's full name, whatever the topic."""
    return record_name


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
        if getattr(schema, "schema_type", "AVRO") not in (None, "AVRO"):
            raise UnknownSchemaError(
                f"schema id {schema_id} is a {schema.schema_type} schema, not Avro", where="value"
            )
        text = schema.schema_str
        if not isinstance(text, str):
            raise UnknownSchemaError(f"schema id {schema_id} has no schema text", where="value")
        return text

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
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            return fn()
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                raise UnknownSchemaError(
                    f"schema registry does not know {what}: {exc}", where="value"
                ) from exc
            # Anything else (auth, 5xx, rate limits) is the registry's or the operator's
            # problem, not the record's: back off rather than dead-letter every record.
            raise TransientError(f"schema registry failed on {what}: {exc}") from exc
        except Exception as exc:  # transport errors (httpx, TLS, DNS): the registry may come back
            raise TransientError(
                f"schema registry call for {what} failed: {type(exc).__name__}: {exc}"
            ) from exc
