"""The Temporal server built from its Go module, on PostgreSQL (persistence + SQL visibility).

``go.temporal.io/server`` ``cmd/server`` and ``cmd/tools/sql`` are built once per version into
``<dir>/cluster/temporal/<version>/``; the SQL tool creates both databases and their schemas
(embedded in the tool) before the first start and again when ``history_shards`` changes (the
shard count is fixed for the life of a database). Each ``up`` registers the namespace and
taskfactory's search attributes if they are missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from taskfactory_contracts import names
from taskfactory_stack.cluster import ClusterSettings
from taskfactory_stack.component import Component, packaged_file
from taskfactory_stack.errors import StackError
from taskfactory_stack.gobuild import build_go_command
from taskfactory_stack.postgres import POSTGRES_USER, PostgresComponent
from taskfactory_stack.process import run_tool, tail

if TYPE_CHECKING:
    from temporalio.client import Client

__all__ = ["TEMPORAL_MODULE", "TemporalServerComponent"]

TEMPORAL_MODULE = "go.temporal.io/server"
_DATABASES = {
    "temporal": "postgresql/v12/temporal",
    "temporal_visibility": "postgresql/v12/visibility",
}


@dataclass
class TemporalServerComponent(Component):
    """Frontend, history, matching and worker services in one ``temporal-server`` process."""

    name: str = "temporal-server"
    #: The Temporal services the process runs.
    services: ClassVar[tuple[str, ...]] = ("frontend", "history", "matching", "worker")
    cluster: ClusterSettings = field(default_factory=ClusterSettings)

    @property
    def ports(self) -> tuple[int, ...]:
        # Each service binds a gRPC and a membership port in a row; the frontend also HTTP.
        grpc = self.cluster.temporal_port
        membership = self.cluster.temporal_membership_port
        count = len(self.services)
        return (*range(grpc, grpc + count + 1), *range(membership, membership + count))

    @property
    def port_setting(self) -> str:
        return "TASKFACTORY_STACK_CLUSTER_TEMPORAL_PORT"

    @property
    def extra(self) -> str:
        c = self.cluster
        return f"{c.history_shards} shards, namespace {c.namespace}, PostgreSQL visibility"

    @property
    def home(self) -> Path:
        """The built binaries of this version (cached across `down`/`up`)."""
        return self.settings.root / "temporal" / self.cluster.temporal_version

    @property
    def config_file(self) -> Path:
        """The rendered server configuration."""
        return self.settings.root / "temporal" / "config.yaml"

    def prepare(self) -> None:
        for package, binary in (
            ("./cmd/server", "temporal-server"),
            ("./cmd/tools/sql", "temporal-sql-tool"),
        ):
            if not (self.home / binary).exists():
                build_go_command(
                    self.name,
                    TEMPORAL_MODULE,
                    self.cluster.temporal_version,
                    package,
                    self.home / binary,
                )
        self.write_config()

    def write_config(self) -> None:
        """Render the server's configuration and dynamic configuration."""
        dynamic = self.config_file.with_name("dynamic.yaml")
        dynamic.parent.mkdir(parents=True, exist_ok=True)
        dynamic.write_text(packaged_file("cluster-temporal-dynamic.yaml"))
        c = self.cluster
        grpc, member = c.temporal_port, c.temporal_membership_port
        values = {
            "SHARDS": c.history_shards,
            "PG_PORT": c.postgres_port,
            "PG_USER": POSTGRES_USER,
            "FRONTEND_PORT": grpc,
            "HTTP_PORT": grpc + 1,
            "HISTORY_PORT": grpc + 2,
            "MATCHING_PORT": grpc + 3,
            "WORKER_PORT": grpc + 4,
            "FRONTEND_MEMBERSHIP_PORT": member,
            "HISTORY_MEMBERSHIP_PORT": member + 1,
            "MATCHING_MEMBERSHIP_PORT": member + 2,
            "WORKER_MEMBERSHIP_PORT": member + 3,
            "DYNAMIC_CONFIG": dynamic,
        }
        text = packaged_file("cluster-temporal.yaml")
        for key, value in values.items():
            text = text.replace(f"@{key}@", str(value))
        self.config_file.write_text(text)

    def _sql_tool(self, database: str, *args: str) -> None:
        argv = [
            str(self.home / "temporal-sql-tool"),
            "--plugin",
            "postgres12",
            "--endpoint",
            "127.0.0.1",
            "--port",
            str(self.cluster.postgres_port),
            "--user",
            POSTGRES_USER,
            "--password",
            "temporal",
            "--database",
            database,
            *args,
        ]
        run_tool(argv, f"{self.name}: temporal-sql-tool {' '.join(args)} on {database} failed")

    def _schema_marker(self) -> tuple[Path, dict[str, object]]:
        pg = PostgresComponent(self.settings, cluster=self.cluster)
        # The inode of PG_VERSION names one initdb: a re-created data directory is empty again.
        identity = (pg.data / "PG_VERSION").stat().st_ino
        wanted = {
            "postgres": f"{pg.data}#{identity}",
            "shards": self.cluster.history_shards,
            "version": self.cluster.temporal_version,
        }
        return self.settings.root / "temporal" / "schema.json", wanted

    def setup_schema(self) -> None:
        """Create the databases and schemas, or bring them to this server version."""
        marker, wanted = self._schema_marker()
        try:
            done = json.loads(marker.read_text())
        except (OSError, ValueError):
            done = {}
        if done == wanted:
            return
        fresh = {k: v for k, v in done.items() if k != "version"} != {
            k: v for k, v in wanted.items() if k != "version"
        }
        for database, schema in _DATABASES.items():
            if fresh:
                if done.get("postgres") == wanted["postgres"]:
                    print(
                        f"{self.name}: history shards {done.get('shards')} → "
                        f"{wanted['shards']}: re-creating {database}",
                        flush=True,
                    )
                self._sql_tool(database, "drop-database", "--force")
                self._sql_tool(database, "create-database")
                self._sql_tool(database, "setup-schema", "--version", "0.0")
            self._sql_tool(database, "update-schema", "--schema-name", schema)
        marker.write_text(json.dumps(wanted))

    def up(self) -> bool:
        if self.process.pid() is not None:
            return False
        self.prepare()
        self.setup_schema()
        return super().up()

    def argv(self) -> tuple[list[str], dict[str, str]]:
        return [
            str(self.home / "temporal-server"),
            "--config-file",
            str(self.config_file),
            *self.start_args(),
        ], dict(os.environ)

    def start_args(self) -> list[str]:
        """What follows the configuration file: the ``start`` command and its flags."""
        return ["--allow-no-auth", "start"]

    def wait_ready(self) -> None:
        """Register the namespace and search attributes once the frontend answers, then probe."""
        deadline = time.monotonic() + self.settings.start_timeout
        reason = "not tried"
        while time.monotonic() < deadline:
            if self.process.pid() is None:
                break
            try:
                asyncio.run(self.register())
                break
            except Exception as exc:  # the frontend is not serving yet
                reason = f"{type(exc).__name__}: {exc}"
                time.sleep(0.5)
        else:
            self.process.stop()
            raise StackError(
                f"{self.name}: could not register namespace {self.cluster.namespace} in "
                f"{self.settings.start_timeout:.0f}s ({reason}); last log lines:\n"
                f"{tail(self.process.log_file)}"
            )
        super().wait_ready()

    async def connect(self) -> Client:
        """A client on the namespace, as the stack's own tooling connects."""
        from temporalio.client import Client

        return await Client.connect(self.address, namespace=self.cluster.namespace)

    async def register(self) -> None:
        """The namespace (retention = the dedupe horizon) and taskfactory's search attributes."""
        from google.protobuf.duration_pb2 import Duration
        from temporalio.api.enums.v1 import IndexedValueType
        from temporalio.api.operatorservice.v1 import (
            AddSearchAttributesRequest,
            ListSearchAttributesRequest,
        )
        from temporalio.api.workflowservice.v1 import (
            DescribeNamespaceRequest,
            RegisterNamespaceRequest,
        )
        from temporalio.service import RPCError, RPCStatusCode

        ns = self.cluster.namespace
        client = await asyncio.wait_for(self.connect(), 5)
        try:
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=ns))
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            retention = Duration(seconds=self.cluster.retention_hours * 3600)
            await client.workflow_service.register_namespace(
                RegisterNamespaceRequest(
                    namespace=ns, workflow_execution_retention_period=retention
                )
            )
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=ns)
        )
        missing = [a for a in names.SEARCH_ATTRIBUTES if a not in listed.custom_attributes]
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=ns,
                    search_attributes=dict.fromkeys(
                        missing, IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                    ),
                )
            )

    async def probe(self) -> str | None:
        """A visibility query on a taskfactory search attribute (needs advanced visibility)."""
        from temporalio.api.workflowservice.v1 import CountWorkflowExecutionsRequest

        query = f"{names.SEARCH_ATTRIBUTES[0]} = 'stack-probe'"
        try:
            client = await asyncio.wait_for(self.connect(), 5)
            await asyncio.wait_for(
                client.workflow_service.count_workflow_executions(
                    CountWorkflowExecutionsRequest(namespace=self.cluster.namespace, query=query)
                ),
                5,
            )
            return None
        except Exception as exc:  # any failure means "not ready yet"
            return f"{type(exc).__name__}: {exc}"
