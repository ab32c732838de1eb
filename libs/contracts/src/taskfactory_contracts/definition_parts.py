"""The parts of an ActivityDefinition: its trigger (event or schedule), correlation, context
sources, task templates (retry, compensation, approval) and results; field rules only (the rules
that relate fields are :func:`taskfactory_contracts.definition.definition_problems`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from taskfactory_contracts import names
from taskfactory_contracts.ids import template_fields
from taskfactory_contracts.records import Envelope
from taskfactory_contracts.strict import STRICT

__all__ = [
    "APPROVAL_TASK_TYPE",
    "BUILTIN_TASK_TYPES",
    "DEFINITION_FIELDS",
    "ENVELOPE_FIELDS",
    "HTTP_TASK_TYPE",
    "HTTP_TASK_TYPES",
    "ID_PATTERN",
    "MAX_TASKS",
    "NAME_PATTERN",
    "OPTIONAL_ID_FIELDS",
    "STRICT",
    "AbsentDefault",
    "ApprovalSpec",
    "CompensateSpec",
    "ContextSource",
    "Correlation",
    "EventTrigger",
    "HttpContext",
    "PluginContext",
    "ResultsFormatName",
    "ResultsSpec",
    "RetrySpec",
    "ScheduleSpec",
    "StaticContext",
    "SubjectStrategy",
    "TaskTemplate",
]

ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
NAME_PATTERN = r"^[a-z_][a-z0-9_]{0,62}$"
#: A task of this type runs no executor activity: it is a human decision (see ``approval``).
APPROVAL_TASK_TYPE = names.TASK_TYPE_APPROVAL
#: Task types the executor ships; plugins add more through ``taskfactory.tasks`` entry points.
BUILTIN_TASK_TYPES = names.BUILTIN_TASK_TYPES
#: Its ``url`` param is rendered as a URL (values percent-encoded, host never templated).
HTTP_TASK_TYPE = names.TASK_TYPE_HTTP
#: It and its old spelling: runs started before still carry the old one and render its URL.
HTTP_TASK_TYPES = frozenset(
    {
        HTTP_TASK_TYPE,
        *(old for old, new in names.LEGACY_TASK_TYPES.items() if new == HTTP_TASK_TYPE),
    }
)
#: Tasks one definition may declare: the DAG checks and every run's plan grow with it, and a
#: definition file is outside input (a ConfigMap, a validate request).
MAX_TASKS = 100
#: Fields of ``event`` in expressions (``data`` is the decoded JSON payload).
ENVELOPE_FIELDS = frozenset(Envelope.model_fields)
DEFINITION_FIELDS = frozenset({"id", "version"})


class ScheduleSpec(BaseModel):
    """A time trigger, turned into a Temporal Schedule by the schedules reconciler."""

    model_config = STRICT

    cron: tuple[str, ...] = ()
    every: timedelta | None = None
    timezone: str = "UTC"
    jitter: timedelta = timedelta(0)
    overlap: Literal[
        "skip", "buffer_one", "buffer_all", "cancel_other", "terminate_other", "allow_all"
    ] = "skip"
    catchup_window: timedelta = timedelta(minutes=1)
    paused: bool = False
    misfire: Literal["skip", "catchup", "compress"] = Field(
        default="catchup",
        description="Missed firings: skip drops them; catchup runs each one within "
        "catchup_window; compress lets the next run cover them all (it receives their list).",
    )
    start_at: datetime | None = Field(default=None, description="No firing before this time.")
    end_at: datetime | None = Field(default=None, description="No firing after this time.")

    @model_validator(mode="after")
    def _one_spec(self) -> ScheduleSpec:
        if not self.cron and self.every is None:
            raise ValueError("a schedule needs cron or every")
        if self.every is not None and self.every <= timedelta(0):
            raise ValueError("every must be positive")
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise ValueError("end_at must be after start_at")
        for expr in self.cron:
            if len(expr.split()) not in (5, 6, 7) and not expr.startswith("@"):
                raise ValueError(f"cron {expr!r} must have 5 fields (or be @hourly, @daily …)")
        return self


class EventTrigger(BaseModel):
    """Runs start when an event of one of ``event_types`` passes ``filter``, or on a schedule."""

    model_config = STRICT

    event_types: tuple[str, ...] = ()
    filter: str | None = Field(default=None, description="CEL over `event`; must be a bool.")
    schedule: ScheduleSpec | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> EventTrigger:
        if bool(self.event_types) == (self.schedule is not None):
            raise ValueError("a trigger has either event_types or schedule, exactly one")
        if self.filter is not None and self.schedule is not None:
            raise ValueError("filter applies to event triggers only")
        return self


#: Template fields an event may lack: a template naming one must say what happens then.
OPTIONAL_ID_FIELDS = frozenset({"tenant", "correlation_id", "causation_id"})


class AbsentDefault(BaseModel):
    """Use this value in the workflow id when the field is absent."""

    model_config = STRICT

    default: str = Field(min_length=1, max_length=128)


class Correlation(BaseModel):
    """How a trigger maps to a workflow id, and what a later event for that id does."""

    model_config = STRICT

    workflow_id: str = "{definition}/{id}"
    when_absent: dict[str, Literal["dead_letter"] | AbsentDefault] = Field(
        default_factory=dict,
        description="For each optional field the workflow id names (tenant, correlation_id, "
        "causation_id): `dead_letter` (events without it go to the dead-letter topic, "
        "reason missing_field) or `{default: <value>}` (the id uses that value).",
    )
    mode: Literal["start", "signal"] = Field(
        default="start",
        description="start: one run per id; signal: one long-lived run per id receives "
        "later events as signals (signal-with-start).",
    )
    on_duplicate: Literal["ignore", "allow_after_finish"] = Field(
        default="ignore",
        description="ignore: a second start with the same id is a counted no-op; "
        "allow_after_finish: a new run may reuse the id once the previous one closed.",
    )
    continue_as_new_after: int = Field(
        default=200, ge=1, description="signal mode: events handled before continue-as-new."
    )
    idle_timeout: timedelta = Field(
        default=timedelta(days=1), description="signal mode: the run ends after this quiet time."
    )

    @model_validator(mode="after")
    def _absent_declared(self) -> Correlation:
        # Decided at load, not found out at event time: an event without the field is
        # either dead-lettered with a reason or uses the declared default.
        try:
            named = set(template_fields(self.workflow_id))
        except ValueError:
            return self  # reported with its field by definition_problems
        for name in sorted(named & OPTIONAL_ID_FIELDS):
            if name not in self.when_absent:
                raise ValueError(
                    f"workflow_id {self.workflow_id!r} names optional field {name!r}: declare "
                    f"what happens when an event lacks it, with when_absent: {{{name}: "
                    f"dead_letter}} or when_absent: {{{name}: {{default: <value>}}}}"
                )
        for name in sorted(set(self.when_absent) - (named & OPTIONAL_ID_FIELDS)):
            raise ValueError(
                f"when_absent names {name!r}, which is not an optional field of workflow_id "
                f"{self.workflow_id!r} (optional fields: {', '.join(sorted(OPTIONAL_ID_FIELDS))})"
            )
        return self

    def absent_policy(self) -> dict[str, str | None]:
        """Each optional field of the id: its default, or ``None`` (dead-letter the event)."""
        return {
            name: None if rule == "dead_letter" else rule.default
            for name, rule in sorted(self.when_absent.items())
        }


class RetrySpec(BaseModel):
    """Temporal retry policy of one task."""

    model_config = STRICT

    maximum_attempts: int = Field(default=5, ge=0)
    initial_interval: timedelta = timedelta(seconds=1)
    backoff_coefficient: float = Field(default=2.0, ge=1.0)
    maximum_interval: timedelta = timedelta(seconds=60)
    non_retryable_error_types: tuple[str, ...] = ()


class StaticContext(BaseModel):
    """A constant value."""

    model_config = STRICT

    kind: Literal["static"]
    value: Any


class HttpContext(BaseModel):
    """A JSON document fetched over HTTP by an orchestrator activity."""

    model_config = STRICT

    kind: Literal["http"]
    url: str = Field(min_length=1, description="May contain {{ … }} templates over `event`.")
    method: Literal["GET", "POST"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    timeout: timedelta = timedelta(seconds=10)
    retry: RetrySpec = RetrySpec(maximum_attempts=3)


class PluginContext(BaseModel):
    """A value computed by a plugin registered in the ``taskfactory.context`` entry points."""

    model_config = STRICT

    kind: Literal["plugin"]
    entry_point: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    timeout: timedelta = timedelta(seconds=30)
    retry: RetrySpec = RetrySpec(maximum_attempts=3)


ContextSource = Annotated[StaticContext | HttpContext | PluginContext, Field(discriminator="kind")]


class CompensateSpec(BaseModel):
    """The task that undoes a completed task when a later one fails (saga)."""

    model_config = STRICT

    type: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    retry: RetrySpec = RetrySpec(maximum_attempts=10)
    start_to_close_timeout: timedelta = timedelta(seconds=30)


class ApprovalSpec(BaseModel):
    """A human decision the task waits for before it runs (or, for ``type: approval``, is)."""

    model_config = STRICT

    prompt: str = ""
    deadline: timedelta = Field(default=timedelta(days=3), gt=timedelta(0))
    default: Literal["approve", "reject"] = Field(
        default="reject", description="The outcome when the deadline passes undecided."
    )
    approvers: tuple[str, ...] = Field(
        default=(), description="Who may decide; empty means anyone."
    )


class TaskTemplate(BaseModel):
    """One task (or, with ``for_each``, one task per item) a run spawns."""

    model_config = STRICT

    id: str = Field(pattern=ID_PATTERN)
    type: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    when: str | None = Field(default=None, description="CEL; the task is skipped when false.")
    for_each: str | None = Field(
        default=None, description="CEL list; one task per item, bound to `item` and `index`."
    )
    needs: tuple[str, ...] = Field(default=(), description="Tasks that must finish first.")
    retry: RetrySpec = RetrySpec()
    start_to_close_timeout: timedelta = timedelta(seconds=30)
    schedule_to_close_timeout: timedelta | None = None
    schedule_to_start_timeout: timedelta | None = None
    heartbeat_timeout: timedelta | None = None
    compensate: CompensateSpec | None = None
    approval: ApprovalSpec | None = None

    @model_validator(mode="after")
    def _approval_type(self) -> TaskTemplate:
        if self.type == APPROVAL_TASK_TYPE and self.approval is None:
            raise ValueError(f"a task of type {APPROVAL_TASK_TYPE!r} needs an approval block")
        return self


#: The wire formats of published results (see taskfactory_runtime.formats).
ResultsFormatName = Literal["single-object", "confluent", "cloudevents"]
#: Where a Confluent-format schema is registered: TopicNameStrategy or RecordNameStrategy.
SubjectStrategy = Literal["topic", "record"]


class ResultsSpec(BaseModel):
    """Where task results go; ``None`` topic means the service's default results topic."""

    model_config = STRICT

    topic: str | None = None
    include_output: bool = Field(default=True, description="Put each task's output in its result.")
    format: ResultsFormatName | None = Field(
        default=None,
        description="single-object, confluent (Avro + schema registry id) or cloudevents "
        "(binary mode); unset = the deployment's TASKFACTORY_RESULTS__FORMAT.",
    )
    subject_strategy: SubjectStrategy | None = Field(
        default=None,
        description="confluent: topic (<topic>-value) or record (the record's full name); "
        "unset = the deployment's TASKFACTORY_RESULTS__SUBJECT_STRATEGY.",
    )
