"""Faults against the real stack: SIGKILLed ingress, a Temporal outage, replicas coming and going.

Every scenario (shared with ``make chaos``, see ``taskfactory_stack.chaos``) ends with each event as
exactly one run with exactly one result, nothing dead-lettered and the lag back to zero.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import StackInfo

from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.chaos.faults import ingress_sigkill, rebalance_storm, temporal_outage
from taskfactory_stack.chaos.target import Target, private_temporal

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(420)]


async def test_sigkilled_three_times_while_streaming_every_event_runs_exactly_once(
    stack: StackInfo, kafka_settings: KafkaSettings, tmp_path: Path, uid: str
) -> None:
    target = Target(kafka_settings, stack.temporal_address, tmp_path / "worlds", mark=uid)
    outcome = await ingress_sigkill(target, 200, kills=3)
    outcome.check()


async def test_a_temporal_outage_pauses_fetching_commits_nothing_unstarted_and_loses_nothing(
    kafka_settings: KafkaSettings, tmp_path: Path, uid: str
) -> None:
    # A private Temporal server, so stopping it does not disturb other tests. While it is
    # away the scenario checks that the ingress is unready, paused and commits nothing.
    private = private_temporal(tmp_path / "temporal-stack")
    await asyncio.to_thread(private.up)
    try:
        target = Target(
            kafka_settings,
            private.address,
            tmp_path / "worlds",
            mark=uid,
            temporal_component=private,
        )
        outcome = await temporal_outage(target, 200, seconds=30)
        outcome.check()
    finally:
        await asyncio.to_thread(private.down)


async def test_replicas_joining_and_leaving_mid_stream_lose_nothing_and_run_nothing_twice(
    stack: StackInfo, kafka_settings: KafkaSettings, tmp_path: Path, uid: str
) -> None:
    target = Target(kafka_settings, stack.temporal_address, tmp_path / "worlds", mark=uid)
    outcome = await rebalance_storm(target, 200)
    outcome.check()
