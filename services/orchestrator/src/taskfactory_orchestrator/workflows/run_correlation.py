"""The correlation loop: one long-lived run per correlation id, fed by ``taskfactory.event``.

Later events arrive as signals, wait in the run's queue and are handled one at a time in
arrival order, deduplicated by event id (the last ``SEEN_KEPT`` ids go with each continue as
new); the run ends when no event came for ``idle_timeout`` and continues as new after
``continue_as_new_after`` events or when Temporal suggests it.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from taskfactory_contracts import RunActivityInput, TriggerEvent, names
    from taskfactory_orchestrator.models import RunState
    from taskfactory_orchestrator.workflows.run_core import RunCore

__all__ = ["Correlation"]


class Correlation(RunCore):
    """Signal mode: the queue of later events, its deduplication and the loop that drains it."""

    async def _execute(self, trigger: TriggerEvent) -> str | None:
        """Run every task for ``trigger`` (the run shell's); the failure, or None."""
        raise NotImplementedError

    async def _correlate(self, arg: RunActivityInput) -> None:
        """Handle queued events until idle; continue as new when the history grows large."""
        if arg.events_handled == 0 and arg.trigger.envelope.id not in arg.seen_event_ids:
            self._queue.appendleft(arg.trigger)  # the event that started the run comes first
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
