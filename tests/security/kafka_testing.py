"""A private Kafka broker with secured listeners, for the security tests.

The broker keeps its PLAINTEXT listener (the stack probes it; nothing of taskfactory uses it
here) and adds a SASL_SSL listener (SCRAM-SHA-512, certificates made by the test) and a
SASL_PLAINTEXT listener with OAUTHBEARER (Kafka's unsecured JWT validator).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.abc import AbstractTokenProvider
from tf_testing import free_port

from taskfactory_runtime.kafka import make_admin, make_consumer, make_producer
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.components import KafkaComponent, OAuthBearerListener, SaslSslListener
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.tls import CertificateAuthority

__all__ = [
    "OAUTH_SCOPE",
    "PASSWORD",
    "SecureBroker",
    "UnsecuredJwtProvider",
    "secure_broker",
    "start_client",
    "unsecured_jwt",
]

PASSWORD = "SENTINEL-scram-password-31337"
OAUTH_SCOPE = "taskfactory"
JARS = Path(__file__).resolve().parents[2] / ".stack" / "kafka"


@dataclass(frozen=True)
class SecureBroker:
    """The private broker's secured listeners and the files a client needs."""

    address: str
    oauth_address: str
    ca: Path
    password_file: Path
    tmp: Path
    component: KafkaComponent

    def settings(self, **overrides: Any) -> KafkaSettings:
        """Client settings for the SASL_SSL listener as user ``svc`` (password from a file)."""
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

    def env(self) -> dict[str, str]:
        """The same settings as the services' TASKFACTORY_KAFKA__* environment."""
        return {
            "TASKFACTORY_KAFKA__BOOTSTRAP_SERVERS": self.address,
            "TASKFACTORY_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
            "TASKFACTORY_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
            "TASKFACTORY_KAFKA__SASL_USERNAME": "svc",
            "TASKFACTORY_KAFKA__SASL_PASSWORD_FILE": str(self.password_file),
            "TASKFACTORY_KAFKA__SSL_CAFILE": str(self.ca),
        }

    def oauth_settings(self, **overrides: Any) -> KafkaSettings:
        """Client settings for the OAUTHBEARER listener (give a token source in overrides)."""
        values: dict[str, Any] = {
            "bootstrap_servers": self.oauth_address,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "OAUTHBEARER",
            "request_timeout_ms": 5000,
        }
        values.update(overrides)
        return KafkaSettings(**values)


@contextmanager
def secure_broker(tmp: Path) -> Iterator[SecureBroker]:
    """Start the private broker in ``tmp``; stop it on exit."""
    ca = CertificateAuthority(tmp / "certs")
    cert = ca.issue("broker", hosts=("127.0.0.1", "localhost"))
    listener = SaslSslListener(port=free_port(), keystore=cert.bundle, users={"svc": PASSWORD})
    oauth = OAuthBearerListener(port=free_port(), required_scope=OAUTH_SCOPE)
    kafka = KafkaComponent(
        StackSettings(
            dir=tmp / "stack",
            jars_dir=JARS,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            kafka_heap="256m",
        ),
        sasl_ssl=listener,
        oauth=oauth,
    )
    secret = tmp / "secrets" / "kafka-password"
    secret.parent.mkdir()
    secret.write_text(PASSWORD + "\n")  # as a Kubernetes secret mount may carry it
    try:
        kafka.up()
        yield SecureBroker(listener.address, oauth.address, ca.cert, secret, tmp, kafka)
    finally:
        kafka.down()


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def unsecured_jwt(
    subject: str = "svc", *, lifetime: float = 3600, scope: str | None = OAUTH_SCOPE
) -> str:
    """An unsigned JWT (``alg: none``) as Kafka's unsecured validator accepts it."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": subject, "iat": now - 5, "exp": now + int(lifetime)}
    if scope is not None:
        claims["scope"] = scope
    return f"{_b64({'alg': 'none'})}.{_b64(claims)}."


class UnsecuredJwtProvider(AbstractTokenProvider):  # type: ignore[misc]
    """A token-provider plugin (``kafka.sasl_oauth_token_provider``) minting unsigned JWTs."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.subject = settings.client_id
        self.calls = 0

    async def token(self) -> str:
        """A fresh token for every connection."""
        self.calls += 1
        return unsecured_jwt(self.subject)


def plugin(settings: KafkaSettings) -> UnsecuredJwtProvider:
    """The ``module:callable`` the settings name."""
    return UnsecuredJwtProvider(settings)


async def start_client(kind: str, settings: KafkaSettings, *, group: str) -> None:
    """Start (and stop) a producer, consumer or admin client; a hang fails after 30 s."""
    client = {
        "producer": lambda: make_producer(settings, name="test"),
        "consumer": lambda: make_consumer(settings, "t", group_id=group, name="test"),
        "admin": lambda: make_admin(settings),
    }[kind]()
    await asyncio.wait_for(client.start(), 30)
    await client.close_quietly()
