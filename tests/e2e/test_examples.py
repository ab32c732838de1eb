"""The worked examples end to end: examples/loan-approval and examples/monitoring.

Each test runs the three services as processes with the example's plugin package installed
(``uv pip install --target``, on the executor's PYTHONPATH) and the example's definition,
changed only where a deployment would change it (the URLs of the external services and the
state topic). The external services are the examples' own stand-ins
(``examples/loan-approval/bank.py``, ``examples/monitoring/site.py``, which ``make run`` uses
too), served by the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import StackInfo, Topics
from temporalio.client import Client, WorkflowFailureError

from taskfactory_contracts import (
    ActivityDefinition,
    AvroCodec,
    Envelope,
    TaskResult,
    TaskStatus,
    names,
)
from taskfactory_orchestrator.models import RunOutcome, RunStatusView, TaskPhase
from taskfactory_orchestrator.schedules.reconciler import ScheduleReconciler, ScheduleTarget
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.demo_steps import ScheduleFirer
from taskfactory_stack.examples import front_matter, load_example, serve
from taskfactory_stack.plugins import pip_install_target
from taskfactory_stack.running import RunningServices
from taskfactory_stack.traffic import consume, end_offsets_total, produce_envelopes
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

EXAMPLES = Path(__file__).parents[2] / "examples"
LOAN = EXAMPLES / "loan-approval"
MONITORING = EXAMPLES / "monitoring"


@pytest.fixture(scope="module")
def example_plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both example plugin packages, installed as the README says, into one folder."""
    target = tmp_path_factory.mktemp("example-plugins")
    pip_install_target(target, [LOAN / "plugin", MONITORING / "plugin"])
    return target


async def results_until(
    kafka: KafkaSettings, topic: str, count: int, *, subject: str | None = None
) -> dict[str, TaskResult]:
    """The results on ``topic`` (of ``subject``) by task id, once ``topic`` holds ``count``."""
    codec = AvroCodec()
    records = await consume(kafka, topic, at_least=count, timeout=120)
    results = [codec.decode_task_result(r.value) for r in records]
    assert len(results) == count, [(r.task_id, r.status) for r in results]
    mine = [r for r in results if subject is None or r.subject == subject]
    by_task = {r.task_id: r for r in mine}
    assert len(by_task) == len(mine), "a task published more than one result"
    return by_task


def output(result: TaskResult) -> Any:
    assert result.output_json is not None, result
    return json.loads(result.output_json)


# ---- loan approval ------------------------------------------------------------------------
@pytest.fixture
async def bank() -> AsyncIterator[Any]:
    """The example's stand-in bank (examples/loan-approval/bank.py), served on a free port."""
    stand_in = load_example(LOAN / "bank.py").Bank()
    async with serve(stand_in.app()) as port:
        stand_in.url = f"http://127.0.0.1:{port}"
        yield stand_in


@dataclass
class LoanRig:
    """The loan-approval example running against the fake bank, and how to talk to it."""

    kafka: KafkaSettings
    topics: Topics
    client: Client
    stack: StackInfo
    bank: Any  # examples/loan-approval/bank.py's Bank
    uid: str

    async def request(self, event_id: str, *, review: bool = False) -> tuple[Envelope, str]:
        """Publish a sample request; its run id (once it waits for the review, if ``review``)."""
        loan = sample_loan(event_id, uid=self.uid)
        await produce_envelopes(self.kafka, self.topics.events, [loan])
        run_id = f"loan-approval/{loan.subject}"
        if review:
            await wait_for_review(self.client, run_id)
        return loan, run_id

    async def results(self, count: int, subject: str | None = None) -> dict[str, TaskResult]:
        return await results_until(self.kafka, self.topics.results, count, subject=subject)


@pytest.fixture
def loan(
    services: RunningServices,
    example_plugins: Path,
    bank: Any,
    topics: Topics,
    kafka_settings: KafkaSettings,
    temporal_client: Client,
    stack: StackInfo,
    uid: str,
) -> LoanRig:
    """The services running the loan-approval example against the fake bank."""
    doc, _ = front_matter(LOAN / "definitions" / "loan-approval.md")
    doc["context"]["bank"]["value"]["url"] = bank.url
    (services.definitions / "loan-approval.yaml").write_text(yaml.safe_dump(doc))
    services.env["PYTHONPATH"] = str(example_plugins)
    services.start()
    return LoanRig(kafka_settings, topics, temporal_client, stack, bank, uid)


def sample_loan(event_id: str, *, uid: str) -> Envelope:
    """A sample event of examples/loan-approval/events, made unique to the test."""
    samples = json.loads((LOAN / "events" / "loans.json").read_text())
    item = dict(next(s for s in samples if s["id"] == event_id))
    data = json.dumps(item.pop("data")).encode()
    item["id"] = f"{uid}-{item['id']}"
    item["subject"] = f"{uid}-{item['subject']}"
    return Envelope(time=datetime.now(UTC), data=data, **item)


