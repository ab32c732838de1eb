"""Helpers for the integration and e2e tests: produce, consume, wait for a condition."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from temporalio.api.batch.v1 import BatchOperationTermination
from temporalio.api.enums.v1 import BatchOperationState
from temporalio.api.workflowservice.v1 import (
    DescribeBatchOperationRequest,
    StartBatchOperationRequest,
)
from temporalio.client import Client

from taskfactory_contracts import AvroCodec, Envelope
from taskfactory_runtime.kafka import client_kwargs, topic_partitions
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.process import TrackedProcess
from taskfactory_stack.services import LOOPBACK_EGRESS_ENV, SERVICES, ServiceSet

__all__ = [
    "RunningServices",
    "committed_total",
    "consume",
    "echo_definition",
    "end_offsets_total",
    "envelope",
    "free_port",
    "hold_for",
    "metric_families",
    "produce",
    "produce_envelopes",
    "wait_for",
]


#: This test session's mark: every test's uid starts with a letter and it, so whatever the
#: session leaves running (runs whose test stopped their workers, approvals nobody gave) is
#: found by one visibility query and ended when the session ends.
SESSION = uuid.uuid4().hex[:4]
UID_LETTERS = ("t", "h")


def new_uid(letter: str = "t") -> str:
    """A short id unique to one test: prefixes its topics, groups, queues and workflow ids."""
    assert letter in UID_LETTERS
    return letter + SESSION + uuid.uuid4().hex[:6]


async def end_session_runs(temporal_address: str, *, namespace: str = "default") -> int:
    """Terminate the runs this session's tests left running (one batch operation, awaited),
    so the Temporal that ``make run`` shows next holds none of them; returns how many."""
    client = await Client.connect(temporal_address, namespace=namespace)
    mine = " OR ".join(f"TaskQueue STARTS_WITH '{letter}{SESSION}'" for letter in UID_LETTERS)
    query = f"ExecutionStatus = 'Running' AND ({mine})"
    left = (await client.count_workflows(query)).count
    if left == 0:
        return 0
    job = f"test-session-{SESSION}-{uuid.uuid4().hex[:6]}"
    service = client.workflow_service
    await service.start_batch_operation(
        StartBatchOperationRequest(
            namespace=namespace,
            job_id=job,
            visibility_query=query,
            reason="the test session that started these runs ended",
            termination_operation=BatchOperationTermination(),
        )
    )

    async def finished() -> bool:
        described = await service.describe_batch_operation(
            DescribeBatchOperationRequest(namespace=namespace, job_id=job)
        )
        return described.state != BatchOperationState.BATCH_OPERATION_STATE_RUNNING

    await wait_for(finished, timeout=300, what=f"terminating {left} runs left running", interval=1)
    return left


async def wait_for(
    condition: Callable[[], Awaitable[bool]], *, timeout: float, what: str, interval: float = 0.2
) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if await condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


def envelope(
    i: int, *, uid: str, type_: str = "com.example.test.requested", **kw: object
) -> Envelope:
    """A valid test envelope with a distinct id and subject."""
    fields: dict[str, object] = {
        "id": f"{uid}-event-{i}",
        "source": "/tests",
        "type": type_,
        "subject": f"subject-{i}",
        "time": datetime.now(UTC),
        "data": json.dumps({"n": i}).encode(),
    }
    fields.update(kw)
    return Envelope.model_validate(fields)


async def produce(
    kafka: KafkaSettings,
    topic: str,
    records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]],
) -> None:
    """Publish raw (key, value, headers) records and wait for every ack."""
    kwargs = client_kwargs(kafka)
    kwargs.pop("request_timeout_ms")
    producer = AIOKafkaProducer(**kwargs, acks="all")
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=value, key=key, headers=headers)
            for key, value, headers in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def produce_envelopes(kafka: KafkaSettings, topic: str, envelopes: list[Envelope]) -> None:
    """Publish envelopes as Avro single-object records keyed by subject."""
    codec = AvroCodec()
    await produce(
        kafka, topic, [(e.subject.encode(), codec.encode_envelope(e), []) for e in envelopes]
    )


async def consume(
    kafka: KafkaSettings, topic: str, *, at_least: int, timeout: float
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` from the beginning, once there are ``at_least`` of them."""
    consumer = AIOKafkaConsumer(
        topic, **client_kwargs(kafka), auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    out: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(out) < at_least:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f}s: {len(out)} of {at_least} records on {topic}"
                )
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                out.extend(records)
    finally:
        await consumer.stop()
    return out


