"""Operations on taskfactory's schedules, shared by the CLI and the admin API (one code path).

Every operation refuses a schedule the reconciler does not own, so an operator cannot
steer someone else's schedule through taskfactory by accident.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge
from temporalio.client import (
    ScheduleActionStartWorkflow,
    ScheduleBackfill,
    ScheduleDescription,
    ScheduleOverlapPolicy,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from taskfactory_contracts import ActivityDefinition
from taskfactory_orchestrator.errors import NotOurs
from taskfactory_orchestrator.schedules.reconciler import OPERATOR_NOTE, OVERLAP, ScheduleReconciler
from taskfactory_orchestrator.workflows.scheduled_firing import (
    WORKFLOW_SCHEDULED_FIRING,
    ScheduledFiringInput,
    format_scheduled_for,
    matching_times,
)
from taskfactory_runtime.logging import get_logger

__all__ = [
    "LAST_ACTION_AGE",
    "MISSED_CATCHUP",
    "NotOurs",
    "ScheduleOps",
    "expected_interval",
]

log = get_logger(__name__)

# Every schedule metric has one label: the schedule's id.
_BY_SCHEDULE = ("schedule",)
LAST_ACTION_AGE = Gauge(
    "taskfactory_schedule_last_action_age_seconds",
    "Seconds since the schedule last started a firing (since creation when it never did).",
    _BY_SCHEDULE,
)
EXPECTED_INTERVAL = Gauge(
    "taskfactory_schedule_expected_interval_seconds",
    "Seconds between the schedule's next two firings; alert when the age exceeds it by far.",
    _BY_SCHEDULE,
)
PAUSED = Gauge("taskfactory_schedule_paused", "1 while the schedule is paused.", _BY_SCHEDULE)
MISSED_CATCHUP = Gauge(
    "taskfactory_schedule_missed_catchup_window",
    "Firings Temporal dropped because they were later than the catch-up window.",
    _BY_SCHEDULE,
)
SKIPPED_OBSERVED = Counter(
    "taskfactory_schedule_skipped_firings_total",
    "Firings found dropped (Temporal's catch-up window) since this process started.",
    _BY_SCHEDULE,
)


def expected_interval(description: ScheduleDescription) -> timedelta | None:
    """The gap between the next two firings (``None`` with fewer than two ahead)."""
    times = description.info.next_action_times
    if len(times) < 2:
        return None
    return times[1] - times[0]


@dataclass
class ScheduleOps:
    """list / describe / trigger / pause / unpause / backfill over the owned schedules."""

    reconciler: ScheduleReconciler
    _missed: dict[str, int] = field(default_factory=dict)
    #: When each schedule last started a firing, as last seen in Temporal.
    _last_action: dict[str, datetime] = field(default_factory=dict)

    def refresh_ages(self, now: datetime | None = None) -> None:
        """Set the last-action age of every schedule seen so far from the clock alone.

        Needs no call to Temporal, so the age keeps growing (and the missed-schedule alert
        fires) while syncing or describing fails.
        """
        now = now or datetime.now(UTC)
        for schedule_id, last in self._last_action.items():
            LAST_ACTION_AGE.labels(schedule_id).set(max(0.0, (now - last).total_seconds()))

    async def _firing_input(self, description: ScheduleDescription) -> ScheduledFiringInput:
        action = description.schedule.action
        if not isinstance(action, ScheduleActionStartWorkflow) or not action.args:
            raise NotOurs(f"schedule {description.id!r} does not start a taskfactory firing")
        [value] = await self.reconciler.client.data_converter.decode(
            [action.args[0]],
            [ScheduledFiringInput],
        )
        assert isinstance(value, ScheduledFiringInput)
        return value

    async def _owned(self, schedule_id: str) -> ScheduleDescription:
        description = await self.reconciler.describe(schedule_id)
        if description is None or not await self.reconciler.is_owned(description):
            raise NotOurs(f"no taskfactory schedule {schedule_id!r}")
        return description

    async def list_all(self) -> list[dict[str, Any]]:
        """One summary per owned schedule."""
        out = []
        for schedule_id in await self.reconciler.owned():
            description = await self.reconciler.describe(schedule_id)
            if description is not None:
                out.append(self.summary(description))
        return out

    def summary(self, description: ScheduleDescription) -> dict[str, Any]:
        """A JSON-able view of a schedule: state, next and recent firings, missed counts."""
        info = description.info
        interval = expected_interval(description)
        return {
            "id": description.id,
            "paused": description.schedule.state.paused,
            "note": description.schedule.state.note or "",
            "next_action_times": [t.isoformat() for t in info.next_action_times],
            "recent_actions": [
                {"scheduled_at": a.scheduled_at.isoformat(), "started_at": a.started_at.isoformat()}
                for a in info.recent_actions
            ],
            "num_actions": info.num_actions,
            "num_actions_missed_catchup_window": info.num_actions_missed_catchup_window,
            "num_actions_skipped_overlap": info.num_actions_skipped_overlap,
            "expected_interval_seconds": interval.total_seconds() if interval else None,
            "created_at": info.created_at.isoformat(),
        }

    async def describe(self, schedule_id: str) -> dict[str, Any]:
        """The summary of one owned schedule."""
        return self.summary(await self._owned(schedule_id))

    async def trigger(self, schedule_id: str) -> None:
        """Fire now (the run's ``scheduled_for`` is now), whatever the overlap policy."""
        await self._owned(schedule_id)
        await self.reconciler.client.get_schedule_handle(schedule_id).trigger(
            overlap=ScheduleOverlapPolicy.ALLOW_ALL
        )

    async def pause(self, schedule_id: str, reason: str = "") -> None:
        """Pause until ``unpause`` (a later sync keeps an operator's pause)."""
        await self._owned(schedule_id)
        note = f"{OPERATOR_NOTE} {reason}".strip()
        await self.reconciler.client.get_schedule_handle(schedule_id).pause(note=note)

    async def unpause(self, schedule_id: str) -> None:
        """Resume firing."""
        await self._owned(schedule_id)
        await self.reconciler.client.get_schedule_handle(schedule_id).unpause(
            note="unpaused by operator"
        )

    async def matching_times(
        self, schedule_id: str, start: datetime, end: datetime
    ) -> list[datetime]:
        """The firing times of the schedule's spec in ``[start, end]`` (evaluated by Temporal)."""
        # Temporal's range excludes its start; a firing exactly at ``start`` belongs in.
        after = start - timedelta(seconds=1)
        return await matching_times(self.reconciler.client, schedule_id, after, end)

    async def backfill(
        self, schedule_id: str, start: datetime, end: datetime, overlap: str | None = None
    ) -> dict[str, Any]:
        """Replay the firings in ``[start, end]`` under the definition's misfire policy.

        ``skip`` and ``catchup`` go through Temporal's backfill (each firing then applies its
        policy: skip drops late ones); ``compress`` starts one firing at the last time that
        covers them all. Repeating a backfill starts no run twice (deterministic run ids).
        """
        description = await self._owned(schedule_id)
        firing = await self._firing_input(description)
        definition: ActivityDefinition = firing.definition
        spec = definition.trigger.schedule
        assert spec is not None
        times = await self.matching_times(schedule_id, start, end)
        if spec.misfire == "compress":
            if not times:
                return {"policy": "compress", "firings": 0, "started": []}
            last = times[-1]
            action = description.schedule.action
            assert isinstance(action, ScheduleActionStartWorkflow)
            workflow_id = f"{schedule_id}-{format_scheduled_for(last)}"
            explicit = firing.model_copy(update={"scheduled_for": last, "covers": tuple(times)})
            try:
                await self.reconciler.client.start_workflow(
                    WORKFLOW_SCHEDULED_FIRING,
                    explicit,
                    id=workflow_id,
                    task_queue=action.task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                )
            except WorkflowAlreadyStartedError:
                log.info("compress backfill already running", workflow_id=workflow_id)
            return {"policy": "compress", "firings": len(times), "started": [workflow_id]}
        policy = OVERLAP[overlap] if overlap else ScheduleOverlapPolicy.ALLOW_ALL
        await self.reconciler.client.get_schedule_handle(schedule_id).backfill(
            ScheduleBackfill(start_at=start, end_at=end, overlap=policy)
        )
        return {
            "policy": spec.misfire,
            "firings": len(times),
            "started": [f"{schedule_id}-{format_scheduled_for(t)}" for t in times],
        }

    async def observe(self) -> list[dict[str, Any]]:
        """Update the missed-run metrics of every owned schedule; returns the summaries."""
        owned = await self.reconciler.owned()
        for gone in set(self._last_action) - set(owned):
            del self._last_action[gone]
            with contextlib.suppress(KeyError):  # deleted: no age to alert on any more
                LAST_ACTION_AGE.remove(gone)
        summaries = []
        for schedule_id in owned:
            description = await self.reconciler.describe(schedule_id)
            if description is None:
                continue
            info = description.info
            last = max((a.started_at for a in info.recent_actions), default=info.created_at)
            self._last_action[schedule_id] = last
            interval = expected_interval(description)
            if interval is not None:
                EXPECTED_INTERVAL.labels(schedule_id).set(interval.total_seconds())
            PAUSED.labels(schedule_id).set(1 if description.schedule.state.paused else 0)
            missed = info.num_actions_missed_catchup_window
            previous = self._missed.get(schedule_id, 0)
            self._missed[schedule_id] = missed
            if missed > previous:
                log.warning(
                    "schedule firings skipped",
                    schedule_id=schedule_id,
                    skipped=missed - previous,
                    reason="later than the catch-up window",
                )
                SKIPPED_OBSERVED.labels(schedule_id).inc(missed - previous)
            MISSED_CATCHUP.labels(schedule_id).set(missed)
            summaries.append(self.summary(description))
        self.refresh_ages()
        return summaries
