"""``make run``: the whole system on its embedded defaults, showing an event become a result."""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from taskfactory_contracts import ActivityDefinition, AvroCodec, Envelope, names
from taskfactory_contracts.definition import APPROVAL_TASK_TYPE
from taskfactory_contracts.triggers import matches
from taskfactory_runtime.definitions import load_definitions
from taskfactory_runtime.kafka import ensure_topics
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.process import StackError
from taskfactory_stack.services import ServiceSet
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.stack import Stack

__all__ = ["load_example_events", "run"]

EXAMPLES = Path("examples")


def load_example_events(folder: Path, *, nonce: str) -> list[Envelope]:
    """The envelopes in ``folder/*.json``, ids suffixed with ``nonce`` so each demo is new work."""
    out = []
    for path in sorted(folder.glob("*.json")):
        for item in json.loads(path.read_text(encoding="utf-8")):
            data = json.dumps(item.pop("data", {})).encode()
            item["id"] = f"{item['id']}-{nonce}"
            out.append(Envelope(time=datetime.now(UTC), data=data, **item))
    return out


def runs_unattended(envelope: Envelope, definitions: list[ActivityDefinition]) -> str | None:
    """``None`` if the event starts a run that finishes without a human, else why not."""
    wanted = [d for d in definitions if matches(d, envelope)[0]]
    if not wanted:
        return "no definition wants it (see `taskfactory explain`)"
    for definition in wanted:
        if any(t.approval is not None or t.type == APPROVAL_TASK_TYPE for t in definition.tasks):
            return f"{definition.id} waits for a human approval (`taskfactory runs approve`)"
    return None


class _Progress:
    def __init__(self, sent: int) -> None:
        self.sent = sent
        self.started = 0
        self.results = 0
        self.t0 = time.monotonic()
        self.first: float | None = None
        self.done = 0

    def line(self) -> str:
        return (
            f"\r  events awaited {self.sent} · runs started {self.started} · "
            f"results received {self.results} · events done {self.done}/{self.sent}   "
        )


async def _demo(
    settings: StackSettings, stack: Stack, services: ServiceSet, stop: asyncio.Event
) -> None:
    kafka = KafkaSettings(bootstrap_servers=stack.kafka_bootstrap)
    nonce = datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)
    events = load_example_events(EXAMPLES / "events", nonce=nonce)
    definitions = load_definitions(EXAMPLES / "definitions")
    # All of them are published; the progress waits for the ones that finish on their own.
    awaited = {e.id for e in events if runs_unattended(e, definitions) is None}
    for event in events:
        why = runs_unattended(event, definitions)
        if why is not None:
            print(f"  {event.id}: no result expected here — {why}")
    topics = [
        names.DEFAULT_EVENTS_TOPIC,
        names.DEFAULT_RESULTS_TOPIC,
        names.DEFAULT_RUNS_TOPIC,
        names.DEFAULT_DLQ_TOPIC,
    ]
    await ensure_topics(kafka, topics, partitions=6, replication_factor=1)

    results = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False)
    await results.start()
    try:
        await _assign_at_end(results, names.DEFAULT_RESULTS_TOPIC)
        services.start(
            {
                "TASKFACTORY_KAFKA__BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
                "TASKFACTORY_TEMPORAL__ADDRESS": stack.temporal_address,
                "TASKFACTORY_DEFINITIONS_DIR": str((EXAMPLES / "definitions").resolve()),
                "TASKFACTORY_HTTP__PORT": "0",
                **(
                    {"TASKFACTORY_TRACING__OTLP_ENDPOINT": stack.otlp_endpoint}
                    if stack.otlp_endpoint
                    else {}
                ),
            },
            cwd=Path.cwd(),
        )
        print(
            f"services: orchestrator, executor, ingress started (logs in {settings.root / 'logs'})"
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=stack.kafka_bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()
        codec = AvroCodec()
        try:
            for envelope in events:
                await producer.send_and_wait(
                    names.DEFAULT_EVENTS_TOPIC,
                    codec.encode_envelope(envelope),
                    key=envelope.subject.encode(),
                )
        finally:
            await producer.stop()
        print(f"published {len(events)} example events to {names.DEFAULT_EVENTS_TOPIC}")
        await _watch(settings, stack, services, results, codec, awaited, stop)
    finally:
        await results.stop()


async def _assign_at_end(consumer: AIOKafkaConsumer, topic: str) -> None:
    partitions = consumer.partitions_for_topic(topic)
    while not partitions:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic)
    from aiokafka import TopicPartition

    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)


