"""Effectively-once publishing: a process SIGKILLed right after Kafka acknowledged a record,
before Temporal learned the publish was done, leaves that record on its topic once.

The kill is made deterministic by the test hook ``TASKFACTORY_CHAOS_KILL_AFTER_ACK`` (the
process kills itself right after the acknowledgement of its first record of that kind). The
restarted process repeats the publish; it waits one lease, finds the record and sends nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import Topics
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import RetryPolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from taskfactory_contracts import AvroCodec, PublishResultInput, TaskResult, TaskStatus, names
from taskfactory_runtime.once import KILL_AFTER_ACK_ENV
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.running import RunningServices
from taskfactory_stack.traffic import consume, end_offsets_total, envelope, produce_envelopes
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(240)]

ECHO = """
id: echo-once
version: 1
trigger:
  event_types: [com.example.test.requested]
correlation:
  workflow_id: "{uid}/{{subject}}"
tasks:
  - id: only
    type: echo
    params: {{n: 1}}
"""


async def _completed(client: Client, workflow_id: str) -> bool:
    desc = await client.get_workflow_handle(workflow_id).describe()
    return desc.status == WorkflowExecutionStatus.COMPLETED


async def _died(services: RunningServices, name: str) -> None:
    process = services.set.processes[name]

    async def dead() -> bool:
        return process.pid() is None

    await wait_for(dead, timeout=60, what=f"the {name} to kill itself after the ack")


@pytest.mark.parametrize("kind", ["result", "run_event"])
async def test_orchestrator_killed_between_the_ack_and_the_local_activity_leaves_one_record(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    temporal_client: Client,
    uid: str,
    kind: str,
) -> None:
    (services.definitions / "echo.yaml").write_text(ECHO.format(uid=uid))
    services.env["TASKFACTORY_ORCHESTRATOR__PUBLISH_LEASE_SECONDS"] = "3"
    services.start(only=("ingress", "executor"))
    services.env[KILL_AFTER_ACK_ENV] = kind
    services.start(only=("orchestrator",))
    del services.env[KILL_AFTER_ACK_ENV]
    await produce_envelopes(kafka_settings, topics.events, [envelope(0, uid=uid)])
    topic = topics.results if kind == "result" else topics.runs

    await _died(services, "orchestrator")
    assert await end_offsets_total(kafka_settings, topic) == 1, "acknowledged before the kill"
    services.start(only=("orchestrator",))
    wid = f"{uid}/subject-0"
    await wait_for(lambda: _completed(temporal_client, wid), timeout=120, what="the run to end")

    codec = AvroCodec()
    [result] = await consume(kafka_settings, topics.results, at_least=1, timeout=30)
    assert codec.decode_task_result(result.value).status is TaskStatus.SUCCEEDED
    events = await consume(kafka_settings, topics.runs, at_least=2, timeout=30)
    assert sorted(codec.decode_run_event(e.value).kind.value for e in events) == [
        "finished",
        "started",
    ]
    assert await end_offsets_total(kafka_settings, topics.results) == 1
    assert await end_offsets_total(kafka_settings, topics.runs) == 2
    # The restarted orchestrator looked, found the record, and did not send it again.
    assert await _records_found(services, "orchestrator") >= 1


@workflow.defn(name="PublishThroughExecutor", sandboxed=False)
class PublishThroughExecutor:
    """A run started before the fast path: its result goes out through the executor."""

    @workflow.run
    async def run(self, arg: PublishResultInput, executor_queue: str) -> None:
        await workflow.execute_activity(
            names.ACTIVITY_PUBLISH_RESULT,
            arg,
            task_queue=executor_queue,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
        )


def _result(uid: str) -> TaskResult:
    now = datetime.now(UTC)
    return TaskResult(
        result_id=f"{uid}-result",
        run_id=f"{uid}/run",
        task_id="pay",
        task_type="echo",
        definition_id="payout",
        definition_version=1,
        subject="subject-0",
        status=TaskStatus.SUCCEEDED,
        output_json='{"ok":true}',
        attempts=1,
        started_at=now,
        finished_at=now,
        causation_id=f"{uid}-event",
    )


async def test_executor_killed_between_the_ack_and_the_activity_completion_leaves_one_result(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    temporal_client: Client,
    uid: str,
) -> None:
    services.env["TASKFACTORY_EXECUTOR__PUBLISH_LEASE_SECONDS"] = "3"
    services.env[KILL_AFTER_ACK_ENV] = "result"
    services.start(only=("executor",))
    del services.env[KILL_AFTER_ACK_ENV]
    driver_queue = f"{uid}-driver-{uuid.uuid4().hex[:6]}"
    executor_queue = services.env["TASKFACTORY_TEMPORAL__EXECUTOR_TASK_QUEUE"]
    arg = PublishResultInput(result=_result(uid), topic=topics.results)
    async with Worker(
        temporal_client,
        task_queue=driver_queue,
        workflows=[PublishThroughExecutor],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await temporal_client.start_workflow(
            "PublishThroughExecutor",
            args=[arg, executor_queue],
            id=f"{uid}-publish",
            task_queue=driver_queue,
        )
        await _died(services, "executor")
        assert await end_offsets_total(kafka_settings, topics.results) == 1
        services.start(only=("executor",))
        await handle.result()
        history = await handle.fetch_history()
    attempts = _activity_attempts(history)
    assert attempts >= 2, "the publish was repeated after the kill"
    [record] = await consume(kafka_settings, topics.results, at_least=1, timeout=30)
    assert AvroCodec().decode_task_result(record.value).result_id == f"{uid}-result"
    assert await end_offsets_total(kafka_settings, topics.results) == 1
    assert await _records_found(services, "executor") >= 1


async def _records_found(services: RunningServices, service: str) -> float:
    """How many publishes found their record already on the topic (and did not send)."""
    text = (await services.get(service, "/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("taskfactory_publish_checks_total{") and 'found="true"' in line
    )


def _activity_attempts(history: Any) -> int:
    for event in history.events:
        if event.HasField("activity_task_started_event_attributes"):
            return int(event.activity_task_started_event_attributes.attempt)
    return 0
