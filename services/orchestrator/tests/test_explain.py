"""``taskfactory explain``: golden output on the example events, and the facts behind it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskfactory_orchestrator.cli import explain
from taskfactory_orchestrator.explain import explain_event, load_event
from taskfactory_runtime.definitions import load_definitions

ROOT = Path(__file__).parents[3]
GOLDEN = Path(__file__).parent / "golden"
DEFINITIONS = ROOT / "examples" / "definitions"


@pytest.mark.parametrize("events", ["orders", "greetings"])
def test_explain_output_matches_the_golden_file(events: str) -> None:
    import typer

    app = typer.Typer()
    app.command()(explain)
    result = CliRunner().invoke(
        app,
        [
            "--event",
            str(ROOT / "examples" / "events" / f"{events}.json"),
            "--definitions",
            str(DEFINITIONS),
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (GOLDEN / f"explain-{events}.txt").read_text()


def test_explain_matches_ids_and_tasks_for_an_order() -> None:
    [order, free_order, loan] = load_event(ROOT / "examples" / "events" / "orders.json")
    definitions = load_definitions(DEFINITIONS)
    verdicts = {v.definition: v for v in explain_event(order, definitions).verdicts}
    fulfil = verdicts["order-fulfilment"]
    assert fulfil.matched
    assert fulfil.workflow_id == "order/1001/order-1001"
    assert [t.id for t in fulfil.tasks] == ["reserve", "charge", "notify"]
    assert fulfil.tasks[1].params == {"amount": 42.5, "currency": "EUR"}
    assert not verdicts["greeting"].matched
    free = {v.definition: v for v in explain_event(free_order, definitions).verdicts}
    assert free["order-fulfilment"].reason == "filter 'event.data.total > 0' is false"
    [loan_verdict] = [v for v in explain_event(loan, definitions).verdicts if v.matched]
    assert loan_verdict.workflow_id == "loan-approval/ada"
    assert "waits for approval" in loan_verdict.tasks[1].note


def test_explain_shows_what_happens_when_an_optional_id_field_is_absent() -> None:
    from datetime import UTC, datetime

    from taskfactory_contracts import ActivityDefinition, Envelope
    from taskfactory_orchestrator.explain import format_explanation

    def definition(rule: object) -> ActivityDefinition:
        return ActivityDefinition.model_validate(
            {
                "id": f"t-{'dl' if rule == 'dead_letter' else 'df'}",
                "version": 1,
                "trigger": {"event_types": ["t"]},
                "correlation": {"workflow_id": "x/{tenant}/{id}", "when_absent": {"tenant": rule}},
                "tasks": [{"id": "x", "type": "echo"}],
            }
        )

    event = Envelope(id="e", source="/s", type="t", subject="s", time=datetime.now(UTC))
    text = format_explanation(
        explain_event(event, [definition("dead_letter"), definition({"default": "none"})])
    )
    assert "when tenant is absent: dead-letter the event" in text
    assert "workflow id: <none: the event is dead-lettered: tenant: the event has no tenant" in text
    assert "when tenant is absent: use 'none'" in text
    assert "workflow id: x/none/e" in text
