"""Schedules reconciler, commands and misfire policies on the real Temporal dev server.

Every test owns schedules under its own id prefix and owner marker (``uid``) and deletes them
at the end; no test waits for a real cron firing: firings come from trigger and backfill.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from temporalio import activity
from temporalio.client import Client, Schedule, ScheduleActionStartWorkflow, ScheduleSpec
from temporalio.service import RPCError
from temporalio.worker import Worker
from typer.testing import CliRunner

from taskfactory_contracts import (
    ActivityDefinition,
    PublishResultInput,
    TaskInput,
    TaskOutput,
    names,
)
from taskfactory_orchestrator.models import PublishRecordInput
from taskfactory_orchestrator.schedules.cli import schedules_app
from taskfactory_orchestrator.schedules.ops import ScheduleOps
from taskfactory_orchestrator.schedules.reconciler import ScheduleReconciler, ScheduleTarget
from taskfactory_orchestrator.worker import SANDBOX, WORKFLOWS
from taskfactory_orchestrator.workflows.scheduled_firing import (
    FiringActivities,
    FiringOutcome,
    format_scheduled_for,
    run_workflow_id,
)
from taskfactory_runtime.definitions import load_definitions
from taskfactory_stack.waiting import wait_for

pytestmark = pytest.mark.integration


@dataclass
class Executor:
    """The executor's activities, mocked by name: records the run of every task."""

    calls: list[TaskInput] = field(default_factory=list)

    @activity.defn(name=names.ACTIVITY_RUN_TASK)
    async def run_task(self, task: TaskInput) -> TaskOutput:
        self.calls.append(task)
        return TaskOutput(output=task.params)

    @activity.defn(name=names.ACTIVITY_PUBLISH_RESULT)
    async def publish_result(self, arg: PublishResultInput) -> None:
        return None

    @activity.defn(name=names.ACTIVITY_PUBLISH_LOCAL)
    async def publish_local(self, arg: PublishRecordInput) -> None:
        return None

    def runs(self) -> list[str]:
        return sorted(c.run_id for c in self.calls)


@dataclass
class Env:
    client: Client
    target: ScheduleTarget
    reconciler: ScheduleReconciler
    ops: ScheduleOps
    executor: Executor
    uid: str

    def definition(self, name: str, **schedule: Any) -> ActivityDefinition:
        return ActivityDefinition.model_validate(_definition_doc(f"{self.uid}-{name}", **schedule))

    async def every_ten_minutes(
        self, name: str, misfire: str, **schedule: Any
    ) -> tuple[ActivityDefinition, str]:
        """A synced, paused schedule firing every 10 minutes, and its id."""
        d = self.definition(name, cron=["*/10 * * * *"], misfire=misfire, paused=True, **schedule)
        await self.reconciler.sync([d])
        return d, self.target.schedule_id(d.id)

    async def outcome(self, schedule_id: str, at: datetime, *, not_run: str | None = None) -> Any:
        """The outcome of the firing of ``schedule_id`` at ``at`` (a newer run than ``not_run``)."""
        handle = self.client.get_workflow_handle(
            f"{schedule_id}-{format_scheduled_for(at)}", result_type=FiringOutcome
        )

        async def newer() -> bool:
            try:
                return (await handle.describe()).run_id != not_run
            except RPCError:
                return False

        await wait_for(newer, timeout=30, what=f"firing of {schedule_id} at {at}")
        return await handle.result()


def _definition_doc(def_id: str, **schedule: Any) -> dict[str, Any]:
    return {
        "id": def_id,
        "version": 1,
        "trigger": {"schedule": {"cron": ["0 2 * * *"], "timezone": "UTC", **schedule}},
        "correlation": {"workflow_id": "monitor/{definition}/{scheduled_for}"},
        "tasks": [{"id": "check", "type": "echo", "params": {"covers": "{{ event.data.covers }}"}}],
    }


