"""pydantic mirrors of the Avro records in ``schemas/avro/``; the Avro schema is the wire truth."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["Envelope", "TaskResult", "TaskStatus"]

_EDGE = ConfigDict(frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64")


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Envelope(BaseModel):
    """One domain event as it travels through Kafka (schema ``taskfactory.Envelope``)."""

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

    _utc_time = field_validator("time")(_utc)


class TaskStatus(enum.StrEnum):
    """How a task ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


class TaskResult(BaseModel):
    """The record published for every finished task (schema ``taskfactory.TaskResult``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    result_id: str
    run_id: str
    task_id: str
    task_type: str
    definition_id: str
    definition_version: int
    subject: str
    status: TaskStatus
    output_json: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    attempts: int = 1
    started_at: datetime
    finished_at: datetime
    causation_id: str
    tenant: str | None = None

    _utc_times = field_validator("started_at", "finished_at")(_utc)
