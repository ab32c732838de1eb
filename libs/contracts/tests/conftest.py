"""Shared records for the contracts tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from taskfactory_contracts import (
    AvroCodec,
    Envelope,
    RunEvent,
    RunEventKind,
    RunStatus,
    TaskResult,
    TaskStatus,
)

WHEN = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)


@pytest.fixture
def codec() -> AvroCodec:
    return AvroCodec()


@pytest.fixture
def envelope() -> Envelope:
    return Envelope(
        id="evt-1",
        source="svc://loans",
        type="com.example.loan.requested",
        subject="loan-42",
        time=WHEN,
        dataschema="https://schemas.example.com/loan/1",
        tenant="acme",
        correlation_id="corr-7",
        causation_id="evt-0",
        data=b'{"amount":1000}',
        extensions={"partitionkey": "loan-42"},
    )


@pytest.fixture
def task_result() -> TaskResult:
    return TaskResult(
        result_id="res-1",
        run_id="loan-approval/loan-42",
        task_id="score",
        task_type="http",
        definition_id="loan-approval",
        definition_version=3,
        subject="loan-42",
        status=TaskStatus.FAILED,
        output_json=None,
        error_type="HTTPError",
        error_message="503 from scoring",
        attempts=4,
        started_at=WHEN,
        finished_at=WHEN,
        causation_id="evt-1",
        tenant="acme",
    )


@pytest.fixture
def run_event() -> RunEvent:
    return RunEvent(
        event_id="run-1/finished",
        kind=RunEventKind.FINISHED,
        run_id="loan-approval/loan-42",
        definition_id="loan-approval",
        definition_version=3,
        subject="loan-42",
        causation_id="evt-1",
        occurred_at=WHEN,
        task_ids=("score", "notify"),
        outcome=RunStatus.FAILED,
        tasks_failed=1,
        error_message="score failed",
    )
