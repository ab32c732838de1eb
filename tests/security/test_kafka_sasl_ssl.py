"""Kafka over SASL_SSL (SCRAM-SHA-512) on a private broker with certificates made by the test.

The broker keeps its PLAINTEXT listener (the stack probes it) and adds a SASL_SSL one; every
client here goes through the SASL_SSL listener via the runtime's one client factory.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.secure_kafka import PASSWORD, SecureBroker, start_client

from taskfactory_runtime.kafka import (
    KafkaAuthenticationError,
    KafkaTlsError,
    ensure_topics,
    make_admin,
    make_consumer,
    make_producer,
)
from taskfactory_stack.tls import CertificateAuthority

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]


async def test_clients_produce_and_consume_through_the_sasl_ssl_listener(
    broker: SecureBroker, uid: str
) -> None:
    settings = broker.settings()
    topic = f"{uid}.secure"
    assert await ensure_topics(settings, [topic], partitions=1, replication_factor=1) == [topic]
    producer = make_producer(settings, name="test")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"over SASL_SSL", key=b"k")
    finally:
        await producer.stop()
    consumer = make_consumer(settings, topic, group_id=f"{uid}-g", name="test")
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    assert record.value == b"over SASL_SSL"


@pytest.mark.parametrize("client", ["producer", "consumer", "admin"])
async def test_a_wrong_password_is_a_clear_error_naming_the_listener_not_a_hang(
    broker: SecureBroker, client: str, uid: str
) -> None:
    wrong = broker.tmp / f"wrong-{client}"
    wrong.write_text("not-the-password")
    settings = broker.settings(sasl_password_file=wrong)
    with pytest.raises(KafkaAuthenticationError) as failure:
        await start_client(client, settings, group=f"{uid}-g")
    message = str(failure.value)
    assert f"SASL_SSL listener {broker.address}" in message
    assert "SCRAM-SHA-512" in message
    assert "'svc'" in message
    assert "not-the-password" not in message
    assert PASSWORD not in message


async def test_a_mechanism_the_listener_does_not_enable_is_named(
    broker: SecureBroker, tmp_path: Path
) -> None:
    # The listener enables PLAIN and both SCRAMs; OAUTHBEARER is another listener's.
    token = tmp_path / "token"
    token.write_text("a-token")
    settings = broker.settings(sasl_mechanism="OAUTHBEARER", sasl_oauth_token_file=token)
    with pytest.raises(
        KafkaAuthenticationError, match="does not enable SASL mechanism OAUTHBEARER"
    ):
        await asyncio.wait_for(make_admin(settings).start(), 30)


async def test_an_untrusted_broker_certificate_is_a_clear_tls_error(
    broker: SecureBroker, tmp_path: Path
) -> None:
    stranger = CertificateAuthority(tmp_path / "other", name="someone else's CA")
    settings = broker.settings(ssl_cafile=stranger.cert)
    with pytest.raises(KafkaTlsError, match=rf"SASL_SSL listener {broker.address}.*SSL_CAFILE"):
        await asyncio.wait_for(make_producer(settings, name="test").start(), 30)
