"""``LegacyRunActivityWorkflow``: the run type of runs started before the fast path.

In a module of its own so that a new run's sandbox, which re-imports its workflow's module,
does not define this class too.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from taskfactory_contracts import RunActivityInput, names
    from taskfactory_orchestrator.models import RunOutcome

from taskfactory_orchestrator.workflows.run_activity import RunActivityWorkflow

__all__ = ["LegacyRunActivityWorkflow"]


@workflow.defn(name=names.WORKFLOW_RUN_ACTIVITY_V1)
class LegacyRunActivityWorkflow(RunActivityWorkflow):
    """Runs started before the fast path: results and run events through the executor."""

    _FAST = False

    @workflow.run
    async def run(self, arg: RunActivityInput) -> RunOutcome:
        """As ``RunActivityWorkflow.run``, on the executor path."""
        return await super().run(arg)
