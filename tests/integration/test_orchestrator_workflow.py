"""RunActivityWorkflow on the real Temporal dev server, the executor's activities mocked by name."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from conftest import Topics
from support.orchestrator_harness import FakeExecutor, definition, fail, harness, trigger
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from taskfactory_contracts import AvroCodec, RunActivityInput, TaskInput, TaskStatus, names
from taskfactory_orchestrator.models import ApprovalDecision, RunState, RunStatusView, TaskPhase
from taskfactory_orchestrator.publishing import PublishActivities
from taskfactory_orchestrator.settings import OrchestratorSettings
from taskfactory_orchestrator.worker import build_publisher
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.traffic import consume
from taskfactory_stack.waiting import wait_for

pytestmark = pytest.mark.integration

FAST_RETRY = {"initial_interval": "PT0.1S", "maximum_interval": "PT0.2S"}


async def _status(handle: Any) -> RunStatusView:
    status: RunStatusView = await handle.query(names.QUERY_STATUS, result_type=RunStatusView)
    return status


async def test_dag_runs_in_needs_order_with_parallelism_bounded_by_max_parallel(
    temporal_client: Client, uid: str
) -> None:
    both_running = asyncio.Event()
    executor = FakeExecutor()

    async def parallel(task: TaskInput, attempt: int) -> Any:
        if executor.running >= 2:
            both_running.set()
        await asyncio.wait_for(both_running.wait(), timeout=20)
        return task.task_id

    executor.behaviours["par"] = parallel
    defn = definition(
        {
            "max_parallel": 2,
            "tasks": [
                {"id": "a", "type": "par"},
                {"id": "b", "type": "par"},
                {"id": "c", "type": "par"},
                {"id": "d", "type": "echo", "needs": ["a", "b", "c"]},
                {
                    "id": "e",
                    "type": "echo",
                    "needs": ["d"],
                    "params": {"x": "{{ tasks.d.output }}"},
                },
            ],
        }
    )
    async with harness(temporal_client, uid, executor) as h:
        handle = await h.start(defn)
        outcome = await handle.result()
    order = executor.call_order()
    assert set(order[:3]) == {"a", "b", "c"}
    assert order[3:] == ["d", "e"]
    assert executor.max_running == 2, "max_parallel bounds tasks in flight"
    assert outcome.tasks == dict.fromkeys("abcde", TaskStatus.SUCCEEDED)
    assert executor.calls[-1].params == {"x": {"echo": {}}}
    assert sorted(executor.task_ids()) == list("abcde"), "one result per task"
    assert executor.result("a").definition_version == 3


async def test_when_false_skips_the_task_and_publishes_nothing_for_it(
    temporal_client: Client, uid: str
) -> None:
    executor = FakeExecutor()
    defn = definition(
        {
            "tasks": [
                {"id": "big", "type": "echo", "when": "event.data.amount > 100"},
                {"id": "small", "type": "echo", "when": "event.data.amount <= 100"},
                {"id": "after", "type": "echo", "needs": ["big"]},
            ]
        }
    )
    async with harness(temporal_client, uid, executor) as h:
        handle = await h.start(defn, trigger({"amount": 7}))
        await handle.result()
        status = await _status(handle)
    assert executor.task_ids() == ["small", "after"] or sorted(executor.task_ids()) == [
        "after",
        "small",
    ]
    assert status.tasks["big"].phase is TaskPhase.SKIPPED
    assert status.state is RunState.SUCCEEDED


async def test_retry_then_success_reports_the_attempts(temporal_client: Client, uid: str) -> None:
    executor = FakeExecutor(behaviours={"flaky": fail("Flaky", non_retryable=False, until=3)})
    defn = definition(
        {"tasks": [{"id": "f", "type": "flaky", "retry": {**FAST_RETRY, "maximum_attempts": 5}}]}
    )
    async with harness(temporal_client, uid, executor) as h:
        handle = await h.start(defn)
        await handle.result()
        status = await _status(handle)
    assert [c.task_id for c in executor.calls] == ["f", "f", "f"]
    assert len({c.idempotency_key for c in executor.calls}) == 1, "retries reuse the key"
    result = executor.result("f")
    assert (result.status, result.attempts) == (TaskStatus.SUCCEEDED, 3)
    assert status.tasks["f"].attempts == 3


async def test_non_retryable_failure_compensates_completed_tasks_in_reverse_order(
    temporal_client: Client, uid: str
) -> None:
    executor = FakeExecutor(behaviours={"boom": fail("CardDeclined")})
    defn = definition(
        {
            "tasks": [
                {"id": "reserve", "type": "echo", "compensate": {"type": "undo"}},
                {
                    "id": "ship",
                    "type": "echo",
                    "needs": ["reserve"],
                    "compensate": {"type": "undo", "params": {"was": "{{ output }}"}},
                },
                {"id": "no-undo", "type": "echo", "needs": ["ship"]},
                {"id": "charge", "type": "boom", "needs": ["no-undo"]},
                {"id": "never", "type": "echo", "needs": ["charge"]},
            ]
        }
    )
    async with harness(temporal_client, uid, executor) as h:
        handle = await h.start(defn)
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
        status = await _status(handle)
    assert isinstance(err.value.cause, ApplicationError)
    assert err.value.cause.type == "TaskFailed"
    assert "charge" in err.value.cause.message
    assert executor.call_order() == [
        "reserve",
        "ship",
        "no-undo",
        "charge",
        "ship.compensate",
        "reserve.compensate",
    ]
    assert executor.calls[4].params == {"was": {"echo": {}}}
    assert executor.result("charge").status is TaskStatus.FAILED
    assert executor.result("charge").error_type == "CardDeclined"
    assert executor.result("charge").attempts == 1
    assert executor.result("ship.compensate").status is TaskStatus.SUCCEEDED
    assert "never" not in executor.task_ids()
    assert status.state is RunState.FAILED
    assert status.tasks["reserve"].phase is TaskPhase.COMPENSATED
    assert status.tasks["never"].phase is TaskPhase.NOT_STARTED


def _approval_definition(deadline: str = "P3D", default: str = "reject") -> Any:
    return definition(
        {
            "tasks": [
                {"id": "score", "type": "echo"},
                {
                    "id": "review",
                    "type": "approval",
                    "needs": ["score"],
                    "approval": {
                        "deadline": deadline,
                        "default": default,
                        "approvers": ["credit-team"],
                    },
                },
                {"id": "pay-out", "type": "echo", "needs": ["review"]},
            ]
        }
    )


async def _wait_for_phase(handle: Any, task: str, phase: TaskPhase) -> None:
    async def reached() -> bool:
        return (await _status(handle)).tasks[task].phase is phase

    await wait_for(reached, timeout=30, what=f"{task} to be {phase.value}")


async def test_approval_granted_by_an_approver_lets_the_run_go_on(
    temporal_client: Client, uid: str
) -> None:
    executor = FakeExecutor()
    async with harness(temporal_client, uid, executor) as h:
        handle = await h.start(_approval_definition())
        await _wait_for_phase(handle, "review", TaskPhase.WAITING_APPROVAL)
        status = await _status(handle)
        assert status.tasks["review"].approval_deadline is not None
        with pytest.raises(WorkflowUpdateFailedError) as wrong_person:
            await handle.execute_update(
                names.UPDATE_APPROVAL,
                ApprovalDecision(task_id="review", approved=True, by="mallory"),
            )
        assert "'mallory' may not decide 'review'" in str(wrong_person.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as not_waiting:
            await handle.execute_update(
                names.UPDATE_APPROVAL,
                ApprovalDecision(task_id="score", approved=True, by="credit-team"),
            )
        assert "not waiting for approval (it is succeeded)" in str(not_waiting.value.cause)
        await handle.execute_update(
            names.UPDATE_APPROVAL,
            ApprovalDecision(task_id="review", approved=True, by="credit-team", comment="fine"),
        )
        outcome = await handle.result()
    assert outcome.tasks["pay-out"] is TaskStatus.SUCCEEDED
    review = executor.result("review")
    assert review.output_json is not None
    assert '"by":"credit-team"' in review.output_json
    assert executor.call_order() == ["score", "pay-out"], "an approval runs no executor task"


async def test_approval_rejected_fails_the_run_without_paying_out(
    temporal_client: Client, uid: str
) -> None:
    executor = FakeExecutor()
    async with harness(temporal_client, uid, executor) as h:
        handle = await h.start(_approval_definition())
        await _wait_for_phase(handle, "review", TaskPhase.WAITING_APPROVAL)
        await handle.execute_update(
            names.UPDATE_APPROVAL,
            ApprovalDecision(task_id="review", approved=False, by="credit-team", comment="no"),
        )
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    assert executor.result("review").error_type == "ApprovalRejected"
    assert "pay-out" not in executor.call_order()


@pytest.mark.parametrize(("default", "paid"), [("reject", False), ("approve", True)])
async def test_approval_deadline_applies_the_default_outcome(
    temporal_client: Client, uid: str, default: str, paid: bool
) -> None:
    # Real time on the dev server: 2 s; the 3-day deadline is the time-skipping test below.
    executor = FakeExecutor()
    async with harness(temporal_client, uid, executor) as h:
        handle = await h.start(_approval_definition("PT2S", default))
        if paid:
            await handle.result()
        else:
            with pytest.raises(WorkflowFailureError):
                await handle.result()
    assert ("pay-out" in executor.call_order()) is paid
    review = executor.result("review")
    assert review.status is (TaskStatus.SUCCEEDED if paid else TaskStatus.FAILED)


@pytest.mark.parametrize(("default", "paid"), [("reject", False), ("approve", True)])
async def test_a_three_day_approval_deadline_passes_instantly_under_time_skipping(
    time_skipping: WorkflowEnvironment, uid: str, default: str, paid: bool
) -> None:
    executor = FakeExecutor()
    started = time.monotonic()
    async with harness(time_skipping.client, f"{uid}-{default}", executor) as h:
        handle = await h.start(_approval_definition("P3D", default))
        if paid:
            await handle.result()
        else:
            with pytest.raises(WorkflowFailureError):
                await handle.result()
    assert time.monotonic() - started < 60  # three days of workflow time, not of ours
    assert ("pay-out" in executor.call_order()) is paid
    review = executor.result("review")
    assert review.status is (TaskStatus.SUCCEEDED if paid else TaskStatus.FAILED)


async def test_status_mid_run_then_cancel_cancels_running_tasks_and_compensates(
    temporal_client: Client, uid: str
) -> None:
    executor = FakeExecutor()
    executor.gates["hang"] = asyncio.Event()  # never set: the task runs until cancelled
    defn = definition(
        {
            "tasks": [
                {"id": "first", "type": "echo", "compensate": {"type": "undo"}},
                {
                    "id": "stuck",
                    "type": "hang",
                    "needs": ["first"],
                    "heartbeat_timeout": "PT2S",
                },
                {"id": "later", "type": "echo", "needs": ["stuck"]},
            ]
        }
    )
    async with harness(temporal_client, uid, executor) as h:
        handle = await h.start(defn)
        await _wait_for_phase(handle, "stuck", TaskPhase.RUNNING)
        mid = await _status(handle)
        assert mid.state is RunState.RUNNING
        assert mid.tasks["first"].phase is TaskPhase.SUCCEEDED
        assert mid.tasks["later"].phase is TaskPhase.PENDING
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
    assert isinstance(err.value.cause, CancelledError)
    assert executor.result("stuck").status is TaskStatus.CANCELLED
    assert executor.result("first.compensate").status is TaskStatus.SUCCEEDED
    assert "later" not in executor.call_order()


@pytest.mark.slow
async def test_for_each_over_1000_items_keeps_every_history_bounded(
    temporal_client: Client, uid: str
) -> None:
    executor = FakeExecutor()
    defn = definition(
        {
            "max_parallel": 50,
            "tasks": [
                {
                    "id": "each",
                    "type": "echo",
                    "for_each": "event.data.ids",
                    "params": {"n": "{{ item }}", "i": "{{ index }}"},
                }
            ],
        }
    )
    async with harness(temporal_client, uid, executor) as h:
        handle = await h.start(defn, trigger({"ids": list(range(1000))}))
        outcome = await handle.result()
        parent_events = [e async for e in handle.fetch_history_events()]
        children = [
            e.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
            for e in parent_events
            if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
        ]
        child_sizes = [
            len([e async for e in temporal_client.get_workflow_handle(c).fetch_history_events()])
            for c in children
        ]
    assert outcome.tasks == {"each": TaskStatus.SUCCEEDED}
    assert len(executor.results) == 1000
    assert sorted(r.task_id for r in executor.results) == sorted(f"each[{i}]" for i in range(1000))
    assert {c.params["n"] for c in executor.calls} == set(range(1000))
    assert len(children) == 10
    assert len(parent_events) < 150, "the parent's history does not grow with the items"
    assert max(child_sizes) < 1500


async def test_correlation_mode_handles_signalled_events_in_order_once_and_continues_as_new(
    temporal_client: Client, uid: str
) -> None:
    executor = FakeExecutor()
    defn = definition(
        {
            "correlation": {
                "workflow_id": "c/{subject}",
                "mode": "signal",
                "continue_as_new_after": 2,
                "idle_timeout": "PT3S",
            },
            "tasks": [{"id": "note", "type": "echo", "params": {"n": "{{ event.data.n }}"}}],
        }
    )
    first = trigger({"n": 0}, event_id=f"{uid}-e0")
    async with harness(temporal_client, uid, executor) as h:
        handle = await h.start(defn, first)
        for n in [1, 2, 2, 3, 0]:  # 2 and 0 again: duplicates by event id
            await handle.signal(names.SIGNAL_EVENT, trigger({"n": n}, event_id=f"{uid}-e{n}"))
        await wait_for(
            lambda: _done(len(executor.results) >= 4), timeout=30, what="four events handled"
        )
        outcome = await handle.result()
        runs = [wf async for wf in temporal_client.list_workflows(f"WorkflowId = '{handle.id}'")]
    assert [c.params["n"] for c in executor.calls] == [0, 1, 2, 3]
    assert len({r.result_id for r in executor.results}) == 4
    assert outcome.definition_id == "wf-test"
    assert len(runs) >= 2, "the run continued as new after two events"


async def _done(value: bool) -> bool:
    return value


# ---- the fast path: what a run costs Temporal -------------------------------------------------
def _event_types(history: Any) -> list[Any]:
    return [e.event_type for e in history.events]


async def test_a_one_task_run_is_two_workflow_tasks_one_activity_task_and_at_most_14_events(
    temporal_client: Client, uid: str
) -> None:
    executor = FakeExecutor()
    defn = definition({"tasks": [{"id": "only", "type": "echo", "params": {"n": 1}}]})
    async with harness(temporal_client, uid, executor) as h:
        handle = await h.start(defn, runs_topic="runs")
        outcome = await handle.result()
        history = await handle.fetch_history()
    types = _event_types(history)
    assert len(history.events) <= 14, [EventType.Name(t) for t in types]
    assert types.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 2
    assert types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == 1
    assert outcome.tasks == {"only": TaskStatus.SUCCEEDED}
    assert executor.result("only").status is TaskStatus.SUCCEEDED
    assert [e.kind.value for e in executor.run_events] == ["started", "finished"]
    assert executor.run_events[1].outcome is not None
    assert executor.run_events[1].outcome.value == "succeeded"
    assert [c.task_id for c in executor.calls] == ["only"], "the task ran on the executor queue"


async def test_each_further_task_of_a_run_costs_one_activity_task_and_one_workflow_task(
    temporal_client: Client, uid: str
) -> None:
    executor = FakeExecutor()
    chain: list[dict[str, Any]] = [{"id": "a", "type": "echo"}]
    chain += [{"id": n, "type": "echo", "needs": [p]} for p, n in [("a", "b"), ("b", "c")]]
    async with harness(temporal_client, uid, executor) as h:
        handle = await h.start(definition({"tasks": chain}), runs_topic="runs")
        await handle.result()
        history = await handle.fetch_history()
    types = _event_types(history)
    # One task: 14; each further one: its activity (3), a workflow task (3), a marker (1).
    assert len(history.events) <= 14 + 7 * 2, [EventType.Name(t) for t in types]
    assert types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == 3
    assert executor.task_ids() == ["a", "b", "c"]
    assert [e.kind.value for e in executor.run_events] == ["started", "finished"]


async def test_correlation_mode_publishes_run_events_for_each_event_handled(
    temporal_client: Client, uid: str
) -> None:
    executor = FakeExecutor()
    defn = definition(
        {
            "correlation": {"workflow_id": "c/{subject}", "mode": "signal", "idle_timeout": "PT1S"},
            "tasks": [{"id": "note", "type": "echo"}],
        }
    )
    async with harness(temporal_client, uid, executor) as h:
        handle = await h.start(defn, trigger(event_id=f"{uid}-e0"), runs_topic="runs")
        await handle.signal(names.SIGNAL_EVENT, trigger(event_id=f"{uid}-e1"))
        await handle.result()
    assert [(e.causation_id, e.kind.value) for e in executor.run_events] == [
        (f"{uid}-e0", "started"),
        (f"{uid}-e0", "finished"),
        (f"{uid}-e1", "started"),
        (f"{uid}-e1", "finished"),
    ]
    assert len({e.event_id for e in executor.run_events}) == 4


# ---- rendering that raises fails the task, never the workflow task ----------------------------
@pytest.mark.parametrize(
    "template",
    [
        {"id": "bad", "type": "echo", "params": {"n": "{{ event.data.n }}"}},
        {"id": "bad", "type": "echo", "for_each": "event.data.n"},
        {"id": "bad", "type": "echo", "when": "event.data.n > 1"},
    ],
    ids=["params", "for_each", "when"],
)
async def test_a_value_a_template_cannot_render_fails_that_task_with_its_class_and_message(
    temporal_client: Client, uid: str, template: dict[str, Any]
) -> None:
    executor = FakeExecutor()
    defn = definition({"tasks": [template, {"id": "after", "type": "echo", "needs": ["bad"]}]})
    async with harness(temporal_client, uid, executor) as h:
        handle = await h.start(defn, trigger({"n": 2**70}), runs_topic="runs")
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        history = await handle.fetch_history()
    bad = executor.result("bad")
    assert bad.status is TaskStatus.FAILED
    # CEL's integers are 64-bit: the bounded engine names the value and the way out.
    assert bad.error_type == "ExpressionError"
    assert "outside CEL's 64-bit range; send it as a string" in (bad.error_message or "")
    assert "after" not in executor.task_ids()
    assert executor.run_events[-1].outcome is not None
    assert executor.run_events[-1].outcome.value == "failed"
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in _event_types(history)


async def test_event_data_nested_too_deep_fails_every_task_with_recursion_error(
    temporal_client: Client, uid: str
) -> None:
    executor = FakeExecutor()
    deep = b'{"n":' + b"[" * 5000 + b"]" * 5000 + b"}"
    trig = trigger()
    trig = trig.model_copy(update={"envelope": trig.envelope.model_copy(update={"data": deep})})
    defn = definition({"tasks": [{"id": "a", "type": "echo"}, {"id": "b", "type": "echo"}]})
    async with harness(temporal_client, uid, executor) as h:
        handle = await h.start(defn, trig)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        history = await handle.fetch_history()
    assert {executor.result(t).error_type for t in ("a", "b")} == {"RecursionError"}
    assert executor.calls == []
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in _event_types(history)


# ---- the run's own publishing, on the real broker ---------------------------------------------
@asynccontextmanager
async def _real_publishing(kafka: KafkaSettings) -> AsyncIterator[PublishActivities]:
    producer, reader, publishing = build_publisher(OrchestratorSettings(kafka=kafka))
    await producer.start()
    try:
        yield publishing
    finally:
        await reader.stop()
        await producer.stop()


async def test_a_one_task_run_publishes_its_result_and_run_events_to_kafka_once(
    temporal_client: Client, kafka_settings: KafkaSettings, topics: Topics, uid: str
) -> None:
    executor = FakeExecutor()
    defn = definition({"tasks": [{"id": "only", "type": "echo", "params": {"n": 1}}]})
    async with (
        _real_publishing(kafka_settings) as publishing,
        harness(temporal_client, uid, executor, publish_local=publishing.publish_local) as h,
    ):
        handle = await h.start(defn, runs_topic=topics.runs, results_topic=topics.results)
        await handle.result()
        history = await handle.fetch_history()
    codec = AvroCodec()
    results = [
        codec.decode_task_result(r.value)
        for r in await consume(kafka_settings, topics.results, at_least=1, timeout=30)
    ]
    events = [
        codec.decode_run_event(r.value)
        for r in await consume(kafka_settings, topics.runs, at_least=2, timeout=30)
    ]
    assert [(r.task_id, r.status) for r in results] == [("only", TaskStatus.SUCCEEDED)]
    assert sorted(e.kind.value for e in events) == ["finished", "started"]
    assert len(history.events) <= 14


async def test_a_result_too_large_for_kafka_is_published_as_a_failed_result_naming_its_size(
    temporal_client: Client, kafka_settings: KafkaSettings, topics: Topics, uid: str
) -> None:
    async def big(task: TaskInput, attempt: int) -> Any:
        return "x" * 1_500_000

    executor = FakeExecutor(behaviours={"big": big})
    defn = definition({"tasks": [{"id": "big", "type": "big"}, {"id": "small", "type": "echo"}]})
    async with (
        _real_publishing(kafka_settings) as publishing,
        harness(temporal_client, uid, executor, publish_local=publishing.publish_local) as h,
    ):
        handle = await h.start(defn, results_topic=topics.results)
        await handle.result()
    codec = AvroCodec()
    results = {
        r.task_id: r
        for r in (
            codec.decode_task_result(rec.value)
            for rec in await consume(kafka_settings, topics.results, at_least=2, timeout=30)
        )
    }
    assert results["small"].status is TaskStatus.SUCCEEDED
    too_large = results["big"]
    assert too_large.status is TaskStatus.FAILED
    assert too_large.error_type == "ResultTooLarge"
    assert too_large.output_json is None
    assert "bytes, more than Kafka accepts" in (too_large.error_message or "")


@pytest.mark.parametrize(
    ("timeouts", "kind"),
    [
        ({"start_to_close_timeout": "PT1S"}, "StartToClose"),
        ({"start_to_close_timeout": "PT30S", "heartbeat_timeout": "PT1S"}, "Heartbeat"),
        (
            {"start_to_close_timeout": "PT30S", "schedule_to_close_timeout": "PT2S"},
            "ScheduleToClose",
        ),
        ({"schedule_to_start_timeout": "PT1S"}, "ScheduleToStart"),
    ],
    ids=["start-to-close", "heartbeat", "schedule-to-close", "schedule-to-start"],
)
async def test_each_timeout_kind_ends_the_task_timed_out_naming_the_kind(
    temporal_client: Client, uid: str, timeouts: dict[str, str], kind: str
) -> None:
    executor = FakeExecutor()
    executor.gates["hang"] = asyncio.Event()  # never set: the task never answers
    retry = {**FAST_RETRY, "maximum_attempts": 1 if kind != "ScheduleToClose" else 0}
    defn = definition({"tasks": [{"id": "slow", "type": "hang", "retry": retry, **timeouts}]})
    async with harness(temporal_client, uid, executor) as h:
        if kind == "ScheduleToStart":
            # Nothing polls the executor's queue: the task is never picked up.
            handle = await temporal_client.start_workflow(
                names.WORKFLOW_RUN_ACTIVITY,
                RunActivityInput(
                    definition=defn,
                    trigger=trigger(),
                    results_topic="results",
                    executor_task_queue=f"{uid}-no-executor",
                ),
                id=f"{uid}/no-executor",
                task_queue=uid,
            )
        else:
            handle = await h.start(defn)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        status = await _status(handle)
    result = executor.result("slow")
    assert result.status is TaskStatus.TIMED_OUT
    assert result.error_type == "TimeoutError"
    assert kind.lower() in (result.error_message or "").replace("_", "").lower()
    assert status.tasks["slow"].phase is TaskPhase.TIMED_OUT
    assert status.state is RunState.FAILED
