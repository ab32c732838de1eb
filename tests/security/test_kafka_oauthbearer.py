"""Kafka SASL/OAUTHBEARER against a real broker: token file and token-provider plugin.

The private broker's OAUTH listener (SASL_PLAINTEXT) validates tokens with Kafka's built-in
unsecured validator: unsigned JWTs that name a subject, are not expired and carry the scope
``taskfactory``. That exercises our side (token providers from settings, the SASL exchange,
errors) for real; signature checking against an identity provider's JWKS is the broker's job.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.secure_kafka import SecureBroker, start_client, unsecured_jwt

from taskfactory_runtime.kafka import (
    KafkaAuthenticationError,
    ensure_topics,
    make_admin,
    make_consumer,
    make_producer,
)
from taskfactory_runtime.settings import KafkaSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

PLUGIN = "support.secure_kafka:plugin"


async def _round_trip(settings: KafkaSettings, topic: str, group: str) -> bytes | None:
    await ensure_topics(settings, [topic], partitions=1, replication_factor=1)
    producer = make_producer(settings, name="test")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"over OAUTHBEARER", key=b"k")
    finally:
        await producer.stop()
    consumer = make_consumer(settings, topic, group_id=group, name="test")
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    value: bytes | None = record.value
    return value


async def test_a_token_file_authenticates_producer_consumer_and_admin(
    broker: SecureBroker, uid: str, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text(unsecured_jwt("svc") + "\n")  # a projected token mount
    settings = broker.oauth_settings(sasl_oauth_token_file=token)
    assert await _round_trip(settings, f"{uid}.oauth", f"{uid}-g") == b"over OAUTHBEARER"


async def test_the_pluggable_token_provider_named_in_settings_is_used(
    broker: SecureBroker, uid: str
) -> None:
    # The plugin names the client id as its subject: "svc" is allowed everything (ACLs).
    settings = broker.oauth_settings(sasl_oauth_token_provider=PLUGIN, client_id="svc")
    assert await _round_trip(settings, f"{uid}.plugin", f"{uid}-g") == b"over OAUTHBEARER"


async def test_a_rotated_token_file_is_read_at_the_next_connection(
    broker: SecureBroker, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text(unsecured_jwt("svc", lifetime=-60))
    settings = broker.oauth_settings(sasl_oauth_token_file=token)
    with pytest.raises(KafkaAuthenticationError):
        await asyncio.wait_for(make_admin(settings).start(), 30)
    token.write_text(unsecured_jwt("svc"))  # the identity provider rotated it
    admin = make_admin(settings)
    await asyncio.wait_for(admin.start(), 30)
    try:
        assert (await admin.describe_cluster())["brokers"]
    finally:
        await admin.close()


@pytest.mark.parametrize(
    ("token", "status"),
    [
        pytest.param(unsecured_jwt("svc", lifetime=-60), "invalid_token", id="expired"),
        pytest.param(
            unsecured_jwt("svc", scope="someone-else"), "insufficient_scope", id="wrong-scope"
        ),
        pytest.param("SENTINEL-not-a-jwt-but-a-secret", "invalid_token", id="not-a-jwt"),
    ],
)
@pytest.mark.parametrize("client", ["producer", "consumer", "admin"])
async def test_a_bad_token_is_refused_with_a_clear_error_not_a_hang(
    broker: SecureBroker, tmp_path: Path, token: str, status: str, client: str, uid: str
) -> None:
    path = tmp_path / "token"
    path.write_text(token)
    settings = broker.oauth_settings(sasl_oauth_token_file=path)
    with pytest.raises(KafkaAuthenticationError) as failure:
        await start_client(client, settings, group=f"{uid}-g")
    message = str(failure.value)
    assert f"SASL_PLAINTEXT listener {broker.oauth_address}" in message
    assert f"refused the OAUTHBEARER token (status {status}" in message
    assert "SASL_OAUTH_TOKEN" in message  # names the settings to check, not the password ones
    assert "SASL_PASSWORD" not in message
    assert token not in message
