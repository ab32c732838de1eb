"""The executor's Temporal worker: hosts the task and publish activities."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import AsyncExitStack
from datetime import timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import Client
from temporalio.worker import Worker

from taskfactory_executor.activities import ExecutorActivities
from taskfactory_executor.registry import TaskRegistry
from taskfactory_executor.sending import SendOnce, result_publisher
from taskfactory_executor.settings import ExecutorSettings
from taskfactory_executor.tasks import builtin_tasks
from taskfactory_runtime.egress import Egress
from taskfactory_runtime.formats import RecordFormat
from taskfactory_runtime.health import HealthServer
from taskfactory_runtime.kafka import check_topics, ensure_topics
from taskfactory_runtime.logging import get_logger
from taskfactory_runtime.probes import connect_worker, run_worker
from taskfactory_runtime.producer import renewing_producer
from taskfactory_runtime.schema_registry import RegistryLookup

__all__ = ["build_worker", "run"]

log = get_logger(__name__)


def build_worker(
    client: Client,
    settings: ExecutorSettings,
    activities: ExecutorActivities,
    *,
    on_fatal_error: Callable[[BaseException], Awaitable[None]] | None = None,
) -> Worker:
    """A worker on the executor task queue hosting every executor activity.

    On shutdown, running tasks get ``drain_seconds`` to finish; then they are cancelled and
    Temporal hands them to another replica (heartbeating ones resume from their checkpoint).
    """
    return Worker(
        client,
        task_queue=settings.temporal.executor_task_queue,
        activities=[activities.run_task, activities.publish_result, activities.publish_run_event],
        max_concurrent_activities=settings.executor.max_concurrent_activities,
        graceful_shutdown_timeout=timedelta(seconds=settings.drain_seconds),
        on_fatal_error=on_fatal_error,
    )


async def run(settings: ExecutorSettings, stop: asyncio.Event) -> None:
    """Run the worker until ``stop`` is set; whatever started is stopped however it ends."""
    section = settings.executor
    async with AsyncExitStack() as stack:
        stack.callback(log.info, "executor stopped")
        health = await stack.enter_async_context(HealthServer(settings.http))
        health.add_check("temporal", lambda: "not connected yet")  # the probe takes over below
        if section.create_topics:
            await ensure_topics(
                settings.kafka,
                [settings.topics.results, settings.topics.runs],
                partitions=settings.topics.partitions,
                replication_factor=settings.topics.replication_factor,
            )
        threads = ThreadPoolExecutor(section.thread_pool_size, thread_name_prefix="task")
        stack.callback(threads.shutdown, wait=False, cancel_futures=True)
        # spawn, not fork: the Temporal runtime's threads must not be forked.
        spawn = multiprocessing.get_context("spawn")
        processes = (
            ProcessPoolExecutor(section.process_pool_size, mp_context=spawn)
            if section.process_pool_size
            else None
        )
        if processes is not None:
            stack.callback(processes.shutdown, wait=False, cancel_futures=True)
        registry = TaskRegistry.discover(builtin_tasks(), threads=threads, processes=processes)
        # A send is written or failed within two request timeouts: the publish lease.
        producer = renewing_producer(
            settings.kafka,
            name="executor",
            request_timeout_ms=int(section.publish_lease_seconds * 500),
        )
        publisher = result_publisher(
            producer,
            settings.kafka,
            lease_seconds=section.publish_lease_seconds,
            clock_skew_seconds=section.clock_skew_seconds,
        )
        await stack.enter_async_context(producer)
        # A topic outside this principal's ACLs stops the start with one clear line.
        await check_topics(settings.kafka, [settings.topics.results, settings.topics.runs])
        stack.push_async_callback(publisher.reader.stop)
        http = Egress(settings.egress, max_connections=section.http_max_connections)
        stack.push_async_callback(http.aclose)
        client, probe = await connect_worker(
            settings.temporal,
            health,
            task_queue=settings.temporal.executor_task_queue,
            queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
        schema_registry = RegistryLookup.from_settings(settings.kafka)
        if schema_registry is not None:
            stack.push_async_callback(schema_registry.aclose)
        activities = ExecutorActivities(
            registry=registry,
            publisher=publisher,
            format=RecordFormat(settings.results, schema_registry),
            max_output_bytes=section.max_output_bytes,
            resources={
                "http": http,
                "kafka": SendOnce(producer, section.publish_timeout_seconds),
            },
        )
        worker = build_worker(client, settings, activities, on_fatal_error=probe.died)
        log.info(
            "executor started",
            task_queue=settings.temporal.executor_task_queue,
            task_types=sorted(registry.types),
            plugins={n: t.origin for n, t in registry.types.items() if t.origin != "builtin"},
            http_port=health.port,
        )
        await run_worker(worker, probe, stop, drain_seconds=settings.drain_seconds)
