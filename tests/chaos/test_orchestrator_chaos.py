"""The orchestrator is SIGKILLed while runs wait for their tasks; a new one finishes them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import StackInfo

from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.chaos.faults import orchestrator_restart
from taskfactory_stack.chaos.target import Target

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(300)]


async def test_orchestrator_sigkilled_mid_run_every_run_completes_once_with_one_result(
    stack: StackInfo, kafka_settings: KafkaSettings, tmp_path: Path, uid: str
) -> None:
    target = Target(kafka_settings, stack.temporal_address, tmp_path / "worlds", mark=uid)
    outcome = await orchestrator_restart(target, 60, nap=3.0)
    outcome.check()
    assert outcome.in_flight > 0, "the kill hit no run in flight"
