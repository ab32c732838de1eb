"""Ingress throughput against its limit and against a naive bridge, on the same stack and run.

Modes, alternated round-robin for ``--repeat`` rounds so machine noise hits each alike:
- ``raw``: ``start_workflow`` straight at Temporal with the ingress's concurrency: the limit.
- ``ingress``: the real ingress process consuming pre-published events (6 partitions).
- ``naive``: consume one record, await its start, commit, repeat.
Prints median and spread per mode, the ratios, and produce→start-ack p50/p99, writes
``bench/results/ingress.json`` and the Ingress table of ``bench/README.md``. Needs the local stack (``make stack-up``) or
``TASKFACTORY_KAFKA_BOOTSTRAP``/``TASKFACTORY_TEMPORAL_ADDRESS``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import report
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CoordinatorLoadInProgressError, GroupCoordinatorNotAvailableError
from temporalio.client import Client
from temporalio.common import (
    WorkflowIDReusePolicy,
)
from temporalio.contrib.pydantic import pydantic_data_converter

from taskfactory_contracts import AvroCodec, Envelope, RunActivityInput, TriggerEvent, names
from taskfactory_runtime.definitions import load_definition
from taskfactory_runtime.kafka import committed_offsets_total, ensure_topics, make_admin
from taskfactory_runtime.search_attributes import envelope_search_attributes
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.leftovers import ending_leftovers, new_mark
from taskfactory_stack.process import free_port
from taskfactory_stack.services import OwnNames, ServiceEnv, ServiceSet

KAFKA = os.environ.get("TASKFACTORY_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
TEMPORAL = os.environ.get("TASKFACTORY_TEMPORAL_ADDRESS", "127.0.0.1:7233")
CONCURRENCY = 256
#: Replication factor of the bench topics (the cluster profile's scale bench sets 3).
REPLICATION = 1
#: Wraps the measured burst of ``ingress`` and ``e2e`` (the scale bench samples CPU in it).
MEASURE: Callable[[], AbstractContextManager[object]] = nullcontext
#: Starts every workflow id, task queue and topic this bench process creates: what it leaves in
#: Temporal is ended by this mark when it ends (``ending_leftovers``).
MARK = new_mark("b")
DEFINITION = """
id: bench
version: 1
trigger: {{event_types: [com.example.bench]}}
correlation: {{workflow_id: "{prefix}/{{subject}}/{{id}}"}}
tasks: [{{id: echo-it, type: echo}}]
"""


def _prefix(mode: str) -> str:
    """A fresh prefix for one measurement, under this process's mark."""
    return f"{MARK}{mode}-{uuid.uuid4().hex[:8]}"


def _events(prefix: str, n: int, start: int = 0, subjects: int = 500) -> list[Envelope]:
    now = datetime.now(UTC)
    return [
        Envelope(
            id=f"{prefix}-{i}",
            source="/bench",
            type="com.example.bench",
            subject=f"s-{i % subjects}",
            time=now,
            data=b'{"n": %d}' % i,
        )
        for i in range(start, start + n)
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
    prefix = _prefix("raw")
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
                search_attributes=envelope_search_attributes("bench", arg.trigger.envelope),
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )

    t0 = time.perf_counter()
    await asyncio.gather(*(one(a) for a in args))
    return n / (time.perf_counter() - t0)


async def _wait_committed(
    kafka: KafkaSettings, group: str, topic: str, n: int, timeout: float
) -> None:
    """Until ``group`` has committed ``n`` offsets on ``topic`` (one admin client, 20 polls/s)."""
    admin = make_admin(kafka, name="bench")
    await admin.start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                offsets = await admin.list_consumer_group_offsets(group)
            except (GroupCoordinatorNotAvailableError, CoordinatorLoadInProgressError):
                # A fresh broker creates its offsets topic on the first group's join.
                offsets = {}
            if (
                sum(m.offset for tp, m in offsets.items() if tp.topic == topic and m.offset > 0)
                >= n
            ):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{group}: not all {n} committed after {timeout}s")
            await asyncio.sleep(0.05)
    finally:
        await admin.close()


