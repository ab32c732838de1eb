"""Correlation mode: one long-lived run per subject receives later events as signals, in order."""

from __future__ import annotations

import pytest
from conftest import Topics
from temporalio.client import Client

from taskfactory_contracts import AvroCodec
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.running import RunningServices
from taskfactory_stack.traffic import consume, envelope, produce_envelopes
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

DEFINITION = """
id: account-journal
version: 1
trigger:
  event_types: [com.example.test.requested]
correlation:
  workflow_id: "{uid}/{{subject}}"
  mode: signal
tasks:
  - id: record
    type: echo
"""


async def test_twenty_events_for_one_subject_reach_its_run_in_offset_order_once_each(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    temporal_client: Client,
    uid: str,
) -> None:
    (services.definitions / "journal.yaml").write_text(DEFINITION.format(uid=uid))
    services.start()
    events = [envelope(i, uid=uid, subject="account-7") for i in range(21)]
    await produce_envelopes(kafka_settings, topics.events, events[:20])
    # A replay of the first five (deduplicated by event id inside the run), then one new
    # event: the run handles events in order, so its result arriving means the replays
    # before it were handled too.
    await produce_envelopes(kafka_settings, topics.events, [*events[:5], events[20]])

    records = await consume(kafka_settings, topics.results, at_least=21, timeout=180)
    codec = AvroCodec()
    handled = [codec.decode_task_result(r.value).causation_id for r in records]
    assert handled == [e.id for e in events]  # in offset order, each once

    async def one_run() -> bool:
        count = await temporal_client.count_workflows(f"WorkflowId STARTS_WITH '{uid}/'")
        return count.count == 1

    await wait_for(one_run, timeout=30, what="exactly one run for the subject")
    assert await services.metric("ingress", "taskfactory_ingress_signalled_total") == 26
