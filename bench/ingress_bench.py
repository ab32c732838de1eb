"""Ingress throughput against its limit and against a naive bridge, on the same stack and run.

Modes, alternated round-robin for ``--repeat`` rounds so machine noise hits each alike:
- ``raw``: ``start_workflow`` straight at Temporal with the ingress's concurrency: the limit.
- ``ingress``: the real ingress process consuming pre-published events (6 partitions).
- ``naive``: consume one record, await its start, commit, repeat.
Prints median and spread per mode, the ratios, and produce→start-ack p50/p99, and writes
``bench/results/ingress.json``. Needs the local stack (``make stack-up``) or
``TASKFACTORY_KAFKA_BOOTSTRAP``/``TASKFACTORY_TEMPORAL_ADDRESS``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from temporalio.client import Client
from temporalio.common import (
    WorkflowIDReusePolicy,
)
from temporalio.contrib.pydantic import pydantic_data_converter

from taskfactory_contracts import AvroCodec, Envelope, RunActivityInput, TriggerEvent, names
from taskfactory_runtime.definitions import load_definition
from taskfactory_runtime.kafka import committed_offsets_total, ensure_topics
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.services import ServiceSet

KAFKA = os.environ.get("TASKFACTORY_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
TEMPORAL = os.environ.get("TASKFACTORY_TEMPORAL_ADDRESS", "127.0.0.1:7233")
CONCURRENCY = 256
DEFINITION = """
id: bench
version: 1
trigger: {{event_types: [com.example.bench]}}
correlation: {{workflow_id: "{prefix}/{{subject}}/{{id}}"}}
tasks: [{{id: echo-it, type: echo}}]
"""


def _events(prefix: str, n: int) -> list[Envelope]:
    now = datetime.now(UTC)
    return [
        Envelope(
            id=f"{prefix}-{i}",
            source="/bench",
            type="com.example.bench",
            subject=f"s-{i % 500}",
            time=now,
            data=b'{"n": %d}' % i,
        )
        for i in range(n)
    ]


async def _publish(kafka: KafkaSettings, topic: str, events: list[Envelope]) -> None:
    codec = AvroCodec()
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, codec.encode_envelope(e), key=e.subject.encode())
            for e in events
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def raw(client: Client, n: int, tmp: Path) -> float:
    prefix = f"raw-{uuid.uuid4().hex[:8]}"
    (tmp / "raw.yaml").write_text(DEFINITION.format(prefix=prefix))
    definition = load_definition(tmp / "raw.yaml")
    args = [
        RunActivityInput(definition=definition, trigger=TriggerEvent(envelope=e), results_topic="x")
        for e in _events(prefix, n)
    ]
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(arg: RunActivityInput) -> None:
        async with slots:
            await client.start_workflow(
                names.WORKFLOW_RUN_ACTIVITY,
                arg,
                id=f"{prefix}/{arg.trigger.envelope.id}",
                task_queue=f"{prefix}-q",
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )

    t0 = time.perf_counter()
    await asyncio.gather(*(one(a) for a in args))
    return n / (time.perf_counter() - t0)


async def _wait_committed(
    kafka: KafkaSettings, group: str, topic: str, n: int, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while await committed_offsets_total(kafka, group, topic) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{group}: not all {n} committed after {timeout}s")
        await asyncio.sleep(0.05)


async def ingress(
    kafka: KafkaSettings, client: Client, n: int, tmp: Path, latencies: list[float]
) -> float:
    prefix = f"ing-{uuid.uuid4().hex[:8]}"
    topic, group = f"{prefix}.events", f"{prefix}-group"
    await ensure_topics(kafka, [topic, f"{topic}.dlq"], partitions=6, replication_factor=1)
    defs = tmp / prefix
    defs.mkdir()
    (defs / "bench.yaml").write_text(DEFINITION.format(prefix=prefix))
    services = ServiceSet(tmp, prefix=f"{prefix}-")
    services.start(
        {
            "TASKFACTORY_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "TASKFACTORY_TEMPORAL__ADDRESS": TEMPORAL,
            "TASKFACTORY_TOPICS__EVENTS": topic,
            "TASKFACTORY_TOPICS__DEAD_LETTER": f"{topic}.dlq",
            "TASKFACTORY_INGRESS__GROUP_ID": group,
            # Its own queue: no worker polls it, so no real worker ever runs bench workflows.
            "TASKFACTORY_TEMPORAL__ORCHESTRATOR_TASK_QUEUE": f"{prefix}-q",
            "TASKFACTORY_DEFINITIONS_DIR": str(defs),
            "TASKFACTORY_HTTP__PORT": "0",
            "TASKFACTORY_LOGGING__LEVEL": "WARNING",
        },
        cwd=tmp,
        only=("ingress",),
    )
    try:
        # Warm up: one event through, so group join and connections are not measured.
        await _publish(kafka, topic, _events(f"{prefix}-warm", 1))
        await _wait_committed(kafka, group, topic, 1, 60)
        events = _events(prefix, n)
        t0 = time.perf_counter()
        produced_at = datetime.now(UTC)
        await _publish(kafka, topic, events)
        await _wait_committed(kafka, group, topic, n + 1, 600)
        rate = n / (time.perf_counter() - t0)
        async for wf in client.list_workflows(f"WorkflowId STARTS_WITH '{prefix}/'"):
            latencies.append((wf.start_time - produced_at).total_seconds())
        return rate
    finally:
        services.stop()


async def naive(kafka: KafkaSettings, client: Client, n: int, tmp: Path) -> float:
    prefix = f"nai-{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.events"
    await ensure_topics(kafka, [topic], partitions=6, replication_factor=1)
    await _publish(kafka, topic, _events(prefix, n))
    (tmp / "naive.yaml").write_text(DEFINITION.format(prefix=prefix))
    definition = load_definition(tmp / "naive.yaml")
    codec = AvroCodec()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=f"{prefix}-g",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            record = await consumer.getone()
            envelope = codec.decode_envelope(record.value)
            arg = RunActivityInput(
                definition=definition, trigger=TriggerEvent(envelope=envelope), results_topic="x"
            )
            await client.start_workflow(
                names.WORKFLOW_RUN_ACTIVITY,
                arg,
                id=f"{prefix}/{envelope.id}",
                task_queue=f"{prefix}-q",
            )
            await consumer.commit(
                {TopicPartition(record.topic, record.partition): record.offset + 1}
            )
        return n / (time.perf_counter() - t0)
    finally:
        await consumer.stop()


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    kafka = KafkaSettings(bootstrap_servers=KAFKA)
    client = await Client.connect(TEMPORAL, data_converter=pydantic_data_converter)
    rates: dict[str, list[float]] = {"raw": [], "ingress": [], "naive": []}
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for round_ in range(args.repeat):
            rates["raw"].append(await raw(client, args.events, tmp))
            rates["ingress"].append(await ingress(kafka, client, args.events, tmp, latencies))
            rates["naive"].append(await naive(kafka, client, max(100, args.events // 5), tmp))
            print(
                f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.0f}/s" for k, v in rates.items()),
                flush=True,
            )
    latencies.sort()
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "events": args.events,
        "repeat": args.repeat,
        "concurrency": CONCURRENCY,
        "rates_per_s": {k: _summary(v) for k, v in rates.items()},
        "ingress_over_raw": statistics.median(rates["ingress"]) / statistics.median(rates["raw"]),
        "ingress_over_naive": statistics.median(rates["ingress"])
        / statistics.median(rates["naive"]),
        "produce_to_start_seconds": {
            "p50": latencies[len(latencies) // 2],
            "p99": latencies[int(len(latencies) * 0.99)],
        },
    }
    out = Path(__file__).parent / "results" / "ingress.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
