"""Ingress settings: ``TASKFACTORY_*`` shared sections plus ``TASKFACTORY_INGRESS__*``."""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

from taskfactory_runtime.settings import ServiceSettings

__all__ = ["IngressSection", "IngressSettings"]


class IngressSection(BaseModel):
    """How the ingress consumes and starts workflows."""

    model_config = ConfigDict(extra="forbid")

    group_id: str = Field(default="taskfactory-ingress", description="Kafka consumer group.")
    topic_pattern: str | None = Field(
        default=None, description="Regex of topics to consume instead of the events topic."
    )
    max_batch: PositiveInt = Field(default=500, description="Records fetched per poll.")
    max_in_flight: PositiveInt = Field(
        default=256,
        description="Records handled at once (decoded and routed, waiting for or in their start).",
    )
    max_concurrent_starts: PositiveInt = Field(
        default=256,
        description="Start and signal calls to Temporal at once; more records wait for a slot.",
    )
    max_buffered_per_partition: PositiveInt = Field(
        default=1000,
        description="Queued, unfinished records after which a partition pauses.",
    )
    max_buffered_per_key: PositiveInt = Field(
        default=100,
        description="Queued records of one key; its further records are deferred (re-read "
        "later) so the other keys of the partition go on.",
    )
    max_tracked_per_partition: PositiveInt = Field(
        default=100_000,
        description="Offsets between the commit and the fetch position (queued, deferred or "
        "done out of order) after which a partition pauses; bounds how far other keys run "
        "ahead of a flooding one.",
    )
    commit_interval_seconds: PositiveFloat = Field(
        default=0.2, description="Least time between two offset commits."
    )
    max_record_bytes: PositiveInt = Field(
        default=1_048_576,
        description="Records whose value is larger are dead-lettered (as a stub when even "
        "the dead-letter topic refuses them). The dead-letter producer's request size is "
        "derived from this and max_key_and_headers_bytes.",
    )
    max_key_and_headers_bytes: PositiveInt = Field(
        default=65_536,
        description="Records whose key plus headers are larger are dead-lettered.",
    )
    max_buffered_bytes_per_partition: PositiveInt = Field(
        default=67_108_864,
        description="Fetched, unfinished bytes (keys, values, headers) after which a "
        "partition pauses.",
    )
    max_data_depth: int = Field(
        default=64,
        ge=1,
        le=500,
        description="Deepest nesting of JSON event data; deeper events are dead-lettered "
        "before any expression sees them.",
    )
    filter_timeout_seconds: PositiveFloat = Field(
        default=2.0,
        description="Time budget of the trigger filters for one event (evaluated off the "
        "event loop); an event over it is dead-lettered (filter_timeout).",
    )
    lag_refresh_seconds: PositiveFloat = Field(
        default=10.0,
        description="How often the consumer-lag gauge reads end offsets (also while paused).",
    )
    retry_initial_seconds: PositiveFloat = Field(
        default=0.2, description="First backoff while Temporal is unavailable."
    )
    retry_max_seconds: PositiveFloat = Field(default=10.0, description="Backoff ceiling.")
    search_attributes: bool = Field(
        default=True,
        description="Tag runs with Taskfactory* search attributes (must be registered).",
    )
    reload_seconds: PositiveFloat = Field(
        default=2.0, description="How often the definitions folder is checked for changes."
    )
    create_topics: bool = Field(default=True, description="Create missing topics at start.")

    def backoff_seconds(self, attempt: int) -> float:
        """How long to wait before retry ``attempt`` (1, 2, …): capped exponential backoff,
        jittered between half and all of it."""
        ceiling = min(self.retry_max_seconds, self.retry_initial_seconds * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # jitter, not a secret


class IngressSettings(ServiceSettings):
    """Everything the ingress reads from the environment."""

    ingress: IngressSection = IngressSection()
