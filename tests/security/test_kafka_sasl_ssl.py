"""Kafka over SASL_SSL (SCRAM-SHA-512) on a private broker with certificates made by the test.

The broker keeps its PLAINTEXT listener (the stack probes it) and adds a SASL_SSL one; every
client here goes through the SASL_SSL listener via the runtime's one client factory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tf_testing import free_port

from taskfactory_runtime.kafka import (
    KafkaAuthenticationError,
    KafkaTlsError,
    ensure_topics,
    make_admin,
    make_consumer,
    make_producer,
)
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.components import KafkaComponent, SaslSslListener
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.tls import CertificateAuthority

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

PASSWORD = "SENTINEL-scram-password-31337"
JARS = Path(__file__).resolve().parents[2] / ".stack" / "kafka"


@dataclass(frozen=True)
class SecureBroker:
    """The private broker's SASL_SSL listener and the files a client needs."""

    address: str
    ca: Path
    password_file: Path
    tmp: Path

    def settings(self, **overrides: Any) -> KafkaSettings:
        """Client settings for the SASL_SSL listener as user ``svc``."""
        values: dict[str, Any] = {
            "bootstrap_servers": self.address,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "svc",
            "sasl_password_file": self.password_file,
            "ssl_cafile": self.ca,
            "request_timeout_ms": 5000,
        }
        values.update(overrides)
        return KafkaSettings(**values)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """A private single-node broker with a SASL_SSL listener; stopped after the module."""
    tmp = tmp_path_factory.mktemp("kafka-sasl")
    ca = CertificateAuthority(tmp / "certs")
    cert = ca.issue("broker", hosts=("127.0.0.1", "localhost"))
    listener = SaslSslListener(port=free_port(), keystore=cert.bundle, users={"svc": PASSWORD})
    kafka = KafkaComponent(
        StackSettings(
            dir=tmp / "stack",
            jars_dir=JARS,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            kafka_heap="256m",
        ),
        sasl_ssl=listener,
    )
    secret = tmp / "secrets" / "kafka-password"
    secret.parent.mkdir()
    secret.write_text(PASSWORD + "\n")  # as a Kubernetes secret mount may carry it
    try:
        kafka.up()
        yield SecureBroker(listener.address, ca.cert, secret, tmp)
    finally:
        kafka.down()


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
    built = {
        "producer": lambda: make_producer(settings, name="test"),
        "consumer": lambda: make_consumer(settings, "t", group_id=f"{uid}-g", name="test"),
        "admin": lambda: make_admin(settings),
    }[client]()
    started = time.monotonic()
    with pytest.raises(KafkaAuthenticationError) as failure:
        await asyncio.wait_for(built.start(), 30)
    assert time.monotonic() - started < 20
    message = str(failure.value)
    assert f"SASL_SSL listener {broker.address}" in message
    assert "SCRAM-SHA-512" in message
    assert "'svc'" in message
    assert "not-the-password" not in message
    assert PASSWORD not in message


async def test_a_mechanism_the_listener_does_not_enable_is_named(broker: SecureBroker) -> None:
    settings = broker.settings(sasl_mechanism="SCRAM-SHA-256")
    with pytest.raises(
        KafkaAuthenticationError, match="does not enable SASL mechanism SCRAM-SHA-256"
    ):
        await asyncio.wait_for(make_admin(settings).start(), 30)


async def test_an_untrusted_broker_certificate_is_a_clear_tls_error(
    broker: SecureBroker, tmp_path: Path
) -> None:
    stranger = CertificateAuthority(tmp_path / "other", name="someone else's CA")
    settings = broker.settings(ssl_cafile=stranger.cert)
    with pytest.raises(KafkaTlsError, match=rf"SASL_SSL listener {broker.address}.*SSL_CAFILE"):
        await asyncio.wait_for(make_producer(settings, name="test").start(), 30)
