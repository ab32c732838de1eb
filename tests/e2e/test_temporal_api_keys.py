"""Temporal API keys for real: a Temporal server that checks bearer tokens against Keycloak.

The server is the cluster profile's binary (built from its Go module if missing) with its
default JWT claim mapper and authorizer, keys from Keycloak's JWKS, TLS on the frontend and
in-memory SQLite. The services' API keys are Keycloak access tokens (client credentials)
written to files, each token carrying the ``permissions`` claim of the realm's clients.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Topics
from pydantic import SecretStr
from support.secure_kafka import run_to_failure
from temporalio.service import RPCError

from taskfactory_contracts import AvroCodec, TaskStatus
from taskfactory_runtime.errors import TemporalConnectError
from taskfactory_runtime.oauth import ClientCredentialsTokenProvider
from taskfactory_runtime.settings import KafkaSettings, TemporalSettings
from taskfactory_runtime.temporal import connect_temporal
from taskfactory_stack.cluster import ClusterSettings
from taskfactory_stack.keycloak import SERVICES, KeycloakComponent
from taskfactory_stack.process import free_port, port_taken
from taskfactory_stack.running import RunningServices
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.temporal_auth import TemporalAuthServer
from taskfactory_stack.tls import CertificateAuthority
from taskfactory_stack.traffic import consume, echo_definition, envelope, produce_envelopes
from taskfactory_stack.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

ADMIN = "temporal-admin"
#: Short, so a key written at the start of the rotation test has expired before its end.
TOKEN_SECONDS = 30


@dataclass(frozen=True)
class AuthTemporal:
    """The private Temporal server, the Keycloak it trusts, and the CA of its frontend."""

    server: TemporalAuthServer
    keycloak: KeycloakComponent
    ca: Path

    @property
    def address(self) -> str:
        return self.server.address

    async def token(self, client: str) -> str:
        """A fresh access token of ``client`` (client credentials)."""
        secret = self.keycloak.secret_file(client).read_text().strip()
        provider = ClientCredentialsTokenProvider(
            self.keycloak.token_url, client, lambda: SecretStr(secret)
        )
        return str(await provider.token())

    async def write_keys(self, keys: dict[str, Path]) -> dict[str, str]:
        """Fresh tokens into each service's key file (replaced in one rename); returns them."""
        written = {}
        for service, path in keys.items():
            written[service] = await self.token(service)
            staged = path.with_suffix(".new")
            staged.write_text(written[service] + "\n")
            staged.replace(path)
        return written

    def settings(self, api_key_file: Path) -> TemporalSettings:
        return TemporalSettings(
            address=self.address, tls_server_ca=self.ca, api_key_file=api_key_file
        )


def _port_block(size: int) -> int:
    """The first of ``size`` consecutive free loopback ports."""
    while True:
        base = free_port()
        if base + size < 65535 and not any(port_taken(p) for p in range(base, base + size)):
            return base


@pytest.fixture(scope="module")
def auth_temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthTemporal]:
    """Keycloak and a Temporal server with JWT authorization, both private to this module."""
    tmp = tmp_path_factory.mktemp("temporal-auth")
    cache = StackSettings()
    settings = StackSettings(
        dir=tmp / "stack",
        jars_dir=cache.jars_dir or cache.root / "kafka",
        keycloak_port=free_port(),
        keycloak_heap="320m",
        start_timeout=300,
    )
    keycloak = KeycloakComponent(
        settings,
        clients=(*SERVICES, ADMIN),
        permissions={ADMIN: ("temporal-system:admin",)},
        token_seconds=TOKEN_SECONDS,
    )
    ca = CertificateAuthority(tmp / "certs")
    cert = ca.issue("temporal-frontend", hosts=("127.0.0.1", "localhost"))
    holder: list[AuthTemporal] = []

    async def admin_token() -> str:
        return await holder[0].token(ADMIN)

    server = TemporalAuthServer(
        settings,
        cluster=ClusterSettings(
            temporal_port=_port_block(6), temporal_membership_port=_port_block(5)
        ),
        jwks_url=keycloak.jwks_url,
        cert=cert.cert,
        key=cert.key,
        ca=ca.cert,
        admin_token=admin_token,
        cache=cache,
    )
    holder.append(AuthTemporal(server, keycloak, ca.cert))
    try:
        keycloak.up()
        server.up()
        yield holder[0]
    finally:
        server.down()
        keycloak.down()


@pytest.fixture
async def keyed_services(
    auth_temporal: AuthTemporal, services: RunningServices, tmp_path: Path, uid: str
) -> tuple[RunningServices, dict[str, Path]]:
    """The three services on the private Temporal, each with its own API key file."""
    keys = {s: tmp_path / f"{s}.api-key" for s in SERVICES}
    await auth_temporal.write_keys(keys)
    services.env.update(
        {
            "TASKFACTORY_TEMPORAL__ADDRESS": auth_temporal.address,
            "TASKFACTORY_TEMPORAL__TLS_SERVER_CA": str(auth_temporal.ca),
            "TASKFACTORY_TEMPORAL__SECRET_REFRESH_SECONDS": "1",
            "TASKFACTORY_SCHEDULES__OWNER": uid,
        }
    )
    (services.definitions / "echo.yaml").write_text(echo_definition("echo", uid))
    return services, keys


