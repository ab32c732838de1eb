"""``taskfactory schedules sync|list|describe|trigger|pause|unpause|backfill``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from taskfactory_contracts.errors import DefinitionError
from taskfactory_orchestrator.errors import NotOurs
from taskfactory_orchestrator.schedules.ops import ScheduleOps
from taskfactory_orchestrator.schedules.reconciler import ScheduleReconciler, target_from
from taskfactory_orchestrator.settings import OrchestratorSettings
from taskfactory_runtime.definitions import load_definitions

__all__ = ["schedules_app"]

schedules_app = typer.Typer(
    help="Temporal Schedules of the schedule-triggered definitions.", no_args_is_help=True
)
T = TypeVar("T")


def _run(action: Callable[[ScheduleOps, OrchestratorSettings], Awaitable[T]]) -> T:
    from taskfactory_runtime.temporal import connect_temporal

    async def go() -> T:
        settings = OrchestratorSettings()
        client = await connect_temporal(settings.temporal)
        ops = ScheduleOps(ScheduleReconciler(client, target_from(settings)))
        return await action(ops, settings)

    try:
        return asyncio.run(go())
    except NotOurs as exc:  # an id argument that names none of ours: a bad argument
        raise typer.BadParameter(str(exc), param_hint="SCHEDULE_ID") from None


def _echo(doc: Any) -> None:
    typer.echo(json.dumps(doc, indent=2, default=str))


def _when(value: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint=option) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@schedules_app.command("sync")
def sync(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the changes, make none.")
    ] = False,
    definitions: Annotated[
        Path | None, typer.Option(help="Definitions folder (default: TASKFACTORY_DEFINITIONS_DIR).")
    ] = None,
) -> None:
    """Create, update, pause, unpause and delete schedules so Temporal matches the files."""

    async def action(ops: ScheduleOps, settings: OrchestratorSettings) -> None:
        try:
            loaded = load_definitions(definitions or settings.definitions_dir)
        except DefinitionError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from exc
        changes = await ops.reconciler.sync(loaded, dry_run=dry_run)
        for change in changes:
            typer.echo(("would " if dry_run and change.kind != "unchanged" else "") + str(change))

    _run(action)


@schedules_app.command("list")
def list_() -> None:
    """The schedules taskfactory owns, with their next firings."""

    async def action(ops: ScheduleOps, _: OrchestratorSettings) -> None:
        for item in await ops.list_all():
            state = "paused " if item["paused"] else "active "
            upcoming = item["next_action_times"][0] if item["next_action_times"] else "-"
            typer.echo(f"{item['id']}  {state} next={upcoming}  actions={item['num_actions']}")

    _run(action)


@schedules_app.command("describe")
def describe(schedule_id: str) -> None:
    """State, next firing times (as Temporal computes them, DST included), recent firings."""

    async def action(ops: ScheduleOps, _: OrchestratorSettings) -> None:
        _echo(await ops.describe(schedule_id))

    _run(action)


def _plain(name: str, done: str, doc: str) -> None:
    """Register ``name ID``: call the operation of that name, then say ``done ID``."""

    def command(schedule_id: str) -> None:
        async def action(ops: ScheduleOps, _: OrchestratorSettings) -> None:
            await getattr(ops, name)(schedule_id)
            typer.echo(f"{done} {schedule_id}")

        _run(action)

    command.__doc__ = doc
    schedules_app.command(name)(command)


_plain("trigger", "triggered", "Fire now (the run's scheduled_for is now).")
_plain("unpause", "unpaused", "Resume a paused schedule.")


@schedules_app.command("pause")
def pause(
    schedule_id: str, reason: Annotated[str, typer.Option(help="Why (kept in the note).")] = ""
) -> None:
    """Pause a schedule until ``unpause`` (a sync keeps an operator's pause)."""

    async def action(ops: ScheduleOps, _: OrchestratorSettings) -> None:
        await ops.pause(schedule_id, reason)
        typer.echo(f"paused {schedule_id}")

    _run(action)


@schedules_app.command("backfill")
def backfill(
    schedule_id: str,
    from_: Annotated[str, typer.Option("--from", help="Window start, ISO 8601.")],
    to: Annotated[str, typer.Option("--to", help="Window end, ISO 8601.")],
    overlap: Annotated[
        str | None, typer.Option(help="Overlap policy of the replayed firings (default allow_all).")
    ] = None,
) -> None:
    """Replay the firings of a window under the definition's misfire policy."""

    start, end = _when(from_, "--from"), _when(to, "--to")  # bad arguments fail before any I/O

    async def action(ops: ScheduleOps, _: OrchestratorSettings) -> None:
        _echo(await ops.backfill(schedule_id, start, end, overlap))

    _run(action)
