"""Pure trigger logic shared by the ingress and the orchestrator: what expressions see,
whether a definition wants an event, and the workflow id of the run it starts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from taskfactory_contracts.definition import ActivityDefinition
from taskfactory_contracts.errors import MissingFieldError
from taskfactory_contracts.expressions import evaluate_bool
from taskfactory_contracts.ids import derive_workflow_id
from taskfactory_contracts.records import Envelope

__all__ = ["event_view", "matches", "variables", "workflow_id_for"]


def event_view(envelope: Envelope) -> dict[str, Any]:
    """``event`` as expressions see it: the attributes, and ``data`` decoded when it is JSON."""
    data: Any
    try:
        data = json.loads(envelope.data) if envelope.data else None
    except ValueError:
        data = envelope.data.decode("utf-8", "replace")
    return {
        "id": envelope.id,
        "source": envelope.source,
        "type": envelope.type,
        "subject": envelope.subject,
        "time": envelope.time.isoformat(),
        "datacontenttype": envelope.datacontenttype,
        "dataschema": envelope.dataschema,
        "specversion": envelope.specversion,
        "tenant": envelope.tenant,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
        "data": data,
        "extensions": dict(envelope.extensions),
    }


def variables(
    definition: ActivityDefinition,
    envelope: Envelope,
    context: Mapping[str, Any] | None = None,
    tasks: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The variables every expression of a run can use."""
    return {
        "event": event_view(envelope),
        "definition": {"id": definition.id, "version": definition.version},
        "context": dict(context or {}),
        "tasks": dict(tasks or {}),
    }


def matches(definition: ActivityDefinition, envelope: Envelope) -> tuple[bool, str]:
    """Whether ``definition`` wants ``envelope``, and why (or why not)."""
    trigger = definition.trigger
    if not definition.enabled:
        return False, "disabled"
    if trigger.schedule is not None:
        return False, "schedule-triggered"
    if envelope.type not in trigger.event_types:
        return False, f"type {envelope.type!r} is not one of {', '.join(trigger.event_types)}"
    if trigger.filter is not None:
        if not evaluate_bool(trigger.filter, variables(definition, envelope)):
            return False, f"filter {trigger.filter!r} is false"
        return True, f"type matches and filter {trigger.filter!r} is true"
    return True, "type matches"


def workflow_id_for(
    definition: ActivityDefinition, envelope: Envelope, scheduled_for: str | None = None
) -> str:
    """The deterministic workflow id of the run ``envelope`` starts for ``definition``."""
    values = {
        "definition": definition.id,
        "version": str(definition.version),
        "id": envelope.id,
        "source": envelope.source,
        "type": envelope.type,
        "subject": envelope.subject,
        "tenant": envelope.tenant,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
        "scheduled_for": scheduled_for,
    }
    for name, default in definition.correlation.absent_policy().items():
        if values.get(name) is None:
            if default is None:
                raise MissingFieldError(
                    f"the event has no {name}, which workflow id template "
                    f"{definition.correlation.workflow_id!r} of definition {definition.id!r} "
                    "needs (when_absent: dead_letter)",
                    where=name,
                )
            values[name] = default
    try:
        return derive_workflow_id(definition.correlation.workflow_id, values)
    except KeyError as exc:  # e.g. {scheduled_for} in an event-triggered definition
        raise MissingFieldError(
            str(exc.args[0] if exc.args else exc), where="workflow_id"
        ) from None
