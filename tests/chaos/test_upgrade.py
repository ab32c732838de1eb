"""A live upgrade: runs started by the release before the fast path, still running when the new
orchestrator and executor take over, complete with one result per task (and their run events).

The old release is the commit this branch started from, exported with ``git archive`` and put
first on the services' ``PYTHONPATH`` (the same virtual environment otherwise).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import Topics
from temporalio.client import Client, WorkflowExecutionStatus

from taskfactory_contracts import AvroCodec, TaskStatus
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.process import TrackedProcess
from taskfactory_stack.running import RunningServices
from taskfactory_stack.traffic import consume, end_offsets_total, envelope, produce_envelopes
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
#: The last commit before the fast path (local-activity publishing, patch fast-path-v1).
OLD_RELEASE = "5dcbe23128a9ef3c52ccdf046203a13f74eee160"
RUNS = 4

# The nap outlasts the spread of the runs' starts (seconds apart on a busy machine, right after
# the stack came up), so every run is still napping when the old release is killed.
TWO_STEPS = """
id: two-steps
version: 1
trigger:
  event_types: [com.example.test.requested]
correlation:
  workflow_id: "{uid}/{{subject}}"
tasks:
  - id: nap
    type: sleep
    params: {{seconds: 20, checkpoint_every: 0.5}}
    heartbeat_timeout: 2
    start_to_close_timeout: 60
  - id: after
    type: echo
    needs: [nap]
    params: {{n: "{{{{ event.data.n }}}}"}}
"""


def _old_release(target: Path) -> str:
    """The old release's packages, exported from git; their ``src`` folders as a PYTHONPATH."""
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", OLD_RELEASE], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return ":".join(
        str(target / p)
        for p in (
            "libs/contracts/src",
            "libs/runtime/src",
            "services/ingress/src",
            "services/orchestrator/src",
            "services/executor/src",
        )
    )


async def _status(client: Client, workflow_id: str) -> WorkflowExecutionStatus | None:
    return (await client.get_workflow_handle(workflow_id).describe()).status


async def test_runs_started_by_the_old_release_finish_on_the_new_one_with_one_result_per_task(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    temporal_client: Client,
    uid: str,
    tmp_path: Path,
) -> None:
    (services.definitions / "two-steps.yaml").write_text(TWO_STEPS.format(uid=uid))
    services.env["PYTHONPATH"] = _old_release(tmp_path / "old")
    services.start()  # the old release: its ingress starts runs of the old type
    del services.env["PYTHONPATH"]
    await produce_envelopes(
        kafka_settings, topics.events, [envelope(i, uid=uid) for i in range(RUNS)]
    )
    ids = [f"{uid}/subject-{i}" for i in range(RUNS)]

    async def all_napping() -> bool:
        # The old executor publishes each run's "started" event before the nap begins.
        return await end_offsets_total(kafka_settings, topics.runs) >= RUNS

    await wait_for(all_napping, timeout=90, what="every run to start on the old release")
    for name in ("orchestrator", "executor"):  # mid-run, without a chance to drain
        process = services.set.processes[name]
        pid = process.pid()
        assert pid is not None, f"the old {name} died by itself"
        os.kill(pid, signal.SIGKILL)

        async def dead(process: TrackedProcess = process) -> bool:
            return process.pid() is None

        await wait_for(dead, timeout=10, what=f"the old {name} to die")
    for wid in ids:
        assert await _status(temporal_client, wid) == WorkflowExecutionStatus.RUNNING
    services.start(only=("orchestrator", "executor"))

    async def all_completed() -> bool:
        statuses = [await _status(temporal_client, wid) for wid in ids]
        return all(s == WorkflowExecutionStatus.COMPLETED for s in statuses)

    await wait_for(all_completed, timeout=150, what="every run to complete on the new release")
    codec = AvroCodec()
    records = await consume(kafka_settings, topics.results, at_least=2 * RUNS, timeout=30)
    results = [codec.decode_task_result(r.value) for r in records]
    assert sorted((r.run_id, r.task_id) for r in results) == sorted(
        (wid, task) for wid in ids for task in ("after", "nap")
    )
    assert {r.status for r in results} == {TaskStatus.SUCCEEDED}
    assert await end_offsets_total(kafka_settings, topics.results) == 2 * RUNS
    assert await end_offsets_total(kafka_settings, topics.runs) == 2 * RUNS
