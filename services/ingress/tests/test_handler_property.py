"""Property: whatever record arrives, the real record handler gives it exactly one outcome.

Generated records (Avro mutations, single-object and Confluent-framed with any schema id,
structured CloudEvents JSON and binary-mode headers with hostile values, sizes at the limits)
meet generated definitions (filters, optional id fields). No exception escapes
``RecordHandler.handle``; a dead-lettered record is on the dead-letter topic exactly once
(whole, or as a stub when too large even there); a started one reached Temporal's payload
converter; a skipped one touched neither; a registry outage is waited out, never
dead-lettered.

Temporal, the producer and the schema registry are stand-ins that enforce what the real ones
do on the way out (the pydantic payload conversion of the start, aiokafka's size and key/value
checks, a broker message limit, the registry's error codes), so this runs thousands of cases a
minute; ``tests/integration/test_ingress_hostile.py`` and ``tests/e2e/test_schema_registry.py``
run known shapes through the real broker, Temporal and registry.
``make fuzz`` runs it longer (``TASKFACTORY_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import WorkflowAlreadyStartedError

from taskfactory_contracts import (
    ENVELOPE,
    TASK_RESULT,
    ActivityDefinition,
    AvroCodec,
    Envelope,
    default_store,
    names,
)
from taskfactory_contracts.confluent import confluent_frame
from taskfactory_ingress.dead_letter import HEADER_STUB, producer_request_bytes
from taskfactory_ingress.handler import RecordHandler
from taskfactory_ingress.settings import IngressSection, IngressSettings
from taskfactory_runtime.schema_registry import RegistryLookup

EXAMPLES = int(os.environ.get("TASKFACTORY_FUZZ_EXAMPLES", "300"))
MAX_RECORD = 4096
BROKER_LIMIT = MAX_RECORD + 512  # below what the producer allows: the stub path gets exercised
SETTINGS = IngressSettings(
    ingress=IngressSection(
        max_record_bytes=MAX_RECORD,
        max_key_and_headers_bytes=2048,
        retry_initial_seconds=0.001,
        retry_max_seconds=0.002,
        search_attributes=True,
    )
)
TYPES = ("com.example.a", "com.example.b", "com.example.c")


class Temporal:
    """Converts each start's input as the real client does; a repeated id is a duplicate."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.starts = 0

    async def start_workflow(self, _name: str, arg: Any, *, id: str, **_: Any) -> Any:
        await pydantic_data_converter.encode([arg])
        self.starts += 1
        if id in self.ids:
            raise WorkflowAlreadyStartedError(id, "RunActivityWorkflow")
        self.ids.add(id)
        return type("Handle", (), {"id": id})()


class Producer:
    """The dead-letter producer's checks: aiokafka's (one of key/value, request size) and a
    broker's message limit; fails its first send with a retriable error now and then."""

    def __init__(self, *, flaky: bool) -> None:
        self.sent: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]] = []
        self.flaky = flaky

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: list[tuple[str, bytes | None]],
    ) -> None:
        assert not (value is None and key is None), "Need at least one: key or value"
        for name, header in headers:
            assert isinstance(name, str)
            assert header is None or isinstance(header, bytes)
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)
        if size > producer_request_bytes(SETTINGS):
            raise MessageSizeTooLargeError("over max_request_size")
        if self.flaky:
            self.flaky = False
            raise KafkaTimeoutError()
        if size > BROKER_LIMIT:
            raise MessageSizeTooLargeError("MESSAGE_SIZE_TOO_LARGE")
        self.sent.append((key, value, headers))


# -- generated definitions --------------------------------------------------------------------

FILTERS = (
    None,
    "has(event.data.n) && event.data.n > 1",
    "event.subject.startsWith('a')",
    "size(event.data) > 0",
    "event.data.x.y == 'z'",
    "event.tenant == 'acme'",
)
TEMPLATES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("{definition}/{id}", {}),
    ("{definition}/{subject}/{id}", {}),
    ("t/{tenant}/{id}", {"tenant": "dead_letter"}),
    ("t/{correlation_id}/{id}", {"correlation_id": {"default": "none"}}),
    ("t/{causation_id}/{tenant}", {"causation_id": "dead_letter", "tenant": {"default": "-"}}),
)


@st.composite
def definitions(draw: st.DrawFn) -> list[ActivityDefinition]:
    out = []
    for index in range(draw(st.integers(0, 3))):
        template, absent = draw(st.sampled_from(TEMPLATES))
        trigger: dict[str, Any] = {
            "event_types": draw(st.lists(st.sampled_from(TYPES), min_size=1, unique=True))
        }
        if (source := draw(st.sampled_from(FILTERS))) is not None:
            trigger["filter"] = source
        out.append(
            ActivityDefinition.model_validate(
                {
                    "id": f"d{index}",
                    "version": 1,
                    "trigger": trigger,
                    "correlation": {"workflow_id": template, "when_absent": absent},
                    "tasks": [{"id": "x", "type": "echo"}],
                }
            )
        )
    return out


