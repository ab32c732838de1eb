"""Faults against the real stack: SIGKILLed ingress, a Temporal outage, replicas coming and going.

Every scenario ends with each event as exactly one workflow: none missing, none twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from conftest import Topics
from temporalio.client import Client
from tf_testing import (
    RunningServices,
    committed_total,
    echo_definition,
    envelope,
    free_port,
    hold_for,
    produce_envelopes,
    wait_for,
)

from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.components import TemporalComponent
from taskfactory_stack.settings import StackSettings

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(420)]


def _committed(
    kafka: KafkaSettings, services: RunningServices, topic: str
) -> Callable[[int], Awaitable[bool]]:
    async def at_least(n: int) -> bool:
        return await committed_total(kafka, services.group, topic) >= n

    return at_least


async def _runs(client: Client, uid: str) -> int:
    return (await client.count_workflows(f"WorkflowId STARTS_WITH '{uid}/'")).count


async def _stream(
    kafka: KafkaSettings,
    topic: str,
    uid: str,
    total: int,
    *,
    chunk: int,
    ahead: int,
    progress: Callable[[int], Awaitable[bool]],
) -> None:
    """Publish ``total`` events in chunks, staying at most ``ahead`` events ahead of the commits."""
    for start in range(0, total, chunk):
        await wait_for(
            lambda s=start: progress(s - ahead),
            timeout=120,
            what=f"commits to reach {start - ahead}",
        )  # type: ignore[misc]
        events = [
            envelope(i, uid=uid, subject=f"key-{i % 50}")
            for i in range(start, min(total, start + chunk))
        ]
        await produce_envelopes(kafka, topic, events)


async def test_sigkilled_three_times_while_streaming_every_event_runs_exactly_once(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    temporal_client: Client,
    uid: str,
) -> None:
    (services.definitions / "chaos.yaml").write_text(echo_definition("chaos", uid))
    services.start(only=("ingress",))
    progress = _committed(kafka_settings, services, topics.events)
    stream = asyncio.create_task(
        _stream(kafka_settings, topics.events, uid, 2000, chunk=100, ahead=600, progress=progress)
    )
    ingress = services.set.processes["ingress"]
    for threshold in (300, 900, 1500):
        await wait_for(lambda t=threshold: progress(t), timeout=180, what=f"{threshold} commits")  # type: ignore[misc]
        pid = ingress.pid()
        assert pid is not None, "the ingress died by itself"
        os.kill(pid, signal.SIGKILL)
        await wait_for(lambda: _dead(ingress.pid()), timeout=10, what="the ingress to die")
        services.start(only=("ingress",))
    await stream
    await wait_for(lambda: progress(2000), timeout=180, what="all 2000 offsets committed")

    async def exactly_2000() -> bool:
        return await _runs(temporal_client, uid) == 2000

    await wait_for(exactly_2000, timeout=60, what="2000 runs in visibility")
    assert await committed_total(kafka_settings, services.group, topics.events) == 2000


async def _dead(pid: int | None) -> bool:
    return pid is None


async def test_a_temporal_outage_pauses_fetching_commits_nothing_unstarted_and_loses_nothing(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    uid: str,
    tmp_path: Path,
) -> None:
    # A private Temporal server, so stopping it does not disturb other tests.
    private = TemporalComponent(
        StackSettings(
            dir=tmp_path / "temporal-stack", temporal_port=free_port(), temporal_ui_port=free_port()
        )
    )
    await asyncio.to_thread(private.up)
    try:
        services.env["TASKFACTORY_TEMPORAL__ADDRESS"] = private.address
        services.env["TASKFACTORY_INGRESS__MAX_BUFFERED_PER_PARTITION"] = "20"
        services.env["TASKFACTORY_INGRESS__RETRY_MAX_SECONDS"] = "2"
        (services.definitions / "chaos.yaml").write_text(echo_definition("chaos", uid))
        services.start(only=("ingress",))
        progress = _committed(kafka_settings, services, topics.events)
        await produce_envelopes(
            kafka_settings, topics.events, [envelope(i, uid=uid) for i in range(300)]
        )
        await wait_for(lambda: progress(50), timeout=60, what="50 commits before the outage")

        await asyncio.to_thread(private.down)
        outage_started = time.monotonic()
        await produce_envelopes(
            kafka_settings, topics.events, [envelope(i, uid=uid) for i in range(300, 600)]
        )

        async def not_ready() -> bool:
            response = await services.get("ingress", "/readyz")
            return response.status_code == 503 and "temporal" in response.json()["checks"]

        await wait_for(not_ready, timeout=20, what="readiness to turn false")
        assert await services.metric("ingress", "taskfactory_ingress_paused") == 1
        frozen_commits = await committed_total(kafka_settings, services.group, topics.events)
        frozen_consumed = await services.metric("ingress", "taskfactory_ingress_consumed_total")

        async def nothing_moves() -> None:
            # No offset is committed past an unstarted record, and fetching is paused.
            assert (
                await committed_total(kafka_settings, services.group, topics.events)
                == frozen_commits
            )
            assert (
                await services.metric("ingress", "taskfactory_ingress_consumed_total")
                == frozen_consumed
            )

        await hold_for(30 - (time.monotonic() - outage_started), nothing_moves)
        assert frozen_commits < 600

        await asyncio.to_thread(private.up)
        await wait_for(
            lambda: progress(600), timeout=120, what="all 600 committed after the outage"
        )
        client = await Client.connect(private.address)

        async def exactly_600() -> bool:
            return (await client.count_workflows(f"WorkflowId STARTS_WITH '{uid}/'")).count == 600

        await wait_for(exactly_600, timeout=60, what="600 runs")
        assert (await services.get("ingress", "/readyz")).status_code == 200
    finally:
        services.stop_all()
        await asyncio.to_thread(private.down)


async def test_replicas_joining_and_leaving_mid_stream_lose_nothing_and_run_nothing_twice(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    temporal_client: Client,
    uid: str,
) -> None:
    (services.definitions / "chaos.yaml").write_text(echo_definition("chaos", uid))
    services.start(only=("ingress",))
    second = services.add_ingress_replica("b")
    progress = _committed(kafka_settings, services, topics.events)
    stream = asyncio.create_task(
        _stream(kafka_settings, topics.events, uid, 3000, chunk=150, ahead=600, progress=progress)
    )
    await wait_for(lambda: progress(600), timeout=180, what="600 commits with two replicas")
    services.add_ingress_replica("c")
    await wait_for(lambda: progress(1400), timeout=180, what="1400 commits with three replicas")
    services.set.stop()  # two leave, gracefully (SIGTERM: drain and commit)
    second.stop()
    await stream
    await wait_for(
        lambda: progress(3000), timeout=180, what="all 3000 committed by the last replica"
    )

    async def exactly_3000() -> bool:
        return await _runs(temporal_client, uid) == 3000

    await wait_for(exactly_3000, timeout=60, what="3000 runs")
