"""Inputs and outputs of the workflows and activities (one model each, so fields can grow)."""

from __future__ import annotations

from typing import Any

from taskfactory_contracts.definition import ActivityDefinition
from taskfactory_contracts.definition_parts import ResultsFormatName, SubjectStrategy
from taskfactory_contracts.names import TASK_QUEUE_EXECUTOR
from taskfactory_contracts.records import Envelope, RunEvent, TaskResult
from taskfactory_contracts.strict import StrictModel

__all__ = [
    "PublishResultInput",
    "PublishRunEventInput",
    "RunActivityInput",
    "TaskInput",
    "TaskOutput",
    "TriggerEvent",
]


class TriggerEvent(StrictModel):
    """What fired a run: an envelope and where it was read from."""

    envelope: Envelope
    topic: str = ""
    partition: int = -1
    offset: int = -1
    traceparent: str | None = None


class RunActivityInput(StrictModel):
    """Input of ``RunActivityWorkflow``: the definition snapshot that runs, and its trigger."""

    definition: ActivityDefinition
    trigger: TriggerEvent
    results_topic: str
    executor_task_queue: str = TASK_QUEUE_EXECUTOR
    #: Where the run publishes its started/finished ``RunEvent`` (None: no run events).
    runs_topic: str | None = None
    #: Set the Taskfactory* search attributes from inside the run (for starts that did not).
    upsert_search_attributes: bool = False
    #: Correlation mode, carried over continue-as-new: events queued, event ids already handled.
    pending: tuple[TriggerEvent, ...] = ()
    seen_event_ids: tuple[str, ...] = ()
    events_handled: int = 0


class TaskInput(StrictModel):
    """Input of the executor's ``run_task`` activity."""

    run_id: str
    task_id: str
    type: str
    params: dict[str, Any]
    idempotency_key: str
    subject: str
    event_id: str


class TaskOutput(StrictModel):
    """Output of ``run_task``: any JSON-able document."""

    output: Any
    attempt: int = 1


class PublishResultInput(StrictModel):
    """Input of ``publish_result``: the record, where it goes, and its trace context."""

    result: TaskResult
    topic: str
    traceparent: str | None = None
    #: The definition's ``results.format`` and subject strategy; ``None`` = the deployment's.
    results_format: ResultsFormatName | None = None
    subject_strategy: SubjectStrategy | None = None


class PublishRunEventInput(StrictModel):
    """Input of ``publish_run_event``: the run's lifecycle record and where it goes."""

    event: RunEvent
    topic: str
    traceparent: str | None = None
