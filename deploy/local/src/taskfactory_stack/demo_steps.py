"""The worked examples' steps in ``make run`` — approving the referred loan as a person would,
firing the monitor's schedule — and the summary lines they end with."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleHandle,
    ScheduleOverlapPolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from taskfactory_contracts import Envelope, names
from taskfactory_stack.demo_results import Watch, output_of, say
from taskfactory_stack.errors import StackError
from taskfactory_stack.examples import LOAN, MONITORING

__all__ = [
    "APPROVAL_ARGS",
    "FIRINGS",
    "REVIEW_TASK",
    "WAIT_SECONDS",
    "Firing",
    "ScheduleFirer",
    "approve",
    "cli_argv",
    "fire",
    "loan_lines",
    "monitor_lines",
    "recent_firings",
    "synced",
]

#: The task the referred application waits in, and what the credit team types to approve it.
REVIEW_TASK = "review"
APPROVAL_ARGS = ("--by", "credit-team", "--comment", "income verified")
#: What the status page says at each firing: the notification comes from the change only.
FIRINGS = ("ok", "degraded", "degraded")
#: How long a step may take before the demo gives up (a first run on a busy machine is slow).
WAIT_SECONDS = 300.0


# ---- the worked examples' steps ---------------------------------------------------------------
def cli_argv() -> list[str]:
    script = Path(sys.executable).with_name("taskfactory")
    return [str(script)] if script.exists() else [sys.executable, "-m", "taskfactory_runtime.cli"]


async def approve(client: Client, run_id: str, env: dict[str, str]) -> None:
    """Wait until ``run_id`` waits for its review, then approve it with the CLI."""
    handle = client.get_workflow_handle(run_id)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            # The status view as plain JSON: the stack imports no service's models.
            view: dict[str, Any] = await handle.query(names.QUERY_STATUS, result_type=dict)
            if view["tasks"].get(REVIEW_TASK, {}).get("phase") == "waiting_approval":
                break
        except RPCError:
            pass  # the ingress has not started the run yet
        if time.monotonic() > deadline:
            raise StackError(f"{run_id} did not reach its review within {WAIT_SECONDS:.0f}s")
        await asyncio.sleep(0.3)
    args = ["runs", "approve", run_id, REVIEW_TASK, *APPROVAL_ARGS]
    shown = " ".join(f"'{a}'" if " " in a else a for a in args)
    say(f"  {run_id} waits for the credit team; approving it as a person would:")
    say(f"    $ uv run taskfactory {shown}")
    process = await asyncio.create_subprocess_exec(
        *cli_argv(),
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        raise StackError(f"taskfactory runs approve failed:\n{err.decode(errors='replace')}")
    say(f"  {run_id}: approved by credit-team")


async def synced(client: Client, handle: ScheduleHandle, site_url: str) -> None:
    """Wait until the orchestrator's schedules sync wrote this demo's monitor schedule."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            action = (await handle.describe()).schedule.action
            if isinstance(action, ScheduleActionStartWorkflow) and action.args:
                [arg] = await client.data_converter.decode([action.args[0]], [dict])
                target = arg["definition"]["context"]["target"]["value"]
                if target["url"] == site_url:
                    return
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        if time.monotonic() > deadline:
            raise StackError(f"the orchestrator did not sync schedule {handle.id}; see its log")
        await asyncio.sleep(0.3)


@dataclass
class Firing:
    status: str
    run_id: str = ""


async def fire(client: Client, schedule_id: str, page: Any, site_url: str) -> list[Firing]:
    """Trigger the monitor's schedule once per ``FIRINGS``, each after the last one's run."""
    await synced(client, client.get_schedule_handle(schedule_id), site_url)
    firer = ScheduleFirer(client, schedule_id)
    firings: list[Firing] = []
    for n, status in enumerate(FIRINGS, 1):
        page.status = status
        say(f"  monitoring: firing {n}/{len(FIRINGS)}, the site says {status!r}:")
        say(f"    $ uv run taskfactory schedules trigger {schedule_id}")
        outcome = await firer.fire()
        if outcome["status"] != "started":
            raise StackError(f"a firing of {schedule_id} did not run: {outcome}")
        firings.append(Firing(status, outcome["run_id"]))
    return firings


