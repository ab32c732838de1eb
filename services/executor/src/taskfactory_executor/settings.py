"""Executor settings: ``TASKFACTORY_*`` shared sections plus ``TASKFACTORY_EXECUTOR__*``."""

from __future__ import annotations

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from taskfactory_runtime.egress import EgressSettings
from taskfactory_runtime.setting_types import CreateTopics
from taskfactory_runtime.settings import ServiceSettings, WorkerSection

__all__ = ["ExecutorSection", "ExecutorSettings"]


class ExecutorSection(WorkerSection):
    """Worker tuning."""

    thread_pool_size: PositiveInt = 16
    """Threads that run sync task types (plugins)."""
    process_pool_size: NonNegativeInt = 2
    """Processes that run cpu-bound task types; 0 = none."""
    publish_timeout_seconds: PositiveFloat = 10.0
    """A kafka_publish task's send not acknowledged this fast fails and is retried (results and run
    events are bounded by publish_lease_seconds)."""
    http_max_connections: PositiveInt = 100
    """Connection pool of the http task type."""
    create_topics: CreateTopics = True
    max_output_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Largest task output (serialized); larger fails the task non-retryably (PayloadTooLarge). Keep
    it below Temporal's payload limit (2 MB by default)."""


class ExecutorSettings(ServiceSettings):
    """Everything the executor reads from the environment."""

    executor: ExecutorSection = ExecutorSection()
    egress: EgressSettings = EgressSettings()
