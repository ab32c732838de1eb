"""One chaos scenario's world: its topics, services, upstream producer and counters, and the
frame every scenario runs in (start, stream, fault, recover, count)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from taskfactory_contracts import AvroCodec, names
from taskfactory_runtime.kafka import (
    client_kwargs,
    committed_offsets_total,
    delete_topics,
    ensure_topics,
)
from taskfactory_stack.chaos.target import Outcome, Target
from taskfactory_stack.process import TrackedProcess
from taskfactory_stack.running import RunningServices
from taskfactory_stack.services import OwnNames, ServiceEnv
from taskfactory_stack.traffic import (
    consume,
    definition_yaml,
    echo_definition,
    end_offsets_total,
    envelope,
    produce_envelopes,
)
from taskfactory_stack.waiting import wait_for

__all__ = ["PARTITIONS", "Body", "World", "run_scenario", "sleepy_definition"]

#: Partitions of every topic of a world.
PARTITIONS = 6
#: The orchestrator's counter of publishes that looked for their record first.
_CHECKS = "taskfactory_publish_checks_total"


def sleepy_definition(uid: str, seconds: float) -> str:
    """The scenarios' definition: one heartbeating sleep task of ``seconds`` per event."""
    return definition_yaml(
        "chaos",
        uid,
        f"""  - id: nap
    type: sleep
    params: {{seconds: {seconds}, checkpoint_every: 0.5}}
    heartbeat_timeout: 2
    start_to_close_timeout: 120
    retry: {{initial_interval: 0.2, maximum_attempts: 10}}
""",
    )


class World:
    """The services of one scenario on their own topics, group, queues and id prefix (which
    starts with the target's mark)."""

    def __init__(
        self, target: Target, fault: str, definition: Callable[[str], str], env: dict[str, str]
    ) -> None:
        self.target = target
        self.kafka = target.kafka
        self.uid = f"{target.mark}-{fault}-{uuid.uuid4().hex[:8]}"
        own = OwnNames(self.uid)
        self.events = own.events
        self.results = own.results
        self.runs = own.runs
        self.dead_letter = own.dead_letter
        self.topics = own.topics
        root = target.root / self.uid
        root.mkdir(parents=True)
        service_env = ServiceEnv(
            target.kafka.bootstrap_servers,
            target.temporal_address,
            root / "definitions",
            own=own,
        )
        self.services = RunningServices(root, {**service_env.env(), **env}, group=own.group)
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

    async def start(self) -> None:
        """Create the topics and start the three services."""
        await ensure_topics(
            self.kafka,
            self.topics,
            partitions=PARTITIONS,
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
        return await _quietly(committed_offsets_total(self.kafka, self.services.group, self.events))

    async def result_records(self) -> int | None:
        """Records on the results topic."""
        return await _quietly(end_offsets_total(self.kafka, self.results))

    async def committed_at_least(self, n: int) -> bool:
        """Whether ``n`` offsets are committed."""
        return (await self.committed() or 0) >= n

    async def results_at_least(self, n: int) -> bool:
        """Whether ``n`` results are on the results topic."""
        return (await self.result_records() or 0) >= n

    async def reach(self, n: int, counted: Literal["commits", "results"], *, before: str) -> None:
        """Wait (up to the target's patience) until ``n`` offsets are committed (``commits``)
        or ``n`` records are on the results topic (``results``)."""
        at_least = self.committed_at_least if counted == "commits" else self.results_at_least
        await wait_for(
            lambda: at_least(n), timeout=self.target.patience, what=f"{n} {counted} before {before}"
        )

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

    async def kill_at_next_result(self, service: str) -> float:
        """SIGKILL ``service`` the moment the next result lands on the results topic, then
        start it again; returns how long it was away.

        Runs publish their results themselves (the orchestrator's local activity): right after
        a result is acknowledged, its run is still sending its ``finished`` run event or has
        not yet recorded the publish in Temporal, so a kill timed by the results topic strikes
        the orchestrator around a publish far more often than one at a random moment.
        """
        consumer = AIOKafkaConsumer(**client_kwargs(self.kafka), enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(self.results, p) for p in range(PARTITIONS)])
            await consumer.seek_to_end()
            deadline = time.monotonic() + self.target.patience
            while not await consumer.getmany(timeout_ms=1000, max_records=1):
                assert time.monotonic() < deadline, f"{self.uid}: no result before the kill"
            return await self.kill_and_restart(service)  # before the consumer's slow stop
        finally:
            await consumer.stop()

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
            return (
                (await self.committed() or 0) >= n
                and (await self.result_records() or 0) >= n
                and (await _quietly(end_offsets_total(self.kafka, self.runs)) or 0)
                >= outcome.expected_run_events
            )

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
        # Run events are counted by their deterministic id (a header, whatever the format).
        total = await end_offsets_total(self.kafka, self.runs)
        run_events = await consume(self.kafka, self.runs, at_least=total, timeout=60)
        ids = {
            value
            for record in run_events
            for key, value in record.headers
            if key == names.HEADER_RUN_EVENT_ID
        }
        outcome.run_events, outcome.distinct_run_events = len(run_events), len(ids)
        with contextlib.suppress(httpx.HTTPError):
            metric = self.services.metric
            outcome.publish_checks = int(await metric("orchestrator", _CHECKS))
            found = await metric("orchestrator", _CHECKS, label='found="true"')
            outcome.publish_checks_found = int(found)
        outcome.dead_letters = await end_offsets_total(self.kafka, self.dead_letter)
        outcome.lag = await end_offsets_total(
            self.kafka, self.events
        ) - await committed_offsets_total(self.kafka, self.services.group, self.events)
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


async def run_scenario(
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
    world = World(
        target, fault, definition or (lambda uid: echo_definition("chaos", uid)), env or {}
    )
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
