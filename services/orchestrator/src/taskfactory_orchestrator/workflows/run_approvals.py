"""Approvals: a task waits for a person's decision, given through a validated update."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from taskfactory_contracts import TaskTemplate, names
    from taskfactory_orchestrator.models import ApprovalDecision, TaskState
    from taskfactory_orchestrator.workflows.run_core import RunCore

__all__ = ["Approvals"]


class Approvals(RunCore):
    """Tasks that wait for a person's decision (an update), with approvers and a deadline."""

    async def _await_approval(self, template: TaskTemplate) -> ApprovalDecision | None:
        spec = template.approval
        assert spec is not None
        self._ledger.await_approval(template.id, workflow.now() + spec.deadline)
        self._waiting.add(template.id)
        try:
            await workflow.wait_condition(
                lambda: template.id in self._decisions or self._stopping(),
                timeout=spec.deadline,
                timeout_summary=f"approval deadline of {template.id}",
            )
        except TimeoutError:
            decision = ApprovalDecision(
                task_id=template.id,
                approved=spec.default == "approve",
                by="deadline",
                comment=f"no decision within {spec.deadline}; default {spec.default}",
            )
        except asyncio.CancelledError:
            self._ledger.cancel(template.id)
            return None
        else:
            if template.id not in self._decisions:
                self._ledger.not_started(template.id)
                return None
            decision = self._decisions[template.id]
        finally:
            self._waiting.discard(template.id)
        self._ledger.decided(template.id, decision.by)
        return decision

    @workflow.update(name=names.UPDATE_APPROVAL)
    async def approve(self, decision: ApprovalDecision) -> TaskState:
        """Record a person's decision; returns the task's state once the decision took effect."""
        self._decisions[decision.task_id] = decision
        await workflow.wait_condition(lambda: decision.task_id not in self._waiting)
        return self._ledger[decision.task_id]

    @approve.validator
    def _validate_approval(self, decision: ApprovalDecision) -> None:
        # Validators never run on replay: their rules can change without a patch. The error
        # types are what the admin API maps to 409 (not waiting) and 403 (not an approver).
        if decision.task_id not in self._waiting:
            phase = self._ledger.get(decision.task_id)
            raise ApplicationError(
                f"task {decision.task_id!r} is not waiting for approval"
                + (f" (it is {phase.phase.value})" if phase else " (no such task)"),
                type=names.ERROR_NOT_WAITING_FOR_APPROVAL,
                non_retryable=True,
            )
        template = next(t for t in self._definition.tasks if t.id == decision.task_id)
        approvers = template.approval.approvers if template.approval else ()
        if approvers and not {decision.by, *decision.groups} & set(approvers):
            raise ApplicationError(
                f"{decision.by!r} may not decide {decision.task_id!r} "
                f"(approvers: {', '.join(approvers)})",
                type=names.ERROR_NOT_AN_APPROVER,
                non_retryable=True,
            )
