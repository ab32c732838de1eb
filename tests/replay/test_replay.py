"""Determinism guard: today's workflow code replays histories recorded from real runs.

The histories in ``histories/`` were recorded by ``record_histories.py``: the unprefixed ones
by the release before the fast path (run type ``RunActivityWorkflow``, now served by
``LegacyRunActivityWorkflow``), the ``fast-`` ones by the fast path (``RunActivityWorkflowV2``):
a one-task run, DAGs with context, ``when``, ``for_each``, a failure and compensations, an
approval (waiting and granted), a correlation run across continue-as-new, a ``for_each`` with
child batches, a schedule firing and its run. A change that alters the commands a workflow
issues for the same history must be guarded by ``workflow.patched`` (or a new type); the last
test shows the replayer catches one that is not.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from taskfactory_contracts import RunActivityInput, names
from taskfactory_orchestrator.worker import SANDBOX, SHARED_SANDBOX, WORKFLOWS
from taskfactory_orchestrator.workflows.task_batch import TaskBatchWorkflow

HERE = Path(__file__).parent / "histories"
HISTORIES = sorted(p for p in HERE.glob("*.json") if p.name != "workflow-ids.json")
#: The workflow id a history was recorded under, where the run's commands depend on it (child
#: workflow ids); others replay under their file's name.
WORKFLOW_IDS: dict[str, str] = json.loads((HERE / "workflow-ids.json").read_text())


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(WORKFLOW_IDS.get(path.stem, path.stem), path.read_text())


def test_histories_are_recorded() -> None:
    # Recorded from the release before the fast path (patch fast-path-v1): every kind of run.
    assert {p.stem for p in HISTORIES} >= {
        "dag-succeeded",
        "dag-compensated",
        "dag-run-events",
        "one-task",
        "approval-waiting",
        "approval-granted",
        "correlation-first-run",
        "correlation-last-run",
        "for-each-batches",
        "for-each-batches-child",
        "schedule-firing",
        "schedule-run",
    }


@pytest.mark.parametrize("runner", ["strict", "shared"])
@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_current_code_replays_recorded_history(path: Path, runner: str) -> None:
    # Strict: a restricted (non-deterministic) call on the history's path fails the replay;
    # shared: what the worker runs by default replays the same.
    replayer = Replayer(
        workflows=WORKFLOWS,
        workflow_runner=SANDBOX if runner == "strict" else SHARED_SANDBOX,
        data_converter=pydantic_data_converter,
    )
    result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


@workflow.defn(name=names.WORKFLOW_RUN_ACTIVITY_V1, sandboxed=False)
class ReorderedRunActivityWorkflow:
    """A deliberately non-deterministic 'change': runs every task at once, ignoring ``needs``."""

    @workflow.run
    async def run(self, arg: RunActivityInput) -> Any:
        await asyncio.gather(
            *(
                workflow.execute_activity(
                    names.ACTIVITY_RUN_TASK,
                    {"task_id": t.id},
                    task_queue=arg.executor_task_queue,
                    start_to_close_timeout=t.start_to_close_timeout,
                )
                for t in reversed(arg.definition.tasks)
            )
        )


async def test_a_non_deterministic_change_fails_the_replay() -> None:
    replayer = Replayer(
        workflows=[ReorderedRunActivityWorkflow, TaskBatchWorkflow],
        data_converter=pydantic_data_converter,
    )
    result = await replayer.replay_workflow(_history(HISTORIES[0]), raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, NondeterminismError)
