"""The orchestrator's workflows, one per module."""

from taskfactory_orchestrator.workflows.run_activity import (
    LegacyRunActivityWorkflow,
    RunActivityWorkflow,
)
from taskfactory_orchestrator.workflows.task_batch import TaskBatchWorkflow

__all__ = ["LegacyRunActivityWorkflow", "RunActivityWorkflow", "TaskBatchWorkflow"]
