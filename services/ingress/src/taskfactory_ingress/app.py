"""Wiring: settings → clients, health server → the ingress pipeline."""

from __future__ import annotations

import asyncio

from taskfactory_contracts import ActivityDefinition
from taskfactory_ingress import metrics
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
    """Run the ingress until ``stop`` is set."""
    watcher = DefinitionsWatcher(
        settings.definitions_dir,
        lambda d: _use(handler, d),
        interval=settings.ingress.reload_seconds,
        max_bytes=settings.definitions_max_bytes,
    )
    definitions = watcher.current
    metrics.DEFINITIONS.set(len(definitions))
    health = HealthServer(settings.http)
    await health.start()
    topics = settings.topics
    section = settings.ingress
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
    consumer = make_consumer(
        settings.kafka,
        group_id=section.group_id,
        name="ingress",
        max_poll_records=section.max_batch,
    )
    # Any record the ingress accepts fits one request to the dead-letter topic, headers too.
    producer = renewing_producer(
        settings.kafka, name="ingress-dlq", max_request_size=producer_request_bytes(settings)
    )
    await producer.start()
    # A topic outside this principal's ACLs stops the start with one clear line (the events
    # topic's and the group's at the consumer's start).
    await check_topics(settings.kafka, [topics.dead_letter])
    registry = RegistryLookup.from_settings(settings.kafka)
    handler = RecordHandler(settings, producer, client, definitions, registry=registry)
    ingress = IngressConsumer(settings, consumer, handler, stop)
    if section.topic_pattern:
        consumer.subscribe(pattern=section.topic_pattern, listener=ingress)
    else:
        consumer.subscribe([topics.events], listener=ingress)
    await consumer.start()
    health.add_check("kafka", lambda: None if consumer.assignment() else "no partition assigned")
    health.add_check(
        "temporal",
        lambda: "temporal or the schema registry unavailable" if handler.outage else None,
    )
    health.add_check(
        "dead-letter",
        lambda: "dead-letter topic unavailable" if handler.dead_letters.unavailable else None,
    )
    health.add_check("partitions", ingress.stuck)
    log.info(
        "ingress started",
        topic=section.topic_pattern or topics.events,
        group=section.group_id,
        definitions=[d.id for d in definitions],
        http_port=health.port,
    )
    reloader = asyncio.create_task(watcher.run(stop), name="definitions-reload")
    try:
        await ingress.run()
    finally:
        reloader.cancel()
        await consumer.stop()
        await producer.stop()
        if registry is not None:
            await registry.aclose()
        await health.stop()
        log.info("ingress stopped")


def _use(handler: RecordHandler, definitions: list[ActivityDefinition]) -> None:
    # Routing reads ``handler.definitions`` per record: the next record sees the new set.
    # Runs already started keep the snapshot they were started with.
    handler.definitions = definitions
    metrics.DEFINITIONS.set(len(definitions))
    metrics.RELOADS.inc()
