"""The services' environment for one stack, and the query that finds what a mark left running."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskfactory_ingress.settings import IngressSettings
from taskfactory_orchestrator.settings import OrchestratorSettings
from taskfactory_stack.leftovers import running_query
from taskfactory_stack.services import OwnNames, ServiceEnv


def test_own_names_put_every_topic_group_queue_and_schedule_under_the_prefix() -> None:
    own = OwnNames("t1234abcd")
    values = own.env().values()
    assert len(set(values)) == len(own.env()) == 8
    assert all(v.startswith("t1234abcd") for v in values)


def test_the_services_read_the_environment_as_meant(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    own = OwnNames("t1234abcd")
    env = ServiceEnv(
        "127.0.0.1:19092",
        "127.0.0.1:17233",
        tmp_path,
        own=own,
        replication_factor=3,
        otlp_endpoint="http://127.0.0.1:14317",
    ).env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ingress = IngressSettings()
    assert ingress.kafka.bootstrap_servers == "127.0.0.1:19092"
    assert ingress.topics.events == own.events
    assert ingress.topics.replication_factor == 3
    assert ingress.ingress.group_id == own.group
    orchestrator = OrchestratorSettings()
    assert orchestrator.temporal.address == "127.0.0.1:17233"
    assert orchestrator.temporal.orchestrator_task_queue == own.orchestrator_queue
    assert orchestrator.temporal.executor_task_queue == own.executor_queue
    assert orchestrator.schedules.id_prefix == own.schedule_prefix
    assert orchestrator.definitions_dir == tmp_path


def test_without_own_names_the_services_keep_their_defaults(tmp_path: Path) -> None:
    env = ServiceEnv("k:9092", "t:7233", tmp_path).env()
    assert set(env) == {
        "TASKFACTORY_KAFKA__BOOTSTRAP_SERVERS",
        "TASKFACTORY_TEMPORAL__ADDRESS",
        "TASKFACTORY_DEFINITIONS_DIR",
    }


def test_the_leftovers_query_names_each_mark_and_refuses_quotes() -> None:
    query = running_query(["tab12", "hab12"])
    assert query.startswith("ExecutionStatus = 'Running' AND (")
    assert "TaskQueue STARTS_WITH 'hab12'" in query
    assert "WorkflowId STARTS_WITH 'tab12'" in query
    for bad in ([], [""], ["x' OR 'a'='a"]):
        with pytest.raises(ValueError, match="marks"):
            running_query(bad)
