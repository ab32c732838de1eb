"""The DIY anchor's workflow, in a module of its own as a team would write it (sandbox-clean)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

__all__ = ["ACTIVITY", "DiyInput", "DiyWorkflow"]

ACTIVITY = "diy.run_and_publish"


@dataclass
class DiyInput:
    """One task: the event's id and subject, and where its result goes."""

    event_id: str
    subject: str
    topic: str


@workflow.defn(name="DiyWorkflow")
class DiyWorkflow:
    """One activity that does the task and publishes its result."""

    @workflow.run
    async def run(self, arg: DiyInput) -> None:
        await workflow.execute_activity(ACTIVITY, arg, start_to_close_timeout=timedelta(seconds=30))
