"""The ActivityDefinition model: which events trigger a run, what context it gathers, which tasks.

The pydantic model is the single truth: ``schemas/definition.schema.json`` is generated from it
(``ActivityDefinition.model_json_schema()``). Structural rules are field validators; the rules
that relate fields (the task DAG, expressions and the variables they name) are in
:func:`definition_problems`, which the model runs too, and which names the field of each
problem so the loader can point at a file and line.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from taskfactory_contracts.expressions import (
    ExpressionError,
    check_expression,
    check_template,
    check_url_template,
)
from taskfactory_contracts.ids import template_fields
from taskfactory_contracts.records import Envelope

__all__ = [
    "APPROVAL_TASK_TYPE",
    "BUILTIN_TASK_TYPES",
    "ENVELOPE_FIELDS",
    "HTTP_TASK_TYPE",
    "HTTP_TASK_TYPES",
    "MAX_TASKS",
    "OPTIONAL_ID_FIELDS",
    "AbsentDefault",
    "ActivityDefinition",
    "ApprovalSpec",
    "CompensateSpec",
    "ContextSource",
    "Correlation",
    "EventTrigger",
    "HttpContext",
    "PluginContext",
    "ResultsSpec",
    "RetrySpec",
    "ScheduleSpec",
    "StaticContext",
    "TaskTemplate",
    "definition_problems",
    "task_order",
]

_STRICT = ConfigDict(frozen=True, extra="forbid")
_ID = r"^[a-z0-9][a-z0-9._-]{0,62}$"
_NAME = r"^[a-z_][a-z0-9_]{0,62}$"
#: A task of this type runs no executor activity: it is a human decision (see ``approval``).
APPROVAL_TASK_TYPE = "approval"
#: Task types the executor ships; plugins add more through ``taskfactory.tasks`` entry points.
BUILTIN_TASK_TYPES = ("echo", "http", "kafka_publish", "sleep")
#: Its ``url`` param is rendered as a URL (values percent-encoded, host never templated).
HTTP_TASK_TYPE = "http"
#: Both spellings the executor serves for it.
HTTP_TASK_TYPES = frozenset({HTTP_TASK_TYPE, "http.request"})
#: Tasks one definition may declare: the DAG checks and every run's plan grow with it, and a
#: definition file is outside input (a ConfigMap, a validate request).
MAX_TASKS = 100
#: Fields of ``event`` in expressions (``data`` is the decoded JSON payload).
ENVELOPE_FIELDS = frozenset(Envelope.model_fields)
_DEFINITION_FIELDS = frozenset({"id", "version"})


class ScheduleSpec(BaseModel):
    """A time trigger, turned into a Temporal Schedule by the schedules reconciler."""

    model_config = _STRICT

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

    model_config = _STRICT

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

    model_config = _STRICT

    default: str = Field(min_length=1, max_length=128)


class Correlation(BaseModel):
    """How a trigger maps to a workflow id, and what a later event for that id does."""

    model_config = _STRICT

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

    model_config = _STRICT

    maximum_attempts: int = Field(default=5, ge=0)
    initial_interval: timedelta = timedelta(seconds=1)
    backoff_coefficient: float = Field(default=2.0, ge=1.0)
    maximum_interval: timedelta = timedelta(seconds=60)
    non_retryable_error_types: tuple[str, ...] = ()


class StaticContext(BaseModel):
    """A constant value."""

    model_config = _STRICT

    kind: Literal["static"]
    value: Any


class HttpContext(BaseModel):
    """A JSON document fetched over HTTP by an orchestrator activity."""

    model_config = _STRICT

    kind: Literal["http"]
    url: str = Field(min_length=1, description="May contain {{ … }} templates over `event`.")
    method: Literal["GET", "POST"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    timeout: timedelta = timedelta(seconds=10)
    retry: RetrySpec = RetrySpec(maximum_attempts=3)


class PluginContext(BaseModel):
    """A value computed by a plugin registered in the ``taskfactory.context`` entry points."""

    model_config = _STRICT

    kind: Literal["plugin"]
    entry_point: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    timeout: timedelta = timedelta(seconds=30)
    retry: RetrySpec = RetrySpec(maximum_attempts=3)


ContextSource = Annotated[StaticContext | HttpContext | PluginContext, Field(discriminator="kind")]


class CompensateSpec(BaseModel):
    """The task that undoes a completed task when a later one fails (saga)."""

    model_config = _STRICT

    type: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    retry: RetrySpec = RetrySpec(maximum_attempts=10)
    start_to_close_timeout: timedelta = timedelta(seconds=30)


class ApprovalSpec(BaseModel):
    """A human decision the task waits for before it runs (or, for ``type: approval``, is)."""

    model_config = _STRICT

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

    model_config = _STRICT

    id: str = Field(pattern=_ID)
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

    model_config = _STRICT

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


class ActivityDefinition(BaseModel):
    """A declarative recipe: trigger, correlation, context, tasks, results."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="ActivityDefinition")

    id: str = Field(pattern=_ID)
    version: int = Field(ge=1)
    enabled: bool = True
    description: str = ""
    trigger: EventTrigger
    correlation: Correlation = Correlation()
    context: dict[Annotated[str, Field(pattern=_NAME)], ContextSource] = Field(default_factory=dict)
    tasks: tuple[TaskTemplate, ...] = Field(min_length=1, max_length=MAX_TASKS)
    max_parallel: int = Field(default=10, ge=1, le=1000)
    results: ResultsSpec = ResultsSpec()

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> ActivityDefinition:
        # The loader asks to skip this to report every problem with its own field and line.
        if isinstance(info.context, dict) and info.context.get("defer_checks"):
            return self
        problems = definition_problems(self)
        if problems:
            raise ValueError(
                "; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in problems)
            )
        return self


