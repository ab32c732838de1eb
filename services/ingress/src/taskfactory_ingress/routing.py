"""Pure routing: which definitions an envelope triggers, and the workflow id of each run."""

from __future__ import annotations

from collections.abc import Iterable

from taskfactory_contracts import ActivityDefinition, Envelope
from taskfactory_contracts.expressions import ExpressionError
from taskfactory_contracts.triggers import matches, workflow_id_for
from taskfactory_runtime.logging import get_logger

__all__ = ["route", "workflow_id_for"]

log = get_logger(__name__)


def route(
    envelope: Envelope, definitions: Iterable[ActivityDefinition]
) -> list[ActivityDefinition]:
    """The enabled definitions whose trigger (event types and filter) wants ``envelope``.

    A filter that cannot be evaluated for this event (e.g. it reads a field the payload
    lacks) does not match; it is logged, never raised, so one odd event cannot stall a
    partition.
    """
    out = []
    for definition in definitions:
        try:
            wanted, _why = matches(definition, envelope)
        except ExpressionError as exc:
            log.warning(
                "filter failed; not routed",
                definition=definition.id,
                event_id=envelope.id,
                error=str(exc),
            )
            continue
        if wanted:
            out.append(definition)
    return out
