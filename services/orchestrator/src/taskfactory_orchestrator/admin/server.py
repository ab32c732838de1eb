"""Serve the admin API inside the orchestrator process (the runtime's one HTTP server)."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from taskfactory_orchestrator.admin.app import AdminBackend, create_app, with_limits
from taskfactory_orchestrator.schedules.ops import ScheduleOps
from taskfactory_orchestrator.schedules.reconciler import ScheduleReconciler, target_from
from taskfactory_orchestrator.settings import OrchestratorSettings
from taskfactory_runtime.http_server import HttpServer
from taskfactory_runtime.logging import get_logger

__all__ = ["serve_admin"]

log = get_logger(__name__)


async def serve_admin(client: Client, settings: OrchestratorSettings, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set (returns at once when the admin API is disabled)."""
    if not settings.admin.enabled:
        return
    backend = AdminBackend(
        client,
        ScheduleOps(ScheduleReconciler(client, target_from(settings))),
        settings.definitions_dir,
        task_queue=settings.temporal.orchestrator_task_queue,
    )
    app = with_limits(create_app(backend, settings.admin), settings.admin)
    admin = settings.admin
    async with HttpServer(app, host=admin.host, port=admin.port, name="admin") as server:
        log.info("admin API serving", host=admin.host, port=server.port)
        await stop.wait()