def _key_env(keys: dict[str, Path]) -> dict[str, dict[str, str]]:
    return {s: {"TASKFACTORY_TEMPORAL__API_KEY_FILE": str(p)} for s, p in keys.items()}


async def test_a_valid_key_is_accepted_and_no_key_is_refused(
    auth_temporal: AuthTemporal, tmp_path: Path
) -> None:
    key = tmp_path / "key"
    key.write_text(await auth_temporal.token("executor"))
    client = await connect_temporal(auth_temporal.settings(key))
    assert (await client.count_workflows("WorkflowId = 'none'")).count == 0
    # The server really checks: no key at all is refused on the same call.
    anonymous = await connect_temporal(
        TemporalSettings(address=auth_temporal.address, tls_server_ca=auth_temporal.ca)
    )
    with pytest.raises(RPCError, match=r"(?i)unauthorized"):
        await anonymous.count_workflows("WorkflowId = 'none'")


async def test_events_become_runs_and_results_while_the_key_files_are_rotated(
    auth_temporal: AuthTemporal,
    keyed_services: tuple[RunningServices, dict[str, Path]],
    topics: Topics,
    kafka_settings: KafkaSettings,
    uid: str,
) -> None:
    services, keys = keyed_services
    first = {s: p.read_text().strip() for s, p in keys.items()}
    services.start(own=_key_env(keys))

    events = [envelope(i, uid=uid) for i in range(3)]
    await produce_envelopes(kafka_settings, topics.events, events)
    await consume(kafka_settings, topics.results, at_least=3, timeout=180)

    # Events keep flowing while every key file is replaced, until the first keys expired.
    probe = keys["executor"].with_name("first-executor.api-key")
    probe.write_text(first["executor"])
    batch = 1

    async def first_key_expired() -> bool:
        nonlocal batch
        more = [envelope(batch * 100 + i, uid=uid) for i in range(3)]
        events.extend(more)
        batch += 1
        await produce_envelopes(kafka_settings, topics.events, more)
        await auth_temporal.write_keys(keys)
        try:
            await connect_temporal(auth_temporal.settings(probe))
        except TemporalConnectError:
            return True
        return False

    await wait_for(
        first_key_expired, timeout=TOKEN_SECONDS * 4, what="the first key to expire", interval=5
    )
    # And after: the services run on keys they read from the rotated files.
    last = [envelope(batch * 100 + i, uid=uid) for i in range(3)]
    events.extend(last)
    await produce_envelopes(kafka_settings, topics.events, last)

    records = await consume(kafka_settings, topics.results, at_least=len(events), timeout=180)
    results = [AvroCodec().decode_task_result(r.value) for r in records]
    assert sorted(r.causation_id for r in results) == sorted(e.id for e in events)
    assert {r.status for r in results} == {TaskStatus.SUCCEEDED}

    # Each event ran once: as many runs as events, all completed (read with the admin's key).
    admin = await connect_temporal(
        TemporalSettings(
            address=auth_temporal.address,
            tls_server_ca=auth_temporal.ca,
            api_key=SecretStr(await auth_temporal.token(ADMIN)),
        )
    )
    mine = f"WorkflowId STARTS_WITH '{uid}/'"

    async def all_completed() -> bool:
        done = await admin.count_workflows(f"{mine} AND ExecutionStatus = 'Completed'")
        return done.count == len(events)

    await wait_for(all_completed, timeout=60, what=f"{len(events)} completed runs")
    assert (await admin.count_workflows(mine)).count == len(events)

    logs = services.logs()
    for service in SERVICES:
        assert "temporal api key rotated" in logs[service], service
        assert '"service failed"' not in logs[service], service
        for token in first.values():
            assert token not in logs[service], service


@pytest.mark.parametrize("key", ["wrong", "expired"])
async def test_a_wrong_or_expired_key_stops_a_service_with_one_clear_line(
    auth_temporal: AuthTemporal,
    keyed_services: tuple[RunningServices, dict[str, Path]],
    tmp_path: Path,
    key: str,
) -> None:
    services, _ = keyed_services
    bad = tmp_path / "bad.api-key"
    if key == "wrong":
        bad.write_text("SENTINEL-not-a-token\n")
    else:
        bad.write_text(await auth_temporal.token("orchestrator"))

        async def expired() -> bool:
            try:
                await connect_temporal(auth_temporal.settings(bad))
            except TemporalConnectError:
                return True
            return False

        await wait_for(expired, timeout=TOKEN_SECONDS * 3, what="the token to expire", interval=2)
    env = {**services.env, "TASKFACTORY_TEMPORAL__API_KEY_FILE": str(bad)}
    error, stderr = await asyncio.to_thread(run_to_failure, "orchestrator", env, tmp_path)
    assert f"cannot connect to {auth_temporal.address}" in error
    assert "API_KEY" in error
    assert bad.read_text().strip() not in stderr
