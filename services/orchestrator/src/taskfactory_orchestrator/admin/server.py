"""Serve the admin API with uvicorn inside the orchestrator process."""

from __future__ import annotations

import asyncio

import uvicorn
from temporalio.client import Client

from taskfactory_orchestrator.admin.app import AdminBackend, create_app, with_limits
from taskfactory_orchestrator.schedules.ops import ScheduleOps
from taskfactory_orchestrator.schedules.reconciler import ScheduleReconciler, target_from
from taskfactory_orchestrator.settings import OrchestratorSettings
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
    config = uvicorn.Config(
        app, host=settings.admin.host, port=settings.admin.port, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    log.info("admin API serving", host=settings.admin.host, port=settings.admin.port)
    await stop.wait()
    server.should_exit = True
    await serving
