"""One trace from the upstream producer's span to the result record, read back from Jaeger."""

from __future__ import annotations

import json
import secrets

import httpx
import pytest
from conftest import StackInfo, Topics

from taskfactory_contracts import AvroCodec, names
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.running import RunningServices
from taskfactory_stack.traffic import consume, envelope, produce
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

DEFINITION = """
id: traced
version: 1
trigger:
  event_types: [com.example.test.requested]
correlation:
  workflow_id: "{uid}/{{subject}}/{{id}}"
tasks:
  - id: first
    type: echo
    params: {{n: 1}}
  - id: second
    type: echo
    params: {{n: 2}}
"""


async def test_a_producer_traceparent_yields_one_trace_through_every_service_to_the_result(
    stack: StackInfo,
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    uid: str,
) -> None:
    assert stack.jaeger_ui, "the stack runs Jaeger (TASKFACTORY_STACK_JAEGER is on by default)"
    (services.definitions / "traced.yaml").write_text(DEFINITION.format(uid=uid))
    services.env["TASKFACTORY_LOGGING__LEVEL"] = "DEBUG"
    services.start()
    trace_id = secrets.token_hex(16)
    producer_span = secrets.token_hex(8)
    event = envelope(1, uid=uid)
    headers = [(names.HEADER_TRACEPARENT, f"00-{trace_id}-{producer_span}-01".encode())]
    await produce(
        kafka_settings, topics.events, [(b"subject-1", AvroCodec().encode_envelope(event), headers)]
    )

    results = await consume(kafka_settings, topics.results, at_least=2, timeout=120)
    for record in results:
        traceparent = dict(record.headers)[names.HEADER_TRACEPARENT].decode()
        assert traceparent.split("-")[1] == trace_id  # the result belongs to the producer's trace

    wanted_services = {"taskfactory-ingress", "taskfactory-orchestrator", "taskfactory-executor"}
    trace: dict[str, object] = {}

    async def whole_trace_in_jaeger() -> bool:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(f"{stack.jaeger_ui}/api/traces/{trace_id}")
        if response.status_code != 200 or not response.json().get("data"):
            return False
        data = response.json()["data"][0]
        processes = {p["serviceName"] for p in data["processes"].values()}
        operations = [s["operationName"] for s in data["spans"]]
        trace.update(processes=processes, operations=operations, spans=data["spans"])
        # Spans reach Jaeger in export batches, a parent often after its children: the trace
        # is whole once every parent a span names is in it (or is the producer's span).
        ids = {s["spanID"] for s in data["spans"]} | {producer_span}
        parents_known = all(
            ref["spanID"] in ids
            for span in data["spans"]
            for ref in span["references"]
            if ref["refType"] == "CHILD_OF"
        )
        # Every span asserted below must have arrived, not only the parents of those that did:
        # a child can come in a later export batch than all the rest (seen on the cluster).
        return (
            wanted_services <= processes
            # The run publishes its results itself (local activities of the orchestrator).
            and "RunActivity:taskfactory.publish_local" in operations
            and f"{topics.events} process" in operations
            and f"StartWorkflow:{names.WORKFLOW_RUN_ACTIVITY}" in operations
            and f"RunWorkflow:{names.WORKFLOW_RUN_ACTIVITY}" in operations
            and operations.count("RunActivity:taskfactory.run_task") >= 2
            and parents_known
        )

    await wait_for(whole_trace_in_jaeger, timeout=60, what="the whole trace in Jaeger")
    operations = trace["operations"]
    assert isinstance(operations, list)
    assert f"{topics.events} process" in operations
    assert f"StartWorkflow:{names.WORKFLOW_RUN_ACTIVITY}" in operations
    assert f"RunWorkflow:{names.WORKFLOW_RUN_ACTIVITY}" in operations
    assert operations.count("RunActivity:taskfactory.run_task") == 2  # one per task, no retry
    # Every span hangs off the producer's span: none starts a trace of its own.
    spans = trace["spans"]
    assert isinstance(spans, list)
    for span in spans:
        parents = [r["spanID"] for r in span["references"] if r["refType"] == "CHILD_OF"]
        assert parents, f"{span['operationName']} has no parent"

    # Logs of each service for this event carry the same trace id.
    logs = services.logs()
    traced: dict[str, list[str]] = {}
    for service in ("ingress", "orchestrator", "executor"):
        lines = [json.loads(line) for line in logs[service].splitlines() if line.startswith("{")]
        traced[service] = [line["event"] for line in lines if line.get("trace_id") == trace_id]
        assert traced[service], f"no {service} log line in the trace"
    # The orchestrator says which run it started and finished for the event, in its trace.
    orchestrator = " ".join(traced["orchestrator"])
    assert f"run started: event {event.id}, definition traced" in orchestrator
    assert f"run finished: event {event.id}, succeeded" in orchestrator
