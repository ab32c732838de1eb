"""Pure parts of the schedules: the Temporal Schedule a definition becomes, ids and fingerprints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import ScheduleActionStartWorkflow, ScheduleOverlapPolicy

from taskfactory_contracts import ActivityDefinition
from taskfactory_orchestrator.schedules.reconciler import (
    MIN_CATCHUP_WINDOW,
    ScheduleTarget,
    build_schedule,
    fingerprint,
)
from taskfactory_orchestrator.workflows.scheduled_firing import (
    ScheduledFiringInput,
    firing_envelope,
    run_workflow_id,
    scheduled_for_from_id,
)

TARGET = ScheduleTarget("orch", "exec", "results", id_prefix="tf-", owner="me")
AT = datetime(2027, 3, 28, 1, 30, tzinfo=UTC)


def _definition(**schedule: Any) -> ActivityDefinition:
    doc: dict[str, Any] = {
        "id": "nightly",
        "version": 1,
        "trigger": {"schedule": {"cron": ["30 2 * * *"], "timezone": "Europe/Berlin", **schedule}},
        "correlation": {"workflow_id": "monitor/{definition}/{scheduled_for}"},
        "tasks": [{"id": "a", "type": "echo"}],
    }
    return ActivityDefinition.model_validate(doc)


@pytest.mark.parametrize(
    ("misfire", "window"),
    [
        ("catchup", timedelta(hours=2)),
        ("skip", MIN_CATCHUP_WINDOW),
        ("compress", MIN_CATCHUP_WINDOW),
    ],
)
def test_catch_up_window_follows_the_misfire_policy(misfire: str, window: timedelta) -> None:
    schedule = build_schedule(_definition(misfire=misfire, catchup_window="PT2H"), TARGET)
    assert schedule.policy.catchup_window == window


def test_schedule_carries_spec_policy_state_and_the_firing_action() -> None:
    d = _definition(
        overlap="buffer_all", jitter="PT5M", start_at="2027-01-01T00:00:00Z", paused=True
    )
    schedule = build_schedule(d, TARGET)
    assert schedule.spec.cron_expressions == ["30 2 * * *"]
    assert schedule.spec.time_zone_name == "Europe/Berlin"
    assert schedule.spec.jitter == timedelta(minutes=5)
    assert schedule.spec.start_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert schedule.policy.overlap == ScheduleOverlapPolicy.BUFFER_ALL
    assert schedule.state.paused
    action = schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.id, action.task_queue) == ("tf-nightly", "orch")
    assert isinstance(action.args[0], ScheduledFiringInput)
    assert action.args[0].definition == d


def test_disabled_definition_is_a_paused_schedule() -> None:
    d = _definition().model_copy(update={"enabled": False})
    assert build_schedule(d, TARGET).state.paused


def test_fingerprint_changes_with_every_edit_and_only_then() -> None:
    base = fingerprint(_definition(), TARGET)
    assert fingerprint(_definition(), TARGET) == base
    assert fingerprint(_definition(timezone="UTC"), TARGET) != base
    assert fingerprint(_definition(cron=["0 3 * * *"]), TARGET) != base
    assert fingerprint(_definition().model_copy(update={"enabled": False}), TARGET) != base


def test_every_interval_and_end_before_start_rejected() -> None:
    schedule = build_schedule(_definition(cron=[], every="PT10M"), TARGET)
    assert schedule.spec.intervals[0].every == timedelta(minutes=10)
    with pytest.raises(ValueError, match="end_at must be after start_at"):
        _definition(start_at="2027-01-02T00:00:00Z", end_at="2027-01-01T00:00:00Z")


def test_scheduled_for_read_back_from_the_id_temporal_builds() -> None:
    assert scheduled_for_from_id("tf-nightly-2027-03-28T01:30:00Z") == AT
    assert scheduled_for_from_id("tf-nightly") is None
    assert scheduled_for_from_id("x-2027-13-28T01:30:00Z") is None


def test_firing_ids_depend_only_on_definition_and_time() -> None:
    d = _definition()
    assert run_workflow_id(d, AT) == "monitor/nightly/2027-03-28T01%3A30%3A00Z"
    assert run_workflow_id(d, AT) != run_workflow_id(d, AT + timedelta(days=1))
    one = firing_envelope(d, "tf-nightly", AT)
    assert one == firing_envelope(d, "tf-nightly", AT)
    assert one.id == "nightly@2027-03-28T01:30:00Z"
    assert one.extensions == {"scheduledfor": "2027-03-28T01:30:00Z"}