def _proc(pid: int) -> tuple[float, int, int]:
    """CPU seconds (user + system), RSS and peak RSS (bytes) of process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    kib = 1024
    return cpu, int(status["VmRSS"].split()[0]) * kib, int(status["VmHWM"].split()[0]) * kib


class Rig:
    """Private topics, queues and definitions, and the services started on them."""

    def __init__(self, kafka: KafkaSettings, tmp: Path, mode: str) -> None:
        self.kafka = kafka
        self.tmp = tmp
        self.prefix = _prefix(mode)
        own = OwnNames(self.prefix)
        self.topic = own.events
        self.results = own.results
        self.runs = own.runs
        self.group = own.group
        self.queue = own.orchestrator_queue
        self.all_topics = own.topics
        self.sets: list[ServiceSet] = []
        self.defs = tmp / self.prefix
        self.defs.mkdir()
        (self.defs / "bench.yaml").write_text(DEFINITION.format(prefix=self.prefix))
        # Private topics and queues: only this rig's workers (if any) ever run its workflows.
        self.env = {
            **ServiceEnv(kafka.bootstrap_servers, TEMPORAL, self.defs, own=own).env(),
            "TASKFACTORY_HTTP__PORT": "0",
            "TASKFACTORY_LOGGING__LEVEL": "WARNING",
        }

    async def topics(self) -> None:
        await ensure_topics(
            self.kafka, self.all_topics, partitions=6, replication_factor=REPLICATION
        )

    def start(self, only: tuple[str, ...], env: dict[str, str] | None = None) -> list[int]:
        """Start one replica of each service in ``only``; their pids."""
        services = ServiceSet(self.tmp, prefix=f"{self.prefix}-{len(self.sets)}-")
        services.start({**self.env, **(env or {})}, cwd=self.tmp, only=only)
        self.sets.append(services)
        return list(services.running().values())

    def stop(self) -> None:
        for services in self.sets:
            services.stop()


async def ingress(
    kafka: KafkaSettings,
    client: Client,
    n: int,
    tmp: Path,
    latencies: list[float],
    *,
    replicas: int = 1,
    env: dict[str, str] | None = None,
    cpu_per_event: list[float] | None = None,
) -> float:
    """Start rate of ``replicas`` ingress processes over ``n`` events published at once."""
    rig = Rig(kafka, tmp, "ing")
    await rig.topics()
    pids = [pid for _ in range(replicas) for pid in rig.start(("ingress",), env)]
    try:
        # Warm up: one event through, so group join and connections are not measured.
        await _publish(kafka, rig.topic, _events(f"{rig.prefix}-warm", 1))
        await _wait_committed(kafka, rig.group, rig.topic, 1, 120)
        cpu0 = sum(_proc(pid)[0] for pid in pids)
        events = _events(rig.prefix, n)
        with MEASURE():
            t0 = time.perf_counter()
            produced_at = datetime.now(UTC)
            await _publish(kafka, rig.topic, events)
            await _wait_committed(kafka, rig.group, rig.topic, n + 1, 600)
            rate = n / (time.perf_counter() - t0)
        if cpu_per_event is not None:
            cpu_per_event.append((sum(_proc(pid)[0] for pid in pids) - cpu0) / n)
        async for wf in client.list_workflows(f"WorkflowId STARTS_WITH '{rig.prefix}/'"):
            latencies.append((wf.start_time - produced_at).total_seconds())
        return rate
    finally:
        rig.stop()


async def _results(
    kafka: KafkaSettings, topic: str, n: int, timeout: float, since_ms: int = 0
) -> list[int]:
    """Read ``topic`` until it holds ``n`` records; their timestamps (ms) after ``since_ms``."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    stamps: list[int] = []
    seen = 0
    deadline = time.monotonic() + timeout
    try:
        while seen < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{topic}: {seen} of {n} results after {timeout}s")
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                seen += len(records)
                stamps.extend(r.timestamp for r in records if r.timestamp >= since_ms)
        return stamps
    finally:
        await consumer.stop()


