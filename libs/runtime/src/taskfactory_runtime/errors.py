"""The runtime's errors, all under :class:`~taskfactory_contracts.errors.TaskFactoryError`:
configuration, Kafka and Temporal connections, payload encryption, the schema registry,
publishing once, and outside YAML."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from taskfactory_contracts.errors import TaskFactoryError, TransientError

__all__ = [
    "ConfigurationError",
    "KafkaAuthenticationError",
    "KafkaAuthorizationError",
    "KafkaTlsError",
    "KafkaUnavailableError",
    "LeaseExpired",
    "NotUtf8",
    "PayloadDecryptionError",
    "RegistryMiss",
    "TemporalConnectError",
    "TokenEndpointError",
    "YamlRefused",
]


class ConfigurationError(TaskFactoryError):
    """A setting cannot be used as given (missing file, bad key); fix the configuration."""

    reason = "configuration"


class TemporalConnectError(ConfigurationError):
    """The Temporal frontend refused the connection (TLS, certificate, API key, namespace)."""

    reason = "temporal_connect"


class KafkaAuthenticationError(TaskFactoryError):
    """The broker refused our credentials or SASL mechanism; retrying will not help."""

    reason = "kafka_auth"


class KafkaAuthorizationError(TaskFactoryError):
    """The broker's ACLs deny our principal a topic, group or id; retrying will not help."""

    reason = "kafka_acl"


class KafkaTlsError(TaskFactoryError):
    """The TLS handshake with the broker failed (untrusted or misnamed certificate)."""

    reason = "kafka_tls"


class KafkaUnavailableError(TransientError):
    """No bootstrap server answered."""

    reason = "kafka_unavailable"


class PayloadDecryptionError(TaskFactoryError):
    """An encrypted payload cannot be opened: unknown key id, or tampered/corrupt data."""

    reason = "decryption"


class TokenEndpointError(TransientError):
    """The OAuth token endpoint did not hand out a token."""

    reason = "oauth"


class RegistryMiss(TransientError):
    """The codec needs an answer the cache does not hold yet: await ``load`` and call again."""

    reason = "registry_miss"

    def __init__(
        self, *, schema_id: int | None = None, subject: str = "", schema_text: str = ""
    ) -> None:
        self.schema_id = schema_id
        self.subject = subject
        self.schema_text = schema_text
        what = f"schema id {schema_id}" if schema_id is not None else f"subject {subject}"
        super().__init__(f"{what} not loaded from the schema registry yet")


class LeaseExpired(TransientError):
    """The attempt's lease ended before its send could begin or finish (retry the publish)."""

    reason = "lease_expired"


class NotUtf8(TaskFactoryError, ValueError):
    """The bytes are not UTF-8; ``line`` is 1-based, ``detail`` says what is wrong."""

    reason = "not_utf8"

    def __init__(self, line: int, detail: str) -> None:
        super().__init__(detail)
        self.line, self.detail = line, detail


class YamlRefused(TaskFactoryError, yaml.YAMLError):
    """A YAML document refused while composing; ``line`` is 1-based within the YAML text,
    ``detail`` says why."""

    reason = "yaml_refused"

    def __init__(self, mark: Any, path: Sequence[str | int], detail: str) -> None:
        super().__init__(detail)
        self.line, self.path, self.detail = mark.line + 1, tuple(path), detail
