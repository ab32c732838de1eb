"""Every pydantic record mirrors its Avro schema (fields, types, defaults) and round-trips."""

from __future__ import annotations

import enum
import types
import typing
from datetime import datetime
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from taskfactory_contracts import (
    ENVELOPE,
    RUN_EVENT,
    TASK_RESULT,
    AvroCodec,
    Envelope,
    RunEvent,
    TaskResult,
    default_store,
)

MODELS: dict[str, type[BaseModel]] = {
    ENVELOPE: Envelope,
    TASK_RESULT: TaskResult,
    RUN_EVENT: RunEvent,
}


def _avro_shape(schema: Any) -> Any:
    """A comparable description of an Avro type."""
    if isinstance(schema, list):
        return ("union", tuple(_avro_shape(s) for s in schema))
    if isinstance(schema, str):
        return schema
    kind = schema["type"]
    if not isinstance(kind, str):
        return _avro_shape(kind)
    if schema.get("logicalType") == "timestamp-micros":
        return "timestamp"
    if kind == "enum":
        return ("enum", tuple(schema["symbols"]))
    if kind == "array":
        return ("array", _avro_shape(schema["items"]))
    if kind == "map":
        return ("map", _avro_shape(schema["values"]))
    return kind


def _python_shape(annotation: Any) -> Any:
    """The Avro type a pydantic annotation must mirror."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        rest = [a for a in args if a is not type(None)]
        return ("union", ("null", *(_python_shape(a) for a in rest)))
    if origin is tuple:
        return ("array", _python_shape(typing.get_args(annotation)[0]))
    if origin is dict:
        return ("map", _python_shape(typing.get_args(annotation)[1]))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return ("enum", tuple(m.value for m in annotation))
    simple = {str: "string", int: None, bytes: "bytes", bool: "boolean", datetime: "timestamp"}
    if annotation in simple:
        return simple[annotation]
    raise AssertionError(f"no Avro mirror for {annotation!r}")


def _same_type(avro: Any, python: Any) -> bool:
    if python is None:  # Python int mirrors Avro int or long
        return avro in ("int", "long")
    containers = ("union", "array", "map")
    if isinstance(avro, tuple) and isinstance(python, tuple) and avro[0] == python[0] in containers:
        inner_a = avro[1] if avro[0] == "union" else (avro[1],)
        inner_p = python[1] if python[0] == "union" else (python[1],)
        return len(inner_a) == len(inner_p) and all(
            _same_type(a, p) for a, p in zip(inner_a, inner_p, strict=True)
        )
    return bool(avro == python)


def _python_default(model: type[BaseModel], name: str) -> Any:
    info = model.model_fields[name]
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return info.default


def _as_avro_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("latin-1")  # Avro JSON defaults encode bytes as ISO-8859-1 text
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_mirrors_latest_schema(name: str) -> None:
    model, schema = MODELS[name], default_store().get(name).raw
    avro_fields = {f["name"]: f for f in schema["fields"]}
    assert list(avro_fields) == list(model.model_fields), "same fields in the same order"
    for field, spec in avro_fields.items():
        annotation = model.model_fields[field].annotation
        assert _same_type(_avro_shape(spec["type"]), _python_shape(annotation)), field
        default = _python_default(model, field)
        if "default" in spec:
            assert _as_avro_default(default) == spec["default"], f"{field} default"
        else:
            assert default is PydanticUndefined, f"{field} has a default the schema lacks"


def test_mirror_check_catches_drift() -> None:
    class Drifted(BaseModel):
        result_id: str
        attempts: str = "1"

    assert not _same_type("int", _python_shape(Drifted.model_fields["attempts"].annotation))
    assert _as_avro_default(Drifted.model_fields["attempts"].default) != 1


def test_every_schema_has_a_model() -> None:
    assert set(default_store().names()) == set(MODELS)


def test_envelope_round_trips(codec: AvroCodec, envelope: Envelope) -> None:
    assert codec.decode_envelope(codec.encode_envelope(envelope)) == envelope


def test_task_result_round_trips(codec: AvroCodec, task_result: TaskResult) -> None:
    assert codec.decode_task_result(codec.encode_task_result(task_result)) == task_result


def test_run_event_round_trips(codec: AvroCodec, run_event: RunEvent) -> None:
    assert codec.decode_run_event(codec.encode_run_event(run_event)) == run_event


def test_models_accept_only_what_avro_cannot_express(envelope: Envelope) -> None:
    with pytest.raises(ValueError, match="extension name"):
        envelope.model_copy(update={}).model_validate(
            {**envelope.model_dump(), "extensions": {"Bad_Name": "x"}}
        )
    with pytest.raises(ValueError, match="outcome is required"):
        RunEvent.model_validate(
            {
                "event_id": "e",
                "kind": "finished",
                "run_id": "r",
                "definition_id": "d",
                "definition_version": 1,
                "subject": "s",
                "causation_id": "c",
                "occurred_at": "2026-01-01T00:00:00Z",
            }
        )
