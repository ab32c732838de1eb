"""Wiring: settings → clients, health server → the ingress pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack
from functools import partial

from taskfactory_contracts import ActivityDefinition
from taskfactory_ingress import metrics
from taskfactory_ingress.availability import DEPENDENCIES, Availability
from taskfactory_ingress.consumer import IngressConsumer
from taskfactory_ingress.dead_letter import producer_request_bytes
from taskfactory_ingress.handler import RecordHandler
from taskfactory_ingress.settings import IngressSettings
from taskfactory_runtime.definitions import DefinitionsWatcher
from taskfactory_runtime.health import HealthServer
from taskfactory_runtime.kafka import check_topics, ensure_topics, make_consumer
from taskfactory_runtime.logging import get_logger
from taskfactory_runtime.producer import renewing_producer
from taskfactory_runtime.schema_registry import RegistryLookup
from taskfactory_runtime.sdk_metrics import SdkMetrics
from taskfactory_runtime.temporal import connect_temporal

__all__ = ["run"]

log = get_logger(__name__)


async def run(settings: IngressSettings, stop: asyncio.Event) -> None:
    """Run the ingress until ``stop`` is set; whatever started is stopped however it ends."""
    topics = settings.topics
    section = settings.ingress
    async with AsyncExitStack() as stack:
        stack.callback(log.info, "ingress stopped")  # last, however the run ends
        health = await stack.enter_async_context(HealthServer(settings.http))
        if section.create_topics:
            await ensure_topics(
                settings.kafka,
                [topics.events, topics.dead_letter],
                partitions=topics.partitions,
                replication_factor=topics.replication_factor,
            )
        sdk_metrics = SdkMetrics()
        health.extra_metrics.append(sdk_metrics.text)
        client = await connect_temporal(settings.temporal, runtime=sdk_metrics.runtime)
        # Any record the ingress accepts fits one request to the dead-letter topic, headers too.
        producer = await stack.enter_async_context(
            renewing_producer(
                settings.kafka,
                name="ingress-dlq",
                max_request_size=producer_request_bytes(settings),
            )
        )
        # A topic outside this principal's ACLs stops the start with one clear line (the events
        # topic's and the group's at the consumer's start).
        await check_topics(settings.kafka, [topics.dead_letter])
        registry = RegistryLookup.from_settings(settings.kafka)
        if registry is not None:
            stack.push_async_callback(registry.aclose)
        # The handler reports Temporal's and the registry's outages here; the consumer pauses
        # on them and /readyz names each one.
        availability = Availability()
        handler = RecordHandler(
            settings, producer, client, [], registry=registry, availability=availability
        )
        watcher = DefinitionsWatcher(
            settings.definitions_dir,
            _reloaded(handler),
            interval=settings.ingress.reload_seconds,
            max_bytes=settings.definitions_max_bytes,
        )
        handler.use_definitions(watcher.current)
        consumer = make_consumer(
            settings.kafka,
            group_id=section.group_id,
            name="ingress",
            max_poll_records=section.max_batch,
        )
        ingress = IngressConsumer(settings, consumer, handler, stop, availability)
        if section.topic_pattern:
            consumer.subscribe(pattern=section.topic_pattern, listener=ingress)
        else:
            consumer.subscribe([topics.events], listener=ingress)
        await stack.enter_async_context(consumer)
        health.add_check(
            "kafka", lambda: None if consumer.assignment() else "no partition assigned"
        )
        for dependency in DEPENDENCIES:
            health.add_check(dependency, partial(availability.reason, dependency))
        health.add_check(
            "dead-letter",
            lambda: "dead-letter topic unavailable" if handler.dead_letters.unavailable else None,
        )
        health.add_check("partitions", ingress.stuck)
        log.info(
            "ingress started",
            topic=section.topic_pattern or topics.events,
            group=section.group_id,
            definitions=[d.id for d in watcher.current],
            http_port=health.port,
        )
        reloader = asyncio.create_task(watcher.run(stop), name="definitions-reload")
        stack.callback(reloader.cancel)
        await ingress.run()


def _reloaded(handler: RecordHandler) -> Callable[[list[ActivityDefinition]], None]:
    def use(definitions: list[ActivityDefinition]) -> None:
        handler.use_definitions(definitions)
        metrics.RELOADS.inc()

    return use
