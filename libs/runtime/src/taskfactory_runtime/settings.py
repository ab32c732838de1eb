"""Settings shared by every service: env vars prefixed ``TASKFACTORY_``, ``__`` nesting.

Each service declares one ``BaseSettings`` subclass of :class:`ServiceSettings`, builds it once
in ``main()`` and passes it down; nothing reads the environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from taskfactory_contracts import names

__all__ = [
    "ENV_PREFIX",
    "HttpSettings",
    "KafkaSettings",
    "LoggingSettings",
    "ServiceSettings",
    "TemporalSettings",
    "TopicSettings",
    "TracingSettings",
]

ENV_PREFIX = "TASKFACTORY_"
_SECTION = ConfigDict(extra="forbid")


class KafkaSettings(BaseModel):
    """How to reach Kafka."""

    model_config = _SECTION

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Comma-separated host:port list."
    )
    client_id: str = Field(default="taskfactory", description="Kafka client.id prefix.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    request_timeout_ms: int = Field(default=30_000, ge=1_000)


class TemporalSettings(BaseModel):
    """How to reach Temporal."""

    model_config = _SECTION

    address: str = Field(default="127.0.0.1:7233", description="Frontend host:port.")
    namespace: str = "default"
    api_key: SecretStr | None = Field(default=None, description="Temporal Cloud API key.")
    tls: bool = False
    tls_server_ca: Path | None = None
    tls_client_cert: Path | None = None
    tls_client_key: Path | None = None
    orchestrator_task_queue: str = names.TASK_QUEUE_ORCHESTRATOR
    executor_task_queue: str = names.TASK_QUEUE_EXECUTOR


class TopicSettings(BaseModel):
    """Kafka topics taskfactory reads and writes."""

    model_config = _SECTION

    events: str = names.DEFAULT_EVENTS_TOPIC
    results: str = names.DEFAULT_RESULTS_TOPIC
    runs: str = names.DEFAULT_RUNS_TOPIC
    dead_letter: str = names.DEFAULT_DLQ_TOPIC
    partitions: int = Field(
        default=6, ge=1, description="Partitions when taskfactory creates a topic."
    )
    replication_factor: int = Field(default=1, ge=1)


class LoggingSettings(BaseModel):
    """Log level and format."""

    model_config = _SECTION

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "console"] = "json"


class TracingSettings(BaseModel):
    """OpenTelemetry export; off unless an OTLP endpoint is set."""

    model_config = _SECTION

    otlp_endpoint: str | None = Field(
        default=None, description="OTLP gRPC endpoint, e.g. http://127.0.0.1:4317; unset = off."
    )
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)


class HttpSettings(BaseModel):
    """The service's HTTP endpoint: /livez, /readyz, /metrics."""

    model_config = _SECTION

    host: str = "0.0.0.0"  # noqa: S104 - probes reach the pod IP
    port: int = Field(default=8080, ge=0, le=65535, description="0 picks a free port.")


class ServiceSettings(BaseSettings):
    """What every service reads; services subclass it and add their own section."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
    )

    kafka: KafkaSettings = KafkaSettings()
    temporal: TemporalSettings = TemporalSettings()
    topics: TopicSettings = TopicSettings()
    logging: LoggingSettings = LoggingSettings()
    tracing: TracingSettings = TracingSettings()
    http: HttpSettings = HttpSettings()
    definitions_dir: Path = Field(
        default=Path("examples/definitions"),
        description="Folder of ActivityDefinition files (YAML).",
    )
    drain_seconds: float = Field(default=20.0, gt=0, description="Graceful shutdown deadline.")
