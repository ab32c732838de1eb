"""``taskfactory runs event ID`` answers what an event produced: its run, tasks and result ids.

The command runs as a subprocess against the real Temporal and the running services; the
result ids it prints are those of the result records the executor published to Kafka.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Topics

from taskfactory_contracts import AvroCodec, TaskStatus
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.running import RunningServices
from taskfactory_stack.traffic import consume, envelope, produce_envelopes

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

CLI = Path(sys.executable).with_name("taskfactory")

DEFINITION = """
id: produced-{uid}
version: 1
trigger:
  event_types: [com.example.test.requested]
correlation:
  workflow_id: "{uid}/{{subject}}/{{id}}"
tasks:
  - id: first
    type: echo
    params: {{n: "{{{{ event.data.n }}}}"}}
  - id: second
    type: echo
    needs: [first]
    params: {{again: "{{{{ tasks.first.output.n }}}}"}}
"""


async def _runs_event(services: RunningServices, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [str(CLI), "runs", "event", *args],
        env={**os.environ, **services.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_runs_event_names_the_run_its_tasks_and_their_result_ids(
    services: RunningServices, topics: Topics, kafka_settings: KafkaSettings, uid: str
) -> None:
    (services.definitions / "produced.yaml").write_text(DEFINITION.format(uid=uid))
    services.start()
    wanted, other = envelope(1, uid=uid), envelope(2, uid=uid)
    await produce_envelopes(kafka_settings, topics.events, [wanted, other])
    records = await consume(kafka_settings, topics.results, at_least=4, timeout=180)
    codec = AvroCodec()
    published = {
        r.task_id: r.result_id
        for r in (codec.decode_task_result(x.value) for x in records)
        if r.causation_id == wanted.id and r.status is TaskStatus.SUCCEEDED
    }
    assert set(published) == {"first", "second"}

    done = await _runs_event(services, wanted.id, "--definition", f"produced-{uid}")

    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    run = json.loads(line)
    assert run["workflow_id"] == f"{uid}/{wanted.subject}/{wanted.id}"
    assert run["definition_id"] == f"produced-{uid}"
    assert run["tasks"] == {
        task_id: {"phase": "succeeded", "result_id": result_id}
        for task_id, result_id in published.items()
    }


async def test_an_event_that_started_no_run_is_one_line_and_a_non_zero_exit(
    services: RunningServices, uid: str
) -> None:
    (services.definitions / "produced.yaml").write_text(DEFINITION.format(uid=uid))
    services.start(only=("orchestrator",))

    done = await _runs_event(services, f"{uid}-never-sent", "--definition", f"produced-{uid}")

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"no run among the newest 100 was started by event {uid}-never-sent"
    ]
