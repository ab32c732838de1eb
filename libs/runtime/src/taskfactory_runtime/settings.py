"""Settings shared by every service: env vars prefixed ``TASKFACTORY_``, ``__`` nesting.

Each service declares one ``BaseSettings`` subclass of :class:`ServiceSettings`, builds it once
in ``main()`` and passes it down; nothing reads the environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from taskfactory_contracts import names
from taskfactory_contracts.definition_parts import ResultsFormatName, SubjectStrategy
from taskfactory_runtime.secrets import register_secrets_of
from taskfactory_runtime.setting_types import ListenPort, RequestBodyLimit

__all__ = [
    "ENV_PREFIX",
    "CodecServerSettings",
    "HttpSettings",
    "KafkaSettings",
    "LoggingSettings",
    "ResultsSettings",
    "ServiceSettings",
    "TemporalSettings",
    "TopicSettings",
    "TracingSettings",
    "WorkerSection",
]

ENV_PREFIX = "TASKFACTORY_"
# A refused setting never echoes what was given: the input of a section is the whole section,
# secrets included (pydantic prints ``input_value`` otherwise).
_SECTION = ConfigDict(extra="forbid", hide_input_in_errors=True, use_attribute_docstrings=True)


class KafkaSettings(BaseModel):
    """How to reach Kafka."""

    model_config = _SECTION

    bootstrap_servers: str = "127.0.0.1:9092"
    """Comma-separated host:port list."""
    client_id: str = "taskfactory"
    """Kafka client.id prefix."""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."""
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    """PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER."""
    sasl_username: str | None = None
    """SASL user name."""
    sasl_password: SecretStr | None = None
    """SASL password (secret)."""
    sasl_password_file: Path | None = None
    """File holding the SASL password (a secret mount); read at each connect."""
    sasl_oauth_token_provider: str | None = None
    """OAUTHBEARER: `module:callable` taking KafkaSettings and returning an aiokafka
    AbstractTokenProvider; unset = client credentials if a token URL is set, else the token file."""
    sasl_oauth_token_file: Path | None = None
    """OAUTHBEARER: file holding the bearer token, re-read for every token (projected
    service-account tokens rotate)."""
    sasl_oauth_token_url: str | None = None
    """OAUTHBEARER: OAuth 2 token endpoint (client credentials)."""
    sasl_oauth_client_id: str | None = None
    """OAUTHBEARER: client id at the token endpoint."""
    sasl_oauth_client_secret: SecretStr | None = None
    """OAUTHBEARER: client secret at the token endpoint (secret)."""
    sasl_oauth_client_secret_file: Path | None = None
    """OAUTHBEARER: file holding the client secret."""
    sasl_oauth_scope: str | None = None
    """OAUTHBEARER: scope requested from the token endpoint."""
    ssl_cafile: Path | None = None
    """CA bundle for the brokers' TLS."""
    ssl_certfile: Path | None = None
    """Client certificate (mTLS)."""
    ssl_keyfile: Path | None = None
    """Client private key (mTLS)."""
    ssl_check_hostname: bool = True
    """Verify that the broker certificate names the broker host."""
    request_timeout_ms: int = Field(default=30_000, ge=1_000)
    """Kafka request timeout in milliseconds."""
    schema_registry_url: str | None = None
    """Confluent Schema Registry API (comma-separated URLs; Apicurio:
    http://host:port/apis/ccompat/v7); set = Confluent-framed events are read."""
    schema_registry_username: str | None = None
    """Schema registry basic-auth user."""
    schema_registry_password: SecretStr | None = None
    """Schema registry basic-auth password (secret)."""
    schema_registry_password_file: Path | None = None
    """File holding the schema registry password."""
    schema_registry_bearer_token: SecretStr | None = None
    """Bearer token sent to the schema registry (secret)."""
    schema_registry_bearer_token_file: Path | None = None
    """File holding the schema registry bearer token, re-read for every request (projected tokens
    rotate)."""
    schema_registry_ssl_cafile: Path | None = None
    """CA bundle for the schema registry's TLS."""
    schema_registry_ssl_certfile: Path | None = None
    """Client certificate for the schema registry (mTLS)."""
    schema_registry_ssl_keyfile: Path | None = None
    """Client private key for the schema registry (mTLS)."""
    schema_registry_timeout_seconds: PositiveFloat = 10.0
    """Timeout of one schema registry request."""

    @model_validator(mode="after")
    def _coherent_security(self) -> KafkaSettings:
        sasl = self.security_protocol.startswith("SASL_")
        if sasl and self.sasl_mechanism is None:
            raise ValueError(
                f"security_protocol {self.security_protocol} needs "
                "TASKFACTORY_KAFKA__SASL_MECHANISM"
            )
        if not sasl and self.sasl_mechanism is not None:
            raise ValueError(
                f"sasl_mechanism {self.sasl_mechanism} needs security_protocol SASL_SSL or "
                f"SASL_PLAINTEXT (is {self.security_protocol})"
            )
        if self.sasl_password is not None and self.sasl_password_file is not None:
            raise ValueError("set sasl_password or sasl_password_file, not both")
        if self.sasl_oauth_client_secret is not None and self.sasl_oauth_client_secret_file:
            raise ValueError("set sasl_oauth_client_secret or sasl_oauth_client_secret_file")
        return self

    @model_validator(mode="after")
    def _coherent_registry(self) -> KafkaSettings:
        # Basic auth and bearer together are refused where the client is built (a value and
        # its file here): a service that never talks to the registry starts either way.
        if self.schema_registry_password and self.schema_registry_password_file:
            raise ValueError("set schema_registry_password or schema_registry_password_file")
        if self.schema_registry_bearer_token and self.schema_registry_bearer_token_file:
            raise ValueError(
                "set schema_registry_bearer_token or schema_registry_bearer_token_file"
            )
        if self.schema_registry_ssl_keyfile and not self.schema_registry_ssl_certfile:
            raise ValueError("schema_registry_ssl_keyfile needs schema_registry_ssl_certfile")
        return self


