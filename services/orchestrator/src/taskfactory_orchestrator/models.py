"""The orchestrator's own models: run state as the ``status`` query shows it, a person's
decision (the approval update's input), a run's outcome, and the inputs of the orchestrator's
own child workflows and activities. No other service sends or receives them, so they live here,
not in the shared contracts (the JSON payload converter names no class: histories recorded
before the move replay unchanged)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import Field

from taskfactory_contracts.definition import ActivityDefinition
from taskfactory_contracts.definition_parts import (
    HttpContext,
    PluginContext,
    ResultsFormatName,
    SubjectStrategy,
)
from taskfactory_contracts.records import RunEvent, TaskResult, TaskStatus
from taskfactory_contracts.strict import StrictModel
from taskfactory_contracts.workflow import TriggerEvent

__all__ = [
    "ApprovalDecision",
    "PublishRecordInput",
    "ResolveContextInput",
    "RunOutcome",
    "RunState",
    "RunStatusView",
    "TaskBatchInput",
    "TaskBatchOutput",
    "TaskPhase",
    "TaskState",
]


class TaskPhase(enum.StrEnum):
    """Where a task is in its life (a superset of the published ``TaskStatus``)."""

    PENDING = "pending"
    WAITING_APPROVAL = "waiting_approval"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    NOT_STARTED = "not_started"
    COMPENSATED = "compensated"


class TaskState(StrictModel):
    """One task's state: phase, attempts, last error, and fan-out progress."""

    phase: TaskPhase = TaskPhase.PENDING
    attempts: int = 0
    last_error: str | None = None
    items_total: int | None = None
    items_done: int = 0
    items_failed: int = 0
    approval_deadline: datetime | None = None
    decided_by: str | None = None


class RunState(enum.StrEnum):
    """Where the run is."""

    RUNNING = "running"
    COMPENSATING = "compensating"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    IDLE = "idle"


class RunStatusView(StrictModel):
    """Output of the ``taskfactory.status`` query."""

    definition_id: str
    definition_version: int
    state: RunState
    event_id: str
    tasks: dict[str, TaskState]
    events_handled: int = 0


class ResolveContextInput(StrictModel):
    """Input of the orchestrator's ``resolve_context`` activity: one source, rendered."""

    name: str
    source: HttpContext | PluginContext = Field(discriminator="kind")


class TaskBatchInput(StrictModel):
    """Input of ``TaskBatchWorkflow``: one slice of a ``for_each`` fan-out."""

    definition: ActivityDefinition
    trigger: TriggerEvent
    template_id: str
    first_index: int
    items: list[Any]
    variables: dict[str, Any]
    key_prefix: str
    results_topic: str
    executor_task_queue: str
    max_parallel: int


class TaskBatchOutput(StrictModel):
    """What a batch reports back: counts and the first error."""

    succeeded: int = 0
    failed: int = 0
    first_error: str | None = None
    attempts: int = 0


class PublishRecordInput(StrictModel):
    """Input of the orchestrator's local ``publish_local`` activity: results, then run events."""

    results: tuple[TaskResult, ...] = ()
    results_topic: str
    events: tuple[RunEvent, ...] = ()
    runs_topic: str | None = None
    traceparent: str | None = None
    #: An earlier attempt may have sent these records (the workflow task that scheduled this
    #: one may repeat a failed one): the publisher looks for each before sending it.
    may_have_sent: bool = False
    #: The earliest moment (Temporal time) any attempt could have sent one of them.
    since: datetime
    #: The definition's ``results.format`` and subject strategy (results only: run events
    #: share one topic, in the deployment's format); ``None`` = the deployment's.
    results_format: ResultsFormatName | None = None
    subject_strategy: SubjectStrategy | None = None


class ApprovalDecision(StrictModel):
    """Input of the ``taskfactory.approve`` update: a person's decision on one task."""

    task_id: str
    approved: bool
    #: Who decided: the authenticated principal (admin API) or the operator (CLI, which holds
    #: Temporal credentials); checked against the template's ``approval.approvers``.
    by: str
    comment: str = ""
    #: The groups of ``by``; an approvers list may name a group instead of a person.
    groups: tuple[str, ...] = ()


class RunOutcome(StrictModel):
    """What a run returns: every task's final status."""

    run_id: str
    definition_id: str
    tasks: dict[str, TaskStatus]
    started_at: datetime
    finished_at: datetime
