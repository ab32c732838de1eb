"""Session fixtures: the real Kafka broker and Temporal server, started once for all tests.

``TASKFACTORY_KAFKA_BOOTSTRAP`` + ``TASKFACTORY_TEMPORAL_ADDRESS`` point the tests at an
existing stack; ``TASKFACTORY_STACK=testcontainers`` uses containers (needs a Docker engine);
otherwise the local stack (``taskfactory-stack``) is started if it is not up, and stopped at
the end only if the tests started it.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from support.session import end_session_runs, new_uid
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from taskfactory_runtime.kafka import delete_topics, ensure_topics
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.leftovers import Ended
from taskfactory_stack.running import RunningServices
from taskfactory_stack.services import OwnNames, ServiceEnv

#: The faults only a cluster has, and the Temporal server built from its Go module, need the
#: cluster profile (``make test-cluster``).
collect_ignore = (
    []
    if os.environ.get("TASKFACTORY_STACK_PROFILE") == "cluster"
    else ["chaos/test_cluster_chaos.py", "e2e/test_temporal_api_keys.py"]
)


@dataclass(frozen=True)
class StackInfo:
    """Where the tests reach Kafka and Temporal."""

    kafka_bootstrap: str
    temporal_address: str
    otlp_endpoint: str | None = None
    jaeger_ui: str | None = None
    #: Of the topics the tests create: 3 on the cluster profile (min.insync.replicas=2).
    replication_factor: int = 1
    #: The schema registry's Confluent-compatible API (the stack's Apicurio Registry).
    schema_registry_url: str | None = None


def _testcontainers_stack() -> Iterator[StackInfo]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.kafka import KafkaContainer

    from taskfactory_contracts import names

    sa = " ".join(f"--search-attribute {a}=Keyword" for a in names.SEARCH_ATTRIBUTES)
    with (
        KafkaContainer("apache/kafka:4.1.0").with_kraft() as kafka,
        DockerContainer("temporalio/temporal:latest")
        .with_command(f"server start-dev --ip 0.0.0.0 {sa}")
        .with_exposed_ports(7233) as temporal,
    ):
        wait_for_logs(temporal, "Temporal Server", timeout=120)
        yield StackInfo(
            kafka.get_bootstrap_server(),
            f"{temporal.get_container_host_ip()}:{temporal.get_exposed_port(7233)}",
        )


def _default_registry_url() -> str:
    """Where an existing local stack (default profile) serves its schema registry."""
    from taskfactory_stack.registry import RegistryComponent
    from taskfactory_stack.settings import StackSettings

    return RegistryComponent(StackSettings()).url


#: What the session's end left to end in Temporal (reported in the terminal summary).
_ended: list[Ended] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say what the session left behind and ended: runs terminated, schedules deleted."""
    for ended in _ended:
        terminalreporter.write_line(
            f"test session end: terminated {ended.runs} runs left running, "
            f"deleted {ended.schedules} schedules left behind"
        )


@pytest.fixture(scope="session")
def stack() -> Iterator[StackInfo]:
    """The real Kafka + Temporal the integration and e2e tests run against."""
    kafka = os.environ.get("TASKFACTORY_KAFKA_BOOTSTRAP")
    temporal = os.environ.get("TASKFACTORY_TEMPORAL_ADDRESS")
    if kafka and temporal:
        yield StackInfo(
            kafka,
            temporal,
            os.environ.get("TASKFACTORY_OTLP_ENDPOINT"),
            os.environ.get("TASKFACTORY_JAEGER_UI"),
            int(os.environ.get("TASKFACTORY_TOPICS__REPLICATION_FACTOR", "1")),
            os.environ.get("TASKFACTORY_SCHEMA_REGISTRY_URL") or _default_registry_url(),
        )
        _ended.append(asyncio.run(end_session_runs(temporal)))
        return
    if os.environ.get("TASKFACTORY_STACK") == "testcontainers":
        yield from _testcontainers_stack()
        return
    from taskfactory_stack.stack import Stack

    local = Stack()
    started = local.up()
    try:
        yield StackInfo(
            local.kafka_bootstrap,
            local.temporal_address,
            local.otlp_endpoint,
            local.jaeger_ui,
            local.replication_factor,
            local.schema_registry_url,
        )
        _ended.append(asyncio.run(end_session_runs(local.temporal_address)))
    finally:
        if started:
            local.down()


