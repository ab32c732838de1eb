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
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = (
        Field(default=None, description="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER.")
    )
    sasl_username: str | None = Field(default=None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password (secret).")
    ssl_cafile: Path | None = Field(default=None, description="CA bundle for the brokers' TLS.")
    ssl_certfile: Path | None = Field(default=None, description="Client certificate (mTLS).")
    ssl_keyfile: Path | None = Field(default=None, description="Client private key (mTLS).")
    request_timeout_ms: int = Field(
        default=30_000, ge=1_000, description="Kafka request timeout in milliseconds."
    )


class TemporalSettings(BaseModel):
    """How to reach Temporal."""

    model_config = _SECTION

    address: str = Field(default="127.0.0.1:7233", description="Frontend host:port.")
    namespace: str = Field(default="default", description="Temporal namespace.")
    api_key: SecretStr | None = Field(default=None, description="Temporal Cloud API key.")
    tls: bool = Field(default=False, description="Connect with TLS (implied by the cert settings).")
    tls_server_ca: Path | None = Field(default=None, description="CA of the Temporal frontend.")
    tls_client_cert: Path | None = Field(default=None, description="Client certificate (mTLS).")
    tls_client_key: Path | None = Field(default=None, description="Client private key (mTLS).")
    orchestrator_task_queue: str = Field(
        default=names.TASK_QUEUE_ORCHESTRATOR,
        description="Task queue of the orchestrator's workflows.",
    )
    executor_task_queue: str = Field(
        default=names.TASK_QUEUE_EXECUTOR, description="Task queue of the executor's activities."
    )


class TopicSettings(BaseModel):
    """Kafka topics taskfactory reads and writes."""

    model_config = _SECTION

    events: str = Field(
        default=names.DEFAULT_EVENTS_TOPIC, description="Topic the ingress consumes."
    )
    results: str = Field(
        default=names.DEFAULT_RESULTS_TOPIC, description="Default topic of task results."
    )
    runs: str = Field(default=names.DEFAULT_RUNS_TOPIC, description="Topic of run events.")
    dead_letter: str = Field(
        default=names.DEFAULT_DLQ_TOPIC, description="Where undecodable or rejected events go."
    )
    partitions: int = Field(
        default=6, ge=1, description="Partitions when taskfactory creates a topic."
    )
    replication_factor: int = Field(
        default=1, ge=1, description="Replication factor when taskfactory creates a topic."
    )


class LoggingSettings(BaseModel):
    """Log level and format."""

    model_config = _SECTION

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="DEBUG, INFO, WARNING or ERROR."
    )
    format: Literal["json", "console"] = Field(
        default="json", description="json (one object per line) or console."
    )


class TracingSettings(BaseModel):
    """OpenTelemetry export; off unless an OTLP endpoint is set."""

    model_config = _SECTION

    otlp_endpoint: str | None = Field(
        default=None, description="OTLP gRPC endpoint, e.g. http://127.0.0.1:4317; unset = off."
    )
    sample_ratio: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Parent-based sampling ratio of new traces."
    )


class HttpSettings(BaseModel):
    """The service's HTTP endpoint: /livez, /readyz, /metrics."""

    model_config = _SECTION

    host: str = Field(
        default="0.0.0.0",  # noqa: S104 - probes reach the pod IP
        description="Address of /livez, /readyz and /metrics.",
    )
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
