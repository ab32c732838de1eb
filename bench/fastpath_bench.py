"""The fast path against what a team would hand-write, on the same stack, run and workload.

Contenders, each given the same ``--events`` one-task runs, alternated for ``--repeat`` rounds:
- ``diy``: one workflow with one activity that does the task and publishes the result to
  Kafka (idempotent producer), started straight at Temporal with the ingress's concurrency,
  its worker in a process of its own: the anchor.
- ``taskfactory``: events produced to Kafka, the three services, results on the results topic.
- ``direct``: taskfactory's run workflow started straight at Temporal as the ingress would
  (same id, input and search attributes), orchestrator and executor: the run without the hop.
- ``before``: the same, started as the run type of before the fast path (still registered for
  runs in flight: results and run events published by executor activities, 31 history events):
  what the fast path gained, measured in the same run.
While each burst runs, the CPU time of every process is read from ``/proc`` and summed by role
(Temporal server, Kafka, ingress, orchestrator, executor, DIY worker, this script), so the
table says where each contender's time goes, in milliseconds of CPU per run.
Then, for taskfactory: produce→result latency p50/p99 for the burst and at a fixed offered
rate of half the measured capacity, and the history events of one one-task run (counted from
its real history). Writes ``bench/results/fastpath.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ingress_bench
import report
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cpu import Sampler
from diy_workflow import ACTIVITY, DiyInput, DiyWorkflow
from ingress_bench import (
    CONCURRENCY,
    MARK,
    TEMPORAL,
    Rig,
    _events,
    _percentiles,
    _prefix,
    _publish,
    _results,
    e2e,
)
from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from taskfactory_contracts import RunActivityInput, TriggerEvent, names
from taskfactory_runtime.definitions import load_definition
from taskfactory_runtime.kafka import ensure_topics
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.leftovers import ending_leftovers

KAFKA = KafkaSettings().bootstrap_servers


# ---- the DIY anchor: what a team would write with the SDK ------------------------------------
class DiyActivities:
    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer

    @activity.defn(name=ACTIVITY)
    async def run_and_publish(self, arg: DiyInput) -> None:
        """The task (echo) and its result on Kafka, keyed by subject."""
        value = json.dumps({"event_id": arg.event_id, "output": {"echo": arg.event_id}})
        await self.producer.send_and_wait(
            arg.topic,
            value=value.encode(),
            key=arg.subject.encode(),
            headers=[("result-id", arg.event_id.encode())],
        )


async def diy_worker(queue: str) -> None:
    """The DIY worker process: one worker hosting the workflow and the activity."""
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True)
    await producer.start()
    client = await Client.connect(TEMPORAL, data_converter=pydantic_data_converter)
    try:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[DiyWorkflow],
            activities=[DiyActivities(producer).run_and_publish],
            max_concurrent_activities=200,
            max_concurrent_workflow_tasks=200,
        ):
            await asyncio.Event().wait()
    finally:
        await producer.stop()


async def diy(kafka: KafkaSettings, client: Client, n: int) -> float:
    """One-task runs per second of the DIY anchor (workflow starts to results on Kafka)."""
    prefix = _prefix("diy")
    topic = f"{prefix}.results"
    await ensure_topics(kafka, [topic], partitions=6, replication_factor=1)
    worker = await asyncio.create_subprocess_exec(sys.executable, __file__, "--diy-worker", prefix)
    slots = asyncio.Semaphore(CONCURRENCY)

    async def start(i: int) -> None:
        async with slots:
            await client.start_workflow(
                "DiyWorkflow",
                DiyInput(event_id=f"{prefix}-{i}", subject=f"subject-{i % 500}", topic=topic),
                id=f"{prefix}/{i}",
                task_queue=prefix,
            )

    try:
        await start(-1)
        await _results(kafka, topic, 1, 120)
        with ingress_bench.MEASURE():
            t0 = time.perf_counter()
            await asyncio.gather(*(start(i) for i in range(n)))
            await _results(kafka, topic, n + 1, 900)
            return n / (time.perf_counter() - t0)
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 30)


# ---- taskfactory: latency at a fixed offered rate, history events -----------------------------
async def fixed_rate(kafka: KafkaSettings, rate: float, n: int, tmp: Path) -> dict[str, float]:
    """Produce→result latency (s) of ``n`` events offered at ``rate`` per second."""
    rig = Rig(kafka, tmp, "rate")
    await rig.topics()
    rig.start(("orchestrator",))
    rig.start(("executor",))
    rig.start(("ingress",))
    consumer = AIOKafkaConsumer(
        rig.results, bootstrap_servers=kafka.bootstrap_servers, auto_offset_reset="earliest"
    )
    try:
        await _publish(kafka, rig.topic, _events(f"{rig.prefix}-warm", 1))
        await _results(kafka, rig.results, 1, 120)
        await consumer.start()
        produced: dict[str, float] = {}
        events = _events(rig.prefix, n)
        t0 = time.monotonic()
        for i, event in enumerate(events):
            await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
            produced[event.id] = time.time()
            await _publish(kafka, rig.topic, [event])
        latencies: list[float] = []
        deadline = time.monotonic() + 300
        while len(latencies) < n and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    event_id = dict(record.headers).get(names.HEADER_EVENT_ID, b"").decode()
                    if event_id in produced:
                        latencies.append(record.timestamp / 1000 - produced[event_id])
        return _percentiles(latencies)
    finally:
        await consumer.stop()
        rig.stop()


async def history_events(kafka: KafkaSettings, client: Client, tmp: Path) -> int:
    """Events in the real history of one one-task run (orchestrator and executor running)."""
    rig = Rig(kafka, tmp, "hist")
    await rig.topics()
    rig.start(("orchestrator",))
    rig.start(("executor",))
    definition = load_definition(rig.defs / "bench.yaml")
    [envelope] = _events(rig.prefix, 1)
    try:
        handle = await client.start_workflow(
            names.WORKFLOW_RUN_ACTIVITY,
            RunActivityInput(
                definition=definition,
                trigger=TriggerEvent(envelope=envelope),
                results_topic=rig.results,
                runs_topic=rig.runs,
                executor_task_queue=rig.env["TASKFACTORY_TEMPORAL__EXECUTOR_TASK_QUEUE"],
            ),
            id=f"{rig.prefix}/one",
            task_queue=rig.queue,
        )
        await handle.result()
        return len((await handle.fetch_history()).events)
    finally:
        rig.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000, help="one-task runs per contender")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, contenders alternated")
    parser.add_argument("--no-readme", action="store_true", help="leave bench/README.md alone")
    parser.add_argument("--diy-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.diy_worker:
        await diy_worker(args.diy_worker)
        return
    started, load_before = datetime.now(UTC), report.load()
    kafka = KafkaSettings(bootstrap_servers=KAFKA)
    client = await Client.connect(TEMPORAL, data_converter=pydantic_data_converter)
    rates: dict[str, list[float]] = {k: [] for k in COLUMN}
    cpu: dict[str, list[dict[str, float]]] = {k: [] for k in COLUMN}
    burst: list[float] = []
    async with ending_leftovers(client, [MARK], who="fastpath_bench"):
        with tempfile.TemporaryDirectory() as scratch:
            tmp = Path(scratch)
            contenders = {
                "diy": lambda: diy(kafka, client, args.events),
                "taskfactory": lambda: e2e(kafka, client, args.events, tmp, burst),
                "direct": lambda: e2e(kafka, client, args.events, tmp, [], direct=True),
                "before": lambda: e2e(
                    kafka,
                    client,
                    args.events,
                    tmp,
                    [],
                    direct=True,
                    workflow_type=names.WORKFLOW_RUN_ACTIVITY_V1,
                ),
            }
            for _ in range(args.repeat):
                for name, run in contenders.items():
                    rate, by_role = await _sampled(run, args.events)
                    rates[name].append(rate)
                    cpu[name].append(by_role)
            capacity = statistics.median(rates["taskfactory"])
            steady = await fixed_rate(kafka, capacity / 2, args.events, tmp)
            events = await history_events(kafka, client, tmp)
    medians = {k: statistics.median(v) for k, v in rates.items()}
    figures: dict[str, Any] = {
        "events_per_contender": args.events,
        "repeat": args.repeat,
        "runs_per_second": rates,
        "median_runs_per_second": medians,
        "taskfactory_over_diy": medians["taskfactory"] / medians["diy"],
        "direct_over_diy": medians["direct"] / medians["diy"],
        "direct_over_before": medians["direct"] / medians["before"],
        "cpu_ms_per_run_by_role": {k: _median_by_role(v) for k, v in cpu.items()},
        "burst_latency_seconds": _percentiles(burst),
        "half_capacity_rate": capacity / 2,
        "half_capacity_latency_seconds": steady,
        "history_events_one_task_run": events,
    }
    report.record("fastpath", figures, _table, started, load_before, args, show_json=True)


async def _sampled(run: Callable[[], Awaitable[float]], n: int) -> tuple[float, dict[str, float]]:
    """The rate of one burst and the CPU milliseconds per run each role spent during it."""
    sampler = Sampler()
    ingress_bench.MEASURE = sampler.running  # the burst only: not the start or the warm-up
    try:
        rate = await run()
    finally:
        ingress_bench.MEASURE = nullcontext
    return rate, sampler.summary(n)["cpu_ms_per_run_by_role"]


def _median_by_role(rounds: list[dict[str, float]]) -> dict[str, float]:
    roles = {role for by_role in rounds for role in by_role}
    medians = {r: round(statistics.median(b.get(r, 0.0) for b in rounds), 1) for r in roles}
    return dict(sorted(medians.items(), key=lambda kv: -kv[1]))


#: The contenders' column titles in the CPU table.
COLUMN = {
    "diy": "DIY anchor",
    "taskfactory": "taskfactory end to end",
    "direct": "run started directly",
    "before": "before the fast path, started directly",
}

#: Issue 17's targets this script measures.
TARGETS = {"taskfactory_over_diy": 0.9, "direct_over_before": 3.0, "history_events": 14}


def _table(result: dict[str, Any]) -> str:
    rates = result["runs_per_second"]
    lines = [
        report.heading(result) + f" {result['events_per_contender']} one-task runs per contender, "
        f"{result['repeat']} rounds, contenders alternated.",
        "",
        "| contender | one-task runs/s, median | min to max |",
        "|---|---:|---:|",
    ]
    label = {
        "diy": "DIY anchor: workflow + activity doing the task and publishing to Kafka",
        "taskfactory": "taskfactory end to end: events → ingress → run → result on Kafka",
        "direct": "taskfactory's run started straight at Temporal (no Kafka → ingress hop)",
        "before": "the run type of before the fast path, started straight at Temporal",
    }
    for name, values in rates.items():
        lines.append(
            f"| {label[name]} | {statistics.median(values):.1f} "
            f"| {min(values):.1f} to {max(values):.1f} |"
        )
    ratio = result["taskfactory_over_diy"]
    met = "met" if ratio >= TARGETS["taskfactory_over_diy"] else "not met"
    burst, steady = result["burst_latency_seconds"], result["half_capacity_latency_seconds"]
    events = result["history_events_one_task_run"]
    lines += [
        "",
        f"- taskfactory ÷ DIY = **{ratio:.2f}** (target ≥ 0.9: {met}); its run alone, started "
        f"straight at Temporal, ÷ DIY = {result['direct_over_diy']:.2f}",
        f"- the run started directly ÷ the run type of before the fast path, same run = "
        f"**{result['direct_over_before']:.2f}** (target ≥ 3: "
        f"{'met' if result['direct_over_before'] >= TARGETS['direct_over_before'] else 'not met'})",
        f"- produce→result, burst: p50 {burst['p50']:.2f} s, p99 {burst['p99']:.2f} s",
        f"- produce→result at half capacity ({result['half_capacity_rate']:.1f} events/s): "
        f"p50 {steady['p50']:.2f} s, p99 {steady['p99']:.2f} s "
        f"(target p50 ≤ 1 s: {'met' if steady['p50'] <= 1 else 'not met'})",
        f"- history events of a one-task run (a real history): **{events}** "
        f"(target ≤ 14: {'met' if events <= 14 else 'not met'})",
        "",
        "Where the time goes: milliseconds of CPU per one-task run by process (median over the "
        "rounds; the script itself produces the events or starts the workflows):",
        "",
    ]
    by = result["cpu_ms_per_run_by_role"]
    roles = sorted(
        {r for v in by.values() for r in v}, key=lambda r: -max(v.get(r, 0.0) for v in by.values())
    )
    lines += [
        "| process | " + " | ".join(COLUMN[k] for k in by) + " |",
        "|---|" + "---:|" * len(by),
        *(
            f"| {r} | " + " | ".join(f"{v.get(r, 0.0):.1f}" for v in by.values()) + " |"
            for r in roles
        ),
        "| **all** | " + " | ".join(f"**{sum(v.values()):.1f}**" for v in by.values()) + " |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    asyncio.run(main())
