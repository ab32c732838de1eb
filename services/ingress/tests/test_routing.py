"""Routing is pure: which definitions an envelope triggers, and each run's workflow id."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from taskfactory_contracts import ActivityDefinition, Envelope
from taskfactory_ingress.routing import route, workflow_id_for


def _definition(
    id_: str, types: list[str], *, enabled: bool = True, wid: str = "{definition}/{id}"
) -> ActivityDefinition:
    return ActivityDefinition.model_validate(
        {
            "id": id_,
            "version": 1,
            "enabled": enabled,
            "trigger": {"event_types": types},
            "correlation": {"workflow_id": wid},
            "tasks": [{"id": "t", "type": "echo"}],
        }
    )


def _envelope(type_: str = "a.b", subject: str = "s-1", id_: str = "e-1") -> Envelope:
    return Envelope(id=id_, source="/x", type=type_, subject=subject, time=datetime.now(UTC))


def test_only_enabled_definitions_that_want_the_type_are_routed() -> None:
    wants = _definition("wants", ["a.b", "c.d"])
    other = _definition("other", ["c.d"])
    disabled = _definition("disabled", ["a.b"], enabled=False)
    assert route(_envelope("a.b"), [wants, other, disabled]) == [wants]
    assert route(_envelope("x.y"), [wants, other, disabled]) == []


def test_workflow_id_follows_the_template() -> None:
    d = _definition("loan-approval", ["a.b"], wid="{definition}/{subject}")
    assert workflow_id_for(d, _envelope(subject="cust 42/7")) == "loan-approval/cust%2042%2F7"


@given(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
def test_the_same_event_always_maps_to_the_same_id_and_different_subjects_never_collide(
    a: str, b: str
) -> None:
    d = _definition("d", ["a.b"], wid="{definition}/{subject}/{id}")
    first = workflow_id_for(d, _envelope(subject=a))
    assert first == workflow_id_for(d, _envelope(subject=a))
    assert len(first) <= 255
    if a != b:
        assert first != workflow_id_for(d, _envelope(subject=b))
