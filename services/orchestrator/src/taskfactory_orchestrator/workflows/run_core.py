"""The state every part of a run shares, and the run's outbox (its results and run events,
published by the run itself as local activities on the fast path)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from taskfactory_contracts import (
        ActivityDefinition,
        RunActivityInput,
        RunEvent,
        RunEventKind,
        RunStatus,
        TaskResult,
        TaskTemplate,
        TriggerEvent,
    )
    from taskfactory_orchestrator.models import ApprovalDecision, RunState
    from taskfactory_orchestrator.workflows.execution import (
        Freshness,
        publish_local,
        publish_run_event,
    )
    from taskfactory_orchestrator.workflows.ledger import TaskLedger

__all__ = [
    "SEEN_KEPT",
    "Completed",
    "RunCore",
    "run_log",
]

SEEN_KEPT = 1000


@dataclass
class Completed:
    template: TaskTemplate
    task_id: str
    index: int | None
    item: Any
    output: Any


# Skips replays; the handler's log processor adds the trace the run belongs to (trace_id and
# span_id of its workflow start), so the orchestrator logs each event under its trace.
run_log = workflow.LoggerAdapter(logging.getLogger("taskfactory_orchestrator.run"), None)
# The workflow's info goes in the record's extra only: on the message it was %-formatted with
# the arguments, and a schedule-fired run's id (``…T21%3A29%3A29Z``) broke the line.
run_log.workflow_info_on_message = False


class RunCore:
    """The state of one run, and its outbox: the results and run events it publishes itself."""

    #: The fast path; False in ``LegacyRunActivityWorkflow``.
    _FAST = True

    @workflow.init
    def __init__(self, arg: RunActivityInput) -> None:
        self._definition: ActivityDefinition = arg.definition
        self._arg = arg
        self._state = RunState.RUNNING
        self._event_id = arg.trigger.envelope.id
        # The tasks of the event being handled: their states and the ``tasks`` view.
        self._ledger = TaskLedger.of(arg.definition.tasks)
        self._completed: list[Completed] = []
        self._failure: str | None = None
        self._cancelled = False
        self._waiting: set[str] = set()
        self._decisions: dict[str, ApprovalDecision] = {}
        self._queue: deque[TriggerEvent] = deque(arg.pending)
        self._seen: deque[str] = deque(arg.seen_event_ids, maxlen=SEEN_KEPT)
        self._handled = arg.events_handled
        self._sem = asyncio.Semaphore(arg.definition.max_parallel)
        # Fast path state: the outbox, the tasks of the event being handled, its trace.
        self._fast = False
        self._out_results: list[TaskResult] = []
        self._out_events: list[RunEvent] = []
        self._out_since: datetime | None = None
        self._flushing = False
        self._children: list[asyncio.Task[None]] = []
        self._traceparent = arg.trigger.traceparent
        self._freshness = Freshness()
        self._publishing: asyncio.Task[None] | None = None

    def _stopping(self) -> bool:
        return self._failure is not None or self._cancelled

    # ---- run events and the outbox (fast path) -----------------------------------------
    def _make_run_event(
        self,
        trigger: TriggerEvent,
        kind: RunEventKind,
        *,
        outcome: RunStatus | None = None,
        error: str | None = None,
    ) -> RunEvent:
        envelope = trigger.envelope
        run_id = workflow.info().workflow_id
        failed = self._ledger.failed_count()
        return RunEvent(
            event_id=f"{run_id}/{envelope.id}/{kind.value}",
            kind=kind,
            run_id=run_id,
            definition_id=self._definition.id,
            definition_version=self._definition.version,
            subject=envelope.subject,
            causation_id=envelope.id,
            occurred_at=workflow.now(),
            task_ids=tuple(t.id for t in self._definition.tasks),
            outcome=outcome,
            tasks_failed=failed if outcome is not None else 0,
            error_message=error[:1000] if error else None,
            tenant=envelope.tenant,
        )

    async def _run_event(
        self, kind: RunEventKind, *, outcome: RunStatus | None = None, error: str | None = None
    ) -> None:
        """The executor path's run event (runs started before the fast path)."""
        arg = self._arg
        event = self._make_run_event(arg.trigger, kind, outcome=outcome, error=error)
        assert arg.runs_topic is not None
        await publish_run_event(
            event,
            topic=arg.runs_topic,
            task_queue=arg.executor_task_queue,
            traceparent=arg.trigger.traceparent,
        )

    def _emit(self, trigger: TriggerEvent, kind: RunEventKind, failure: str | None = None) -> None:
        if self._arg.runs_topic is None:
            return
        outcome = None
        if kind is RunEventKind.FINISHED:
            outcome = RunStatus.FAILED if failure is not None else RunStatus.SUCCEEDED
            if self._cancelled:
                outcome = RunStatus.CANCELLED
        self._out_events.append(self._make_run_event(trigger, kind, outcome=outcome, error=failure))
        self._note_since(None)

    def _note_since(self, since: datetime | None) -> None:
        # The run's start bounds every record of this run from below; a task's result cannot
        # have been sent before its task was scheduled (in a workflow task that completed).
        floor = since or workflow.info().start_time
        self._out_since = floor if self._out_since is None else min(self._out_since, floor)

    def _has_outbox(self) -> bool:
        return bool(self._out_results or self._out_events)

    def _tasks_running(self) -> bool:
        return bool(self._children) and not all(c.done() for c in self._children)

    async def _publisher(self) -> None:
        """Publishes the outbox while tasks still run (an event's end publishes the rest)."""
        while True:
            await workflow.wait_condition(self._publish_now)
            await self._flush()

    def _publish_now(self) -> bool:
        self._freshness.observe()  # checked on every activation: marks the first live one
        return self._has_outbox() and self._tasks_running()

    async def _flush(self) -> None:
        results, events = tuple(self._out_results), tuple(self._out_events)
        since = self._out_since or workflow.info().start_time
        self._out_results, self._out_events, self._out_since = [], [], None
        self._flushing = True
        try:
            await publish_local(
                results=results,
                results_topic=self._arg.results_topic,
                events=events,
                runs_topic=self._arg.runs_topic,
                traceparent=self._traceparent,
                since=since,
                freshness=self._freshness,
                spec=self._definition.results,
            )
        finally:
            self._flushing = False

    async def _flush_all(self) -> None:
        await workflow.wait_condition(lambda: not self._flushing)
        if self._has_outbox():
            await self._flush()
