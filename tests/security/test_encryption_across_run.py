"""Payload encryption across the three real services, with a key rotation while events flow.

Temporal's histories are read with the Temporal CLI (``temporal workflow show``), never through
our codec: every payload in them (the event the run started with, the run's summary, each
task's input and output, the run's result) must be ciphertext; the few clear by design are
named and checked in ``_bookkeeping``. Results on Kafka are plaintext envelopes by design:
downstream consumers hold no Temporal key. The rotation is the documented two steps, each a
rolling restart of the three services while events keep arriving.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from conftest import StackInfo, Topics
from google.protobuf import json_format
from support.payload_encryption import (
    codec_server,
    history_payloads,
    is_sealed,
    temporal_cli,
    write_keyring,
)
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History
from temporalio.client import Client

from taskfactory_contracts import AvroCodec, Envelope, TaskStatus
from taskfactory_runtime.encryption import KEY_ID_METADATA, generate_key
from taskfactory_runtime.kafka import client_kwargs
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.running import RunningServices
from taskfactory_stack.traffic import consume, end_offsets_total, envelope
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SENTINEL = "SENTINEL-applicant-Grace-Hopper-1906"
KEY_A = generate_key()
KEY_B = generate_key()
TOKEN = "SENTINEL-codec-token-across-run"

TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
LOCAL_ACTIVITY_MARKER = {
    "seq",
    "attempt",
    "activity_id",
    "activity_type",
    "complete_time",
    "backoff",
    "original_schedule_time",
    "activation_index",
}

DEFINITION = """
id: sealed
version: 1
trigger:
  event_types: [com.example.test.requested]
correlation:
  workflow_id: "UID/{subject}/{id}"
tasks:
  - id: echo-secret
    type: echo
    params:
      secret: "{{ event.data.secret }}"
      n: "{{ event.data.n }}"
