"""The cluster profile: PostgreSQL, a Temporal server on it and three Kafka brokers.

It is the production shape of the stack (many history shards, SQL persistence and advanced
visibility, replicated topics) on loopback ports of its own, so it runs beside the default
profile. Its pids, logs, configuration and Kafka data live in ``<dir>/cluster``; the Kafka jars
and the Jaeger binary are shared with the default profile.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from taskfactory_stack.settings import Heap, Port, StackSettings

__all__ = ["BROKERS", "ClusterSettings", "cluster_stack_settings"]

#: Kafka brokers of the cluster profile (each a combined KRaft controller + broker).
BROKERS = 3


class ClusterSettings(BaseSettings):
    """Ports, versions and sizes of the cluster profile (``TASKFACTORY_STACK_CLUSTER_*``)."""

    model_config = SettingsConfigDict(
        env_prefix="TASKFACTORY_STACK_CLUSTER_", frozen=True, use_attribute_docstrings=True
    )

    kafka_port: int = Field(default=19092, ge=1, le=65533)
    """Port of broker 1; brokers 2 and 3 take +1, +2."""
    kafka_controller_port: int = Field(default=19192, ge=1, le=65533)
    """KRaft controller port of broker 1 (+1, +2)."""
    # 256m ran out of heap recovering ~2 600 partitions after a SIGKILL.
    kafka_heap: Heap = "512m"
    min_insync_replicas: int = Field(default=2, ge=1, le=BROKERS)
    postgres_port: Port = 5442
    postgres_dir: Path | None = None
    """PostgreSQL's data directory (default /var/tmp/taskfactory-pg-<hash of <dir>>: the postgres
    user, which the server runs as under root, must reach it)."""
    temporal_version: str = "v1.32.1"
    """go.temporal.io/server version (built with `go build`)."""
    temporal_port: int = Field(default=7243, ge=1, le=65531)
    """Frontend gRPC port; +1 HTTP, +2..+4 internal."""
    temporal_membership_port: int = Field(default=6943, ge=1, le=65532)
    """Membership port of the frontend (+1..+3)."""
    history_shards: int = Field(default=8, ge=1)
    """numHistoryShards (fixed when the schema is first set up)."""
    namespace: str = "default"
    retention_hours: int = Field(default=24, ge=1)
    """Namespace retention: the dedupe horizon of closed runs."""
    jaeger_port_offset: int = Field(default=10, ge=1)
    """Jaeger's and the registry's ports are the default profile's plus this."""

    def broker_ports(self, node: int) -> tuple[int, int]:
        """(client, controller) port of broker ``node`` (1-based)."""
        return self.kafka_port + node - 1, self.kafka_controller_port + node - 1

    @property
    def bootstrap(self) -> str:
        """Every broker's address, comma-separated."""
        return ",".join(f"127.0.0.1:{self.broker_ports(n)[0]}" for n in range(1, BROKERS + 1))

    @property
    def voters(self) -> str:
        """``controller.quorum.voters`` of the three combined nodes."""
        return ",".join(f"{n}@127.0.0.1:{self.broker_ports(n)[1]}" for n in range(1, BROKERS + 1))


def cluster_stack_settings(settings: StackSettings) -> StackSettings:
    """``settings`` moved to ``<dir>/cluster``, sharing the default profile's downloads."""
    offset = ClusterSettings().jaeger_port_offset
    root = settings.root
    return settings.model_copy(
        update={
            "dir": root / "cluster",
            "jars_dir": settings.jars_dir.resolve() if settings.jars_dir else root / "kafka",
            "jaeger_ui_port": settings.jaeger_ui_port + offset,
            "jaeger_otlp_grpc_port": settings.jaeger_otlp_grpc_port + offset,
            "jaeger_otlp_http_port": settings.jaeger_otlp_http_port + offset,
            "jaeger_query_grpc_port": settings.jaeger_query_grpc_port + offset,
            "jaeger_health_port": settings.jaeger_health_port + offset,
            "registry_port": settings.registry_port + offset,
            "registry_management_port": settings.registry_management_port + offset,
            # Three JVMs, the Go build and the schema setup share two cores.
            "start_timeout": max(settings.start_timeout, 240.0),
        }
    )