def approve_cli(loan: LoanRig, run_id: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``taskfactory runs approve <run> review …`` as a user types it, configured as the
    orchestrator is (its Temporal and task queue: the runs it answers for)."""
    command = Path(sys.executable).with_name("taskfactory")
    return subprocess.run(
        [str(command), "runs", "approve", run_id, "review", *args],
        env={
            **os.environ,
            "TASKFACTORY_TEMPORAL__ADDRESS": loan.stack.temporal_address,
            "TASKFACTORY_TEMPORAL__ORCHESTRATOR_TASK_QUEUE": f"{loan.uid}-orchestrator",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def wait_for_review(client: Client, run_id: str) -> None:
    handle = client.get_workflow_handle(run_id)

    async def waiting() -> bool:
        try:
            view = await handle.query(names.QUERY_STATUS, result_type=RunStatusView)
        except Exception:  # not started yet: the ingress has not got to the event
            return False
        return view.tasks["review"].phase is TaskPhase.WAITING_APPROVAL

    await wait_for(waiting, timeout=60, what=f"{run_id} to wait for the review")


async def test_loan_below_threshold_is_decided_without_a_human(loan: LoanRig) -> None:
    approved, run_id = await loan.request("loan-1001")
    declined, _ = await loan.request("loan-1003")

    # approved: 6 results (no review), declined: 4 (no reserve, review, disburse).
    yes = await loan.results(10, approved.subject)
    no = await loan.results(10, declined.subject)
    assert set(yes) == {"credit_check", "risk", "decide", "reserve", "disburse", "notify"}
    assert set(no) == {"credit_check", "risk", "decide", "notify"}
    assert all(r.status is TaskStatus.SUCCEEDED for r in [*yes.values(), *no.values()])
    decision = output(yes["decide"])
    assert (decision["decision"], decision["automatic"]) == ("approve", True)
    assert output(yes["notify"])["outcome"] == "disbursed"
    assert output(no["decide"])["decision"] == "decline"
    assert output(no["notify"])["outcome"] == "declined"

    # One payout, carrying the disburse task's idempotency key; nothing for the declined one.
    key = f"{run_id}/{approved.id}/disburse"
    assert list(loan.bank.payouts) == [key]
    assert loan.bank.payouts[key]["reservation_id"] == f"res-{approved.subject}"
    assert loan.bank.paths() == ["/reservations", "/disbursements"]
    outcome = await loan.client.get_workflow_handle(run_id, result_type=RunOutcome).result()
    assert "review" not in outcome.tasks  # skipped: nobody was asked


async def test_loan_above_threshold_waits_for_approval_via_the_cli_then_disburses(
    loan: LoanRig,
) -> None:
    request, run_id = await loan.request("loan-1002", review=True)
    # While it waits: the money is reserved, nothing is paid.
    assert loan.bank.paths() == ["/reservations"]
    assert output((await loan.results(4))["decide"])["decision"] == "refer"

    done = approve_cli(loan, run_id, "--by", "credit-team", "--comment", "income verified")
    assert done.returncode == 0, done.stderr

    results = await loan.results(7)
    review = output(results["review"])
    assert (review["approved"], review["by"]) == (True, "credit-team")
    assert results["disburse"].status is TaskStatus.SUCCEEDED
    assert output(results["notify"])["outcome"] == "disbursed"
    assert list(loan.bank.payouts) == [f"{run_id}/{request.id}/disburse"]
    outcome = await loan.client.get_workflow_handle(run_id, result_type=RunOutcome).result()
    assert outcome.tasks["disburse"] is TaskStatus.SUCCEEDED


async def test_loan_rejected_by_the_reviewer_releases_the_reservation(loan: LoanRig) -> None:
    request, run_id = await loan.request("loan-1002", review=True)
    rejected = approve_cli(
        loan, run_id, "--by", "credit-team", "--reject", "--comment", "income unverified"
    )
    assert rejected.returncode == 0, rejected.stderr

    results = await loan.results(6)
    assert set(results) == {
        "credit_check", "risk", "decide", "reserve", "review", "reserve.compensate",
    }  # fmt: skip
    review = results["review"]
    assert (review.status, review.error_type) == (TaskStatus.FAILED, "ApprovalRejected")
    assert review.error_message == "rejected by credit-team: income unverified"
    assert results["reserve.compensate"].status is TaskStatus.SUCCEEDED
    release = f"/reservations/res-{request.subject}/release"
    assert loan.bank.paths() == ["/reservations", release]
    assert loan.bank.payouts == {}
    with pytest.raises(WorkflowFailureError):
        await loan.client.get_workflow_handle(run_id).result()


async def test_loan_disbursement_failure_releases_the_reservation(loan: LoanRig) -> None:
    loan.bank.disbursement_status = 422  # the account is closed: not worth a retry
    request, run_id = await loan.request("loan-1001")

    results = await loan.results(6)
    assert set(results) == {
        "credit_check", "risk", "decide", "reserve", "disburse", "reserve.compensate",
    }  # fmt: skip
    disburse = results["disburse"]
    assert (disburse.status, disburse.error_type) == (TaskStatus.FAILED, "HttpStatus422")
    assert results["reserve.compensate"].status is TaskStatus.SUCCEEDED
    release = f"/reservations/res-{request.subject}/release"
    assert loan.bank.paths() == ["/reservations", "/disbursements", release]
    with pytest.raises(WorkflowFailureError):
        await loan.client.get_workflow_handle(run_id).result()
    # The run's failure is final: no notification, nothing more on the results topic.
    assert await end_offsets_total(loan.kafka, loan.topics.results) == 6


# ---- monitoring ---------------------------------------------------------------------------
@pytest.fixture
async def status_page() -> AsyncIterator[Any]:
    """The example's stand-in site (examples/monitoring/site.py), served on a free port."""
    page = load_example(MONITORING / "site.py").StatusPage()
    async with serve(page.app()) as port:
        page.url = f"http://127.0.0.1:{port}/status"
        yield page


async def test_monitoring_notifies_once_when_the_state_changes_and_the_condition_holds(
    services: RunningServices,
    example_plugins: Path,
    status_page: Any,
    topics: Topics,
    kafka_settings: KafkaSettings,
    temporal_client: Client,
    uid: str,
) -> None:
    doc, _ = front_matter(MONITORING / "definitions" / "site-monitor.md")
    doc["context"]["target"]["value"].update(
        url=status_page.url, state_topic=f"{uid}.monitoring.state"
    )
    # Fired by the test only: the one-minute interval would otherwise fire in between.
    doc["trigger"]["schedule"]["paused"] = True
    definition = ActivityDefinition.model_validate(doc)
    services.env["PYTHONPATH"] = str(example_plugins)
    # This test's own reconciler owns the ids under "{uid}-"; the orchestrator's would delete
    # its schedule as drift (it defines none) if it shared the prefix.
    services.env["TASKFACTORY_SCHEDULES__ID_PREFIX"] = f"{uid}.services-"
    services.start(only=("orchestrator", "executor"))

    # The Temporal Schedule, written as the orchestrator's schedules sync writes it.
    reconciler = ScheduleReconciler(
        temporal_client,
        ScheduleTarget(
            orchestrator_task_queue=f"{uid}-orchestrator",
            executor_task_queue=f"{uid}-executor",
            results_topic=topics.results,
            id_prefix=f"{uid}-",
            owner=f"{uid}-orchestrator",
        ),
    )
    schedule_id = f"{uid}-{definition.id}"
    try:
        changes = await reconciler.sync([definition])
        assert [(c.kind, c.schedule_id) for c in changes] == [("create", schedule_id)]
        # Triggered as `taskfactory schedules trigger` does, each firing after the last one's
        # run finished. The first firing is the monitor's baseline; then the status is
        # unchanged / changed / unchanged, then changes back to ok (the condition is false).
        firer = ScheduleFirer(temporal_client, schedule_id, wait_seconds=60)
        statuses = ["ok", "ok", "degraded", "degraded", "ok"]
        runs = []
        for status in statuses:
            status_page.status = status
            firing = await firer.fire()
            assert firing["status"] == "started", firing
            outcome = await temporal_client.get_workflow_handle(
                firing["run_id"], result_type=RunOutcome
            ).result()
            assert outcome.tasks["compare"] is TaskStatus.SUCCEEDED
            runs.append(firing)
    finally:
        await temporal_client.get_schedule_handle(schedule_id).delete()
    assert status_page.served == len(statuses)

    codec = AvroCodec()
    records = await consume(kafka_settings, topics.results, at_least=11, timeout=30)
    results = [codec.decode_task_result(r.value) for r in records]
    by_time = sorted(results, key=lambda r: r.started_at)
    compares = [output(r) for r in by_time if r.task_id == "compare"]
    assert [(c["previous"], c["current"], c["changed"], c["first"]) for c in compares] == [
        (None, "ok", False, True),
        ("ok", "ok", False, False),
        ("ok", "degraded", True, False),
        ("degraded", "degraded", False, False),
        ("degraded", "ok", True, False),
    ]
    notifications = [r for r in results if r.task_id == "notify"]
    assert len(notifications) == 1
    assert notifications[0].run_id == runs[2]["run_id"]
    note = output(notifications[0])
    assert (note["status"], note["previous"]) == ("degraded", "ok")
    assert str(runs[2]["scheduled_for"]).startswith(note["scheduled_for"].rstrip("Z"))
    # 5 fetch + 5 compare + 1 notify, and not one more.
    assert await end_offsets_total(kafka_settings, topics.results) == 11
