"""pydantic mirrors of the Avro records in ``schemas/avro/``; the Avro schema is the wire truth.

Each model mirrors the *latest* version of its record (the reader schema), so content written
with any earlier version, once resolved by the codec, validates too. ``tests/test_mirror.py``
proves models and schemas never drift.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from taskfactory_contracts.strict import StrictModel

__all__ = [
    "CLOUDEVENTS_ATTRIBUTES",
    "Envelope",
    "RunEvent",
    "RunEventKind",
    "RunStatus",
    "TaskResult",
    "TaskStatus",
    "envelope_from_json",
]

_EDGE = ConfigDict(frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64")
_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,64}$")
#: Attribute names the envelope carries as fields; an extension may not reuse them.
CLOUDEVENTS_ATTRIBUTES = frozenset(
    {
        "id",
        "source",
        "type",
        "subject",
        "time",
        "datacontenttype",
        "dataschema",
        "specversion",
        "data",
        "data_base64",
        "tenant",
        "correlationid",
        "causationid",
    }
)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00: its UTC instant is before year 1
        raise ValueError(f"{value.isoformat()} is outside the years 1-9999 in UTC") from None


def _unicode(value: str | None) -> str | None:
    # Python strings may hold lone surrogates (a JSON "\ud800" escape decodes to one); no
    # UTF-8 consumer (Temporal's JSON, Kafka headers, Avro) can carry them.
    if value is not None:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"not valid Unicode: lone surrogate at position {exc.start}") from None
    return value


def _json_document(value: str | None) -> str | None:
    if value is not None:
        try:
            json.loads(value)
        except ValueError as exc:
            raise ValueError(f"not a JSON document: {exc}") from exc
    return value


class Envelope(BaseModel):
    """One domain event as it travels through Kafka (schema ``taskfactory.Envelope`` v2)."""

    model_config = _EDGE

    id: str = Field(min_length=1, max_length=512)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    subject: str = Field(min_length=1)
    time: datetime
    datacontenttype: str = "application/json"
    dataschema: str | None = None
    specversion: str = "1.0"
    tenant: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    data: bytes = b""
    #: CloudEvents extension attributes (added in v2; ``{}`` when read from a v1 record).
    extensions: dict[str, str] = Field(default_factory=dict)

    _utc_time = field_validator("time")(_utc)
    _unicode_text = field_validator(
        "id",
        "source",
        "type",
        "subject",
        "datacontenttype",
        "dataschema",
        "specversion",
        "tenant",
        "correlation_id",
        "causation_id",
    )(_unicode)

    @field_validator("extensions")
    @classmethod
    def _extension_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            _unicode(text)
            if not _EXTENSION_NAME.match(name):
                raise ValueError(f"extension name {name!r} must be 1-64 characters a-z or 0-9")
            if name in CLOUDEVENTS_ATTRIBUTES:
                raise ValueError(f"extension name {name!r} is an envelope attribute")
        return value


class TaskStatus(enum.StrEnum):
    """How a task ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


class RunStatus(enum.StrEnum):
    """How a run ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


class TaskResult(StrictModel):
    """The record published for every finished task (schema ``taskfactory.TaskResult`` v1)."""

    result_id: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    task_id: str = Field(min_length=1)
    task_type: str = Field(min_length=1)
    definition_id: str = Field(min_length=1)
    definition_version: int = Field(ge=1)
    subject: str
    status: TaskStatus
    output_json: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    attempts: int = Field(default=1, ge=1)
    started_at: datetime
    finished_at: datetime
    causation_id: str
    tenant: str | None = None

    _utc_times = field_validator("started_at", "finished_at")(_utc)
    _output_json = field_validator("output_json")(_json_document)


class RunEventKind(enum.StrEnum):
    """Which point of a run's life a run event reports."""

    STARTED = "started"
    TASKS_SPAWNED = "tasks_spawned"
    FINISHED = "finished"


class RunEvent(StrictModel):
    """A run's lifecycle record on the runs topic (schema ``taskfactory.RunEvent`` v1)."""

    event_id: str = Field(min_length=1)
    kind: RunEventKind
    run_id: str = Field(min_length=1)
    definition_id: str = Field(min_length=1)
    definition_version: int = Field(ge=1)
    subject: str
    causation_id: str
    occurred_at: datetime
    task_ids: tuple[str, ...] = ()
    outcome: RunStatus | None = None
    tasks_failed: int = Field(default=0, ge=0)
    error_message: str | None = None
    tenant: str | None = None

    _utc_time = field_validator("occurred_at")(_utc)

    @model_validator(mode="after")
    def _outcome_iff_finished(self) -> RunEvent:
        finished = self.kind is RunEventKind.FINISHED
        if finished != (self.outcome is not None):
            raise ValueError("outcome is required when kind is finished, and only then")
        return self


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def envelope_from_json(document: Mapping[str, Any], *, time: datetime = _EPOCH) -> Envelope:
    """An event as people write it in a JSON file or request: the envelope's fields, with
    ``data`` any JSON value (absent or null: no data) and ``time`` defaulting to ``time``."""
    fields = dict(document)
    data = fields.pop("data", None)
    fields["data"] = b"" if data is None else json.dumps(data).encode()
    fields.setdefault("time", time)
    return Envelope.model_validate(fields)
