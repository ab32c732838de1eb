"""Fault scenarios shared by the chaos tests (small N) and ``make chaos`` (``bench/chaos.py``).

Each scenario starts the three services on its own topics, consumer group, task queues and
workflow-id prefix, streams N events, injects one fault mid-stream, clears it, and then counts
what a user would count: runs, completed runs, result records (one per task), dead letters and
the ingress group's lag. It reports the recovery time: from the fault cleared to lag zero with
every result published.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka.errors import KafkaError
from executor_testing import ACCEPT_WRITES, REJECT_WRITES, set_topic_config
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from tf_testing import (
    RunningServices,
    committed_total,
    consume,
    echo_definition,
    end_offsets_total,
    envelope,
    free_port,
    hold_for,
    produce_envelopes,
    wait_for,
)

from taskfactory_contracts import AvroCodec
from taskfactory_runtime.kafka import delete_topics, ensure_topics, make_admin
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.components import Component, KafkaComponent, TemporalComponent
from taskfactory_stack.process import TrackedProcess
from taskfactory_stack.settings import StackSettings

__all__ = [
    "CLUSTER_FAULTS",
    "FAULTS",
    "Outcome",
    "Target",
    "broker_leader_sigkill",
    "cluster_restart",
    "executor_sigkill",
    "ingress_sigkill",
    "kafka_restart",
    "orchestrator_restart",
    "private_kafka",
    "private_temporal",
    "rebalance_storm",
    "results_unavailable",
    "temporal_outage",
]

#: Kafka's jars, cached by the local stack (fetched by the private broker if missing).
JARS = Path(__file__).resolve().parents[2] / ".stack" / "kafka"


SLEEPY = """
id: chaos
version: 1
trigger:
  event_types: [com.example.test.requested]
correlation:
  workflow_id: "{uid}/{{subject}}/{{id}}"
tasks:
  - id: nap
    type: sleep
    params: {{seconds: {seconds}, checkpoint_every: 0.5}}
    heartbeat_timeout: 2
    start_to_close_timeout: 120
    retry: {{initial_interval: 0.2, maximum_attempts: 10}}
