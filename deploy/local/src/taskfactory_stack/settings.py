"""Where the local stack lives and which loopback ports it uses (``TASKFACTORY_STACK_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Heap", "Port", "StackSettings"]

#: A loopback port the stack listens on.
Port = Annotated[int, Field(ge=1, le=65535)]

#: The -Xmx of a JVM the stack runs (Kafka, Zipkin, the registry, Keycloak).
Heap = Annotated[str, Field(pattern=r"^[1-9][0-9]*[kmgKMG]?$", description="JVM -Xmx (e.g. 512m).")]


class StackSettings(BaseSettings):
    """The local stack's cache folder, versions and ports."""

    model_config = SettingsConfigDict(
        env_prefix="TASKFACTORY_STACK_", frozen=True, use_attribute_docstrings=True
    )

    dir: Path = Path(".stack")
    """Cache of jars, data, pids and logs."""
    profile: Literal["default", "cluster"] = "default"
    """default: one Kafka broker + the Temporal dev server; cluster: three brokers, PostgreSQL and a
    Temporal server on it (TASKFACTORY_STACK_CLUSTER_*)."""
    jars_dir: Path | None = None
    """Where Kafka's jars are cached (default <dir>/kafka)."""
    kafka_version: str = "4.1.0"
    kafka_port: Port = 9092
    kafka_controller_port: Port = 9093
    kafka_heap: Heap = "512m"
    temporal_port: Port = 7233
    temporal_ui_port: Port = 8233
    demo_exit_when_done: bool = False
    """`make run` exits once every example result arrived."""
    demo_dir: Path | None = None
    """Where `make run` keeps its services' pids and logs and the definitions it renders (default
    <dir>); the stack and the plugin cache stay in <dir>."""
    # What runs besides Kafka and Temporal; each one's version, ports and heap follow.
    jaeger: bool = True
    """Run Jaeger (built from its Go module)."""
    zipkin: bool = True
    """Run Zipkin, whose UI shows the traces Jaeger receives (with Jaeger only)."""
    registry: bool = True
    """Run a schema registry (Apicurio Registry, Confluent-compatible API)."""
    keycloak: bool = False
    """Run Keycloak with the taskfactory realm (OAuth client credentials)."""
    jaeger_version: str = "v1.76.0"
    jaeger_ui_port: Port = 16686
    jaeger_otlp_grpc_port: Port = 4317
    jaeger_otlp_http_port: Port = 4318
    jaeger_query_grpc_port: Port = 16685
    jaeger_health_port: Port = 13133
    zipkin_version: str = "3.5.1"
    zipkin_port: Port = 9411
    zipkin_heap: Heap = "256m"
    zipkin_max_spans: PositiveInt = 50_000
    """Spans Zipkin keeps in memory (the oldest go first)."""
    registry_version: str = "3.3.3"
    """Apicurio Registry version (needs a JDK 21+)."""
    registry_fallback_version: str = "3.0.9"
    """Apicurio Registry version run when the machine has no JDK 21+ (runs on 17)."""
    registry_port: Port = 8085
    registry_management_port: Port = 8086
    registry_heap: Heap = "256m"
    keycloak_version: str = "26.5.6"
    keycloak_port: Port = 8180
    keycloak_heap: Heap = "384m"
    start_timeout: PositiveFloat = 120.0
    """Seconds to wait for ready."""

    @property
    def root(self) -> Path:
        """The cache folder as an absolute path."""
        return self.dir.resolve()

    @property
    def demo_root(self) -> Path:
        """Where `make run` keeps its own processes' files, as an absolute path."""
        return (self.demo_dir or self.dir).resolve()
