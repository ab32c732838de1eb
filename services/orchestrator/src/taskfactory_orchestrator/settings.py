"""Orchestrator settings: ``TASKFACTORY_*`` shared sections plus ``TASKFACTORY_ORCHESTRATOR__*``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from taskfactory_runtime.settings import ServiceSettings

__all__ = ["OrchestratorSection", "OrchestratorSettings"]


class OrchestratorSection(BaseModel):
    """Worker tuning."""

    model_config = ConfigDict(extra="forbid")

    max_concurrent_workflow_tasks: int = Field(
        default=200, ge=1, description="Workflow tasks one replica runs at once."
    )
    max_concurrent_activities: int = Field(
        default=100, ge=1, description="Activities one replica runs at once."
    )


class OrchestratorSettings(ServiceSettings):
    """Everything the orchestrator reads from the environment."""

    orchestrator: OrchestratorSection = OrchestratorSection()
