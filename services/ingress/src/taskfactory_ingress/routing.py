"""Pure routing: which definitions an envelope triggers, and the workflow id of each run."""

from __future__ import annotations

from collections.abc import Iterable

from taskfactory_contracts import ActivityDefinition, Envelope, derive_workflow_id

__all__ = ["route", "workflow_id_for"]


def route(
    envelope: Envelope, definitions: Iterable[ActivityDefinition]
) -> list[ActivityDefinition]:
    """The enabled definitions whose trigger wants ``envelope``, in the given order."""
    return [d for d in definitions if d.enabled and envelope.type in d.trigger.event_types]


def workflow_id_for(definition: ActivityDefinition, envelope: Envelope) -> str:
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
        "scheduled_for": None,
    }
    return derive_workflow_id(definition.correlation.workflow_id, values)
