"""Hostile record shapes through the real ingress (real broker, real Temporal): each one ends on
the dead-letter topic with its error type, the partition's committed offset passes it, and the
next record of the same key is started. These shapes each wedged a partition for good before.

One ingress (the service's own ``app.run``) serves the whole module on a one-partition topic;
each test uses its own keys and ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from conftest import StackInfo
from temporalio.client import Client
from temporalio.service import RPCError
from tf_testing import wait_for

from taskfactory_contracts import AvroCodec, Envelope, names
from taskfactory_ingress import app
from taskfactory_ingress.settings import IngressSection, IngressSettings
from taskfactory_runtime.kafka import client_kwargs, ensure_topics
from taskfactory_runtime.settings import (
    HttpSettings,
    KafkaSettings,
    TemporalSettings,
    TopicSettings,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

EXAMPLES = Path(__file__).parents[2] / "examples"
Headers = list[tuple[str, bytes]]

DEFINITIONS = {
    "plain.yaml": """
id: plain
version: 1
trigger: {{event_types: [com.example.plain]}}
correlation: {{workflow_id: "{uid}/plain/{{subject}}/{{id}}"}}
tasks: [{{id: echo-it, type: echo}}]
""",
    "filtered.yaml": """
id: filtered
version: 1
trigger:
  event_types: [com.example.filtered]
  filter: "has(event.data.n) && event.data.n != 7"
correlation: {{workflow_id: "{uid}/filtered/{{subject}}/{{id}}"}}
tasks: [{{id: echo-it, type: echo}}]
""",
    "tenanted.yaml": """
id: tenanted
version: 1
trigger: {{event_types: [com.example.tenanted]}}
correlation:
  workflow_id: "{uid}/tenanted/{{tenant}}/{{id}}"
  when_absent: {{tenant: dead_letter}}
tasks: [{{id: echo-it, type: echo}}]
""",
    "correlated.yaml": """
id: correlated
version: 1
trigger: {{event_types: [com.example.correlated]}}
correlation:
  workflow_id: "{uid}/correlated/{{correlation_id}}/{{id}}"
  when_absent: {{correlation_id: {{default: none}}}}
