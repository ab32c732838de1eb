"""Workflows hosted by the orchestrator (one per module)."""

from taskfactory_orchestrator.workflows.run_activity import RunActivityWorkflow

__all__ = ["RunActivityWorkflow"]