"""


# ---- where the scenarios run ---------------------------------------------------------------
@dataclass
class Target:
    """Kafka and Temporal to run against, a scratch folder, and the parts a fault may restart."""

    kafka: KafkaSettings
    temporal_address: str
    root: Path
    kafka_component: KafkaComponent | None = None
    temporal_component: TemporalComponent | None = None
    #: Bound of each wait; a scenario that needs it all has found a bug.
    patience: float = 300.0
    #: Of the scenario's topics: 3 on the cluster profile's three brokers.
    replication_factor: int = 1
    #: The cluster profile's components (brokers, Temporal server, PostgreSQL), for its faults.
    cluster: list[Component] = field(default_factory=list)


def private_kafka(root: Path) -> KafkaComponent:
    """A single-node broker of our own on free ports (start it with ``up``)."""
    return KafkaComponent(
        StackSettings(
            dir=root,
            jars_dir=JARS,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            kafka_heap="256m",
            jaeger=False,
        )
    )


def private_temporal(root: Path) -> TemporalComponent:
    """A Temporal dev server of our own on free ports (start it with ``up``)."""
    return TemporalComponent(
        StackSettings(
            dir=root, temporal_port=free_port(), temporal_ui_port=free_port(), jaeger=False
        )
    )


# ---- what a scenario counted -----------------------------------------------------------------
@dataclass
class Outcome:
    """The counts after one fault; every event has one task, so one result per event."""

    fault: str
    events: int
    runs: int = 0
    completed: int = 0
    results: int = 0
    distinct_results: int = 0
    retried_tasks: int = 0
    #: Runs open when the fault struck (for faults that hit runs in flight).
    in_flight: int = 0
    dead_letters: int = 0
    lag: int = -1
    fault_seconds: float = 0.0
    recovery_seconds: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Events without a result (whether their run never started or never finished)."""
        return max(0, self.events - self.distinct_results)

    @property
    def duplicated(self) -> int:
        """Second results for a task, plus runs beyond one per event."""
        return (self.results - self.distinct_results) + max(0, self.runs - self.events)

    def problems(self) -> list[str]:
        """Every broken invariant, in words."""
        out = []
        if self.runs != self.events:
            out.append(f"{self.runs} runs for {self.events} events")
        if self.completed != self.events:
            out.append(f"{self.completed} of {self.events} runs completed")
        if self.results != self.events or self.distinct_results != self.events:
            out.append(
                f"{self.results} result records ({self.distinct_results} distinct tasks) "
                f"for {self.events} tasks"
            )
        if self.dead_letters:
            out.append(f"{self.dead_letters} records on the dead-letter topic")
        if self.lag != 0:
            out.append(f"consumer lag {self.lag}, not 0")
        if self.recovery_seconds is None:
            out.append("no recovery: lag or results still short at the deadline")
        return out

    def check(self) -> None:
        """Fail naming every broken invariant."""
        problems = self.problems()
        assert not problems, f"{self.fault}: " + "; ".join(problems)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the derived lost/duplicated counts and the broken invariants."""
        return {
            **asdict(self),
            "lost": self.lost,
            "duplicated": self.duplicated,
            "problems": self.problems(),
        }


# ---- one scenario's world: its topics, services and counters ---------------------------------
class World:
    """The services of one scenario on their own topics, group, queues and id prefix."""

    def __init__(
        self, target: Target, fault: str, definition: Callable[[str], str], env: dict[str, str]
    ) -> None:
        self.target = target
        self.kafka = target.kafka
        self.uid = f"{fault}-{uuid.uuid4().hex[:8]}"
        self.events = f"{self.uid}.events"
        self.results = f"{self.uid}.results"
        self.dead_letter = f"{self.uid}.events.dlq"
        root = target.root / self.uid
        root.mkdir(parents=True)
        self.services = RunningServices(
            root,
            {
                "TASKFACTORY_KAFKA__BOOTSTRAP_SERVERS": target.kafka.bootstrap_servers,
                "TASKFACTORY_TEMPORAL__ADDRESS": target.temporal_address,
                "TASKFACTORY_TEMPORAL__ORCHESTRATOR_TASK_QUEUE": f"{self.uid}-orchestrator",
                "TASKFACTORY_TEMPORAL__EXECUTOR_TASK_QUEUE": f"{self.uid}-executor",
                "TASKFACTORY_INGRESS__GROUP_ID": f"{self.uid}-ingress",
                "TASKFACTORY_DEFINITIONS_DIR": str(root / "definitions"),
                "TASKFACTORY_TOPICS__EVENTS": self.events,
                "TASKFACTORY_TOPICS__RESULTS": self.results,
                "TASKFACTORY_TOPICS__RUNS": f"{self.uid}.runs",
                "TASKFACTORY_TOPICS__DEAD_LETTER": self.dead_letter,
                **env,
            },
            group=f"{self.uid}-ingress",
        )
        (self.services.definitions / "chaos.yaml").write_text(definition(self.uid))
        #: Processes the scenario kills on purpose (not counted as crashes).
        self.killed: set[str] = set()
        self._produce = asyncio.Lock()
        self._client: Client | None = None

    async def client(self) -> Client:
        """A Temporal client (it reconnects by itself after an outage)."""
        if self._client is None:
            self._client = await Client.connect(self.target.temporal_address)
        return self._client

    @property
    def topics(self) -> list[str]:
        """The scenario's own topics."""
        return [self.events, self.results, f"{self.uid}.runs", self.dead_letter]

    async def start(self) -> None:
        """Create the topics and start the three services."""
        await ensure_topics(
            self.kafka,
            self.topics,
            partitions=6,
            replication_factor=self.target.replication_factor,
        )
        self.services.start()
        await wait_for(
            self.ready, timeout=self.target.patience, what=f"{self.uid}: services", interval=1
        )

    async def ready(self) -> bool:
        """Whether the ingress is ready and both workers poll their task queues."""
        try:
            if (await self.services.get("ingress", "/readyz")).status_code != 200:
                return False
        except httpx.HTTPError:
            return False
        client = await self.client()
        env = self.services.env
        for queue, kind in (
            (
                env["TASKFACTORY_TEMPORAL__ORCHESTRATOR_TASK_QUEUE"],
                TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            ),
            (
                env["TASKFACTORY_TEMPORAL__EXECUTOR_TASK_QUEUE"],
                TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            ),
        ):
            described = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace="default", task_queue=TaskQueue(name=queue), task_queue_type=kind
                )
            )
            if not described.pollers:
                return False
        return True

    # -- counters that survive a broker outage (None = cannot tell right now) --
    async def committed(self) -> int | None:
        """Offsets the ingress group committed on the events topic."""
        return await _quietly(committed_total(self.kafka, self.services.group, self.events))

    async def result_records(self) -> int | None:
        """Records on the results topic."""
        return await _quietly(end_offsets_total(self.kafka, self.results))

    async def committed_at_least(self, n: int) -> bool:
        """Whether ``n`` offsets are committed."""
        return (await self.committed() or 0) >= n

    async def results_at_least(self, n: int) -> bool:
        """Whether ``n`` results are on the results topic."""
        return (await self.result_records() or 0) >= n

    async def open_runs(self) -> int:
        """Runs of this scenario that have started and not closed yet."""
        client = await self.client()
        query = f"WorkflowId STARTS_WITH '{self.uid}/' AND ExecutionStatus = 'Running'"
        return (await client.count_workflows(query)).count

    # -- the upstream producer --
    async def stream(self, total: int, *, chunk: int, ahead: int) -> None:
        """Publish ``total`` events in chunks, staying at most ``ahead`` ahead of the commits."""
        for start in range(0, total, chunk):
            await wait_for(
                lambda s=start: self.committed_at_least(s - ahead),  # type: ignore[misc]
                timeout=self.target.patience,
                what=f"{self.uid}: commits to reach {start - ahead}",
            )
            async with self._produce:
                await produce_envelopes(
                    self.kafka,
                    self.events,
                    [
                        envelope(i, uid=self.uid, subject=f"key-{i % 50}")
                        for i in range(start, min(total, start + chunk))
                    ],
                )

    @contextlib.asynccontextmanager
    async def upstream_paused(self) -> AsyncIterator[None]:
        """Hold the upstream producer between two chunks (while its broker is away)."""
        async with self._produce:
            yield

    # -- faults on processes --
    async def sigkill(self, process: TrackedProcess) -> None:
        """SIGKILL a service's whole process group (as a node failure would) and await its end."""
        pid = process.pid()
        assert pid is not None, f"{process.name} died by itself before the fault"
        self.killed.add(process.name)
        os.killpg(pid, signal.SIGKILL)

        async def dead() -> bool:
            return process.pid() is None

        await wait_for(dead, timeout=10, what=f"{process.name} to die")

    async def kill_and_restart(self, service: str) -> float:
        """SIGKILL ``service`` and start it again at once; returns how long it was away."""
        process = self.services.set.processes[service]
        began = time.monotonic()
        await self.sigkill(process)
        self.services.start(only=(service,))
        self.killed.discard(process.name)
        return time.monotonic() - began

    def alive(self) -> None:
        """Fail if a service exited that the scenario did not stop on purpose."""
        for group in (self.services.set, *self.services.replicas):
            for process in (group.processes[name] for name in set(group.started)):
                if process.name not in self.killed:
                    assert process.pid() is not None, (
                        f"{process.name} exited during the scenario; its log ends:\n"
                        + "\n".join(process.log_file.read_text(errors="replace").splitlines()[-20:])
                    )

    # -- the end: wait for recovery, then count --
    async def recover_and_count(self, outcome: Outcome, cleared: float) -> Outcome:
        """Wait for lag zero and every result, note the recovery time, then count everything."""
        n = outcome.events

        async def recovered() -> bool:
            return (await self.committed() or 0) >= n and (await self.result_records() or 0) >= n

        client = await self.client()
        query = f"WorkflowId STARTS_WITH '{self.uid}/'"

        async def all_completed() -> bool:
            done = await client.count_workflows(f"{query} AND ExecutionStatus = 'Completed'")
            return done.count >= n

        # A scenario that does not recover is still counted: the counts say what went wrong.
        with contextlib.suppress(AssertionError):
            await wait_for(recovered, timeout=self.target.patience, what="recovery")
            outcome.recovery_seconds = round(time.monotonic() - cleared, 1)
            await wait_for(all_completed, timeout=self.target.patience, what="completed runs")
        outcome.runs = (await client.count_workflows(query)).count
        outcome.completed = (
            await client.count_workflows(f"{query} AND ExecutionStatus = 'Completed'")
        ).count
        total = await end_offsets_total(self.kafka, self.results)
        codec = AvroCodec()
        records = await consume(self.kafka, self.results, at_least=total, timeout=60)
        tasks: set[tuple[str, str]] = set()
        for record in records:
            result = codec.decode_task_result(record.value)
            tasks.add((result.run_id, result.task_id))
            outcome.retried_tasks += result.attempts > 1
        outcome.results, outcome.distinct_results = len(records), len(tasks)
        outcome.dead_letters = await end_offsets_total(self.kafka, self.dead_letter)
        outcome.lag = await end_offsets_total(self.kafka, self.events) - await committed_total(
            self.kafka, self.services.group, self.events
        )
        self.alive()
        return outcome

    def close(self, *, show_logs: bool) -> None:
        """Stop every service; print their log tails if the scenario failed."""
        self.services.stop_all()
        if show_logs:
            for name, log in self.services.logs().items():
                print(f"==> {self.uid} {name} log (last 40 lines) <==")
                print("\n".join(log.splitlines()[-40:]))


