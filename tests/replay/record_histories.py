"""Record the histories that ``test_replay.py`` replays against today's code.

Runs real RunActivityWorkflow executions on the dev server (executor activities mocked by
name, as in the workflow tests) and writes each history as JSON next to this file. Re-record
only on purpose: a history recorded by older code is what guards today's code. Names given on
the command line record only those (from ``tests/``:
``python -m replay.record_histories one-task approval-waiting``, so ``support`` imports);
existing files are never overwritten unless ``--force`` is given. ``--prefix fast-`` names the
files ``fast-<name>.json`` (histories of a newer code path, recorded beside the old ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from support.orchestrator_harness import FakeExecutor, Harness, definition, fail, harness, trigger
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from taskfactory_contracts import ActivityDefinition, names
from taskfactory_orchestrator.models import ApprovalDecision, RunStatusView, TaskPhase
from taskfactory_orchestrator.workflows.scheduled_firing import (
    WORKFLOW_SCHEDULED_FIRING,
    FiringOutcome,
    ScheduledFiringInput,
)
from taskfactory_stack.waiting import wait_for

HERE = Path(__file__).parent / "histories"
#: The workflow id of each recorded history (child workflow ids depend on it).
IDS = HERE / "workflow-ids.json"
#: Ingress-started runs publish run events; the recorded runs do too (the run-events-v1 path).
RUNS_TOPIC = "runs"
OPTIONS: dict[str, Any] = {"prefix": "", "force": False}

Recorder = Callable[[Harness, str], Awaitable[list[tuple[str, WorkflowHandle[Any, Any]]]]]


def _definition(boom: str) -> ActivityDefinition:
    return definition(
        {
            "max_parallel": 3,
            "context": {"shop": {"kind": "static", "value": {"currency": "EUR"}}},
            "tasks": [
                {"id": "reserve", "type": "echo", "compensate": {"type": "undo"}},
                {
                    "id": "charge",
                    "type": "echo",
                    "needs": ["reserve"],
                    "params": {"currency": "{{ context.shop.currency }}"},
                    "compensate": {"type": "undo", "params": {"was": "{{ output }}"}},
                },
                {"id": "skip-me", "type": "echo", "when": "event.data.n > 100"},
                {
                    "id": "notify",
                    "type": "echo",
                    "needs": ["charge"],
                    "for_each": "event.data.lines",
                    "params": {"line": "{{ item }}"},
                },
                {"id": "last", "type": boom, "needs": ["notify"]},
            ],
        }
    )


async def _finish(handle: WorkflowHandle[Any, Any]) -> None:
    with contextlib.suppress(WorkflowFailureError):
        await handle.result()


def _dag(boom: str, *, runs_topic: str | None) -> Recorder:
    async def record(h: Harness, name: str) -> list[tuple[str, WorkflowHandle[Any, Any]]]:
        data = {"n": 1, "lines": ["tea", "cup", "pot"]}
        handle = await h.start(
            _definition(boom), trigger(data, event_id=f"{h.queue}-{name}"), runs_topic=runs_topic
        )
        await _finish(handle)
        return [(name, handle)]

    return record


async def _one_task(h: Harness, name: str) -> list[tuple[str, WorkflowHandle[Any, Any]]]:
    defn = definition(
        {"tasks": [{"id": "only", "type": "echo", "params": {"n": "{{ event.data.n }}"}}]}
    )
    handle = await h.start(
        defn, trigger({"n": 7}, event_id=f"{h.queue}-{name}"), runs_topic=RUNS_TOPIC
    )
    await _finish(handle)
    return [(name, handle)]


def _approval() -> ActivityDefinition:
    return definition(
        {
            "tasks": [
                {"id": "score", "type": "echo"},
                {
                    "id": "review",
                    "type": "approval",
                    "needs": ["score"],
                    "approval": {
                        "deadline": "P3D",
                        "default": "reject",
                        "approvers": ["credit-team"],
                    },
                },
                {"id": "pay-out", "type": "echo", "needs": ["review"]},
            ]
        }
    )


async def _approval_runs(h: Harness, name: str) -> list[tuple[str, WorkflowHandle[Any, Any]]]:
    """A run waiting for its approval (the open history), and the same run once approved."""
    handle = await h.start(
        _approval(), trigger(event_id=f"{h.queue}-{name}"), runs_topic=RUNS_TOPIC
    )

    async def waiting() -> bool:
        view = await handle.query(names.QUERY_STATUS, result_type=RunStatusView)
        return view.tasks["review"].phase is TaskPhase.WAITING_APPROVAL

    await wait_for(waiting, timeout=30, what="the approval to wait")
    waiting_path = HERE / f"{OPTIONS['prefix']}approval-waiting.json"
    if not waiting_path.exists() or OPTIONS["force"]:
        waiting_path.write_text((await handle.fetch_history()).to_json())
    print("recorded approval-waiting")
    await handle.execute_update(
        names.UPDATE_APPROVAL,
        ApprovalDecision(task_id="review", approved=True, by="credit-team", comment="fine"),
    )
    await _finish(handle)
    return [("approval-granted", handle)]


async def _correlation(h: Harness, name: str) -> list[tuple[str, WorkflowHandle[Any, Any]]]:
    """Signalled events, a duplicate, continue-as-new after two, idle end."""
    defn = definition(
        {
            "correlation": {
                "workflow_id": "c/{subject}",
                "mode": "signal",
                "continue_as_new_after": 2,
                "idle_timeout": "PT2S",
            },
            "tasks": [{"id": "note", "type": "echo", "params": {"n": "{{ event.data.n }}"}}],
        }
    )
    first = trigger({"n": 0}, event_id=f"{h.queue}-e0")
    handle = await h.start(defn, first, runs_topic=RUNS_TOPIC)
    for n in [1, 2, 2, 3]:
        await handle.signal(names.SIGNAL_EVENT, trigger({"n": n}, event_id=f"{h.queue}-e{n}"))
    await _finish(handle)
    first_run = h.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    return [
        (f"{name}-first-run", first_run),
        (f"{name}-last-run", h.client.get_workflow_handle(handle.id)),
    ]


async def _batches(h: Harness, name: str) -> list[tuple[str, WorkflowHandle[Any, Any]]]:
    """A ``for_each`` of 120 items: two child batches (100 + 20)."""
    defn = definition(
        {
            "max_parallel": 20,
            "tasks": [
                {
                    "id": "each",
                    "type": "echo",
                    "for_each": "event.data.items",
                    "params": {"n": "{{ item }}"},
                },
                {"id": "after", "type": "echo", "needs": ["each"]},
            ],
        }
    )
    handle = await h.start(
        defn,
        trigger({"items": list(range(120))}, event_id=f"{h.queue}-{name}"),
        runs_topic=RUNS_TOPIC,
    )
    await _finish(handle)
    child = h.client.get_workflow_handle(f"{handle.id}/{h.queue}-{name}/each/batch-1")
    return [(name, handle), (f"{name}-child", child)]


async def _schedule_firing(h: Harness, name: str) -> list[tuple[str, WorkflowHandle[Any, Any]]]:
    """One firing of a schedule-triggered definition (``catchup``), and the run it starts."""
    defn = ActivityDefinition.model_validate(
        {
            "id": f"monitor-{h.queue}",
            "version": 1,
            "trigger": {
                "schedule": {"cron": ["0 2 * * *"], "timezone": "UTC", "misfire": "catchup"}
            },
            "correlation": {"workflow_id": "monitor/{definition}/{scheduled_for}"},
            "tasks": [
                {"id": "probe", "type": "echo", "params": {"at": "{{ event.data.scheduled_for }}"}}
            ],
        }
    )
    handle = await h.client.start_workflow(
        WORKFLOW_SCHEDULED_FIRING,
        ScheduledFiringInput(
            definition=defn,
            schedule_id=f"sched-{h.queue}",
            results_topic="results",
            executor_task_queue=h.queue,
            search_attributes=False,
            scheduled_for=datetime(2026, 3, 29, 2, 0, tzinfo=UTC),
        ),
        id=f"sched-{h.queue}-2026-03-29T02:00:00Z",
        task_queue=h.queue,
        result_type=FiringOutcome,
    )
    outcome = await handle.result()
    return [
        (f"{name}-firing", handle),
        (f"{name}-run", h.client.get_workflow_handle(outcome.run_id)),
    ]


RECORDERS: dict[str, Recorder] = {
    "dag-succeeded": _dag("echo", runs_topic=None),
    "dag-compensated": _dag("boom", runs_topic=None),
    "dag-run-events": _dag("echo", runs_topic=RUNS_TOPIC),
    "one-task": _one_task,
    "approval": _approval_runs,
    "correlation": _correlation,
    "for-each-batches": _batches,
    "schedule": _schedule_firing,
}


async def main(names_wanted: list[str], force: bool, prefix: str = "") -> None:
    OPTIONS.update(prefix=prefix, force=force)
    address = os.environ.get("TASKFACTORY_TEMPORAL_ADDRESS", "127.0.0.1:7233")
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    for name in names_wanted or list(RECORDERS):
        queue = "replay-" + uuid.uuid4().hex[:8]
        executor = FakeExecutor(behaviours={"boom": fail("CardDeclined")})
        async with harness(client, queue, executor) as h:
            for stem, handle in await RECORDERS[name](h, name):
                path = HERE / f"{prefix}{stem}.json"
                if path.exists() and not force:
                    print(f"kept {stem} (exists; --force re-records)")
                    continue
                history: WorkflowHistory = await handle.fetch_history()
                path.write_text(history.to_json())
                ids = json.loads(IDS.read_text()) if IDS.exists() else {}
                ids[f"{prefix}{stem}"] = handle.id
                IDS.write_text(json.dumps(ids, indent=2, sort_keys=True) + "\n")
                print(f"recorded {stem}: {len(history.events)} events")


if __name__ == "__main__":
    argv = sys.argv[1:]
    prefix = ""
    if "--prefix" in argv:
        at = argv.index("--prefix")
        prefix = argv[at + 1]
        del argv[at : at + 2]
    args = [a for a in argv if a != "--force"]
    asyncio.run(main(args, "--force" in argv, prefix))