"""


def _bookkeeping(path: str, payload: Payload) -> bool:
    """The two clear payloads a history holds by design, each checked to hold nothing else.

    - ``header.fields[_tracer-data]``: the W3C trace context the tracing interceptor passes on
      (random ids, also in the ``traceparent`` header of every result record on Kafka). Kept
      clear so that a worker of an older release can still read it during a rolling upgrade.
    - ``marker_recorded…details[data]``: the SDK core's own record of a local activity (the
      result publish): sequence number, attempt, activity type, times. The SDK writes it
      itself, past the codec; the local activity's result beside it is sealed.
    """
    if payload.metadata.get("encoding") != b"json/plain":
        return False
    value = json.loads(payload.data)
    if path.endswith("header.fields[_tracer-data]"):
        return set(value) <= {"traceparent", "tracestate"} and bool(
            TRACEPARENT.fullmatch(value["traceparent"])
        )
    if path.endswith("details[data].payloads[0]") and ".marker_recorded_" in path:
        return set(value) <= LOCAL_ACTIVITY_MARKER and SENTINEL not in payload.data.decode()
    return False


def _event(i: int, uid: str) -> Envelope:
    return envelope(i, uid=uid, data=f'{{"n": {i}, "secret": "{SENTINEL}"}}'.encode())


class Stream:
    """Publishes one event every ``interval`` seconds until stopped: the traffic of a rotation."""

    def __init__(self, kafka: KafkaSettings, topic: str, uid: str, interval: float) -> None:
        self.kafka, self.topic, self.uid, self.interval = kafka, topic, uid, interval
        self.sent: list[Envelope] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        kwargs = client_kwargs(self.kafka)
        kwargs.pop("request_timeout_ms")
        producer = AIOKafkaProducer(**kwargs, acks="all")
        await producer.start()
        codec = AvroCodec()
        try:
            while not self._stop.is_set():
                event = _event(len(self.sent), self.uid)
                await producer.send_and_wait(
                    self.topic, codec.encode_envelope(event), key=event.subject.encode()
                )
                self.sent.append(event)
                # Pacing of the load, not synchronisation: the test waits on conditions.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.interval)
        finally:
            await producer.stop()

    def stop(self) -> None:
        self._stop.set()


async def _restart_one_by_one(services: RunningServices) -> None:
    """Restart each service with the current env, the next only once the last is ready again."""
    for name in ("orchestrator", "executor", "ingress"):
        await asyncio.to_thread(services.set.processes[name].stop, 30)
        services.start(only=(name,))

        async def ready(name: str = name) -> bool:
            services.set.check()
            try:
                return (await services.get(name, "/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(ready, timeout=90, what=f"the restarted {name} to be ready")


async def _results_at_least(kafka: KafkaSettings, topic: str, n: int, what: str) -> None:
    async def enough() -> bool:
        return await end_offsets_total(kafka, topic) >= n

    await wait_for(enough, timeout=120, what=what)


async def test_every_payload_of_real_runs_is_ciphertext_and_a_key_rotation_loses_nothing(
    services: RunningServices,
    topics: Topics,
    kafka_settings: KafkaSettings,
    stack: StackInfo,
    temporal_client: Client,
    uid: str,
    tmp_path: Path,
) -> None:
    keyring = write_keyring(tmp_path / "keyring", {"a": KEY_A})
    services.env["TASKFACTORY_TEMPORAL__ENCRYPTION_KEYS_FILE"] = str(keyring)
    (services.definitions / "sealed.yaml").write_text(DEFINITION.replace("UID", uid))
    services.start()

    stream = Stream(kafka_settings, topics.events, uid, interval=0.5)
    streaming = asyncio.create_task(stream.run())
    try:
        await _results_at_least(kafka_settings, topics.results, 3, "the first results under a")
        # Rotation, step 1: every service learns b, still sealing with a.
        write_keyring(keyring, {"a": KEY_A, "b": KEY_B})
        services.env["TASKFACTORY_TEMPORAL__ENCRYPTION_KEY_ID"] = "a"
        await _restart_one_by_one(services)
        # Step 2: b seals new payloads; a stays for reading what a sealed.
        services.env["TASKFACTORY_TEMPORAL__ENCRYPTION_KEY_ID"] = "b"
        await _restart_one_by_one(services)
        after = len(stream.sent)
        await _results_at_least(kafka_settings, topics.results, after + 3, "results under b")
    finally:
        stream.stop()
        await streaming
    events = stream.sent

    # Nothing lost, nothing twice: one run and one result per event.
    records = await consume(kafka_settings, topics.results, at_least=len(events), timeout=180)
    codec = AvroCodec()
    results = [codec.decode_task_result(r.value) for r in records]
    assert sorted(r.causation_id for r in results) == sorted(e.id for e in events)
    assert {r.status for r in results} == {TaskStatus.SUCCEEDED}
    # By design results are plaintext for consumers: encryption covers Temporal's storage.
    assert all(SENTINEL in (r.output_json or "") for r in results)
    assert await end_offsets_total(kafka_settings, topics.results) == len(events)

    query = f"WorkflowId STARTS_WITH '{uid}/' AND ExecutionStatus = 'Completed'"

    async def all_completed() -> bool:
        return (await temporal_client.count_workflows(query)).count == len(events)

    await wait_for(all_completed, timeout=120, what="every run to complete")

    # Every run's history, as the Temporal CLI prints it without any codec.
    gate = asyncio.Semaphore(4)

    async def show(workflow_id: str, *extra: str) -> str:
        async with gate:
            return await temporal_cli(
                stack.temporal_address, "workflow", "show", "-w", workflow_id, "-o", "json", *extra
            )

    ids = [f"{uid}/{e.subject}/{e.id}" for e in events]
    raws = await asyncio.gather(*(show(w, "--no-json-shorthand-payloads") for w in ids))
    key_ids: dict[str, set[bytes]] = {}
    for workflow_id, raw in zip(ids, raws, strict=True):
        assert SENTINEL not in raw, f"{workflow_id}: clear text in its history"
        payloads = history_payloads(raw, skip=frozenset({"search_attributes"}))
        clear = [
            (path, p) for path, p in payloads if not is_sealed(p) and not _bookkeeping(path, p)
        ]
        assert not clear, f"{workflow_id}: {len(clear)} payloads not encrypted: {clear}"
        history = json_format.Parse(raw, History(), ignore_unknown_fields=True)
        first = history.events[0]
        # What the run started from, its summary, each task's input and output, its result.
        kinds = {
            "input": first.workflow_execution_started_event_attributes.input.payloads,
            "summary": [first.user_metadata.summary],
            "task input": [
                p
                for e in history.events
                if e.HasField("activity_task_scheduled_event_attributes")
                for p in e.activity_task_scheduled_event_attributes.input.payloads
            ],
            "task output": [
                p
                for e in history.events
                if e.HasField("activity_task_completed_event_attributes")
                for p in e.activity_task_completed_event_attributes.result.payloads
            ],
            "result": [
                p
                for e in history.events
                if e.HasField("workflow_execution_completed_event_attributes")
                for p in e.workflow_execution_completed_event_attributes.result.payloads
            ],
        }
        for kind, found in kinds.items():
            assert found, f"{workflow_id}: no {kind} in its history"
            assert all(is_sealed(p) for p in found), f"{workflow_id}: a {kind} is clear"
        key_ids[workflow_id] = {p.metadata[KEY_ID_METADATA] for _, p in payloads if is_sealed(p)}

    assert set().union(*key_ids.values()) == {b"a", b"b"}
    only_a = [w for w, k in key_ids.items() if k == {b"a"}]
    only_b = [w for w, k in key_ids.items() if k == {b"b"}]
    assert only_a, "some runs finished before the rotation"
    assert only_b, "some runs started after the rotation"

    # Old histories still decode with our codec server (keyring a+b), through the same CLI.
    token_file = tmp_path / "codec-token"
    token_file.write_text(TOKEN)
    async with codec_server(
        tmp_path,
        keyring_file=keyring,
        token_file=token_file,
        cors_origins="http://127.0.0.1:8233",
    ) as server:
        for workflow_id in (only_a[0], only_b[-1]):
            decoded = await show(
                workflow_id, "--codec-endpoint", server.url, "--codec-auth", f"Bearer {TOKEN}"
            )
            opened = [
                p for _, p in history_payloads(decoded, skip=frozenset({"search_attributes"}))
            ]
            assert not [p for p in opened if is_sealed(p)], f"{workflow_id}: left sealed"
            assert any(SENTINEL.encode() in p.data for p in opened), workflow_id
        # With a wrong token the codec server decodes nothing: the CLI gives up, the server
        # logs why (without the token it was sent).
        with pytest.raises(AssertionError, match="failed"):
            await show(
                only_a[0],
                "--codec-endpoint",
                server.url,
                "--codec-auth",
                "Bearer not-the-token",
                "--command-timeout",
                "5s",
            )
        assert "wrong bearer token" in server.log()
        assert "not-the-token" not in server.log()
