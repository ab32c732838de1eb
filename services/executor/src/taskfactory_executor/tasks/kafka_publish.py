"""``kafka_publish``: one record to a topic through the worker's idempotent producer."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from taskfactory_contracts import names
from taskfactory_executor.registry import TaskContext
from taskfactory_executor.sending import SendOnce

__all__ = ["IDEMPOTENCY_KEY_HEADER", "KafkaPublishParams", "kafka_publish"]

#: Consumers dedupe on this header: every attempt of a task sends the same key.
IDEMPOTENCY_KEY_HEADER = "taskfactory-idempotency-key"


class KafkaPublishParams(BaseModel):
    """The record: topic, key (default: the run's subject), value (JSON) and headers."""

    model_config = ConfigDict(extra="forbid")

    topic: str = Field(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")
    key: str | None = None
    value: Any = None
    headers: dict[str, str] = Field(default_factory=dict)


async def kafka_publish(params: KafkaPublishParams, context: TaskContext) -> dict[str, Any]:
    """Publish; returns where the record landed."""
    sender: SendOnce = context.resource("kafka")
    task = context.task
    headers = [(k, v.encode()) for k, v in params.headers.items()]
    headers += [
        (IDEMPOTENCY_KEY_HEADER, task.idempotency_key.encode()),
        (names.HEADER_EVENT_ID, task.event_id.encode()),
        (names.HEADER_RUN_ID, task.run_id.encode()),
    ]
    value = json.dumps(params.value, separators=(",", ":"), sort_keys=True).encode()
    key = params.key if params.key is not None else task.subject
    metadata = await sender.send(
        f"task:{task.idempotency_key}",
        params.topic,
        key=key.encode(),
        value=value,
        headers=headers,
    )
    return {"topic": params.topic, "partition": metadata.partition, "offset": metadata.offset}
