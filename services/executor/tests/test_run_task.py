"""The executor's ``run_task`` activity in Temporal's activity test environment: what an
attempt returns, and which failures Temporal retries and which end the task."""

from __future__ import annotations

import asyncio
import dataclasses
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import pytest
from pydantic import BaseModel
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from taskfactory_contracts import TaskInput, TaskOutput, TransientError
from taskfactory_contracts.errors import ContractError
from taskfactory_executor.activities import ExecutorActivities
from taskfactory_executor.registry import TaskContext, TaskRegistry, cpu_bound, task_type
from taskfactory_executor.tasks import builtin_tasks
from taskfactory_runtime.once import PublishOnce


def _task(type_: str, **params: Any) -> TaskInput:
    return TaskInput(
        run_id="run-1",
        task_id="t1",
        type=type_,
        params=params,
        idempotency_key="run-1/e1/t1",
        subject="s1",
        event_id="e1",
    )


class _Greeting(BaseModel):
    name: str


def _greet(params: _Greeting) -> dict[str, str]:  # sync: runs in the thread pool
    return {"hello": params.name}


@cpu_bound
def _square(params: dict[str, Any]) -> int:
    return int(params["n"]) ** 2


async def _transient(params: dict[str, Any]) -> None:
    raise TransientError("the bank is busy")


async def _contract(params: dict[str, Any]) -> None:
    raise ContractError("the document is not what the type says")


async def _big(params: dict[str, Any]) -> str:
    return "x" * int(params["size"])


async def _checkpoints(params: dict[str, Any], context: TaskContext) -> Any:
    context.heartbeat({"done": 1})
    return {"resumed_from": context.checkpoint, "attempt": context.attempt}


def _activities(max_output_bytes: int = 1024 * 1024) -> ExecutorActivities:
    extra = [
        task_type("greet", _greet),
        task_type("square", _square),
        task_type("transient", _transient),
        task_type("contract", _contract),
        task_type("big", _big),
        task_type("checkpoints", _checkpoints),
    ]
    registry = TaskRegistry(
        {t.name: t for t in [*builtin_tasks(), *extra]}, threads=ThreadPoolExecutor(2)
    )
    # run_task never publishes: no producer is involved on this path.
    return ExecutorActivities(registry, cast(PublishOnce, None), max_output_bytes=max_output_bytes)


async def _run(task: TaskInput, env: ActivityEnvironment | None = None, **kw: Any) -> TaskOutput:
    activities = _activities(**kw)
    out: TaskOutput = await (env or ActivityEnvironment()).run(activities.run_task, task)
    return out


async def test_a_task_returns_its_output_and_the_attempt() -> None:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=3)
    out = await _run(_task("echo", a=1, nested={"b": [1, 2]}), env)
    assert out.output == {"a": 1, "nested": {"b": [1, 2]}}
    assert out.attempt == 3


async def test_sync_tasks_run_in_the_thread_pool_with_their_params_model() -> None:
    assert (await _run(_task("greet", name="Ada"))).output == {"hello": "Ada"}


async def test_invalid_params_end_the_task_naming_the_field() -> None:
    with pytest.raises(ApplicationError) as failed:
        await _run(_task("greet", nom="Ada"))
    assert failed.value.type == "InvalidTaskParams"
    assert failed.value.non_retryable
    assert "name: Field required" in failed.value.message


async def test_an_unknown_type_ends_the_task_listing_the_installed_ones() -> None:
    with pytest.raises(ApplicationError) as failed:
        await _run(_task("nope"))
    assert failed.value.type == "UnknownTaskType"
    assert failed.value.non_retryable
    assert "echo" in failed.value.message


async def test_a_cpu_bound_type_without_a_process_pool_ends_the_task() -> None:
    with pytest.raises(ApplicationError) as failed:
        await _run(_task("square", n=3))
    assert failed.value.type == "NoProcessPool"
    assert failed.value.non_retryable


@pytest.mark.parametrize(
    ("type_", "error_type", "retried"),
    [("transient", "TransientError", True), ("contract", "ContractError", False)],
)
async def test_project_errors_are_retried_only_when_transient(
    type_: str, error_type: str, retried: bool
) -> None:
    with pytest.raises(ApplicationError) as failed:
        await _run(_task(type_))
    assert failed.value.type == error_type
    assert failed.value.non_retryable is not retried


async def test_a_task_failure_of_its_own_keeps_its_type_and_retryability() -> None:
    with pytest.raises(ApplicationError) as failed:
        await _run(_task("echo", fail_message="the bank said no"))
    assert (failed.value.type, failed.value.non_retryable) == ("EchoFailure", True)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=1)
    with pytest.raises(ApplicationError) as flaky:
        await _run(_task("echo", fail_until_attempt=2), env)
    assert not flaky.value.non_retryable  # the next attempt succeeds
    env.info = dataclasses.replace(env.info, attempt=2)
    assert (await _run(_task("echo", fail_until_attempt=2), env)).attempt == 2


async def test_an_output_above_the_limit_ends_the_task_with_its_size() -> None:
    with pytest.raises(ApplicationError) as failed:
        await _run(_task("big", size=5000), max_output_bytes=4096)
    assert failed.value.type == "PayloadTooLarge"
    assert failed.value.non_retryable
    assert failed.value.details[0]["limit_bytes"] == 4096
    assert failed.value.details[0]["size_bytes"] > 5000
    assert (await _run(_task("big", size=1000), max_output_bytes=4096)).output == "x" * 1000


async def test_heartbeats_reach_temporal_and_the_next_attempt_resumes_from_them() -> None:
    beats: list[tuple[Any, ...]] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    env.info = dataclasses.replace(env.info, attempt=2, heartbeat_details=[{"done": 0}])
    out = await _run(_task("checkpoints"), env)
    assert beats == [({"done": 1},)]
    assert out.output == {"resumed_from": {"done": 0}, "attempt": 2}


async def test_a_cancelled_attempt_stops_the_task_mid_flight() -> None:
    env = ActivityEnvironment()
    beating = asyncio.Event()
    env.on_heartbeat = lambda *_: beating.set()
    running = asyncio.create_task(_run(_task("echo", delay_seconds=30), env))
    await asyncio.wait_for(beating.wait(), 10)  # the task is under way (it heartbeats)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, 10)


def test_the_old_spellings_of_built_ins_still_run_what_their_new_ones_do() -> None:
    """Runs started before the rename ask for the old names; they must still finish."""
    by_name = {t.name: t.function for t in builtin_tasks()}
    assert by_name["http.request"] is by_name["http"]
    assert by_name["kafka.publish"] is by_name["kafka_publish"]
