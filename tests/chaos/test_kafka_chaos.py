"""The Kafka broker stops mid-stream and returns on the same data: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import StackInfo

from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.chaos.faults import kafka_restart
from taskfactory_stack.chaos.target import Target, private_kafka

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(300)]


async def test_broker_restart_mid_stream_every_event_runs_once_with_one_result(
    stack: StackInfo, tmp_path: Path, uid: str
) -> None:
    # A private broker, so stopping it does not disturb other tests; the shared Temporal.
    broker = private_kafka(tmp_path / "kafka-stack")
    await asyncio.to_thread(broker.up)
    try:
        target = Target(
            kafka=KafkaSettings(bootstrap_servers=broker.address),
            temporal_address=stack.temporal_address,
            root=tmp_path / "worlds",
            mark=uid,
            kafka_component=broker,
            patience=90,
        )
        outcome = await kafka_restart(target, 150, seconds=10)
        outcome.check()
    finally:
        await asyncio.to_thread(broker.down)
