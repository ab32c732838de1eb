"""Record shapes that used to escape decoding as Python errors are contract errors now; event
data is strict and bounded; an id template's optional fields are declared at load."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from taskfactory_contracts import (
    ActivityDefinition,
    AvroCodec,
    MalformedRecordError,
    MissingFieldError,
    SchemaValidationError,
)
from taskfactory_contracts.event_data import check_event_data
from taskfactory_contracts.triggers import workflow_id_for

CODEC = AvroCodec()


def _structured(**fields: Any) -> bytes:
    document = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/s",
        "type": "t",
        "subject": "s",
        "time": "2026-01-01T00:00:00Z",
        "data": {"n": 1},
        **fields,
    }
    return json.dumps(document).encode()


@pytest.mark.parametrize("time", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_outside_the_utc_years_is_invalid(time: str) -> None:
    with pytest.raises(SchemaValidationError, match="outside the years"):
        CODEC.decode_envelope(_structured(time=time))


@pytest.mark.parametrize(
    "field", ["id", "subject", "tenant", "correlationid", "dataschema", "datacontenttype", "ext1"]
)
def test_a_lone_surrogate_in_an_attribute_is_invalid(field: str) -> None:
    # pydantic's constrained strings (id, subject) refuse them in their own words
    with pytest.raises(SchemaValidationError, match=r"lone surrogate|valid string"):
        CODEC.decode_envelope(_structured(**{field: "x\ud800"}))


def test_a_lone_surrogate_in_structured_data_is_invalid() -> None:
    with pytest.raises(SchemaValidationError, match="lone surrogate"):
        CODEC.decode_envelope(_structured(data={"a": ["\udfff"]}))


@pytest.mark.parametrize("content_type", [1, True, [], {"a": 1}])
def test_a_non_string_datacontenttype_is_malformed(content_type: object) -> None:
    for data in ("text", {"n": 1}):
        with pytest.raises(MalformedRecordError, match="datacontenttype"):
            CODEC.decode_envelope(_structured(data=data, datacontenttype=content_type))


@pytest.mark.parametrize(
    "document",
    [
        b'{"specversion":"1.0","id":"1","source":"/s","type":"t","subject":"s",'
        b'"time":"2026-01-01T00:00:00Z","data":{"amount":1,"amount":2}}',
        b'{"specversion":"1.0","id":"1","source":"/s","type":"t","subject":"s",'
        b'"time":"2026-01-01T00:00:00Z","data":{"amount":NaN}}',
        b'{"specversion":"1.0","id":"1","id":"2","source":"/s","type":"t","subject":"s",'
        b'"time":"2026-01-01T00:00:00Z"}',
    ],
    ids=["duplicate-in-data", "nan-in-data", "duplicate-attribute"],
)
def test_a_structured_event_must_be_strict_json(document: bytes) -> None:
    with pytest.raises(SchemaValidationError, match="not strict JSON"):
        CODEC.decode_envelope(document)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"a": NaN}', "NaN is not JSON"),
        (b'{"a": -Infinity}', "-Infinity is not JSON"),
        (b"[1e999]", "not finite"),
        (b'{"a": 1, "a": 1}', "duplicate key"),
        (b'{"a": 9223372036854775808}', "64-bit"),
        (b'{"a": -9223372036854775809}', "64-bit"),
        (b'["\\ud800"]', "lone surrogate"),
        (b'{"\\udc00": 1}', "lone surrogate"),
        (b"[" * 65 + b"]" * 65, "deeper than 64"),
        (b"[" * 5000 + b"]" * 5000, "deeper than 64"),
    ],
)
def test_event_data_outside_the_bounds_is_invalid(data: bytes, reason: str) -> None:
    with pytest.raises(SchemaValidationError, match=reason):
        check_event_data(data, max_depth=64)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json at all",
        b"\xff\xfe binary",
        b'{"a": 9223372036854775807, "b": -9223372036854775808, "c": 1.5}',
        b"[" * 64 + b"]" * 64,
        b'"\\ud83d\\ude00"',  # a surrogate *pair* is one valid character
        b"1" * 5000,  # an integer too long for Python's int parsing: expressions see text
    ],
)
def test_event_data_within_the_bounds_passes(data: bytes) -> None:
    check_event_data(data, max_depth=64)


def _definition(workflow_id: str, when_absent: dict[str, Any] | None = None) -> dict[str, Any]:
    correlation: dict[str, Any] = {"workflow_id": workflow_id}
    if when_absent is not None:
        correlation["when_absent"] = when_absent
    return {
        "id": "d",
        "version": 1,
        "trigger": {"event_types": ["t"]},
        "correlation": correlation,
        "tasks": [{"id": "x", "type": "echo"}],
    }


@pytest.mark.parametrize("field", ["tenant", "correlation_id", "causation_id"])
def test_an_id_template_naming_an_optional_field_must_declare_its_absence(field: str) -> None:
    with pytest.raises(ValidationError, match=f"names optional field '{field}'"):
        ActivityDefinition.model_validate(_definition(f"x/{{{field}}}"))


def test_when_absent_may_only_name_optional_fields_of_the_template() -> None:
    with pytest.raises(ValidationError, match="not an optional field"):
        ActivityDefinition.model_validate(_definition("x/{id}", {"tenant": "dead_letter"}))


def test_an_absent_field_is_dead_lettered_or_defaulted_as_declared() -> None:
    event = CODEC.decode_envelope(_structured())
    dead = ActivityDefinition.model_validate(
        _definition("x/{tenant}/{id}", {"tenant": "dead_letter"})
    )
    with pytest.raises(MissingFieldError, match="no tenant"):
        workflow_id_for(dead, event)
    defaulted = ActivityDefinition.model_validate(
        _definition("x/{tenant}/{id}", {"tenant": {"default": "none"}})
    )
    assert workflow_id_for(defaulted, event) == "x/none/e-1"
    tenanted = CODEC.decode_envelope(_structured(tenant="acme"))
    assert workflow_id_for(defaulted, tenanted) == "x/acme/e-1"
    assert workflow_id_for(dead, tenanted) == "x/acme/e-1"


def test_scheduled_for_in_an_event_triggered_id_is_a_missing_field_not_a_key_error() -> None:
    definition = ActivityDefinition.model_validate(_definition("x/{scheduled_for}"))
    with pytest.raises(MissingFieldError):
        workflow_id_for(definition, CODEC.decode_envelope(_structured()))
