"""The task ledger: what a run may start, and what its status query and run events report."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskfactory_contracts import TaskStatus, TaskTemplate
from taskfactory_orchestrator.models import TaskPhase
from taskfactory_orchestrator.workflows import ledger as ledger_module
from taskfactory_orchestrator.workflows.ledger import DONE, TaskLedger


def _chain() -> TaskLedger:
    # charge → ship → notify; audit stands alone.
    return TaskLedger({"charge": (), "ship": ("charge",), "notify": ("ship",), "audit": ()})


def test_a_fresh_ledger_has_every_task_pending_and_only_the_roots_ready() -> None:
    ledger = _chain()
    assert ledger.ready() == ("charge", "audit")
    assert all(s.phase is TaskPhase.PENDING for s in ledger.states().values())
    assert list(ledger.states()) == ["charge", "ship", "notify", "audit"]
    assert ledger.published() == {}
    assert not ledger.ended()


def test_a_task_is_ready_once_its_needs_succeeded_or_were_skipped() -> None:
    ledger = _chain()
    ledger.start("charge")
    assert ledger.ready() == ("audit",)
    assert not ledger.needs_done("ship")
    ledger.finish("charge", TaskStatus.SUCCEEDED, 1, None)
    assert ledger.ready() == ("ship", "audit")
    ledger.skip("ship")
    assert ledger.needs_done("notify")
    assert ledger.views()["ship"] == {"status": "skipped", "output": None, "items": None}


def test_a_failed_need_blocks_its_dependants_transitively() -> None:
    ledger = _chain()
    ledger.finish("charge", TaskStatus.TIMED_OUT, 3, "TimeoutError: slow bank")
    assert ledger.blocked("ship")
    assert ledger.blocked("notify")
    assert not ledger.blocked("audit")
    assert ledger.ready() == ("audit",)
    assert ledger["charge"].last_error == "TimeoutError: slow bank"
    assert ledger["charge"].attempts == 3
    assert ledger.failed_count() == 1
    assert ledger.published() == {"charge": TaskStatus.TIMED_OUT}


def test_a_finish_without_an_error_keeps_the_last_one() -> None:
    ledger = _chain()
    ledger.finish("charge", TaskStatus.FAILED, 1, "Boom: first")
    ledger.finish("charge", TaskStatus.SUCCEEDED, 2, None)
    assert ledger["charge"].phase is TaskPhase.SUCCEEDED
    assert ledger["charge"].last_error == "Boom: first"


def test_a_fan_out_counts_items_and_batches_and_fails_if_any_item_failed() -> None:
    ledger = _chain()
    ledger.fan_out("notify", 250)
    ledger.items_finished("notify", done=1, failed=0, attempts=2, error=None)
    ledger.items_finished("notify", done=1, failed=1, attempts=1, error="Boom: item 1")
    ledger.items_finished("notify", done=100, failed=0, attempts=4, error=None)
    state = ledger["notify"]
    assert (state.items_total, state.items_done, state.items_failed) == (250, 102, 1)
    assert state.attempts == 4
    assert state.last_error == "Boom: item 1"
    assert ledger.close_fan_out("notify") is TaskPhase.FAILED


def test_closing_a_fan_out_keeps_a_phase_it_already_ended_in() -> None:
    ledger = _chain()
    ledger.fan_out("notify", 3)
    ledger.cancel("notify")
    assert ledger.close_fan_out("notify") is TaskPhase.CANCELLED
    ledger.fan_out("ship", 0)
    assert ledger.close_fan_out("ship") is TaskPhase.SUCCEEDED


def test_an_approval_waits_with_its_deadline_and_is_pending_again_once_decided() -> None:
    ledger = _chain()
    deadline = datetime(2026, 1, 1, tzinfo=UTC)
    ledger.await_approval("charge", deadline)
    assert ledger["charge"].phase is TaskPhase.WAITING_APPROVAL
    assert ledger["charge"].approval_deadline == deadline
    ledger.decided("charge", "alice")
    decided = ledger["charge"]
    assert decided.phase is TaskPhase.PENDING
    assert decided.decided_by == "alice"


def test_counts_list_every_phase_and_add_up_to_the_tasks() -> None:
    ledger = _chain()
    ledger.finish("charge", TaskStatus.SUCCEEDED, 1, None)
    ledger.compensated("charge")
    ledger.not_started("ship")
    counts = ledger.counts()
    assert list(counts) == list(TaskPhase)
    assert counts[TaskPhase.COMPENSATED] == 1
    assert counts[TaskPhase.NOT_STARTED] == 1
    assert counts[TaskPhase.PENDING] == 2
    assert sum(counts.values()) == 4


def test_a_ledger_of_templates_follows_their_order_and_needs() -> None:
    templates = [
        TaskTemplate.model_validate({"id": "b", "type": "echo"}),
        TaskTemplate.model_validate({"id": "a", "type": "echo", "needs": ["b"]}),
    ]
    ledger = TaskLedger.of(templates)
    assert list(ledger.states()) == ["b", "a"]
    assert ledger.ready() == ("b",)
    assert "a" in ledger
    assert "c" not in ledger
    assert ledger.get("c") is None


def test_needs_outside_the_ledger_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"\['ghost'\]"):
        TaskLedger({"a": ("ghost",)})


def test_the_ledger_is_pure() -> None:
    # The ledger runs inside workflow code: no Temporal, no I/O, no clock.
    tree = ast.parse(Path(ledger_module.__file__).read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    # Models only (pydantic, passed through the sandbox), never the orchestrator's activities.
    allowed = {"__future__", "collections", "datetime", "typing", "taskfactory_contracts"}
    assert {m for m in imported if m.split(".")[0] not in allowed} <= {
        "taskfactory_orchestrator.models"
    }


# ---- property: a run over any DAG -----------------------------------------------------
@st.composite
def dags(draw: st.DrawFn) -> dict[str, tuple[str, ...]]:
    """A random DAG: each task needs some of the tasks before it."""
    size = draw(st.integers(min_value=1, max_value=12))
    ids = [f"t{i}" for i in range(size)]
    return {
        task_id: tuple(draw(st.sets(st.sampled_from(ids[:i]))) if i else ())
        for i, task_id in enumerate(ids)
    }


OUTCOMES: st.SearchStrategy[TaskStatus | str] = st.sampled_from(
    [TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.TIMED_OUT, "skip", "fan-out"]
)


@given(needs=dags(), data=st.data())
def test_over_any_dag_tasks_run_only_after_their_needs_and_each_is_counted_once(
    needs: dict[str, tuple[str, ...]], data: st.DataObject
) -> None:
    ledger = TaskLedger(needs)
    started: list[str] = []
    while ready := ledger.ready():
        task_id = data.draw(st.sampled_from(ready))
        # Ready only once every need succeeded or was skipped.
        assert all(ledger[n].phase in DONE for n in needs[task_id])
        assert not ledger.blocked(task_id)
        outcome = data.draw(OUTCOMES)
        if outcome == "skip":
            ledger.skip(task_id)
            continue
        started.append(task_id)
        if outcome == "fan-out":
            items = data.draw(st.integers(min_value=0, max_value=3))
            ledger.fan_out(task_id, items)
            for _ in range(items):
                ok = data.draw(st.booleans())
                ledger.items_finished(
                    task_id, done=1, failed=0 if ok else 1, attempts=1, error=None if ok else "E"
                )
            ledger.close_fan_out(task_id)
            continue
        ledger.start(task_id)
        assert task_id not in ledger.ready()
        assert isinstance(outcome, TaskStatus)
        ledger.finish(task_id, outcome, 1, None if outcome is TaskStatus.SUCCEEDED else "E")
    # What is left never started: each of them has a need that did not succeed.
    left = [t for t, s in ledger.states().items() if s.phase is TaskPhase.PENDING]
    for task_id in left:
        assert ledger.blocked(task_id)
        ledger.not_started(task_id)
    failed = {t for t, s in ledger.states().items() if s.phase not in DONE | {TaskPhase.PENDING}}
    for task_id, ns in needs.items():
        if set(ns) & (failed - set(left)):
            assert task_id not in started  # a failed need skips its dependants
    assert ledger.ended()
    counts = ledger.counts()
    assert sum(counts.values()) == len(needs)
    assert counts[TaskPhase.PENDING] == counts[TaskPhase.RUNNING] == 0
    assert set(ledger.published()) | set(left) | {
        t for t, s in ledger.states().items() if s.phase is TaskPhase.SKIPPED
    } == set(needs)
    assert ledger.failed_count() == counts[TaskPhase.FAILED] + counts[TaskPhase.TIMED_OUT]