tasks: [{{id: echo-it, type: echo}}]
""",
}


@dataclass
class Ingress:
    """The running ingress of this module and how to talk to its topic."""

    uid: str
    kafka: KafkaSettings
    topic: str
    dead_letter: str
    group: str
    client: Client
    producer: AIOKafkaProducer
    port: int

    async def send(self, key: bytes | None, value: bytes | None, headers: Headers) -> int:
        """Publish one record; its offset."""
        if key is None and value is None:
            return await self._send_null_record()
        meta = await self.producer.send_and_wait(self.topic, value=value, key=key, headers=headers)
        return int(meta.offset)

    async def _send_null_record(self) -> int:
        # Kafka carries a record with neither key nor value; aiokafka's send() only refuses it
        # with an assert, so a producer process without asserts (python -O) sends it.
        script = (
            "import asyncio, sys\n"
            "from aiokafka import AIOKafkaProducer\n"
            "async def main():\n"
            "    p = AIOKafkaProducer(bootstrap_servers=sys.argv[1], acks='all')\n"
            "    await p.start()\n"
            "    meta = await p.send_and_wait(sys.argv[2], value=None, key=None)\n"
            "    await p.stop()\n"
            "    print(meta.offset)\n"
            "asyncio.run(main())\n"
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-O",
            "-c",
            script,
            self.kafka.bootstrap_servers,
            self.topic,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0
        return int(out.decode().strip().splitlines()[-1])

    async def committed(self) -> int:
        admin = AIOKafkaAdminClient(**client_kwargs(self.kafka))
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(self.group)
        finally:
            await admin.close()
        meta = offsets.get(TopicPartition(self.topic, 0))
        return -1 if meta is None else int(meta.offset)

    async def dead_letter_at(self, offset: int) -> ConsumerRecord[bytes, bytes]:
        """The dead letter of source offset ``offset`` (waits for it)."""
        consumer = AIOKafkaConsumer(
            self.dead_letter,
            **client_kwargs(self.kafka),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            async with asyncio.timeout(30):
                while True:
                    batch = await consumer.getmany(timeout_ms=500)
                    for records in batch.values():
                        for record in records:
                            headers = dict(record.headers)
                            if headers.get(names.HEADER_SOURCE_OFFSET) == str(offset).encode():
                                return record
        finally:
            await consumer.stop()

    async def has_run(self, workflow_id: str) -> bool:
        try:
            await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError:
            return False
        return True


@pytest.fixture(scope="module")
async def ingress(
    stack: StackInfo, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Ingress]:
    uid = "h" + uuid.uuid4().hex[:10]
    kafka = KafkaSettings(bootstrap_servers=stack.kafka_bootstrap)
    topic, dead_letter = f"{uid}.events", f"{uid}.events.dlq"
    await ensure_topics(kafka, [topic, dead_letter], partitions=1, replication_factor=1)
    folder = tmp_path_factory.mktemp("definitions")
    for name, text in DEFINITIONS.items():
        (folder / name).write_text(text.format(uid=uid))
    shutil.copy(EXAMPLES / "loan-approval/definitions/loan-approval.md", folder)
    port = _free_port()
    settings = IngressSettings(
        kafka=kafka,
        temporal=TemporalSettings(
            address=stack.temporal_address,
            orchestrator_task_queue=f"{uid}-orchestrator",
            executor_task_queue=f"{uid}-executor",
        ),
        topics=TopicSettings(events=topic, dead_letter=dead_letter, partitions=1),
        http=HttpSettings(host="127.0.0.1", port=port),
        definitions_dir=folder,
        ingress=IngressSection(group_id=f"{uid}-ingress", commit_interval_seconds=0.05),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(app.run(settings, stop))
    kwargs = client_kwargs(kafka)
    kwargs.pop("request_timeout_ms")
    producer = AIOKafkaProducer(**kwargs, acks="all")
    await producer.start()
    client = await Client.connect(stack.temporal_address)
    try:
        yield Ingress(uid, kafka, topic, dead_letter, f"{uid}-ingress", client, producer, port)
    finally:
        await producer.stop()
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(running, 60)


def _free_port() -> int:
    from tf_testing import free_port

    return free_port()


def _structured(uid: str, key: str, type_: str = "com.example.plain", **fields: Any) -> bytes:
    document: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"{uid}-{key}-{uuid.uuid4().hex[:6]}",
        "source": "/hostile",
        "type": type_,
        "subject": key,
        "time": "2026-01-01T00:00:00Z",
        "data": {"n": 1},
    }
    document.update(fields)
    return json.dumps(document).encode()  # ensure_ascii: "\ud800" travels as an escape


def _binary(uid: str, key: str, type_: str, data: bytes, **attrs: str) -> tuple[Headers, bytes]:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", f"{uid}-{key}-{uuid.uuid4().hex[:6]}".encode()),
        ("ce_source", b"/hostile"),
        ("ce_type", type_.encode()),
        ("ce_subject", key.encode()),
        ("ce_time", b"2026-01-01T00:00:00Z"),
        ("content-type", b"application/json"),
    ]
    headers += [(f"ce_{k}", v.encode()) for k, v in attrs.items()]
    return headers, data


async def _then_the_next_is_started(
    ingress: Ingress,
    key: bytes | None,
    poison: tuple[Headers, bytes | None],
    error_type: str,
) -> ConsumerRecord[bytes, bytes]:
    """Send ``poison`` then a valid record of the same key; check what the acceptance asks."""
    headers, value = poison
    bad = await ingress.send(key, value, headers)
    subject = (key or b"null-key").decode()
    event = Envelope(
        id=f"{ingress.uid}-next-{uuid.uuid4().hex[:8]}",
        source="/hostile",
        type="com.example.plain",
        subject=subject,
        time=datetime.now(UTC),
        data=b'{"n": 1}',
    )
    good = await ingress.send(key, AvroCodec().encode_envelope(event), [])
    letter = await ingress.dead_letter_at(bad)
    found = dict(letter.headers)
    assert found[names.HEADER_ERROR_TYPE].decode() == error_type, found
    assert found[names.HEADER_ERROR_MESSAGE]
    assert letter.value == (value if value is not None else b"")  # the original bytes

    async def committed_past_both() -> bool:
        return await ingress.committed() > good

    await wait_for(committed_past_both, timeout=30, what=f"the commit to pass offset {good}")
    wid = f"{ingress.uid}/plain/{subject}/{event.id}"
    await wait_for(lambda: ingress.has_run(wid), timeout=30, what=f"run {wid}")
    return letter


def _key(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


@pytest.mark.parametrize(
    "time", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"], ids=["year1", "year9999"]
)
async def test_a_time_outside_utc_years_is_dead_lettered(ingress: Ingress, time: str) -> None:
    key = _key("time")
    value = _structured(ingress.uid, key, time=time)
    await _then_the_next_is_started(ingress, key.encode(), ([], value), "invalid")


@pytest.mark.parametrize(
    "attribute", ["tenant", "correlationid", "dataschema", "datacontenttype", "myextension"]
)
async def test_a_lone_surrogate_in_an_attribute_is_dead_lettered(
    ingress: Ingress, attribute: str
) -> None:
    key = _key("surrogate")
    value = _structured(ingress.uid, key, **{attribute: "a\ud800b"})
    await _then_the_next_is_started(ingress, key.encode(), ([], value), "invalid")


async def test_a_lone_surrogate_in_structured_data_is_dead_lettered(ingress: Ingress) -> None:
    key = _key("surrogate-data")
    value = _structured(ingress.uid, key, data={"n": "\ud800"})
    await _then_the_next_is_started(ingress, key.encode(), ([], value), "invalid")


async def test_a_lone_surrogate_in_binary_mode_data_is_dead_lettered(ingress: Ingress) -> None:
    key = _key("surrogate-binary")
    poison = _binary(ingress.uid, key, "com.example.plain", b'{"n": "\\ud800"}')
    await _then_the_next_is_started(ingress, key.encode(), poison, "invalid")


@pytest.mark.parametrize(
    "content_type", [1, True, ["application/json"]], ids=["int", "bool", "list"]
)
@pytest.mark.parametrize("data", ["text", {"n": 1}], ids=["text-data", "json-data"])
async def test_a_non_string_datacontenttype_is_dead_lettered(
    ingress: Ingress, content_type: object, data: object
) -> None:
    key = _key("content-type")
    value = _structured(ingress.uid, key, data=data, datacontenttype=content_type)
    await _then_the_next_is_started(ingress, key.encode(), ([], value), "malformed")


async def test_a_filtered_event_with_an_integer_beyond_int64_is_dead_lettered(
    ingress: Ingress,
) -> None:
    key = _key("bigint")
    poison = _binary(ingress.uid, key, "com.example.filtered", b'{"n": 9223372036854775808}')
    await _then_the_next_is_started(ingress, key.encode(), poison, "invalid")


@pytest.mark.parametrize("depth", [100, 1500])
async def test_a_filtered_event_nested_too_deep_is_dead_lettered(
    ingress: Ingress, depth: int
) -> None:
    key = _key("deep")
    data = b'{"n": ' + b"[" * depth + b"]" * depth + b"}"
    poison = _binary(ingress.uid, key, "com.example.filtered", data)
    await _then_the_next_is_started(ingress, key.encode(), poison, "invalid")


async def test_a_record_with_neither_key_nor_value_is_dead_lettered(ingress: Ingress) -> None:
    letter = await _then_the_next_is_started(ingress, None, ([], None), "malformed")
    assert dict(letter.headers)["taskfactory-null-value"] == b"1"


async def test_an_event_without_the_tenant_its_id_template_needs_is_dead_lettered(
    ingress: Ingress,
) -> None:
    key = _key("tenantless")
    value = _structured(ingress.uid, key, type_="com.example.tenanted")
    letter = await _then_the_next_is_started(ingress, key.encode(), ([], value), "missing_field")
    assert b"tenant" in dict(letter.headers)[names.HEADER_ERROR_MESSAGE]


async def test_an_event_without_a_correlation_id_uses_the_declared_default(
    ingress: Ingress,
) -> None:
    key = _key("uncorrelated")
    value = _structured(ingress.uid, key, type_="com.example.correlated")
    await ingress.send(key.encode(), value, [])
    event_id = json.loads(value)["id"]
    wid = f"{ingress.uid}/correlated/none/{event_id}"
    await wait_for(lambda: ingress.has_run(wid), timeout=30, what=f"run {wid}")


@pytest.mark.parametrize(
    "data",
    [b'{"n": NaN}', b'{"n": Infinity}', b'{"n": 1, "n": 2}'],
    ids=["nan", "infinity", "duplicate-key"],
)
async def test_permissive_json_data_is_dead_lettered(ingress: Ingress, data: bytes) -> None:
    key = _key("lenient")
    poison = _binary(ingress.uid, key, "com.example.plain", data)
    await _then_the_next_is_started(ingress, key.encode(), poison, "invalid")


@pytest.mark.parametrize(
    "data",
    [
        b'{"applicant": "ann", "amount": NaN}',
        b'{"applicant": "ann", "amount": 500, "amount": 2000000}',
    ],
    ids=["nan-amount", "duplicate-amount"],
)
@pytest.mark.parametrize("mode", ["binary", "structured"])
async def test_the_loan_example_with_permissive_json_is_dead_lettered_not_paid(
    ingress: Ingress, data: bytes, mode: str
) -> None:
    key = _key("loan")
    headers, _ = _binary(ingress.uid, key, "com.example.loan.requested", data)
    if mode == "binary":
        poison: tuple[Headers, bytes] = (headers, data)
    else:  # the same event as one structured CloudEvent: the permissive part is inside data
        attrs = {k[3:]: v.decode() for k, v in headers if k.startswith("ce_")}
        text = json.dumps(attrs)[:-1] + ', "data": ' + data.decode() + "}"
        poison = ([], text.encode())
    await _then_the_next_is_started(ingress, key.encode(), poison, "invalid")
    assert not await ingress.has_run(f"loan-approval/{key}"), "no loan run, so no pay-out"
