"""Each Kafka authentication mechanism end to end, with each service's least privilege.

The three services run as processes against the private secure broker (Temporal is the shared
one), each service as its own principal (``ingress``, ``orchestrator``, ``executor``) through
one mechanism at a time: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, client certificates (mTLS) and
OAUTHBEARER with client credentials from Keycloak, the broker checking each token against
Keycloak's JWKS. The broker's ACLs allow each principal only its topics and group
(:func:`taskfactory_stack.kafka_security.service_acls`), so every run here also shows that
those ACLs are enough. An upstream producer and a downstream reader use the PLAINTEXT listener.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from conftest import Topics
from support.secure_kafka import ACL_PREFIX, MECHANISMS, SecureBroker, run_to_failure

from taskfactory_contracts import AvroCodec, RunStatus, TaskStatus
from taskfactory_runtime.kafka import ensure_topics
from taskfactory_stack.examples import load_example_events
from taskfactory_stack.running import RunningServices
from taskfactory_stack.services import SERVICES
from taskfactory_stack.traffic import consume, produce_envelopes

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
async def topics(broker: SecureBroker, uid: str) -> Topics:
    """This test's topics, inside the services' ACLs (overrides the shared fixture)."""
    t = Topics(
        f"{ACL_PREFIX}events.{uid}",
        f"{ACL_PREFIX}results.{uid}",
        f"{ACL_PREFIX}runs.{uid}",
        f"{ACL_PREFIX}dlq.{uid}",
    )
    await ensure_topics(
        broker.plaintext,
        [t.events, t.results, t.runs, t.dead_letter],
        partitions=3,
        replication_factor=1,
    )
    return t


@pytest.fixture
def acl_services(services: RunningServices, uid: str) -> RunningServices:
    """The three services, with the consumer group their ACLs name and no topic creation."""
    services.env.update(
        {
            "TASKFACTORY_INGRESS__GROUP_ID": f"{ACL_PREFIX}ingress.{uid}",
            # Topics are the operator's: no service has the Create permission.
            "TASKFACTORY_INGRESS__CREATE_TOPICS": "false",
            "TASKFACTORY_EXECUTOR__CREATE_TOPICS": "false",
            "TASKFACTORY_SCHEDULES__ID_PREFIX": f"{uid}-",
            "TASKFACTORY_SCHEDULES__OWNER": uid,
        }
    )
    return services


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_events_run_through_the_three_services_each_authenticated_as_itself(
    broker: SecureBroker, acl_services: RunningServices, topics: Topics, uid: str, mechanism: str
) -> None:
    shutil.copy(EXAMPLES / "definitions" / "greeting.yaml", acl_services.definitions)
    acl_services.start(own={s: broker.service_env(mechanism, s) for s in SERVICES})
    events = [
        e
        for e in load_example_events(EXAMPLES / "events", nonce=uid)
        if e.type == "com.example.greeting.requested"
    ][:2]
    assert len(events) == 2
    await produce_envelopes(broker.plaintext, topics.events, events)

    codec = AvroCodec()
    records = await consume(broker.plaintext, topics.results, at_least=2, timeout=180)
    results = [codec.decode_task_result(r.value) for r in records]
    assert {r.causation_id: r.status for r in results} == dict.fromkeys(
        (e.id for e in events), TaskStatus.SUCCEEDED
    )
    run_records = await consume(broker.plaintext, topics.runs, at_least=4, timeout=60)
    run_events = [codec.decode_run_event(r.value) for r in run_records]
    finished = {e.causation_id: e.outcome for e in run_events if e.kind.value == "finished"}
    assert finished == dict.fromkeys((e.id for e in events), RunStatus.SUCCEEDED)

    # No credential reached a log: passwords, client secrets, private keys.
    secrets = [p.read_text().strip() for p in broker.service_passwords.values()]
    secrets += [broker.keycloak.secret_file(s).read_text().strip() for s in SERVICES]
    for name, log in acl_services.logs().items():
        assert '"service failed"' not in log, name
        for secret in secrets:
            assert secret not in log, name


@pytest.mark.parametrize(
    ("service", "mechanism", "setting", "resource"),
    [
        ("ingress", "SCRAM-SHA-256", "TASKFACTORY_TOPICS__EVENTS", "topic"),
        ("ingress", "PLAIN", "TASKFACTORY_INGRESS__GROUP_ID", "consumer group"),
        ("orchestrator", "OAUTHBEARER", "TASKFACTORY_TOPICS__RUNS", "topic"),
        ("executor", "MTLS", "TASKFACTORY_TOPICS__RESULTS", "topic"),
    ],
)
def test_a_service_reaching_outside_its_acls_exits_with_one_clear_line(
    broker: SecureBroker,
    acl_services: RunningServices,
    topics: Topics,
    tmp_path: Path,
    uid: str,
    service: str,
    mechanism: str,
    setting: str,
    resource: str,
) -> None:
    outside = f"elsewhere.{uid}"  # exists, but no ACL gives this principal anything there
    asyncio.run(ensure_topics(broker.plaintext, [outside], partitions=1, replication_factor=1))
    env = {**acl_services.env, **broker.service_env(mechanism, service), setting: outside}
    error, _ = run_to_failure(service, env, tmp_path)
    assert '"reason": "kafka_acl"' in error
    assert "the broker's ACLs deny" in error
    assert service in error.split("deny", 1)[1]  # the principal: user, client id or cert
    assert f"the {resource} '{outside}'" in error
    assert "ACL table" in error


def test_a_wrong_client_secret_stops_a_service_with_one_line_naming_the_token_endpoint(
    broker: SecureBroker, acl_services: RunningServices, topics: Topics, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong-secret"
    wrong.write_text("SENTINEL-not-the-client-secret\n")
    env = {
        **acl_services.env,
        **broker.service_env("OAUTHBEARER", "ingress"),
        "TASKFACTORY_KAFKA__SASL_OAUTH_CLIENT_SECRET_FILE": str(wrong),
    }
    error, stderr = run_to_failure("ingress", env, tmp_path)
    assert broker.keycloak.token_url in error
    assert "HTTP 401" in error
    assert "'ingress'" in error
    assert "SENTINEL-not-the-client-secret" not in stderr
