"""The executor's Temporal worker: hosts the task and publish activities."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from taskfactory_executor.activities import ExecutorActivities
from taskfactory_executor.settings import ExecutorSettings
from taskfactory_executor.tasks import BUILTIN_TASKS
from taskfactory_runtime.http import HealthServer
from taskfactory_runtime.kafka import ensure_topics, make_producer
from taskfactory_runtime.logging import get_logger
from taskfactory_runtime.temporal import connect_temporal

__all__ = ["build_worker", "run"]

log = get_logger(__name__)


def build_worker(
    client: Client, settings: ExecutorSettings, activities: ExecutorActivities
) -> Worker:
    """A worker on the executor task queue hosting every executor activity."""
    return Worker(
        client,
        task_queue=settings.temporal.executor_task_queue,
        activities=[activities.run_task, activities.publish_result],
        max_concurrent_activities=settings.executor.max_concurrent_activities,
        graceful_shutdown_timeout=timedelta(seconds=settings.drain_seconds),
    )


async def run(settings: ExecutorSettings, stop: asyncio.Event) -> None:
    """Run the worker until ``stop`` is set."""
    health = HealthServer(settings.http)
    await health.start()
    if settings.executor.create_topics:
        await ensure_topics(
            settings.kafka,
            [settings.topics.results, settings.topics.runs],
            partitions=settings.topics.partitions,
            replication_factor=settings.topics.replication_factor,
        )
    producer = make_producer(settings.kafka, name="executor")
    await producer.start()
    client: Client = await connect_temporal(settings.temporal)
    activities = ExecutorActivities(producer=producer, tasks=BUILTIN_TASKS)
    worker = build_worker(client, settings, activities)
    log.info(
        "executor started",
        task_queue=settings.temporal.executor_task_queue,
        task_types=sorted(BUILTIN_TASKS),
        http_port=health.port,
    )
    try:
        async with worker:
            await stop.wait()
    finally:
        await producer.stop()
        await health.stop()
        log.info("executor stopped")
