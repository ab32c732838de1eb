"""``TaskLedger``: the bookkeeping of one event's tasks in a run — states, readiness, views.

Pure (no Temporal, no I/O, no clock): the run workflow tells it what happened and asks it what
may run, so it is unit- and property-tested on its own. Every answer iterates the tasks in the
definition's order, so it is the same on every replay.

Invariants (``tests/test_ledger.py``): every task of the definition has exactly one state; a
task's needs are *done* when each of them succeeded or was skipped; a task with a need that
ended otherwise (or is itself blocked) is *blocked* and never becomes ready; the counts add up
to the number of tasks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from taskfactory_contracts import TaskStatus, TaskTemplate
from taskfactory_orchestrator.models import TaskPhase, TaskState

__all__ = ["DONE", "ENDED", "TERMINAL", "TaskLedger"]

#: A need in one of these phases lets its dependants run.
DONE = frozenset({TaskPhase.SUCCEEDED, TaskPhase.SKIPPED})
#: Phases a task does not leave while its event is handled (compensation aside).
ENDED = DONE | {
    TaskPhase.FAILED,
    TaskPhase.TIMED_OUT,
    TaskPhase.CANCELLED,
    TaskPhase.NOT_STARTED,
    TaskPhase.COMPENSATED,
}
#: The phase a task's published status puts it in.
TERMINAL = {
    TaskStatus.SUCCEEDED: TaskPhase.SUCCEEDED,
    TaskStatus.FAILED: TaskPhase.FAILED,
    TaskStatus.TIMED_OUT: TaskPhase.TIMED_OUT,
    TaskStatus.CANCELLED: TaskPhase.CANCELLED,
}
_PUBLISHED = frozenset(s.value for s in TaskStatus)
_FAILED = frozenset({TaskPhase.FAILED, TaskPhase.TIMED_OUT})


class TaskLedger:
    """Each task's state for one event of a run, and the ``tasks`` view expressions see."""

    def __init__(self, needs: Mapping[str, Sequence[str]]) -> None:
        unknown = sorted({n for ns in needs.values() for n in ns} - set(needs))
        if unknown:
            raise ValueError(f"needs name tasks that are not in the ledger: {unknown}")
        self._needs = {task_id: tuple(ns) for task_id, ns in needs.items()}
        self._states = {task_id: TaskState() for task_id in needs}
        self._views: dict[str, dict[str, Any]] = {}

    @classmethod
    def of(cls, tasks: Iterable[TaskTemplate]) -> TaskLedger:
        """A fresh ledger for a definition's task templates (every task pending)."""
        return cls({t.id: t.needs for t in tasks})

    # ---- reading ----------------------------------------------------------------------
    def __getitem__(self, task_id: str) -> TaskState:
        return self._states[task_id]

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._states

    def get(self, task_id: str) -> TaskState | None:
        """The task's state, or None when the definition has no such task."""
        return self._states.get(task_id)

    def needs_done(self, task_id: str) -> bool:
        """Whether every task ``task_id`` needs succeeded or was skipped."""
        return all(self._states[n].phase in DONE for n in self._needs[task_id])

    def blocked(self, task_id: str) -> bool:
        """Whether a need ended without being done, or is blocked itself: never ready."""
        seen: set[str] = set()
        stack = list(self._needs[task_id])
        while stack:
            need = stack.pop()
            if need in seen:
                continue
            seen.add(need)
            phase = self._states[need].phase
            if phase in ENDED and phase not in DONE:
                return True
            if phase not in ENDED:
                stack.extend(self._needs[need])
        return False

    def ready(self) -> tuple[str, ...]:
        """The pending tasks whose needs are all done, in definition order."""
        return tuple(
            task_id
            for task_id, state in self._states.items()
            if state.phase is TaskPhase.PENDING and self.needs_done(task_id)
        )

    def ended(self) -> bool:
        """Whether every task is in a phase it does not leave."""
        return all(s.phase in ENDED for s in self._states.values())

    def states(self) -> dict[str, TaskState]:
        """Every task's state (the status query's ``tasks``), in definition order."""
        return dict(self._states)

    def published(self) -> dict[str, TaskStatus]:
        """The status of each task whose phase is a published status (succeeded, failed, …)."""
        return {
            task_id: TaskStatus(s.phase.value)
            for task_id, s in self._states.items()
            if s.phase.value in _PUBLISHED
        }

    def failed_count(self) -> int:
        """How many tasks failed or timed out (a run event's ``tasks_failed``)."""
        return sum(1 for s in self._states.values() if s.phase in _FAILED)

    def counts(self) -> dict[TaskPhase, int]:
        """How many tasks are in each phase (every phase listed, in ``TaskPhase`` order)."""
        out = dict.fromkeys(TaskPhase, 0)
        for state in self._states.values():
            out[state.phase] += 1
        return out

    def views(self) -> dict[str, dict[str, Any]]:
        """``tasks`` as expressions see it: status, output and item count of each ended task."""
        return dict(self._views)

    # ---- telling ----------------------------------------------------------------------
    def _set(self, task_id: str, **changes: Any) -> TaskState:
        state = self._states[task_id].model_copy(update=changes)
        self._states[task_id] = state
        return state

    def start(self, task_id: str) -> None:
        """The task (not a ``for_each`` item) is running."""
        self._set(task_id, phase=TaskPhase.RUNNING)

    def not_started(self, task_id: str) -> None:
        """The run stopped before the task began."""
        self._set(task_id, phase=TaskPhase.NOT_STARTED)

    def cancel(self, task_id: str) -> None:
        """The run was cancelled while the task waited or ran."""
        self._set(task_id, phase=TaskPhase.CANCELLED)

    def skip(self, task_id: str) -> None:
        """The task's ``when`` was false."""
        self._set(task_id, phase=TaskPhase.SKIPPED)
        self.view(task_id, "skipped")

    def compensated(self, task_id: str) -> None:
        """The task's compensation succeeded."""
        self._set(task_id, phase=TaskPhase.COMPENSATED)

    def await_approval(self, task_id: str, deadline: datetime) -> None:
        """The task waits for a person's decision until ``deadline``."""
        self._set(task_id, phase=TaskPhase.WAITING_APPROVAL, approval_deadline=deadline)

    def decided(self, task_id: str, by: str) -> None:
        """A decision came (from ``by``): the task is pending again."""
        self._set(task_id, phase=TaskPhase.PENDING, decided_by=by)

    def finish(self, task_id: str, status: TaskStatus, attempts: int, error: str | None) -> None:
        """The task (not a ``for_each`` item) ended with ``status``."""
        current = self._states[task_id]
        self._set(
            task_id,
            phase=TERMINAL[status],
            attempts=attempts,
            last_error=error or current.last_error,
        )

    def fan_out(self, task_id: str, items: int) -> None:
        """The task runs once per item, ``items`` of them."""
        self._set(task_id, items_total=items, phase=TaskPhase.RUNNING)

    def items_finished(
        self, task_id: str, *, done: int, failed: int, attempts: int, error: str | None
    ) -> None:
        """``done`` items ended, ``failed`` of them not succeeding (one item, or a batch)."""
        current = self._states[task_id]
        self._set(
            task_id,
            items_done=current.items_done + done,
            items_failed=current.items_failed + failed,
            attempts=max(current.attempts, attempts),
            last_error=error or current.last_error,
        )

    def close_fan_out(self, task_id: str) -> TaskPhase:
        """Every item ended: a running fan-out failed if any item did; its phase now."""
        current = self._states[task_id]
        if current.phase is TaskPhase.RUNNING:
            failed = current.items_failed > 0
            current = self._set(task_id, phase=TaskPhase.FAILED if failed else TaskPhase.SUCCEEDED)
        return current.phase

    def view(self, task_id: str, status: str, output: Any = None, items: int | None = None) -> None:
        """What later tasks' expressions see of this task under ``tasks.<id>``."""
        self._views[task_id] = {"status": status, "output": output, "items": items}
