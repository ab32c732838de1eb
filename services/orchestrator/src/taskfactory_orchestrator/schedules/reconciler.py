"""The schedules reconciler: make Temporal's Schedules match the schedule-triggered definitions.

Each schedule-triggered definition becomes one Temporal Schedule with id
``{id_prefix}{definition id}`` whose action starts ``ScheduledFiringWorkflow``. A schedule is
ours only when its memo carries the configured owner marker *and* its id has the prefix:
the reconciler creates, updates, pauses, unpauses and deletes those and never touches any
other. What was written is fingerprinted in the action's memo, so "changed?" is a string
comparison rather than a comparison against Temporal's normalised spec (cron strings come
back as structured calendars). A pause made by an operator (note starting ``operator:``)
is left alone until the definition itself changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from taskfactory_contracts import ActivityDefinition
from taskfactory_orchestrator.settings import OrchestratorSettings
from taskfactory_orchestrator.workflows.scheduled_firing import (
    WORKFLOW_SCHEDULED_FIRING,
    ScheduledFiringInput,
)
from taskfactory_runtime.logging import get_logger

__all__ = [
    "FINGERPRINT_MEMO",
    "MIN_CATCHUP_WINDOW",
    "OPERATOR_NOTE",
    "OVERLAP",
    "OWNER_MEMO",
    "Change",
    "ScheduleReconciler",
    "ScheduleTarget",
    "build_schedule",
    "fingerprint",
    "target_from",
]

log = get_logger(__name__)

OWNER_MEMO = "taskfactory-owner"
FINGERPRINT_MEMO = "taskfactory-fingerprint"
OPERATOR_NOTE = "operator:"
MANAGED_NOTE = "managed by taskfactory"
#: Temporal's smallest catch-up window; skip and compress leave catching up to the firing.
MIN_CATCHUP_WINDOW = timedelta(seconds=10)
OVERLAP = {
    "skip": ScheduleOverlapPolicy.SKIP,
    "buffer_one": ScheduleOverlapPolicy.BUFFER_ONE,
    "buffer_all": ScheduleOverlapPolicy.BUFFER_ALL,
    "cancel_other": ScheduleOverlapPolicy.CANCEL_OTHER,
    "terminate_other": ScheduleOverlapPolicy.TERMINATE_OTHER,
    "allow_all": ScheduleOverlapPolicy.ALLOW_ALL,
}


@dataclass(frozen=True)
class ScheduleTarget:
    """Where schedules live and what their firings need (from the orchestrator settings)."""

    orchestrator_task_queue: str
    executor_task_queue: str
    results_topic: str
    id_prefix: str = "taskfactory-"
    owner: str = "taskfactory"
    search_attributes: bool = True
    #: Where the firings' runs publish their run events (None: none).
    runs_topic: str | None = None

    def schedule_id(self, definition_id: str) -> str:
        """The id of the schedule of ``definition_id``."""
        return f"{self.id_prefix}{definition_id}"


ChangeKind = Literal["create", "update", "pause", "unpause", "delete", "unchanged", "foreign"]


@dataclass(frozen=True)
class Change:
    """One step of a sync (``unchanged`` and ``foreign`` are reported, never applied)."""

    kind: ChangeKind
    schedule_id: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind:<9} {self.schedule_id}{'  ' + self.detail if self.detail else ''}"


def _desired_paused(definition: ActivityDefinition) -> bool:
    schedule = definition.trigger.schedule
    return not definition.enabled or (schedule is not None and schedule.paused)


def fingerprint(definition: ActivityDefinition, target: ScheduleTarget) -> str:
    """A digest of everything the schedule is built from (the definition and the target)."""
    doc = {
        "definition": definition.model_dump(mode="json"),
        "queues": [target.orchestrator_task_queue, target.executor_task_queue],
        "results": target.results_topic,
        "search_attributes": target.search_attributes,
    }
    # A target with a runs topic changes the digest, so existing schedules are updated once
    # to carry it; one without keeps the digest it had.
    if target.runs_topic is not None:
        doc["runs"] = target.runs_topic
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]


def build_schedule(definition: ActivityDefinition, target: ScheduleTarget) -> Schedule:
    """The Temporal Schedule of a schedule-triggered definition."""
    spec = definition.trigger.schedule
    if spec is None:
        raise ValueError(f"definition {definition.id!r} has no schedule trigger")
    schedule_id = target.schedule_id(definition.id)
    catchup = spec.catchup_window if spec.misfire == "catchup" else MIN_CATCHUP_WINDOW
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WORKFLOW_SCHEDULED_FIRING,
            ScheduledFiringInput(
                definition=definition,
                schedule_id=schedule_id,
                results_topic=definition.results.topic or target.results_topic,
                executor_task_queue=target.executor_task_queue,
                search_attributes=target.search_attributes,
                runs_topic=target.runs_topic,
            ),
            id=schedule_id,
            task_queue=target.orchestrator_task_queue,
            memo={FINGERPRINT_MEMO: fingerprint(definition, target)},
        ),
        spec=ScheduleSpec(
            cron_expressions=list(spec.cron),
            intervals=[ScheduleIntervalSpec(every=spec.every)] if spec.every else [],
            time_zone_name=spec.timezone,
            jitter=spec.jitter or None,
            start_at=spec.start_at,
            end_at=spec.end_at,
        ),
        policy=SchedulePolicy(
            overlap=OVERLAP[spec.overlap],
            catchup_window=max(catchup, MIN_CATCHUP_WINDOW),
        ),
        state=ScheduleState(paused=_desired_paused(definition), note=MANAGED_NOTE),
    )


class ScheduleReconciler:
    """Plans and applies the changes that make Temporal's schedules match the definitions."""

    def __init__(self, client: Client, target: ScheduleTarget) -> None:
        self.client = client
        self.target = target

    async def owned(self) -> list[str]:
        """Ids of the schedules this reconciler owns (memo marker and id prefix), sorted.

        Schedule listing goes through visibility, so a schedule created a moment ago may be
        missing here for a short while; the next sync catches it.
        """
        found: list[str] = []
        async for entry in await self.client.list_schedules():
            if not entry.id.startswith(self.target.id_prefix):
                continue
            if await entry.memo_value(OWNER_MEMO, None) == self.target.owner:
                found.append(entry.id)
        return sorted(found)

    async def describe(self, schedule_id: str) -> ScheduleDescription | None:
        """The schedule's description, or ``None`` when there is none."""
        try:
            return await self.client.get_schedule_handle(schedule_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def is_owned(self, description: ScheduleDescription) -> bool:
        """Whether ``description`` is of a schedule this reconciler created."""
        return description.id.startswith(self.target.id_prefix) and (
            await description.memo_value(OWNER_MEMO, None) == self.target.owner
        )

    async def _fingerprint(self, description: ScheduleDescription) -> str | None:
        action = description.schedule.action
        if not isinstance(action, ScheduleActionStartWorkflow) or not action.memo:
            return None
        raw = action.memo.get(FINGERPRINT_MEMO)
        if raw is None:
            return None
        [value] = await self.client.data_converter.decode([raw])
        return str(value)

    async def plan(self, definitions: Iterable[ActivityDefinition]) -> list[Change]:
        """The changes a sync would make; applies nothing."""
        desired = {
            self.target.schedule_id(d.id): d for d in definitions if d.trigger.schedule is not None
        }
        changes: list[Change] = []
        for schedule_id, definition in sorted(desired.items()):
            description = await self.describe(schedule_id)
            if description is None:
                changes.append(Change("create", schedule_id, _summary(definition)))
                continue
            if not await self.is_owned(description):
                changes.append(Change("foreign", schedule_id, "exists and is not ours; untouched"))
                continue
            if await self._fingerprint(description) != fingerprint(definition, self.target):
                changes.append(Change("update", schedule_id, _summary(definition)))
                continue
            state = description.schedule.state
            want = _desired_paused(definition)
            if state.paused != want and not (state.note or "").startswith(OPERATOR_NOTE):
                changes.append(Change("pause" if want else "unpause", schedule_id))
            else:
                changes.append(Change("unchanged", schedule_id))
        for schedule_id in await self.owned():
            if schedule_id not in desired:
                changes.append(Change("delete", schedule_id, "its definition is gone"))
        return changes

    async def apply(
        self, changes: Sequence[Change], definitions: Iterable[ActivityDefinition]
    ) -> None:
        """Carry out ``changes`` (as planned for ``definitions``)."""
        by_id = {self.target.schedule_id(d.id): d for d in definitions}
        for change in changes:
            handle = self.client.get_schedule_handle(change.schedule_id)
            if change.kind == "create":
                try:
                    await self.client.create_schedule(
                        change.schedule_id,
                        build_schedule(by_id[change.schedule_id], self.target),
                        memo={OWNER_MEMO: self.target.owner},
                    )
                except ScheduleAlreadyRunningError:
                    log.warning("schedule appeared meanwhile", schedule_id=change.schedule_id)
                    continue
            elif change.kind == "update":
                new = build_schedule(by_id[change.schedule_id], self.target)

                def _replace(_: ScheduleUpdateInput, new: Schedule = new) -> ScheduleUpdate:
                    return ScheduleUpdate(schedule=new)

                await handle.update(_replace)
            elif change.kind == "pause":
                await handle.pause(note=f"{MANAGED_NOTE}: definition disabled or paused")
            elif change.kind == "unpause":
                await handle.unpause(note=MANAGED_NOTE)
            elif change.kind == "delete":
                await handle.delete()
            else:
                continue
            log.info("schedule reconciled", change=change.kind, schedule_id=change.schedule_id)

    async def sync(
        self, definitions: Sequence[ActivityDefinition], *, dry_run: bool = False
    ) -> list[Change]:
        """Plan, and unless ``dry_run`` apply; returns the plan."""
        changes = await self.plan(definitions)
        if not dry_run:
            await self.apply(changes, definitions)
        applied = [c for c in changes if c.kind not in ("unchanged", "foreign")]
        log.info(
            "schedules synced",
            dry_run=dry_run,
            changes=len(applied),
            schedules=len([c for c in changes if c.kind != "delete"]),
        )
        return changes


def _summary(definition: ActivityDefinition) -> str:
    spec = definition.trigger.schedule
    assert spec is not None
    when = ", ".join(spec.cron) if spec.cron else f"every {spec.every}"
    state = "paused" if _desired_paused(definition) else "active"
    return f"{when} {spec.timezone} misfire={spec.misfire} overlap={spec.overlap} {state}"


def target_from(settings: OrchestratorSettings) -> ScheduleTarget:
    """The reconciler's target as the orchestrator settings describe it."""
    return ScheduleTarget(
        orchestrator_task_queue=settings.temporal.orchestrator_task_queue,
        executor_task_queue=settings.temporal.executor_task_queue,
        results_topic=settings.topics.results,
        runs_topic=settings.topics.runs,
        id_prefix=settings.schedules.id_prefix,
        owner=settings.schedules.owner or settings.temporal.orchestrator_task_queue,
        search_attributes=settings.schedules.search_attributes,
    )
