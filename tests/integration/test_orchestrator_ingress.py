"""An event through the real ingress and Temporal runs a three-task DAG definition."""

from __future__ import annotations

import json

import pytest
from conftest import Topics
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from taskfactory_contracts import AvroCodec, TaskStatus, names
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.running import RunningServices
from taskfactory_stack.traffic import consume, envelope, produce_envelopes

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

DEFINITION = """
id: dag-{uid}
version: 5
trigger:
  event_types: [com.example.test.requested]
  filter: "event.data.n >= 1"
correlation:
  workflow_id: "{uid}/{{subject}}/{{id}}"
tasks:
  - id: fetch
    type: echo
    params: {{n: "{{{{ event.data.n }}}}"}}
  - id: enrich
    type: echo
    params: {{who: "{{{{ event.subject }}}}"}}
  - id: combine
    type: echo
    needs: [fetch, enrich]
    params:
      both: ["{{{{ tasks.fetch.output.n }}}}", "{{{{ tasks.enrich.output.who }}}}"]
"""


async def test_an_event_runs_a_three_task_dag_with_its_version_in_input_and_search_attributes(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    temporal_client: Client,
    uid: str,
) -> None:
    (services.definitions / "dag.yaml").write_text(DEFINITION.format(uid=uid))
    services.start()
    filtered_out, wanted = envelope(0, uid=uid), envelope(1, uid=uid)
    await produce_envelopes(kafka_settings, topics.events, [filtered_out, wanted])

    records = await consume(kafka_settings, topics.results, at_least=3, timeout=180)
    codec = AvroCodec()
    results = {r.task_id: r for r in (codec.decode_task_result(x.value) for x in records)}
    assert set(results) == {"fetch", "enrich", "combine"}
    assert {r.causation_id for r in results.values()} == {wanted.id}, "the filter held back n=0"
    assert all(r.status is TaskStatus.SUCCEEDED for r in results.values())
    assert all(r.definition_version == 5 for r in results.values())
    combine = json.loads(results["combine"].output_json or "null")
    assert combine == {"both": [1, "subject-1"]}, "combine saw both earlier outputs"
    assert results["combine"].finished_at >= max(
        results["fetch"].finished_at, results["enrich"].finished_at
    )

    handle = temporal_client.get_workflow_handle(f"{uid}/subject-1/{wanted.id}")
    description = await handle.describe()
    attributes = description.typed_search_attributes
    assert attributes.get(SearchAttributeKey.for_keyword(names.SA_DEFINITION)) == f"dag-{uid}"
    assert attributes.get(SearchAttributeKey.for_keyword(names.SA_EVENT_TYPE)) == wanted.type
    assert attributes.get(SearchAttributeKey.for_keyword(names.SA_SUBJECT)) == "subject-1"
    started = [
        e
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    ]
    payload = started[0].workflow_execution_started_event_attributes.input.payloads[0]
    run_input = json.loads(payload.data)
    assert run_input["definition"]["id"] == f"dag-{uid}"
    assert run_input["definition"]["version"] == 5
    skipped = await temporal_client.count_workflows(f"WorkflowId STARTS_WITH '{uid}/subject-0/'")
    assert skipped.count == 0, "no run for the event the filter rejected"