Loc = tuple[str | int, ...]


def task_order(tasks: Iterable[TaskTemplate]) -> list[str]:
    """Task ids in a topological order of ``needs`` (file order among ready ones)."""
    by_id = {t.id: t for t in tasks}
    done: list[str] = []
    remaining = list(by_id)
    while remaining:
        ready = [i for i in remaining if all(n in done for n in by_id[i].needs if n in by_id)]
        if not ready:
            raise ValueError(f"dependency cycle among {', '.join(remaining)}")
        done.extend(ready)
        remaining = [i for i in remaining if i not in ready]
    return done


def _ancestors(task_id: str, by_id: dict[str, TaskTemplate]) -> frozenset[str]:
    seen: set[str] = set()
    stack = list(by_id[task_id].needs)
    while stack:
        current = stack.pop()
        if current in seen or current not in by_id:
            continue
        seen.add(current)
        stack.extend(by_id[current].needs)
    return frozenset(seen)


def definition_problems(
    definition: ActivityDefinition, known_task_types: Iterable[str] | None = None
) -> list[tuple[Loc, str]]:
    """Every cross-field problem, each with the location of the field at fault."""
    problems: list[tuple[Loc, str]] = []
    try:
        template_fields(definition.correlation.workflow_id)
    except ValueError as exc:
        problems.append((("correlation", "workflow_id"), str(exc)))
    event_vars: dict[str, frozenset[str] | None] = {
        "event": ENVELOPE_FIELDS,
        "definition": _DEFINITION_FIELDS,
    }
    if definition.trigger.filter is not None:
        _check(problems, ("trigger", "filter"), definition.trigger.filter, event_vars)
    for name, source in definition.context.items():
        if isinstance(source, HttpContext):
            for field in ("url", "headers", "body"):
                _check_tpl(problems, ("context", name, field), getattr(source, field), event_vars)
            _check_url(problems, ("context", name, "url"), source.url)
        elif isinstance(source, PluginContext):
            _check_tpl(problems, ("context", name, "params"), source.params, event_vars)
    known_types = None if known_task_types is None else {*known_task_types, APPROVAL_TASK_TYPE}
    by_id: dict[str, TaskTemplate] = {}
    for index, task in enumerate(definition.tasks):
        if task.id in by_id:
            problems.append((("tasks", index, "id"), f"task id {task.id!r} is repeated"))
        by_id[task.id] = task
    for index, task in enumerate(definition.tasks):
        for n, need in enumerate(task.needs):
            if need not in by_id:
                problems.append((("tasks", index, "needs", n), f"no task {need!r}"))
            elif need == task.id:
                problems.append((("tasks", index, "needs", n), "a task cannot need itself"))
        if known_types is not None:
            for loc, kind in ((("type",), task.type), (("compensate", "type"), _ctype(task))):
                if kind is not None and kind not in known_types:
                    problems.append(
                        (
                            ("tasks", index, *loc),
                            f"unknown task type {kind!r}; known: {', '.join(sorted(known_types))}",
                        )
                    )
    try:
        task_order(definition.tasks)
    except ValueError as exc:
        first = next(i for i, t in enumerate(definition.tasks) if t.needs)
        problems.append((("tasks", first, "needs"), str(exc)))
        return problems
    base: dict[str, frozenset[str] | None] = {
        **event_vars,
        "context": frozenset(definition.context),
    }
    for index, task in enumerate(definition.tasks):
        scope = {**base, "tasks": _ancestors(task.id, by_id) if task.id in by_id else frozenset()}
        if task.when is not None:
            _check(problems, ("tasks", index, "when"), task.when, scope)
        if task.for_each is not None:
            _check(problems, ("tasks", index, "for_each"), task.for_each, scope)
            scope = {**scope, "item": None, "index": frozenset()}
        _check_tpl(problems, ("tasks", index, "params"), task.params, scope)
        if task.type in HTTP_TASK_TYPES:
            _check_url(problems, ("tasks", index, "params", "url"), task.params.get("url"))
        if task.compensate is not None:
            item_scope = {**scope, "output": None}
            _check_tpl(
                problems,
                ("tasks", index, "compensate", "params"),
                task.compensate.params,
                item_scope,
            )
            if task.compensate.type in HTTP_TASK_TYPES:
                _check_url(
                    problems,
                    ("tasks", index, "compensate", "params", "url"),
                    task.compensate.params.get("url"),
                )
    return problems


def _ctype(task: TaskTemplate) -> str | None:
    return task.compensate.type if task.compensate is not None else None


def _check(
    problems: list[tuple[Loc, str]], loc: Loc, source: str, known: dict[str, frozenset[str] | None]
) -> None:
    try:
        check_expression(source, known)
    except ExpressionError as exc:
        problems.append((loc, str(exc)))


def _check_tpl(
    problems: list[tuple[Loc, str]], loc: Loc, value: Any, known: dict[str, frozenset[str] | None]
) -> None:
    try:
        check_template(value, known)
    except ExpressionError as exc:
        problems.append((loc, str(exc)))


def _check_url(problems: list[tuple[Loc, str]], loc: Loc, url: Any) -> None:
    # A syntax error inside the URL is already reported by the template check.
    if not isinstance(url, str) or any(p[: len(loc)] == loc[: len(p)] for p, _ in problems):
        return
    try:
        check_url_template(url)
    except ExpressionError as exc:
        problems.append((loc, str(exc)))
