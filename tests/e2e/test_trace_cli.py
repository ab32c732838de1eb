"""`taskfactory trace EVENT_ID` against the real Jaeger: an event sent through the three
services shows as one tree with every service's spans."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from conftest import StackInfo, Topics

from taskfactory_contracts import AvroCodec
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.running import RunningServices
from taskfactory_stack.traffic import consume, echo_definition, envelope, produce
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _trace(jaeger: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskfactory_runtime.cli", "trace", *args],
        env={**os.environ, "TASKFACTORY_JAEGER_URL": jaeger},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_trace_shows_the_events_spans_from_every_service_as_a_tree(
    stack: StackInfo,
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    uid: str,
) -> None:
    assert stack.jaeger_ui, "the stack runs Jaeger (TASKFACTORY_STACK_JAEGER is on by default)"
    assert "TASKFACTORY_TRACING__OTLP_ENDPOINT" in services.env
    (services.definitions / "echo.yaml").write_text(echo_definition("traced-cli", uid))
    services.start()
    event = envelope(1, uid=uid)
    await produce(
        kafka_settings, topics.events, [(b"subject-1", AvroCodec().encode_envelope(event), [])]
    )
    await consume(kafka_settings, topics.results, at_least=1, timeout=120)

    shown: list[str] = []

    async def whole_tree() -> bool:
        done = await asyncio.to_thread(_trace, stack.jaeger_ui or "", event.id)
        shown[:] = done.stdout.splitlines()
        text = done.stdout
        return done.returncode == 0 and "RunActivity:taskfactory.publish_local" in text

    await wait_for(whole_tree, timeout=60, what=f"the trace of {event.id} in Jaeger")
    header, *spans = shown
    assert header.startswith("trace ")
    assert "0 error(s)" in header
    # The ingress's process span is the root; the workflow and the task hang below it.
    assert spans[0].startswith(f"  {topics.events} process")
    assert "taskfactory-ingress" in spans[0]
    run_task = next(line for line in spans if "RunActivity:taskfactory.run_task" in line)
    assert "taskfactory-executor" in run_task
    assert run_task.endswith(" ok")
    workflow = next(line for line in spans if "RunWorkflow:RunActivityWorkflow" in line)
    assert "taskfactory-orchestrator" in workflow
    indent = len(workflow) - len(workflow.lstrip())
    assert indent > len(spans[0]) - len(spans[0].lstrip())  # nested under the ingress
    assert " ms " in run_task


def test_an_unknown_event_is_one_line_and_a_non_zero_exit(stack: StackInfo) -> None:
    assert stack.jaeger_ui
    done = _trace(stack.jaeger_ui, "no-such-event-7f3a")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().count("\n") == 0
    assert "no trace of event 'no-such-event-7f3a'" in done.stderr


def test_jaeger_unreachable_is_one_line_and_a_non_zero_exit() -> None:
    done = _trace("http://127.0.0.1:9", "any-event")
    assert done.returncode == 1
    assert done.stderr.startswith("trace: cannot query Jaeger at http://127.0.0.1:9")
    assert done.stderr.strip().count("\n") == 0
