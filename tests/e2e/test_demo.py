"""``make run`` itself: what a newcomer sees, against the running stack.

``taskfactory-stack run`` runs as a subprocess, as ``make run`` runs it, with
``TASKFACTORY_STACK_DEMO_EXIT_WHEN_DONE=1``. The stack is already up (the session fixture), so
its ``up`` is a no-op; the demo gets this test's own topics, task queues, consumer group,
schedule id prefix and process folder, so it touches nothing of another test or of a user's
``make run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import StackInfo, Topics
from temporalio.client import Client
from temporalio.service import RPCError

from taskfactory_contracts import AvroCodec, TaskStatus
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.services import OwnNames, ServiceSet
from taskfactory_stack.traffic import consume, end_offsets_total

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

ROOT = Path(__file__).parents[2]
# 5 greetings (1 result each), order 1001 (reserve, charge, 2 line notifications), loans
# app-1001 (6), app-1002 (7: with the review), app-1003 (4), 3 firings (fetch + compare each,
# one notification).
EXPECTED_RESULTS = 5 + 4 + 6 + 7 + 4 + 3 * 2 + 1


def result_lines(output: str, run_prefix: str, task: str) -> list[int]:
    """Indexes of the printed result lines of ``task`` in runs starting with ``run_prefix``."""
    pattern = re.compile(rf"^\s*result\s+{re.escape(run_prefix)}\S*\s+task={re.escape(task)}\s")
    return [i for i, line in enumerate(output.splitlines()) if pattern.match(line)]


async def _clean_up(temporal_client: Client, uid: str, demo: Path) -> None:
    await asyncio.to_thread(lambda: ServiceSet(demo.resolve()).stop())  # if the demo could not
    for definition in ("site-monitor", "nightly-report"):
        with contextlib.suppress(RPCError):  # not created
            await temporal_client.get_schedule_handle(f"{uid}-{definition}").delete()
    # A demo that failed half-way leaves runs (the loan waits 3 days for its review).
    query = f"TaskQueue = '{uid}-orchestrator' AND ExecutionStatus = 'Running'"
    async for run in temporal_client.list_workflows(query):
        with contextlib.suppress(RPCError):  # closed meanwhile
            await temporal_client.get_workflow_handle(run.id, run_id=run.run_id).terminate(
                "the test of make run is over"
            )


async def test_make_run_shows_every_example_approves_the_loan_and_notifies_once(
    stack: StackInfo,
    topics: Topics,
    kafka_settings: KafkaSettings,
    temporal_client: Client,
    uid: str,
    tmp_path: Path,
) -> None:
    if os.environ.get("TASKFACTORY_KAFKA_BOOTSTRAP") or os.environ.get("TASKFACTORY_STACK"):
        pytest.skip("make run drives the local stack (taskfactory-stack), not an external one")
    env = {
        **os.environ,
        "TASKFACTORY_STACK_DEMO_EXIT_WHEN_DONE": "1",
        "TASKFACTORY_STACK_DEMO_DIR": str(tmp_path / "demo"),
        # The test's own topics (the fixture's), group, task queues and schedule ids.
        **OwnNames(uid).env(),
    }
    command = [str(Path(sys.executable).with_name("taskfactory-stack")), "run"]
    try:
        done = await asyncio.to_thread(
            subprocess.run,
            command,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=360,
            check=False,
        )
    finally:
        await _clean_up(temporal_client, uid, tmp_path / "demo")
    output = done.stdout.replace("\r", "\n")
    print(output)  # shown when the test fails
    assert done.returncode == 0, done.stderr[-3000:]

    # The stack was up before: left running; the services are stopped.
    assert "leaving the stack running (it was up before `make run`)" in output
    assert "stopping services" in output
    assert ServiceSet((tmp_path / "demo").resolve()).running() == {}

    # Every example's results are printed as they arrive.
    for greeted in ("ada", "alan", "grace", "edsger", "barbara"):
        assert result_lines(output, f"greeting/{greeted}/", "say-hello"), greeted
    for task in ("reserve", "charge", "notify[0]", "notify[1]"):
        assert result_lines(output, "order/1001/", task), task
    assert re.search(r"order-1002-\S+: no result expected here — no definition wants it", output)
    assert re.search(r"loan-77-\S+: not sent — the worked example replaces", output)
    for app, tasks in {
        "app-1001": ("credit_check", "risk", "decide", "reserve", "disburse", "notify"),
        "app-1003": ("credit_check", "risk", "decide", "notify"),
    }.items():
        for task in tasks:
            assert result_lines(output, f"loan-approval/{app}-", task), (app, task)

    # The referred loan: approved with the CLI command shown, and only then disbursed.
    shown = re.search(
        r"\$ uv run taskfactory runs approve (loan-approval/app-1002-\S+) review "
        r"--by credit-team --comment 'income verified'",
        output,
    )
    assert shown, "the approval command is not shown"
    approve_at = output[: shown.start()].count("\n")
    after = [
        *result_lines(output, "loan-approval/app-1002-", "review"),
        *result_lines(output, "loan-approval/app-1002-", "disburse"),
        *result_lines(output, "loan-approval/app-1002-", "notify"),
    ]
    assert len(after) == 3
    assert min(after) > approve_at
    assert re.search(
        r"app-1002-\S+\s+25000 EUR\s+decide: refer → review: approved by credit-team "
        r"→ notify: disbursed",
        output,
    )
    assert re.search(r"app-1001-\S+\s+2500 EUR\s+decide: approve \(automatic\)", output)
    assert re.search(r"app-1003-\S+\s+4000 EUR\s+decide: decline \(automatic\)", output)
    assert "the bank (examples/loan-approval/bank.py) paid 2 disbursement(s)" in output

    # The monitor: three triggers of the real schedule, exactly one notification.
    assert output.count(f"$ uv run taskfactory schedules trigger {uid}-site-monitor") == 3
    assert len(result_lines(output, "monitor/site-monitor/", "compare")) == 3
    assert len(result_lines(output, "monitor/site-monitor/", "notify")) == 1
    assert re.search(r"firing 2\s+site 'degraded'\s+changed \(was 'ok'\)\s+NOTIFICATION", output)
    assert re.search(r"firing 3\s+site 'degraded'\s+unchanged\s+no notification", output)
    assert "1 notification(s) for 3 firings" in output
    assert "all 9 events and 3 firings done" in output

    # What downstream sees on the results topic agrees with the screen.
    records = await consume(kafka_settings, topics.results, at_least=EXPECTED_RESULTS, timeout=30)
    codec = AvroCodec()
    results = [codec.decode_task_result(r.value) for r in records]
    assert all(r.status is TaskStatus.SUCCEEDED for r in results), [
        (r.run_id, r.task_id, r.status) for r in results if r.status is not TaskStatus.SUCCEEDED
    ]
    notes = [r for r in results if r.definition_id == "site-monitor" and r.task_id == "notify"]
    assert len(notes) == 1
    assert await end_offsets_total(kafka_settings, topics.results) == EXPECTED_RESULTS


async def test_make_run_into_a_pipe_closed_early_stops_what_it_started(
    stack: StackInfo, topics: Topics, temporal_client: Client, uid: str, tmp_path: Path
) -> None:
    """``make run | head -n N``: once head exits, the demo stops its services and exits too.

    The stack was up before (the session fixture), so it must be left running. The demo is
    not told to exit when done: only the closed pipe can end it.
    """
    if os.environ.get("TASKFACTORY_KAFKA_BOOTSTRAP") or os.environ.get("TASKFACTORY_STACK"):
        pytest.skip("make run drives the local stack (taskfactory-stack), not an external one")
    demo = (tmp_path / "demo").resolve()
    env = {
        **os.environ,
        "TASKFACTORY_STACK_DEMO_DIR": str(demo),
        # The test's own topics (the fixture's), group, task queues and schedule ids.
        **OwnNames(uid).env(),
    }
    env.pop("TASKFACTORY_STACK_DEMO_EXIT_WHEN_DONE", None)
    stderr = tmp_path / "stderr"
    try:
        code, head = await asyncio.to_thread(_run_into_head, env, stderr, demo)
    finally:
        await _clean_up(temporal_client, uid, demo)
    errors = stderr.read_text()
    print("".join(head), errors)  # shown when the test fails
    assert code == 0, errors[-3000:]
    assert "Traceback" not in errors, errors[-3000:]
    assert "BrokenPipeError" not in errors, errors[-3000:]
    assert ServiceSet(demo).running() == {}, "a service outlived make run"
    # The stack was up before `make run`: it is still up.
    status = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).with_name("taskfactory-stack")), "status"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert status.returncode == 0, status.stdout + status.stderr


def _run_into_head(env: dict[str, str], stderr: Path, demo: Path) -> tuple[int, list[str]]:
    """Run the demo, read until its first result as ``head`` would, close; its exit code."""
    command = [str(Path(sys.executable).with_name("taskfactory-stack")), "run"]
    with stderr.open("w") as err:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err, text=True
        )
    try:
        assert process.stdout is not None
        head: list[str] = []
        while not any(line.startswith("  result ") for line in head):
            line = process.stdout.readline()
            assert line, f"make run ended early: {head} {stderr.read_text()[-3000:]}"
            head.append(line)
        assert any(line.startswith("services: ") for line in head)
        assert ServiceSet(demo).running(), "the services run while head reads"
        process.stdout.close()  # head has its lines and exits
        return process.wait(timeout=120), head
    finally:
        if process.poll() is None:
            process.kill()
