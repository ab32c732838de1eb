"""Hot reload: a new definition file routes new events without a restart; a bad one is refused."""

from __future__ import annotations

import pytest
from conftest import Topics
from temporalio.client import Client

from taskfactory_runtime.kafka import committed_offsets_total as committed_total
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.running import RunningServices
from taskfactory_stack.traffic import envelope, produce_envelopes
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

DEFINITION = """
id: {id}
version: 1
trigger:
  event_types: [{type}]
correlation:
  workflow_id: "{uid}/{{definition}}/{{id}}"
tasks:
  - id: echo-it
    type: echo
"""


async def test_a_definition_added_at_runtime_routes_the_next_events_and_a_bad_file_changes_nothing(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    temporal_client: Client,
    uid: str,
) -> None:
    services.env["TASKFACTORY_INGRESS__RELOAD_SECONDS"] = "0.2"
    (services.definitions / "first.yaml").write_text(
        DEFINITION.format(id="first", type="com.example.first", uid=uid)
    )
    services.start(only=("ingress",))

    async def committed(n: int) -> bool:
        return await committed_total(kafka_settings, services.group, topics.events) == n

    async def runs_of(definition: str, n: int) -> bool:
        query = f"WorkflowId STARTS_WITH '{uid}/{definition}/'"
        return (await temporal_client.count_workflows(query)).count == n

    second = [envelope(i, uid=uid, type_="com.example.second") for i in range(3)]
    await produce_envelopes(kafka_settings, topics.events, second)
    await wait_for(lambda: committed(3), timeout=60, what="3 commits")
    assert (
        await services.metric("ingress", "taskfactory_ingress_skipped_total") == 3
    )  # nobody wanted them

    # A broken file is refused; the routing keeps its last good set.
    (services.definitions / "broken.yaml").write_text("id: [unclosed\n")
    (services.definitions / "second.yaml").write_text(
        DEFINITION.format(id="second", type="com.example.second", uid=uid)
    )

    async def loaded(n: float) -> bool:
        return await services.metric("ingress", "taskfactory_ingress_definitions") == n

    async def bad_change_logged() -> bool:
        return "definitions change rejected" in services.logs()["ingress"]

    await wait_for(bad_change_logged, timeout=30, what="the bad change to be rejected")
    assert await loaded(1)
    (services.definitions / "broken.yaml").unlink()
    await wait_for(lambda: loaded(2), timeout=30, what="the good set with two definitions")

    later = [envelope(i, uid=uid, type_="com.example.second") for i in range(3, 6)]
    await produce_envelopes(kafka_settings, topics.events, later)
    await wait_for(lambda: committed(6), timeout=60, what="6 commits")
    await wait_for(lambda: runs_of("second", 3), timeout=30, what="3 runs of the new definition")