class TemporalSettings(BaseModel):
    """How to reach Temporal."""

    model_config = _SECTION

    address: str = "127.0.0.1:7233"
    """Frontend host:port."""
    namespace: str = "default"
    """Temporal namespace."""
    api_key: SecretStr | None = None
    """Temporal Cloud API key."""
    api_key_file: Path | None = None
    """File holding the API key; re-read every secret_refresh_seconds and swapped into the live
    connection when it changes."""
    tls: bool = False
    """Connect with TLS (implied by the cert settings)."""
    tls_server_ca: Path | None = None
    """CA of the Temporal frontend."""
    tls_client_cert: Path | None = None
    """Client certificate (mTLS)."""
    tls_client_key: Path | None = None
    """Client private key (mTLS)."""
    tls_server_name: str | None = None
    """Name the frontend certificate must carry, when it differs from the address host."""
    secret_refresh_seconds: PositiveFloat = 60.0
    """How often the API key file is re-read."""
    encryption_keys: SecretStr | None = None
    """Payload encryption keyring `id:base64(32 bytes)`, comma-separated; set = payloads in Temporal
    are AES-256-GCM encrypted (secret)."""
    encryption_keys_file: Path | None = None
    """File holding the encryption keyring (one `id:key` a line)."""
    encryption_key_id: str | None = None
    """Key id new payloads are sealed with (default: the last listed); old ids stay for reading."""
    orchestrator_task_queue: str = names.TASK_QUEUE_ORCHESTRATOR
    """Task queue of the orchestrator's workflows."""
    executor_task_queue: str = names.TASK_QUEUE_EXECUTOR
    """Task queue of the executor's activities."""

    @model_validator(mode="after")
    def _coherent_security(self) -> TemporalSettings:
        if self.api_key is not None and self.api_key_file is not None:
            raise ValueError("set api_key or api_key_file, not both")
        if self.encryption_keys is not None and self.encryption_keys_file is not None:
            raise ValueError("set encryption_keys or encryption_keys_file, not both")
        if (self.tls_client_cert is None) != (self.tls_client_key is None):
            raise ValueError("mTLS needs both tls_client_cert and tls_client_key")
        return self


class TopicSettings(BaseModel):
    """Kafka topics taskfactory reads and writes."""

    model_config = _SECTION

    events: str = names.DEFAULT_EVENTS_TOPIC
    """Topic the ingress consumes."""
    results: str = names.DEFAULT_RESULTS_TOPIC
    """Default topic of task results."""
    runs: str = names.DEFAULT_RUNS_TOPIC
    """Topic of run events."""
    dead_letter: str = names.DEFAULT_DLQ_TOPIC
    """Where undecodable or rejected events go."""
    partitions: PositiveInt = 6
    """Partitions when taskfactory creates a topic."""
    replication_factor: PositiveInt = 1
    """Replication factor when taskfactory creates a topic."""


