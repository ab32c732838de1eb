"""confluent-kafka's registry clients as the tests use them: every request has a deadline.

Without one, a request whose answer never arrives blocks the test until its timeout (seen once:
a freshly started Apicurio logged its 404 to the serializer's `associations` lookup and the
client waited on the socket for 300 s). With it, the client retries the request
(``max.retries``, 3 by default), as the services' own client does
(``TASKFACTORY_KAFKA__SCHEMA_REGISTRY_TIMEOUT_SECONDS``).
"""

from __future__ import annotations

from confluent_kafka.schema_registry import AsyncSchemaRegistryClient, SchemaRegistryClient

__all__ = ["async_registry_client", "registry_client"]

TIMEOUT_SECONDS = 10


def registry_client(url: str) -> SchemaRegistryClient:
    """The synchronous client (serializers, deserializers, lookups) of the registry at ``url``."""
    return SchemaRegistryClient({"url": url, "timeout": TIMEOUT_SECONDS})


def async_registry_client(url: str) -> AsyncSchemaRegistryClient:
    """The asyncio client of the registry at ``url``."""
    return AsyncSchemaRegistryClient({"url": url, "timeout": TIMEOUT_SECONDS})