async def _quietly(counter: Awaitable[int]) -> int | None:
    # While the broker is away, "how many" has no answer; the caller waits on.
    try:
        return await counter
    except (KafkaError, OSError, AssertionError):
        return None


Body = Callable[[World, Outcome], Awaitable[float]]


async def _scenario(
    target: Target,
    fault: str,
    events: int,
    body: Body,
    *,
    definition: Callable[[str], str] | None = None,
    env: dict[str, str] | None = None,
    ahead: int | None = None,
) -> Outcome:
    """Start a world, stream ``events`` while ``body`` injects and clears the fault (returning
    the moment it cleared), then wait for recovery and count."""
    world = World(target, fault, definition or _echo, env or {})
    outcome = Outcome(fault, events)
    failed = True
    try:
        await world.start()
        stream = asyncio.create_task(
            world.stream(events, chunk=max(10, events // 20), ahead=ahead or max(50, events // 3))
        )
        try:
            cleared = await body(world, outcome)
            await stream
        finally:
            stream.cancel()
        await world.recover_and_count(outcome, cleared)
        failed = False
        return outcome
    finally:
        world.close(show_logs=failed)
        await delete_topics(world.kafka, world.topics)


# ---- the faults --------------------------------------------------------------------------------
async def ingress_sigkill(target: Target, events: int, *, kills: int = 3) -> Outcome:
    """SIGKILL the ingress ``kills`` times while events stream in, restarting it each time."""

    async def body(world: World, outcome: Outcome) -> float:
        for k in range(1, kills + 1):
            at = events * k // (kills + 1)
            await wait_for(
                lambda a=at: world.committed_at_least(a),  # type: ignore[misc]
                timeout=target.patience,
                what=f"{at} commits before kill {k}",
            )
            outcome.fault_seconds += await world.kill_and_restart("ingress")
        outcome.fault_seconds = round(outcome.fault_seconds, 1)
        return time.monotonic()

    return await _scenario(target, "ingress-sigkill", events, body)


async def temporal_outage(target: Target, events: int, *, seconds: float) -> Outcome:
    """Stop Temporal for ``seconds`` mid-stream: the ingress pauses, is unready, commits
    nothing past an unstarted event; after the restart everything runs, once."""
    temporal = target.temporal_component
    assert temporal is not None, "temporal_outage needs a private Temporal server"

    async def body(world: World, outcome: Outcome) -> float:
        await wait_for(
            lambda: world.committed_at_least(events // 3),
            timeout=target.patience,
            what=f"{events // 3} commits before the outage",
        )
        await asyncio.to_thread(temporal.down)
        try:
            began = time.monotonic()

            async def not_ready() -> bool:
                response = await world.services.get("ingress", "/readyz")
                return response.status_code == 503 and "temporal" in response.json()["checks"]

            await wait_for(not_ready, timeout=30, what="the ingress to turn unready")
            assert await world.services.metric("ingress", "taskfactory_ingress_paused") == 1
            frozen = await world.committed()
            consumed = await world.services.metric("ingress", "taskfactory_ingress_consumed_total")

            async def lag_shown() -> bool:
                # The broker's end offsets minus the group's commits, kept fresh although
                # nothing is fetched: what an SRE's lag alert watches during the outage.
                end = await end_offsets_total(world.kafka, world.events)
                lag = await world.services.metric("ingress", "taskfactory_ingress_consumer_lag")
                return lag > 0 and lag == end - (frozen or 0)

            await wait_for(lag_shown, timeout=20, what="the consumer-lag gauge to show the lag")

            async def nothing_moves() -> None:
                # Fetching is paused and no offset is committed past an unstarted event.
                assert await world.committed() == frozen, "a commit during the Temporal outage"
                assert (
                    await world.services.metric("ingress", "taskfactory_ingress_consumed_total")
                    == consumed
                ), "the ingress fetched during the Temporal outage"
                world.alive()

            await hold_for(seconds - (time.monotonic() - began), nothing_moves)
        finally:
            await asyncio.to_thread(temporal.up)  # cleared even when a check failed
        outcome.fault_seconds = round(time.monotonic() - began, 1)
        outcome.notes.append(f"{frozen} of {events} committed when Temporal went away")
        return time.monotonic()

    return await _scenario(
        target,
        "temporal-outage",
        events,
        body,
        env={
            "TASKFACTORY_INGRESS__MAX_BUFFERED_PER_PARTITION": "20",
            "TASKFACTORY_INGRESS__RETRY_MAX_SECONDS": "2",
            "TASKFACTORY_INGRESS__LAG_REFRESH_SECONDS": "1",
        },
    )


async def kafka_restart(target: Target, events: int, *, seconds: float) -> Outcome:
    """Stop the broker mid-stream for ``seconds`` and start it again on the same data."""
    kafka = target.kafka_component
    assert kafka is not None, "kafka_restart needs a private broker"

    async def body(world: World, outcome: Outcome) -> float:
        await wait_for(
            lambda: world.results_at_least(events // 3),
            timeout=target.patience,
            what=f"{events // 3} results before the broker stops",
        )
        async with world.upstream_paused():
            await asyncio.to_thread(kafka.down)
            try:
                began = time.monotonic()
                await hold_for(seconds, _async(world.alive))
            finally:
                await asyncio.to_thread(kafka.up)  # cleared even when a check failed
            outcome.fault_seconds = round(time.monotonic() - began, 1)
        return time.monotonic()

    return await _scenario(target, "kafka-restart", events, body)


async def broker_leader_sigkill(
    target: Target, events: int, *, topic: str = "events", seconds: float = 10
) -> Outcome:
    """SIGKILL the broker leading partition 0 of the events (or results) topic mid-stream, keep
    it dead for ``seconds`` while events keep streaming, then start it again on its data.

    With replication factor 3, ``min.insync.replicas=2`` and ``acks=all`` the other two brokers
    hold every acknowledged record: a new leader is elected and nothing is lost or repeated.
    """
    assert target.cluster, "broker_leader_sigkill needs the cluster profile"

    async def body(world: World, outcome: Outcome) -> float:
        await wait_for(
            lambda: world.results_at_least(events // 3),
            timeout=target.patience,
            what=f"{events // 3} results before the leader dies",
        )
        name = world.events if topic == "events" else world.results
        leader = await _partition_leader(world.kafka, name, 0)
        broker = next(c for c in target.cluster if c.name == f"kafka-{leader}")
        began = time.monotonic()
        await world.sigkill(broker.process)
        try:
            # Events keep streaming meanwhile (the upstream producer is not paused).
            await hold_for(seconds, _async(world.alive))
        finally:
            await asyncio.to_thread(broker.up)  # cleared even when a check failed
            await wait_for(
                lambda: _broker_registered(world.kafka, leader),
                timeout=target.patience,
                what=f"kafka-{leader} to rejoin",
            )
        outcome.fault_seconds = round(time.monotonic() - began, 1)
        outcome.notes.append(f"kafka-{leader} led {name} partition 0")
        return time.monotonic()

    return await _scenario(target, f"leader-sigkill-{topic}", events, body)


async def cluster_restart(
    target: Target, events: int, *, component: str, kill: bool, seconds: float = 10
) -> Outcome:
    """SIGKILL (``kill``) or stop the cluster's ``component`` mid-stream, keep it away for
    ``seconds``, then start it again on its data: the Temporal server, or PostgreSQL under it
    (a fast shutdown: open transactions roll back, the server's connections break)."""
    assert target.cluster, "cluster_restart needs the cluster profile"
    part = next(c for c in target.cluster if c.name == component)

    async def body(world: World, outcome: Outcome) -> float:
        await wait_for(
            lambda: world.results_at_least(events // 3),
            timeout=target.patience,
            what=f"{events // 3} results before {component} goes away",
        )
        began = time.monotonic()
        if kill:
            await world.sigkill(part.process)
        else:
            await asyncio.to_thread(part.down)
        try:
            await hold_for(seconds, _async(world.alive))
        finally:
            await asyncio.to_thread(part.up)  # cleared even when a check failed
        outcome.fault_seconds = round(time.monotonic() - began, 1)
        return time.monotonic()

    return await _scenario(
        target,
        f"{component}-{'sigkill' if kill else 'restart'}",
        events,
        body,
        env={"TASKFACTORY_INGRESS__RETRY_MAX_SECONDS": "2"},
    )


async def _partition_leader(kafka: KafkaSettings, topic: str, partition: int) -> int:
    """The node id leading ``topic``'s ``partition``."""
    admin = make_admin(kafka)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = described[0]["partitions"]
    return int(next(p["leader"] for p in partitions if p["partition"] == partition))


async def _broker_registered(kafka: KafkaSettings, node: int) -> bool:
    admin = make_admin(kafka)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
    except (KafkaError, OSError):
        return False
    finally:
        await admin.close()
    return node in {int(b["node_id"]) for b in cluster["brokers"]}


async def rebalance_storm(target: Target, events: int) -> Outcome:
    """Ingress replicas join and leave while events stream in: 2 → 3 → 2 → 3 → 2."""

    async def body(world: World, outcome: Outcome) -> float:
        services = world.services
        second = services.add_ingress_replica("b")
        began = time.monotonic()
        steps: list[tuple[str, Callable[[], object]]] = [
            ("c joins", lambda: services.add_ingress_replica("c")),
            ("a leaves", services.set.processes["ingress"].stop),
            ("d joins", lambda: services.add_ingress_replica("d")),
            ("b leaves", second.stop),
        ]
        for k, (what, step) in enumerate(steps, start=1):
            at = events * k // (len(steps) + 1)
            await wait_for(
                lambda a=at: world.committed_at_least(a),  # type: ignore[misc]
                timeout=target.patience,
                what=f"{at} commits before '{what}'",
            )
            if "leaves" in what:  # gracefully (SIGTERM: drain and commit)
                world.killed.add("ingress" if what.startswith("a") else "b-ingress")
            await asyncio.to_thread(step)
        outcome.fault_seconds = round(time.monotonic() - began, 1)
        return time.monotonic()

    return await _scenario(target, "rebalance-storm", events, body)


async def _restart_mid_run(
    target: Target, fault: str, service: str, events: int, nap: float
) -> Outcome:
    """SIGKILL ``service`` while runs wait for their heartbeating sleep tasks; start a new one."""

    async def body(world: World, outcome: Outcome) -> float:
        await wait_for(
            lambda: world.results_at_least(events // 4),
            timeout=target.patience,
            what=f"{events // 4} results before the kill",
        )
        outcome.in_flight = await world.open_runs()
        outcome.fault_seconds = round(await world.kill_and_restart(service), 1)
        return time.monotonic()

    return await _scenario(
        target, fault, events, body, definition=lambda uid: SLEEPY.format(uid=uid, seconds=nap)
    )


async def executor_sigkill(target: Target, events: int, *, nap: float = 4.0) -> Outcome:
    """SIGKILL the executor while its heartbeating sleep tasks run; restart it at once."""
    outcome = await _restart_mid_run(target, "executor-sigkill", "executor", events, nap)
    outcome.notes.append(f"{outcome.retried_tasks} tasks resumed on another attempt")
    return outcome


async def orchestrator_restart(target: Target, events: int, *, nap: float = 3.0) -> Outcome:
    """SIGKILL the orchestrator while runs wait for their sleep tasks; start a new one."""
    return await _restart_mid_run(target, "orchestrator-restart", "orchestrator", events, nap)


async def results_unavailable(target: Target, events: int, *, seconds: float) -> Outcome:
    """The results topic rejects every write for ``seconds`` mid-run; no result lands meanwhile,
    and afterwards each task has exactly one."""

    async def body(world: World, outcome: Outcome) -> float:
        await wait_for(
            lambda: world.results_at_least(events // 4),
            timeout=target.patience,
            what=f"{events // 4} results before the topic turns unavailable",
        )
        await set_topic_config(world.kafka, world.results, REJECT_WRITES)
        try:
            began = time.monotonic()

            async def publish_failed() -> bool:
                # Runs publish their results themselves (the orchestrator's local activity).
                failures = "taskfactory_orchestrator_publish_failures_total"
                return await world.services.metric("orchestrator", failures) >= 1

            await wait_for(publish_failed, timeout=60, what="a result publish to be rejected")
            frozen = await world.result_records()

            async def nothing_lands() -> None:
                assert await world.result_records() == frozen, (
                    "a result landed on a rejecting topic"
                )
                world.alive()

            await hold_for(seconds - (time.monotonic() - began), nothing_lands)
        finally:
            await set_topic_config(world.kafka, world.results, ACCEPT_WRITES)
        outcome.fault_seconds = round(time.monotonic() - began, 1)
        return time.monotonic()

    return await _scenario(
        target,
        "results-unavailable",
        events,
        body,
        env={"TASKFACTORY_EXECUTOR__PUBLISH_TIMEOUT_SECONDS": "2"},
    )


def _echo(uid: str) -> str:
    return echo_definition("chaos", uid)


def _async(check: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        check()

    return run


#: name → how ``make chaos`` runs it (events, fault length) against a fully private target.
FAULTS: dict[str, Callable[[Target, int], Awaitable[Outcome]]] = {
    "ingress-sigkill": lambda t, n: ingress_sigkill(t, n, kills=3),
    "temporal-outage": lambda t, n: temporal_outage(t, n, seconds=60),
    "kafka-restart": lambda t, n: kafka_restart(t, n, seconds=20),
    "rebalance-storm": rebalance_storm,
    "executor-sigkill": executor_sigkill,
    "results-unavailable": lambda t, n: results_unavailable(t, n, seconds=20),
    "orchestrator-restart": orchestrator_restart,
}

#: The faults only a cluster has, run by ``make chaos-cluster`` on the cluster profile.
CLUSTER_FAULTS: dict[str, Callable[[Target, int], Awaitable[Outcome]]] = {
    "leader-sigkill-events": lambda t, n: broker_leader_sigkill(t, n, topic="events"),
    "leader-sigkill-results": lambda t, n: broker_leader_sigkill(t, n, topic="results"),
    "temporal-server-sigkill": lambda t, n: cluster_restart(
        t, n, component="temporal-server", kill=True
    ),
    "postgres-restart": lambda t, n: cluster_restart(t, n, component="postgres", kill=False),
}
