"""The one task runner: what the run and its batches render for a task, and how a bad one fails."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from taskfactory_contracts import ActivityDefinition, Envelope, TaskInput, TaskStatus, TriggerEvent
from taskfactory_orchestrator.plan import idempotency_key, variables
from taskfactory_orchestrator.workflows.execution import Finished
from taskfactory_orchestrator.workflows.task_runner import TaskRunner

DEFINITION = ActivityDefinition.model_validate(
    {
        "id": "orders",
        "version": 1,
        "trigger": {"event_types": ["order.placed"]},
        "tasks": [
            {
                "id": "notify",
                "type": "echo",
                "for_each": "event.data.lines",
                "params": {"text": "{{ item }} #{{ index }}", "bad": "{{ item.missing }}"},
            }
        ],
    }
)
ENVELOPE = Envelope(
    id="e-1",
    source="/p",
    type="order.placed",
    subject="order-7",
    time=datetime(2026, 5, 1, tzinfo=UTC),
    data=json.dumps({"lines": ["a", {"missing": "b"}]}).encode(),
)


def _runner(run_id: str) -> TaskRunner:
    return TaskRunner(
        definition=DEFINITION,
        trigger=TriggerEvent(envelope=ENVELOPE),
        run_id=run_id,
        results_topic="results",
        executor_task_queue="executor",
    )


def test_an_item_renders_under_the_runs_id_with_the_runs_key() -> None:
    # A batch builds its runner with its parent's id: its items' inputs are the run's own.
    scope = variables(DEFINITION, ENVELOPE)
    task = _runner("orders/order-7").render(DEFINITION.tasks[0], scope, 1, {"missing": "b"})
    assert isinstance(task, TaskInput)
    assert task.run_id == "orders/order-7"
    assert task.task_id == "notify[1]"
    assert task.idempotency_key == idempotency_key("orders/order-7", "e-1", "notify[1]")
    assert task.params == {"text": '{"missing":"b"} #1', "bad": "b"}


def test_an_item_that_cannot_render_fails_with_the_expression_error() -> None:
    scope = variables(DEFINITION, ENVELOPE)
    failed = _runner("orders/order-7").render(DEFINITION.tasks[0], scope, 0, "a")
    assert isinstance(failed, Finished)
    assert failed.status is TaskStatus.FAILED
    assert failed.error_type == "ExpressionError"
    assert "item.missing" in (failed.error_message or "")
