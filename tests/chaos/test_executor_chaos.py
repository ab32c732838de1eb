"""Faults around the executor: SIGKILL during a heartbeating task, a results topic that
rejects writes mid-run. Each ends with exactly one result record and side effects done once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import Topics
from support.executor_harness import RecordingServer, create_topic, pending_activity
from temporalio.client import Client, WorkflowExecutionStatus

from taskfactory_contracts import AvroCodec, TaskStatus
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.running import RunningServices
from taskfactory_stack.traffic import (
    ACCEPT_WRITES,
    REJECT_WRITES,
    consume,
    end_offsets_total,
    envelope,
    produce_envelopes,
    set_topic_config,
)
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(240)]

SLEEPY = """
id: sleepy
version: 1
trigger:
  event_types: [com.example.test.requested]
correlation:
  workflow_id: "{uid}/{{subject}}"
tasks:
  - id: nap
    type: sleep
    params: {{seconds: 8, checkpoint_every: 0.25}}
    heartbeat_timeout: 2
    start_to_close_timeout: 120
    retry: {{initial_interval: 0.2, maximum_attempts: 5}}
"""

PAYOUT = """
id: payout
version: 1
trigger:
  event_types: [com.example.test.requested]
correlation:
  workflow_id: "{uid}/{{subject}}"
results:
  topic: {topic}
tasks:
  - id: pay
    type: http
    params: {{url: "{url}", json: {{amount: 10}}}}
"""


@pytest.fixture
async def server() -> AsyncIterator[RecordingServer]:
    async with RecordingServer() as running:
        yield running


async def _completed(client: Client, workflow_id: str) -> bool:
    desc = await client.get_workflow_handle(workflow_id).describe()
    return desc.status == WorkflowExecutionStatus.COMPLETED


def _checkpoint(client: Client, pending: Any) -> float:
    if pending is None or not pending.HasField("heartbeat_details"):
        return 0.0
    [details] = client.data_converter.payload_converter.from_payloads(
        list(pending.heartbeat_details.payloads)
    )
    return float(details["elapsed"])


async def test_sigkilled_executor_resumes_a_heartbeating_task_from_its_checkpoint(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    temporal_client: Client,
    uid: str,
) -> None:
    (services.definitions / "sleepy.yaml").write_text(SLEEPY.format(uid=uid))
    services.start()
    await produce_envelopes(kafka_settings, topics.events, [envelope(0, uid=uid)])
    wid = f"{uid}/subject-0"
    checkpoint = 0.0

    async def past_two_seconds() -> bool:
        nonlocal checkpoint
        checkpoint = _checkpoint(temporal_client, await pending_activity(temporal_client, wid))
        return checkpoint >= 2.0

    await wait_for(past_two_seconds, timeout=90, what="the sleep to checkpoint 2 s")
    executor = services.set.processes["executor"]
    pid = executor.pid()
    assert pid is not None, "the executor died by itself"
    os.kill(pid, signal.SIGKILL)

    async def dead() -> bool:
        return executor.pid() is None

    await wait_for(dead, timeout=10, what="the executor to die")
    services.start(only=("executor",))

    [record] = await consume(kafka_settings, topics.results, at_least=1, timeout=90)
    result = AvroCodec().decode_task_result(record.value)
    assert result.status is TaskStatus.SUCCEEDED
    output = json.loads(result.output_json or "null")
    # Resumed from a checkpoint at least as late as the one seen before the kill, not from zero.
    assert output["resumed_from"] >= checkpoint >= 2.0
    assert output["attempt"] == result.attempts >= 2
    await wait_for(lambda: _completed(temporal_client, wid), timeout=30, what="the run to end")
    assert await end_offsets_total(kafka_settings, topics.results) == 1


async def test_results_topic_unavailable_mid_run_publish_retries_side_effect_once(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    temporal_client: Client,
    server: RecordingServer,
    uid: str,
) -> None:
    private = f"{uid}.private-results"
    await create_topic(kafka_settings, private)
    server.gates["/pay"] = gate = asyncio.Event()
    definition = PAYOUT.format(uid=uid, topic=private, url=server.url("/pay"))
    (services.definitions / "payout.yaml").write_text(definition)
    services.env["TASKFACTORY_EXECUTOR__PUBLISH_TIMEOUT_SECONDS"] = "2"
    services.start()
    await produce_envelopes(kafka_settings, topics.events, [envelope(0, uid=uid)])
    wid = f"{uid}/subject-0"

    await wait_for(_entered(server), timeout=60, what="the payment call")
    await set_topic_config(kafka_settings, private, REJECT_WRITES)  # mid-run
    gate.set()

    # The run publishes its result itself (the orchestrator's local activity), retrying.
    async def publish_retried() -> bool:
        retries = "taskfactory_orchestrator_publish_retries_total"
        return await services.metric("orchestrator", retries) >= 2

    await wait_for(publish_retried, timeout=60, what="the result publish to be retried twice")
    assert await end_offsets_total(kafka_settings, private) == 0
    await set_topic_config(kafka_settings, private, ACCEPT_WRITES)

    [record] = await consume(kafka_settings, private, at_least=1, timeout=60)
    result = AvroCodec().decode_task_result(record.value)
    assert (result.task_id, result.status) == ("pay", TaskStatus.SUCCEEDED)
    await wait_for(lambda: _completed(temporal_client, wid), timeout=30, what="the run to end")
    assert await end_offsets_total(kafka_settings, private) == 1
    assert len(server.calls_to("/pay")) == 1  # the side effect ran once
    failures = "taskfactory_orchestrator_publish_failures_total"
    assert await services.metric("orchestrator", failures) >= 2


def _entered(server: RecordingServer) -> Any:
    async def check() -> bool:
        return server.entered.is_set()

    return check
