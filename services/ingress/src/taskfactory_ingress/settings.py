"""Ingress settings: ``TASKFACTORY_*`` shared sections plus ``TASKFACTORY_INGRESS__*``."""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

from taskfactory_runtime.setting_types import CreateTopics, TagRuns
from taskfactory_runtime.settings import ServiceSettings

__all__ = ["IngressSection", "IngressSettings", "RetryBackoff"]


class RetryBackoff(BaseModel):
    """How long the ingress waits between tries while a dependency (Temporal, the schema
    registry, the dead-letter topic) is unavailable."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    retry_initial_seconds: PositiveFloat = 0.2
    """First backoff while a dependency is unavailable."""
    retry_max_seconds: PositiveFloat = 10.0
    """Backoff ceiling."""

    def backoff_seconds(self, attempt: int) -> float:
        """How long to wait before retry ``attempt`` (1, 2, …): capped exponential backoff,
        jittered between half and all of it."""
        ceiling = min(self.retry_max_seconds, self.retry_initial_seconds * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # jitter, not a secret


class IngressSection(RetryBackoff):
    """How the ingress consumes and starts workflows."""

    group_id: str = "taskfactory-ingress"
    """Kafka consumer group."""
    topic_pattern: str | None = None
    """Regex of topics to consume instead of the events topic."""
    max_batch: PositiveInt = 500
    """Records fetched per poll."""
    max_in_flight: PositiveInt = 256
    """Records handled at once (decoded and routed, waiting for or in their start)."""
    max_concurrent_starts: PositiveInt = 256
    """Start and signal calls to Temporal at once; more records wait for a slot."""
    max_buffered_per_partition: PositiveInt = 1000
    """Queued, unfinished records after which a partition pauses."""
    max_buffered_per_key: PositiveInt = 100
    """Queued records of one key; its further records are deferred (re-read later) so the other keys
    of the partition go on."""
    max_tracked_per_partition: PositiveInt = 100_000
    """Offsets between the commit and the fetch position (queued, deferred or done out of order)
    after which a partition pauses; bounds how far other keys run ahead of a flooding one."""
    commit_interval_seconds: PositiveFloat = 0.2
    """Least time between two offset commits."""
    max_record_bytes: PositiveInt = 1_048_576
    """Records whose value is larger are dead-lettered (as a stub when even the dead-letter topic
    refuses them). The dead-letter producer's request size is derived from this and
    max_key_and_headers_bytes."""
    max_key_and_headers_bytes: PositiveInt = 65_536
    """Records whose key plus headers are larger are dead-lettered."""
    max_buffered_bytes_per_partition: PositiveInt = 67_108_864
    """Fetched, unfinished bytes (keys, values, headers) after which a partition pauses."""
    max_data_depth: int = Field(default=64, ge=1, le=500)
    """Deepest nesting of JSON event data; deeper events are dead-lettered before any expression
    sees them."""
    filter_timeout_seconds: PositiveFloat = 2.0
    """Time budget of the trigger filters for one event (evaluated off the event loop); an event
    over it is dead-lettered (filter_timeout)."""
    lag_refresh_seconds: PositiveFloat = 10.0
    """How often the consumer-lag gauge reads end offsets (also while paused)."""
    search_attributes: TagRuns = True
    reload_seconds: PositiveFloat = 2.0
    """How often the definitions folder is checked for changes."""
    create_topics: CreateTopics = True


class IngressSettings(ServiceSettings):
    """Everything the ingress reads from the environment."""

    ingress: IngressSection = IngressSection()