class ResultsSettings(BaseModel):
    """The wire format of the task results and run events taskfactory publishes."""

    model_config = _SECTION

    format: ResultsFormatName = "single-object"
    """single-object (Avro single-object encoding), confluent (Avro with the schema registry's id;
    needs kafka.schema_registry_url) or cloudevents (binary mode: ce_* headers, JSON data)."""
    subject_strategy: SubjectStrategy = "topic"
    """confluent: the subject the schema is registered under: topic = <topic>-value
    (TopicNameStrategy), record = the record's full name (RecordNameStrategy)."""


class LoggingSettings(BaseModel):
    """Log level and format."""

    model_config = _SECTION

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """DEBUG, INFO, WARNING or ERROR."""
    format: Literal["json", "console"] = "json"
    """json (one object per line) or console."""


class TracingSettings(BaseModel):
    """OpenTelemetry export; off unless an OTLP endpoint is set."""

    model_config = _SECTION

    otlp_endpoint: str | None = None
    """OTLP gRPC endpoint, e.g. http://127.0.0.1:4317; unset = off."""
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    """Parent-based sampling ratio of new traces."""


class HttpSettings(BaseModel):
    """The service's HTTP endpoint: /livez, /readyz, /metrics."""

    model_config = _SECTION

    host: str = "0.0.0.0"  # noqa: S104 - probes reach the pod IP
    """Address of /livez, /readyz and /metrics."""
    port: ListenPort = 8080


class CodecServerSettings(BaseModel):
    """The codec server the Temporal UI calls to decode encrypted payloads in the browser."""

    model_config = _SECTION

    host: str = "127.0.0.1"
    """Address of the codec server."""
    port: ListenPort = 8888
    cors_origins: str = "http://127.0.0.1:8233"
    """Comma-separated origins (the Temporal UI) allowed to call it."""
    auth_token: SecretStr | None = None
    """Bearer token every decode request must carry (secret); unset = refuse all."""
    auth_token_file: Path | None = None
    """File holding the bearer token; read per request."""
    oidc_issuer: str | None = None
    """OpenID Connect issuer whose signed access tokens are accepted as bearer tokens too (keys from
    its JWKS); needs oidc_audience."""
    oidc_audience: str | None = None
    """Audience (aud) the issuer's tokens must carry."""
    max_request_bytes: RequestBodyLimit = Field(default=4 * 1024 * 1024, ge=1024)


class WorkerSection(BaseModel):
    """What the executor's and the orchestrator's sections share: their Temporal worker's
    activity slots and how it publishes results and run events once (``runtime.once``)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    max_concurrent_activities: PositiveInt = 100
    """Activities (the executor's: tasks) one replica runs at once."""
    publish_lease_seconds: float = Field(default=15.0, ge=2.0)
    """Bound of one publish attempt: a record is written or failed within it; a retried publish
    waits this long, then looks for the record before sending it again."""
    clock_skew_seconds: NonNegativeFloat = 60.0
    """How far the hosts' clocks may be apart (widens the publish check)."""


class ServiceSettings(BaseSettings):
    """What every service reads; services subclass it and add their own section."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
        use_attribute_docstrings=True,
    )

    kafka: KafkaSettings = KafkaSettings()
    temporal: TemporalSettings = TemporalSettings()
    topics: TopicSettings = TopicSettings()
    results: ResultsSettings = ResultsSettings()
    logging: LoggingSettings = LoggingSettings()
    tracing: TracingSettings = TracingSettings()
    http: HttpSettings = HttpSettings()
    codec_server: CodecServerSettings = CodecServerSettings()
    definitions_dir: Path = Path("examples/definitions")
    """Folder of ActivityDefinition files (YAML)."""
    definitions_max_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Largest definition file loaded (at start and on reload); larger is refused."""
    drain_seconds: PositiveFloat = 20.0
    """Graceful shutdown deadline."""

    @model_validator(mode="after")
    def _register_secrets(self) -> ServiceSettings:
        # The log renderer scrubs every registered value from every line it writes: every
        # secret of every section (a service's own ones too), inline or in a file.
        register_secrets_of(self)
        return self