async def _count_runs(client: Any, since: datetime) -> int:
    query = f"StartTime >= '{since.isoformat()}'"
    count = await client.count_workflows(query)
    return int(count.count)


async def _watch(
    settings: StackSettings,
    stack: Stack,
    services: ServiceSet,
    results: AIOKafkaConsumer,
    codec: AvroCodec,
    sent: set[str],
    stop: asyncio.Event,
) -> None:
    from temporalio.client import Client

    client = await Client.connect(stack.temporal_address)
    since = datetime.now(UTC).replace(microsecond=0)
    expected = len(sent)
    progress = _Progress(expected)
    done: set[str] = set()
    runs: dict[str, set[str]] = {}
    announced = False
    while not stop.is_set():
        services.check()
        batch = await results.getmany(timeout_ms=300)
        progress.started = await _count_runs(client, since)
        for records in batch.values():
            for record in records:
                result = codec.decode_task_result(record.value or b"")
                if result.causation_id not in sent:
                    continue  # someone else's run publishing to the same topic
                progress.results += 1
                runs.setdefault(result.causation_id, set()).add(result.run_id)
                if progress.first is None:
                    progress.first = time.monotonic() - progress.t0
                print(
                    f"\r  result  {result.run_id}  task={result.task_id}  "
                    f"status={result.status.value}  output={result.output_json}" + " " * 10
                )
        # An event is done when every run it started has closed (all its results are out).
        for event_id, run_ids in runs.items():
            if event_id not in done and await _all_closed(client, run_ids):
                done.add(event_id)
        progress.done = len(done)
        print(progress.line(), end="", flush=True)
        if done >= sent and not announced:
            announced = True
            print(
                f"\n\nall {expected} events done; first result after {progress.first:.1f}s, "
                f"all after {time.monotonic() - progress.t0:.1f}s.\n"
                f"Temporal UI: http://127.0.0.1:{settings.temporal_ui_port}/namespaces/default/workflows\n"
                + (
                    f"Jaeger UI:   {stack.jaeger_ui}/search?service=taskfactory-ingress\n"
                    if stack.jaeger_ui
                    else ""
                )
                + "Still running: publish more events to "
                f"{names.DEFAULT_EVENTS_TOPIC} on {stack.kafka_bootstrap}; Ctrl-C stops everything."
            )
            if settings.demo_exit_when_done:
                return


async def _all_closed(client: Any, run_ids: set[str]) -> bool:
    from temporalio.client import WorkflowExecutionStatus

    for run_id in run_ids:
        description = await client.get_workflow_handle(run_id).describe()
        if description.status == WorkflowExecutionStatus.RUNNING:
            return False
    return True


def run(settings: StackSettings) -> int:
    """Up the stack if needed, run the services and the example, clean up on Ctrl-C."""
    stack = Stack(settings)
    services = ServiceSet(settings.root)
    services.stop()  # leftovers of a demo that was killed
    print("stack: bringing up Kafka and Temporal (cached after the first time) …", flush=True)
    started = stack.up()
    for row in stack.status():
        print(f"  {row.name:<9} {row.address:<16} {row.health}  {row.extra}")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await _demo(settings, stack, services, stop)

    code = 0
    try:
        asyncio.run(main())
    except StackError as exc:
        print(f"\nerror: {exc}")
        code = 1
    finally:
        print("\nstopping services …", flush=True)
        services.stop()
        if started:
            print(f"stopping {', '.join(started)} (this run started them) …", flush=True)
            stack.down()
        else:
            print("leaving the stack running (it was up before `make run`)")
    return code
