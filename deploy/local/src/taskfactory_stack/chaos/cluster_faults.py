"""The faults only a cluster has (``make chaos-cluster``, ``tests/chaos/test_cluster_chaos.py``):
a broker leading a partition, the Temporal server or its PostgreSQL goes away mid-stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiokafka.errors import KafkaError

from taskfactory_runtime.kafka import make_admin
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.chaos.faults import until_cleared
from taskfactory_stack.chaos.target import Outcome, Target
from taskfactory_stack.chaos.world import World, run_scenario
from taskfactory_stack.waiting import hold_for, wait_for

__all__ = ["CLUSTER_FAULTS", "broker_leader_sigkill", "cluster_restart"]


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
        await world.reach(events // 3, "results", before="the leader dies")
        name = world.events if topic == "events" else world.results
        leader = await _partition_leader(world.kafka, name, 0)
        broker = next(c for c in target.cluster if c.name == f"kafka-{leader}")
        began = time.monotonic()
        await world.sigkill(broker.process)
        try:
            # Events keep streaming meanwhile (the upstream producer is not paused).
            await hold_for(seconds, until_cleared(world.alive))
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

    return await run_scenario(target, f"leader-sigkill-{topic}", events, body)


async def cluster_restart(
    target: Target, events: int, *, component: str, kill: bool, seconds: float = 10
) -> Outcome:
    """SIGKILL (``kill``) or stop the cluster's ``component`` mid-stream, keep it away for
    ``seconds``, then start it again on its data: the Temporal server, or PostgreSQL under it
    (a fast shutdown: open transactions roll back, the server's connections break)."""
    assert target.cluster, "cluster_restart needs the cluster profile"
    part = next(c for c in target.cluster if c.name == component)

    async def body(world: World, outcome: Outcome) -> float:
        await world.reach(events // 3, "results", before=f"{component} goes away")
        began = time.monotonic()
        if kill:
            await world.sigkill(part.process)
        else:
            await asyncio.to_thread(part.down)
        try:
            await hold_for(seconds, until_cleared(world.alive))
        finally:
            await asyncio.to_thread(part.up)  # cleared even when a check failed
        outcome.fault_seconds = round(time.monotonic() - began, 1)
        return time.monotonic()

    return await run_scenario(
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


#: The faults only a cluster has, run by ``make chaos-cluster`` on the cluster profile.
CLUSTER_FAULTS: dict[str, Callable[[Target, int], Awaitable[Outcome]]] = {
    "leader-sigkill-events": lambda t, n: broker_leader_sigkill(t, n, topic="events"),
    "leader-sigkill-results": lambda t, n: broker_leader_sigkill(t, n, topic="results"),
    "temporal-server-sigkill": lambda t, n: cluster_restart(
        t, n, component="temporal-server", kill=True
    ),
    "postgres-restart": lambda t, n: cluster_restart(t, n, component="postgres", kill=False),
}
