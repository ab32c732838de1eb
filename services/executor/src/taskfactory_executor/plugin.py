"""The API a task plugin is written against: import from this module only.

What it names stays stable across releases; everything else in the executor and the runtime
may move. A task type is a function of its params and, optionally, a :class:`TaskContext`::

    class Input(BaseModel):
        name: str

    async def greet(params: Input, context: TaskContext) -> dict[str, str]:
        return {"greeting": f"hello {params.name}", "key": context.idempotency_key}

- its first parameter is a pydantic model (params are validated against it; invalid params
  fail the task without retries) or a plain ``dict``; it returns anything JSON-able;
- ``async def`` runs on the worker's event loop, a plain function in the thread pool, one
  marked :func:`cpu_bound` in the process pool (it gets no context there);
- raising :class:`TransientError` (or any other exception) lets Temporal retry the task;
  :class:`TaskFactoryError` or ``ApplicationError(..., non_retryable=True)`` ends it.

It is registered by an entry point in the group :data:`TASK_PLUGIN_GROUP`
(``taskfactory.tasks``) of the plugin package's ``pyproject.toml``; the entry point's name is
the ``type`` definitions use::

    [project.entry-points."taskfactory.tasks"]
    "acme.greet" = "acme_tasks:greet"

:func:`task_type` inspects a function as the executor will (a plugin's own tests can call it).
Shared clients come from :meth:`TaskContext.resource`: ``"http"`` (egress-policed HTTP) and
``"kafka"`` (a :class:`SendOnce`); a plugin that reads Kafka itself uses :func:`kafka_settings`
with :func:`make_consumer`, :func:`ensure_topics` and :func:`topic_partitions`.
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from taskfactory_contracts.errors import TaskFactoryError, TransientError
from taskfactory_contracts.names import TASK_PLUGIN_GROUP
from taskfactory_executor.registry import TaskContext, TaskType, cpu_bound, task_type
from taskfactory_executor.sending import SendOnce
from taskfactory_runtime.kafka import ensure_topics, make_consumer, topic_partitions
from taskfactory_runtime.settings import KafkaSettings, ServiceSettings

__all__ = [
    "TASK_PLUGIN_GROUP",
    "ApplicationError",
    "KafkaSettings",
    "SendOnce",
    "TaskContext",
    "TaskFactoryError",
    "TaskType",
    "TransientError",
    "cpu_bound",
    "ensure_topics",
    "kafka_settings",
    "make_consumer",
    "task_type",
    "topic_partitions",
]


def kafka_settings() -> KafkaSettings:
    """The executor's own Kafka settings (bootstrap, SASL/TLS), from its environment."""
    return ServiceSettings().kafka
