"""The orchestrator's schedules loop: sync at start, on a definitions change and periodically."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from temporalio.client import Client
from temporalio.service import RPCError

from taskfactory_contracts import ActivityDefinition
from taskfactory_contracts.errors import DefinitionError
from taskfactory_orchestrator.schedules.ops import ScheduleOps
from taskfactory_orchestrator.schedules.reconciler import ScheduleReconciler, target_from
from taskfactory_orchestrator.settings import OrchestratorSettings
from taskfactory_runtime.definitions import DefinitionsWatcher
from taskfactory_runtime.logging import get_logger

__all__ = ["AGE_REFRESH_SECONDS", "OBSERVE_SECONDS", "run_schedules", "watch_ages"]

log = get_logger(__name__)

#: How often the last-action ages move on by the clock, whatever Temporal does.
AGE_REFRESH_SECONDS = 15.0
#: How often the schedules are described again (new firings reset their age).
OBSERVE_SECONDS = 60.0


async def watch_ages(ops: ScheduleOps, stop: asyncio.Event) -> None:
    """Keep ``taskfactory_schedule_last_action_age_seconds`` current on a timer of its own.

    Before, the age was set only after a successful sync, so a sync failing for good froze
    it below the alert threshold: the missed-schedule alert stayed silent exactly when the
    schedules could not be repaired.
    """
    loop = asyncio.get_running_loop()
    observed = loop.time()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=AGE_REFRESH_SECONDS)
        if stop.is_set():
            return
        if loop.time() - observed >= OBSERVE_SECONDS:
            observed = loop.time()
            try:
                await ops.observe()
                continue
            except RPCError as exc:
                log.warning("schedules not described", error=str(exc), status=exc.status.name)
        ops.refresh_ages()


async def run_schedules(
    client: Client, settings: OrchestratorSettings, stop: asyncio.Event
) -> None:
    """Keep the schedules in sync with the definitions folder until ``stop`` is set."""
    ops = ScheduleOps(ScheduleReconciler(client, target_from(settings)))

    async def sync(definitions: Sequence[ActivityDefinition]) -> None:
        try:
            await ops.reconciler.sync(definitions)
            await ops.observe()
        except RPCError as exc:
            # Temporal unavailable or refusing: the next period repairs it.
            log.error("schedules sync failed", error=str(exc), status=exc.status.name)

    try:
        watcher = DefinitionsWatcher(
            settings.definitions_dir, sync, max_bytes=settings.definitions_max_bytes
        )
    except DefinitionError as exc:
        log.error("schedules not synced: definitions unusable", error=str(exc))
        await stop.wait()
        return
    await sync(watcher.current)
    period = settings.schedules.sync_interval_seconds
    watching = asyncio.create_task(watcher.run(stop))
    aging = asyncio.create_task(watch_ages(ops, stop))
    try:
        while period > 0 and not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=period)
            except TimeoutError:
                await sync(watcher.current)
        await stop.wait()
    finally:
        await watching
        await aging
