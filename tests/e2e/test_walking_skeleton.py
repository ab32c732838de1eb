"""One event all the way through: Kafka → ingress → Temporal → orchestrator → executor → Kafka."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import Topics
from support.metrics import metric_families
from temporalio.client import Client

from taskfactory_contracts import AvroCodec, RunStatus, TaskStatus, names
from taskfactory_runtime.kafka import committed_offsets_total as committed_total
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.running import RunningServices
from taskfactory_stack.traffic import consume, end_offsets_total, envelope, produce_envelopes
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

CATALOGUE = Path(__file__).parents[2] / "docs" / "metrics.md"

DEFINITION = """
id: skeleton
version: 1
trigger:
  event_types: [com.example.test.requested]
correlation:
  workflow_id: "{prefix}/{{subject}}/{{id}}"
tasks:
  - id: echo-it
    type: echo
    params: {{greeting: hello}}
"""


async def test_fifty_events_become_fifty_runs_and_fifty_results_exactly_once(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    temporal_client: Client,
    uid: str,
) -> None:
    (services.definitions / "skeleton.yaml").write_text(DEFINITION.format(prefix=uid))
    services.start()

    events = [envelope(i, uid=uid) for i in range(50)]
    await produce_envelopes(kafka_settings, topics.events, events)

    records = await consume(kafka_settings, topics.results, at_least=50, timeout=120)
    codec = AvroCodec()
    results = [codec.decode_task_result(r.value) for r in records]
    assert len(results) == 50
    assert sorted(r.causation_id for r in results) == sorted(e.id for e in events)
    assert {r.status for r in results} == {TaskStatus.SUCCEEDED}
    assert all(r.output_json == '{"greeting":"hello"}' for r in results)
    # Key = subject, headers carry the event id and the run id.
    for record, result in zip(records, results, strict=True):
        headers = dict(record.headers)
        assert record.key == result.subject.encode()
        assert headers[names.HEADER_EVENT_ID] == result.causation_id.encode()
        assert headers[names.HEADER_RUN_ID] == result.run_id.encode()

    # Each run reports its start and its end on the runs topic.
    run_records = await consume(kafka_settings, topics.runs, at_least=100, timeout=60)
    run_events = [codec.decode_run_event(r.value) for r in run_records]
    kinds = sorted((e.causation_id, e.kind.value) for e in run_events)
    assert kinds == sorted((e.id, k) for e in events for k in ("started", "finished"))
    assert {e.outcome for e in run_events if e.kind.value == "finished"} == {RunStatus.SUCCEEDED}

    query = f"WorkflowId STARTS_WITH '{uid}/' AND ExecutionStatus = 'Completed'"

    async def fifty_completed() -> bool:
        return (await temporal_client.count_workflows(query)).count == 50

    await wait_for(fifty_completed, timeout=60, what="50 completed workflows in visibility")

    # The same 50 events again: deduplicated by workflow id, no new run, no new result.
    await produce_envelopes(kafka_settings, topics.events, events)

    async def all_committed() -> bool:
        return await committed_total(kafka_settings, services.group, topics.events) == 100

    await wait_for(all_committed, timeout=60, what="the ingress to commit all 100 offsets")
    assert await services.metric("ingress", "taskfactory_ingress_duplicates_total") == 50
    assert await services.metric("ingress", "taskfactory_ingress_started_total") == 50
    all_runs = await temporal_client.count_workflows(f"WorkflowId STARTS_WITH '{uid}/'")
    assert all_runs.count == 50
    assert await end_offsets_total(kafka_settings, topics.results) == 50

    # The metrics catalogue (docs/metrics.md) matches what the three services expose.
    catalogue = set(re.findall(r"`((?:taskfactory|temporal)_[a-z_]+)`", CATALOGUE.read_text()))
    exposed: set[str] = set()
    for service in ("ingress", "orchestrator", "executor"):
        text = (await services.get(service, "/metrics")).text
        exposed |= {f for f in metric_families(text) if f.startswith(("taskfactory_", "temporal_"))}
    assert exposed - catalogue == set(), "exposed but not in docs/metrics.md"
    ours = {m for m in catalogue if m.startswith("taskfactory_")}
    assert ours - exposed == set(), "in docs/metrics.md but exposed by no service"
