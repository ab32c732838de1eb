"""``taskfactory explain``: a dry run of an event against the definitions, no Kafka, no Temporal.

It uses the same pure functions as the workflow (:mod:`taskfactory_orchestrator.plan`), so
what it shows is what a run does. Values only a run can know (fetched context, outputs of
earlier tasks) are shown as ``<at run time: …>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskfactory_contracts import (
    ActivityDefinition,
    Envelope,
    MissingFieldError,
    StaticContext,
    envelope_from_json,
    task_order,
)
from taskfactory_contracts.expressions import (
    ExpressionError,
    evaluate_bool,
    references,
    template_expressions,
)
from taskfactory_orchestrator.plan import (
    for_each_items,
    matches,
    render_task,
    variables,
    workflow_id_for,
)

__all__ = [
    "DefinitionVerdict",
    "PlannedTask",
    "explain_event",
    "format_explanation",
    "load_event",
]


@dataclass
class PlannedTask:
    """One task as a run would spawn it, or why it cannot be known before the run."""

    id: str
    type: str
    needs: tuple[str, ...]
    params: Any = None
    idempotency_key: str = ""
    note: str = ""


@dataclass
class DefinitionVerdict:
    """Whether one definition matches, why, and what its run would do."""

    definition: str
    version: int
    matched: bool
    reason: str
    workflow_id: str = ""
    tasks: list[PlannedTask] = field(default_factory=list)
    #: correlation.when_absent, decided at load: each optional id field's default or None
    #: (an event without it is dead-lettered).
    when_absent: dict[str, str | None] = field(default_factory=dict)


@dataclass
class Explanation:
    """The verdicts of every definition for one event."""

    event_id: str
    event_type: str
    verdicts: list[DefinitionVerdict]


def load_event(path: Path) -> list[Envelope]:
    """Events from a JSON file (one object or a list); ``data`` may be any JSON value."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    return [envelope_from_json(item) for item in (doc if isinstance(doc, list) else [doc])]


def _runtime_only(source: str, context: dict[str, Any]) -> str | None:
    roots, fields = references(source)
    if "tasks" in roots:
        names = sorted(f for r, f in fields if r == "tasks")
        return "outputs of " + ", ".join(names or ["earlier tasks"])
    fetched = sorted(f for r, f in fields if r == "context" and f not in context)
    if fetched:
        return "context " + ", ".join(fetched)
    return None


def _plan(definition: ActivityDefinition, envelope: Envelope) -> list[PlannedTask]:
    context = {
        name: source.value
        for name, source in definition.context.items()
        if isinstance(source, StaticContext)
    }
    scope = variables(definition, envelope, context)
    wid = workflow_id_for(definition, envelope)
    by_id = {t.id: t for t in definition.tasks}
    out: list[PlannedTask] = []
    for task_id in task_order(definition.tasks):
        template = by_id[task_id]
        planned = PlannedTask(template.id, template.type, template.needs)
        out.append(planned)
        sources = [s for s in (template.when, template.for_each) if s]
        sources += list(template_expressions(template.params))
        later = [w for w in (_runtime_only(s, context) for s in sources) if w]
        if later:
            planned.note = f"<at run time: {'; '.join(sorted(set(later)))}>"
            continue
        try:
            if template.when is not None and not evaluate_bool(template.when, scope):
                planned.note = f"skipped: when {template.when!r} is false"
                continue
            items = for_each_items(template, scope)
            if items is None:
                task = render_task(template, scope, workflow_id=wid, envelope=envelope)
                planned.params, planned.idempotency_key = task.params, task.idempotency_key
            else:
                rendered = [
                    render_task(
                        template, scope, workflow_id=wid, envelope=envelope, index=i, item=x
                    ).params
                    for i, x in enumerate(items)
                ]
                planned.note = f"for_each: {len(items)} item(s)"
                planned.params = rendered
        except (ExpressionError, ValueError) as exc:
            planned.note = f"would fail: {exc}"
        if template.approval is not None and not planned.note:
            planned.note = (
                f"waits for approval (deadline {template.approval.deadline}, "
                f"default {template.approval.default})"
            )
    return out


def explain_event(envelope: Envelope, definitions: list[ActivityDefinition]) -> Explanation:
    """Every definition's verdict on ``envelope``, matching ones with their planned run."""
    verdicts = []
    for definition in definitions:
        try:
            matched, reason = matches(definition, envelope)
        except ExpressionError as exc:
            matched, reason = False, f"filter cannot be evaluated: {exc}"
        verdict = DefinitionVerdict(definition.id, definition.version, matched, reason)
        verdict.when_absent = definition.correlation.absent_policy()
        if matched:
            try:
                verdict.workflow_id = workflow_id_for(definition, envelope)
            except MissingFieldError as exc:
                verdict.workflow_id = f"<none: the event is dead-lettered: {exc}>"
            else:
                verdict.tasks = _plan(definition, envelope)
        verdicts.append(verdict)
    return Explanation(envelope.id, envelope.type, verdicts)


def format_explanation(explanation: Explanation) -> str:
    """The human-readable form ``taskfactory explain`` prints (stable: golden-tested)."""
    lines = [f"event {explanation.event_id} ({explanation.event_type})"]
    for v in explanation.verdicts:
        mark = "MATCH" if v.matched else "no   "
        lines.append(f"  {mark} {v.definition} v{v.version}: {v.reason}")
        if not v.matched:
            continue
        lines.append(f"        workflow id: {v.workflow_id}")
        for name, default in v.when_absent.items():
            rule = "dead-letter the event" if default is None else f"use {default!r}"
            lines.append(f"        when {name} is absent: {rule}")
        for t in v.tasks:
            needs = f" needs {', '.join(t.needs)}" if t.needs else ""
            lines.append(f"        task {t.id} ({t.type}){needs}")
            if t.params is not None:
                lines.append(f"          params: {json.dumps(t.params, sort_keys=True)}")
            if t.idempotency_key:
                lines.append(f"          idempotency key: {t.idempotency_key}")
            if t.note:
                lines.append(f"          {t.note}")
    return "\n".join(lines)