@pytest.fixture
async def env(temporal_client: Client, uid: str) -> AsyncIterator[Env]:
    executor = Executor()
    target = ScheduleTarget(
        orchestrator_task_queue=f"{uid}-orchestrator",
        executor_task_queue=f"{uid}-orchestrator",
        results_topic=f"{uid}.results",
        id_prefix=f"{uid}-",
        owner=uid,
        search_attributes=True,
    )
    reconciler = ScheduleReconciler(temporal_client, target)
    worker = Worker(
        temporal_client,
        task_queue=target.orchestrator_task_queue,
        workflows=WORKFLOWS,
        activities=[
            executor.run_task,
            executor.publish_result,
            executor.publish_local,
            FiringActivities(temporal_client).uncovered_firings,
        ],
        workflow_runner=SANDBOX,
    )
    async with worker:
        try:
            yield Env(temporal_client, target, reconciler, ScheduleOps(reconciler), executor, uid)
        finally:
            async for entry in await temporal_client.list_schedules():
                if entry.id.startswith(uid):
                    await temporal_client.get_schedule_handle(entry.id).delete()


def _says(output: str, *words: str) -> bool:
    return any(line.split()[: len(words)] == list(words) for line in output.splitlines())


def _write(folder: Path, doc: dict[str, Any]) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{doc['id']}.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


async def _visible(env: Env, ids: set[str]) -> None:
    async def listed() -> bool:
        return set(await env.reconciler.owned()) == ids

    await wait_for(listed, timeout=30, what=f"schedules {sorted(ids)} listed")


def _kinds(changes: Any) -> dict[str, str]:
    return {c.schedule_id: c.kind for c in changes}


async def test_sync_creates_updates_pauses_and_deletes_only_its_own(
    env: Env, tmp_path: Path
) -> None:
    folder = tmp_path / "definitions"
    a = _definition_doc(f"{env.uid}-a", cron=["0 2 * * *"], timezone="Europe/Berlin")
    b = _definition_doc(f"{env.uid}-b", every="PT1H")
    _write(folder, a)
    path_b = _write(folder, b)
    sid_a, sid_b = env.target.schedule_id(a["id"]), env.target.schedule_id(b["id"])
    # Someone else's schedule under our prefix, without our marker: it must survive.
    foreign = f"{env.uid}-foreign"
    await env.client.create_schedule(
        foreign,
        Schedule(
            action=ScheduleActionStartWorkflow("Other", id="other", task_queue="elsewhere"),
            spec=ScheduleSpec(cron_expressions=["0 3 * * *"]),
        ),
    )

    dry = await env.reconciler.sync(load_definitions(folder), dry_run=True)
    assert _kinds(dry) == {sid_a: "create", sid_b: "create"}
    assert await env.reconciler.describe(sid_a) is None, "--dry-run created a schedule"

    first = await env.reconciler.sync(load_definitions(folder))
    assert _kinds(first) == {sid_a: "create", sid_b: "create"}
    described = await env.client.get_schedule_handle(sid_a).describe()
    assert described.schedule.spec.time_zone_name == "Europe/Berlin"
    assert not described.schedule.state.paused
    await _visible(env, {sid_a, sid_b})
    again = await env.reconciler.sync(load_definitions(folder))
    assert _kinds(again) == {sid_a: "unchanged", sid_b: "unchanged"}

    # Edit cron and time zone of a, disable b.
    a["trigger"]["schedule"].update(cron=["15 6 * * *"], timezone="America/New_York")
    b["enabled"] = False
    _write(folder, a)
    _write(folder, b)
    edited = await env.reconciler.sync(load_definitions(folder))
    assert _kinds(edited) == {sid_a: "update", sid_b: "update"}
    da = await env.client.get_schedule_handle(sid_a).describe()
    assert da.schedule.spec.time_zone_name == "America/New_York"
    next_a = da.info.next_action_times[0].astimezone(ZoneInfo("America/New_York"))
    assert (next_a.hour, next_a.minute) == (6, 15)
    assert (await env.client.get_schedule_handle(sid_b).describe()).schedule.state.paused

    # Re-enable b: only its paused state changes.
    b["enabled"] = True
    _write(folder, b)
    assert _kinds(await env.reconciler.sync(load_definitions(folder)))[sid_b] == "update"
    assert not (await env.client.get_schedule_handle(sid_b).describe()).schedule.state.paused

    # Delete b's file: only b's schedule goes; the foreign one stays.
    path_b.unlink()
    dry_delete = await env.reconciler.sync(load_definitions(folder), dry_run=True)
    assert _kinds(dry_delete) == {sid_a: "unchanged", sid_b: "delete"}
    assert await env.reconciler.describe(sid_b) is not None, "--dry-run deleted a schedule"
    await env.reconciler.sync(load_definitions(folder))
    assert await env.reconciler.describe(sid_b) is None
    assert await env.reconciler.describe(sid_a) is not None
    assert await env.reconciler.describe(foreign) is not None


