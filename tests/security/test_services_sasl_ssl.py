"""The three services and the CLI work through Kafka's SASL_SSL listener, configured only by env.

A `make run`-style pass: the example definitions and events of ``examples/`` through a private
broker whose only listener taskfactory uses is SASL_SSL (SCRAM-SHA-512, CA made by the test),
with the password in a file as a Kubernetes secret mount holds it. Temporal is the shared one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Topics
from support.secure_kafka import PASSWORD, SecureBroker, run_to_failure

from taskfactory_contracts import AvroCodec, RunStatus, TaskStatus
from taskfactory_runtime.definitions import load_definitions
from taskfactory_runtime.kafka import ensure_topics
from taskfactory_stack.examples import load_example_events, runs_unattended
from taskfactory_stack.running import RunningServices
from taskfactory_stack.traffic import consume, produce, produce_envelopes

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# The example definitions that run unattended on the built-in task types (no plugins, no
# schedule, no person to approve): the greetings and the order DAG with its for_each.
DEFINITIONS = ("greeting.yaml", "order-fulfilment.yaml")


@pytest.fixture
async def topics(broker: SecureBroker, uid: str) -> Topics:
    """This test's topics on the private broker, created through the SASL_SSL listener.

    Overrides the shared fixture, so the ``services`` fixture configures these topics.
    """
    t = Topics(f"{uid}.events", f"{uid}.results", f"{uid}.runs", f"{uid}.events.dlq")
    await ensure_topics(
        broker.settings(),
        [t.events, t.results, t.runs, t.dead_letter],
        partitions=3,
        replication_factor=1,
    )
    return t


@pytest.fixture
def secure_services(broker: SecureBroker, services: RunningServices, uid: str) -> RunningServices:
    """The three services, configured for the SASL_SSL listener only."""
    services.env.update(broker.env())
    # Orchestrator schedules of this test only (the example definitions have none anyway).
    services.env["TASKFACTORY_SCHEDULES__ID_PREFIX"] = f"{uid}-"
    services.env["TASKFACTORY_SCHEDULES__OWNER"] = uid
    return services


async def test_example_events_run_through_the_sasl_ssl_listener_and_the_cli_reads_it(
    broker: SecureBroker, secure_services: RunningServices, topics: Topics, uid: str
) -> None:
    for name in DEFINITIONS:
        shutil.copy(EXAMPLES / "definitions" / name, secure_services.definitions)
    definitions = load_definitions(secure_services.definitions)
    events = load_example_events(EXAMPLES / "events", nonce=uid)
    awaited = {e.id for e in events if runs_unattended(e, definitions) is None}
    assert len(awaited) == 6  # five greetings and order 1001; 1002 is filtered, no loan here
    secure_services.start()

    settings = broker.settings()
    await produce_envelopes(settings, topics.events, events)
    await produce(settings, topics.events, [(b"junk", b"not an envelope", [])])

    # Every awaited event's run starts and finishes, reported on the runs topic.
    codec = AvroCodec()
    run_records = await consume(settings, topics.runs, at_least=12, timeout=180)
    run_events = [codec.decode_run_event(r.value) for r in run_records]
    finished = {e.causation_id: e.outcome for e in run_events if e.kind.value == "finished"}
    assert finished == dict.fromkeys(awaited, RunStatus.SUCCEEDED)

    # Results: one per greeting, and reserve, charge, two notify lines for order 1001.
    records = await consume(settings, topics.results, at_least=9, timeout=60)
    results = [codec.decode_task_result(r.value) for r in records]
    assert len(results) == 9
    assert {r.status for r in results} == {TaskStatus.SUCCEEDED}
    order = next(e.id for e in events if e.id.startswith("order-1001"))
    assert sorted(r.task_id for r in results if r.causation_id == order) == [
        "charge",
        "notify[0]",
        "notify[1]",
        "reserve",
    ]

    # The CLI, configured the same way, lists the dead letter through the listener.
    env = {**os.environ, **secure_services.env}
    listed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "taskfactory_runtime.cli", "dlq", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{topics.events}/")
    assert "\tmalformed\t" in lines[0]
    assert "1 of 1 dead letters" in listed.stderr

    # The password never left its file.
    for name, log in secure_services.logs().items():
        assert PASSWORD not in log, name
    assert PASSWORD not in listed.stdout + listed.stderr


# The orchestrator only talks to Temporal; the ingress and the executor open Kafka clients.
@pytest.mark.parametrize("service", ["ingress", "executor"])
def test_a_service_with_a_wrong_password_exits_with_a_one_line_authentication_error(
    broker: SecureBroker, secure_services: RunningServices, tmp_path: Path, service: str
) -> None:
    wrong = tmp_path / "wrong-password"
    wrong.write_text("SENTINEL-not-the-password\n")
    env = {**secure_services.env, "TASKFACTORY_KAFKA__SASL_PASSWORD_FILE": str(wrong)}
    error, stderr = run_to_failure(service, env, tmp_path)
    assert '"reason": "kafka_auth"' in error
    assert f"SASL authentication failed at the SASL_SSL listener {broker.address}" in error
    assert "SCRAM-SHA-512" in error
    assert "SENTINEL-not-the-password" not in stderr
    assert PASSWORD not in stderr
