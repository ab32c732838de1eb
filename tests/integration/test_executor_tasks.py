"""Each built-in task type against the real Temporal and Kafka: success, retry-then-success,
non-retryable failure and timeout; plus unknown types and plugins installed as a package."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from support.executor_harness import (
    InProcessExecutor,
    RecordingServer,
    create_topic,
    install_plugin,
    pending_activity,
    task_input,
)
from temporalio.client import Client

from taskfactory_executor.registry import TaskRegistry
from taskfactory_executor.tasks import builtin_tasks
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.traffic import (
    ACCEPT_WRITES,
    REJECT_WRITES,
    consume,
    end_offsets_total,
    set_topic_config,
)
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
async def executor(
    temporal_client: Client, kafka_settings: KafkaSettings, uid: str
) -> AsyncIterator[InProcessExecutor]:
    runner = InProcessExecutor(temporal_client, kafka_settings, f"{uid}-executor", 1.0)
    async with runner.running():
        yield runner


@pytest.fixture
async def server() -> AsyncIterator[RecordingServer]:
    async with RecordingServer() as running:
        yield running


# ---- echo --------------------------------------------------------------------------------------
async def test_echo_succeeds_with_its_params(executor: InProcessExecutor, uid: str) -> None:
    out = await executor.drive(task_input(uid, "echo", {"a": [1, 2]}), workflow_id=f"{uid}-wf")
    assert (out.status, out.output, out.attempt) == ("succeeded", {"a": [1, 2]}, 1)


async def test_echo_retries_then_succeeds(executor: InProcessExecutor, uid: str) -> None:
    task = task_input(uid, "echo", {"fail_until_attempt": 3})
    out = await executor.drive(task, workflow_id=f"{uid}-wf")
    assert (out.status, out.attempt) == ("succeeded", 3)


async def test_echo_non_retryable_failure_is_not_retried(
    executor: InProcessExecutor, uid: str
) -> None:
    task = task_input(uid, "echo", {"fail_message": "no such applicant"})
    out = await executor.drive(task, workflow_id=f"{uid}-wf", maximum_attempts=5)
    assert (out.status, out.error_type, out.non_retryable) == ("failed", "EchoFailure", True)
    assert out.message == "no such applicant"


async def test_echo_times_out(executor: InProcessExecutor, uid: str) -> None:
    task = task_input(uid, "echo", {"delay_seconds": 10})
    out = await executor.drive(
        task, workflow_id=f"{uid}-wf", start_to_close_seconds=1, maximum_attempts=1
    )
    assert out.status == "timed_out"


async def test_unknown_type_fails_at_once_naming_the_installed_types(
    executor: InProcessExecutor, uid: str
) -> None:
    out = await executor.drive(task_input(uid, "nope", {}), workflow_id=f"{uid}-wf")
    assert (out.status, out.error_type, out.non_retryable) == ("failed", "UnknownTaskType", True)
    assert "'nope'" in (out.message or "")
    for name in ("echo", "http", "kafka_publish", "sleep"):
        assert name in (out.message or "")


# ---- sleep -------------------------------------------------------------------------------------
async def test_sleep_succeeds(executor: InProcessExecutor, uid: str) -> None:
    task = task_input(uid, "sleep", {"seconds": 0.3, "checkpoint_every": 0.1})
    out = await executor.drive(task, workflow_id=f"{uid}-wf", heartbeat_seconds=2)
    assert out.status == "succeeded"
    assert out.output == {"slept_seconds": 0.3, "resumed_from": 0.0, "attempt": 1}


async def test_sleep_handed_back_on_shutdown_resumes_from_its_checkpoint(
    temporal_client: Client, kafka_settings: KafkaSettings, uid: str
) -> None:
    """A worker shut down mid-task hands it back; the next worker resumes, not restarts."""
    queue = f"{uid}-executor"
    first = InProcessExecutor(temporal_client, kafka_settings, queue)
    task = task_input(uid, "sleep", {"seconds": 4, "checkpoint_every": 0.2})
    wid = f"{uid}-wf"
    async with first.running():
        handle = await temporal_client.start_workflow(
            "tf-test-drive-task",
            _drive_arg(first, task, heartbeat_seconds=2, maximum_attempts=3),
            id=wid,
            task_queue=first.driver_queue,
        )

        async def progressed() -> bool:
            pending = await pending_activity(temporal_client, wid)
            return pending is not None and pending.HasField("heartbeat_details")

        await wait_for(progressed, timeout=30, what="a heartbeat with progress")
    # The first worker is gone; a second one picks the task up.
    second = InProcessExecutor(temporal_client, kafka_settings, queue)
    async with second.running():
        result = await handle.result()
    assert result["status"] == "succeeded"
    assert result["attempt"] == 2
    assert 0 < result["output"]["resumed_from"] < 4


async def test_sleep_with_invalid_params_is_non_retryable(
    executor: InProcessExecutor, uid: str
) -> None:
    out = await executor.drive(task_input(uid, "sleep", {"seconds": -1}), workflow_id=f"{uid}-wf")
    assert (out.status, out.error_type, out.non_retryable) == ("failed", "InvalidTaskParams", True)
    assert "seconds" in (out.message or "")


async def test_sleep_times_out_without_heartbeats_reaching_temporal(
    executor: InProcessExecutor, uid: str
) -> None:
    task = task_input(uid, "sleep", {"seconds": 30})
    out = await executor.drive(
        task, workflow_id=f"{uid}-wf", start_to_close_seconds=1, maximum_attempts=1
    )
    assert out.status == "timed_out"


# ---- http ---------------------------------------------------------------------------------------
async def test_http_request_succeeds_with_the_idempotency_key(
    executor: InProcessExecutor, server: RecordingServer, uid: str
) -> None:
    server.scripts["/pay"] = [(201, {}, {"paid": 5})]
    params = {"url": server.url("/pay"), "json": {"amount": 5}}
    task = task_input(uid, "http", params)
    out = await executor.drive(task, workflow_id=f"{uid}-wf")
    assert (out.status, out.output) == ("succeeded", {"status": 201, "body": {"paid": 5}})
    [call] = server.calls_to("/pay")
    assert (call.idempotency_key, call.body) == (task.idempotency_key, {"amount": 5})


async def test_http_request_retries_5xx_and_429_honouring_retry_after_with_one_key(
    executor: InProcessExecutor, server: RecordingServer, uid: str
) -> None:
    server.scripts["/pay"] = [(503, {}, {}), (429, {"Retry-After": "2"}, {}), (200, {}, {})]
    task = task_input(uid, "http", {"url": server.url("/pay")})
    out = await executor.drive(task, workflow_id=f"{uid}-wf", initial_interval_seconds=0.1)
    assert (out.status, out.attempt) == ("succeeded", 3)
    calls = server.calls_to("/pay")
    assert [c.idempotency_key for c in calls] == [task.idempotency_key] * 3
    # 0.1 s after the 503; the 2 s the 429 asked for (not the policy's 0.1 s) after the 429.
    assert calls[2].at - calls[1].at >= 1.9
    assert calls[1].at - calls[0].at < 1.5


async def test_http_request_4xx_is_non_retryable(
    executor: InProcessExecutor, server: RecordingServer, uid: str
) -> None:
    server.scripts["/pay"] = [(422, {}, {"error": "account closed"})]
    task = task_input(uid, "http", {"url": server.url("/pay")})
    out = await executor.drive(task, workflow_id=f"{uid}-wf")
    assert (out.status, out.error_type, out.non_retryable) == ("failed", "HttpStatus422", True)
    assert "account closed" in (out.message or "")
    assert len(server.calls_to("/pay")) == 1


async def test_http_request_times_out(
    executor: InProcessExecutor, server: RecordingServer, uid: str
) -> None:
    server.gates["/slow"] = asyncio.Event()  # never opened while the task runs
    task = task_input(uid, "http", {"url": server.url("/slow")})
    out = await executor.drive(
        task, workflow_id=f"{uid}-wf", start_to_close_seconds=1, maximum_attempts=1
    )
    assert out.status == "timed_out"
    assert len(server.calls_to("/slow")) == 1


# ---- kafka_publish -----------------------------------------------------------------------------
async def test_kafka_publish_succeeds(
    executor: InProcessExecutor, kafka_settings: KafkaSettings, uid: str
) -> None:
    topic = f"{uid}.out"
    await create_topic(kafka_settings, topic)
    task = task_input(uid, "kafka_publish", {"topic": topic, "value": {"x": 1}})
    out = await executor.drive(task, workflow_id=f"{uid}-wf")
    assert out.status == "succeeded"
    assert out.output["topic"] == topic
    [record] = await consume(kafka_settings, topic, at_least=1, timeout=30)
    assert (record.key, record.value) == (task.subject.encode(), b'{"x":1}')
    assert dict(record.headers)["taskfactory-idempotency-key"] == task.idempotency_key.encode()


async def test_a_run_started_before_the_rename_still_runs_kafka_publish_under_its_old_name(
    executor: InProcessExecutor, kafka_settings: KafkaSettings, uid: str
) -> None:
    """Definition files may no longer say ``kafka.publish``; runs that carry it still finish."""
    topic = f"{uid}.out"
    await create_topic(kafka_settings, topic)
    task = task_input(uid, "kafka.publish", {"topic": topic, "value": 7})
    out = await executor.drive(task, workflow_id=f"{uid}-wf")
    assert out.status == "succeeded"
    [record] = await consume(kafka_settings, topic, at_least=1, timeout=30)
    assert record.value == b"7"


async def test_kafka_publish_retries_while_the_topic_is_unavailable_and_writes_once(
    executor: InProcessExecutor, kafka_settings: KafkaSettings, temporal_client: Client, uid: str
) -> None:
    topic = f"{uid}.out"
    await create_topic(kafka_settings, topic, configs=REJECT_WRITES)
    task = task_input(uid, "kafka_publish", {"topic": topic, "value": 7})
    wid = f"{uid}-wf"
    running = asyncio.create_task(executor.drive(task, workflow_id=wid, maximum_attempts=0))

    async def retrying() -> bool:
        pending = await pending_activity(temporal_client, wid)
        return pending is not None and pending.attempt >= 2

    await wait_for(retrying, timeout=60, what="a second publish attempt")
    await set_topic_config(kafka_settings, topic, ACCEPT_WRITES)
    out = await running
    assert out.status == "succeeded"
    assert out.attempt >= 2
    assert await end_offsets_total(kafka_settings, topic) == 1


async def test_kafka_publish_to_an_invalid_topic_is_non_retryable(
    executor: InProcessExecutor, uid: str
) -> None:
    task = task_input(uid, "kafka_publish", {"topic": "not a topic!", "value": 1})
    out = await executor.drive(task, workflow_id=f"{uid}-wf")
    assert (out.status, out.error_type, out.non_retryable) == ("failed", "InvalidTaskParams", True)


async def test_kafka_publish_times_out_when_never_acknowledged(
    temporal_client: Client, kafka_settings: KafkaSettings, uid: str
) -> None:
    topic = f"{uid}.out"
    await create_topic(kafka_settings, topic)
    # A producer that holds every record 5 s before sending: never acknowledged in time.
    slow = InProcessExecutor(
        temporal_client,
        kafka_settings,
        f"{uid}-executor",
        30.0,
        producer_overrides={"linger_ms": 5_000},
    )
    async with slow.running():
        task = task_input(uid, "kafka_publish", {"topic": topic, "value": 1})
        out = await slow.drive(
            task, workflow_id=f"{uid}-wf", start_to_close_seconds=1.5, maximum_attempts=1
        )
    assert out.status == "timed_out"


# ---- plugins -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = install_plugin(tmp_path_factory.mktemp("site"))
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(target)
        yield target


async def test_a_plugin_package_is_discovered_and_each_kind_runs(
    plugin_path: Path,
    temporal_client: Client,
    kafka_settings: KafkaSettings,
    uid: str,
    tmp_path: Path,
) -> None:
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
    from multiprocessing import get_context

    threads = ThreadPoolExecutor(4)
    processes = ProcessPoolExecutor(1, mp_context=get_context("spawn"))
    registry = TaskRegistry.discover(builtin_tasks(), threads=threads, processes=processes)
    assert registry.types["testplugin.add"].origin.endswith("(taskfactory-test-plugin 0.1.0)")
    assert (
        registry.types["testplugin.wait_for_file"].kind,
        registry.types["testplugin.fib"].kind,
    ) == (
        "sync",
        "cpu-bound",
    )
    assert "testplugin.broken" not in registry.types  # logged, not fatal
    runner = InProcessExecutor(
        temporal_client, kafka_settings, f"{uid}-executor", registry=registry
    )
    marker = tmp_path / "go"
    try:
        async with runner.running():
            # The sync task blocks its thread until the marker exists; the marker is written only
            # after other tasks finished meanwhile: a blocked event loop would never get there.
            blocking = asyncio.create_task(
                runner.drive(
                    task_input(uid, "testplugin.wait_for_file", {"path": str(marker)}, n=1),
                    workflow_id=f"{uid}-blocking",
                )
            )
            server_entered = asyncio.create_task(
                runner.drive(
                    task_input(uid, "testplugin.add", {"a": 2, "b": 3}, n=2),
                    workflow_id=f"{uid}-add",
                )
            )
            added = await server_entered
            slept = await runner.drive(
                task_input(uid, "sleep", {"seconds": 0.5, "checkpoint_every": 0.1}, n=3),
                workflow_id=f"{uid}-sleep",
            )
            assert not blocking.done()
            marker.touch()
            waited = await blocking
            fib = await runner.drive(
                task_input(uid, "testplugin.fib", {"n": 90}, n=4), workflow_id=f"{uid}-fib"
            )
            invalid = await runner.drive(
                task_input(uid, "testplugin.add", {"a": "x"}, n=5), workflow_id=f"{uid}-invalid"
            )
    finally:
        threads.shutdown()
        processes.shutdown()
    assert (added.status, added.output) == ("succeeded", {"sum": 5})
    assert slept.status == "succeeded"
    assert (waited.status, waited.output) == ("succeeded", {"seen": str(marker)})
    assert fib.output["value"] == 2880067194370816120
    assert fib.output["pid"] != os.getpid()
    assert (invalid.status, invalid.error_type) == ("failed", "InvalidTaskParams")


def _drive_arg(runner: InProcessExecutor, task: object, **options: object) -> object:
    from support.executor_harness import DriveInput

    return DriveInput(task=task, task_queue=runner.queue, **options)
