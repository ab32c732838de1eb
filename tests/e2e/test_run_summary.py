"""Each run reads in the Temporal UI's workflow list without opening it: its user metadata
summary names the definition and version, the event type and the subject."""

from __future__ import annotations

import pytest
from conftest import Topics
from temporalio.client import Client

from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.running import RunningServices
from taskfactory_stack.traffic import consume, echo_definition, envelope, produce_envelopes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


async def test_a_run_carries_a_summary_of_what_started_it(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    temporal_client: Client,
    uid: str,
) -> None:
    (services.definitions / "echo.yaml").write_text(echo_definition("summarised", uid))
    services.start()
    event = envelope(7, uid=uid)
    await produce_envelopes(kafka_settings, topics.events, [event])
    await consume(kafka_settings, topics.results, at_least=1, timeout=120)

    description = await temporal_client.get_workflow_handle(
        f"{uid}/{event.subject}/{event.id}"
    ).describe()
    assert await description.static_summary() == (
        f"summarised v1 · com.example.test.requested · {event.subject}"
    )
