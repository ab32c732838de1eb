"""One of the cluster profile's three Kafka nodes (KRaft, combined controller + broker)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from taskfactory_stack.cluster import BROKERS, ClusterSettings
from taskfactory_stack.component import packaged_file
from taskfactory_stack.components import KafkaComponent, _cluster_id

__all__ = ["KafkaBroker"]


@dataclass
class KafkaBroker(KafkaComponent):
    """Broker ``node`` of three; the last one to start waits until all three are registered.

    A KRaft quorum of three needs two voters, so the first two nodes cannot be ready on their
    own: they are started without waiting and the third one's start waits for the whole cluster
    (all three registered, and a group coordinator elected).
    """

    node: int = 1
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    _awaiting_all: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self.name = f"kafka-{self.node}"

    @property
    def ports(self) -> tuple[int, ...]:
        return self.cluster.broker_ports(self.node)

    @property
    def port_setting(self) -> str:
        return "TASKFACTORY_STACK_CLUSTER_KAFKA_PORT"

    @property
    def conf(self) -> Path:
        return self.settings.root / "kafka" / f"conf-{self.node}"

    @property
    def data(self) -> Path:
        return self.settings.root / "kafka" / f"data-{self.node}"

    def _config(self) -> Path:
        self.conf.mkdir(parents=True, exist_ok=True)
        conf = self.conf / "server.properties"
        client, controller = self.ports
        conf.write_text(
            packaged_file("cluster-server.properties")
            .replace("@NODE_ID@", str(self.node))
            .replace("@VOTERS@", self.cluster.voters)
            .replace("@PORT@", str(client))
            .replace("@CONTROLLER_PORT@", str(controller))
            .replace("@DATA_DIR@", str(self.data))
            .replace("@MIN_INSYNC@", str(self.cluster.min_insync_replicas))
        )
        (self.conf / "log4j2.yaml").write_text(packaged_file("log4j2.yaml"))
        return conf

    def _java(self) -> list[str]:
        heap = f"-Xmx{self.cluster.kafka_heap}"
        return [heap if arg.startswith("-Xmx") else arg for arg in super()._java()]

    def _new_cluster_id(self) -> str:
        # The three nodes must be formatted with the same cluster id.
        path = self.settings.root / "kafka" / "cluster-id"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_cluster_id())
        return path.read_text().strip()

    def up(self) -> bool:
        self._awaiting_all = self.node == BROKERS
        try:
            return super().up()
        finally:
            self._awaiting_all = False

    def wait_ready(self) -> None:
        if self.node < BROKERS:
            return  # no quorum yet: the last node's start waits for every node
        super().wait_ready()

    async def probe(self) -> str | None:
        import logging

        from aiokafka.admin import AIOKafkaAdminClient

        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        want = set(range(1, BROKERS + 1)) if self._awaiting_all else {self.node}
        bootstrap = self.cluster.bootstrap if self._awaiting_all else self.address
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=3000, client_id="stack-probe"
        )
        try:
            await asyncio.wait_for(admin.start(), 5)
            cluster = await asyncio.wait_for(admin.describe_cluster(), 5)
            registered = {int(b["node_id"]) for b in cluster.get("brokers", [])}
            missing = want - registered
            if missing:
                return f"broker(s) {sorted(missing)} not registered yet"
            if self._awaiting_all:
                # Consumer groups need __consumer_offsets (3 replicas) and its leaders: the
                # first lookup creates it, and the cluster is ready once one succeeds.
                await asyncio.wait_for(admin.find_coordinator("taskfactory-stack-probe"), 5)
            return None
        except Exception as exc:  # any failure means "not ready yet"
            return f"{type(exc).__name__}: {exc}"
        finally:
            await admin.close()