async def e2e(
    kafka: KafkaSettings,
    client: Client,
    n: int,
    tmp: Path,
    latencies: list[float],
    *,
    direct: bool = False,
    executors: int = 1,
    replicas: int = 1,
    workflow_type: str = names.WORKFLOW_RUN_ACTIVITY,
) -> float:
    """Events (or, ``direct``, workflows started straight at Temporal) → results per second.

    ``workflow_type`` (direct only) picks the run type started: the fast path, or the type that
    runs started before it still run as (results and run events through the executor).

    The one-task definition publishes one result per run, so ``n`` runs are done when the
    private results topic holds ``n`` records more than after the warm-up. ``replicas`` starts
    that many of every service (at least ``executors`` executors).
    """
    rig = Rig(kafka, tmp, "dir" if direct else "e2e")
    await rig.topics()
    for _ in range(replicas):
        rig.start(("orchestrator",))
    for _ in range(max(executors, replicas)):
        rig.start(("executor",))
    for _ in range(0 if direct else replicas):
        rig.start(("ingress",))
    definition = load_definition(rig.defs / "bench.yaml")
    slots = asyncio.Semaphore(CONCURRENCY)

    async def start(envelope: Envelope) -> None:
        async with slots:
            await client.start_workflow(
                workflow_type,
                RunActivityInput(
                    definition=definition,
                    trigger=TriggerEvent(envelope=envelope),
                    results_topic=rig.results,
                    runs_topic=rig.runs,
                    executor_task_queue=rig.env["TASKFACTORY_TEMPORAL__EXECUTOR_TASK_QUEUE"],
                ),
                id=f"{rig.prefix}/{envelope.subject}/{envelope.id}",
                task_queue=rig.queue,
                search_attributes=envelope_search_attributes("bench", envelope),
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )

    async def send(events: list[Envelope]) -> None:
        if direct:
            await asyncio.gather(*(start(e) for e in events))
        else:
            await _publish(kafka, rig.topic, events)

    try:
        await send(_events(f"{rig.prefix}-warm", 1))
        await _results(kafka, rig.results, 1, 120)
        with MEASURE():
            t0 = time.perf_counter()
            since_ms = int(time.time() * 1000)
            await send(_events(rig.prefix, n))
            stamps = await _results(kafka, rig.results, n + 1, 900, since_ms)
            rate = n / (time.perf_counter() - t0)
        latencies.extend((stamp - since_ms) / 1000 for stamp in stamps)
        return rate
    finally:
        rig.stop()


async def _prefilled_topic(kafka: KafkaSettings, prefix: str, n: int) -> str:
    """A fresh 6-partition topic ``<prefix>.events`` holding ``n`` bench envelopes."""
    topic = f"{prefix}.events"
    await ensure_topics(kafka, [topic], partitions=6, replication_factor=REPLICATION)
    await _publish(kafka, topic, _events(prefix, n))
    return topic


def _group_consumer(kafka: KafkaSettings, topic: str) -> AIOKafkaConsumer:
    """A consumer of ``topic`` in a group of its own, from the start, committing by hand."""
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=f"{topic}-g",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


async def kafka_consume(kafka: KafkaSettings, n: int) -> float:
    """Plain consume rate of ``n`` pre-published envelopes (decoded), no Temporal."""
    topic = await _prefilled_topic(kafka, _prefix("kc"), n)
    codec = AvroCodec()
    t0 = time.perf_counter()
    consumer = _group_consumer(kafka, topic)
    await consumer.start()
    try:
        seen = 0
        while seen < n:
            for records in (await consumer.getmany(timeout_ms=200, max_records=500)).values():
                seen += len(records)
                for record in records:
                    codec.decode_envelope(record.value)
            await consumer.commit()
        return n / (time.perf_counter() - t0)
    finally:
        await consumer.stop()


