"""The one builder of a run's search attributes: what visibility queries find a run by."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.common import SearchAttributeKey

from taskfactory_contracts import Envelope, names
from taskfactory_runtime.search_attributes import (
    envelope_search_attributes,
    run_search_attributes,
)


def _keyword(name: str) -> SearchAttributeKey[str]:
    return SearchAttributeKey.for_keyword(name)


def test_an_envelope_with_a_tenant_gives_all_four() -> None:
    envelope = Envelope(
        id="e1",
        source="test",
        type="order.created",
        subject="order-7",
        tenant="acme",
        time=datetime(2026, 1, 1, tzinfo=UTC),
    )
    attrs = envelope_search_attributes("orders", envelope)
    assert attrs.get(_keyword(names.SA_DEFINITION)) == "orders"
    assert attrs.get(_keyword(names.SA_EVENT_TYPE)) == "order.created"
    assert attrs.get(_keyword(names.SA_SUBJECT)) == "order-7"
    assert attrs.get(_keyword(names.SA_TENANT)) == "acme"


def test_no_tenant_means_no_tenant_attribute() -> None:
    attrs = run_search_attributes("nightly", event_type="schedule.fired", subject="nightly")
    # TypedSearchAttributes.__contains__ takes a key; mypy compares with its items, the pairs.
    assert _keyword(names.SA_TENANT) not in attrs  # type: ignore[comparison-overlap]
    assert {pair.key.name for pair in attrs} == {
        names.SA_DEFINITION,
        names.SA_EVENT_TYPE,
        names.SA_SUBJECT,
    }