# -- generated records ------------------------------------------------------------------------

hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["\ud800", "a\udfffb", "", " ", "\x00", "%7E~", "../../x#", "ü" * 300]),
)
ints = st.one_of(
    st.integers(-(2**70), 2**70), st.sampled_from([2**63, 2**63 - 1, -(2**63), -(2**63) - 1])
)
json_leaf = st.one_of(
    st.none(), st.booleans(), ints, st.floats(allow_nan=True, allow_infinity=True), hostile_text
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)
    ),
    max_leaves=20,
)
hostile_attr = st.one_of(hostile_text, ints, st.booleans(), st.none(), st.lists(st.integers()))
times = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "2026-01-01T00:00:00Z",
            "not a time",
            "2026-02-30T00:00:00Z",
        ]
    ),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
)


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@st.composite
def structured(draw: st.DrawFn) -> tuple[list[tuple[str, bytes | None]], bytes]:
    document: dict[str, Any] = {
        "specversion": "1.0",
        "id": draw(hostile_text),
        "source": draw(hostile_text),
        "type": draw(st.sampled_from(TYPES)),
        "subject": draw(hostile_text),
        "time": draw(times),
    }
    for name in draw(
        st.lists(
            st.sampled_from(
                ["tenant", "correlationid", "causationid", "dataschema", "datacontenttype", "x1"]
            ),
            unique=True,
        )
    ):
        document[name] = draw(hostile_attr)
    text = json.dumps(document)  # NaN and lone surrogates travel as JSON permits them
    data = draw(
        st.one_of(
            json_value.map(json.dumps),
            st.sampled_from(
                ['{"n": 1, "n": 2}', '{"n": NaN}', _deep(70), _deep(1200), '"\\ud800"']
            ),
        )
    )
    return [], f'{text[:-1]}, "data": {data}}}'.encode()


@st.composite
def binary(draw: st.DrawFn) -> tuple[list[tuple[str, bytes | None]], bytes]:
    headers: list[tuple[str, bytes | None]] = [
        ("ce_specversion", b"1.0"),
        ("ce_id", draw(st.binary(min_size=1, max_size=20))),
        ("ce_source", b"/s"),
        ("ce_type", draw(st.sampled_from(TYPES)).encode()),
        ("ce_subject", draw(st.binary(max_size=20))),
        ("ce_time", draw(times).encode()),
    ]
    extra = st.tuples(
        st.sampled_from(["ce_tenant", "ce_x1", "content-type", "traceparent", "ce_BAD"]),
        st.one_of(st.none(), st.binary(max_size=30)),
    )
    headers += draw(st.lists(extra, max_size=4))
    data = draw(st.one_of(json_value.map(lambda v: json.dumps(v).encode()), st.binary()))
    return headers, data


@st.composite
def avro(draw: st.DrawFn) -> tuple[list[tuple[str, bytes | None]], bytes]:
    envelope = Envelope(
        id=draw(st.text(min_size=1, max_size=20)),
        source="/s",
        type=draw(st.sampled_from(TYPES)),
        subject=draw(st.text(min_size=1, max_size=20)),
        time=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 10**6))),
        tenant=draw(st.one_of(st.none(), st.text(max_size=10))),
        data=draw(json_value.map(lambda v: json.dumps(v).encode())),
    )
    value = bytearray(AvroCodec().encode_envelope(envelope))
    for _ in range(draw(st.integers(0, 3))):  # mutations: flip, insert, truncate
        where = draw(st.integers(0, len(value) - 1))
        action = draw(st.sampled_from(["flip", "insert", "truncate"]))
        if action == "flip":
            value[where] ^= draw(st.integers(1, 255))
        elif action == "insert":
            value[where:where] = draw(st.binary(min_size=1, max_size=8))
        else:
            del value[where:]
            if not value:
                break
    return [], bytes(value)


class Registry:
    """A schema registry's answers (confluent-kafka's async client interface): the shipped
    envelope versions, another record, a JSON schema; unknown ids answer 404 / 40403; the
    first call fails now and then (an outage the handler must wait out, not dead-letter)."""

    SCHEMAS: ClassVar[dict[int, tuple[str, str]]] = {
        1: (default_store().get(ENVELOPE, 1).json, "AVRO"),
        2: (default_store().get(ENVELOPE, 2).json, "AVRO"),
        3: (default_store().get(TASK_RESULT).json, "AVRO"),
        4: ('{"type": "object"}', "JSON"),
        5: ('{"type": "record", "name": "taskfactory.Envelope", "fields": 7}', "AVRO"),
    }

    def __init__(self, *, flaky: bool) -> None:
        self.flaky = flaky

    async def get_schema(self, schema_id: int) -> Schema:
        if self.flaky:
            self.flaky = False
            raise SchemaRegistryError(503, 50301, "registry unavailable")
        if schema_id not in self.SCHEMAS:
            raise SchemaRegistryError(404, 40403, f"Schema {schema_id} not found.")
        text, kind = self.SCHEMAS[schema_id]
        return Schema(text, kind)

    async def aclose(self) -> None:
        """Nothing to close."""