async def memory(kafka: KafkaSettings, client: Client, n: int, tmp: Path) -> dict[str, float]:
    """Ingress RSS when ``n`` events are in flight at once (limits raised to ``n``)."""
    rig = Rig(kafka, tmp, "mem")
    await rig.topics()
    port = free_port()
    (pid,) = rig.start(
        ("ingress",),
        {
            "TASKFACTORY_HTTP__PORT": str(port),
            "TASKFACTORY_INGRESS__MAX_IN_FLIGHT": str(n),
            "TASKFACTORY_INGRESS__MAX_BUFFERED_PER_PARTITION": str(n),
        },
    )
    try:
        await _publish(kafka, rig.topic, _events(f"{rig.prefix}-warm", 1))
        await _wait_committed(kafka, rig.group, rig.topic, 1, 120)
        _, idle_rss, _ = _proc(pid)
        # One subject per event: records of one key are started one after the other.
        await _publish(kafka, rig.topic, _events(rig.prefix, n, subjects=n))
        peak_in_flight = 0.0
        slow_scrapes = 0
        async with httpx.AsyncClient(timeout=5) as http:
            while await committed_offsets_total(kafka, rig.group, rig.topic) < n + 1:
                try:
                    text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                except httpx.TimeoutException:
                    slow_scrapes += 1  # its event loop is busy starting 10 000 runs
                    continue
                for line in text.splitlines():
                    if line.startswith("taskfactory_ingress_in_flight "):
                        peak_in_flight = max(peak_in_flight, float(line.split()[1]))
                await asyncio.sleep(0.2)
        _, _, peak_rss = _proc(pid)
        return {
            "idle_rss_mib": idle_rss / 2**20,
            "peak_rss_mib": peak_rss / 2**20,
            "peak_in_flight": peak_in_flight,
            "scrapes_over_5s": slow_scrapes,
            "events": n,
        }
    finally:
        rig.stop()


async def naive(kafka: KafkaSettings, client: Client, n: int, tmp: Path) -> float:
    prefix = _prefix("nai")
    topic = await _prefilled_topic(kafka, prefix, n)
    (tmp / "naive.yaml").write_text(DEFINITION.format(prefix=prefix))
    definition = load_definition(tmp / "naive.yaml")
    codec = AvroCodec()
    consumer = _group_consumer(kafka, topic)
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


