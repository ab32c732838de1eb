"""The ActivityDefinition model: which events trigger a run and which tasks it spawns."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from taskfactory_contracts.ids import template_fields

__all__ = [
    "ActivityDefinition",
    "Correlation",
    "EventTrigger",
    "ResultsSpec",
    "RetrySpec",
    "TaskTemplate",
]

_STRICT = ConfigDict(frozen=True, extra="forbid")
_ID = r"^[a-z0-9][a-z0-9._-]{0,62}$"


class EventTrigger(BaseModel):
    """Runs start when an event of one of ``event_types`` arrives."""

    model_config = _STRICT

    event_types: tuple[str, ...] = Field(min_length=1)


class Correlation(BaseModel):
    """How a trigger event maps to a workflow id."""

    model_config = _STRICT

    workflow_id: str = "{definition}/{id}"


class RetrySpec(BaseModel):
    """Temporal retry policy of one task."""

    model_config = _STRICT

    maximum_attempts: int = Field(default=5, ge=0)
    initial_interval: timedelta = timedelta(seconds=1)
    backoff_coefficient: float = Field(default=2.0, ge=1.0)
    maximum_interval: timedelta = timedelta(seconds=60)
    non_retryable_error_types: tuple[str, ...] = ()


class TaskTemplate(BaseModel):
    """One task a run spawns."""

    model_config = _STRICT

    id: str = Field(pattern=_ID)
    type: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    retry: RetrySpec = RetrySpec()
    start_to_close_timeout: timedelta = timedelta(seconds=30)


class ResultsSpec(BaseModel):
    """Where task results go; ``None`` topic means the service's default results topic."""

    model_config = _STRICT

    topic: str | None = None


class ActivityDefinition(BaseModel):
    """A declarative recipe: trigger, correlation, tasks, results."""

    model_config = _STRICT

    id: str = Field(pattern=_ID)
    version: int = Field(ge=1)
    enabled: bool = True
    description: str = ""
    trigger: EventTrigger
    correlation: Correlation = Correlation()
    tasks: tuple[TaskTemplate, ...] = Field(min_length=1)
    results: ResultsSpec = ResultsSpec()

    @model_validator(mode="after")
    def _check(self) -> ActivityDefinition:
        template_fields(self.correlation.workflow_id)  # raises on a field no trigger has
        ids = [t.id for t in self.tasks]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"task ids must be unique, repeated: {', '.join(dupes)}")
        return self
