"""``http`` tasks under the egress policy and the output payload guard, through the real
executor activities on the real Temporal: each refusal is a task failure a run sees as final
(non-retryable), named by type, with no credential in it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from support.executor_harness import LOOPBACK_EGRESS, InProcessExecutor, task_input
from support.hostile_server import HostileServer, hostile_server
from temporalio.client import Client

from taskfactory_executor.registry import TaskRegistry, task_type
from taskfactory_runtime.egress import EgressSettings
from taskfactory_runtime.settings import KafkaSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

METADATA = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
Runner = Callable[..., Any]


@pytest.fixture
async def server() -> AsyncIterator[HostileServer]:
    async with hostile_server() as running:
        yield running


@pytest.fixture
def executor(temporal_client: Client, kafka_settings: KafkaSettings, uid: str) -> Runner:
    """``executor(**fields)``: an in-process executor context with those fields."""

    def make(**fields: Any) -> Any:
        return InProcessExecutor(
            temporal_client, kafka_settings, f"{uid}-executor", 1.0, **fields
        ).running()

    return make


def _loopback(**values: Any) -> EgressSettings:
    return LOOPBACK_EGRESS.model_copy(update=values)


async def test_a_redirect_to_the_metadata_address_is_refused_once(
    executor: Runner, server: HostileServer, uid: str
) -> None:
    url = server.url(f"/redirect?to={METADATA}")
    async with executor(egress=_loopback(redirects="any")) as running:
        out = await running.drive(task_input(uid, "http", {"url": url}), workflow_id=uid)
    assert (out.status, out.error_type, out.non_retryable) == ("failed", "EgressRefused", True)
    assert "169.254.169.254" in (out.message or "")
    assert server.paths() == ["/redirect"]  # not retried


async def test_redirects_are_not_followed_by_default(
    executor: Runner, server: HostileServer, uid: str
) -> None:
    url = server.url(f"/redirect?to={server.url('/json')}")
    async with executor() as running:
        out = await running.drive(task_input(uid, "http", {"url": url}), workflow_id=uid)
    assert (out.status, out.error_type, out.non_retryable) == ("failed", "EgressRefused", True)
    assert "redirects are off" in (out.message or "")
    assert server.paths() == ["/redirect"]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "2130706433"])
async def test_loopback_is_refused_unless_the_deployment_allows_it(
    executor: Runner, server: HostileServer, uid: str, host: str
) -> None:
    task = task_input(uid, "http", {"url": server.url("/json", host=host)})
    async with executor(egress=EgressSettings()) as running:
        out = await running.drive(task, workflow_id=uid)
    assert (out.status, out.error_type, out.non_retryable) == ("failed", "EgressRefused", True)
    assert "non-public address" in (out.message or "")
    assert server.requests == []


async def test_a_300_mb_body_fails_the_task_at_the_limit(
    executor: Runner, server: HostileServer, uid: str
) -> None:
    async with executor() as running:
        task = task_input(uid, "http", {"url": server.url("/huge"), "method": "GET"})
        out = await running.drive(task, workflow_id=uid)
    assert (out.status, out.error_type, out.non_retryable) == ("failed", "ResponseTooLarge", True)
    assert "1048576-byte limit" in (out.message or "")
    await server.huge_done.wait()
    assert server.huge_sent < 32 * 1024 * 1024
    assert server.paths() == ["/huge"]


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/file", "file:///etc/passwd"])
async def test_an_unsupported_scheme_is_non_retryable(executor: Runner, uid: str, url: str) -> None:
    async with executor() as running:
        out = await running.drive(task_input(uid, "http", {"url": url}), workflow_id=uid)
    assert (out.status, out.error_type, out.non_retryable) == ("failed", "EgressRefused", True)
    assert "scheme" in (out.message or "")


async def test_the_timeout_is_capped_by_the_deployment(
    executor: Runner, server: HostileServer, uid: str
) -> None:
    """``timeout_seconds: 3600`` against a server that never answers ends at the cap (a
    retryable timeout), long before the activity's own 20 s limit."""
    params = {"url": server.url("/hang"), "method": "GET", "timeout_seconds": 3600}
    async with executor(egress=_loopback(max_timeout_seconds=1)) as running:
        out = await running.drive(
            task_input(uid, "http", params), workflow_id=uid, maximum_attempts=1
        )
    assert (out.status, out.error_type, out.non_retryable) == ("failed", "HttpTimeout", False)
    assert "capped" in (out.message or "")


