"""The ActivityDefinition model: which events trigger a run, what context it gathers, which tasks.

Its parts (trigger, correlation, context sources, task templates, results) are in
:mod:`taskfactory_contracts.definition_parts`. The pydantic model is the single truth:
``schemas/definition.schema.json`` is generated from it (``model_json_schema()``). Structural
rules are field validators; the rules that relate fields (the task DAG, expressions and the
variables they name) are in :func:`definition_problems`, which the model runs too, and which
names the field of each problem so the loader can point at a file and line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from taskfactory_contracts import definition_parts as parts
from taskfactory_contracts import names
from taskfactory_contracts.expressions import (
    ExpressionError,
    check_expression,
    check_template,
    check_url_template,
)
from taskfactory_contracts.ids import template_fields

__all__ = ["ActivityDefinition", "definition_problems", "spelling_problems", "task_order"]


class ActivityDefinition(BaseModel):
    """A declarative recipe: trigger, correlation, context, tasks, results."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="ActivityDefinition")

    id: str = Field(pattern=parts.ID_PATTERN)
    version: int = Field(ge=1)
    enabled: bool = True
    description: str = ""
    trigger: parts.EventTrigger
    correlation: parts.Correlation = parts.Correlation()
    context: dict[Annotated[str, Field(pattern=parts.NAME_PATTERN)], parts.ContextSource] = Field(
        default_factory=dict
    )
    tasks: tuple[parts.TaskTemplate, ...] = Field(min_length=1, max_length=parts.MAX_TASKS)
    max_parallel: int = Field(default=10, ge=1, le=1000)
    results: parts.ResultsSpec = parts.ResultsSpec()

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


def task_order(tasks: Iterable[parts.TaskTemplate]) -> list[str]:
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


def _ancestors(task_id: str, by_id: dict[str, parts.TaskTemplate]) -> frozenset[str]:
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
        "event": parts.ENVELOPE_FIELDS,
        "definition": parts.DEFINITION_FIELDS,
    }
    if definition.trigger.filter is not None:
        _check(problems, ("trigger", "filter"), definition.trigger.filter, event_vars)
    for name, source in definition.context.items():
        if isinstance(source, parts.HttpContext):
            for field in ("url", "headers", "body"):
                _check(
                    problems,
                    ("context", name, field),
                    getattr(source, field),
                    event_vars,
                    template=True,
                )
            _check_url(problems, ("context", name, "url"), source.url)
        elif isinstance(source, parts.PluginContext):
            _check(problems, ("context", name, "params"), source.params, event_vars, template=True)
    known_types = (
        None if known_task_types is None else {*known_task_types, parts.APPROVAL_TASK_TYPE}
    )
    by_id: dict[str, parts.TaskTemplate] = {}
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
                # An old spelling is reported by spelling_problems, with the one to write.
                if kind is not None and kind not in known_types | names.LEGACY_TASK_TYPES.keys():
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
        _check(problems, ("tasks", index, "params"), task.params, scope, template=True)
        if task.type in parts.HTTP_TASK_TYPES:
            _check_url(problems, ("tasks", index, "params", "url"), task.params.get("url"))
        if task.compensate is not None:
            item_scope = {**scope, "output": None}
            _check(
                problems,
                ("tasks", index, "compensate", "params"),
                task.compensate.params,
                item_scope,
                template=True,
            )
            if task.compensate.type in parts.HTTP_TASK_TYPES:
                _check_url(
                    problems,
                    ("tasks", index, "compensate", "params", "url"),
                    task.compensate.params.get("url"),
                )
    return problems


def spelling_problems(definition: ActivityDefinition) -> list[tuple[Loc, str]]:
    """Task types written in a spelling older releases accepted, each with the one to write.

    The loader refuses them; the model itself accepts them, because a run started before
    carries its definition (old spelling included) in its workflow input and must still load.
    """
    problems: list[tuple[Loc, str]] = []
    for index, task in enumerate(definition.tasks):
        for loc, kind in ((("type",), task.type), (("compensate", "type"), _ctype(task))):
            right = names.LEGACY_TASK_TYPES.get(kind or "")
            if right is not None:
                problems.append(
                    (
                        ("tasks", index, *loc),
                        f"task type {kind!r} is an old spelling; write {right!r}",
                    )
                )
    return problems


def _ctype(task: parts.TaskTemplate) -> str | None:
    return task.compensate.type if task.compensate is not None else None


def _check(
    problems: list[tuple[Loc, str]],
    loc: Loc,
    source: Any,
    known: dict[str, frozenset[str] | None],
    *,
    template: bool = False,
) -> None:
    """Record the problem of a CEL expression (or, ``template``, of ``{{ }}`` templates)."""
    try:
        (check_template if template else check_expression)(source, known)
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
