"""Faults only a cluster has: a partition's leader broker, the Temporal server or its database
dies or restarts while events stream.

Runs on the cluster profile (three brokers, replication factor 3, ``min.insync.replicas=2``,
the Temporal server on PostgreSQL), started here if it is not running and stopped afterwards.
Collected only with ``TASKFACTORY_STACK_PROFILE=cluster`` (``make test-cluster``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.chaos.cluster_faults import broker_leader_sigkill, cluster_restart
from taskfactory_stack.chaos.target import Target
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.stack import Stack

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Stack]:
    """The cluster profile of the local stack."""
    stack = Stack(StackSettings(profile="cluster"))
    started = stack.up()
    try:
        yield stack
    finally:
        if started:
            stack.down()


def _target(cluster: Stack, tmp_path: Path, uid: str) -> Target:
    return Target(
        kafka=KafkaSettings(bootstrap_servers=cluster.kafka_bootstrap),
        temporal_address=cluster.temporal_address,
        root=tmp_path / "worlds",
        mark=uid,
        patience=120,
        replication_factor=cluster.replication_factor,
        cluster=cluster.components,
    )


@pytest.mark.parametrize("topic", ["events", "results"])
async def test_the_leader_broker_dies_mid_stream_every_event_runs_once_with_one_result(
    cluster: Stack, topic: str, tmp_path: Path, uid: str
) -> None:
    target = _target(cluster, tmp_path, uid)
    outcome = await broker_leader_sigkill(target, 150, topic=topic, seconds=10)
    outcome.check()


@pytest.mark.parametrize(
    ("component", "kill"), [("temporal-server", True), ("postgres", False)], ids=["sigkill", "pg"]
)
async def test_the_temporal_server_or_its_database_goes_away_mid_stream_nothing_lost_or_twice(
    cluster: Stack, component: str, kill: bool, tmp_path: Path, uid: str
) -> None:
    target = _target(cluster, tmp_path, uid)
    outcome = await cluster_restart(target, 150, component=component, kill=kill, seconds=10)
    outcome.check()