def _percentiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {"p50": values[len(values) // 2], "p99": values[int(len(values) * 0.99)]}


def _table(result: dict[str, Any]) -> str:
    rates = result["rates_per_s"]
    label = {
        "raw": f"raw `start_workflow`, {CONCURRENCY} concurrent (the limit)",
        "kafka": "raw Kafka consume + decode (the other limit)",
        "ingress": "ingress (starts)",
        "naive": "naive consume → start → commit",
        "direct": "one-task runs started straight at Temporal → results",
        "e2e": "events through ingress → results",
    }
    lines = [
        report.heading(result)
        + f" {result['events']} events per run ({result['e2e_events']} end to end), "
        f"{result['repeat']} rounds.",
        "",
        "| mode | per s, median | min to max |",
        "|---|---:|---:|",
    ]
    for mode, summary in rates.items():
        lines.append(
            f"| {label.get(mode, mode)} | {summary['median']:.0f} "
            f"| {summary['min']:.0f} to {summary['max']:.0f} |"
        )
    lines.append("")
    for key, target in TARGETS.items():
        if key in result:
            met = "met" if result[key] >= target else "not met"
            lines.append(
                f"- {key.replace('_', ' ')} = **{result[key]:.2f}** (target ≥ {target}: {met})"
            )
    for key in ("produce_to_start_seconds", "produce_to_result_seconds"):
        if key in result:
            lines.append(
                f"- {key.replace('_', ' ')}: p50 {result[key]['p50']:.1f} s, "
                f"p99 {result[key]['p99']:.1f} s"
            )
    if "ingress_cpu_ms_per_event" in result:
        lines.append(f"- ingress CPU per event: {result['ingress_cpu_ms_per_event']:.2f} ms")
    for kind in ("ingress", "executor"):
        scaling = result.get("scaling", {}).get(kind)
        if scaling:
            row = ", ".join(f"{r} → {v['median']:.0f}/s" for r, v in scaling.items())
            lines.append(f"- {kind} replicas: {row}")
    if "memory" in result:
        m = result["memory"]
        lines.append(
            f"- ingress RSS: {m['idle_rss_mib']:.0f} MiB idle, peak {m['peak_rss_mib']:.0f} MiB "
            f"with {m['events']} events fetched (peak {m['peak_in_flight']:.0f} records in flight)"
        )
    return "\n".join(lines)


TARGETS = {"ingress_over_raw": 0.95, "ingress_over_naive": 5.0, "e2e_over_direct": 0.90}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    # 2000: a run lasts long enough that its fixed start and end (first fetch, last commit
    # interval) weigh little in the rate.
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--e2e-events", type=int, default=300, help="events per end-to-end run (direct, e2e)"
    )
    parser.add_argument("--modes", default="raw,kafka,ingress,naive,direct,e2e")
    parser.add_argument("--scaling", default="1,2,4", help="replica counts ('' skips)")
    parser.add_argument("--scaling-repeat", type=int, default=5)
    parser.add_argument("--memory", type=int, default=10_000, help="events in flight (0 skips)")
    parser.add_argument("--out", type=Path, default=report.RESULTS / "ingress.json")
    parser.add_argument("--no-readme", action="store_true", help="do not update bench/README.md")
    args = parser.parse_args()
    started, load_before = datetime.now(UTC), report.load()
    # SIGTERM (e.g. `timeout`) unwinds like Ctrl-C, so the services started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    kafka = KafkaSettings(bootstrap_servers=KAFKA)
    client = await Client.connect(TEMPORAL, data_converter=pydantic_data_converter)
    modes = [m for m in args.modes.split(",") if m]
    rates: dict[str, list[float]] = {m: [] for m in modes}
    start_latencies: list[float] = []
    result_latencies: list[float] = []
    cpu: list[float] = []
    result: dict[str, Any] = {
        "events": args.events,
        "e2e_events": args.e2e_events,
        "repeat": args.repeat,
        "concurrency": CONCURRENCY,
    }
    async with ending_leftovers(client, [MARK], who="ingress_bench"):
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            runs: dict[str, Callable[[], Awaitable[float]]] = {
                "raw": lambda: raw(client, args.events, tmp),
                "kafka": lambda: kafka_consume(kafka, args.events),
                "ingress": lambda: ingress(
                    kafka, client, args.events, tmp, start_latencies, cpu_per_event=cpu
                ),
                "naive": lambda: naive(kafka, client, max(100, args.events // 5), tmp),
                "direct": lambda: e2e(kafka, client, args.e2e_events, tmp, [], direct=True),
                "e2e": lambda: e2e(kafka, client, args.e2e_events, tmp, result_latencies),
            }
            for round_ in range(args.repeat):
                for mode in modes:
                    rates[mode].append(await runs[mode]())
                print(
                    f"round {round_ + 1}: "
                    + ", ".join(f"{k} {v[-1]:.0f}/s" for k, v in rates.items()),
                    flush=True,
                )
            counts = [int(c) for c in args.scaling.split(",") if c]
            scaling: dict[str, dict[str, list[float]]] = {"ingress": {}, "executor": {}}
            for round_ in range(args.scaling_repeat if counts else 0):
                for count in counts:
                    scaling["ingress"].setdefault(str(count), []).append(
                        await ingress(kafka, client, args.events, tmp, [], replicas=count)
                    )
                    scaling["executor"].setdefault(str(count), []).append(
                        await e2e(kafka, client, args.e2e_events, tmp, [], executors=count)
                    )
                print(f"scaling round {round_ + 1}: {scaling}", flush=True)
            if counts:
                result["scaling"] = {
                    kind: {c: _summary(v) for c, v in by.items()} for kind, by in scaling.items()
                }
            if args.memory:
                result["memory"] = await memory(kafka, client, args.memory, tmp)
    result["rates_per_s"] = {k: _summary(v) for k, v in rates.items()}
    median = {k: statistics.median(v) for k, v in rates.items()}
    for ratio, (a, b) in {
        "ingress_over_raw": ("ingress", "raw"),
        "ingress_over_naive": ("ingress", "naive"),
        "e2e_over_direct": ("e2e", "direct"),
    }.items():
        if a in median and b in median:
            result[ratio] = median[a] / median[b]
    if start_latencies:
        result["produce_to_start_seconds"] = _percentiles(start_latencies)
    if result_latencies:
        result["produce_to_result_seconds"] = _percentiles(result_latencies)
    if cpu:
        result["ingress_cpu_ms_per_event"] = statistics.median(cpu) * 1000
    report.record("ingress", result, _table, started, load_before, args, show_json=True)
    await asyncio.sleep(0)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
