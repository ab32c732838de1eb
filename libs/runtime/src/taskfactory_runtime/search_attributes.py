"""The search attributes a run carries, built in one place for every start and upsert.

Temporal's visibility finds runs by these keyword attributes (``taskfactory runs``, the admin
API, the UI's filters): the definition, the event type, the subject and, when the event names
one, the tenant. The ingress sets them on each start, the schedules on each firing and bench on
its direct starts. The module imports nothing but Temporal's ``common`` types and the names, so
workflow code may call it through the sandbox too.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from taskfactory_contracts import names
from taskfactory_contracts.records import Envelope

__all__ = ["envelope_search_attributes", "run_search_attributes"]


def run_search_attributes(
    definition_id: str, *, event_type: str, subject: str, tenant: str | None = None
) -> TypedSearchAttributes:
    """The run's keyword search attributes; the tenant only when there is one."""
    values = [
        (names.SA_DEFINITION, definition_id),
        (names.SA_EVENT_TYPE, event_type),
        (names.SA_SUBJECT, subject),
    ]
    if tenant:
        values.append((names.SA_TENANT, tenant))
    return TypedSearchAttributes(
        [SearchAttributePair(SearchAttributeKey.for_keyword(name), value) for name, value in values]
    )


def envelope_search_attributes(definition_id: str, envelope: Envelope) -> TypedSearchAttributes:
    """The search attributes of the run ``envelope`` starts for ``definition_id``."""
    return run_search_attributes(
        definition_id, event_type=envelope.type, subject=envelope.subject, tenant=envelope.tenant
    )
