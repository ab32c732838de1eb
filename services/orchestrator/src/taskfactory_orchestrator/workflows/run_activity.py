"""``RunActivityWorkflow``: one run of an ActivityDefinition — its task DAG, approvals, saga.

Start mode runs the definition once for the trigger. Signal (correlation) mode keeps one
long-lived run per correlation id: later events arrive as ``taskfactory.event`` signals, are
handled one at a time in arrival order, deduplicated by event id, and the run continues as new
before its history grows large.

The fast path (this type, ``RunActivityWorkflowV2``): results and run events go into an
outbox that the run publishes itself, as local activities, while tasks are running and once
at the end of each event (the last results together with the ``finished`` run event); context
sources are resolved by local activities. A one-task run is then two workflow tasks and one
activity task. ``LegacyRunActivityWorkflow`` (the old type name) serves runs started before,
on the executor path, unchanged (a new type rather than a patch: a patch costs every new run
a marker and a search-attribute upsert).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from taskfactory_contracts import (
        APPROVAL_TASK_TYPE,
        ActivityDefinition,
        ApprovalSignal,
        Envelope,
        HttpContext,
        PluginContext,
        ResolveContextInput,
        RunActivityInput,
        RunEvent,
        RunEventKind,
        RunOutcome,
        RunState,
        RunStatus,
        RunStatusView,
        StaticContext,
        TaskBatchInput,
        TaskBatchOutput,
        TaskInput,
        TaskPhase,
        TaskResult,
        TaskState,
        TaskStatus,
        TaskTemplate,
        TriggerEvent,
        names,
    )
    from taskfactory_contracts.expressions import (
        ExpressionError,
        Scope,
        evaluate_bool,
        render,
        render_url,
    )
    from taskfactory_orchestrator.plan import (
        for_each_items,
        idempotency_key,
        instance_id,
        render_params,
        render_task,
        variables,
    )
    from taskfactory_orchestrator.workflows.execution import (
        Finished,
        Freshness,
        publish,
        publish_local,
        publish_run_event,
        retry_policy,
        run_activity_task,
        task_result,
    )

__all__ = ["BATCH_SIZE", "INLINE_ITEMS", "LegacyRunActivityWorkflow", "RunActivityWorkflow"]

#: Fan-outs up to this many items run inline; larger ones in child workflows of BATCH_SIZE.
INLINE_ITEMS = 50
BATCH_SIZE = 100
_SEEN_KEPT = 1000
_DONE = frozenset({TaskPhase.SUCCEEDED, TaskPhase.SKIPPED})
_TERMINAL = {
    TaskStatus.SUCCEEDED: TaskPhase.SUCCEEDED,
    TaskStatus.FAILED: TaskPhase.FAILED,
    TaskStatus.TIMED_OUT: TaskPhase.TIMED_OUT,
    TaskStatus.CANCELLED: TaskPhase.CANCELLED,
}


@dataclass
class _Completed:
    template: TaskTemplate
    task_id: str
    index: int | None
    item: Any
    output: Any


# Skips replays; the handler's log processor adds the trace the run belongs to (trace_id and
# span_id of its workflow start), so the orchestrator logs each event under its trace.
_log = workflow.LoggerAdapter(logging.getLogger("taskfactory_orchestrator.run"), None)


@workflow.defn(name=names.WORKFLOW_RUN_ACTIVITY)
class RunActivityWorkflow:
    """Runs the definition snapshot in its input for its trigger (signal mode: later ones too)."""

    #: The fast path; False in ``LegacyRunActivityWorkflow``.
    _FAST = True

    @workflow.init
    def __init__(self, arg: RunActivityInput) -> None:
        self._definition: ActivityDefinition = arg.definition
        self._arg = arg
        self._state = RunState.RUNNING
        self._event_id = arg.trigger.envelope.id
        self._states: dict[str, TaskState] = {t.id: TaskState() for t in arg.definition.tasks}
        self._views: dict[str, Any] = {}
        self._completed: list[_Completed] = []
        self._failure: str | None = None
        self._cancelled = False
        self._waiting: set[str] = set()
        self._decisions: dict[str, ApprovalSignal] = {}
        self._queue: deque[TriggerEvent] = deque(arg.pending)
        self._seen: deque[str] = deque(arg.seen_event_ids, maxlen=_SEEN_KEPT)
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

    @workflow.run
    async def run(self, arg: RunActivityInput) -> RunOutcome:
        """Run the tasks for the trigger; signal mode goes on with later events until idle."""
        started = workflow.now()
        if arg.upsert_search_attributes:
            self._upsert_search_attributes(arg.trigger.envelope)
        self._fast = self._FAST
        if self._fast:
            # Publishes while tasks run; what is left goes out with each event's end.
            self._publishing = asyncio.create_task(self._publisher(), name="publisher")
            if arg.definition.correlation.mode == "start":
                failure = await self._execute(arg.trigger)
                if failure is not None:
                    raise ApplicationError(failure, type="TaskFailed", non_retryable=True)
                self._state = RunState.SUCCEEDED
        elif arg.definition.correlation.mode == "start":
            # Run events were added after histories were recorded: guarded for replay.
            run_events = arg.runs_topic is not None and workflow.patched("run-events-v1")
            if run_events:
                await self._run_event(arg, RunEventKind.STARTED)
            failure = await self._execute(arg.trigger)
            if run_events:
                await self._run_event(
                    arg,
                    RunEventKind.FINISHED,
                    outcome=RunStatus.FAILED if failure is not None else RunStatus.SUCCEEDED,
                    error=failure,
                )
            if failure is not None:
                raise ApplicationError(failure, type="TaskFailed", non_retryable=True)
            self._state = RunState.SUCCEEDED
        if arg.definition.correlation.mode != "start":
            if arg.events_handled == 0 and arg.trigger.envelope.id not in arg.seen_event_ids:
                self._queue.appendleft(arg.trigger)
            await self._correlate(arg)
        return RunOutcome(
            run_id=workflow.info().workflow_id,
            definition_id=arg.definition.id,
            tasks={k: TaskStatus(s.phase.value) for k, s in self._states.items() if _published(s)},
            started_at=started,
            finished_at=max(started, workflow.now()),
        )

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
        failed = sum(1 for s in self._states.values() if s.phase.value in ("failed", "timed_out"))
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
        self,
        arg: RunActivityInput,
        kind: RunEventKind,
        *,
        outcome: RunStatus | None = None,
        error: str | None = None,
    ) -> None:
        """The executor path's run event (runs started before the fast path)."""
        event = self._make_run_event(arg.trigger, kind, outcome=outcome, error=error)
        assert arg.runs_topic is not None
        await publish_run_event(
            event,
            topic=arg.runs_topic,
            task_queue=arg.executor_task_queue,
            traceparent=arg.trigger.traceparent,
        )

    # ---- the outbox (fast path) -------------------------------------------------------
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

    # ---- correlation mode -------------------------------------------------------------
    async def _correlate(self, arg: RunActivityInput) -> None:
        idle = arg.definition.correlation.idle_timeout
        handled_here = 0
        while True:
            try:
                await workflow.wait_condition(lambda: bool(self._queue), timeout=idle)
            except TimeoutError:
                self._state = RunState.SUCCEEDED
                return
            trigger = self._queue.popleft()
            if trigger.envelope.id in self._seen:
                continue
            self._seen.append(trigger.envelope.id)
            await self._execute(trigger)
            self._handled += 1
            handled_here += 1
            self._state = RunState.IDLE
            limit = arg.definition.correlation.continue_as_new_after
            if handled_here >= limit or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    arg.model_copy(
                        update={
                            "trigger": self._queue[0] if self._queue else trigger,
                            "pending": tuple(self._queue),
                            "seen_event_ids": tuple(self._seen),
                            "events_handled": self._handled,
                        }
                    )
                )

    @workflow.signal(name=names.SIGNAL_EVENT)
    def on_event(self, trigger: TriggerEvent) -> None:
        """A later event for this correlation id; duplicates are dropped."""
        event_id = trigger.envelope.id
        if event_id in self._seen or any(q.envelope.id == event_id for q in self._queue):
            return
        self._queue.append(trigger)

    # ---- one trigger ------------------------------------------------------------------
    async def _execute(self, trigger: TriggerEvent) -> str | None:
        """Run every task for ``trigger``; the failure message, or None when all went well."""
        definition = self._definition
        envelope = trigger.envelope
        self._event_id = envelope.id
        self._state = RunState.RUNNING
        self._states = {t.id: TaskState() for t in definition.tasks}
        self._views, self._completed, self._failure = {}, [], None
        self._decisions.clear()
        self._children, self._traceparent = [], trigger.traceparent
        _log.info("run started: event %s, definition %s", envelope.id, definition.id)
        if self._fast:
            self._emit(trigger, RunEventKind.STARTED)
        failure = await self._execute_tasks(trigger)
        if self._fast:
            self._emit(trigger, RunEventKind.FINISHED, failure)
            await self._flush_all()
        _log.info(
            "run finished: event %s, %s",
            envelope.id,
            "succeeded" if failure is None else f"failed ({failure[:200]})",
        )
        return failure

    async def _execute_tasks(self, trigger: TriggerEvent) -> str | None:
        definition = self._definition
        envelope = trigger.envelope
        try:
            context = await self._resolve_context(definition, envelope)
        except ApplicationError as exc:
            self._failure = f"context: {exc.message}"
            self._state = RunState.FAILED
            return self._failure
        except Exception as exc:  # outside input: the run fails, never the task
            if isinstance(exc, ActivityError) and not self._fast:
                raise  # runs started before the fast path failed this way: kept for replay
            cause = exc.cause if isinstance(exc, ActivityError) and exc.cause else exc
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            self._failure = f"context: {type(cause).__name__}: {message}"
            self._state = RunState.FAILED
            return self._failure
        try:
            base = variables(definition, envelope, context)
        except Exception as exc:
            # The event data cannot be read (too deep, not JSON): every task fails with why.
            error_type, message = _error(exc)
            for template in definition.tasks:
                await self._finish_failed(template, trigger, error_type, message)
            self._state = RunState.FAILED
            return self._failure
        children = [asyncio.create_task(self._template(t, base, trigger)) for t in definition.tasks]
        self._children = children
        try:
            await workflow.wait_condition(lambda: all(c.done() for c in children))
        except asyncio.CancelledError:
            self._cancelled = True
            for child in children:
                child.cancel()
            await workflow.wait_condition(lambda: all(c.done() for c in children))
            self._state = RunState.COMPENSATING
            await self._compensate(base, trigger)
            self._state = RunState.CANCELLED
            if self._fast:
                self._emit(trigger, RunEventKind.FINISHED, "run cancelled")
                await self._flush_all()
            raise
        for child in children:
            child.result()
        if self._failure is None:
            self._state = RunState.SUCCEEDED
            return None
        self._state = RunState.COMPENSATING
        await self._compensate(base, trigger)
        self._state = RunState.FAILED
        return self._failure

    async def _resolve_context(
        self, definition: ActivityDefinition, envelope: Envelope
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        scope: dict[str, Any] | None = None
        for name, source in definition.context.items():
            if isinstance(source, StaticContext):
                out[name] = source.value
                continue
            try:
                scope = scope if scope is not None else variables(definition, envelope)
                rendered: HttpContext | PluginContext
                if isinstance(source, HttpContext):
                    rendered = source.model_copy(
                        update={
                            "url": render_url(source.url, scope),
                            "headers": {
                                k: str(v) for k, v in render(source.headers, scope).items()
                            },
                            "body": render(source.body, scope),
                        }
                    )
                else:
                    rendered = source.model_copy(update={"params": render(source.params, scope)})
            except Exception as exc:  # outside input fails the run, not the task
                error_type = "ExpressionError" if isinstance(exc, ExpressionError) else None
                raise ApplicationError(
                    str(exc) if error_type else f"{type(exc).__name__}: {exc}",
                    type=error_type or type(exc).__name__,
                ) from None
            arg = ResolveContextInput(name=name, source=rendered)
            if self._fast:
                # On the orchestrator itself: a marker instead of an activity task.
                out[name] = await workflow.execute_local_activity(
                    names.ACTIVITY_RESOLVE_CONTEXT,
                    arg,
                    start_to_close_timeout=source.timeout,
                    retry_policy=retry_policy(source.retry),
                )
                continue
            out[name] = await workflow.execute_activity(
                names.ACTIVITY_RESOLVE_CONTEXT,
                arg,
                task_queue=workflow.info().task_queue,
                start_to_close_timeout=source.timeout,
                retry_policy=retry_policy(source.retry),
            )
        return out

    async def _template(
        self, template: TaskTemplate, base: dict[str, Any], trigger: TriggerEvent
    ) -> None:
        state = self._states
        try:
            await workflow.wait_condition(
                lambda: self._stopping() or all(state[n].phase in _DONE for n in template.needs)
            )
        except asyncio.CancelledError:
            self._set(template.id, phase=TaskPhase.NOT_STARTED)
            return
        if self._stopping():
            self._set(template.id, phase=TaskPhase.NOT_STARTED)
            return
        scope = Scope({**base, "tasks": dict(self._views)})
        try:
            if template.when is not None and not evaluate_bool(template.when, scope):
                self._set(template.id, phase=TaskPhase.SKIPPED)
                self._views[template.id] = {"status": "skipped", "output": None, "items": None}
                return
            items = for_each_items(template, scope)
        except Exception as exc:  # any failure of outside input fails this task
            await self._finish_failed(template, trigger, *_error(exc))
            return
        if template.approval is not None:
            decision = await self._await_approval(template)
            if decision is None:
                return
            if not decision.approved:
                reason = f"rejected by {decision.by}" + (
                    f": {decision.comment}" if decision.comment else ""
                )
                await self._finish_failed(template, trigger, "ApprovalRejected", reason)
                return
            if template.type == APPROVAL_TASK_TYPE:
                output = {"approved": True, "by": decision.by, "comment": decision.comment}
                await self._record(
                    template, trigger, None, None, Finished(TaskStatus.SUCCEEDED, output)
                )
                self._views[template.id] = {"status": "succeeded", "output": output, "items": None}
                return
        if items is None:
            finished = await self._one(template, scope, trigger, None, None)
            if finished is not None:
                self._views[template.id] = {
                    "status": finished.status.value,
                    "output": finished.output,
                    "items": None,
                }
            return
        self._set(template.id, items_total=len(items), phase=TaskPhase.RUNNING)
        if len(items) <= INLINE_ITEMS:
            await asyncio.gather(
                *(self._one(template, scope, trigger, i, item) for i, item in enumerate(items))
            )
        else:
            await self._batches(template, scope, trigger, items)
        current = self._states[template.id]
        if current.phase is TaskPhase.RUNNING:
            failed = current.items_failed > 0
            self._set(template.id, phase=TaskPhase.FAILED if failed else TaskPhase.SUCCEEDED)
        status = self._states[template.id].phase.value
        self._views[template.id] = {"status": status, "output": None, "items": len(items)}

    async def _one(
        self,
        template: TaskTemplate,
        scope: Mapping[str, Any],
        trigger: TriggerEvent,
        index: int | None,
        item: Any,
    ) -> Finished | None:
        """One task (or item): render, run on the executor, publish; None if never started."""
        envelope = trigger.envelope
        workflow_id = workflow.info().workflow_id
        try:
            task = render_task(
                template, scope, workflow_id=workflow_id, envelope=envelope, index=index, item=item
            )
        except Exception as exc:  # any failure of outside input fails this task
            finished = Finished(TaskStatus.FAILED, None, *_error(exc))
            await self._record(template, trigger, index, item, finished)
            return finished
        began = False
        try:
            async with self._sem:
                if self._stopping():
                    if index is None:
                        self._set(template.id, phase=TaskPhase.NOT_STARTED)
                    return None
                if index is None:
                    self._set(template.id, phase=TaskPhase.RUNNING)
                started = workflow.now()
                began = True
                finished = await run_activity_task(
                    task,
                    task_queue=self._arg.executor_task_queue,
                    retry=template.retry,
                    start_to_close=template.start_to_close_timeout,
                    schedule_to_close=template.schedule_to_close_timeout,
                    schedule_to_start=template.schedule_to_start_timeout,
                    heartbeat=template.heartbeat_timeout,
                )
        except asyncio.CancelledError:
            if not began:
                if index is None:
                    self._set(template.id, phase=TaskPhase.NOT_STARTED)
                return None
            finished = Finished(TaskStatus.CANCELLED, None, "CancelledError", "run cancelled")
            await self._record(template, trigger, index, item, finished, started=workflow.now())
            return finished
        await self._record(template, trigger, index, item, finished, started=started, since=started)
        return finished

    async def _record(
        self,
        template: TaskTemplate,
        trigger: TriggerEvent,
        index: int | None,
        item: Any,
        finished: Finished,
        *,
        started: Any = None,
        task_id: str | None = None,
        task_type: str | None = None,
        compensation: bool = False,
        since: datetime | None = None,
    ) -> None:
        """Publish one task's result and fold it into the run state.

        ``since``: the earliest moment the result can have been decided (its task's start).
        """
        envelope = trigger.envelope
        tid = task_id or instance_id(template.id, index)
        key = idempotency_key(workflow.info().workflow_id, envelope.id, tid)
        result = task_result(
            self._definition,
            envelope,
            task_id=tid,
            task_type=task_type or template.type,
            key=key,
            finished=finished,
            started=started or workflow.now(),
        )
        if self._fast:
            self._out_results.append(result)
            self._note_since(since)
        else:
            await publish(
                result,
                topic=self._arg.results_topic,
                task_queue=self._arg.executor_task_queue,
                traceparent=trigger.traceparent,
                spec=self._definition.results,
            )
        if compensation:
            return
        ok = finished.status is TaskStatus.SUCCEEDED
        error = None if ok else f"{finished.error_type}: {finished.error_message}"
        current = self._states[template.id]
        if index is None:
            self._set(
                template.id,
                phase=_TERMINAL[finished.status],
                attempts=finished.attempts,
                last_error=error or current.last_error,
            )
        else:
            self._set(
                template.id,
                items_done=current.items_done + 1,
                items_failed=current.items_failed + (0 if ok else 1),
                attempts=max(current.attempts, finished.attempts),
                last_error=error or current.last_error,
            )
        if ok:
            self._completed.append(_Completed(template, tid, index, item, finished.output))
        elif finished.status is not TaskStatus.CANCELLED and self._failure is None:
            self._failure = f"task {tid} {finished.status.value}: {error}"

    async def _finish_failed(
        self, template: TaskTemplate, trigger: TriggerEvent, error_type: str, message: str
    ) -> None:
        finished = Finished(TaskStatus.FAILED, None, error_type, message)
        await self._record(template, trigger, None, None, finished)

    async def _batches(
        self,
        template: TaskTemplate,
        scope: Mapping[str, Any],
        trigger: TriggerEvent,
        items: list[Any],
    ) -> None:
        """Large fan-outs: one child workflow per BATCH_SIZE items, one after another."""
        workflow_id = workflow.info().workflow_id
        for number, first in enumerate(range(0, len(items), BATCH_SIZE)):
            if self._stopping():
                break
            batch = TaskBatchInput(
                definition=self._definition,
                trigger=trigger,
                template_id=template.id,
                first_index=first,
                items=items[first : first + BATCH_SIZE],
                variables=dict(scope),
                key_prefix=workflow_id,
                results_topic=self._arg.results_topic,
                executor_task_queue=self._arg.executor_task_queue,
                max_parallel=self._definition.max_parallel,
            )
            try:
                out = await workflow.execute_child_workflow(
                    names.WORKFLOW_TASK_BATCH,
                    batch,
                    id=f"{workflow_id}/{trigger.envelope.id}/{template.id}/batch-{number}",
                    task_queue=workflow.info().task_queue,
                    result_type=TaskBatchOutput,
                )
            except asyncio.CancelledError:
                self._set(template.id, phase=TaskPhase.CANCELLED)
                return
            current = self._states[template.id]
            self._set(
                template.id,
                items_done=current.items_done + out.succeeded + out.failed,
                items_failed=current.items_failed + out.failed,
                attempts=max(current.attempts, out.attempts),
                last_error=out.first_error or current.last_error,
            )
            if out.failed and self._failure is None:
                self._failure = (
                    f"task {template.id}: {out.failed} item(s) failed: {out.first_error}"
                )

    async def _compensate(self, base: dict[str, Any], trigger: TriggerEvent) -> None:
        """Undo completed tasks that declare ``compensate``, most recent first."""
        workflow_id = workflow.info().workflow_id
        for done in reversed(self._completed):
            spec = done.template.compensate
            if spec is None:
                continue
            scope = {**base, "tasks": dict(self._views), "output": done.output}
            if done.index is not None:
                scope.update(item=done.item, index=done.index)
            cid = f"{done.task_id}.compensate"
            started = workflow.now()
            since = None
            try:
                params = render_params(spec.type, spec.params, scope)
            except Exception as exc:  # any failure of outside input fails this task
                finished = Finished(TaskStatus.FAILED, None, *_error(exc))
            else:
                since = started
                task = TaskInput(
                    run_id=workflow_id,
                    task_id=cid,
                    type=spec.type,
                    params=params,
                    idempotency_key=idempotency_key(workflow_id, trigger.envelope.id, cid),
                    subject=trigger.envelope.subject,
                    event_id=trigger.envelope.id,
                )
                finished = await run_activity_task(
                    task,
                    task_queue=self._arg.executor_task_queue,
                    retry=spec.retry,
                    start_to_close=spec.start_to_close_timeout,
                )
            await self._record(
                done.template,
                trigger,
                done.index,
                done.item,
                finished,
                started=started,
                task_id=cid,
                task_type=spec.type,
                compensation=True,
                since=since,
            )
            if finished.status is TaskStatus.SUCCEEDED and done.index is None:
                self._set(done.template.id, phase=TaskPhase.COMPENSATED)

    # ---- approvals --------------------------------------------------------------------
    async def _await_approval(self, template: TaskTemplate) -> ApprovalSignal | None:
        spec = template.approval
        assert spec is not None
        self._set(
            template.id,
            phase=TaskPhase.WAITING_APPROVAL,
            approval_deadline=workflow.now() + spec.deadline,
        )
        self._waiting.add(template.id)
        try:
            await workflow.wait_condition(
                lambda: template.id in self._decisions or self._stopping(),
                timeout=spec.deadline,
                timeout_summary=f"approval deadline of {template.id}",
            )
        except TimeoutError:
            decision = ApprovalSignal(
                task_id=template.id,
                approved=spec.default == "approve",
                by="deadline",
                comment=f"no decision within {spec.deadline}; default {spec.default}",
            )
        except asyncio.CancelledError:
            self._set(template.id, phase=TaskPhase.CANCELLED)
            return None
        else:
            if template.id not in self._decisions:
                self._set(template.id, phase=TaskPhase.NOT_STARTED)
                return None
            decision = self._decisions[template.id]
        finally:
            self._waiting.discard(template.id)
        self._set(template.id, phase=TaskPhase.PENDING, decided_by=decision.by)
        return decision

    @workflow.update(name=names.UPDATE_APPROVAL)
    async def approve(self, decision: ApprovalSignal) -> TaskState:
        """Record a person's decision; returns the task's state once the decision took effect."""
        self._decisions[decision.task_id] = decision
        await workflow.wait_condition(lambda: decision.task_id not in self._waiting)
        return self._states[decision.task_id]

    @approve.validator
    def _validate_approval(self, decision: ApprovalSignal) -> None:
        # Validators never run on replay: their rules can change without a patch. The error
        # types are what the admin API maps to 409 (not waiting) and 403 (not an approver).
        if decision.task_id not in self._waiting:
            phase = self._states.get(decision.task_id)
            raise ApplicationError(
                f"task {decision.task_id!r} is not waiting for approval"
                + (f" (it is {phase.phase.value})" if phase else " (no such task)"),
                type=names.ERROR_NOT_WAITING_FOR_APPROVAL,
                non_retryable=True,
            )
        template = next(t for t in self._definition.tasks if t.id == decision.task_id)
        approvers = template.approval.approvers if template.approval else ()
        if approvers and not {decision.by, *decision.groups} & set(approvers):
            raise ApplicationError(
                f"{decision.by!r} may not decide {decision.task_id!r} "
                f"(approvers: {', '.join(approvers)})",
                type=names.ERROR_NOT_AN_APPROVER,
                non_retryable=True,
            )

    # ---- state ------------------------------------------------------------------------
    @workflow.query(name=names.QUERY_STATUS)
    def status(self) -> RunStatusView:
        """The run's state and each task's phase, attempts and last error."""
        return RunStatusView(
            definition_id=self._definition.id,
            definition_version=self._definition.version,
            state=self._state,
            event_id=self._event_id,
            tasks=dict(self._states),
            events_handled=self._handled,
        )

    @workflow.query(name=names.QUERY_TASKS)
    def tasks(self) -> dict[str, TaskStatus]:
        """Status of each task finished so far."""
        return {k: TaskStatus(s.phase.value) for k, s in self._states.items() if _published(s)}

    def _stopping(self) -> bool:
        return self._failure is not None or self._cancelled

    def _set(self, task_id: str, **changes: Any) -> None:
        self._states[task_id] = self._states[task_id].model_copy(update=changes)

    def _upsert_search_attributes(self, envelope: Envelope) -> None:
        pairs = [
            SearchAttributeKey.for_keyword(names.SA_DEFINITION).value_set(self._definition.id),
            SearchAttributeKey.for_keyword(names.SA_EVENT_TYPE).value_set(envelope.type),
            SearchAttributeKey.for_keyword(names.SA_SUBJECT).value_set(envelope.subject),
        ]
        if envelope.tenant:
            pairs.append(SearchAttributeKey.for_keyword(names.SA_TENANT).value_set(envelope.tenant))
        workflow.upsert_search_attributes(pairs)


@workflow.defn(name=names.WORKFLOW_RUN_ACTIVITY_V1)
class LegacyRunActivityWorkflow(RunActivityWorkflow):
    """Runs started before the fast path: results and run events through the executor."""

    _FAST = False

    @workflow.run
    async def run(self, arg: RunActivityInput) -> RunOutcome:
        """As ``RunActivityWorkflow.run``, on the executor path."""
        return await super().run(arg)


def _error(exc: Exception) -> tuple[str, str]:
    """The error type and message a task fails with when evaluating its template raised."""
    if isinstance(exc, ExpressionError):
        return "ExpressionError", str(exc)
    return type(exc).__name__, str(exc)[:2000] or type(exc).__name__


def _published(state: TaskState) -> bool:
    return state.phase.value in {s.value for s in TaskStatus}