async def recent_firings(handle: ScheduleHandle) -> set[str]:
    """The workflow ids of the schedule's recent firings."""
    return {
        a.action.workflow_id
        for a in (await handle.describe()).info.recent_actions
        if isinstance(a.action, ScheduleActionExecutionStartWorkflow)
    }


@dataclass
class ScheduleFirer:
    """Fires a schedule now, as ``taskfactory schedules trigger`` does, one firing at a time.

    ``fire`` returns the firing workflow's outcome (a dict: ``status``, ``run_id`` …) once
    the run it started has finished. A paused schedule fires too when triggered.
    """

    client: Client
    schedule_id: str
    wait_seconds: float = WAIT_SECONDS
    _seen: set[str] | None = field(default=None, init=False)
    _next: float = field(default=0.0, init=False)

    async def fire(self) -> dict[str, Any]:
        """Trigger, wait for the new firing to finish, return its outcome."""
        handle = self.client.get_schedule_handle(self.schedule_id)
        if self._seen is None:
            self._seen = await recent_firings(handle)
        # Temporal names a firing by its time to the second: one firing per second at most.
        await asyncio.sleep(max(0.0, self._next - time.time()))
        await handle.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
        deadline = time.monotonic() + self.wait_seconds
        while not (new := await recent_firings(handle) - self._seen):
            if time.monotonic() > deadline:
                raise StackError(f"schedule {self.schedule_id} did not fire when triggered")
            await asyncio.sleep(0.2)
        [firing_id] = sorted(new)[-1:]
        self._seen.add(firing_id)
        outcome: dict[str, Any] = await asyncio.wait_for(
            self.client.get_workflow_handle(firing_id).result(), self.wait_seconds
        )
        when = datetime.fromisoformat(str(outcome["scheduled_for"]).replace("Z", "+00:00"))
        self._next = when.timestamp() + 1.0
        return outcome


# ---- the summary ------------------------------------------------------------------------------
def loan_lines(loans: list[Envelope], watch: Watch, bank: Any) -> list[str]:
    lines = [f"loan approval ({LOAN}/README.md):"]
    for loan in loans:
        results = watch.results_of(loan.id)
        data = json.loads(loan.data)
        steps = []
        decision = output_of(results["decide"]) if "decide" in results else None
        if decision:
            how = " (automatic)" if decision["automatic"] else ""
            steps.append(f"decide: {decision['decision']}{how}")
        if "review" in results:
            review = output_of(results["review"]) or {}
            steps.append(f"review: approved by {review.get('by')}")
        notice = output_of(results["notify"]) if "notify" in results else None
        steps.append(f"notify: {notice['outcome']}" if notice else "no notice")
        lines.append(f"  {loan.subject:<28} {data['amount']:>6} EUR  " + " → ".join(steps))
    paid = len(bank.payouts)
    lines.append(
        f"  the bank (examples/loan-approval/bank.py) paid {paid} disbursement(s), one per "
        "Idempotency-Key"
    )
    return lines


def monitor_lines(firings: list[Firing], watch: Watch, schedule_id: str) -> list[str]:
    lines = [f"monitoring ({MONITORING}/README.md), schedule {schedule_id}:"]
    notes = 0
    for n, firing in enumerate(firings, 1):
        results = watch.by_run.get(firing.run_id, {})
        compare = output_of(results["compare"]) if "compare" in results else {}
        if compare.get("first"):
            seen = "first observation (the baseline)"
        elif compare.get("changed"):
            seen = f"changed (was {compare.get('previous')!r})"
        else:
            seen = "unchanged"
        if "notify" in results:
            notes += 1
            told = f"NOTIFICATION: {(output_of(results['notify']) or {}).get('message')}"
        else:
            told = "no notification"
        lines.append(f"  firing {n}  site {firing.status!r:<11} {seen:<34} {told}")
    lines.append(f"  {notes} notification(s) for {len(firings)} firings")
    return lines
