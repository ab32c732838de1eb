"""One factory for every Kafka client, so security settings apply everywhere alike."""

from __future__ import annotations

import contextlib
import ssl
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from taskfactory_runtime.settings import KafkaSettings

__all__ = [
    "client_kwargs",
    "committed_offsets_total",
    "ensure_topics",
    "make_consumer",
    "make_producer",
]


def client_kwargs(settings: KafkaSettings) -> dict[str, Any]:
    """Connection and security keyword arguments common to aiokafka clients."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
        "request_timeout_ms": settings.request_timeout_ms,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None
        )
        if settings.ssl_certfile:
            context.load_cert_chain(
                str(settings.ssl_certfile),
                str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
            )
        kwargs["ssl_context"] = context
    if settings.sasl_mechanism:
        kwargs["sasl_mechanism"] = settings.sasl_mechanism
        kwargs["sasl_plain_username"] = settings.sasl_username
        if settings.sasl_password is not None:
            kwargs["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    return kwargs


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
    return AIOKafkaProducer(**kwargs)


def make_consumer(
    settings: KafkaSettings, *topics: str, group_id: str, name: str, **overrides: Any
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
    return AIOKafkaConsumer(*topics, **kwargs)


async def ensure_topics(
    settings: KafkaSettings, topics: list[str], *, partitions: int, replication_factor: int
) -> list[str]:
    """Create the topics that do not exist yet; returns the ones it created."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings), client_id=f"{settings.client_id}-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if not missing:
            return []
        # Another replica may create one between list and create: that is fine.
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(
                [NewTopic(t, partitions, replication_factor) for t in missing]
            )
        return missing
    finally:
        await admin.close()


async def committed_offsets_total(settings: KafkaSettings, group: str, topic: str) -> int:
    """Sum of the offsets ``group`` committed on ``topic`` (its progress)."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings), client_id=f"{settings.client_id}-admin")
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(m.offset for tp, m in offsets.items() if tp.topic == topic and m.offset > 0)