async def end_offsets_total(kafka: KafkaSettings, topic: str) -> int:
    """How many records ``topic`` holds (sum of end offsets; topics are never compacted here)."""
    consumer = AIOKafkaConsumer(**client_kwargs(kafka), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        ends = await consumer.end_offsets(tps)
        return int(sum(ends.values()))
    finally:
        await consumer.stop()


async def committed_total(kafka: KafkaSettings, group: str, topic: str) -> int:
    """Sum of the committed offsets of ``group`` on ``topic``."""
    admin = AIOKafkaAdminClient(**client_kwargs(kafka))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningServices:
    """The three services of one test as processes, with their HTTP ports."""

    def __init__(self, root: Path, env: dict[str, str], *, group: str) -> None:
        self.root = root
        self.set = ServiceSet(root)
        self.ports = {name: free_port() for name in SERVICES}
        self.group = group
        # The tests' stand-in HTTP servers listen on 127.0.0.1 (refused by default).
        self.env = {**LOOPBACK_EGRESS_ENV, **env}
        self.definitions = root / "definitions"
        self.definitions.mkdir(exist_ok=True)
        self.replicas: list[ServiceSet] = []

    def start(
        self, only: tuple[str, ...] = SERVICES, *, own: dict[str, dict[str, str]] | None = None
    ) -> None:
        """Start the services (write definitions into ``self.definitions`` first).

        ``own`` adds environment of single services (e.g. each one's Kafka credentials).
        """
        per_service = {
            n: {"TASKFACTORY_HTTP__PORT": str(p), **(own or {}).get(n, {})}
            for n, p in self.ports.items()
        }
        self.set.start(self.env, cwd=self.root, per_service=per_service, only=only)

    def stop_all(self) -> None:
        """Stop every service this test started, and the extra replicas."""
        self.set.stop()
        for extra in self.replicas:
            extra.stop()

    def logs(self) -> dict[str, str]:
        """Each started process's log text."""
        out = {}
        for group in (self.set, *self.replicas):
            for process in group.processes.values():
                if process.log_file.exists():
                    out[process.name] = process.log_file.read_text(errors="replace")
        return out

    def add_ingress_replica(self, name: str) -> TrackedProcess:
        """Start one more ingress process in the same consumer group."""
        replica = ServiceSet(self.root, prefix=f"{name}-")
        replica.start(
            self.env,
            cwd=self.root,
            per_service={"ingress": {"TASKFACTORY_HTTP__PORT": "0"}},
            only=("ingress",),
        )
        self.replicas.append(replica)
        return replica.processes["ingress"]

    def url(self, service: str, path: str) -> str:
        """An HTTP URL on a service's health/metrics endpoint."""
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    async def get(self, service: str, path: str) -> httpx.Response:
        """GET a path of a service's HTTP endpoint."""
        async with httpx.AsyncClient(timeout=5) as http:
            return await http.get(self.url(service, path))

    async def metric(self, service: str, name: str) -> float:
        """Sum of every sample of metric ``name`` on ``service``'s /metrics."""
        text = (await self.get(service, "/metrics")).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name)] in " {":
                total += float(line.rsplit(" ", 1)[1])
        return total


async def hold_for(
    seconds: float, invariant: Callable[[], Awaitable[None]], *, interval: float = 1.0
) -> None:
    """Keep a fault in place for ``seconds``, checking ``invariant`` (which asserts) all along.

    This is the duration of a fault, not synchronisation: every tick verifies behaviour.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await invariant()
        await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
    await invariant()


def metric_families(text: str) -> set[str]:
    """Names of the metric families in Prometheus text (from its ``# TYPE`` lines)."""
    out = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            # prometheus-client declares counters without their _total suffix.
            out.add(f"{name}_total" if kind == "counter" and not name.endswith("_total") else name)
    return out


def echo_definition(definition_id: str, uid: str) -> str:
    """YAML of a one-task (echo) definition for test events; run ids start with ``uid/``."""
    return f"""
id: {definition_id}
version: 1
trigger:
  event_types: [com.example.test.requested]
correlation:
  workflow_id: "{uid}/{{subject}}/{{id}}"
tasks:
  - id: echo-it
    type: echo
"""