SENTINELS = ("hunter2-PASSWORD", "KEY-3f9a1c", "TOKEN-77be0d")


async def test_credentials_reach_neither_the_error_nor_the_logs(
    executor: Runner, server: HostileServer, uid: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    password, key, token = SENTINELS
    url = f"http://alice:{password}@127.0.0.1:{server.port}/fail?status=422&api_key={key}"
    params = {"url": url, "headers": {"X-Auth-Token": token}}
    async with executor() as running:
        out = await running.drive(task_input(uid, "http", params), workflow_id=uid)
    assert (out.status, out.error_type) == ("failed", "HttpStatus422")
    assert "http://***@127.0.0.1" in (out.message or "")
    assert "HTTP Request: POST http://***@127.0.0.1" in caplog.text
    for sentinel in SENTINELS:
        assert sentinel not in (out.message or "")
        assert sentinel not in caplog.text


# ---- the output payload guard ----------------------------------------------------------------
OUTPUT_BYTES = 2_500_000


async def test_a_2_5_mb_http_response_output_fails_the_task_non_retryably(
    executor: Runner, server: HostileServer, uid: str
) -> None:
    """The body is within a raised response limit; the output it makes is not (a payload
    Temporal would refuse, for ever, on completion)."""
    params = {"url": server.url(f"/sized?bytes={OUTPUT_BYTES}"), "method": "GET"}
    async with executor(egress=_loopback(max_response_bytes=4_000_000)) as running:
        out = await running.drive(task_input(uid, "http", params), workflow_id=uid)
    assert (out.status, out.error_type, out.non_retryable) == ("failed", "PayloadTooLarge", True)
    assert "1048576-byte limit" in (out.message or "")
    assert server.paths() == ["/sized"]


async def test_a_2_5_mb_plugin_output_fails_the_task_once_naming_its_size(
    executor: Runner, uid: str
) -> None:
    calls: list[int] = []

    def blob(params: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        return {"blob": "z" * params["bytes"]}

    threads = ThreadPoolExecutor(2)
    registry = TaskRegistry(
        {"test.blob": task_type("test.blob", blob, origin="test")}, threads=threads
    )
    try:
        async with executor(registry=registry) as running:
            big = await running.drive(
                task_input(uid, "test.blob", {"bytes": OUTPUT_BYTES}, n=1),
                workflow_id=f"{uid}-big",
                maximum_attempts=5,
            )
            small = await running.drive(
                task_input(uid, "test.blob", {"bytes": 1000}, n=2), workflow_id=f"{uid}-small"
            )
    finally:
        threads.shutdown()
    assert (big.status, big.error_type, big.non_retryable) == ("failed", "PayloadTooLarge", True)
    size = int((big.message or "").split("output is ")[1].split(" bytes")[0])
    assert OUTPUT_BYTES < size < OUTPUT_BYTES + 100
    assert "TASKFACTORY_EXECUTOR__MAX_OUTPUT_BYTES" in (big.message or "")
    assert len(calls) == 2  # the big one ran once: not retried
    assert (small.status, len(small.output["blob"])) == ("succeeded", 1000)


async def test_an_output_below_the_limits_passes_both(
    executor: Runner, server: HostileServer, uid: str
) -> None:
    params = {"url": server.url("/sized?bytes=500000"), "method": "GET"}
    async with executor() as running:
        out = await running.drive(task_input(uid, "http", params), workflow_id=uid)
    assert out.status == "succeeded"
    assert len(out.output["body"]["blob"]) == 500_000