@pytest.fixture(scope="session")
def schema_registry_url(stack: StackInfo) -> str:
    """The stack's schema registry (``TASKFACTORY_SCHEMA_REGISTRY_URL`` moves it)."""
    assert stack.schema_registry_url, "this stack runs no schema registry"
    return stack.schema_registry_url


@pytest.fixture
def uid() -> str:
    """A short id unique to the test: prefixes its topics, groups, queues and workflow ids."""
    return new_uid("t")


@pytest.fixture(scope="session")
def kafka_settings(stack: StackInfo) -> KafkaSettings:
    """Kafka client settings for the test stack."""
    return KafkaSettings(bootstrap_servers=stack.kafka_bootstrap)


@pytest.fixture(scope="session")
async def temporal_client(stack: StackInfo) -> Client:
    """A Temporal client on the test stack with the pydantic data converter."""
    client = await Client.connect(stack.temporal_address, data_converter=pydantic_data_converter)
    return client


@dataclass(frozen=True)
class Topics:
    """A test's own topics."""

    events: str
    results: str
    runs: str
    dead_letter: str

    def env(self) -> dict[str, str]:
        """The services' environment for these topics."""
        return {
            "TASKFACTORY_TOPICS__EVENTS": self.events,
            "TASKFACTORY_TOPICS__RESULTS": self.results,
            "TASKFACTORY_TOPICS__RUNS": self.runs,
            "TASKFACTORY_TOPICS__DEAD_LETTER": self.dead_letter,
        }


@pytest.fixture
async def topics(
    stack: StackInfo, kafka_settings: KafkaSettings, uid: str
) -> AsyncIterator[Topics]:
    """Fresh topics for one test (6 partitions each), deleted afterwards: a suite's worth of
    dead partitions (thousands) slows a broker's recovery after a crash and costs it heap."""
    own = OwnNames(uid)
    t = Topics(own.events, own.results, own.runs, own.dead_letter)
    names = [t.events, t.results, t.runs, t.dead_letter]
    await ensure_topics(
        kafka_settings, names, partitions=6, replication_factor=stack.replication_factor
    )
    yield t
    await delete_topics(kafka_settings, names)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Collect Temporal clients before finalization (their native runtime aborts it otherwise)."""
    gc.collect()


@pytest.fixture
def services(
    stack: StackInfo, topics: Topics, uid: str, tmp_path: Path
) -> Iterator[RunningServices]:
    """The three services as processes on this test's topics, group and task queues.

    The test writes its definitions into ``services.definitions``, then calls ``start()``
    (optionally with only some of the services).
    """
    own = OwnNames(uid)
    env = ServiceEnv(
        stack.kafka_bootstrap,
        stack.temporal_address,
        tmp_path / "definitions",
        own=own,
        replication_factor=stack.replication_factor,
        otlp_endpoint=stack.otlp_endpoint,
    ).env()
    # The test's topics (a test may override the fixture, e.g. with names inside ACLs).
    env.update(topics.env())
    if stack.otlp_endpoint:
        env["OTEL_BSP_SCHEDULE_DELAY"] = "300"  # export spans promptly for the trace tests
    running = RunningServices(tmp_path, env, group=own.group)
    try:
        yield running
    finally:
        running.stop_all()
        for name, log in running.logs().items():
            # pytest shows captured output only when the test failed.
            print(f"==> {name} log (last 40 lines) <==")
            print("\n".join(log.splitlines()[-40:]))


@pytest.fixture(scope="session")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server (the Java one from Maven Central): days in ms."""
    from taskfactory_stack.settings import StackSettings
    from taskfactory_stack.testserver import ensure_test_server

    wrapper = ensure_test_server(StackSettings())
    # A JVM starting on a busy machine needs more than the SDK's default wait (5 s).
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(wrapper),
        data_converter=pydantic_data_converter,
        test_server_startup_timeout=timedelta(seconds=90),
    )
    try:
        yield env
    finally:
        await env.shutdown()
