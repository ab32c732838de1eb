"""``ScheduledFiringWorkflow``: what a Temporal Schedule starts for each firing.

A schedule's action arguments are fixed when it is written, so the firing itself turns the
nominal time (``scheduled_for``) into a trigger event and starts ``RunActivityWorkflow`` as a
child under the deterministic id derived from the definition and ``scheduled_for``, with
``REJECT_DUPLICATE``: a firing that was already run (a repeated backfill, a trigger racing the
schedule) starts nothing. The misfire policy is applied here:

- ``skip``: a firing that starts later than its grace (jitter + ``SKIP_GRACE``) is dropped;
- ``catchup``: every firing runs;
- ``compress``: the run covers this firing and every earlier one within ``catchup_window``
  back to the last that has a run; it receives their list in ``data.covers``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Literal

from temporalio import activity, workflow
from temporalio.api.workflowservice.v1 import ListScheduleMatchingTimesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

with workflow.unsafe.imports_passed_through():
    from taskfactory_contracts import (
        ActivityDefinition,
        Envelope,
        RunActivityInput,
        TriggerEvent,
        names,
    )
    from taskfactory_contracts.strict import StrictModel
    from taskfactory_contracts.triggers import workflow_id_for
    from taskfactory_orchestrator.workflows.execution import FAST_PATH
    from taskfactory_runtime.search_attributes import run_search_attributes

__all__ = [
    "ACTIVITY_UNCOVERED_FIRINGS",
    "FIRING_EVENT_TYPE",
    "SKIP_GRACE",
    "WORKFLOW_SCHEDULED_FIRING",
    "FiringActivities",
    "FiringOutcome",
    "ScheduledFiringInput",
    "ScheduledFiringWorkflow",
    "UncoveredFiringsInput",
    "firing_envelope",
    "format_scheduled_for",
    "matching_times",
    "run_workflow_id",
    "scheduled_for_from_id",
]

WORKFLOW_SCHEDULED_FIRING = "ScheduledFiringWorkflow"
ACTIVITY_UNCOVERED_FIRINGS = "taskfactory.uncovered_firings"
#: The type of the trigger event a schedule firing carries.
FIRING_EVENT_TYPE = "taskfactory.schedule.fired"
#: A ``skip`` firing that starts this much (plus the jitter) after its time counts as missed.
SKIP_GRACE = timedelta(seconds=60)
_SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


class ScheduledFiringInput(StrictModel):
    """Input of ``ScheduledFiringWorkflow`` (the schedule action's only argument)."""

    definition: ActivityDefinition
    schedule_id: str
    results_topic: str
    executor_task_queue: str
    search_attributes: bool = True
    #: Set by an explicit start (a compress backfill); a schedule's firing reads its own time.
    scheduled_for: datetime | None = None
    covers: tuple[datetime, ...] = ()
    #: Where the run publishes its run events (schedules written before: none).
    runs_topic: str | None = None


class FiringOutcome(StrictModel):
    """What one firing did."""

    status: Literal["started", "duplicate", "skipped", "failed"]
    scheduled_for: datetime
    run_id: str
    covers: tuple[datetime, ...] = ()
    reason: str = ""


class UncoveredFiringsInput(StrictModel):
    """Input of the ``uncovered_firings`` activity."""

    definition: ActivityDefinition
    schedule_id: str
    scheduled_for: datetime
    window: timedelta


def format_scheduled_for(moment: datetime) -> str:
    """RFC 3339 UTC with seconds, as Temporal suffixes the workflow ids a schedule starts."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduled_for_from_id(workflow_id: str) -> datetime | None:
    """The nominal time Temporal appends (``-2026-03-29T00:30:00Z``) to a scheduled workflow id."""
    suffix = workflow_id[-20:]
    if len(workflow_id) < 21 or workflow_id[-21] != "-":
        return None
    try:
        return datetime.strptime(suffix, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def firing_envelope(
    definition: ActivityDefinition,
    schedule_id: str,
    scheduled_for: datetime,
    covers: tuple[datetime, ...] = (),
) -> Envelope:
    """The trigger event of one firing; its id depends on nothing but definition and time."""
    when = format_scheduled_for(scheduled_for)
    data = {
        "scheduled_for": when,
        "schedule_id": schedule_id,
        "covers": [format_scheduled_for(c) for c in covers] or [when],
    }
    return Envelope(
        id=f"{definition.id}@{when}",
        source=f"taskfactory/schedules/{schedule_id}",
        type=FIRING_EVENT_TYPE,
        subject=definition.id,
        time=scheduled_for,
        data=json.dumps(data, sort_keys=True).encode(),
        extensions={"scheduledfor": when},
    )


def run_workflow_id(definition: ActivityDefinition, scheduled_for: datetime) -> str:
    """The deterministic id of the run a firing at ``scheduled_for`` starts."""
    envelope = firing_envelope(definition, "-", scheduled_for)
    return workflow_id_for(definition, envelope, format_scheduled_for(scheduled_for))


@workflow.defn(name=WORKFLOW_SCHEDULED_FIRING)
class ScheduledFiringWorkflow:
    """One firing of a schedule: apply the misfire policy, then start (at most) one run."""

    @workflow.run
    async def run(self, arg: ScheduledFiringInput) -> FiringOutcome:
        info = workflow.info()
        scheduled_for = (
            arg.scheduled_for
            or info.typed_search_attributes.get(_SCHEDULED_START)
            or scheduled_for_from_id(info.workflow_id)
            or info.start_time
        ).astimezone(UTC)
        definition = arg.definition
        schedule = definition.trigger.schedule
        assert schedule is not None, "a schedule firing needs a schedule-triggered definition"
        run_id = run_workflow_id(definition, scheduled_for)
        lag = info.start_time.astimezone(UTC) - scheduled_for
        covers = arg.covers
        if schedule.misfire == "skip" and arg.scheduled_for is None:
            if lag > schedule.jitter + SKIP_GRACE:
                reason = f"started {lag} after its time (misfire policy skip)"
                workflow.logger.warning(
                    "schedule firing skipped",
                    extra={"schedule_id": arg.schedule_id, "scheduled_for": scheduled_for},
                )
                workflow.metric_meter().create_counter(
                    "taskfactory_schedule_firings_skipped", "Schedule firings dropped as missed."
                ).add(1, {"schedule": arg.schedule_id})
                return FiringOutcome(
                    status="skipped", scheduled_for=scheduled_for, run_id=run_id, reason=reason
                )
        elif schedule.misfire == "compress" and not covers:
            covers = await workflow.execute_activity(
                ACTIVITY_UNCOVERED_FIRINGS,
                UncoveredFiringsInput(
                    definition=definition,
                    schedule_id=arg.schedule_id,
                    scheduled_for=scheduled_for,
                    window=schedule.catchup_window,
                ),
                result_type=tuple[datetime, ...],
                start_to_close_timeout=timedelta(seconds=30),
            )
        envelope = firing_envelope(definition, arg.schedule_id, scheduled_for, covers)
        search_attributes = (
            run_search_attributes(
                definition.id, event_type=FIRING_EVENT_TYPE, subject=definition.id
            )
            if arg.search_attributes
            else TypedSearchAttributes.empty
        )
        run_input = RunActivityInput(
            definition=definition,
            trigger=TriggerEvent(envelope=envelope),
            results_topic=arg.results_topic,
            executor_task_queue=arg.executor_task_queue,
            runs_topic=arg.runs_topic,
        )
        try:
            # Firings started before the fast path started runs of the old type.
            run_type = (
                names.WORKFLOW_RUN_ACTIVITY
                if workflow.patched(FAST_PATH)
                else names.WORKFLOW_RUN_ACTIVITY_V1
            )
            handle = await workflow.start_child_workflow(
                run_type,
                run_input,
                id=run_id,
                task_queue=info.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                # The overlap policy acts on this firing; the run goes with it.
                parent_close_policy=workflow.ParentClosePolicy.TERMINATE
                if schedule.overlap == "terminate_other"
                else workflow.ParentClosePolicy.REQUEST_CANCEL,
                search_attributes=search_attributes,
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info(
                "schedule firing already ran",
                extra={"run_id": run_id, "schedule_id": arg.schedule_id},
            )
            return FiringOutcome(
                status="duplicate", scheduled_for=scheduled_for, run_id=run_id, covers=covers
            )
        try:
            await handle
        except ChildWorkflowError as exc:
            return FiringOutcome(
                status="failed",
                scheduled_for=scheduled_for,
                run_id=run_id,
                covers=covers,
                reason=str(exc.cause or exc),
            )
        return FiringOutcome(
            status="started", scheduled_for=scheduled_for, run_id=run_id, covers=covers
        )


async def matching_times(
    client: Client, schedule_id: str, after: datetime, until: datetime
) -> list[datetime]:
    """The firing times of a schedule's spec in ``(after, until]``, oldest first, each once
    (evaluated by Temporal: ``ListScheduleMatchingTimes``)."""
    request = ListScheduleMatchingTimesRequest(namespace=client.namespace, schedule_id=schedule_id)
    request.start_time.FromDatetime(after.astimezone(UTC))
    request.end_time.FromDatetime(until.astimezone(UTC))
    response = await client.workflow_service.list_schedule_matching_times(request)
    return sorted({t.ToDatetime(tzinfo=UTC) for t in response.start_time})


class FiringActivities:
    """Activities of the firing workflow; built in ``worker.py`` with the worker's client."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name=ACTIVITY_UNCOVERED_FIRINGS)
    async def uncovered_firings(self, arg: UncoveredFiringsInput) -> tuple[datetime, ...]:
        """Firings in the window before ``scheduled_for`` (newest back to the last one that has
        a run), plus ``scheduled_for`` itself, oldest first."""
        times = await matching_times(
            self._client, arg.schedule_id, arg.scheduled_for - arg.window, arg.scheduled_for
        )
        earlier = [t for t in reversed(times) if t < arg.scheduled_for]
        covered = [arg.scheduled_for]
        for moment in earlier:
            try:
                await self._client.get_workflow_handle(
                    run_workflow_id(arg.definition, moment)
                ).describe()
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
                covered.append(moment)
                continue
            break
        return tuple(sorted(covered))
