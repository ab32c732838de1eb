"""Where the local stack lives and which loopback ports it uses (``TASKFACTORY_STACK_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Port", "StackSettings"]

#: A loopback port the stack listens on.
Port = Annotated[int, Field(ge=1, le=65535)]


class StackSettings(BaseSettings):
    """The local stack's cache folder, versions and ports."""

    model_config = SettingsConfigDict(env_prefix="TASKFACTORY_STACK_", frozen=True)

    dir: Path = Field(default=Path(".stack"), description="Cache of jars, data, pids and logs.")
    profile: Literal["default", "cluster"] = Field(
        default="default",
        description="default: one Kafka broker + the Temporal dev server; cluster: three "
        "brokers, PostgreSQL and a Temporal server on it (TASKFACTORY_STACK_CLUSTER_*).",
    )
    jars_dir: Path | None = Field(
        default=None, description="Where Kafka's jars are cached (default <dir>/kafka)."
    )
    kafka_version: str = "4.1.0"
    kafka_port: Port = 9092
    kafka_controller_port: Port = 9093
    kafka_heap: str = Field(default="512m", description="JVM -Xmx of the broker.")
    temporal_port: Port = 7233
    temporal_ui_port: Port = 8233
    demo_exit_when_done: bool = Field(
        default=False, description="`make run` exits once every example result arrived."
    )
    demo_dir: Path | None = Field(
        default=None,
        description="Where `make run` keeps its services' pids and logs and the definitions it "
        "renders (default <dir>); the stack and the plugin cache stay in <dir>.",
    )
    jaeger: bool = Field(default=True, description="Run Jaeger (built from its Go module).")
    jaeger_version: str = "v1.76.0"
    jaeger_ui_port: Port = 16686
    jaeger_otlp_grpc_port: Port = 4317
    jaeger_otlp_http_port: Port = 4318
    jaeger_query_grpc_port: Port = 16685
    jaeger_health_port: Port = 13133
    zipkin: bool = Field(
        default=True,
        description="Run Zipkin, whose UI shows the traces Jaeger receives (with Jaeger only).",
    )
    zipkin_version: str = "3.5.1"
    zipkin_port: Port = 9411
    zipkin_heap: str = Field(default="256m", description="JVM -Xmx of Zipkin.")
    zipkin_max_spans: PositiveInt = Field(
        default=50_000, description="Spans Zipkin keeps in memory (the oldest go first)."
    )
    registry: bool = Field(
        default=True,
        description="Run a schema registry (Apicurio Registry, Confluent-compatible API).",
    )
    registry_version: str = Field(
        default="3.3.3", description="Apicurio Registry version (needs a JDK 21+)."
    )
    registry_fallback_version: str = Field(
        default="3.0.9",
        description="Apicurio Registry version run when the machine has no JDK 21+ (runs on 17).",
    )
    registry_port: Port = 8085
    registry_management_port: Port = 8086
    registry_heap: str = Field(default="256m", description="JVM -Xmx of the schema registry.")
    keycloak: bool = Field(
        default=False,
        description="Run Keycloak with the taskfactory realm (OAuth client credentials).",
    )
    keycloak_version: str = "26.5.6"
    keycloak_port: Port = 8180
    keycloak_heap: str = Field(default="384m", description="JVM -Xmx of Keycloak.")
    start_timeout: PositiveFloat = Field(default=120.0, description="Seconds to wait for ready.")

    @property
    def root(self) -> Path:
        """The cache folder as an absolute path."""
        return self.dir.resolve()

    @property
    def demo_root(self) -> Path:
        """Where `make run` keeps its own processes' files, as an absolute path."""
        return (self.demo_dir or self.dir).resolve()
