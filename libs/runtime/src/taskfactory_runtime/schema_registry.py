"""The schema registry as the services use it: lookups that never block the event loop.

The codec is synchronous and pure; it reads the registry through :class:`RegistryCache`, a
:class:`~taskfactory_contracts.confluent.SchemaRegistry` that answers only from memory and
raises :class:`RegistryMiss` for anything it has not seen. The caller catches the miss, awaits
:meth:`RegistryLookup.load` (confluent-kafka's ``AsyncSchemaRegistryClient``, on the loop) and
calls the codec again: :func:`with_registry` does exactly that. Failures come back mapped by
:func:`~taskfactory_contracts.confluent.registry_error`: an id the registry does not know is
``UnknownSchemaIdError`` (dead-letter), everything else ``TransientError`` (back off).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from taskfactory_contracts.confluent import avro_schema_text, registry_error
from taskfactory_runtime.errors import ConfigurationError, RegistryMiss
from taskfactory_runtime.secrets import read_secret, resolve_secret
from taskfactory_runtime.settings import KafkaSettings

__all__ = [
    "RegistryCache",
    "RegistryLookup",
    "registry_client_config",
    "with_registry",
]

T = TypeVar("T")
#: Registry answers held in memory; ids are the registry's own, so this bounds only a registry
#: with more schemas than this (the oldest answers are then forgotten and asked again).
_MAX_CACHED = 10_000


def registry_client_config(kafka: KafkaSettings) -> dict[str, Any]:
    """confluent-kafka's schema registry client configuration for ``kafka``'s settings.

    Secrets are read here (files included); a bearer token file is re-read for every request.
    """
    if not kafka.schema_registry_url:
        raise ConfigurationError("kafka.schema_registry_url is not set")
    config: dict[str, Any] = {
        "url": kafka.schema_registry_url,
        "timeout": kafka.schema_registry_timeout_seconds,
        # We back off and pause ourselves (like a Temporal outage); no hidden client retries.
        "max.retries": 0,
    }
    password = resolve_secret(
        kafka.schema_registry_password,
        kafka.schema_registry_password_file,
        setting="kafka.schema_registry_password",
    )
    token_file = kafka.schema_registry_bearer_token_file
    bearer = kafka.schema_registry_bearer_token is not None or token_file is not None
    if password is not None and bearer:
        raise ConfigurationError(
            "kafka.schema_registry: set basic auth (username, password) or a bearer token, not both"
        )
    if (kafka.schema_registry_username is None) != (password is None):
        raise ConfigurationError(
            "kafka.schema_registry basic auth needs both schema_registry_username and "
            "schema_registry_password (or _file)"
        )
    if password is not None:
        config["basic.auth.credentials.source"] = "USER_INFO"
        config["basic.auth.user.info"] = (
            f"{kafka.schema_registry_username}:{password.get_secret_value()}"
        )
    if bearer:
        inline = kafka.schema_registry_bearer_token

        async def token(_: dict[str, Any]) -> dict[str, Any]:
            value = (
                inline
                if inline is not None
                else read_secret(token_file, setting="kafka.schema_registry_bearer_token_file")  # type: ignore[arg-type]
            )
            # confluent-kafka requires a logical cluster (a Confluent Cloud header); other
            # registries ignore the empty one.
            return {
                "bearer.auth.token": value.get_secret_value(),
                "bearer.auth.logical.cluster": "",
            }

        config["bearer.auth.credentials.source"] = "CUSTOM"
        config["bearer.auth.custom.provider.function"] = token
        config["bearer.auth.custom.provider.config"] = {}
    if kafka.schema_registry_ssl_cafile is not None:
        config["ssl.ca.location"] = str(kafka.schema_registry_ssl_cafile)
    if kafka.schema_registry_ssl_certfile is not None:
        config["ssl.certificate.location"] = str(kafka.schema_registry_ssl_certfile)
    if kafka.schema_registry_ssl_keyfile is not None:
        config["ssl.key.location"] = str(kafka.schema_registry_ssl_keyfile)
    return config


class RegistryCache:
    """The codec's synchronous view of the registry: answers from memory or ``RegistryMiss``."""

    def __init__(self) -> None:
        self.texts: dict[int, str] = {}
        self.ids: dict[tuple[str, str], int] = {}

    def schema_text(self, schema_id: int) -> str:
        """The schema registered under ``schema_id``, if loaded."""
        text = self.texts.get(schema_id)
        if text is None:
            raise RegistryMiss(schema_id=schema_id)
        return text

    def register(self, subject: str, schema_text: str) -> int:
        """The id of ``schema_text`` under ``subject``, if registered by this process."""
        schema_id = self.ids.get((subject, schema_text))
        if schema_id is None:
            raise RegistryMiss(subject=subject, schema_text=schema_text)
        return schema_id

    def _bound(self) -> None:
        while len(self.texts) > _MAX_CACHED:
            del self.texts[next(iter(self.texts))]
        while len(self.ids) > _MAX_CACHED:
            del self.ids[next(iter(self.ids))]


class RegistryLookup:
    """Loads registry answers into a :class:`RegistryCache` with the async client.

    Concurrent misses of one id share one request.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.cache = RegistryCache()
        self._pending: dict[object, asyncio.Future[None]] = {}

    @classmethod
    def from_settings(cls, kafka: KafkaSettings) -> RegistryLookup | None:
        """A lookup for the configured registry, or ``None`` when none is configured."""
        if not kafka.schema_registry_url:
            return None
        from confluent_kafka.schema_registry import AsyncSchemaRegistryClient

        return cls(AsyncSchemaRegistryClient(registry_client_config(kafka)))

    async def load(self, miss: RegistryMiss) -> None:
        """Fetch what ``miss`` lacks; raises ``UnknownSchemaIdError`` or ``TransientError``."""
        key: object = (
            miss.schema_id if miss.schema_id is not None else (miss.subject, miss.schema_text)
        )
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._load(miss))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        await asyncio.shield(pending)

    async def _load(self, miss: RegistryMiss) -> None:
        from confluent_kafka.schema_registry import Schema

        try:
            if miss.schema_id is not None:
                schema = await self.client.get_schema(miss.schema_id)
                self.cache.texts[miss.schema_id] = avro_schema_text(schema, miss.schema_id)
            else:
                schema_id = await self.client.register_schema(
                    miss.subject, Schema(miss.schema_text, "AVRO")
                )
                self.cache.ids[(miss.subject, miss.schema_text)] = int(schema_id)
        except Exception as exc:  # mapped: unknown id → dead-letter, the rest → back off
            what = f"schema id {miss.schema_id}" if miss.subject == "" else miss.subject
            raise registry_error(exc, what) from exc
        self.cache._bound()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()


async def with_registry(fn: Callable[[], T], lookup: RegistryLookup | None) -> T:
    """``fn()``, loading what it misses from the registry and calling it again."""
    for _ in range(8):  # each round loads one more answer; a record needs one or two
        try:
            return fn()
        except RegistryMiss as miss:
            if lookup is None:
                raise
            await lookup.load(miss)
    return fn()
