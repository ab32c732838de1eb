"""Executor settings: ``TASKFACTORY_*`` shared sections plus ``TASKFACTORY_EXECUTOR__*``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from taskfactory_runtime.settings import ServiceSettings

__all__ = ["ExecutorSection", "ExecutorSettings"]


class ExecutorSection(BaseModel):
    """Worker tuning."""

    model_config = ConfigDict(extra="forbid")

    max_concurrent_activities: int = Field(
        default=100, ge=1, description="Tasks one replica runs at once."
    )
    create_topics: bool = Field(
        default=True, description="Create the results and runs topics at start."
    )


class ExecutorSettings(ServiceSettings):
    """Everything the executor reads from the environment."""

    executor: ExecutorSection = ExecutorSection()