@st.composite
def confluent(draw: st.DrawFn) -> tuple[list[tuple[str, bytes | None]], bytes]:
    _, single = draw(avro())
    schema_id = draw(
        st.one_of(st.sampled_from(sorted(Registry.SCHEMAS)), st.integers(0, 2**32 - 1))
    )
    return [], confluent_frame(schema_id, single[10:])


sized: st.SearchStrategy[tuple[list[tuple[str, bytes | None]], bytes]] = st.sampled_from(
    [MAX_RECORD - 1, MAX_RECORD, MAX_RECORD + 1]
).map(lambda n: ([], b"x" * n))
records = st.tuples(
    st.one_of(st.none(), st.binary(max_size=40), st.just(b"k" * 3000)),
    st.one_of(structured(), binary(), avro(), confluent(), sized, st.just(([], None))),
    st.lists(st.tuples(hostile_text.map(lambda t: t[:10]), st.binary(max_size=1500)), max_size=3),
)


def _record(key: bytes | None, value: bytes | None, headers: list[Any]) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        "events", 0, 7, 0, 0, key, value, None, len(key or b""), len(value or b""), headers
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(definitions(), records, st.booleans())
def test_every_record_ends_in_exactly_one_outcome(
    defs: list[ActivityDefinition],
    record: tuple[bytes | None, tuple[list[Any], bytes | None], list[Any]],
    flaky: bool,
) -> None:
    check_one(defs, record, flaky)


def check_one(
    defs: list[ActivityDefinition],
    record: tuple[bytes | None, tuple[list[Any], bytes | None], list[Any]],
    flaky: bool,
) -> None:
    """One generated record through the real handler: exactly one outcome, nothing raised."""
    key, (headers, value), extra_headers = record
    temporal, producer = Temporal(), Producer(flaky=flaky)
    registry = RegistryLookup(Registry(flaky=flaky))
    handler = RecordHandler(SETTINGS, producer, temporal, defs, registry=registry)  # type: ignore[arg-type]
    outcome = asyncio.run(
        asyncio.wait_for(handler.handle(_record(key, value, headers + extra_headers)), 30)
    )
    assert outcome in ("started", "duplicate", "skipped", "dead_lettered")
    if outcome == "dead_lettered":
        assert len(producer.sent) == 1, "on the dead-letter topic exactly once"
        _, sent_value, sent_headers = producer.sent[0]
        found = dict(sent_headers)
        assert found[names.HEADER_ERROR_TYPE]
        assert found[names.HEADER_SOURCE_OFFSET] == b"7"
        if HEADER_STUB not in found:
            assert sent_value == (value if (value, key) != (None, None) else b"")
        # The registry's outage is waited out; only the record's own faults end here.
        assert found[names.HEADER_ERROR_TYPE] != b"transient", "a registry outage dead-lettered"
    else:
        assert not producer.sent
    if outcome == "skipped":
        assert temporal.starts == 0
    if outcome in ("started", "duplicate"):
        assert temporal.starts >= 1


def _one_confluent(schema_id: int, *, flaky: bool) -> tuple[str, list[Any]]:
    envelope = Envelope(
        id="e1", source="/s", type=TYPES[0], subject="s", time=datetime(2026, 1, 1, tzinfo=UTC)
    )
    value = confluent_frame(schema_id, AvroCodec().encode_envelope(envelope)[10:])
    definition = ActivityDefinition.model_validate(
        {
            "id": "d",
            "version": 1,
            "trigger": {"event_types": [TYPES[0]]},
            "tasks": [{"id": "x", "type": "echo"}],
        }
    )
    producer = Producer(flaky=False)
    registry = RegistryLookup(Registry(flaky=flaky))
    handler = RecordHandler(SETTINGS, producer, Temporal(), [definition], registry=registry)  # type: ignore[arg-type]
    outcome = asyncio.run(handler.handle(_record(b"k", value, [])))
    return outcome, producer.sent


def test_a_confluent_record_starts_after_a_registry_outage_and_an_unknown_id_is_dead_lettered() -> (
    None
):
    assert _one_confluent(2, flaky=True) == ("started", [])
    outcome, sent = _one_confluent(99, flaky=False)
    assert outcome == "dead_lettered"
    assert dict(sent[0][2])[names.HEADER_ERROR_TYPE] == b"unknown_schema_id"
