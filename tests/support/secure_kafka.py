"""A private Kafka broker with secured listeners and Keycloak, for the security tests.

The broker keeps its PLAINTEXT listener (the stack probes it and the tests set up topics and
ACLs through it as a super user; nothing of taskfactory uses it here) and adds:

- SASL_SSL with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (certificates made by the test),
- SASL_PLAINTEXT ``OAUTH`` with OAUTHBEARER (Kafka's unsecured JWT validator),
- SSL ``MTLS`` requiring a client certificate (principal = its common name),
- SASL_SSL ``OIDC`` with OAUTHBEARER tokens signed by Keycloak, checked against its JWKS,

and KRaft's ACL authorizer: each service's principal (``ingress``, ``orchestrator``,
``executor``, the same name on every listener) gets only what :func:`service_acls` grants,
on topics and groups named with :data:`ACL_PREFIX`. ``svc``, the user of the older tests, is
a super user.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.abc import AbstractTokenProvider

from taskfactory_runtime.kafka import make_admin, make_consumer, make_producer
from taskfactory_runtime.settings import KafkaSettings
from taskfactory_stack.components import KafkaComponent
from taskfactory_stack.kafka_security import (
    Acl,
    AclAuthorizer,
    MtlsListener,
    OAuthBearerListener,
    OidcListener,
    SaslSslListener,
    service_acls,
)
from taskfactory_stack.keycloak import KAFKA_AUDIENCE, SERVICES, KeycloakComponent
from taskfactory_stack.process import free_port
from taskfactory_stack.settings import StackSettings
from taskfactory_stack.tls import CertificateAuthority, IssuedCert

__all__ = [
    "ACL_PREFIX",
    "MECHANISMS",
    "OAUTH_SCOPE",
    "PASSWORD",
    "SecureBroker",
    "UnsecuredJwtProvider",
    "run_to_failure",
    "secure_broker",
    "start_client",
    "unsecured_jwt",
]

PASSWORD = "SENTINEL-scram-password-31337"
OAUTH_SCOPE = "taskfactory"
JARS = Path(__file__).resolve().parents[2] / ".stack" / "kafka"
#: Topics and groups the service principals may use start with this (prefixed ACLs).
ACL_PREFIX = "acl."
#: How a service authenticates, end to end: the SASL mechanisms, client certs, OAuth.
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "MTLS", "OAUTHBEARER")


@dataclass(frozen=True)
class SecureBroker:
    """The private broker's secured listeners, Keycloak, and the files a client needs."""

    address: str
    oauth_address: str
    ca: Path
    password_file: Path
    tmp: Path
    component: KafkaComponent
    mtls_address: str
    oidc_address: str
    keycloak: KeycloakComponent
    #: Each service's password file (PLAIN and SCRAM) and client certificate (mTLS).
    service_passwords: dict[str, Path]
    service_certs: dict[str, IssuedCert]

    def service_env(self, mechanism: str, service: str) -> dict[str, str]:
        """``service``'s TASKFACTORY_KAFKA__* environment, authenticating with ``mechanism``."""
        env = {"TASKFACTORY_KAFKA__SSL_CAFILE": str(self.ca)}
        if mechanism == "MTLS":
            cert = self.service_certs[service]
            return {
                **env,
                "TASKFACTORY_KAFKA__BOOTSTRAP_SERVERS": self.mtls_address,
                "TASKFACTORY_KAFKA__SECURITY_PROTOCOL": "SSL",
                "TASKFACTORY_KAFKA__SSL_CERTFILE": str(cert.cert),
                "TASKFACTORY_KAFKA__SSL_KEYFILE": str(cert.key),
            }
        if mechanism == "OAUTHBEARER":
            return {
                **env,
                "TASKFACTORY_KAFKA__BOOTSTRAP_SERVERS": self.oidc_address,
                "TASKFACTORY_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
                "TASKFACTORY_KAFKA__SASL_MECHANISM": "OAUTHBEARER",
                "TASKFACTORY_KAFKA__SASL_OAUTH_TOKEN_URL": self.keycloak.token_url,
                "TASKFACTORY_KAFKA__SASL_OAUTH_CLIENT_ID": service,
                "TASKFACTORY_KAFKA__SASL_OAUTH_CLIENT_SECRET_FILE": str(
                    self.keycloak.secret_file(service)
                ),
            }
        return {
            **env,
            "TASKFACTORY_KAFKA__BOOTSTRAP_SERVERS": self.address,
            "TASKFACTORY_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
            "TASKFACTORY_KAFKA__SASL_MECHANISM": mechanism,
            "TASKFACTORY_KAFKA__SASL_USERNAME": service,
            "TASKFACTORY_KAFKA__SASL_PASSWORD_FILE": str(self.service_passwords[service]),
        }

    def service_settings(self, mechanism: str, service: str) -> KafkaSettings:
        """The same as client settings (what the service's own clients are built from)."""
        prefix = "TASKFACTORY_KAFKA__"
        values = {
            k.removeprefix(prefix).lower(): v
            for k, v in self.service_env(mechanism, service).items()
        }
        return KafkaSettings(**values, request_timeout_ms=5000)

    @property
    def plaintext(self) -> KafkaSettings:
        """The PLAINTEXT listener: a super user, for a test's setup (topics, reading results)."""
        return KafkaSettings(bootstrap_servers=self.component.address)

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
    """Start Keycloak and the private broker in ``tmp``; stop both on exit."""
    settings = StackSettings(
        dir=tmp / "stack",
        jars_dir=JARS,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        kafka_heap="512m",  # 256m ran out of heap at start once (a CI run, six listeners)
        keycloak_port=free_port(),
        keycloak_heap="320m",
        start_timeout=300,
    )
    keycloak = KeycloakComponent(settings)
    ca = CertificateAuthority(tmp / "certs")
    cert = ca.issue("broker", hosts=("127.0.0.1", "localhost"))
    secret_dir = tmp / "secrets"
    secret_dir.mkdir()
    passwords: dict[str, Path] = {}
    for service in SERVICES:
        passwords[service] = secret_dir / f"{service}-password"
        passwords[service].write_text(secrets.token_urlsafe(18) + "\n")
    users = {"svc": PASSWORD, **{s: p.read_text().strip() for s, p in passwords.items()}}
    listener = SaslSslListener(
        port=free_port(),
        keystore=cert.bundle,
        users=users,
        mechanisms=("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
        # The tests' super user logs in with SCRAM only: its password is stored hashed.
        scram_only=("svc",),
    )
    oauth = OAuthBearerListener(port=free_port(), required_scope=OAUTH_SCOPE)
    mtls = MtlsListener(port=free_port(), keystore=cert.bundle, truststore=ca.cert)
    oidc = OidcListener(
        port=free_port(),
        keystore=cert.bundle,
        jwks_url=keycloak.jwks_url,
        issuer=keycloak.issuer,
        audience=KAFKA_AUDIENCE,
    )
    kafka = KafkaComponent(
        settings,
        sasl_ssl=listener,
        oauth=oauth,
        additions=(mtls, oidc, AclAuthorizer(super_users=("svc",))),
    )
    secret = secret_dir / "kafka-password"
    secret.write_text(PASSWORD + "\n")  # as a Kubernetes secret mount may carry it
    try:
        # Keycloak must answer before the broker starts (it fetches the JWKS at start); the
        # broker's storage is formatted meanwhile.
        with ThreadPoolExecutor(1) as pool:
            starting = pool.submit(keycloak.up)
            kafka.prepare()
            starting.result()
        kafka.up()
        prefix = ACL_PREFIX
        acls = service_acls(
            events=f"{prefix}events.",
            dead_letter=f"{prefix}dlq.",
            results=f"{prefix}results.",
            runs=f"{prefix}runs.",
            group=f"{prefix}ingress.",
            prefixed=True,
        )
        grant(kafka.address, acls)
        yield SecureBroker(
            address=listener.address,
            oauth_address=oauth.address,
            ca=ca.cert,
            password_file=secret,
            tmp=tmp,
            component=kafka,
            mtls_address=mtls.address,
            oidc_address=oidc.address,
            keycloak=keycloak,
            service_passwords=passwords,
            service_certs={s: ca.issue(s, client=True) for s in SERVICES},
        )
    finally:
        kafka.down()
        keycloak.down()


def grant(bootstrap: str, acls: list[Acl]) -> None:
    """Add ``acls`` through the super user's PLAINTEXT listener (confluent-kafka's admin)."""
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        AdminClient,
        ResourcePatternType,
        ResourceType,
    )

    bindings = [
        AclBinding(
            kind,
            name,
            ResourcePatternType.PREFIXED if acl.prefixed else ResourcePatternType.LITERAL,
            f"User:{principal}",
            "*",
            AclOperation[operation.upper()],
            AclPermissionType.ALLOW,
        )
        for acl in acls
        for kind, names in ((ResourceType.TOPIC, acl.topics), (ResourceType.GROUP, acl.groups))
        for name in names
        for principal in acl.principals
        for operation in acl.operations
    ]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_acls(bindings, request_timeout=30).values():
        future.result()


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


def run_to_failure(service: str, env: dict[str, str], cwd: Path) -> tuple[str, str]:
    """Run ``service`` (with ``env`` over this process's) to its exit, which must be a failure
    reported in exactly one ``service failed`` line; returns that line and the whole stderr.

    An endless retry fails the test after 120 s instead of ever exiting.
    """
    done = subprocess.run(
        [sys.executable, "-m", f"taskfactory_{service}"],
        env={**os.environ, **env, "TASKFACTORY_HTTP__PORT": "0"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    # aiokafka may log its own connect failure; ours is one line: what failed, what to check.
    ours = [line for line in done.stderr.splitlines() if '"service failed"' in line]
    assert len(ours) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return ours[0], done.stderr


async def start_client(kind: str, settings: KafkaSettings, *, group: str) -> None:
    """Start (and stop) a producer, consumer or admin client; a hang fails after 30 s."""
    client = {
        "producer": lambda: make_producer(settings, name="test"),
        "consumer": lambda: make_consumer(settings, "t", group_id=group, name="test"),
        "admin": lambda: make_admin(settings),
    }[kind]()
    await asyncio.wait_for(client.start(), 30)
    await client.close_quietly()
