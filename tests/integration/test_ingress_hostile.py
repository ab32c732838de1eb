"""Hostile record shapes through the real ingress (real broker, real Temporal): each one ends on
the dead-letter topic with its error type, the partition's committed offset passes it, and the
next record of the same key is started. These shapes each wedged a partition for good before.

One ingress (the service's own ``app.run``) serves the whole module on a one-partition topic;
each test uses its own keys and ids.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from conftest import StackInfo
from support.ingress_harness import Headers, Ingress, running_ingress

from taskfactory_contracts import AvroCodec, Envelope, names
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

EXAMPLES = Path(__file__).parents[2] / "examples"

DEFINITIONS = {
    "plain.yaml": """
id: plain
version: 1
trigger: {event_types: [com.example.plain]}
correlation: {workflow_id: "{uid}/plain/{subject}/{id}"}
tasks: [{id: echo-it, type: echo}]
""",
    "filtered.yaml": """
id: filtered
version: 1
trigger:
  event_types: [com.example.filtered]
  filter: "has(event.data.n) && event.data.n != 7"
correlation: {workflow_id: "{uid}/filtered/{subject}/{id}"}
tasks: [{id: echo-it, type: echo}]
""",
    "tenanted.yaml": """
id: tenanted
version: 1
trigger: {event_types: [com.example.tenanted]}
correlation:
  workflow_id: "{uid}/tenanted/{tenant}/{id}"
  when_absent: {tenant: dead_letter}
tasks: [{id: echo-it, type: echo}]
""",
    "correlated.yaml": """
id: correlated
version: 1
trigger: {event_types: [com.example.correlated]}
correlation:
  workflow_id: "{uid}/correlated/{correlation_id}/{id}"
  when_absent: {correlation_id: {default: none}}
tasks: [{id: echo-it, type: echo}]
""",
}


@pytest.fixture(scope="module")
async def ingress(
    stack: StackInfo, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Ingress]:
    folder = tmp_path_factory.mktemp("definitions")
    for name, text in DEFINITIONS.items():
        (folder / name).write_text(text)
    shutil.copy(EXAMPLES / "loan-approval/definitions/loan-approval.md", folder)
    async with running_ingress(stack.kafka_bootstrap, stack.temporal_address, folder) as running:
        yield running


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
    *,
    stub: bool = False,
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
    if not stub:
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


async def test_a_record_near_the_size_limit_is_dead_lettered_as_a_stub_and_the_key_goes_on(
    ingress: Ingress,
) -> None:
    # Accepted by the broker and under MAX_RECORD_BYTES, but with the error headers added it
    # is over the broker's message limit (1 MiB + 12 by default): once retried forever and
    # reported as a Temporal outage; now a stub names it.
    key = _key("near-limit")
    value = b"\x07" * 1_047_900  # not Avro: malformed
    poison = ([("x-padding", b"p" * 400)], value)
    letter = await _then_the_next_is_started(ingress, key.encode(), poison, "malformed", stub=True)
    headers = dict(letter.headers)
    assert headers["taskfactory-stub"]
    assert headers["taskfactory-original-size"] == str(len(value)).encode()
    assert headers["taskfactory-original-sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert headers["x-padding"] == b"p" * 400
