"""``RunActivityWorkflow``: one run of an ActivityDefinition — its task DAG, approvals, saga.

The shell: ``run``, one trigger's task DAG, and the queries; the correlation loop, the saga,
the approvals, the task ledger and the task runner live in modules of their own. Start mode
runs the definition once for the trigger. Signal (correlation) mode keeps one long-lived run
per correlation id (``run_correlation``).

The fast path (this type, ``RunActivityWorkflowV2``): results and run events go into an
outbox that the run publishes itself, as local activities, while tasks are running and once
at the end of each event (the last results together with the ``finished`` run event); context
sources are resolved by local activities. A one-task run is then two workflow tasks and one
activity task. ``LegacyRunActivityWorkflow`` (the old type name, in ``run_legacy``) serves
runs started before, on the executor path, unchanged (a new type rather than a patch: a patch
costs every new run a marker and a search-attribute upsert).
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from taskfactory_contracts import (
        APPROVAL_TASK_TYPE,
        Envelope,
        RunActivityInput,
        RunEventKind,
        RunStatus,
        TaskStatus,
        TaskTemplate,
        TriggerEvent,
        names,
    )
    from taskfactory_contracts.expressions import (
        Scope,
        evaluate_bool,
    )
    from taskfactory_orchestrator.models import (
        RunOutcome,
        RunState,
        RunStatusView,
    )
    from taskfactory_orchestrator.plan import (
        for_each_items,
        variables,
    )
    from taskfactory_orchestrator.workflows.execution import (
        Finished,
    )
    from taskfactory_orchestrator.workflows.ledger import TaskLedger
    from taskfactory_orchestrator.workflows.run_approvals import Approvals
    from taskfactory_orchestrator.workflows.run_core import run_log
    from taskfactory_orchestrator.workflows.run_correlation import Correlation
    from taskfactory_orchestrator.workflows.run_saga import Saga
    from taskfactory_orchestrator.workflows.run_tasks import BATCH_SIZE, INLINE_ITEMS
    from taskfactory_orchestrator.workflows.task_runner import error_of
    from taskfactory_runtime.search_attributes import envelope_search_attributes

__all__ = ["BATCH_SIZE", "INLINE_ITEMS", "RunActivityWorkflow"]


@workflow.defn(name=names.WORKFLOW_RUN_ACTIVITY)
class RunActivityWorkflow(Correlation, Saga, Approvals):
    """Runs the definition snapshot in its input for its trigger (signal mode: later ones too)."""

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
                await self._run_event(RunEventKind.STARTED)
            failure = await self._execute(arg.trigger)
            if run_events:
                await self._run_event(
                    RunEventKind.FINISHED,
                    outcome=RunStatus.FAILED if failure is not None else RunStatus.SUCCEEDED,
                    error=failure,
                )
            if failure is not None:
                raise ApplicationError(failure, type="TaskFailed", non_retryable=True)
            self._state = RunState.SUCCEEDED
        if arg.definition.correlation.mode != "start":
            await self._correlate(arg)
        return RunOutcome(
            run_id=workflow.info().workflow_id,
            definition_id=arg.definition.id,
            tasks=self._ledger.published(),
            started_at=started,
            finished_at=max(started, workflow.now()),
        )

    # ---- one trigger ------------------------------------------------------------------
    async def _execute(self, trigger: TriggerEvent) -> str | None:
        """Run every task for ``trigger``; the failure message, or None when all went well."""
        definition = self._definition
        envelope = trigger.envelope
        self._event_id = envelope.id
        self._state = RunState.RUNNING
        self._ledger = TaskLedger.of(definition.tasks)
        self._completed, self._failure = [], None
        self._decisions.clear()
        self._children, self._traceparent = [], trigger.traceparent
        run_log.info("run started: event %s, definition %s", envelope.id, definition.id)
        if self._fast:
            self._emit(trigger, RunEventKind.STARTED)
        failure = await self._execute_tasks(trigger)
        if self._fast:
            self._emit(trigger, RunEventKind.FINISHED, failure)
            await self._flush_all()
        run_log.info(
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
            error_type, message = error_of(exc)
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

    async def _template(
        self, template: TaskTemplate, base: dict[str, Any], trigger: TriggerEvent
    ) -> None:
        ledger = self._ledger
        try:
            await workflow.wait_condition(
                lambda: self._stopping() or ledger.needs_done(template.id)
            )
        except asyncio.CancelledError:
            ledger.not_started(template.id)
            return
        if self._stopping():
            ledger.not_started(template.id)
            return
        scope = Scope({**base, "tasks": ledger.views()})
        try:
            if template.when is not None and not evaluate_bool(template.when, scope):
                ledger.skip(template.id)
                return
            items = for_each_items(template, scope)
        except Exception as exc:  # any failure of outside input fails this task
            await self._finish_failed(template, trigger, *error_of(exc))
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
                ledger.view(template.id, "succeeded", output)
                return
        if items is None:
            finished = await self._one(template, scope, trigger, None, None)
            if finished is not None:
                ledger.view(template.id, finished.status.value, finished.output)
            return
        ledger.fan_out(template.id, len(items))
        if len(items) <= INLINE_ITEMS:
            await asyncio.gather(
                *(self._one(template, scope, trigger, i, item) for i, item in enumerate(items))
            )
        else:
            await self._batches(template, scope, trigger, items)
        phase = ledger.close_fan_out(template.id)
        ledger.view(template.id, phase.value, items=len(items))

    # ---- state ------------------------------------------------------------------------
    @workflow.query(name=names.QUERY_STATUS)
    def status(self) -> RunStatusView:
        """The run's state and each task's phase, attempts and last error."""
        return RunStatusView(
            definition_id=self._definition.id,
            definition_version=self._definition.version,
            state=self._state,
            event_id=self._event_id,
            tasks=self._ledger.states(),
            events_handled=self._handled,
        )

    @workflow.query(name=names.QUERY_TASKS)
    def tasks(self) -> dict[str, TaskStatus]:
        """Status of each task finished so far."""
        return self._ledger.published()

    def _upsert_search_attributes(self, envelope: Envelope) -> None:
        attributes = envelope_search_attributes(self._definition.id, envelope)
        workflow.upsert_search_attributes([p.key.value_set(p.value) for p in attributes])