async def test_operator_pause_survives_sync_and_cli(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stack: Any
) -> None:
    folder = tmp_path / "definitions"
    doc = _definition_doc(f"{env.uid}-c", paused=True)
    _write(folder, doc)
    monkeypatch.setenv("TASKFACTORY_SCHEDULES__ID_PREFIX", env.target.id_prefix)
    monkeypatch.setenv("TASKFACTORY_SCHEDULES__OWNER", env.target.owner)
    monkeypatch.setenv(
        "TASKFACTORY_TEMPORAL__ORCHESTRATOR_TASK_QUEUE", env.target.orchestrator_task_queue
    )
    monkeypatch.setenv("TASKFACTORY_DEFINITIONS_DIR", str(folder))
    monkeypatch.setenv("TASKFACTORY_TEMPORAL__ADDRESS", stack.temporal_address)
    cli = CliRunner()

    async def invoke(args: list[str]) -> Any:
        # The commands run their own event loop: call them off this one.
        return await asyncio.to_thread(cli.invoke, schedules_app, args)

    sid = env.target.schedule_id(doc["id"])

    dry = await invoke(["sync", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert _says(dry.output, "would", "create", sid)
    assert await env.reconciler.describe(sid) is None

    made = await invoke(["sync"])
    assert made.exit_code == 0, made.output
    assert (await env.client.get_schedule_handle(sid).describe()).schedule.state.paused

    assert (await invoke(["unpause", sid])).exit_code == 0
    described = await invoke(["describe", sid])
    assert json.loads(described.output)["paused"] is False
    # The file says paused; a sync brings it back (the operator's unpause is not a pause).
    await invoke(["sync"])
    assert (await env.client.get_schedule_handle(sid).describe()).schedule.state.paused

    doc["trigger"]["schedule"]["paused"] = False
    _write(folder, doc)
    await invoke(["sync"])
    paused = await invoke(["pause", sid, "--reason", "maintenance"])
    assert paused.exit_code == 0, paused.output
    resync = await invoke(["sync"])
    assert _says(resync.output, "unchanged", sid), resync.output
    state = (await env.client.get_schedule_handle(sid).describe()).schedule.state
    assert state.paused
    assert state.note == "operator: maintenance"

    other = await invoke(["pause", f"{env.uid}-nobody"])
    assert other.exit_code == 2
    assert "no taskfactory schedule" in other.output


async def test_dst_next_action_times_in_berlin(env: Env) -> None:
    spring = env.definition(
        "spring", cron=["30 2 * * *"], timezone="Europe/Berlin", start_at="2027-03-26T00:00:00Z"
    )
    autumn = env.definition(
        "autumn", cron=["30 2 * * *"], timezone="Europe/Berlin", start_at="2027-10-29T00:00:00Z"
    )
    await env.reconciler.sync([spring, autumn])

    async def next_times(d: ActivityDefinition) -> list[str]:
        summary = await env.ops.describe(env.target.schedule_id(d.id))
        times: list[str] = summary["next_action_times"][:4]
        return times

    # 02:30 does not exist on 28 March 2027 (clocks jump from 02:00 to 03:00): Temporal does
    # not fire that day at all. On 31 October 02:30 happens twice and it fires once.
    assert [_utc(t) for t in await next_times(spring)] == [
        "2027-03-26T01:30:00Z",  # 02:30 CET
        "2027-03-27T01:30:00Z",  # 02:30 CET
        "2027-03-29T00:30:00Z",  # 02:30 CEST; no firing on the 28th
        "2027-03-30T00:30:00Z",  # 02:30 CEST
    ]
    assert [_utc(t) for t in await next_times(autumn)] == [
        "2027-10-29T00:30:00Z",  # 02:30 CEST
        "2027-10-30T00:30:00Z",  # 02:30 CEST
        "2027-10-31T01:30:00Z",  # 02:30 happens twice; Temporal fires once, at the second (CET)
        "2027-11-01T01:30:00Z",  # 02:30 CET
    ]


def _utc(iso: str) -> str:
    return format_scheduled_for(datetime.fromisoformat(iso))


def _window(minutes_ago: int) -> tuple[datetime, datetime, list[datetime]]:
    """A 50-minute window starting on a 10-minute boundary ``minutes_ago`` back; its 6 firings."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    base = now.replace(minute=now.minute - now.minute % 10) - timedelta(minutes=minutes_ago)
    firings = [base + timedelta(minutes=10 * i) for i in range(6)]
    return base, firings[-1], firings


async def test_backfill_runs_each_firing_once_with_deterministic_ids(env: Env) -> None:
    d, sid = await env.every_ten_minutes("catchup", "catchup")
    start, end, firings = _window(120)

    report = await env.ops.backfill(sid, start, end)
    assert report["firings"] == 6
    first = [await env.outcome(sid, t) for t in firings]
    assert [o.status for o in first] == ["started"] * 6
    expected = sorted(
        f"monitor/{d.id}/{format_scheduled_for(t).replace(':', '%3A')}" for t in firings
    )
    assert sorted(o.run_id for o in first) == expected
    assert env.executor.runs() == expected

    old_runs = {
        t: (
            await env.client.get_workflow_handle(f"{sid}-{format_scheduled_for(t)}").describe()
        ).run_id
        for t in firings
    }
    await env.ops.backfill(sid, start, end)
    second = [await env.outcome(sid, t, not_run=old_runs[t]) for t in firings]
    assert [o.status for o in second] == ["duplicate"] * 6
    assert env.executor.runs() == expected, "a repeated backfill ran a firing twice"


async def test_misfire_skip_drops_late_firings_and_runs_on_time_ones(env: Env) -> None:
    d, sid = await env.every_ten_minutes("skip", "skip")
    start, end, firings = _window(120)

    await env.ops.backfill(sid, start, end)
    outcomes = [await env.outcome(sid, t) for t in firings]
    assert [o.status for o in outcomes] == ["skipped"] * 6
    assert "misfire policy skip" in outcomes[0].reason
    assert env.executor.runs() == []

    await env.ops.trigger(sid)

    async def ran() -> bool:
        return len(env.executor.runs()) == 1

    await wait_for(ran, timeout=30, what="the triggered firing to run")
    assert env.executor.runs()[0].startswith(f"monitor/{d.id}/")


async def test_misfire_compress_one_run_covers_every_missed_firing(env: Env) -> None:
    d, sid = await env.every_ten_minutes("compress", "compress")
    start, end, firings = _window(120)

    report = await env.ops.backfill(sid, start, end)
    assert report == {
        "policy": "compress",
        "firings": 6,
        "started": [f"{sid}-{format_scheduled_for(end)}"],
    }
    outcome = await env.outcome(sid, end)
    assert outcome.status == "started"
    assert list(outcome.covers) == firings
    [call] = env.executor.calls
    assert call.run_id == run_workflow_id(d, end)
    assert call.params["covers"] == [format_scheduled_for(t) for t in firings]


async def test_misfire_compress_live_firing_covers_the_gap_back_to_the_last_run(env: Env) -> None:
    d, sid = await env.every_ten_minutes("gap", "compress", catchup_window="PT1H")
    # One firing 40 minutes back ran; everything after it was missed.
    _, _, firings = _window(40)
    ran_at = firings[0]
    await env.ops.backfill(sid, ran_at, ran_at)
    await wait_for(lambda: _ran(env, 1), timeout=30, what="the firing that ran")

    await env.ops.trigger(sid)
    await wait_for(lambda: _ran(env, 2), timeout=30, what="the covering run")
    covering = next(c for c in env.executor.calls if c.run_id != run_workflow_id(d, ran_at))
    covers = [datetime.fromisoformat(c.replace("Z", "+00:00")) for c in covering.params["covers"]]
    missed = [t for t in firings[1:] if t <= covers[-1]]
    assert covers[:-1] == missed
    assert ran_at not in covers
    assert covers[-1] > firings[-1] - timedelta(minutes=10)


async def _ran(env: Env, n: int) -> bool:
    return len(env.executor.calls) == n


async def test_missed_run_metrics(env: Env) -> None:
    d = env.definition("metrics", every="PT5M")
    await env.reconciler.sync([d])
    sid = env.target.schedule_id(d.id)
    await _visible(env, {sid})
    [summary] = await env.ops.observe()
    assert summary["expected_interval_seconds"] == 300
    from prometheus_client import REGISTRY

    age = REGISTRY.get_sample_value(
        "taskfactory_schedule_last_action_age_seconds", {"schedule": sid}
    )
    interval = REGISTRY.get_sample_value(
        "taskfactory_schedule_expected_interval_seconds", {"schedule": sid}
    )
    assert interval == 300
    assert age is not None
    assert 0 <= age < 60
