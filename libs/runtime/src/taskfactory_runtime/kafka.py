"""One factory for every Kafka client, so security settings apply everywhere alike."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, TopicAlreadyExistsError

from taskfactory_runtime.errors import (
    KafkaAuthenticationError,
    KafkaAuthorizationError,
    KafkaTlsError,
)
from taskfactory_runtime.kafka_connection import client_kwargs
from taskfactory_runtime.kafka_errors import AUTHORIZATION_ERRORS, denied, explain
from taskfactory_runtime.settings import KafkaSettings

__all__ = [
    "KafkaAuthenticationError",
    "KafkaAuthorizationError",
    "KafkaTlsError",
    "check_topics",
    "client_kwargs",
    "committed_offsets_total",
    "delete_topics",
    "ensure_topics",
    "make_admin",
    "make_consumer",
    "make_producer",
    "topic_partitions",
]

#: How long the start-time topic check waits for a topic's metadata.
CHECK_SECONDS = 5.0


class _ExplainedStart:
    """Turns a failed start into its reason: authentication, TLS, an ACL refusal."""

    _tf_settings: KafkaSettings

    async def start(self) -> None:
        try:
            await super().start()  # type: ignore[misc]
        except KafkaConnectionError as exc:
            with contextlib.suppress(Exception):
                await self.close_quietly()
            raise await explain(self._tf_settings, exc) from None
        except AUTHORIZATION_ERRORS as exc:
            with contextlib.suppress(Exception):
                await self.close_quietly()
            raise denied(self._tf_settings, exc) from None

    async def close_quietly(self) -> None:
        closer = getattr(self, "stop", None) or getattr(self, "close", None)
        if closer is not None:
            await closer()


class _Producer(_ExplainedStart, AIOKafkaProducer):  # type: ignore[misc]
    pass


class _Consumer(_ExplainedStart, AIOKafkaConsumer):  # type: ignore[misc]
    pass


class _Admin(_ExplainedStart, AIOKafkaAdminClient):  # type: ignore[misc]
    pass


def make_admin(settings: KafkaSettings, *, name: str = "admin") -> AIOKafkaAdminClient:
    """An admin client with the same security settings."""
    admin = _Admin(**client_kwargs(settings), client_id=f"{settings.client_id}-{name}")
    admin._tf_settings = settings
    return admin


def make_producer(settings: KafkaSettings, *, name: str, **overrides: Any) -> AIOKafkaProducer:
    """An idempotent producer (acks=all) unless ``overrides`` say otherwise."""
    kwargs = client_kwargs(settings)
    kwargs.pop("request_timeout_ms")
    kwargs.update(
        client_id=f"{settings.client_id}-{name}",
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
    )
    kwargs.update(overrides)
    producer = _Producer(**kwargs)
    producer._tf_settings = settings
    return producer


def make_consumer(
    settings: KafkaSettings, *topics: str, group_id: str | None, name: str, **overrides: Any
) -> AIOKafkaConsumer:
    """A consumer with manual commits only, reading from the earliest uncommitted offset.

    Without ``topics`` the caller subscribes (e.g. with a rebalance listener).
    """
    kwargs = client_kwargs(settings)
    kwargs.update(
        client_id=f"{settings.client_id}-{name}",
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    kwargs.update(overrides)
    consumer = _Consumer(*topics, **kwargs)
    consumer._tf_settings = settings
    return consumer


async def ensure_topics(
    settings: KafkaSettings,
    topics: list[str],
    *,
    partitions: int,
    replication_factor: int,
    configs: dict[str, str] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet (with ``configs``, e.g. ``cleanup.policy``);
    returns the ones it created."""
    admin = make_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if not missing:
            return []
        # Another replica may create one between list and create: that is fine.
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(
                [
                    NewTopic(t, partitions, replication_factor, topic_configs=configs)
                    for t in missing
                ]
            )
        return missing
    finally:
        await admin.close()


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic``, asking the cluster when the consumer has no metadata for it
    yet (``[]`` when the topic does not exist). The one place that reaches into aiokafka's
    client: its consumer has no public call that refreshes its own metadata."""
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(partitions)]


async def check_topics(settings: KafkaSettings, topics: list[str]) -> None:
    """Fail with one clear error when the broker's ACLs hide one of ``topics`` from us.

    Run at start, so a service whose principal lacks a topic stops at once, naming it, rather
    than retrying its first send for ever. (An ACL that grants Read or Write grants Describe.)
    """
    producer = _Producer(
        **client_kwargs(settings), client_id=f"{settings.client_id}-check", enable_idempotence=False
    )
    producer._tf_settings = settings
    await producer.start()
    try:
        for topic in dict.fromkeys(topics):
            try:
                await asyncio.wait_for(producer.partitions_for(topic), CHECK_SECONDS)
            except AUTHORIZATION_ERRORS as exc:
                raise denied(settings, exc) from None
            except (KafkaTimeoutError, TimeoutError):
                pass  # not there yet (no auto-creation): the first send waits for it
    finally:
        await producer.stop()


async def delete_topics(settings: KafkaSettings, topics: list[str]) -> None:
    """Delete the topics that exist (a broker holding thousands of dead partitions recovers
    slowly after a crash and needs heap for each)."""
    admin = make_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [t for t in dict.fromkeys(topics) if t in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


async def committed_offsets_total(settings: KafkaSettings, group: str, topic: str) -> int:
    """Sum of the offsets ``group`` committed on ``topic`` (its progress)."""
    admin = make_admin(settings)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(m.offset for tp, m in offsets.items() if tp.topic == topic and m.offset > 0)
