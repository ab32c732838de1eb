"""The ingress service in this test process (its own ``app.run``) on a one-partition topic of the
real broker, and how tests talk to it: send records, read the group's commit and dead letters,
ask Temporal whether a run exists."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from temporalio.client import Client
from temporalio.service import RPCError

from support.session import new_uid as tf_new_uid
from taskfactory_contracts import names
from taskfactory_ingress import app
from taskfactory_ingress.settings import IngressSection, IngressSettings
from taskfactory_runtime.kafka import client_kwargs, ensure_topics
from taskfactory_runtime.settings import (
    HttpSettings,
    KafkaSettings,
    TemporalSettings,
    TopicSettings,
)
from taskfactory_stack.process import free_port

__all__ = ["Headers", "Ingress", "new_uid", "running_ingress"]

Headers = list[tuple[str, bytes]]


@dataclass
class Ingress:
    """The running ingress of this module and how to talk to its topic."""

    uid: str
    kafka: KafkaSettings
    topic: str
    dead_letter: str
    group: str
    client: Client
    producer: AIOKafkaProducer
    port: int

    async def send(self, key: bytes | None, value: bytes | None, headers: Headers) -> int:
        """Publish one record; its offset."""
        if key is None and value is None:
            return await self._send_null_record()
        meta = await self.producer.send_and_wait(self.topic, value=value, key=key, headers=headers)
        return int(meta.offset)

    async def _send_null_record(self) -> int:
        # Kafka carries a record with neither key nor value; aiokafka's send() only refuses it
        # with an assert, so a producer process without asserts (python -O) sends it.
        script = (
            "import asyncio, sys\n"
            "from aiokafka import AIOKafkaProducer\n"
            "async def main():\n"
            "    p = AIOKafkaProducer(bootstrap_servers=sys.argv[1], acks='all')\n"
            "    await p.start()\n"
            "    meta = await p.send_and_wait(sys.argv[2], value=None, key=None)\n"
            "    await p.stop()\n"
            "    print(meta.offset)\n"
            "asyncio.run(main())\n"
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-O",
            "-c",
            script,
            self.kafka.bootstrap_servers,
            self.topic,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0
        return int(out.decode().strip().splitlines()[-1])

    async def committed(self) -> int:
        admin = AIOKafkaAdminClient(**client_kwargs(self.kafka))
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(self.group)
        finally:
            await admin.close()
        meta = offsets.get(TopicPartition(self.topic, 0))
        return -1 if meta is None else int(meta.offset)

    async def dead_letter_at(self, offset: int) -> ConsumerRecord[bytes, bytes]:
        """The dead letter of source offset ``offset`` (waits for it)."""
        consumer = AIOKafkaConsumer(
            self.dead_letter,
            **client_kwargs(self.kafka),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            async with asyncio.timeout(30):
                while True:
                    batch = await consumer.getmany(timeout_ms=500)
                    for records in batch.values():
                        for record in records:
                            headers = dict(record.headers)
                            if headers.get(names.HEADER_SOURCE_OFFSET) == str(offset).encode():
                                return record
        finally:
            await consumer.stop()

    async def has_run(self, workflow_id: str) -> bool:
        try:
            await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError:
            return False
        return True


def _fill_in_uid(folder: Path, uid: str) -> None:
    for path in folder.iterdir():
        path.write_text(path.read_text().replace("{uid}", uid))


def new_uid() -> str:
    """A unique prefix for one ingress's topics, group, queues and workflow ids."""
    return tf_new_uid("h")


@contextlib.asynccontextmanager
async def running_ingress(
    kafka_bootstrap: str,
    temporal_address: str,
    definitions: Path,
    uid: str | None = None,
    **section: Any,
) -> AsyncIterator[Ingress]:
    """The ingress on a fresh one-partition topic ``<uid>.events`` (dead letters on
    ``<uid>.events.dlq``), routing with the files in ``definitions`` (whose text may use
    ``{uid}``, replaced by the run's unique prefix)."""
    uid = uid or new_uid()
    _fill_in_uid(definitions, uid)
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    topic, dead_letter = f"{uid}.events", f"{uid}.events.dlq"
    await ensure_topics(kafka, [topic, dead_letter], partitions=1, replication_factor=1)
    port = free_port()
    settings = IngressSettings(
        kafka=kafka,
        temporal=TemporalSettings(
            address=temporal_address,
            orchestrator_task_queue=f"{uid}-orchestrator",
            executor_task_queue=f"{uid}-executor",
        ),
        topics=TopicSettings(events=topic, dead_letter=dead_letter, partitions=1),
        http=HttpSettings(host="127.0.0.1", port=port),
        definitions_dir=definitions,
        ingress=IngressSection(group_id=f"{uid}-ingress", commit_interval_seconds=0.05, **section),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(app.run(settings, stop))
    kwargs = client_kwargs(kafka)
    kwargs.pop("request_timeout_ms")
    producer = AIOKafkaProducer(**kwargs, acks="all", linger_ms=20)
    await producer.start()
    client = await Client.connect(temporal_address)
    try:
        yield Ingress(uid, kafka, topic, dead_letter, f"{uid}-ingress", client, producer, port)
    finally:
        await producer.stop()
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(running, 60)
