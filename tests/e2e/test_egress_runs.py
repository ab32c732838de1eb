"""Egress refusals and the output payload guard seen from a result consumer: the three services
as processes, one event, the run finishes with a failed task result naming the reason."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from conftest import Topics
from support.hostile_server import HostileServer, hostile_server

from taskfactory_contracts import AvroCodec, RunStatus, TaskStatus
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.running import RunningServices
from taskfactory_stack.traffic import consume, envelope, produce_envelopes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

DEFINITION = """
id: egress
version: 1
trigger:
  event_types: [com.example.test.requested]
correlation:
  workflow_id: "{prefix}/{{subject}}/{{id}}"
tasks:
  - id: big-output
    type: http
    params: {{url: "{big}", method: GET}}
  - id: metadata
    type: http
    params: {{url: "{metadata}", method: GET}}
"""


@pytest.fixture
async def server() -> AsyncIterator[HostileServer]:
    async with hostile_server() as running:
        yield running


async def test_a_2_5_mb_output_and_a_metadata_redirect_fail_their_tasks_and_the_run_ends(
    services: RunningServices,
    server: HostileServer,
    topics: Topics,
    kafka_settings: KafkaSettings,
    uid: str,
) -> None:
    definition = DEFINITION.format(
        prefix=uid,
        big=server.url("/sized?bytes=2500000"),
        metadata=server.url("/redirect?to=http://169.254.169.254/latest/meta-data/"),
    )
    (services.definitions / "egress.yaml").write_text(definition)
    # The body may be read (4 MB); the 2.5 MB output it makes may not reach Temporal.
    services.env["TASKFACTORY_EGRESS__MAX_RESPONSE_BYTES"] = "4000000"
    services.env["TASKFACTORY_EGRESS__REDIRECTS"] = "any"
    services.start()
    await produce_envelopes(kafka_settings, topics.events, [envelope(0, uid=uid)])

    codec = AvroCodec()
    records = await consume(kafka_settings, topics.results, at_least=2, timeout=120)
    results = {r.task_id: r for r in (codec.decode_task_result(x.value) for x in records)}
    big, metadata = results["big-output"], results["metadata"]
    assert (big.status, big.error_type) == (TaskStatus.FAILED, "PayloadTooLarge")
    assert "above the 1048576-byte limit" in (big.error_message or "")
    assert (metadata.status, metadata.error_type) == (TaskStatus.FAILED, "EgressRefused")
    assert "169.254.169.254" in (metadata.error_message or "")
    assert server.paths().count("/sized") == 1  # non-retryable: fetched once

    run_records = await consume(kafka_settings, topics.runs, at_least=2, timeout=60)
    finished = [
        e for e in (codec.decode_run_event(r.value) for r in run_records) if e.kind == "finished"
    ]
    assert [e.outcome for e in finished] == [RunStatus.FAILED]
