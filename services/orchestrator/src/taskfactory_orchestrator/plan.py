"""Pure rendering of a run: expression variables, task ids, idempotency keys and task inputs.

The workflow, ``explain`` and the property tests share these functions, so what ``explain``
shows is what a run does, and the same definition + trigger always renders the same tasks.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from taskfactory_contracts import Envelope, TaskInput, TaskTemplate
from taskfactory_contracts.definition_parts import HTTP_TASK_TYPES
from taskfactory_contracts.expressions import Scope, evaluate, render, render_http_params
from taskfactory_contracts.triggers import event_view, matches, variables, workflow_id_for

__all__ = [
    "RESULT_NAMESPACE",
    "event_view",
    "for_each_items",
    "idempotency_key",
    "instance_id",
    "matches",
    "render_params",
    "render_task",
    "result_id",
    "variables",
    "workflow_id_for",
]

RESULT_NAMESPACE = uuid.UUID("6f1c2a4e-8d0b-4f6e-9a53-2b7e1d9c0f11")
_MAX_KEY = 200


def instance_id(template_id: str, index: int | None = None) -> str:
    """The task id of a template, or of one ``for_each`` item of it."""
    return template_id if index is None else f"{template_id}[{index}]"


def idempotency_key(workflow_id: str, event_id: str, task_id: str) -> str:
    """Stable across retries, continue-as-new and replays; distinct per event and task."""
    key = f"{workflow_id}/{event_id}/{task_id}"
    if len(key) <= _MAX_KEY:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{key[: _MAX_KEY - 33]}~{digest}"


def result_id(key: str) -> str:
    """The task result's event id, derived from the idempotency key."""
    return str(uuid.uuid5(RESULT_NAMESPACE, key))


def for_each_items(template: TaskTemplate, scope: Mapping[str, Any]) -> list[Any] | None:
    """The items of a ``for_each`` template (``None`` when it has none)."""
    if template.for_each is None:
        return None
    items = evaluate(template.for_each, scope)
    if not isinstance(items, list):
        raise ValueError(
            f"for_each {template.for_each!r} must be a list, got {type(items).__name__}"
        )
    return items


def render_params(task_type: str, params: Mapping[str, Any], scope: Mapping[str, Any]) -> Any:
    """A task's ``params`` rendered; an ``http`` task's ``url`` with its values percent-encoded."""
    if task_type in HTTP_TASK_TYPES:
        return render_http_params(params, scope)
    return render(params, scope)


def render_task(
    template: TaskTemplate,
    scope: Mapping[str, Any],
    *,
    workflow_id: str,
    envelope: Envelope,
    index: int | None = None,
    item: Any = None,
) -> TaskInput:
    """The executor input of one task (one item, with ``index``)."""
    bound = scope if isinstance(scope, Scope) else Scope(scope)
    if index is not None:
        bound = bound.child(item=item, index=index)
    task_id = instance_id(template.id, index)
    return TaskInput(
        run_id=workflow_id,
        task_id=task_id,
        type=template.type,
        params=render_params(template.type, template.params, bound),
        idempotency_key=idempotency_key(workflow_id, envelope.id, task_id),
        subject=envelope.subject,
        event_id=envelope.id,
    )
